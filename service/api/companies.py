"""Companies and persons: finding a company, its record, who controls it, the risk around
it, and a person's footprint, read through graph.queries as the CLI reads them and returned
as the same typed answers (graph/answers.py), as the caller's role may see them
(service/api/disclosure.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from config.errors import Ambiguous, NotFound
from graph.answers import Company, CompanySearch, ControlAnswer, Footprint, RelatedPartyRisk
from graph.queries import PERSON_ID, controls_async, footprint, related_party_risk
from service.api import errors
from service.api.common import (
    AuditedRoute,
    Caller,
    GraphDep,
    answered,
    audited,
    audited_async,
    company_reference_async,
    require,
    scoped_company,
    search_scope,
)
from service.api.disclosure import disclosed
from service.company_search import find_companies
from service.keys import Action

router = APIRouter(tags=["companies"], route_class=AuditedRoute)

AsOf = Annotated[date | None, Query(description="YYYY-MM-DD; default today")]
PersonId = Annotated[
    str, Path(pattern=PERSON_ID.pattern, description="veil person entity ID (P + 12 hex digits)")
]


@router.get(
    "/companies",
    summary="Find companies by any form of a name, or by USCC",
    response_model=CompanySearch,
)
def search(
    principal: Caller,
    graph: GraphDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            description="a USCC, an entity ID, or a company name in any form: simplified or "
            "traditional, bracketed region (星河食品（上海）有限公司), 上海市 or 上海, a former "
            "name, romanised (SHANGHAI XINGHE FOOD CO., LTD.), or a part of a name",
        ),
    ],
    page: Annotated[int, Query(ge=1, le=10_000, description="from 1")] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    endpoint = "GET /companies"
    params = {"q": q, "page": page, "per_page": per_page}
    require(principal, Action.SEARCH, endpoint, params)
    with graph.answering("searching companies"):
        found = find_companies(
            graph.driver, q, search_scope(principal), page, per_page, graph.database
        )
    audited(principal, endpoint, params, len(found.hits), 200)
    return answered(disclosed(found, principal))


@router.get(
    "/companies/{reference}",
    summary="A company by entity ID, USCC or exact name",
    response_model=Company,
)
def company(reference: str, principal: Caller, graph: GraphDep) -> Response:
    endpoint = "GET /companies/{ref}"
    found = scoped_company(graph, principal, Action.COMPANIES, reference, endpoint)
    audited(principal, endpoint, {"company": reference}, 1, 200)
    return answered(disclosed(found, principal))


@router.get(
    "/companies/{reference}/control",
    summary="Who controls a company on a day: roles, owners, controller, paths",
    response_model=ControlAnswer,
)
async def control(
    reference: str, principal: Caller, graph: GraphDep, as_of: AsOf = None
) -> Response:
    """The API's most asked read, served on the event loop with the async driver: no
    thread-pool hop but the audit row's, and no threads contending for the interpreter
    while they wait on Neo4j."""
    endpoint = "GET /companies/{ref}/control"
    params = {"company": reference, "as_of": None if as_of is None else as_of.isoformat()}
    company = await company_reference_async(graph, principal, Action.CONTROL, reference, endpoint)
    try:
        with graph.answering(f"reading the control of {company}"):
            answer = await controls_async(
                graph.reader, company, graph.control, as_of, graph.database
            )
    except (NotFound, Ambiguous) as err:
        await audited_async(principal, endpoint, params, 0, errors.status_of(err)[0])
        raise
    await audited_async(principal, endpoint, params, 1, 200)
    return answered(disclosed(answer, principal))


@router.get(
    "/companies/{reference}/risk",
    summary="Punishments and list entries on companies related by holdings and control",
    response_model=RelatedPartyRisk,
)
def risk(
    reference: str,
    principal: Caller,
    graph: GraphDep,
    hops: Annotated[int, Query(ge=1, le=6, description="relationships to follow")] = 2,
    as_of: AsOf = None,
) -> Response:
    endpoint = "GET /companies/{ref}/risk"
    found = scoped_company(graph, principal, Action.CONTROL, reference, endpoint)
    with graph.answering(f"reading the related-party risk of {found.entity_id}"):
        answer = related_party_risk(graph.driver, found.entity_id, hops, as_of, graph.database)
    audited(principal, endpoint, {"company": reference, "hops": hops}, len(answer.related), 200)
    return answered(disclosed(answer, principal))


@router.get(
    "/persons/{entity_id}/footprint",
    summary="Every company a person is or was tied to, and its record",
    response_model=Footprint,
)
def person_footprint(entity_id: PersonId, principal: Caller, graph: GraphDep) -> Response:
    endpoint = "GET /persons/{id}/footprint"
    params = {"person": entity_id}
    require(principal, Action.PERSONS, endpoint, params)
    try:
        with graph.answering(f"reading the footprint of {entity_id}"):
            answer = footprint(graph.driver, entity_id, None, graph.database)
    except (NotFound, Ambiguous) as err:
        audited(principal, endpoint, params, 0, errors.status_of(err)[0])
        raise
    audited(principal, endpoint, params, len(answer.roles) + len(answer.holdings), 200)
    return answered(disclosed(answer, principal))
