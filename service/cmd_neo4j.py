"""`veil neo4j start|stop|status|install`: run the local Neo4j (graph/server/) in the background."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from graph.server import jars, local
from service.console import console, print_json, run_guarded

app = typer.Typer(no_args_is_help=True, add_completion=False)

PortOpt = Annotated[
    int | None,
    typer.Option("--port", help="Bolt port on 127.0.0.1 (env VEIL_NEO4J_PORT, default 7687)"),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Neo4j home (env VEIL_NEO4J_HOME, default <veil home>/neo4j)"),
]


@app.command()
@run_guarded
def start(
    port: PortOpt = None,
    data_dir: DataDirOpt = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds to wait for Neo4j (env VEIL_NEO4J_START_TIMEOUT, default 120)"),
    ] = None,
) -> None:
    """Start the local Neo4j in the background and wait until Bolt answers."""
    config = local.server_config(data_dir=data_dir, port=port, timeout=timeout)
    with console.status("Starting Neo4j...") as spinner:
        server = local.start(
            config, progress=lambda update: spinner.update(Text(f"{update.label}..."))
        )
    if server.already_running:
        console.print(f"Neo4j is already running at {server.uri} (pid {server.pid})")
    else:
        version = jars.NEO4J_VERSION
        console.print(f"Neo4j {version} ready at {server.uri} (pid {server.pid})")
    console.print(f"user neo4j, password in {config.password_file}", highlight=False)


@app.command()
@run_guarded
def stop(port: PortOpt = None, data_dir: DataDirOpt = None) -> None:
    """Stop the local Neo4j cleanly (SIGTERM, then wait for the shutdown)."""
    config = local.server_config(data_dir=data_dir, port=port)
    with console.status("Stopping Neo4j..."):
        pid = local.stop(config)
    if pid is None:
        console.print(f"Neo4j is not running (data dir {config.data_dir})", highlight=False)
    else:
        console.print(f"Neo4j stopped (pid {pid})")


@app.command()
@run_guarded
def status(
    port: PortOpt = None,
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the Bolt URI, the pid and whether Bolt answers."""
    config = local.server_config(data_dir=data_dir, port=port)
    st = local.status(config)
    if as_json:
        print_json(st.as_dict())
        return
    if st.mode == "external":
        console.print(f"external Neo4j (NEO4J_URI): {st.uri}", highlight=False)
    else:
        state = f"running, pid {st.pid}" if st.running else "not running"
        console.print(f"local Neo4j {st.uri}: {state} (data dir {st.data_dir})", highlight=False)
    if st.bolt_ok:
        console.print("Bolt answers: yes")
    elif st.running or st.mode == "external":
        console.print(f"Bolt answers: no ({st.error})", highlight=False)


@app.command()
@run_guarded
def install() -> None:
    """Check Java and fetch Neo4j's jars with Maven into the reused cache (once)."""
    java = jars.check_java()
    with console.status("Fetching Neo4j jars...") as spinner:
        lib = jars.ensure_jars(progress=lambda update: spinner.update(Text(f"{update.label}...")))
    count = len(list(lib.glob("*.jar")))
    console.print(f"{java}; Neo4j {jars.NEO4J_VERSION}: {count} jars in {lib}", highlight=False)
