"""When a dated fact holds: one rule, written once for each engine that evaluates it.

A role, holding, licence or list entry runs over [valid_from, valid_to): it is in force on
a day when it began on or before that day (an unknown start counts as begun) and has not
ended by it (an unknown end counts as open). Cypher (`IN_FORCE`, over a relationship `r`
and the parameter `$as_of`), Python (`in_force`, dates and None) and numpy
(`in_force_day`, datetime64 and NaT) are three writings of that one rule, and
tests/test_in_force.py runs the same cases through all three. `overlaps` is its window
form: a fact meets [w0, w1) when it begins before the window ends and ends after it
begins.
"""

from __future__ import annotations

from datetime import date

import numpy as np

#: Cypher: the relationship `r` is in force on `$as_of`.
IN_FORCE = (
    "(r.valid_from IS NULL OR r.valid_from <= $as_of) "
    "AND (r.valid_to IS NULL OR r.valid_to > $as_of)"
)


def in_force(start: date | None, end: date | None, day: date) -> bool:
    """Python: a fact running over [start, end) holds on `day` (None: unknown, open)."""
    return (start is None or start <= day) and (end is None or end > day)


def in_force_day(start: np.datetime64, end: np.datetime64, day: np.datetime64) -> bool:
    """numpy: the same rule over datetime64 days, NaT for an unknown bound."""
    return bool((np.isnat(start) or start <= day) and (np.isnat(end) or end > day))


def overlaps(start: date | None, end: date | None, window: tuple[date, date | None]) -> bool:
    """[start, end) meets the window [w0, w1): begins before it ends, ends after it begins."""
    w0, w1 = window
    return (w1 is None or start is None or start < w1) and (end is None or end > w0)
