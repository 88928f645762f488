"""`veil serve`: the HTTP API (service/api/) under uvicorn, on loopback by default."""

from __future__ import annotations

import typer
import uvicorn

HOST, PORT = "127.0.0.1", 8321
PAGE_URL = f"http://{HOST}:{PORT}/"


def serve(
    host: str = typer.Option(HOST, "--host", help="address to listen on"),
    port: int = typer.Option(PORT, "--port", min=1, max=65535, help="TCP port"),
    workers: int = typer.Option(1, "--workers", min=1, help="worker processes"),
) -> None:
    """Serve the API over the Neo4j the CLI would use (NEO4J_URI's, else the local one,
    which must run already: `veil neo4j start`)."""
    uvicorn.run("service.api.app:create_app", factory=True, host=host, port=port, workers=workers)
