"""One "in force on a day" rule, three engines (graph/in_force.py): the same cases give the
same answer in Cypher on the session's Neo4j, in Python and in numpy."""

from __future__ import annotations

from datetime import date

import neo4j
import numpy as np
import pytest

from graph.in_force import IN_FORCE, in_force, in_force_day

DAY = date(2024, 6, 1)

#: (valid_from, valid_to, in force on DAY)
CASES = [
    (None, None, True),  # nothing known: open on both sides
    (date(2020, 1, 1), None, True),
    (DAY, None, True),  # begins that day
    (date(2024, 6, 2), None, False),  # begins the day after
    (None, DAY, False),  # ends that day: [from, to) excludes it
    (None, date(2024, 6, 2), True),
    (date(2020, 1, 1), date(2021, 1, 1), False),
    (date(2024, 5, 31), date(2024, 6, 2), True),
]


def _day(value: date | None) -> np.datetime64:
    return np.datetime64("NaT") if value is None else np.datetime64(value, "D")


@pytest.mark.parametrize(("start", "end", "expected"), CASES)
def test_python_and_numpy_agree_on_every_case(
    start: date | None, end: date | None, expected: bool
) -> None:
    assert in_force(start, end, DAY) is expected
    assert in_force_day(_day(start), _day(end), _day(DAY)) is expected


def test_cypher_agrees_on_every_case(neo4j_driver: neo4j.Driver) -> None:
    rows = [{"i": i, "valid_from": s, "valid_to": e} for i, (s, e, _) in enumerate(CASES)]
    records, _, _ = neo4j_driver.execute_query(
        "UNWIND $rows AS r RETURN r.i AS i, " + IN_FORCE + " AS held ORDER BY i",
        rows=rows,
        as_of=DAY,
    )
    assert [r["held"] for r in records] == [expected for _, _, expected in CASES]
