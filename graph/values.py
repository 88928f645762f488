"""Values as JSON holds them: the one conversion of graph answers and alert evidence.

Neo4j returns its own temporal types (`neo4j.time.Date`, `DateTime`), pandas and the
alert engine hand over `datetime.date`; an answer is printed, exported and hashed as
JSON, so every date becomes its ISO text and every tuple a list, the same way everywhere
(an evidence digest that saw a date one way and then another would reopen a dismissed
alert).
"""

from __future__ import annotations

from datetime import date
from typing import Any


def jsonable(value: Any) -> Any:
    """`value` with dates as ISO text and tuples as lists, inside dicts and lists too."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "iso_format"):  # neo4j.time types
        return value.iso_format()
    if isinstance(value, date):
        return value.isoformat()
    return value


def native(value: Any) -> Any:
    """`value` with Neo4j's temporal types as Python's (`datetime.date`, ...), inside dicts
    and lists too: what the typed answers (graph/answers.py) are built from."""
    if isinstance(value, dict):
        return {k: native(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [native(v) for v in value]
    if hasattr(value, "to_native"):  # neo4j.time types
        return value.to_native()
    return value
