"""Training the two models so that it cannot fail on the shape of the data, and says what
the data could not teach.

u: Splink's random sampling of pairs of provisional entities, then every level that is an
equality on values counted exactly over the whole run (exact_u.py), so that no u is a
floor set by the sample size. m: EM over each training block's agreement patterns (em.py);
a block teaches the comparisons its rule does not fix. A parameter the data cannot give is
never left to chance or to a library default, and never stops the job:

- a level not seen among the matches of a block has no m from that block; another block's
  estimate is used, else the previous saved model's, else the floor `unobserved_m`, kept
  between `unobserved_max_penalty` bits against a match and 0 (an unseen level never
  counts *for* a match);
- a comparison that no block could teach (no pairs) counts for nothing: m = u;
- a level never met among the sampled pairs, and not countable, takes the previous model's
  u, else half an observation among the pairs sampled;
- EM that does not settle, or an estimate that reads backwards (the strongest agreement
  counting against a match, or the weakest for it), takes the previous model's values
  for that comparison, else no weight.

Each such fix is a `Fix` in the model's `TrainingRecord`, saved with the model and written
to link_report.json: comparison, level, block, value used and why.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from config.errors import InputError
from config.linkage import Training
from linkage import em, exact_u
from linkage.deterministic import COMPANY_IDENTIFIERS, identifier_links, provisional_entities
from linkage.models import (
    EM_BLOCKS,
    PERSON,
    REGISTERED_NAME,
    ROMANISED_BRAND,
    UNIQUE_ID,
    Model,
    _linker,
    _with_tf,
    add_blocking_keys,
    connect,
    optional_fields,
    prior,
    read_saved,
    settings,
)

#: A level's m is estimated in a block only when EM puts at least this many matching
#: pairs at it; fewer is no observation (a share of nothing).
MIN_MATCHING_PAIRS = 0.5


@dataclass
class Fix:
    """A parameter the data could not give, and the value used instead."""

    parameter: str  # "m", "u" or "prior"
    comparison: str
    level: str
    block: str | None
    value: float | None  # None: nothing was used (an unsettled block's estimates)
    # "saved model", "floor", "no weight", "half an observation", "clipped", "by analogy"
    source: str
    why: str


@dataclass
class BlockReport:
    rule: str
    pairs: int
    teaches: list[str]
    iterations: int
    converged: bool
    match_share: float


@dataclass
class TrainingRecord:
    """How a model's parameters were obtained: EM blocks, counted u, and every fix."""

    representatives: int
    sampled_pairs: float
    prior: float
    blocks: list[BlockReport] = field(default_factory=list)
    counted_u: list[dict[str, Any]] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)
    previous_model: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self, entity_type: str) -> str | None:
        """One line for the user when anything was fixed, else None."""
        if not self.fixes:
            return None
        named = sorted(
            {f"{f.comparison}/{f.level} ({f.parameter}: {f.source})" for f in self.fixes}
        )
        return (
            f"{entity_type} model: {len(self.fixes)} parameter(s) the data could not give, "
            f"replaced and recorded in link_report.json: {', '.join(named)}"
        )


def _levels(model: dict[str, Any]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    return [(c, em.non_null_levels(c)) for c in model["comparisons"]]


def _saved_level(
    previous: dict[str, Any] | None, comparison: str, label: str
) -> dict[str, Any] | None:
    if previous is None:
        return None
    for c in previous.get("comparisons", []):
        if c.get("output_column_name") == comparison:
            for level in em.non_null_levels(c):
                if level.get("label_for_charts") == label:
                    return level
    return None


def _saved_value(
    previous: dict[str, Any] | None, comparison: str, label: str, parameter: str
) -> float | None:
    level = _saved_level(previous, comparison, label)
    value = None if level is None else level.get(f"{parameter}_probability")
    return float(value) if isinstance(value, (int, float)) and 0 < value <= 1 else None


def _first_of(provisional: np.ndarray) -> np.ndarray:
    """One row (the first) per provisional entity."""
    return ~pd.Series(provisional).duplicated().to_numpy()


def _known_different(
    frame: pd.DataFrame, entity_type: str, provisional: np.ndarray
) -> pd.DataFrame:
    """One mention per entity known to be different from the others (see exact_u): persons,
    one per provisional entity; companies, one per USCC-bearing identifier component (two
    USCCs are two companies; a mention with only a registration number or an organisation
    code may be a company already counted under its USCC)."""
    if entity_type == PERSON:
        return frame[_first_of(provisional)]
    carries = frame["uscc"].notna().to_numpy()
    if not carries.any():
        return frame.iloc[0:0]
    components = provisional_entities(frame, identifier_links(frame, COMPANY_IDENTIFIERS), [])
    return frame[carries][_first_of(components[carries])]


def _sample_u(
    frame: pd.DataFrame,
    entity_type: str,
    optional: set[str],
    training: Training,
    provisional: np.ndarray,
    con: duckdb.DuckDBPyConnection,
) -> tuple[dict[str, Any], int, float]:
    """The model with Splink's sampled u; the representatives and pairs sampled."""
    first = _first_of(provisional)
    representatives = int(first.sum())
    sampler, _ = _linker(
        frame[first].reset_index(drop=True),
        entity_type,
        settings(entity_type, optional),
        con,
        f"{entity_type}_representatives",
    )
    sampled = 0.0
    if representatives >= 2:
        sampler.training.estimate_u_using_random_sampling(
            max_pairs=training.u_max_pairs, seed=training.seed
        )
        sampled = float(min(training.u_max_pairs, exact_u.pairs(representatives)))
    return sampler.misc.save_model_to_json(), representatives, sampled


def _count_u(
    model: dict[str, Any],
    frame: pd.DataFrame,
    entity_type: str,
    provisional: np.ndarray,
    record: TrainingRecord,
) -> None:
    """Replace the sampled u of every countable level by its count; rescale the others so
    each comparison's u still sums to one."""
    population = _known_different(frame, entity_type, provisional)
    if "name_is_romanised" in frame.columns:
        population.attrs[exact_u.ROMANISED_SHARE] = float(frame["name_is_romanised"].mean())
    for comparison, levels in _levels(model):
        name = comparison["output_column_name"]
        keys = [(name, lv["label_for_charts"]) for lv in levels]
        counts = exact_u.counted_u(population, entity_type, keys)
        counted: dict[int, float] = {}
        for i, level in enumerate(levels):
            key = keys[i]
            if key not in counts:
                continue
            agreeing, comparable = counts[key]
            u = exact_u.u_from_counts(agreeing, comparable)
            if u is None:
                continue
            sampled = level.get("u_probability")
            record.counted_u.append(
                asdict(
                    exact_u.CountedU(
                        name,
                        key[1],
                        agreeing,
                        comparable,
                        u,
                        float(sampled) if isinstance(sampled, (int, float)) else None,
                    )
                )
            )
            counted[i] = u
        if not counted:
            continue
        rest = [i for i in range(len(levels)) if i not in counted]
        room = max(1.0 - sum(counted.values()), 0.0)
        observed = sum(_number(levels[i].get("u_probability")) for i in rest)
        for i, u in counted.items():
            levels[i]["u_probability"] = u
        for i in rest:
            value = _number(levels[i].get("u_probability"))
            if observed > 0 and value > 0:
                levels[i]["u_probability"] = value * room / observed


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def _fill_u(model: dict[str, Any], previous: dict[str, Any] | None, record: TrainingRecord) -> None:
    """Levels that neither the sample nor a count could give a u."""
    fallback = 0.5 / max(record.sampled_pairs, 1.0)
    for comparison, levels in _levels(model):
        name = comparison["output_column_name"]
        for level in levels:
            if _number(level.get("u_probability")) > 0:
                continue
            label = level["label_for_charts"]
            saved = _saved_value(previous, name, label, "u")
            value, source = (saved, "saved model") if saved else (fallback, "half an observation")
            level["u_probability"] = value
            record.fixes.append(
                Fix(
                    "u",
                    name,
                    label,
                    None,
                    value,
                    source,
                    f"never met among {record.sampled_pairs:,.0f} sampled pairs of different "
                    "entities, and not countable",
                )
            )


def _block_estimates(
    frame: pd.DataFrame,
    entity_type: str,
    model: dict[str, Any],
    provisional: np.ndarray,
    training: Training,
    con: duckdb.DuckDBPyConnection,
    record: TrainingRecord,
) -> dict[tuple[str, int], list[float]]:
    """m estimates per (comparison, level index), one per block that could make one."""
    em.register(con, frame, provisional)
    estimates: dict[tuple[str, int], list[float]] = {}
    comparisons = model["comparisons"]
    for rule, fixed in EM_BLOCKS[entity_type]:
        active = [c for c in comparisons if c["output_column_name"] not in fixed]
        counts = em.count_patterns(con, list(frame.columns), active, rule, UNIQUE_ID)
        levels = [len(em.non_null_levels(c)) for c in active]
        u = [
            np.array([_number(lv.get("u_probability")) for lv in em.non_null_levels(c)])
            for c in active
        ]
        if counts.total == 0:
            record.blocks.append(BlockReport(rule, 0, [], 0, True, 0.0))
            continue
        share = min(max(float(counts.provisional.sum() / counts.total), 1e-3), 0.999)
        result = em.expectation_maximisation(
            counts,
            u,
            em.initial_m(counts, levels),
            share,
            training.em_max_iterations,
            training.em_tolerance,
        )
        teaches = [c["output_column_name"] for c in active]
        record.blocks.append(
            BlockReport(
                rule,
                int(counts.total),
                teaches,
                result.iterations,
                result.converged,
                result.match_share,
            )
        )
        for c, comparison in enumerate(active):
            name = comparison["output_column_name"]
            if not result.converged:
                record.fixes.append(
                    Fix(
                        "m",
                        name,
                        "*",
                        rule,
                        None,
                        "not used",
                        f"EM did not settle in {result.iterations} iterations "
                        f"(last change {result.max_change:.2g}): this block's estimates of "
                        f"{name} are not used",
                    )
                )
                continue
            for i in range(levels[c]):
                if result.matches_at[c][i] >= MIN_MATCHING_PAIRS:
                    estimates.setdefault((name, i), []).append(float(result.m[c][i]))
    em.unregister(con)
    return estimates


def _floor(u: float, training: Training) -> float:
    """m of a level never seen among matches: `unobserved_m`, kept between
    `unobserved_max_penalty` bits against a match and no weight at all."""
    # float ** float is typed Any (a negative base gives a complex); 2.0 ** x is a float.
    penalty: float = 2.0**-training.unobserved_max_penalty
    return min(max(training.unobserved_m, u * penalty), u)


def _set_m(
    model: dict[str, Any],
    estimates: dict[tuple[str, int], list[float]],
    entity_type: str,
    training: Training,
    previous: dict[str, Any] | None,
    record: TrainingRecord,
) -> None:
    """Each level's m: the median of its block estimates, else a recorded replacement."""
    blocks = [b.rule for b in record.blocks]
    for comparison, levels in _levels(model):
        name = comparison["output_column_name"]
        u = np.array([_number(lv.get("u_probability")) for lv in levels])
        m = np.full(len(levels), np.nan)
        fixed = np.zeros(len(levels), dtype=bool)
        taught = any((name, i) in estimates for i in range(len(levels)))
        for i, level in enumerate(levels):
            label = level["label_for_charts"]
            if (name, i) in estimates:
                m[i] = median(estimates[(name, i)])
                continue
            fixed[i] = True
            saved = _saved_value(previous, name, label, "m")
            if saved is not None:
                m[i], source = saved, "saved model"
            elif taught:
                m[i], source = _floor(u[i], training), "floor"
            else:
                m[i], source = u[i], "no weight"
            why = (
                "no training block had pairs to teach this comparison"
                if not taught
                else "never seen among the matching pairs of "
                + " or ".join(r for r in blocks if name not in _fixed_by(entity_type, r))
            )
            record.fixes.append(Fix("m", name, label, None, float(m[i]), source, why))
        m = _backwards(name, levels, m, u, fixed, previous, record)
        _normalise(m, fixed)
        for level, value in zip(levels, m, strict=True):
            level["m_probability"] = float(value)


def _romanised_by_analogy(
    model: dict[str, Any],
    estimates: dict[tuple[str, int], list[float]],
    frame: pd.DataFrame,
    record: TrainingRecord,
) -> None:
    """m of the romanised-name level when no identifier links a romanised name to a Chinese
    one (an agency that writes English names and no USCC): a match's names agree across
    scripts as often as its Chinese names agree (the exact or former name level), times
    the share of pairs that are across scripts. Left to the floor, the level would count
    for nothing and no such name would ever reach its company."""
    if "name_is_romanised" not in frame.columns:
        return
    cross = exact_u.cross_script(float(frame["name_is_romanised"].mean()))
    for comparison, levels in _levels(model):
        if comparison["output_column_name"] != "name":
            continue
        labels = [lv["label_for_charts"] for lv in levels]
        if ROMANISED_BRAND not in labels or REGISTERED_NAME not in labels:
            return
        at, exact = labels.index(ROMANISED_BRAND), labels.index(REGISTERED_NAME)
        if cross <= 0 or ("name", at) in estimates or ("name", exact) not in estimates:
            return
        value = median(estimates[("name", exact)]) * cross
        estimates[("name", at)] = [value]
        record.fixes.append(
            Fix(
                "m",
                "name",
                ROMANISED_BRAND,
                None,
                value,
                "by analogy",
                "no identifier-linked pair of a romanised and a Chinese name to learn from: "
                f"the exact or former name's m times the share of pairs across scripts "
                f"({cross:.3g})",
            )
        )


def _fixed_by(entity_type: str, rule: str) -> frozenset[str]:
    return next(fixed for r, fixed in EM_BLOCKS[entity_type] if r == rule)


def _backwards(
    name: str,
    levels: list[dict[str, Any]],
    m: np.ndarray,
    u: np.ndarray,
    fixed: np.ndarray,
    previous: dict[str, Any] | None,
    record: TrainingRecord,
) -> np.ndarray:
    """The strongest level must not count against a match, nor the weakest for it."""
    checks = [(0, m[0] < u[0], "the strongest agreement counted against a match")]
    if len(levels) > 1:
        checks.append((len(levels) - 1, m[-1] > u[-1], "the weakest level counted for a match"))
    for i, wrong, why in checks:
        if not wrong or fixed[i]:
            continue
        label = levels[i]["label_for_charts"]
        saved = _saved_value(previous, name, label, "m")
        m[i], source = (saved, "saved model") if saved is not None else (u[i], "no weight")
        fixed[i] = True
        record.fixes.append(
            Fix(
                "m",
                name,
                label,
                None,
                float(m[i]),
                source,
                f"{why} (m {m[i]:.3g} against u {u[i]:.3g})",
            )
        )
    return m


def _normalise(m: np.ndarray, fixed: np.ndarray) -> None:
    """Estimated levels share what the fixed ones leave, so that m sums to one."""
    room = 1.0 - m[fixed].sum()
    free = m[~fixed].sum()
    if room > 0 and free > 0:
        m[~fixed] *= room / free
    else:
        m /= m.sum()


def _prior(provisional: np.ndarray, record: TrainingRecord) -> float:
    value = prior(provisional)
    if not 0 < value < 1 or math.isnan(value):
        record.fixes.append(
            Fix("prior", "*", "*", None, 0.5, "clipped", f"prior {value} is outside (0, 1)")
        )
        return 0.5
    return value


def read_previous(path: Path | None) -> dict[str, Any] | None:
    """A saved model to take missing parameters from, when there is a readable one (an
    unreadable one is no help, not a reason to stop training)."""
    if path is None or not path.is_file():
        return None
    try:
        return read_saved(path)
    except InputError:
        return None


def train(
    frame: pd.DataFrame,
    entity_type: str,
    training: Training,
    provisional: np.ndarray,
    temp_dir: Path | None = None,
    previous: Path | None = None,
) -> Model:
    """Estimate a model from unlabelled mentions (see the module docstring); the previous
    saved model at `previous`, when readable, fills what the data cannot give."""
    con = connect(temp_dir)
    try:
        saved = read_previous(previous)
        add_blocking_keys(frame, entity_type)
        optional = optional_fields(frame, entity_type, training.min_field_coverage)
        model, representatives, sampled = _sample_u(
            frame, entity_type, optional, training, provisional, con
        )
        record = TrainingRecord(
            representatives, sampled, 0.0, previous_model=None if saved is None else str(previous)
        )
        _count_u(model, frame, entity_type, provisional, record)
        _fill_u(model, saved, record)
        record.prior = _prior(provisional, record)
        model["probability_two_random_records_match"] = record.prior
        estimates = _block_estimates(frame, entity_type, model, provisional, training, con, record)
        _romanised_by_analogy(model, estimates, frame, record)
        _set_m(model, estimates, entity_type, training, saved, record)
        linker, rare = _with_tf(frame, entity_type, model, provisional, con)
    except BaseException:
        con.close()
        raise
    return Model(entity_type, linker, con, training=record, rare_sounds=rare)
