"""Alerts over HTTP: the inbox (a page of alerts with its total), one alert with its
evidence and history, and a review, through alerts.store as `veil alerts list|show|review`.

An inspector sees only alerts whose company lies in its key's regions and industries: the
list is filtered in the query, so its total counts only those, and an alert outside the
scope gets the same 403 as an alert that does not exist. The reviewer an alert's history
records is the key (its name and id), never a name the request sends. Every answer passes
through `disclosed`, as the company answers do: evidence stored by an older sweep shows
its masks as today's does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from alerts.answers import Alert, AlertPage, Status
from alerts.store import MAX_PAGE, MAX_PER_PAGE, AlertFilter, Scope, alert_page, get_alert, review
from config.errors import NotFound, VeilError
from service.api import errors
from service.api.common import AuditedRoute, Caller, Graph, GraphDep, answered, audited, require
from service.api.disclosure import disclosed
from service.keys import ROLES, Action, Principal

router = APIRouter(tags=["alerts"], route_class=AuditedRoute)

#: What a scoped key is told about an alert it may not see, whether or not it exists.
OUT_OF_SCOPE = "this alert is outside your key's regions and industries, or unknown"

#: A review's action and the status it sets (`veil alerts review --status`).
STATUS_OF: dict[str, Status] = {
    "acknowledge": "acknowledged",
    "confirm": "confirmed",
    "dismiss": "dismissed",
}


class ReviewRequest(BaseModel):
    """What a reviewer decides; a dismissal needs a reason."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["acknowledge", "confirm", "dismiss"]
    reason: str = Field("", max_length=2000, description="why; required to dismiss")


@contextmanager
def _audited_failure(principal: Principal, endpoint: str, params: dict[str, Any]) -> Iterator[None]:
    """A request that fails on veil's side (bad filter, Neo4j down) is audited with the
    status it answers."""
    try:
        yield
    except VeilError as err:
        audited(principal, endpoint, params, 0, errors.status_of(err)[0])
        raise


@router.get(
    "/alerts", summary="A page of alerts, filtered, with their total", response_model=AlertPage
)
def alerts(
    principal: Caller,
    graph: GraphDep,
    status: Status | None = None,
    rule: Annotated[str | None, Query(description="a rule id from rules.yaml")] = None,
    region: Annotated[str | None, Query(description="region code prefix: 31, 3101")] = None,
    industry: Annotated[
        str | None, Query(description="GB/T 4754 code prefix: F, F52, H62 (52 reads F52)")
    ] = None,
    since: Annotated[
        date | None, Query(description="raised or changed on or after this day (UTC)")
    ] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 50,
) -> Response:
    endpoint = "GET /alerts"
    chosen = {"status": status, "rule": rule, "region": region, "industry": industry}
    params: dict[str, Any] = {k: v for k, v in chosen.items() if v is not None}
    if since is not None:
        params["since"] = since.isoformat()
    params |= {"page": page, "per_page": per_page}
    require(principal, Action.ALERTS, endpoint, params)
    prefixes = principal.scope_prefixes()
    filters = AlertFilter(
        status, rule, region, industry, since, scope=None if prefixes is None else Scope(*prefixes)
    )
    with _audited_failure(principal, endpoint, params), graph.answering("listing alerts"):
        answer = alert_page(graph.driver, filters, page, per_page, graph.database)
    audited(principal, endpoint, params, len(answer.alerts), 200)
    return answered(disclosed(answer, principal))


@router.get(
    "/alerts/{alert_id}", summary="One alert with its evidence and history", response_model=Alert
)
def alert(alert_id: str, principal: Caller, graph: GraphDep) -> Response:
    endpoint = "GET /alerts/{alert_id}"
    params = {"alert": alert_id}
    require(principal, Action.ALERTS, endpoint, params)
    found = _reachable(graph, principal, alert_id, endpoint, params)
    audited(principal, endpoint, params, 1, 200)
    return answered(disclosed(found, principal))


@router.post(
    "/alerts/{alert_id}/review",
    summary="Acknowledge, confirm or dismiss an alert (a dismissal needs a reason)",
    response_model=Alert,
)
def review_alert(
    alert_id: str, decision: ReviewRequest, principal: Caller, graph: GraphDep
) -> Response:
    endpoint = "POST /alerts/{alert_id}/review"
    params = {"alert": alert_id, "action": decision.action}
    require(principal, Action.REVIEW, endpoint, params)
    _reachable(graph, principal, alert_id, endpoint, params)
    with _audited_failure(principal, endpoint, params), graph.answering(f"reviewing {alert_id}"):
        reviewed = review(
            graph.driver,
            alert_id,
            STATUS_OF[decision.action],
            principal.reviewer,
            decision.reason,
            graph.database,
        )
    audited(principal, endpoint, params, 1, 200)
    return answered(disclosed(reviewed, principal))


def _reachable(
    graph: Graph, principal: Principal, alert_id: str, endpoint: str, params: dict[str, Any]
) -> Alert:
    """The alert, if `principal` may see its company; else 403, which a scoped key also
    gets for an unknown alert (an unscoped one gets 404)."""
    try:
        with graph.answering(f"reading alert {alert_id}"):
            found = get_alert(graph.driver, alert_id, graph.database)
    except NotFound:
        if ROLES[principal.role].scoped:
            audited(principal, endpoint, params, 0, 403)
            raise HTTPException(403, OUT_OF_SCOPE) from None
        audited(principal, endpoint, params, 0, 404)
        raise
    except VeilError as err:
        audited(principal, endpoint, params, 0, errors.status_of(err)[0])
        raise
    if not principal.in_scope(found.region_code, found.industry_code):
        audited(principal, endpoint, params, 0, 403)
        raise HTTPException(403, OUT_OF_SCOPE)
    return found
