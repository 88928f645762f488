"""Reading the cells of one row: parsed values, with every failure kept as a Problem.

The mapper asks for values column by column; a cell that cannot be parsed records a
Problem (column, raw value, reason) instead of raising, so one pass over a row reports
everything wrong with it and the caller quarantines the row once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from loaders.fields import (
    FieldParseError,
    clean,
    parse_date,
    parse_json_list,
    parse_number,
    ratio_form,
)
from loaders.identifiers import mask_id, mask_ids_in_text

# Words that mean "no end date" in validity columns (a licence valid 长期).
OPEN_ENDED = frozenset({"长期", "长期有效", "永久", "永久有效", "无固定期限"})


@dataclass(slots=True)
class Problem:
    """Why a row cannot be used; becomes one quarantine row."""

    field: str | None
    raw_value: str | None
    reason: str
    detail: str = ""


def shown(value: object, is_id: bool = False) -> str | None:
    """A raw value as quarantine may show it: an ID column masked whole, any ID-like
    number inside other text masked too, cut to 500 characters."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return mask_id(text) if is_id else mask_ids_in_text(text[:540])[:500]


class Cells:
    """The cells of one row (or of one item of a JSON list), sharing the row's problems."""

    __slots__ = ("problems", "values")

    def __init__(self, values: dict[str, object], problems: list[Problem]):
        self.values = values
        self.problems = problems

    def problem(self, column: str | None, raw: object, reason: str, detail: str = "") -> None:
        self.problems.append(Problem(column, shown(raw), reason, detail))

    def raw(self, column: str | None) -> object:
        return self.values.get(column) if column else None

    def text(self, column: str | None, required: bool = False) -> str | None:
        value = clean(self.raw(column)) if column else None
        if value is None and required:
            self.problem(column, None, "missing_value", "required value is blank")
        return value

    def date(self, column: str | None, required: bool = False) -> date | None:
        if column is None:
            return None
        raw = self.raw(column)
        try:
            value = parse_date(raw)
        except FieldParseError as err:
            if clean(raw) in OPEN_ENDED:
                return None
            self.problem(column, raw, err.reason, err.detail)
            return None
        if value is None and required:
            self.problem(column, None, "missing_value", "required date is blank")
        return value

    def number(self, column: str | None) -> float | None:
        if column is None:
            return None
        raw = self.raw(column)
        try:
            return parse_number(raw)
        except FieldParseError as err:
            self.problem(column, raw, err.reason, err.detail)
            return None

    def ratio_reading(self, column: str) -> tuple[float, str] | None:
        """The share as written and its form (loaders/ratios.py reads it in its column)."""
        raw = self.raw(column)
        try:
            return ratio_form(raw)
        except FieldParseError as err:
            self.problem(column, raw, err.reason, err.detail)
            return None

    def items(self, column: str) -> list[dict[str, Any]]:
        raw = self.raw(column)
        try:
            return parse_json_list(raw)
        except FieldParseError as err:
            self.problem(column, raw, err.reason, err.detail)
            return []
