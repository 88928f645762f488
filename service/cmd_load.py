"""`veil load`: agency extracts -> mentions, facts, quarantine and manifest in a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from loaders.run import load_run
from service.console import console, print_json
from service.progress import shown


def load(
    sources: Path = typer.Argument(..., help="sources.yaml describing the extracts"),
    run: Path = typer.Option(..., "--run", help="run directory to write"),
    json_output: bool = typer.Option(False, "--json", help="print the manifest as JSON"),
) -> None:
    with shown(disabled=json_output, width=20) as progress:
        manifest = load_run(sources, run, progress)
    if json_output:
        print_json(manifest)
        return
    console.print(manifest_table(manifest, f"veil load → {run}"))
    for note in manifest_notes(manifest):
        console.print(note)
    console.print(f"tables: {', '.join(f'{k}={v:,}' for k, v in manifest['tables'].items())}")
    console.print(f"quarantine: {run / 'quarantine.parquet'}   manifest: {run / 'manifest.json'}")


def manifest_notes(manifest: dict[str, Any]) -> list[str]:
    """What the table does not show: physical lines, values cleaned or read by inference,
    rows read from several lines, and later stages this load made stale."""
    notes = []
    for name, c in manifest["sources"].items():
        units = {k: sum(f.get(k, 0) for f in c["files"]) for k in ("lines", "rows")}
        blank = sum(f.get("blank_lines", 0) + f.get("blank_rows", 0) for f in c["files"])
        spanning = sum(f.get("rows_spanning_lines", 0) for f in c["files"])
        size = f"{units['lines']:,} lines" if units["lines"] else f"{units['rows']:,} sheet rows"
        extra = [f"{blank:,} blank"] if blank else []
        if spanning:
            extra.append(f"{spanning:,} rows over several lines")
        sheets = [f for f in c["files"] if "sheet" in f]
        passed = [f for f in sheets if "passed_over" in f]
        if sheets:
            extra.append(f"{len(sheets) - len(passed)} sheets read")
            extra.extend(f"passed over {f['path']} ({f['passed_over']})" for f in passed)
        for key, what in (("values_cleaned", "cleaned"), ("values_inferred", "inferred")):
            for reason, n in c.get(key, {}).items():
                extra.append(f"{what} {reason} {n:,}")
        notes.append(f"{name}: {size}" + (f" ({'; '.join(extra)})" if extra else ""))
    if manifest.get("orphan_staging_removed"):
        notes.append(
            f"removed {len(manifest['orphan_staging_removed'])} staging dir(s) of killed loads"
        )
    if manifest.get("later_stages"):
        notes.append(f"note: {manifest['later_stages']}")
    return notes


def manifest_table(manifest: dict[str, Any], title: str) -> Table:
    """Per-source counts of a load: read = accepted + quarantined."""
    table = Table(title=title)
    for col in ("source", "read", "accepted", "quarantined", "fields invalidated"):
        table.add_column(col, justify="left" if col == "source" else "right")
    rows: list[tuple[str | Text, dict[str, Any]]] = list(manifest["sources"].items())
    rows.append((Text("total", style="bold"), manifest["totals"]))
    for name, c in rows:
        table.add_row(
            name,
            *(
                f"{c[k]:,}"
                for k in ("rows_read", "rows_accepted", "rows_quarantined", "fields_invalidated")
            ),
        )
    return table
