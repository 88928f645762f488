"""`veil serve`: the HTTP API (service/api/) under uvicorn, on loopback by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import uvicorn

from config.settings import export
from service.workers import run as socket_per_worker

APP = "service.api.app:create_app"
HOST, PORT = "127.0.0.1", 8321
PAGE_URL = f"http://{HOST}:{PORT}/"
#: Seconds a worker may leave uvicorn's health ping unanswered before it is killed as hung.
#: With uvicorn's 5 s, `--workers 2` at 100,000 companies never became ready on a busy
#: machine: each worker, still building its screener (a minute), missed a ping, was killed
#: as hung and restarted, for ever (seen with bench/api.py).
WORKER_HEALTHCHECK_SECONDS = 300


def serve(
    host: str = typer.Option(HOST, "--host", help="address to listen on"),
    port: int = typer.Option(PORT, "--port", min=1, max=65535, help="TCP port"),
    workers: int = typer.Option(1, "--workers", min=1, help="worker processes"),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        max=256,
        help="threads per worker for requests that wait on Neo4j or the disk "
        "(default: VEIL_SERVE_THREADS, else 4)",
    ),
    run: Path | None = typer.Option(
        None,
        "--run",
        exists=True,
        file_okay=False,
        help="the linked run whose saved models screen applications (POST /screen); "
        "default: the run of the graph's last load",
    ),
) -> None:
    """Serve the API over the Neo4j the CLI would use (NEO4J_URI's, else the local one,
    which must run already: `veil neo4j start`)."""
    if run is not None:
        export("serve_run", str(run.resolve()))
    if threads is not None:
        export("serve_threads", str(threads))
    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "timeout_worker_healthcheck": WORKER_HEALTHCHECK_SECONDS,
    }
    if workers == 1:
        uvicorn.run(APP, **options)
    else:
        socket_per_worker(uvicorn.Config(APP, **options))
