"""`veil sources check`: a mapping tried on the first rows of its extracts, nothing written."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from loaders.check import SAMPLE_ROWS, SourceCheck, check_sources
from service.console import console, print_json, run_guarded

sources_app = typer.Typer(no_args_is_help=True, add_completion=False)


@sources_app.command("check")
@run_guarded
def check(
    sources: Path = typer.Argument(..., help="sources.yaml describing the extracts"),
    rows: int = typer.Option(SAMPLE_ROWS, "--rows", min=1, help="rows read per file"),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Validate a mapping and show what each column becomes, on the first rows of each file."""
    report = check_sources(sources, rows)
    if json_output:
        print_json({name: c.as_dict() for name, c in report.items()})
        return
    for check in report.values():
        print_check(check)


def print_check(c: SourceCheck) -> None:
    table = Table(title=f"{c.name}: {len(c.files)} file(s), first {c.rows:,} rows")
    table.add_column("column")
    table.add_column("becomes")
    for column, targets in c.columns.items():
        table.add_row(column, ", ".join(targets))
    for column in c.unmapped:
        table.add_row(column, Text("not read by the mapping", style="dim"))
    console.print(table)
    console.print(f"  accepted {c.accepted:,} of {c.rows:,} rows")
    for title, counts in (
        ("would be quarantined", c.quarantine_reasons),
        ("field issues", c.field_issue_reasons),
        ("read by evidence", c.values_inferred),
        ("cleaned", c.values_cleaned),
        ("doubts", c.doubts),
    ):
        if counts:
            listed = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
            console.print(f"  {title}: {listed}")
    for sheet in c.passed_over:
        console.print(f"  sheet passed over: {sheet}")
    for column, style in c.ratio_styles.items():
        console.print(
            f"  share column {column}: read as {style} (company totals are checked by "
            "the load, on whole files)"
        )
