"""Score a clustering of mentions against the synthetic world's ground truth.

The linkage room must never read the truth, so its evaluation lives here, beside the
generator: the benchmark, the tests and the demo command call it with a run directory (the
clustering, RUN/entities.parquet) and a world directory (WORLD/truth/).

Everything is computed from cluster sizes, never by enumerating pairs, so scoring ten million
mentions takes seconds: the mentions are cut three ways (by predicted cluster, by true
entity, and by both at once), and

- correct pairs   = sum over (predicted ∩ true) cells of C(n, 2)
- predicted pairs = sum over predicted clusters of C(n, 2)
- true pairs      = sum over true entities of C(n, 2)

Pairwise precision = correct / predicted (1 when nothing was linked), recall = correct /
true (1 when no two mentions are of one entity). B-cubed averages, over the mentions, the
share of each mention's predicted cluster that is truly its entity (precision) and the
share of its true entity that it was clustered with (recall); it weighs every mention
equally where pairwise scores are dominated by the largest clusters.

The exact baseline ("same name and the same full identifier") is here too: it is the
floor a linkage must beat, and it must not be mistaken for production code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from config.errors import VeilError

KEY = ["source", "record_id", "slot"]
ENTITY_COLUMNS = [*KEY, "entity_type", "entity_id", "confidence"]
ENTITY_TYPES = ("person", "company")
_TRUTH = {
    "person": ("person_mentions.parquet", "true_person_id"),
    "company": ("company_mentions.parquet", "true_company_id"),
}

ArrayLike = np.ndarray | pd.Series


class MentionMismatch(VeilError):
    """The clustering and the truth do not cover exactly the same mentions."""


@dataclass(frozen=True)
class PairScores:
    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    def as_dict(self) -> dict:
        return asdict(self)


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 0.0 if total == 0 else 2 * precision * recall / total


def _codes(values: ArrayLike, what: str) -> np.ndarray:
    """Dense integer labels 0..k-1; nulls are refused (every mention needs a cluster)."""
    codes, _ = pd.factorize(pd.Series(values, copy=False), use_na_sentinel=True)
    if (codes < 0).any():
        raise ValueError(f"{what} has {int((codes < 0).sum())} null labels")
    return codes.astype(np.int64, copy=False)


def _cells(predicted: ArrayLike, truth: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per mention: (predicted cluster code, true entity code, cell code of the two)."""
    if len(predicted) != len(truth):
        raise ValueError(f"predicted has {len(predicted)} labels, truth {len(truth)}")
    p = _codes(predicted, "predicted")
    t = _codes(truth, "truth")
    width = int(t.max()) + 1 if len(t) else 1
    cell, _ = pd.factorize(p * width + t)
    return p, t, cell.astype(np.int64, copy=False)


def _pairs(codes: np.ndarray) -> int:
    sizes = np.bincount(codes).astype(np.int64)
    return int((sizes * (sizes - 1) // 2).sum())


def pairwise_scores(predicted: ArrayLike, truth: ArrayLike) -> PairScores:
    """Pairwise precision, recall and F1 of a clustering over all pairs of mentions.

    `predicted` and `truth` hold one cluster label per mention (any hashable values, no
    nulls). Precision is 1 when no pairs are predicted, recall 1 when there are no true pairs.
    """
    return _pairwise(*_cells(predicted, truth))


def _pairwise(p: np.ndarray, t: np.ndarray, cell: np.ndarray) -> PairScores:
    correct, pred_pairs, true_pairs = _pairs(cell), _pairs(p), _pairs(t)
    precision = correct / pred_pairs if pred_pairs else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    return PairScores(precision, recall, _f1(precision, recall), true_pairs, pred_pairs, correct)


def bcubed_scores(predicted: ArrayLike, truth: ArrayLike) -> tuple[float, float, float]:
    """B-cubed (precision, recall, F1): per-mention shares averaged over the mentions.

    Precision of mention i = |pred(i) ∩ true(i)| / |pred(i)|, recall = |pred(i) ∩ true(i)| /
    |true(i)|. With no mentions both are 1.
    """
    return _bcubed(*_cells(predicted, truth))


def _bcubed(p: np.ndarray, t: np.ndarray, cell: np.ndarray) -> tuple[float, float, float]:
    if not len(p):
        return 1.0, 1.0, 1.0
    in_cell = np.bincount(cell)[cell].astype(np.float64)
    precision = float(np.mean(in_cell / np.bincount(p)[p]))
    recall = float(np.mean(in_cell / np.bincount(t)[t]))
    return precision, recall, _f1(precision, recall)


def most_common_names(names: pd.Series, top: int = 50) -> list[str]:
    """The `top` names borne by the most distinct true persons (ties: by name, ascending).

    `names` maps true person id (index) to the person's simplified name.
    """
    named = names[~names.index.duplicated()].dropna()
    counts = named.value_counts().rename_axis("name").reset_index(name="persons")
    counts = counts.sort_values(["persons", "name"], ascending=[False, True], kind="stable")
    return counts["name"].head(top).tolist()


def common_name_precision(
    predicted: ArrayLike, truth: ArrayLike, names: pd.Series, top: int = 50
) -> tuple[float, int, int]:
    """Pairwise precision among mentions of persons who bear one of the most common names.

    The spec's "precision among mentions that share one of the 50 most common names",
    made exact:

    - `names` maps true person id (index) to the person's true, simplified name (the
      `name` column of truth/persons.parquet, all persons of the world);
    - the common names are the `top` names borne by the most distinct true persons, ties
      broken by name (`most_common_names`);
    - the subset is every mention whose TRUE person bears one of them, whatever form the
      name took in the mention (typos, pinyin ... included); mentions of other persons are
      left out, so a merge of 张伟 with a rarer name is not counted here (the overall
      pairwise precision counts it);
    - the result is the pairwise precision of the clustering restricted to that subset:
      of the pairs of subset mentions put in one cluster, the share that are one person.

    Returns (precision, subset mentions, predicted pairs in the subset); precision is 1
    when no pairs were predicted.
    """
    truth_s = pd.Series(truth, copy=False).reset_index(drop=True)
    pred_s = pd.Series(predicted, copy=False).reset_index(drop=True)
    if len(truth_s) != len(pred_s):
        raise ValueError(f"predicted has {len(pred_s)} labels, truth {len(truth_s)}")
    missing = ~truth_s.isin(names.index)
    if missing.any():
        example = truth_s[missing].iloc[0]
        raise ValueError(f"{int(missing.sum())} mentions' persons have no name, e.g. {example}")
    common = set(most_common_names(names, top))
    bearers = names.index[names.isin(common)]
    mask = truth_s.isin(bearers).to_numpy()
    scores = pairwise_scores(pred_s[mask], truth_s[mask])
    return scores.precision, int(mask.sum()), scores.predicted_pairs


def _reconciled(entities: pd.DataFrame, truth: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Truth mentions joined to their entity ids; refuses any mention only one side has."""
    dup = entities.duplicated(KEY)
    if dup.any():
        example = tuple(entities.loc[dup, KEY].iloc[0])
        raise MentionMismatch(
            f"{kind}: {int(dup.sum())} mentions have more than one entity row, e.g. {example}"
        )
    joined = truth.merge(entities, on=KEY, how="outer", indicator=True, validate="one_to_one")
    problems = []
    for side, what in (("left_only", "missing from the entities"), ("right_only", "not in truth")):
        rows = joined[joined["_merge"] == side]
        if len(rows):
            example = tuple(rows[KEY].iloc[0])
            problems.append(f"{len(rows)} {kind} mentions {what}, e.g. {example}")
    if problems:
        raise MentionMismatch("mentions do not reconcile: " + "; ".join(problems))
    return joined.drop(columns="_merge")


def score_clustering(predicted: ArrayLike, truth: ArrayLike) -> dict:
    """Pairwise and B-cubed scores plus counts, as one flat dict."""
    p, t, cell = _cells(predicted, truth)
    pair = _pairwise(p, t, cell)
    b3p, b3r, b3f = _bcubed(p, t, cell)
    return {
        "mentions": len(p),
        "entities": int(p.max(initial=-1) + 1),
        "true_entities": int(t.max(initial=-1) + 1),
        **pair.as_dict(),
        "b3_precision": b3p,
        "b3_recall": b3r,
        "b3_f1": b3f,
    }


#: Truth columns by which mentions left outside their entity are counted.
_VARIATIONS = {
    "person": ("source", "name_form", "id_form"),
    "company": ("source", "name_form"),
}


def outside_main_entity(
    joined: pd.DataFrame, true_col: str, columns: tuple[str, ...]
) -> dict[str, dict[str, dict[str, float | int]]]:
    """Per variation (e.g. id_form "masked_4+4"), how many mentions of true entities with
    more than one mention there are, and the share of them outside the entity that holds
    most of their true entity's mentions: where recall is lost, habit by habit."""
    counts = joined.groupby([true_col, "entity_id"], sort=False).size().rename("n").reset_index()
    main = counts.sort_values("n", kind="stable").drop_duplicates(true_col, keep="last")
    main_of = main.set_index(true_col)["entity_id"]
    size = joined.groupby(true_col)[true_col].transform("size")
    several = joined[size.to_numpy() > 1]
    outside = several["entity_id"].to_numpy() != main_of.reindex(several[true_col]).to_numpy()
    out: dict[str, dict[str, dict[str, float | int]]] = {}
    for column in columns:
        table = pd.DataFrame({"value": several[column].to_numpy(), "outside": outside})
        grouped = table.groupby("value", sort=True)["outside"].agg(["mean", "size"])
        out[column] = {
            str(value): {"outside": float(row["mean"]), "mentions": int(row["size"])}
            for value, row in grouped.iterrows()
        }
    return out


def format_outside_main(scores: dict) -> str:
    """The `outside_main` figures of one `score_run` result as a table per variation."""
    lines = []
    for kind in ENTITY_TYPES:
        for column, values in scores.get(kind, {}).get("outside_main", {}).items():
            lines.append(f"{kind} mentions outside their entity, by {column}:")
            for value, figures in values.items():
                lines.append(f"  {value:<28}{figures['outside']:>8.4f}{figures['mentions']:>12,}")
    return "\n".join(lines)


def identifier_split(joined: pd.DataFrame, true_col: str) -> dict[str, dict]:
    """Person pairs split by what the two mentions carry: `with_id`, pairs of two mentions
    that each give a resident ID (full, 15-digit or masked); `name_only`, pairs with at
    least one mention that gives a name (and a company) only. Issue 12's targets are for
    records that carry identifiers as internal extracts do; a name-only mention cannot be
    told from a namesake's by anything it says, so its figures are reported apart."""
    everything = pairwise_scores(joined["entity_id"], joined[true_col])
    carried = (joined["id_form"] != "missing").to_numpy()
    with_id = pairwise_scores(joined["entity_id"][carried], joined[true_col][carried])
    correct = everything.correct_pairs - with_id.correct_pairs
    predicted = everything.predicted_pairs - with_id.predicted_pairs
    true = everything.true_pairs - with_id.true_pairs
    precision = correct / predicted if predicted else 1.0
    recall = correct / true if true else 1.0
    name_only = PairScores(precision, recall, _f1(precision, recall), true, predicted, correct)
    return {
        "with_id": with_id.as_dict() | {"mentions": int(carried.sum())},
        "name_only": name_only.as_dict() | {"mentions": int((~carried).sum())},
    }


def score_run(run_dir: Path, world_dir: Path, entities: pd.DataFrame | None = None) -> dict:
    """Score RUN's clustering (entities.parquet, or `entities`) against WORLD/truth.

    Returns {"person": {...}, "company": {...}}: mentions, entities (predicted) and
    true_entities (distinct true ids among the mentions), pairwise precision / recall / f1
    with the pair counts, b3_precision / b3_recall / b3_f1, and for persons
    common_name_precision, common_name_mentions and common_name_predicted_pairs (see
    `common_name_precision`), and `with_id` / `name_only` pair scores (see
    `identifier_split`); `outside_main` per kind (see `outside_main_entity`). Every
    mention of the truth must have exactly one entity row of its type and vice versa, else
    MentionMismatch says how many differ and shows one.
    """
    if entities is None:
        entities = pd.read_parquet(Path(run_dir) / "entities.parquet", columns=ENTITY_COLUMNS)
    unknown = ~entities["entity_type"].isin(ENTITY_TYPES)
    if unknown.any():
        example = entities.loc[unknown, "entity_type"].iloc[0]
        raise MentionMismatch(f"{int(unknown.sum())} entity rows have entity_type {example!r}")
    truth_dir = Path(world_dir) / "truth"
    out: dict[str, dict] = {}
    for kind in ENTITY_TYPES:
        file, true_col = _TRUTH[kind]
        variations = [c for c in _VARIATIONS[kind] if c != "source"]
        truth = pd.read_parquet(truth_dir / file, columns=[*KEY, true_col, *variations])
        mine = entities.loc[entities["entity_type"] == kind, [*KEY, "entity_id"]]
        joined = _reconciled(mine, truth, kind)
        if joined["entity_id"].isna().any():
            n = int(joined["entity_id"].isna().sum())
            example = tuple(joined.loc[joined["entity_id"].isna(), KEY].iloc[0])
            raise MentionMismatch(f"{n} {kind} mentions have a null entity_id, e.g. {example}")
        scores = score_clustering(joined["entity_id"], joined[true_col])
        scores["outside_main"] = outside_main_entity(joined, true_col, _VARIATIONS[kind])
        if kind == "person":
            scores |= identifier_split(joined, true_col)
            persons = pd.read_parquet(truth_dir / "persons.parquet", columns=[true_col, "name"])
            names = persons.set_index(true_col)["name"]
            precision, mentions, pairs = common_name_precision(
                joined["entity_id"], joined[true_col], names
            )
            scores |= {
                "common_name_precision": precision,
                "common_name_mentions": mentions,
                "common_name_predicted_pairs": pairs,
            }
        out[kind] = scores
    return out


def _entities(frame: pd.DataFrame, key: str, kind: str) -> pd.DataFrame:
    """One entity per distinct (name, key) with both present; every other mention alone."""
    complete = (frame["name"].notna() & frame[key].notna()).to_numpy()
    group = np.full(len(frame), -1, dtype=np.int64)
    group[complete] = frame[complete].groupby(["name", key], sort=False).ngroup().to_numpy()
    alone = ~complete
    group[alone] = (group.max(initial=-1) + 1) + np.arange(int(alone.sum()))
    prefix = "p" if kind == "person" else "c"
    return pd.DataFrame(
        {
            "source": frame["source"].to_numpy(),
            "record_id": frame["record_id"].to_numpy(),
            "slot": frame["slot"].to_numpy(),
            "entity_type": kind,
            "entity_id": (f"exact-{prefix}" + pd.Series(group).astype(str)).to_numpy(),
            "confidence": 1.0,
        }
    )


def exact_baseline(run_dir: Path) -> pd.DataFrame:
    """Baseline "exact (name + full ID)", in the columns of entities.parquet.

    Persons: one entity per (name, id_token), the token existing only for full (or
    upgraded 15-digit) resident IDs; a mention without a token stands alone. Companies:
    one entity per (name, uscc); a mention without a USCC stands alone.
    """
    run_dir = Path(run_dir)
    persons = pd.read_parquet(
        run_dir / "person_mentions.parquet", columns=[*KEY, "name", "id_token"]
    )
    companies = pd.read_parquet(
        run_dir / "company_mentions.parquet", columns=[*KEY, "name", "uscc"]
    )
    return pd.concat(
        [_entities(persons, "id_token", "person"), _entities(companies, "uscc", "company")],
        ignore_index=True,
    )


_COLUMNS = (
    ("P", "precision"),
    ("R", "recall"),
    ("F1", "f1"),
    ("B3-P", "b3_precision"),
    ("B3-R", "b3_recall"),
    ("B3-F1", "b3_f1"),
    ("name-P", "common_name_precision"),
)


def format_scores(scores: dict) -> str:
    """A fixed-width table: one row per method and entity type.

    `scores` maps method name -> a `score_run` result; a bare `score_run` result is shown
    as one unnamed method. name-P is the common-name precision (persons only); entities is
    found / true.
    """
    if scores and set(scores) <= set(ENTITY_TYPES):
        scores = {"-": scores}
    width = max([len("method"), *(len(m) for m in scores)])
    head = f"{'method':<{width}}  {'type':<10}" + "".join(f"{c:>8}" for c, _ in _COLUMNS)
    lines = [head + f"{'mentions':>10}{'entities':>20}"]
    for method, result in scores.items():
        for kind in ENTITY_TYPES:
            if kind not in result:
                continue
            s = result[kind]
            cells = "".join(
                f"{s[k]:>8.4f}" if isinstance(s.get(k), float) else f"{'':>8}" for _, k in _COLUMNS
            )
            found = f"{s['entities']:,} / {s['true_entities']:,}"
            lines.append(f"{method:<{width}}  {kind:<10}{cells}{s['mentions']:>10,}{found:>20}")
            for part, label in (("with_id", " with ID"), ("name_only", " name only")):
                if part in s:
                    p = s[part]
                    shown = f"{p['precision']:>8.4f}{p['recall']:>8.4f}{p['f1']:>8.4f}"
                    lines.append(f"{'':<{width}}  {label:<10}{shown}{'':>32}{p['mentions']:>10,}")
    return "\n".join(lines)
