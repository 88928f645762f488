"""`veil demo`: the main job end to end on the embedded defaults, and where to look after.

Starts the local Neo4j (unless NEO4J_URI names a server), generates a synthetic world,
loads it, checks the load against the world's ground truth, links the mentions into
entities and scores the linkage against the truth, writes the graph into Neo4j, derives
control and shows who controls a few notable companies (the pipeline itself never reads
the truth), then sweeps the alert rules (config/rules.yaml), scores the art. 135 alerts
against the truth, exports them, and prints one in full with its evidence.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import typer

from alerts.answers import Alert
from alerts.store import export, list_alerts, sweep
from config.graph import load_graph_config
from config.rules import load_rules
from graph.analysis import run_control
from graph.guard import neo4j_faults
from graph.load import load_run as load_graph
from graph.queries import controls, notable_structures
from graph.server.connection import open_driver
from linkage.run import link_run
from loaders.run import load_run
from service import keys
from service.api.disclosure import printed
from service.cmd_alerts import print_alert, print_sweep
from service.cmd_graph import graph_settings, print_controls
from service.cmd_link import summary_table
from service.cmd_load import manifest_table
from service.cmd_serve import PAGE_URL
from service.console import console, print_json, styled
from service.keys import Role
from service.progress import shown
from world.alert_checks import format_alert_scores, score_alerts
from world.calendar import REF_DATE
from world.checks import LoadCheck, compare_load_with_truth
from world.generate import generate_world
from world.linkage_checks import exact_baseline, format_scores, score_run


def demo(
    out: Path = typer.Option(Path(".veil/demo"), "--out", help="where the demo writes"),
    companies: int = typer.Option(2000, "--companies", help="size of the synthetic world"),
    seed: int = typer.Option(7, "--seed"),
    json_output: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    world_dir, run_dir = out / "world", out / "run"
    summary: dict[str, Any] = {"world": str(world_dir), "run": str(run_dir)}

    started = time.perf_counter()
    settings = graph_settings()
    with neo4j_faults(settings.uri, "checking Neo4j"), open_driver(settings) as driver:
        driver.verify_connectivity()
        records, _, _ = driver.execute_query("RETURN count(*) AS n", database_=settings.database)
    summary["neo4j"] = {
        "uri": settings.uri,
        "answers": records[0]["n"] == 1,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if not json_output:
        console.print(styled(("1. Neo4j", "bold"), f" answering at {settings.uri}"))

    started = time.perf_counter()
    shutil.rmtree(world_dir, ignore_errors=True)
    shutil.rmtree(run_dir, ignore_errors=True)
    with console.status(f"Generating a world of {companies:,} companies..."):
        world = generate_world(companies, seed, world_dir)
    summary["world_summary"] = world.as_dict()
    summary["world_seconds"] = round(time.perf_counter() - started, 1)
    if not json_output:
        variants = ", ".join(f"{k} {v}" for k, v in sorted(world.alerts.items()))
        misses = ", ".join(f"{k} {v}" for k, v in sorted(world.near_misses.items()))
        console.print(
            styled(
                ("2. World", "bold"),
                f" of {companies:,} companies and {world.people:,} people "
                f"(seed {seed}) in {world_dir} ({summary['world_seconds']} s)\n"
                f"   planted reincorporations by banned persons: {variants}\n"
                f"   near misses that must not alert: {misses}",
            )
        )

    started = time.perf_counter()
    with shown(disabled=json_output, width=20) as progress:
        manifest = load_run(world_dir / "sources.yaml", run_dir, progress)
    summary["load"] = {
        "totals": manifest["totals"],
        "tables": manifest["tables"],
        "seconds": round(time.perf_counter() - started, 1),
    }
    check = compare_load_with_truth(run_dir, world_dir)
    summary["load_check"] = check.as_dict()
    if not json_output:
        _print_load(manifest, check)
    if not check.ok:
        if json_output:
            print_json(summary)
        raise typer.Exit(1)

    with shown(disabled=json_output) as progress:
        linked = link_run(run_dir, models_dir=out / "models", progress=progress)
    quality = score_run(run_dir, world_dir)
    baseline = score_run(run_dir, world_dir, exact_baseline(run_dir))
    summary["link"] = linked.as_dict()
    summary["link_quality"] = {"veil": quality, "exact name + ID baseline": baseline}
    if not json_output:
        console.print(styled(("4. Link", "bold"), " mentions into entities"))
        console.print(summary_table(linked))
        console.print("Linkage against the world's truth (pairwise and B-cubed; name-P: precision")
        console.print("among mentions of the 50 most common names):")
        console.print(
            format_scores({"veil": quality, "exact name+ID": baseline}),
            highlight=False,
            soft_wrap=True,
        )

    as_of = REF_DATE.astype(object)
    graph_config = load_graph_config()
    with neo4j_faults(settings.uri, "the demo's graph steps"), open_driver(settings) as driver:
        with shown(disabled=json_output, one_line=True, width=30) as bar:
            loaded = load_graph(
                driver,
                run_dir,
                settings.database,
                graph_config.load.batch_size,
                bar,
                atomic_rows=graph_config.load.atomic_rows,
            )
        atomic_rows = graph_config.load.atomic_rows
        control = run_control(
            driver, graph_config.control, as_of, settings.database, atomic_rows=atomic_rows
        )
        notable = notable_structures(driver, settings.database)
        answers = {
            kind: controls(driver, company, graph_config.control, as_of, settings.database)
            for kind, company in notable.items()
        }
        swept = sweep(
            driver, load_rules(), graph_config.control, as_of, None, settings.database, atomic_rows
        )
        alerts = list_alerts(driver, database=settings.database)
    export([printed(a) for a in alerts], out / "alerts.jsonl")
    export([printed(a) for a in alerts], out / "alerts.csv")
    alert_scores = score_alerts(alerts, run_dir, world_dir)
    summary["graph"] = loaded.as_dict()
    summary["control"] = control.as_dict()
    summary["notable"] = {kind: printed(a).model_dump(mode="json") for kind, a in answers.items()}
    summary["alerts"] = {**swept.as_dict(), "art135_against_truth": alert_scores}
    example = _example(alerts)
    summary["page"] = _page_keys(example)
    if json_output:
        print_json(summary)
        return
    c = loaded.counters
    console.print(
        styled(
            ("5. Graph", "bold"),
            f" {loaded.rows:,} rows into Neo4j in {loaded.seconds:.1f} s "
            f"({loaded.rows_per_second:,.0f} rows/s): {c.get('nodes_created', 0):,} nodes, "
            f"{c.get('relationships_created', 0):,} relationships created",
        )
    )
    bases = ", ".join(f"{k} {v:,}" for k, v in sorted(control.bases.items()))
    console.print(
        styled(
            ("6. Control", "bold"),
            f" as of {as_of}: {control.beneficial_owners:,} beneficial owners; "
            f"actual controller by {bases}",
        )
    )
    titles = {
        "deep_chain": "the deepest majority chain",
        "cycle": "circular holdings",
        "nominee": "a controller behind holding companies and a nominee legal representative",
    }
    for kind, answer in answers.items():
        console.print(
            styled(
                "\n",
                ("Who controls", "bold"),
                f" ({titles[kind]}): `veil controls {answer.company.entity_id} --as-of {as_of}`",
            )
        )
        print_controls(answer)
    console.print(styled("\n", ("7. Alerts", "bold")))
    print_sweep(swept.as_dict())
    console.print(format_alert_scores(alert_scores))
    if example is not None:
        console.print(f"\nOne alert in full (`veil alerts show {example.id}`):", highlight=False)
        print_alert(example)
    _print_page(summary["page"])
    _print_where(run_dir, world_dir)


DEMO_KEY_NAME = "veil demo"


def _page_keys(example: Alert | None) -> dict[str, Any]:
    """Keys for the page (service/web): a regulator's, and an inspector's over the province
    of the alert shown; the demo keys of an earlier run are revoked first."""
    for record in keys.list_keys():
        if record.revoked is None and record.name.startswith(DEMO_KEY_NAME):
            keys.revoke(record.key_id)
    made = {"regulator": keys.create(Role.REGULATOR, f"{DEMO_KEY_NAME} (regulator)")[1]}
    region = example.region_code if example else None
    if region:
        province = f"{str(region)[:2]}0000"
        name = f"{DEMO_KEY_NAME} (inspector {province})"
        made[f"inspector {province}"] = keys.create(Role.INSPECTOR, name, regions=[province])[1]
    return {"url": PAGE_URL, "command": "make serve", "keys": made}


def _print_page(page: dict[str, Any]) -> None:
    console.print(styled("\n", ("8. The page", "bold")))
    console.print(
        f"  start it with `{page['command']}` (or `.venv/bin/veil serve`), open {page['url']} "
        "and paste a key (shown once; `veil keys list|revoke`):",
        highlight=False,
    )
    for role, key in page["keys"].items():
        console.print(f"  {role:<18}{key}", highlight=False, soft_wrap=True)


def _example(alerts: list[Alert]) -> Alert | None:
    """The alert most worth reading: art. 135 control through holding companies if any."""
    ranked = sorted(
        alerts,
        key=lambda a: (a.rule != "food_art135", a.role != "actual_controller", a.id),
    )
    return ranked[0] if ranked else None


def _print_load(manifest: dict[str, Any], check: LoadCheck) -> None:
    console.print(manifest_table(manifest, "3. Load: every row accepted or quarantined"))
    verdict = ("matches", "green") if check.ok else ("DIFFERS from", "red")
    console.print(
        styled(
            "Quarantine ",
            verdict,
            " the rows the generator broke "
            f"({check.expected_rows} planted, {check.quarantined_rows} quarantined); "
            f"invalid fields: {check.expected_fields} planted, {check.flagged_fields} flagged",
        )
    )
    for line in check.differences[:10]:
        console.print(styled("  ", (line, "red")))


def _print_where(run_dir: Path, world_dir: Path) -> None:
    console.print(styled("\n", ("Where to look", "bold")))
    console.print(f"  extracts + mapping  {world_dir}/extracts, {world_dir}/sources.yaml")
    console.print(f"  ground truth        {world_dir}/truth/")
    console.print(f"  mentions and facts  {run_dir}/*.parquet")
    console.print(f"  quarantine          {run_dir}/quarantine.parquet")
    console.print(f"  manifest            {run_dir}/manifest.json")
    console.print(f"  entities and links  {run_dir}/entities.parquet, {run_dir}/links.parquet")
    console.print(f"  link report         {run_dir}/link_report.json (+ suspects.parquet)")
    out = run_dir.parent
    console.print(
        f"  alerts              {out}/alerts.jsonl (with evidence), {out}/alerts.csv; "
        "`veil alerts list|show|review` (docs/ALERTS.md)"
    )
    console.print(
        "  the graph           `.venv/bin/veil controls USCC|NAME`, `veil footprint NAME`, "
        "`veil risk USCC|NAME` (docs/GRAPH.md)"
    )
    console.print(
        "  why two mentions    `.venv/bin/veil explain SOURCE:RECORD:SLOT SOURCE:RECORD:SLOT "
        f"--run {run_dir}`"
    )
    console.print(
        "  Neo4j               `.venv/bin/veil neo4j status`; stop with `make neo4j-stop`"
    )
