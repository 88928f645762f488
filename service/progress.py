"""The one renderer of the rooms' progress steps (config/progress.py) on the terminal.

A stage gets a line: a bar while its total is known, a spinner while not, with rows per
second where rows are counted. A stage that another follows is finished (its spinner
stops), and a step with a `result` prints that line above the bars. `one_line` keeps a
single line whose label follows the current stage (a graph load's twenty-odd steps).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from config.progress import Progress, Update
from service.console import console


@contextmanager
def shown(disabled: bool = False, *, one_line: bool = False, width: int = 28) -> Iterator[Progress]:
    """A `Progress` that draws the steps it hears of (nothing when `disabled`)."""
    with RichProgress(
        SpinnerColumn(finished_text="✓"),
        TextColumn(f"{{task.description:<{width}}}", markup=False, style="bold"),
        BarColumn(bar_width=24),
        TextColumn("{task.fields[count]}", markup=False, justify="right"),
        TextColumn("{task.fields[rate]}", markup=False, justify="right"),
        TimeElapsedColumn(),
        console=console,
        transient=disabled,
        disable=disabled,
    ) as bar:
        tasks: dict[str, TaskID] = {}
        last: list[str] = []

        def finish(stage: str) -> None:
            task = bar.tasks[tasks[stage]]
            if not task.finished:
                total = task.total if task.total is not None else 1
                bar.update(tasks[stage], total=total, completed=total)

        def progress(step: Update) -> None:
            key = "" if one_line else step.label
            if key not in tasks:
                if last and last[-1] != key:
                    finish(last[-1])
                tasks[key] = bar.add_task(step.label, total=step.total, count="", rate="")
                last.append(key)
            task = tasks[key]
            elapsed = bar.tasks[task].elapsed or 0.0
            rows = step.rows if step.rows is not None else step.done if step.unit == "rows" else 0
            rate = f"{rows / elapsed:,.0f} rows/s" if rows and elapsed > 0 else ""
            bar.update(
                task,
                description=f"{step.label}: {step.phase}" if step.phase else step.label,
                completed=step.done,
                total=step.total,
                count=_count(step),
                rate=rate,
            )
            if step.result:
                console.print(f"  {step.label:<{width}} {step.result}", highlight=False)
                finish(key)

        yield progress
        if last:
            finish(last[-1])


def _count(step: Update) -> str:
    """How much is done, in the step's own terms: rows read, or done of total units."""
    if step.rows is not None:
        return f"{step.rows:,} rows"
    if step.total is not None:
        return f"{step.done:,}/{step.total:,} {step.unit}".rstrip()
    return ""
