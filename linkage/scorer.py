"""A real-time pair scorer equal to Splink's predict (issue 15's `POST /screen`).

Splink's own one-pair path (score_pair, compare_two_records) builds and runs SQL on DuckDB
for every call: 70-120 ms here. Screening an application against its candidates needs a
pair in microseconds, so this scorer reads the same parameters once and scores in Python:
per comparison, the first level whose condition holds (the null level first, then the
levels in the model's order, the ELSE level last; linkage/level_conditions.py has the
conditions), its match weight log2(m/u) with m and u clamped as Splink clamps them, and
on a term-frequency level Splink's adjustment w * (log2 u_exact - log2 max(tf_l, tf_r,
tf_min)). The total is the prior's match weight plus the comparisons', summed in Splink's
order; the probability is Splink's 2^w / (1 + 2^w). tests/test_scorer.py checks all of it
against Splink's predict.

The parameters are read through Splink's own Settings objects (from the saved JSON or a
live model), so the clamp, the exact-match level whose u a term frequency replaces and
the comparison vector values are Splink's, not a copy of its rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
from splink import SettingsCreator

from config.errors import InputError
from linkage import models
from linkage.level_conditions import Predicate, Row, conditions, is_null
from loaders import rundir


class LevelScore(NamedTuple):
    """One comparison's level for a pair and its match weight (TF adjustment included).
    A named tuple: a pair makes one per comparison, and a frozen dataclass costs three
    times as much to build."""

    comparison: str
    level: str
    #: Splink's comparison vector value (gamma): -1 for the null level.
    gamma: int
    match_weight: float
    tf_adjustment: float


@dataclass(frozen=True)
class PairScore:
    match_weight: float
    match_probability: float
    comparisons: tuple[LevelScore, ...]


@dataclass(frozen=True)
class _Level:
    label: str
    gamma: int
    #: None for the ELSE level, which always holds.
    holds: Predicate | None
    weight: float
    #: Term-frequency adjustment: (column, its weight, log2 of the exact level's u, the
    #: least u a term frequency may stand for); None where the level has none.
    tf: tuple[str, float, float, float] | None


@dataclass(frozen=True)
class _Comparison:
    name: str
    levels: tuple[_Level, ...]
    #: Whether Splink adds an mw_tf_adj_ column for it (the sum's order follows).
    has_tf: bool


def probability(match_weight: float) -> float:
    """Splink's match probability of a match weight (stable on both signs)."""
    if match_weight >= 0:
        return 1.0 / (1.0 + math.pow(2.0, -match_weight))
    odds = math.pow(2.0, match_weight)
    return odds / (1.0 + odds)


def by_column(table: pd.DataFrame, columns: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """A term-frequency table (column, value, tf) as the scorer reads it: per column, value
    -> term frequency (every one of `columns`, empty where the table has none)."""
    out: dict[str, dict[str, float]] = {column: {} for column in columns}
    for column, part in table.groupby("column", sort=False):
        values, tfs = part["value"].astype(str).tolist(), part["tf"].astype(float).tolist()
        out[str(column)] = dict(zip(values, tfs, strict=True))
    return out


def _level(level: Any, levels: list[Any], known: Mapping[str, Predicate]) -> _Level:
    """A Splink ComparisonLevel as the scorer evaluates it."""
    sql: str = level.sql_condition
    holds = None
    if not level._is_else_level:
        if sql not in known:
            raise ValueError(f"the scorer does not know this level's SQL: {sql}")
        holds = known[sql]
    weight = level._match_weight
    if weight is None:
        raise ValueError(f"level {level.label_for_charts!r} has no trained m and u")
    tf = None
    if (
        level._has_tf_adjustments
        and level.comparison_vector_value != -1
        and level._tf_adjustment_weight != 0
        and not level._is_else_level
    ):
        u_exact = level._u_probability_corresponding_to_exact_match(levels)
        tf = (
            str(level._tf_adjustment_input_column_name),
            float(level._tf_adjustment_weight),
            math.log2(u_exact),
            float(level._tf_minimum_u_value),
        )
    return _Level(
        str(level.label_for_charts), int(level.comparison_vector_value), holds, weight, tf
    )


class PairScorer:
    """Scores two feature rows (as linkage.features makes them; persons with `context`)
    with one entity type's model, without DuckDB."""

    def __init__(
        self,
        entity_type: str,
        settings: Mapping[str, Any],
        term_frequencies: Mapping[str, Mapping[str, float]],
    ) -> None:
        """`settings`: the model's Splink JSON (models.read_saved, Model.as_dict);
        `term_frequencies`: per TF column, value -> its term frequency, as the model's
        lookup tables hold them (a value missing is one Splink would find no row for)."""
        self.entity_type = entity_type
        built: Any = SettingsCreator.from_path_or_dict(dict(settings)).get_settings("duckdb")
        known = conditions(entity_type)
        comparisons = []
        for comparison in built.comparisons:
            levels = list(comparison.comparison_levels)
            comparisons.append(
                _Comparison(
                    str(comparison.output_column_name),
                    tuple(_level(level, levels, known) for level in levels),
                    any(level._has_tf_adjustments for level in levels),
                )
            )
        self.comparisons = tuple(comparisons)
        prior = float(built._probability_two_random_records_match)
        self.prior_match_weight = math.log2(prior / (1.0 - prior))
        self.term_frequencies = {c: dict(t) for c, t in term_frequencies.items()}
        missing = {
            level.tf[0] for c in self.comparisons for level in c.levels if level.tf
        } - self.term_frequencies.keys()
        if missing:
            raise ValueError(f"no term-frequency table for {sorted(missing)}")

    @classmethod
    def from_model(cls, model: models.Model) -> PairScorer:
        """The scorer of a trained or loaded model, its TF tables read from its connection."""
        return cls(
            model.entity_type,
            model.as_dict(),
            by_column(model.term_frequencies(), models.TF_COLUMNS[model.entity_type]),
        )

    @classmethod
    def from_saved(
        cls, path: Path, entity_type: str, term_frequencies: Mapping[str, Mapping[str, float]]
    ) -> PairScorer:
        """The scorer of a model saved by `veil model train` or `veil link`."""
        return cls(entity_type, models.read_saved(path), term_frequencies)

    @classmethod
    def from_run(cls, run_dir: Path, entity_type: str) -> PairScorer:
        """The scorer of the model that linked `run_dir`, with the term frequencies `veil
        link` saved beside it (no DuckDB, no features)."""
        table = rundir.table(run_dir, rundir.term_frequency_table(entity_type))
        path = run_dir / rundir.MODELS / f"{entity_type}.json"
        try:
            return cls.from_saved(
                path, entity_type, by_column(table, models.TF_COLUMNS[entity_type])
            )
        except ValueError as err:  # a level the scorer does not know, an untrained one
            raise InputError(str(path), f"cannot score with this model: {err}") from None

    def _tf_adjustment(self, tf: tuple[str, float, float, float], left: Row, right: Row) -> float:
        column, weight, log2_u, least = tf
        table = self.term_frequencies[column]
        a, b = left.get(column), right.get(column)
        # greatest(coalesce(tf_l, tf_r), coalesce(tf_r, tf_l), tf_min): the larger known one
        known = [table.get(str(v)) for v in (a, b) if not is_null(v)]
        present = [t for t in known if t is not None]
        if not present:
            return 0.0
        u = max(*present, least)
        return weight * (log2_u - math.log2(u))

    def score(self, left: Row, right: Row) -> PairScore:
        """The pair's match weight and probability, and each comparison's level."""
        total = self.prior_match_weight
        out = []
        for comparison in self.comparisons:
            for level in comparison.levels:
                if level.holds is None or level.holds(left, right):
                    break
            adjustment = 0.0 if level.tf is None else self._tf_adjustment(level.tf, left, right)
            total += level.weight
            if comparison.has_tf:
                total += adjustment
            out.append(
                LevelScore(
                    comparison.name, level.label, level.gamma, level.weight + adjustment, adjustment
                )
            )
        return PairScore(total, probability(total), tuple(out))
