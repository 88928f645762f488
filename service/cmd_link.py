"""`veil link`, `veil model train`, `veil judge`: resolve mentions into entities."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from linkage.judgements import append_judgement
from linkage.resolver import EntityResult
from linkage.run import LinkSummary, link_run, train_models
from loaders.rundir import JUDGEMENTS
from service.console import console, print_json, run_guarded, styled
from service.progress import shown

model_app = typer.Typer(no_args_is_help=True, help="Train and inspect the linkage models.")

MODELS_HELP = "directory of saved models (default: <VEIL_HOME>/models)"


def summary_table(summary: LinkSummary) -> Group:
    """One row per measure, a column per entity type (fits a narrow terminal at any
    size), and what each measure means below it."""
    table = Table(title=f"linked {summary.run_dir} in {summary.seconds:.1f} s")
    table.add_column("")
    results = (summary.company, summary.person)
    for result in results:
        table.add_column(result.entity_type, justify="right")
    rows: dict[str, Callable[[EntityResult], int]] = {
        "mentions": lambda r: r.mentions,
        "entities": lambda r: r.entities,
        "by ID": lambda r: r.deterministic_links,
        "scored": lambda r: r.scored_pairs,
        "merged": lambda r: r.merging_pairs,
        "held back": lambda r: r.held_back,
        "refused": lambda r: sum(r.refused_merges.values()),
        "suspect": lambda r: r.suspects,
    }
    for label, value in rows.items():
        table.add_row(label, *(f"{value(r):,}" for r in results))
    legend = Text(
        "by ID: identifier links; scored: pairs Splink scored; merged: pairs that joined "
        "clusters; held back: pairs over rare_name_threshold but resting on a common "
        "name (a person: no shared company, no ID showing enough; a company: a brand "
        "that two identified companies of its region sound like), left apart for a "
        "reviewer (links.parquet); refused: merges a constraint forbade. "
        f"Models: company {summary.company.model}, person {summary.person.model}"
    )
    return Group(table, legend)


def link(
    run: Path = typer.Option(..., "--run", help="run directory written by `veil load`"),
    wave: Path = typer.Option(
        None,
        "--wave",
        help="a newly loaded run to link against RUN's entities; outputs go to the wave",
    ),
    models: Path = typer.Option(None, "--models", help=MODELS_HELP),
    judgements: Path = typer.Option(
        None, "--judgements", help="reviewer judgements (default: RUN/judgements.jsonl)"
    ),
    json_output: bool = typer.Option(False, "--json", help="print the link report as JSON"),
) -> None:
    with shown(disabled=json_output) as progress:
        summary = link_run(
            run, wave=wave, models_dir=models, judgements=judgements, progress=progress
        )
    if json_output:
        print_json(summary.as_dict())
        return
    console.print(summary_table(summary))
    if wave is not None:
        for result in (summary.company, summary.person):
            counts = ", ".join(
                f"{result.changes.get(k, 0):,} {k}"
                for k in ("created", "extended", "merged", "retired", "unchanged")
            )
            console.print(f"wave, {result.entity_type} entities: {counts}")
    for line in summary.warnings:
        console.print(styled(("warning:", "yellow"), f" {line}"))
    out = wave or run
    console.print(
        f"entities: {out / 'entities.parquet'}\nlinks:    {out / 'links.parquet'}\n"
        f"changes:  {out / 'entity_changes.parquet'}\n"
        f"suspected data-entry errors: {out / 'suspects.parquet'}\n"
        f"report:   {out / 'link_report.json'}"
    )


def train(
    run: Path = typer.Option(..., "--run", help="run directory written by `veil load`"),
    models: Path = typer.Option(None, "--models", help=MODELS_HELP),
    json_output: bool = typer.Option(False, "--json", help="print the saved paths as JSON"),
) -> None:
    with shown(disabled=json_output) as progress:
        saved = train_models(run, models, progress=progress)
    if json_output:
        print_json(saved)
        return
    for entity_type, path in saved.items():
        console.print(f"{entity_type} model: {path}")


model_app.command("train", help="Train both models on a run (no labels) and save them.")(
    run_guarded(train)
)


def judge(
    mention_a: str = typer.Argument(..., help="source:record_id:slot"),
    mention_b: str = typer.Argument(..., help="source:record_id:slot"),
    same: bool = typer.Option(
        ..., "--same/--different", help="the two mentions are one entity, or two"
    ),
    reviewer: str = typer.Option(..., "--reviewer", help="who decided"),
    reason: str = typer.Option(..., "--reason", help="why"),
    run: Path = typer.Option(..., "--run", help="run directory whose judgements log to append"),
) -> None:
    path = run / JUDGEMENTS
    append_judgement(path, mention_a, mention_b, "same" if same else "different", reviewer, reason)
    console.print(f"recorded in {path}; it applies from the next `veil link`")
