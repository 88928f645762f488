"""Dates for the world: everything is relative to a fixed reference day, never "now".

Dates travel as numpy datetime64[D] arrays; extracts write them in the mixed forms real
agencies use (2019-03-05, 2019/3/5, 2019年3月5日) so that loaders meet all of them.
"""

from __future__ import annotations

from datetime import date

import numpy as np

REF_DATE = np.datetime64("2026-10-31", "D")
EXCEL_EPOCH = np.datetime64("1899-12-30", "D")
NAT = np.datetime64("NaT", "D")


def day(text: str) -> np.datetime64:
    """A single day from ISO text."""
    return np.datetime64(text, "D")


def uniform_days(
    rng: np.random.Generator,
    low: np.ndarray | np.datetime64,
    high: np.ndarray | np.datetime64,
    size: int | None = None,
) -> np.ndarray:
    """Uniform days in [low, high] (inclusive); high below low collapses to low."""
    lo = np.asarray(low, dtype="datetime64[D]").astype(np.int64)
    hi = np.asarray(high, dtype="datetime64[D]").astype(np.int64)
    if size is None:
        size = int(np.broadcast(lo, hi).size)
    span = np.maximum(hi - lo, 0) + 1
    offset = np.floor(rng.random(size) * span).astype(np.int64)
    return (lo + offset).astype("datetime64[D]")


def add_years(days: np.ndarray | np.datetime64, years: int | np.ndarray) -> np.ndarray:
    """Same month and day `years` later; 29 February rolls to 1 March."""
    d = np.asarray(days, dtype="datetime64[D]")
    months = d.astype("datetime64[M]")
    offset = d - months.astype("datetime64[D]")
    shift = (12 * np.asarray(years, dtype=np.int64)).astype("timedelta64[M]")
    return (months + shift).astype("datetime64[D]") + offset


def parts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day of each date as integer arrays."""
    d = np.asarray(days, dtype="datetime64[D]")
    months = d.astype("datetime64[M]")
    year = d.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    dom = (d - months).astype(np.int64) + 1
    return year, month, dom


def iso(days: np.ndarray) -> np.ndarray:
    """ISO strings; NaT becomes an empty string."""
    d = np.asarray(days, dtype="datetime64[D]")
    out = np.datetime_as_string(d, unit="D").astype(object)
    out[np.isnat(d)] = ""
    return out


def mixed(
    days: np.ndarray,
    rng: np.random.Generator,
    weights: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> np.ndarray:
    """Dates written in a mix of ISO, slash and Chinese forms; NaT becomes ''."""
    d = np.asarray(days, dtype="datetime64[D]")
    out = iso(d)
    form = rng.choice(3, size=d.size, p=np.asarray(weights) / sum(weights))
    pick = np.flatnonzero((form > 0) & ~np.isnat(d))
    if pick.size:
        y, m, dd = parts(d[pick])
        slash = form[pick] == 1
        out[pick] = [
            f"{a}/{b}/{c}" if s else f"{a}年{b}月{c}日"
            for a, b, c, s in zip(y.tolist(), m.tolist(), dd.tolist(), slash.tolist(), strict=True)
        ]
    return out


def excel_serial(days: np.ndarray) -> np.ndarray:
    """Excel 1900-system serial numbers (valid for dates after 1900-03-01)."""
    return (np.asarray(days, dtype="datetime64[D]") - EXCEL_EPOCH).astype(np.int64)


def to_date(value: np.datetime64) -> date:
    """A python date (for the identifier helpers that want one)."""
    return value.astype("datetime64[D]").astype(object)
