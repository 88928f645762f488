"""`veil explain`: show a reviewer why two mentions are one entity or two.

The explanation itself is linkage.explain's; this module only lays it out: what each
mention says, the identifier and judgement evidence, and the model's score comparison by
comparison, ending in the verdict the run holds now.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from linkage.explain import Explanation, explain_pair, write_waterfall
from service.console import console, print_json, styled


def _weight(value: float) -> Text:
    colour = "green" if value > 0 else "red" if value < 0 else "dim"
    return Text(f"{value:+.2f}", style=colour)


def mentions_table(explanation: Explanation) -> Table:
    identifier = "ID (masked)" if explanation.entity_type == "person" else "USCC"
    table = Table(title=f"{explanation.entity_type} mentions", title_justify="left")
    for column in ("", "mention", "name", identifier, "entity"):
        table.add_column(column, overflow="fold")
    for label, view in (("A", explanation.a), ("B", explanation.b)):
        table.add_row(label, view.ref, view.name or "-", view.identifier or "-", view.entity_id)
    return table


def score_table(explanation: Explanation) -> Table:
    table = Table(title="model score", title_justify="left")
    table.add_column("comparison")
    table.add_column("level")
    table.add_column("match weight", justify="right")
    table.add_row("prior", "two random mentions", _weight(explanation.prior_match_weight))
    for level in explanation.comparisons:
        weight = _weight(level.match_weight)
        if level.tf_adjustment:
            weight.append_text(styled(" ", (f"(TF {level.tf_adjustment:+.2f})", "dim")))
        table.add_row(level.comparison, level.level, weight)
    table.add_section()
    table.add_row(
        "total",
        f"probability {explanation.match_probability:.4f}",
        _weight(explanation.match_weight),
    )
    return table


def print_explanation(explanation: Explanation) -> None:
    console.print(mentions_table(explanation))
    console.print(score_table(explanation))
    if explanation.shared_identifiers:
        console.print(
            f"identifier evidence: same {', '.join(explanation.shared_identifiers)} "
            "(a deterministic link)"
        )
    else:
        console.print("identifier evidence: none shared")
    judgement = explanation.judgement
    if judgement is not None:
        console.print(
            styled(
                "judgement: ",
                (judgement.verdict, "bold"),
                f" by {judgement.reviewer} ({judgement.at}): {judgement.reason}",
            )
        )
    console.print(Text(explanation.verdict, style="bold"))


def explain(
    mention_a: str = typer.Argument(..., help="source:record_id:slot"),
    mention_b: str = typer.Argument(..., help="source:record_id:slot"),
    run: Path = typer.Option(..., "--run", help="run directory linked by `veil link`"),
    html: Path = typer.Option(None, "--html", help="write the waterfall chart to this HTML"),
    json_output: bool = typer.Option(False, "--json", help="print the explanation as JSON"),
) -> None:
    explanation = explain_pair(run, mention_a, mention_b)
    chart = write_waterfall(explanation, html) if html is not None else None
    if json_output:
        data = explanation.as_dict()
        if chart is not None:
            data["waterfall_html"] = str(chart)
        print_json(data)
        return
    print_explanation(explanation)
    if chart is not None:
        console.print(f"waterfall chart: {chart}", highlight=False)
