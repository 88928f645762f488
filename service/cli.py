"""The `veil` command line: thin wiring over the rooms; no domain logic lives here."""

from __future__ import annotations

from enum import StrEnum

import typer

from config.errors import VeilError
from config.settings import environment, private_files
from service import (
    cmd_alerts,
    cmd_demo,
    cmd_explain,
    cmd_graph,
    cmd_keys,
    cmd_link,
    cmd_load,
    cmd_neo4j,
    cmd_serve,
    cmd_sources,
    cmd_world,
    logs,
)
from service.console import err_console, run_guarded, styled

app = typer.Typer(
    name="veil",
    help="Entity resolution and corporate-veil linkage over regulatory data islands.",
    no_args_is_help=True,
    add_completion=False,
)


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@app.callback()
def _setup(
    log_level: LogLevel | None = typer.Option(
        None,
        "--log-level",
        case_sensitive=False,
        help="what veil logs to stderr (default: $VEIL_LOG_LEVEL, else WARNING)",
    ),
) -> None:
    """Entity resolution and corporate-veil linkage over regulatory data islands."""
    private_files()
    try:
        level = log_level or environment().log_level
    except VeilError as err:
        err_console.print(styled(("error:", "bold red"), " ", str(err)))
        raise typer.Exit(1) from None
    logs.configure(level)


app.add_typer(cmd_neo4j.app, name="neo4j", help="Run the local Neo4j (start, stop, status).")
app.command("world", help="Generate a synthetic world of agency extracts with ground truth.")(
    run_guarded(cmd_world.world)
)
app.command("load", help="Load agency extracts into mentions, facts and a quarantine.")(
    run_guarded(cmd_load.load)
)
app.add_typer(
    cmd_sources.sources_app,
    name="sources",
    help="Check a sources.yaml on its extracts' first rows.",
)
app.command("link", help="Resolve a run's mentions into person and company entities.")(
    run_guarded(cmd_link.link)
)
app.add_typer(cmd_link.model_app, name="model", help="Train the linkage models (no labels).")
app.command("judge", help="Record a reviewer's judgement: two mentions are / are not one entity.")(
    run_guarded(cmd_link.judge)
)
app.command("explain", help="Show why two mentions are one entity or two: evidence and score.")(
    run_guarded(cmd_explain.explain)
)
app.add_typer(cmd_graph.graph_app, name="graph", help="Build the graph: init, load, control.")
app.command("find-company", help="Find companies by any form of a name, or by USCC.")(
    run_guarded(cmd_graph.find_company_command)
)
app.command("controls", help="Who controls a company: roles, owners, controller, record.")(
    run_guarded(cmd_graph.controls_command)
)
app.command("footprint", help="Every company a person is or was tied to, and its record.")(
    run_guarded(cmd_graph.footprint_command)
)
app.command("risk", help="Punishments and list entries on companies related by control.")(
    run_guarded(cmd_graph.risk_command)
)
app.add_typer(
    cmd_alerts.alerts_app, name="alerts", help="Reincorporation alerts: run, list, review."
)
app.add_typer(cmd_keys.keys_app, name="keys", help="API keys: create, list, revoke.")
app.add_typer(
    cmd_keys.audit_app, name="audit", help="The audit log: list rows, verify the hash chain."
)
app.command("serve", help="Serve the HTTP API (keys, audit) on 127.0.0.1.")(
    run_guarded(cmd_serve.serve)
)
app.command("demo", help="Run the main job end to end on a synthetic world; say where to look.")(
    run_guarded(cmd_demo.demo)
)


if __name__ == "__main__":
    app()
