"""`veil graph init|load|control`, `veil find-company`, `veil controls`, `veil footprint`,
`veil risk`.

Each command talks to NEO4J_URI's server when it is set, else to the local Neo4j, which it
starts (detached, as `veil neo4j start` would) when it is not running yet. Answers are
printed as `service.api.disclosure.printed` shows them: ID masks without the birth month and
day, no resident ID inside a text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import date
from pathlib import Path
from typing import Any

import neo4j
import typer
from rich.table import Table

from config.errors import EnvironmentProblem, InputError
from config.graph import load_graph_config
from config.settings import environment
from graph.analysis import control_one, run_control
from graph.answers import ControlAnswer, HoldingPath, ListEntry, NoController, Person
from graph.bulk_load import bulk_load
from graph.guard import neo4j_faults
from graph.load import LoadSummary, load_run
from graph.queries import controls, footprint, related_party_risk, resolve_company
from graph.schema import init_schema
from graph.server.connection import Neo4jSettings, external_settings, neo4j_settings, open_driver
from graph.server.local import server_config
from service.api.disclosure import printed
from service.company_search import find_companies
from service.console import console, err_console, print_json, run_guarded, styled
from service.progress import shown

graph_app = typer.Typer(no_args_is_help=True, help="Build the corporate-veil graph in Neo4j.")

AS_OF_HELP = "the day to answer for (YYYY-MM-DD; default today)"
CONFIG_HELP = "graph config (default: $VEIL_GRAPH or config/graph.yaml)"


def graph_settings(quiet: bool = False) -> Neo4jSettings:
    """NEO4J_URI's server, or the local one (started if needed)."""
    return neo4j_settings(start=True, starting=nullcontext if quiet else _starting)


def _starting() -> AbstractContextManager[Any]:
    return console.status("Starting the local Neo4j...")


@contextmanager
def graph_driver(quiet: bool = False) -> Iterator[tuple[neo4j.Driver, str]]:
    """A driver for the command's Neo4j; its faults become errors naming the server."""
    settings = graph_settings(quiet)
    with neo4j_faults(settings.uri, "talking to the graph"), open_driver(settings) as driver:
        yield driver, settings.database


def parse_as_of(value: str | None, option: str = "--as-of") -> date | None:
    """A day given as an option's value; a malformed one is an InputError naming `option`."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(option, f"'{value}' is not a date: expected YYYY-MM-DD") from None


def init(json_output: bool = typer.Option(False, "--json")) -> None:
    with graph_driver(json_output) as (driver, database):
        statements = init_schema(driver, database)
    if json_output:
        print_json({"schema_statements": statements})
    else:
        console.print(f"schema ready: {statements} constraints and indexes (IF NOT EXISTS)")


BULK_HELP = (
    "first load into an EMPTY local graph by offline bulk import (neo4j-admin): stops the "
    "local Neo4j, writes its store, starts it again; docs/GRAPH.md"
)


def load(
    run: Path = typer.Option(..., "--run", help="a linked run directory"),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    bulk: bool = typer.Option(False, "--bulk", help=BULK_HELP),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    settings = load_graph_config(config)
    if bulk:
        summary = _bulk(run, settings.load.batch_size, json_output)
    else:
        with (
            graph_driver(json_output) as (driver, database),
            shown(json_output, one_line=True, width=30) as bar,
        ):
            summary = load_run(
                driver,
                run,
                database,
                settings.load.batch_size,
                bar,
                atomic_rows=settings.load.atomic_rows,
            )
    if json_output:
        print_json(summary.as_dict())
        return
    table = Table(title=f"loaded {run} into Neo4j (load {summary.load_id})")
    table.add_column("resolved")
    table.add_column("rows", justify="right")
    for key, value in summary.resolved.items():
        table.add_row(key, f"{value:,}")
    console.print(table)
    c = summary.counters
    console.print(
        f"{summary.rows:,} rows in {summary.seconds:.1f} s ({summary.rows_per_second:,.0f} "
        f"rows/s): {c.get('nodes_created', 0):,} nodes and "
        f"{c.get('relationships_created', 0):,} relationships created"
    )
    if summary.mode == "merge":
        console.print(
            f"{summary.unchanged:,} rows unchanged; the delta written "
            + ("in one transaction (atomic: true)" if summary.atomic else "in batches")
        )
    if not summary.atomic and summary.mode in ("merge", "create"):
        err_console.print(
            "atomic: false: the load was written in batches"
            + (
                " (its delta exceeds load.atomic_rows), so readers may have seen a mix of "
                "the previous load and this one while it ran"
                if summary.mode == "merge"
                else " (the first load of an empty graph: readers were told it was loading)"
            )
        )
    if summary.stale_deleted:
        gone = ", ".join(f"{k} {v:,}" for k, v in summary.stale_deleted.items())
        console.print(f"no longer stated by this run, deleted: {gone}")
    if summary.replaced_unfinished:
        before = summary.replaced_unfinished
        console.print(
            f"the previous load (run {before['run_dir']}, started {before['started']}) had "
            "not finished; this load replaced it and the graph is complete"
        )
    if summary.unresolved_slots:
        err_console.print(
            f"warning: {summary.unresolved_slots:,} fact slots name a mention without an "
            "entity and were left out; re-link the run (`veil link --run`) and load again"
        )
    if summary.stages:
        console.print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in summary.stages.items()))


def _bulk(run: Path, batch_size: int, quiet: bool) -> LoadSummary:
    """`graph.bulk_load.bulk_load` into the local instance, a line per stage as it ends."""
    if external_settings() is not None:
        raise EnvironmentProblem(
            "--bulk imports into veil's own local Neo4j, but NEO4J_URI is set "
            f"({environment().neo4j_uri}): unset it, or load without --bulk"
        )
    config = server_config()
    if quiet:
        return bulk_load(config, run, batch_size=batch_size).summary
    with shown(one_line=True, width=10) as progress:
        return bulk_load(config, run, batch_size=batch_size, progress=progress).summary


def control(
    company: str | None = typer.Option(None, "--company", help="only this company"),
    as_of: str | None = typer.Option(None, "--as-of", help=AS_OF_HELP),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    graph_config = load_graph_config(config)
    settings, atomic_rows = graph_config.control, graph_config.load.atomic_rows
    day = parse_as_of(as_of)
    with graph_driver(json_output) as (driver, database):
        if company:
            company_id = resolve_company(driver, company, database)
            summary = control_one(driver, company_id, settings, day, database, atomic_rows)
        else:
            with shown(json_output, one_line=True, width=30) as bar:
                summary = run_control(driver, settings, day, database, bar, atomic_rows)
    if json_output:
        print_json(summary.as_dict())
        return
    bases = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.bases.items()))
    console.print(
        f"control as of {summary.as_of}: {summary.companies:,} companies, "
        f"{summary.holdings:,} holdings in force, {summary.beneficial_owners:,} beneficial "
        f"owners; controller basis: {bases}"
    )
    if summary.iterations:
        console.print(
            f"look-through converged in {summary.iterations} iterations "
            f"(residual {summary.residual:.1e})"
        )
    if summary.divergent:
        console.print(
            styled(
                ("circular holdings of 100% or more, not solvable:", "red"),
                f" {', '.join(summary.divergent[:10])}",
            )
        )
    if summary.seconds:
        console.print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in summary.seconds.items()))


def find_company_command(
    query: str = typer.Argument(..., help="USCC, entity ID, or a company name in any form"),
    page: int = typer.Option(1, "--page", min=1),
    per_page: int = typer.Option(20, "--per-page", min=1, max=1000),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    with graph_driver(json_output) as (driver, database):
        found = printed(find_companies(driver, query, None, page, per_page, database))
    if json_output:
        print_json(found.model_dump(mode="json"))
        return
    first = (page - 1) * per_page
    shown_to = first + len(found.hits)
    console.print(
        f"{found.total} companies found; {first + 1 if found.hits else 0}-{shown_to} shown",
        highlight=False,
    )
    for hit in found.hits:
        c = hit.company
        console.print(
            f"  {hit.match:<7}  {c.name}  {c.entity_id}  USCC {c.uscc or '-'}  "
            f"region {c.region_code or '-'}  industry {c.industry_code or '-'}  "
            f"{c.status or ''}",
            highlight=False,
        )


def controls_command(
    company: str = typer.Argument(..., help="entity ID, USCC or exact company name"),
    as_of: str | None = typer.Option(None, "--as-of", help=AS_OF_HELP),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    settings = load_graph_config(config).control
    with graph_driver(json_output) as (driver, database):
        answer = printed(controls(driver, company, settings, parse_as_of(as_of), database))
    if json_output:
        print_json(answer.model_dump(mode="json"))
    else:
        print_controls(answer)


def print_controls(a: ControlAnswer) -> None:
    a = printed(a)
    c = a.company
    console.print(
        styled(
            (c.name, "bold"),
            f"  {c.entity_id}  USCC {c.uscc or '-'}  "
            f"industry {c.industry_code or '-'}  as of {a.as_of}",
        )
    )
    for rep in a.legal_representatives:
        console.print(
            f"  legal representative  {_person(rep)}  since {rep.valid_from or 'unknown'}",
            highlight=False,
        )
    for officer in a.officers:
        console.print(f"  {officer.role:<20}  {_person(officer)}", highlight=False)
    for holder in a.shareholders:
        console.print(
            f"  shareholder  {_share(holder.ratio, 2)}  {holder.name} "
            f"({holder.kind}, {holder.entity_id})",
            highlight=False,
        )
    for owner in a.beneficial_owners:
        console.print(
            f"  beneficial owner  {owner.look_through_share:.4%}  {owner.name} ({owner.entity_id})",
            highlight=False,
        )
        for path in owner.paths[:5]:
            console.print(f"      {_path(path)}", highlight=False)
        if owner.cycles_contribute:
            console.print("      (circular holdings add to this share)")
    ctl = a.actual_controller
    if isinstance(ctl, NoController):
        console.print(f"  actual controller: none ({ctl.note})", highlight=False)
    else:
        console.print(
            f"  actual controller  {ctl.name} ({ctl.entity_id}), "
            f"basis {ctl.basis}, look-through {_share(ctl.look_through_share, 4)}",
            highlight=False,
        )
        if ctl.chain:
            chain = " <- ".join(f"{n.name}" for n in ctl.chain)
            console.print(f"      majority chain: {chain}", highlight=False)
    for p in a.punishments:
        console.print(
            styled(
                "  ",
                ("punishment", "red"),
                f" {p.decision_date} {p.decision_number} "
                f"{','.join(p.categories)} on {p.on_name} ({p.via})",
            )
        )
    for e in a.list_entries:
        state = "listed" if e.listed_on_date else _list_end(e)
        console.print(
            styled(
                "  ",
                ("list", "red"),
                f" {e.list} {e.entered} ({state}) on {e.on_name} ({e.via})",
            )
        )


def _share(ratio: float | None, digits: int) -> str:
    """A fraction as a percentage; `?` where the record gives none."""
    return "?" if ratio is None else f"{ratio:.{digits}%}"


def _list_end(entry: ListEntry) -> str:
    """How a list entry ended: removed, or its management period (管理期限至) ran out."""
    removed, expires = entry.removed, entry.expires
    if removed is not None and (expires is None or removed <= expires):
        return f"removed {removed}"
    if expires is not None:
        return f"management period ends {expires}"
    return ""


def _person(p: Person) -> str:
    masks = ",".join(p.id_masks)
    return f"{p.name} ({p.entity_id}{', ' + masks if masks else ''})"


def _path(path: HoldingPath) -> str:
    text = path.nodes[0].name or path.nodes[0].entity_id
    for node, ratio in zip(path.nodes[1:], path.ratios, strict=True):
        text += f" -{ratio:.0%}-> {node.name or node.entity_id}"
    return f"{text} = {path.share:.4%}"


def footprint_command(
    person: str = typer.Argument(..., help="entity ID or name"),
    id_hint: str | None = typer.Option(
        None, "--id", help="partial ID: 110101*, *123X or 110101********123X"
    ),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    with graph_driver(json_output) as (driver, database):
        answer = printed(footprint(driver, person, id_hint, database))
    if json_output:
        print_json(answer.model_dump(mode="json"))
        return
    p = answer.person
    console.print(styled((p.name, "bold"), f"  {_person(p)}"))
    for r in answer.roles:
        console.print(
            f"  {r.role:<20} {r.name} ({r.entity_id}) "
            f"{r.valid_from or '?'} .. {r.valid_to or 'now'}",
            highlight=False,
        )
    for h in answer.holdings:
        console.print(
            f"  shareholder {_share(h.ratio, 2)} {h.name} ({h.entity_id}) since "
            f"{h.valid_from or '?'}",
            highlight=False,
        )
    for c in answer.control:
        console.print(
            f"  {c.relation.lower()} {_share(c.share, 2)} {c.name} ({c.entity_id})",
            highlight=False,
        )
    for i in answer.indirect:
        console.print(
            f"  through holding companies ({i.hops} hops): {i.name} ({i.entity_id})",
            highlight=False,
        )
    for x in answer.punishments:
        console.print(
            styled(
                "  ",
                ("punishment", "red"),
                f" {x.decision_date} {x.decision_number} on {x.on_name} ({x.via})",
            )
        )
    for e in answer.list_entries:
        console.print(
            styled(
                "  ",
                ("list", "red"),
                f" {e.list} {e.entered}..{_list_end(e) or 'now'} on {e.on_name} ({e.via})",
            )
        )


def risk_command(
    company: str = typer.Argument(..., help="entity ID, USCC or exact company name"),
    hops: int | None = typer.Option(
        None, "--hops", min=1, max=6, help="relationships away (default from config)"
    ),
    as_of: str | None = typer.Option(None, "--as-of", help=AS_OF_HELP),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    reach = hops or load_graph_config(config).queries.related_party_hops
    with graph_driver(json_output) as (driver, database):
        answer = printed(related_party_risk(driver, company, reach, parse_as_of(as_of), database))
    if json_output:
        print_json(answer.model_dump(mode="json"))
        return
    console.print(
        f"{answer.related_companies} companies within {reach} relationships; "
        f"{len(answer.related)} with punishments or list entries"
    )
    for r in answer.related:
        console.print(
            f"  {r.name} ({r.entity_id}), {r.distance} away: "
            f"{len(r.punishments)} punishments, {len(r.list_entries)} "
            "list entries",
            highlight=False,
        )


graph_app.command("init", help="Create the graph's constraints and indexes.")(run_guarded(init))
graph_app.command(
    "load", help="Write a linked run into Neo4j (idempotent; --bulk: first load, offline)."
)(run_guarded(load))
graph_app.command("control", help="Look-through ownership, beneficial owners, controllers.")(
    run_guarded(control)
)
