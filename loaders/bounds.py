"""Bounds on raw values, checked before a row is mapped.

A 20,000-character "company name" is a broken or hostile cell, not a name: Neo4j cannot
index it and no inspector can read it, so a row holding one is quarantined with the
column and the length. Control characters (NUL, escape sequences, C1 codes) carry no
meaning in a register and break terminals and exports; they are removed and counted.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from config.sources import Limits, SourceSpec
from loaders.cells import Problem, shown

# C0 and C1 control characters and DEL; tab, LF and CR stay (free text may hold them).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def name_columns(spec: SourceSpec) -> frozenset[str]:
    """Columns (or keys of `each` items) that hold a mention's name."""
    return frozenset(m.fields["name"] for m in spec.mentions.values() if "name" in m.fields)


class ValueBounds:
    """Checks and cleans the values of one source's rows; counts what it removed."""

    def __init__(self, spec: SourceSpec, limits: Limits):
        self.names = name_columns(spec)
        self.lists = frozenset(m.each for m in spec.mentions.values() if m.each)
        self.limits = limits
        self.cleaned: Counter[str] = Counter()

    def screen(self, values: dict[str, object]) -> list[Problem]:
        """Clean `values` in place; return the problems that stop the row (too long)."""
        if self._plain(values):
            return []
        problems: list[Problem] = []
        for column, value in values.items():
            if column in self.lists and isinstance(value, str):
                value = _as_list(value)
                if isinstance(value, list):
                    values[column] = value
            if isinstance(value, str):
                values[column] = self._one(column, value, problems)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, dict):
                        for key, inner in item.items():
                            if isinstance(inner, str):
                                item[key] = self._one(key, inner, problems)
        return problems

    def _plain(self, values: dict[str, object]) -> bool:
        """The common row, checked at once: text only, none long, no control character (a
        JSON list cell no longer than a name cannot hold a name over the bound either)."""
        strings = [v for v in values.values() if type(v) is str]
        if len(strings) != len(values) and any(
            isinstance(v, list | dict | tuple) for v in values.values()
        ):
            return False  # JSONL / Parquet lists: checked item by item
        if not strings:
            return True
        return max(map(len, strings)) <= self.limits.name_chars and not _CONTROL.search(
            "\n".join(strings)
        )

    def _one(self, column: str, value: str, problems: list[Problem]) -> str:
        if _CONTROL.search(value):
            value = _CONTROL.sub("", value)
            self.cleaned[f"control_characters_removed:{column}"] += 1
        limit, what = (
            (self.limits.name_chars, "name_chars")
            if column in self.names
            else (self.limits.text_chars, "text_chars")
        )
        if len(value) > limit:
            problems.append(
                Problem(
                    column,
                    shown(value),
                    "value_too_long",
                    f"{len(value):,} characters; the bound is {limit:,} (limits.{what} in "
                    "the sources file)",
                )
            )
        return value


def _as_list(text: str) -> list[Any] | str:
    """A CSV cell's JSON list, parsed so its names are bounded too; else the text as is
    (the mapper reports a cell that is not a list)."""
    try:
        data = json.loads(text.strip().lstrip("\ufeff"))
    except (ValueError, RecursionError):
        return text
    return data if isinstance(data, list) else text
