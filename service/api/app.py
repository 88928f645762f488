"""The HTTP app: `veil serve` runs it under uvicorn, `create_app` builds it for tests.

Every data endpoint reads the graph through the same room functions as the CLI
(graph.queries), behind an API key sent in the `X-Veil-Key` header (never in a URL). A
request without a key, or with a wrong or revoked one, is 401; a role that may not do
what the endpoint does, or a company outside an inspector's regions and industries, is
403, and for a scoped key an unknown company is the same 403, so the answer never says
whether something exists outside the key's reach. Each such request, answered or refused,
appends a row to the audit chain (service/audit.py) with its identifiers masked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

import neo4j
from fastapi import Depends, FastAPI, Header, HTTPException, Query

from config.errors import Ambiguous, NotFound
from config.graph import Control, load_graph_config
from graph.guard import neo4j_faults
from graph.queries import controls, find_company, footprint, related_party_risk
from graph.server.connection import Neo4jSettings, neo4j_settings, open_driver
from graph.values import jsonable
from service import audit, keys
from service.api import errors
from service.keys import Action, Principal

KEY_HEADER = "X-Veil-Key"
#: What a scoped key is told about a company it may not see, whether or not it exists.
OUT_OF_SCOPE = "this company is outside your key's regions and industries, or unknown"


@dataclass
class Graph:
    """The Neo4j the app reads, opened once; the driver reconnects by itself after an
    outage, so Neo4j coming back needs no restart of the app."""

    settings: Neo4jSettings
    driver: neo4j.Driver
    control: Control

    @contextmanager
    def answering(self, doing: str) -> Iterator[None]:
        """Neo4j's faults as GraphUnavailable (503), naming the server."""
        with neo4j_faults(self.settings.uri, doing, then="ask again"):
            yield


def create_app(settings: Neo4jSettings | None = None) -> FastAPI:
    """The app over `settings`' Neo4j (default: NEO4J_URI's server, else the local one,
    which must already run: `veil neo4j start`)."""
    chosen = settings or neo4j_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with open_driver(chosen) as driver:
            app.state.graph = Graph(chosen, driver, load_graph_config().control)
            yield

    app = FastAPI(
        title="veil",
        summary="Who controls a company, and the people behind it",
        lifespan=lifespan,
    )
    errors.install(app)
    _routes(app)
    return app


def _graph_of(app: FastAPI) -> Graph:
    graph: Graph = app.state.graph
    return graph


def _audited(
    caller: Principal | None, action: str, params: dict[str, Any], count: int, status: int
) -> None:
    key_id, role = (caller.key_id, str(caller.role)) if caller else ("-", "-")
    audit.append(key_id, role, action, params, count, status)


def caller(
    key: Annotated[str | None, Header(alias=KEY_HEADER)] = None,
) -> Principal:
    """The principal of the request's key; 401 (audited) without a live one."""
    if not key:
        _audited(None, "authenticate", {}, 0, 401)
        raise HTTPException(401, f"send your API key in the {KEY_HEADER} header")
    principal = keys.authenticate(key)
    if principal is None:
        _audited(None, "authenticate", {}, 0, 401)
        raise HTTPException(401, "the API key is unknown, malformed or revoked")
    return principal


Caller = Annotated[Principal, Depends(caller)]


def _company(
    graph: Graph, principal: Principal, action: Action, reference: str, endpoint: str
) -> dict[str, Any]:
    """The company `reference` names, if `principal` may `action` on it; else 403 (or,
    for an unscoped key, 404 / 409 as the lookup says)."""
    params = {"company": reference}
    if not principal.may(action):
        _audited(principal, endpoint, params, 0, 403)
        raise HTTPException(403, f"a {principal.role} key may not read {action}")
    scoped = keys.ROLES[principal.role].scoped
    try:
        with graph.answering(f"finding company {reference!r}"):
            company = find_company(graph.driver, reference, graph.settings.database)
    except (NotFound, Ambiguous) as err:
        if scoped:
            _audited(principal, endpoint, params, 0, 403)
            raise HTTPException(403, OUT_OF_SCOPE) from None
        _audited(principal, endpoint, params, 0, errors.status_of(err)[0])
        raise
    if not principal.in_scope(company.get("region_code"), company.get("industry_code")):
        _audited(principal, endpoint, params, 0, 403)
        raise HTTPException(403, OUT_OF_SCOPE)
    return company


def _routes(app: FastAPI) -> None:
    @app.get("/healthz", summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Neo4j answers")
    def readyz() -> dict[str, str]:
        graph = _graph_of(app)
        with graph.answering("checking it is ready"):
            graph.driver.verify_connectivity()
        return {"status": "ready", "neo4j": graph.settings.uri}

    @app.get("/companies/{reference}", summary="A company by entity ID, USCC or exact name")
    def company(reference: str, principal: Caller) -> dict[str, Any]:
        endpoint = "GET /companies/{ref}"
        found = _company(_graph_of(app), principal, Action.COMPANIES, reference, endpoint)
        _audited(principal, endpoint, {"company": reference}, 1, 200)
        answer: dict[str, Any] = jsonable(found)
        return answer

    @app.get(
        "/companies/{reference}/control",
        summary="Who controls a company on a day: roles, owners, controller, paths",
    )
    def control(
        reference: str,
        principal: Caller,
        as_of: Annotated[date | None, Query(description="YYYY-MM-DD; default today")] = None,
    ) -> dict[str, Any]:
        endpoint = "GET /companies/{ref}/control"
        graph = _graph_of(app)
        found = _company(graph, principal, Action.CONTROL, reference, endpoint)
        with graph.answering(f"reading the control of {found['entity_id']}"):
            answer = controls(
                graph.driver, found["entity_id"], graph.control, as_of, graph.settings.database
            )
        params = {"company": reference, "as_of": None if as_of is None else as_of.isoformat()}
        _audited(principal, endpoint, params, 1, 200)
        result: dict[str, Any] = jsonable(answer)
        return result

    @app.get(
        "/companies/{reference}/risk",
        summary="Punishments and list entries on companies related by holdings and control",
    )
    def risk(
        reference: str,
        principal: Caller,
        hops: Annotated[int, Query(ge=1, le=6, description="relationships to follow")] = 2,
        as_of: Annotated[date | None, Query(description="YYYY-MM-DD; default today")] = None,
    ) -> dict[str, Any]:
        endpoint = "GET /companies/{ref}/risk"
        graph = _graph_of(app)
        found = _company(graph, principal, Action.CONTROL, reference, endpoint)
        with graph.answering(f"reading the related-party risk of {found['entity_id']}"):
            answer = related_party_risk(
                graph.driver, found["entity_id"], hops, as_of, graph.settings.database
            )
        params = {"company": reference, "hops": hops}
        _audited(principal, endpoint, params, len(answer["related"]), 200)
        result: dict[str, Any] = jsonable(answer)
        return result

    @app.get(
        "/persons/{entity_id}/footprint",
        summary="Every company a person is or was tied to, and its record",
    )
    def person_footprint(entity_id: str, principal: Caller) -> dict[str, Any]:
        endpoint = "GET /persons/{id}/footprint"
        params = {"person": entity_id}
        if not principal.may(Action.PERSONS):
            _audited(principal, endpoint, params, 0, 403)
            raise HTTPException(403, f"a {principal.role} key may not read person footprints")
        graph = _graph_of(app)
        try:
            with graph.answering(f"reading the footprint of {entity_id}"):
                answer = footprint(graph.driver, entity_id, None, graph.settings.database)
        except (NotFound, Ambiguous) as err:
            _audited(principal, endpoint, params, 0, errors.status_of(err)[0])
            raise
        _audited(principal, endpoint, params, len(answer["roles"]) + len(answer["holdings"]), 200)
        result: dict[str, Any] = jsonable(answer)
        return result
