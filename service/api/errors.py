"""Errors as JSON with one stable shape, `{"error": {"code", "message"}}`, and the status
each of veil's errors means over HTTP.

A person can act on the message; the code is for programs. Neo4j down is 503 with the
guard's advice, and the app needs no restart: the driver reconnects on the next request.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from config.errors import Ambiguous, InputError, NotFound, VeilError
from graph.guard import GraphUnavailable
from graph.published import GraphChanging, GraphLoading

log = logging.getLogger(__name__)


class ScreeningUnavailable(VeilError):
    """No screener: the graph holds no load, or its run has no saved models or term
    frequencies, or stale entities (service/api/screen.py says which)."""


#: veil's error kinds and their (status, code); the first that matches wins.
STATUSES: tuple[tuple[type[VeilError], int, str], ...] = (
    (NotFound, 404, "not_found"),
    (Ambiguous, 409, "ambiguous"),
    (InputError, 400, "bad_input"),
    (GraphUnavailable, 503, "graph_unavailable"),
    (GraphLoading, 503, "graph_loading"),
    (GraphChanging, 503, "graph_changing"),
    (ScreeningUnavailable, 503, "screening_unavailable"),
)
#: The codes of plain HTTP errors (the key check's 401 and 403, an unknown route's 404).
HTTP_CODES = {
    401: "unauthorised",
    403: "forbidden",
    404: "not_found",
    405: "not_allowed",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, for programs: not_found, forbidden, bad_input, ...")
    message: str = Field(description="what went wrong and what to do about it, for a person")
    candidates: list[dict[str, Any]] | None = Field(
        None, description="with `ambiguous`: the things the reference could mean"
    )
    graph_warning: str | None = Field(
        None,
        description="with /readyz: a write too large for one transaction is landing in "
        "batches, so answers may mix two states of the graph",
    )


class ErrorBody(BaseModel):
    """Every error the API answers, whatever its status."""

    error: ErrorDetail


def _documented(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


#: The errors every data endpoint may answer, documented in OpenAPI with their one shape.
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("a value the request sends cannot be used (say which and why)"),
    401: _documented("no API key, or an unknown, malformed or revoked one"),
    403: _documented("the key's role or scope does not reach this"),
    404: _documented("nothing has this reference"),
    409: _documented("the reference names several things: pick one of `candidates`"),
    422: _documented("a parameter or the body is malformed"),
    503: _documented(
        "Neo4j does not answer (graph_unavailable), the graph's first load is running "
        "(graph_loading) or writes kept landing under the read (graph_changing): ask again"
    ),
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def status_of(err: VeilError) -> tuple[int, str]:
    for kind, status, code in STATUSES:
        if isinstance(err, kind):
            return status, code
    return 500, "internal"


def install(app: FastAPI) -> None:
    """Answer every error in the one shape."""

    @app.exception_handler(VeilError)
    async def veil_error(_: Request, err: VeilError) -> JSONResponse:
        status, code = status_of(err)
        extra = {"candidates": err.candidates} if isinstance(err, Ambiguous) else {}
        return JSONResponse(error_body(code, str(err), **extra), status_code=status)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, err: HTTPException) -> JSONResponse:
        code = HTTP_CODES.get(err.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(err.detail)), status_code=err.status_code, headers=err.headers
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, err: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        return JSONResponse(error_body("bad_input", problems), status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        """A fault veil did not foresee: logged with its traceback (no request body, which
        may hold identifiers), answered in the one shape."""
        log.error("%s %s failed", request.method, request.url.path, exc_info=err)
        message = "veil failed on this request; the server log has the details"
        return JSONResponse(error_body("internal", message), status_code=500)
