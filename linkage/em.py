"""Expectation maximisation over agreement-pattern counts, with what it could not learn said.

Splink's own EM stops the batch job when a level's m falls below 1e-300 (a level seen in a
block only among non-matches), and leaves a level it never saw at its default without a
word. Here DuckDB counts each training block's agreement patterns once (the same SQL
conditions as the model, so the same levels), and the Fellegi-Sunter EM runs on those
counts in numpy, in log space: a level's m may reach 0 without failing, and each level says
how many matching pairs it was estimated from, so training.py can tell an estimate from
an absence. Like Splink's `estimate_without_term_frequencies`, u stays fixed (it comes
from non-matching pairs) and term frequencies do not enter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.special import expit

#: Columns that a comparison level reads: `name_l`, `"address_r"`.
_SIDE_COLUMN = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*?)_[lr]\b")

GROUP = "veil_provisional"
TABLE = "veil_em_mentions"


def non_null_levels(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """A comparison's levels other than its null level, strongest first."""
    return [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]


def comparison_columns(comparison: dict[str, Any]) -> set[str]:
    """The input columns a comparison's SQL reads."""
    return {
        m.group(1)
        for level in comparison["comparison_levels"]
        for m in _SIDE_COLUMN.finditer(level["sql_condition"])
    }


def gamma_sql(comparison: dict[str, Any]) -> str:
    """CASE expression giving -1 for the null level and the index of the first non-null
    level that holds (0 = strongest), as Splink evaluates levels in order."""
    parts, index = [], 0
    for level in comparison["comparison_levels"]:
        condition = level["sql_condition"].strip()
        code = -1 if level.get("is_null_level") else index
        index += 0 if level.get("is_null_level") else 1
        is_else = condition.upper() == "ELSE"
        parts.append(f"ELSE {code}" if is_else else f"WHEN {condition} THEN {code}")
    if not parts[-1].startswith("ELSE"):
        parts.append("ELSE -1")
    return "CASE " + " ".join(parts) + " END"


@dataclass
class PatternCounts:
    """One block's agreement patterns: a gamma code per comparison, pairs with that pattern,
    and how many of them lie inside one provisional entity."""

    gammas: np.ndarray  # (patterns, comparisons), -1 = null
    pairs: np.ndarray  # (patterns,)
    provisional: np.ndarray  # (patterns,)

    @property
    def total(self) -> float:
        return float(self.pairs.sum())


def register(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, groups: np.ndarray) -> None:
    """The mentions (with their provisional entity) as the table the blocks are counted on."""
    table = pa.Table.from_pandas(frame.assign(**{GROUP: groups}), preserve_index=False)
    con.register(TABLE, table)


def unregister(con: duckdb.DuckDBPyConnection) -> None:
    con.unregister(TABLE)


def count_patterns(
    con: duckdb.DuckDBPyConnection,
    columns: list[str],
    comparisons: list[dict[str, Any]],
    rule: str,
    unique_id: str,
) -> PatternCounts:
    """Agreement patterns of the pairs a training block's rule makes (each pair once)."""
    if not comparisons:
        return PatternCounts(np.zeros((0, 0), np.int64), np.zeros(0), np.zeros(0))
    used = sorted(set().union(*(comparison_columns(c) for c in comparisons)) & set(columns))
    sides = ", ".join(f'l."{c}" AS "{c}_l", r."{c}" AS "{c}_r"' for c in used)
    sides = f"{sides}, " if sides else ""
    gammas = ", ".join(f"{gamma_sql(c)} AS g{i}" for i, c in enumerate(comparisons))
    names = ", ".join(f"g{i}" for i in range(len(comparisons)))
    sql = f"""
        SELECT {names}, count(*) AS pairs, sum(CAST(same AS BIGINT)) AS provisional
        FROM (
            SELECT {gammas}, same FROM (
                SELECT {sides}l.{GROUP} = r.{GROUP} AS same
                FROM {TABLE} AS l JOIN {TABLE} AS r
                ON ({rule}) AND l."{unique_id}" < r."{unique_id}"
            )
        )
        GROUP BY ALL
    """
    table = con.sql(sql).fetchnumpy()
    k = len(table["pairs"])
    gamma = np.column_stack(
        [np.asarray(table[f"g{i}"], dtype=np.int64) for i in range(len(comparisons))]
    )
    return PatternCounts(
        gamma.reshape(k, len(comparisons)),
        np.asarray(table["pairs"], dtype=np.float64),
        np.asarray(table["provisional"], dtype=np.float64),
    )


@dataclass
class EMResult:
    """m per comparison (indexed by non-null level), the block's match share, the expected
    matching pairs behind each level, and whether the parameters settled."""

    m: list[np.ndarray]
    match_share: float
    matches_at: list[np.ndarray]
    iterations: int
    converged: bool
    max_change: float


def initial_m(counts: PatternCounts, levels: list[int]) -> list[np.ndarray]:
    """Level shares among the block's pairs inside one provisional entity (half a pair added
    to every level, so that none starts at zero): a label-free first guess of m."""
    m = []
    for c, n in enumerate(levels):
        g = counts.gammas[:, c]
        seen = g >= 0
        share = np.bincount(g[seen], weights=counts.provisional[seen], minlength=n) + 0.5
        m.append(share / share.sum())
    return m


def expectation_maximisation(
    counts: PatternCounts,
    u: list[np.ndarray],
    m: list[np.ndarray],
    match_share: float,
    max_iterations: int,
    tolerance: float,
) -> EMResult:
    """Fellegi-Sunter EM with u fixed: alternate each pattern's match probability and the m
    (and block match share) they imply, until no m moves by more than `tolerance`."""
    gammas, weights = counts.gammas, counts.pairs
    levels = [len(x) for x in u]
    seen = [gammas[:, c] >= 0 for c in range(len(levels))]
    codes = [np.where(s, gammas[:, c], 0) for c, s in enumerate(seen)]
    with np.errstate(divide="ignore"):
        log_u = sum(
            (np.where(seen[c], np.log(u[c])[codes[c]], 0.0) for c in range(len(levels))),
            np.zeros(len(weights)),
        )
    m = [x.copy() for x in m]
    change, done, converged = np.inf, 0, False
    matches_at = [np.zeros(n) for n in levels]
    share = min(max(match_share, 1e-12), 1 - 1e-12)
    for iteration in range(1, max_iterations + 1):
        done = iteration
        with np.errstate(divide="ignore"):
            log_m = sum(
                (np.where(seen[c], np.log(m[c])[codes[c]], 0.0) for c in range(len(levels))),
                np.zeros(len(weights)),
            )
            odds = np.log(share) - np.log1p(-share) + log_m - log_u
        probability = expit(odds)
        matched = weights * probability
        new_m = []
        for c, n in enumerate(levels):
            at = np.bincount(codes[c][seen[c]], weights=matched[seen[c]], minlength=n)
            # numpy stubs type bincount as intp even with weights, where it gives float64.
            matches_at[c] = at  # type: ignore[assignment]
            total = at.sum()
            new_m.append(at / total if total > 0 else m[c])
        change = max(
            (float(np.abs(a - b).max()) for a, b in zip(new_m, m, strict=True)), default=0.0
        )
        m = new_m
        if weights.sum() > 0:
            share = min(max(float(matched.sum() / weights.sum()), 1e-12), 1 - 1e-12)
        if change < tolerance:
            converged = True
            break
    return EMResult(m, share, matches_at, done, converged, change)
