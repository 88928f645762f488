"""`veil load`: agency extracts -> mentions, facts, quarantine and manifest in a run directory."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from loaders.run import load_run
from service.console import console, print_json


def load(
    sources: Path = typer.Argument(..., help="sources.yaml describing the extracts"),
    run: Path = typer.Option(..., "--run", help="run directory to write"),
    json_output: bool = typer.Option(False, "--json", help="print the manifest as JSON"),
) -> None:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[rows]:>10,} rows"),
        TextColumn("{task.fields[rate]:>8,.0f} rows/s"),
        TimeElapsedColumn(),
        console=console,
        transient=json_output,
        disable=json_output,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(source: str, rows: int, done: int, total: int) -> None:
            if source not in tasks:
                tasks[source] = bar.add_task(source, total=total, rows=0, rate=0.0)
            task = tasks[source]
            elapsed = bar.tasks[task].elapsed or 1e-9
            bar.update(task, completed=done, rows=rows, rate=rows / elapsed)

        manifest = load_run(sources, run, progress)
    if json_output:
        print_json(manifest)
        return
    table = Table(title=f"veil load → {run}")
    for col in ("source", "read", "accepted", "quarantined", "fields invalidated"):
        table.add_column(col, justify="right" if col != "source" else "left")
    for name, c in manifest["sources"].items():
        table.add_row(
            name,
            f"{c['rows_read']:,}",
            f"{c['rows_accepted']:,}",
            f"{c['rows_quarantined']:,}",
            f"{c['fields_invalidated']:,}",
        )
    t = manifest["totals"]
    table.add_row(
        "[bold]total",
        f"{t['rows_read']:,}",
        f"{t['rows_accepted']:,}",
        f"{t['rows_quarantined']:,}",
        f"{t['fields_invalidated']:,}",
    )
    console.print(table)
    console.print(f"tables: {', '.join(f'{k}={v:,}' for k, v in manifest['tables'].items())}")
    console.print(f"quarantine: {run / 'quarantine.parquet'}   manifest: {run / 'manifest.json'}")
