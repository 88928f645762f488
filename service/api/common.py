"""What every router of the app shares: the graph it reads, the caller behind the request's
key, the audit row each request appends, and the scope check on a company.

A request without a key, or with a wrong or revoked one, is 401; a role that may not do
what the endpoint does, or a company outside an inspector's regions and industries, is
403, and for a scoped key an unknown company is the same 403, so the answer never says
whether something exists outside the key's reach. Each such request, answered or refused,
appends a row to the audit chain (service/audit.py) with its identifiers masked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import neo4j
from fastapi import Depends, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from config.errors import Ambiguous, NotFound
from config.graph import Control
from graph.answers import Company
from graph.guard import neo4j_faults
from graph.published import observed
from graph.queries import Scope, find_company
from graph.server.connection import Neo4jSettings
from service import audit, keys
from service.api import errors
from service.keys import Action, Principal

KEY_HEADER = "X-Veil-Key"
#: Sent with an answer read while a write too large for one transaction was landing.
WARNING_HEADER = "X-Veil-Graph-Warning"
#: What a scoped key is told about a company it may not see, whether or not it exists.
OUT_OF_SCOPE = "this company is outside your key's regions and industries, or unknown"


@dataclass
class Graph:
    """The Neo4j the app reads, opened once; the drivers reconnect by themselves after an
    outage, so Neo4j coming back needs no restart of the app. `driver` serves the
    endpoints that run in the thread pool, `reader` (async) those that run on the event
    loop."""

    settings: Neo4jSettings
    driver: neo4j.Driver
    reader: neo4j.AsyncDriver
    control: Control

    @property
    def database(self) -> str:
        return self.settings.database

    @contextmanager
    def answering(self, doing: str) -> Iterator[None]:
        """Neo4j's faults as GraphUnavailable (503), naming the server."""
        with neo4j_faults(self.settings.uri, doing, then="ask again"):
            yield


async def graph_of(request: Request) -> Graph:
    """The app's graph. A coroutine, as `caller` is: FastAPI runs a plain function
    dependency in its thread pool, a hop per request for a lookup."""
    graph: Graph = request.app.state.graph
    return graph


GraphDep = Annotated[Graph, Depends(graph_of)]


def _entry(
    caller: Principal | None, action: str, params: dict[str, Any], count: int, status: int
) -> audit.Entry:
    key_id, role = (caller.key_id, str(caller.role)) if caller else ("-", "-")
    return audit.Entry(key_id, role, action, params, count, status)


def audited(
    caller: Principal | None, action: str, params: dict[str, Any], count: int, status: int
) -> None:
    """The request's audit row, written with those of the requests waiting beside it
    (audit.Committer); returns once it is on disk."""
    audit.committer.submit(_entry(caller, action, params, count, status)).result()


async def caller(
    key: Annotated[str | None, Header(alias=KEY_HEADER)] = None,
) -> Principal:
    """The principal of the request's key; 401 (audited) without a live one.

    Checked on the event loop (a stat of the key store and an HMAC: tens of microseconds),
    not in a thread-pool hop; a refusal waits for its audit row without holding the loop."""
    if not key:
        await audited_async(None, "authenticate", {}, 0, 401)
        raise HTTPException(401, f"send your API key in the {KEY_HEADER} header")
    principal = keys.authenticate(key)
    if principal is None:
        await audited_async(None, "authenticate", {}, 0, 401)
        raise HTTPException(401, "the API key is unknown, malformed or revoked")
    return principal


def answered(answer: BaseModel) -> Response:
    """A typed answer as its JSON, serialised once by pydantic. Returned as a model, FastAPI
    would validate it again (in another thread-pool hop, for a plain-function endpoint)
    before serialising it; the route's `response_model` still documents it in OpenAPI.

    When the graph state the answer was read from (graph.published.observed: this
    request's last whole read) says a write was landing in batches, the answer carries
    WARNING_HEADER with why it may mix two states."""
    seen = observed()
    warning = None if seen is None else seen.warning
    headers = {WARNING_HEADER: warning} if warning else None
    return Response(
        answer.model_dump_json(by_alias=True), media_type="application/json", headers=headers
    )


Caller = Annotated[Principal, Depends(caller)]


def require(principal: Principal, action: Action, endpoint: str, params: dict[str, Any]) -> None:
    """403 (audited) unless `principal`'s role may `action`."""
    if not principal.may(action):
        audited(principal, endpoint, params, 0, 403)
        raise HTTPException(403, f"a {principal.role} key may not read {action}")


def search_scope(principal: Principal) -> Scope | None:
    """The companies a search by `principal` may find: None for an unscoped role."""
    if not keys.ROLES[principal.role].scoped:
        return None
    return Scope(tuple(keys.region_prefix(r) for r in principal.regions), principal.industries)


def scoped_company(
    graph: Graph, principal: Principal, action: Action, reference: str, endpoint: str
) -> Company:
    """The company `reference` names, if `principal` may `action` on it; else 403 (or,
    for an unscoped key, 404 / 409 as the lookup says)."""
    params = {"company": reference}
    require(principal, action, endpoint, params)
    scoped = keys.ROLES[principal.role].scoped
    try:
        with graph.answering(f"finding company {reference!r}"):
            company = find_company(graph.driver, reference, graph.database)
    except (NotFound, Ambiguous) as err:
        if scoped:
            audited(principal, endpoint, params, 0, 403)
            raise HTTPException(403, OUT_OF_SCOPE) from None
        audited(principal, endpoint, params, 0, errors.status_of(err)[0])
        raise
    if not principal.in_scope(company.region_code, company.industry_code):
        audited(principal, endpoint, params, 0, 403)
        raise HTTPException(403, OUT_OF_SCOPE)
    return company


def company_reference(
    graph: Graph, principal: Principal, action: Action, reference: str, endpoint: str
) -> str:
    """What to look `reference` up by for `principal`: a scoped key's company is found and
    checked first (`scoped_company`), so its entity ID; any other key's reference goes to
    the query as given, which finds it in its own transaction (one lookup, not two)."""
    if keys.ROLES[principal.role].scoped:
        return scoped_company(graph, principal, action, reference, endpoint).entity_id
    require(principal, action, endpoint, {"company": reference})
    return reference


async def company_reference_async(
    graph: Graph, principal: Principal, action: Action, reference: str, endpoint: str
) -> str:
    """`company_reference` for an endpoint on the event loop: in the thread pool only when
    it waits on Neo4j or the disk (a scoped key's lookup, a refusal's audit row)."""
    if keys.ROLES[principal.role].scoped or not principal.may(action):
        return await run_in_threadpool(
            company_reference, graph, principal, action, reference, endpoint
        )
    return reference


async def audited_async(
    caller: Principal | None, action: str, params: dict[str, Any], count: int, status: int
) -> None:
    """`audited` from the event loop: the request waits for its row, the loop does not."""
    await asyncio.wrap_future(audit.committer.submit(_entry(caller, action, params, count, status)))


class AuditedRoute(APIRoute):
    """A route whose requests refused as malformed (422) are audited too: FastAPI refuses
    them before the endpoint runs, after the key check, so the row names the key that sent
    them, with the raw parameters (masked by the audit log as any others)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        action = f"{'|'.join(sorted(self.methods or ()))} {self.path_format}"

        async def audited_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError:
                params = {**request.path_params, **request.query_params}
                await run_in_threadpool(_audit_malformed, request, action, params)
                raise

        return audited_handler


def _audit_malformed(request: Request, action: str, params: dict[str, Any]) -> None:
    audited(keys.authenticate(request.headers.get(KEY_HEADER, "")), action, params, 0, 422)
