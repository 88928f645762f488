"""What every extract is made of: its rows, its sources.yaml entry, the truth about its
mentions, and the rows deliberately broken so the loader's quarantine has work to do.

Broken rows are always extra rows (copies of real ones with a defect), never damaged
originals, so the truth never depends on them. A duplicate key is inserted after the
row whose key it repeats: the loader keeps the first occurrence and quarantines the
second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from loaders.fields import clean
from world.writers import Patch

# Values planted into mapped fields to break them, and the reason the loader must give.
BAD_DATE = "2019-13-45"
BAD_RATIO = "abc%"
RATIO_TOO_HIGH = "150%"


@dataclass
class Break:
    """One planted broken row."""

    reason: str
    row: dict
    record_id: str | None
    field: str | None = None
    after: int = -1  # the row must come after this accepted row (duplicates)
    patch: Patch | None = None


@dataclass
class Extract:
    """One agency extract before it is written."""

    source: str
    files: str  # the glob sources.yaml gives (relative to the world directory)
    fmt: str
    encoding: str
    spec: dict  # the sources.yaml entry (files, format, encoding are filled in later)
    frame: pd.DataFrame  # accepted rows, in file order
    persons: pd.DataFrame  # record_id, slot, person, name_form, id_form
    companies: pd.DataFrame  # record_id, slot, company, name_form
    invalid: list[dict] = field(default_factory=list)
    breaks: list[Break] = field(default_factory=list)
    split_rows: int | None = None  # xlsx: data rows per file before starting the next


@dataclass
class Assembled:
    """Accepted and broken rows in final file order."""

    frame: pd.DataFrame
    patches: dict[int, Patch]
    broken_positions: list[tuple[int, Break]]


def assemble(extract: Extract, rng: np.random.Generator) -> Assembled:
    """Insert the broken rows at random places (duplicates after their originals)."""
    n = len(extract.frame)
    k = len(extract.breaks)
    if not k:
        return Assembled(extract.frame.reset_index(drop=True), {}, [])
    lows = np.array([b.after + 1 for b in extract.breaks])
    slots = lows + np.floor(rng.random(k) * (n + 1 - lows)).astype(np.int64)
    slot_key = np.r_[np.arange(n), slots]
    kind_key = np.r_[np.ones(n, dtype=np.int64), np.zeros(k, dtype=np.int64)]
    seq_key = np.r_[np.arange(n), np.arange(k)]
    order = np.lexsort((seq_key, kind_key, slot_key))
    extras = pd.DataFrame(
        [b.row for b in extract.breaks], columns=extract.frame.columns, dtype=object
    )
    combined = pd.concat([extract.frame.reset_index(drop=True), extras], ignore_index=True)
    final = combined.iloc[order].reset_index(drop=True)
    position = np.empty(n + k, dtype=np.int64)
    position[order] = np.arange(n + k)
    placed = [(int(position[n + i]), b) for i, b in enumerate(extract.breaks)]
    patches = {pos: b.patch for pos, b in placed if b.patch is not None}
    return Assembled(final, patches, placed)


class Breaker:
    """Builds broken rows for one extract from copies of its accepted rows."""

    def __init__(
        self,
        frame: pd.DataFrame,
        record_ids: np.ndarray,
        key: list[str],
        fresh_key: Callable[[], dict[str, str]],
        rng: np.random.Generator,
    ):
        self.frame = frame
        self.record_ids = record_ids
        self.key = key
        self.fresh_key = fresh_key
        self.rng = rng
        self.breaks: list[Break] = []

    def count(self) -> int:
        """How many of one kind to plant: one or two, drawn per seed."""
        return int(self.rng.integers(1, 3))

    def _copy(self) -> tuple[int, dict]:
        i = int(self.rng.integers(len(self.frame)))
        return i, self.frame.iloc[i].to_dict()

    def _fresh(self, row: dict) -> str:
        row.update(self.fresh_key())
        return "|".join(clean(row[c]) or "" for c in self.key)

    def missing_key(self, n: int | None = None) -> None:
        for _ in range(n or self.count()):
            _, row = self._copy()
            for c in self.key:
                row[c] = None if not isinstance(row[c], str) else ""
            self.breaks.append(Break("missing_key", row, None, "|".join(self.key)))

    def duplicate_key(self, n: int | None = None) -> None:
        for _ in range(n or self.count()):
            i, row = self._copy()
            self.breaks.append(
                Break("duplicate_key", row, str(self.record_ids[i]), "|".join(self.key), after=i)
            )

    def bad_value(self, column: str, value: object, reason: str, n: int | None = None) -> None:
        for _ in range(n or self.count()):
            _, row = self._copy()
            rid = self._fresh(row)
            row[column] = value
            self.breaks.append(Break(reason, row, rid, column))

    def blank_mention(self, columns: list[str], field_column: str, n: int | None = None) -> None:
        """A required mention with every field blank: missing_value on its name column."""
        for _ in range(n or self.count()):
            _, row = self._copy()
            rid = self._fresh(row)
            for c in columns:
                row[c] = "" if isinstance(row[c], str) or row[c] is None else None
            self.breaks.append(Break("missing_value", row, rid, field_column))

    def line_patch(self, reason: str, patch: Patch, n: int | None = None) -> None:
        """A row damaged as a line: the loader cannot read its fields, hence no record id."""
        for _ in range(n or self.count()):
            _, row = self._copy()
            self._fresh(row)
            self.breaks.append(Break(reason, row, None, None, patch=patch))


def truncate_fields(keep_fraction: float = 0.5) -> Patch:
    """A CSV line cut short: it loses its trailing fields."""

    def patch(line: str) -> str:
        fields = line.split(",")
        return ",".join(fields[: max(1, int(len(fields) * keep_fraction))])

    return patch


def extra_field(line: str) -> str:
    return line + ",多余字段"


def cut_json(line: str) -> str:
    return line[: len(line) // 2]


def undecodable(encoding: str) -> Patch:
    """Bytes that no GBK/GB18030 decoder accepts, spliced into the middle of the line."""

    def patch(line: str) -> bytes:
        raw = line.encode(encoding)
        cut = raw.rfind(b",", 0, len(raw) // 2) + 1
        return raw[:cut] + b"\xff\xfe" + raw[cut:]

    return patch


def table(columns: dict[str, object]) -> pd.DataFrame:
    """Extract rows as written: object columns, so values stay exactly what was put in."""
    return pd.DataFrame(columns, dtype=object)


def mentions(
    record_ids: np.ndarray,
    slot: str,
    entity: np.ndarray,
    present: np.ndarray,
    name_form: np.ndarray,
    id_form: np.ndarray | None = None,
    entity_column: str = "person",
) -> pd.DataFrame:
    """Truth rows for one slot: only where the record really has the mention."""
    keep = np.asarray(present, dtype=bool)
    frame = pd.DataFrame(
        {
            "record_id": record_ids[keep],
            "slot": slot,
            entity_column: entity[keep],
            "name_form": name_form[keep],
        }
    )
    if entity_column == "person":
        frame["id_form"] = (
            id_form[keep]
            if id_form is not None
            else np.full(int(keep.sum()), "missing", dtype=object)
        )
    return frame


def sequence_keys(
    rng: np.random.Generator, n: int, prefix: str, width: int, spare: int = 16
) -> tuple[np.ndarray, Callable[[], str]]:
    """n unique keys prefix + digits in random order, and a supplier of fresh spare keys."""
    numbers = rng.choice(10**width, size=n + spare, replace=False)
    keys = np.array([f"{prefix}{v:0{width}d}" for v in numbers.tolist()], dtype=object)
    spare_keys = iter(keys[n:].tolist())
    return keys[:n], lambda: next(spare_keys)
