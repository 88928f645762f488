"""The HTTP app: `veil serve` runs it under uvicorn, `create_app` builds it for tests.

Every data endpoint reads the graph through the same room functions as the CLI, behind an
API key sent in the `X-Veil-Key` header (never in a URL); the routers live beside this
module (companies, alerts, ...) and share service/api/common.py: the graph, the caller, the
scope check and the audit row every request appends.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from anyio import to_thread
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from config.errors import VeilError
from config.graph import load_graph_config
from config.settings import environment
from graph.published import first_load_error, read_state
from graph.server.connection import (
    Neo4jSettings,
    neo4j_settings,
    open_async_driver,
    open_driver,
)
from service.api import alerts, companies, errors, page, screen
from service.api.common import KEY_HEADER, WARNING_HEADER, Graph
from service.api.errors import ScreeningUnavailable
from service.api.screen import ScreeningState

__all__ = ["KEY_HEADER", "create_app"]

log = logging.getLogger(__name__)


def create_app(settings: Neo4jSettings | None = None, run_dir: Path | None = None) -> FastAPI:
    """The app over `settings`' Neo4j (default: NEO4J_URI's server, else the local one,
    which must already run: `veil neo4j start`), screening applications with the saved
    models of `run_dir` (default $VEIL_SERVE_RUN, else the run of the graph's last load)."""
    chosen = settings or neo4j_settings()
    screen_run = run_dir or environment().serve_run

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Every blocking endpoint runs in this pool: 20 requests in 20 threads contend for
        # one GIL and cost more CPU each than the same requests queued for a few threads.
        threads = to_thread.current_default_thread_limiter()
        threads.total_tokens = environment().serve_threads
        with open_driver(chosen) as driver:
            async with open_async_driver(chosen) as reader:
                app.state.graph = Graph(chosen, driver, reader, load_graph_config().control)
                app.state.screening = ScreeningState(app.state.graph, screen_run)
                try:
                    # One quick try first: with Neo4j down, the screening's reads would
                    # retry for a minute or more before the app listened at all.
                    with app.state.graph.answering("connecting at start-up"):
                        driver.verify_connectivity()
                    app.state.screening.load()
                except VeilError as err:  # /readyz and /screen say why, and try again
                    log.warning("%s", err)
                yield

    app = FastAPI(
        title="veil",
        summary="Who controls a company, and the people behind it",
        lifespan=lifespan,
    )
    errors.install(app)
    _health(app)
    for router in (companies.router, alerts.router, screen.router):
        app.include_router(router, responses=errors.RESPONSES)
    app.include_router(page.router)
    return app


def _health(app: FastAPI) -> None:
    @app.get("/healthz", summary="The process is up, and the threads it answers with")
    async def healthz() -> dict[str, str | int]:
        return {
            "status": "ok",
            "threads": int(to_thread.current_default_thread_limiter().total_tokens),
        }

    @app.get(
        "/readyz",
        summary="Neo4j answers, the graph is loaded, and the screening models are loaded",
        description="503 `graph_loading` while the graph's first load runs; "
        "`graph_warning` while a write too large for one transaction lands in batches "
        "(answers may then mix two states of the graph and carry X-Veil-Graph-Warning).",
        responses={503: errors.RESPONSES[503]},
    )
    def readyz() -> Response:
        graph: Graph = app.state.graph
        with graph.answering("checking it is ready"):
            # Fails at once when Neo4j is down; the read alone retries for 30 s first.
            graph.driver.verify_connectivity()
            published = read_state(graph.driver, graph.database)
        if published.creating:
            raise first_load_error()
        warning = published.warning
        headers = {WARNING_HEADER: warning} if warning else None
        extra = {"graph_warning": warning} if warning else {}
        screening: ScreeningState = app.state.screening
        try:
            ready = screening.load()
            stale = screening.stale()
            if stale:
                raise ScreeningUnavailable(f"screening is out of date: {stale}")
        except VeilError as err:
            if not warning:
                raise
            status, code = errors.status_of(err)
            body = errors.error_body(code, str(err), **extra)
            return JSONResponse(body, status_code=status, headers=headers)
        body = {
            "status": "ready",
            "neo4j": graph.settings.uri,
            "screening_run": str(ready.screener.run_dir),
            "screening_mentions": ready.screener.mentions,
            "screening_built_seconds": ready.screener.seconds,
            "standing_triggers": ready.standings.triggers,
            "standings_read_seconds": ready.standings.seconds,
            "graph_version": published.version,
            **extra,
        }
        return JSONResponse(body, headers=headers)
