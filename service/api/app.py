"""The HTTP app: `veil serve` runs it under uvicorn, `create_app` builds it for tests.

Every data endpoint reads the graph through the same room functions as the CLI, behind an
API key sent in the `X-Veil-Key` header (never in a URL); the routers live beside this
module (companies, alerts, ...) and share service/api/common.py: the graph, the caller, the
scope check and the audit row every request appends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from config.graph import load_graph_config
from graph.server.connection import Neo4jSettings, neo4j_settings, open_driver
from service.api import alerts, companies, errors, page
from service.api.common import KEY_HEADER, Graph

__all__ = ["KEY_HEADER", "create_app"]


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
    _health(app)
    app.include_router(companies.router, responses=errors.RESPONSES)
    app.include_router(alerts.router, responses=errors.RESPONSES)
    app.include_router(page.router)
    return app


def _health(app: FastAPI) -> None:
    @app.get("/healthz", summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Neo4j answers", responses={503: errors.RESPONSES[503]})
    def readyz() -> dict[str, str]:
        graph: Graph = app.state.graph
        with graph.answering("checking it is ready"):
            graph.driver.verify_connectivity()
        return {"status": "ready", "neo4j": graph.settings.uri}
