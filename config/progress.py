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

    `stage` names what is being done (a source, "train", a graph step), and `subject` what
    it is done to where a job goes through the same stages for several things (linkage: the
    entity type), so a caller that times stages reads both without parsing `label`. `done`
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
    subject: str = ""

    @property
    def label(self) -> str:
        """The stage as a person reads it: "company: train"."""
        return f"{self.subject}: {self.stage}" if self.subject else self.stage


Progress = Callable[[Update], None]


def silent(_: Update) -> None:
    """The progress of callers that show none."""
