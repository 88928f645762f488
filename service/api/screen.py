"""`POST /screen`: the licence counter. An application's persons scored against the linked
run (linkage/screen.py), and every ban or watch in force that reaches a candidate
(alerts/standing.py), each saying how sure it is that the candidate is the applicant.

Scope: an inspector screens applications for companies of its regions and industries.
The company's own registered region and industry decide when the application names a
company veil knows (by USCC, or by a name that one company bears); otherwise the region
the clerk gives (`region_code`, else the one inside the USCC) and `industry_code`. An
application outside the key's scope, or a company veil does not know with no region
given, gets the same 403, so the answer does not say whether the company exists (nor
does it list, to a scoped key, the companies a name meets). Who the applicants may be is
not scoped: a banned person from another province is the point.

The Screener is built once, at start, from the run the graph was last loaded from (or
`veil serve --run DIR`), and every ban and watch of the graph read once beside it
(alerts/standing.py); while they cannot be (no load, no saved models, stale entities,
Neo4j down) the endpoint and /readyz answer 503 saying why, and the next request tries
again. A graph loaded from another run since makes /readyz say so: restart the app.
"""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from alerts.reads import GraphReader
from alerts.standing import Standing, Standings
from config.errors import NotFound, VeilError
from config.linkage import load_linkage_config
from config.rules import load_rules
from graph.guard import loaded_run
from graph.queries import find_company
from linkage.screen import (
    Candidate,
    CompanyMatch,
    RecordMatch,
    Screened,
    Screener,
    ScreenRequest,
)
from service.api import errors
from service.api.common import (
    AuditedRoute,
    Caller,
    Graph,
    GraphDep,
    answered,
    audited,
    require,
)
from service.api.errors import ScreeningUnavailable
from service.keys import ROLES, Action, Principal

log = logging.getLogger(__name__)
router = APIRouter(tags=["screening"], route_class=AuditedRoute)

ENDPOINT = "POST /screen"
OUT_OF_SCOPE = (
    "this application's company is outside your key's regions and industries, or unknown: "
    "for a company not yet registered give region_code (and industry_code when your key "
    "names industries)"
)


class Ban(Standing):
    """A ban or watch on a candidate, and what it rests on."""

    match_probability: float = Field(
        description="the applicant-to-candidate match probability the ban rests on"
    )
    weak: bool = Field(
        description="the candidate is not presented as the applicant (below "
        "screening.match_threshold, no shared full ID): a lead, not the applicant's ban"
    )
    on_record: list[RecordMatch] = Field(
        description="the applicant scored against the candidate's mentions on the records "
        "that tie them to the trigger"
    )


class ScreenedCandidate(Candidate):
    bans: list[Ban]


class ScreenedPerson(BaseModel):
    role: str
    name: str
    id_masked: str | None
    candidates: list[ScreenedCandidate]
    scored_mentions: int
    banned: bool = Field(
        description="a ban (severity ban) stands on a candidate presented as the applicant"
    )
    weak_leads: int = Field(description="bans and watches on candidates below the threshold")


class ScreenedCompany(CompanyMatch):
    region_code: str | None
    industry_code: str | None
    status: str | None


class ScreenResult(BaseModel):
    """The application screened on `as_of`."""

    as_of: date
    company: ScreenedCompany | None
    company_candidates: list[CompanyMatch]
    persons: list[ScreenedPerson]
    candidate_threshold: float = Field(description="linkage.yaml screening.candidate_threshold")
    match_threshold: float = Field(description="linkage.yaml screening.match_threshold")


@dataclass(frozen=True)
class Ready:
    """What screening needs, read once: the screener and the graph's bans and watches."""

    screener: Screener
    standings: Standings


class ScreeningState:
    """The app's screening, built on first need and kept; why there is none, if none."""

    def __init__(self, graph: Graph, run_dir: Path | None) -> None:
        self.graph = graph
        self.run_dir = run_dir
        self.ready: Ready | None = None
        self.problem = "not loaded yet"
        self._lock = threading.Lock()

    def load(self) -> Ready:
        """The screener and standings; ScreeningUnavailable (503) saying why not."""
        if self.ready is not None:
            return self.ready
        with self._lock:
            if self.ready is None:
                self._build()
        if self.ready is None:
            raise ScreeningUnavailable(f"screening is unavailable: {self.problem}")
        return self.ready

    def _build(self) -> None:
        run_dir = self.run_dir
        try:
            if run_dir is None:
                with self.graph.answering("finding the run the graph was loaded from"):
                    found = loaded_run(self.graph.driver, self.graph.database)
                if found is None:
                    self.problem = (
                        "the graph holds no load: `veil graph load --run RUN`, or start "
                        "`veil serve --run RUN` on a linked run"
                    )
                    return
                run_dir = Path(found)
            screener = Screener(run_dir, load_linkage_config().screening)
            with self.graph.answering("reading the bans and watches of the graph"):
                standings = Standings.read(
                    GraphReader(self.graph.driver, self.graph.database),
                    load_rules(),
                    self.graph.control,
                )
            self.ready = Ready(screener, standings)
            # The screener is hundreds of thousands of long-lived objects (295,000 at
            # 20,000 companies, more as the run grows) that every full collection walked
            # again, stopping every request (70 ms at 20,000): set them aside.
            gc.freeze()
        except VeilError as err:
            self.problem = f"{err} (run {run_dir}); fix it and ask again"
            log.warning("screening unavailable: %s", self.problem)

    def stale(self) -> str | None:
        """Why the screener no longer matches the graph (another run loaded since)."""
        if self.ready is None or self.run_dir is not None:
            return None
        with self.graph.answering("finding the run the graph was loaded from"):
            found = loaded_run(self.graph.driver, self.graph.database)
        screened = self.ready.screener.run_dir
        if found is not None and Path(found).resolve() != screened.resolve():
            return f"the graph now mirrors {found}, screening reads {screened}: restart veil serve"
        return None


def _params(request: ScreenRequest) -> dict[str, Any]:
    """The audit row's parameters (service/audit.py masks and tokenises the IDs)."""
    return {
        "company": request.company_name,
        "uscc": request.uscc,
        "region_code": request.region_code,
        "persons": [{"role": p.role, "name": p.name, "id": p.id_number} for p in request.persons],
    }


def _company(graph: Graph, match: CompanyMatch | None) -> ScreenedCompany | None:
    if match is None:
        return None
    try:
        with graph.answering(f"reading company {match.entity_id}"):
            found = find_company(graph.driver, match.entity_id, graph.database)
    except NotFound:  # in the run the screener read, not (yet) in the graph
        return ScreenedCompany(
            **match.model_dump(), region_code=None, industry_code=None, status=None
        )
    return ScreenedCompany(
        **match.model_dump(),
        region_code=found.region_code,
        industry_code=found.industry_code,
        status=found.status,
    )


def _in_scope(
    principal: Principal, request: ScreenRequest, company: ScreenedCompany | None
) -> bool:
    if not ROLES[principal.role].scoped:
        return True
    if company is not None and company.region_code is not None:
        return principal.in_scope(company.region_code, company.industry_code)
    return principal.in_scope(request.region(), request.industry_code)


@router.post(
    "/screen",
    summary="Screen a licence application: candidates per person, and the bans that reach them",
    response_model=ScreenResult,
)
def screen(request: ScreenRequest, principal: Caller, graph: GraphDep, http: Request) -> Response:
    params = _params(request)
    require(principal, Action.SCREENING, ENDPOINT, params)
    state: ScreeningState = http.app.state.screening
    try:
        ready = state.load()
        screened = ready.screener.screen(request)
        company = _company(graph, screened.answer.company)
    except VeilError as err:
        audited(principal, ENDPOINT, params, 0, errors.status_of(err)[0])
        raise
    if not _in_scope(principal, request, company):
        audited(principal, ENDPOINT, params, 0, 403)
        raise HTTPException(403, OUT_OF_SCOPE)
    as_of = request.as_of or date.today()
    result = _result(ready, screened, company, as_of)
    if ROLES[principal.role].scoped:  # companies of one name may lie outside the scope
        result.company_candidates = []
    audited(principal, ENDPOINT, params, sum(len(p.candidates) for p in result.persons), 200)
    return answered(result)


def _result(
    ready: Ready, screened: Screened, company: ScreenedCompany | None, as_of: date
) -> ScreenResult:
    answer = screened.answer
    persons = []
    for person, row in zip(answer.persons, screened.rows, strict=True):
        candidates = []
        for candidate in person.candidates:
            bans = [
                Ban(
                    **s.model_dump(),
                    match_probability=candidate.match_probability,
                    weak=not candidate.strong,
                    on_record=ready.screener.on_records(row, candidate.entity_id, s.records()),
                )
                for s in ready.standings.on(candidate.entity_id, as_of)
            ]
            candidates.append(ScreenedCandidate(**candidate.model_dump(), bans=bans))
        persons.append(
            ScreenedPerson(
                role=person.role,
                name=person.name,
                id_masked=person.id_masked,
                candidates=candidates,
                scored_mentions=person.scored_mentions,
                banned=any(
                    b.rule.severity == "ban" and not b.weak for c in candidates for b in c.bans
                ),
                weak_leads=sum(b.weak for c in candidates for b in c.bans),
            )
        )
    return ScreenResult(
        as_of=as_of,
        company=company,
        company_candidates=answer.company_candidates,
        persons=persons,
        candidate_threshold=answer.candidate_threshold,
        match_threshold=answer.match_threshold,
    )
