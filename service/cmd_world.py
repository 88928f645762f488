"""`veil world`: generate a synthetic world of agency extracts with its ground truth.

Thin wiring: world.generate does the work; this shows progress and the summary.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from service.console import console, print_json, styled
from service.progress import shown
from world.build import MIN_COMPANIES
from world.generate import WorldSummary, generate_world
from world.habits import load_habits


def world(
    companies: int = typer.Option(
        2000, "--companies", min=MIN_COMPANIES, help="number of true companies"
    ),
    seed: int = typer.Option(7, "--seed", help="same seed, same bytes"),
    out: Path = typer.Option(..., "--out", help="directory to write the world into"),
    json_output: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    habits_file: Path | None = typer.Option(
        None, "--habits", help="YAML of the agencies' habits (see world/habits.py)"
    ),
) -> None:
    habits = load_habits(habits_file) if habits_file else None
    with shown(disabled=json_output, one_line=True, width=44) as progress:
        summary = generate_world(companies, seed, out, progress, habits=habits)
    if json_output:
        print_json(summary.as_dict())
    else:
        _print(summary, out)


def _print(s: WorldSummary, out: Path) -> None:
    console.print(
        styled(
            ("World", "bold"),
            f" of {s.companies:,} companies and {s.people:,} people (seed {s.seed}) in {out}",
        )
    )
    table = Table(title="Extracts (rows include the planted broken ones)")
    for col in ("source", "format", "encoding", "rows", "broken", "files"):
        table.add_column(col, justify="right" if col in ("rows", "broken") else "left")
    for name, e in s.extracts.items():
        files = e["files"][0] + (f" (+{len(e['files']) - 1})" if len(e["files"]) > 1 else "")
        broken = sum(s.broken_rows.get(name, {}).values())
        table.add_row(name, e["format"], e["encoding"], f"{e['rows']:,}", str(broken), files)
    console.print(table)
    planted = Table(title="Broken rows planted (the loader must quarantine exactly these)")
    for col in ("source", "reason", "rows"):
        planted.add_column(col, justify="right" if col == "rows" else "left")
    for name, reasons in s.broken_rows.items():
        for reason, n in reasons.items():
            planted.add_row(name, reason, str(n))
    console.print(planted)
    truth = Table(title="Ground truth")
    truth.add_column("table")
    truth.add_column("rows", justify="right")
    for name, rows in s.truth.items():
        truth.add_row(name, f"{rows:,}")
    console.print(truth)
    console.print("art. 135 alerts: " + ", ".join(f"{k} {v}" for k, v in s.alerts.items()))
    console.print("near misses: " + ", ".join(f"{k} {v}" for k, v in s.near_misses.items()))
    console.print(
        "invalid fields planted: " + ", ".join(f"{k} {v}" for k, v in s.invalid_fields.items())
    )
    console.print(
        f"sources: {out / 'sources.yaml'}   truth: {out / 'truth'}   summary: {out / 'world.json'}"
    )
