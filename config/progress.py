"""How a long job tells its caller how far it has got: one shape for every room.

A job calls `progress(Update(...))` as it goes; the caller decides what to show (the CLI
draws bars and spinners, service/progress.py; a benchmark keeps the timings; a test
records the stages). Every room takes the same `Progress`, so one renderer serves them all
and a new job needs no new callback signature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Update:
    """Where a job is.

    `stage` names what is being done (a source, "company: train", a graph step). `done`
    of `total` units (`unit`: "bytes", "rows", ...) measure it when known; `rows` counts
    records handled so far where the units are something else (a loader's bytes). `phase`
    names a part of the stage as it starts (an importer's phase), and `result` is a line
    worth keeping once the stage is over (its seconds, what it wrote)."""

    stage: str
    done: int = 0
    total: int | None = None
    unit: str = ""
    rows: int | None = None
    phase: str = ""
    result: str = ""


Progress = Callable[[Update], None]


def silent(_: Update) -> None:
    """The progress of callers that show none."""
