"""Scoring a clustering against the truth: hand-computed examples, and the session's world
end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from world.linkage_checks import (
    ENTITY_COLUMNS,
    KEY,
    MentionMismatch,
    bcubed_scores,
    common_name_precision,
    exact_baseline,
    format_scores,
    identifier_split,
    most_common_names,
    outside_main_entity,
    pairwise_scores,
    score_run,
)

# Scores the session's loaded world (conftest.py).
pytestmark = pytest.mark.slow

# Truth: a a a b b c (3 + 1 = 4 true pairs). Prediction: x x y y y z.
# Cells: (x,a)=2, (y,a)=1, (y,b)=2, (z,c)=1 -> correct = 1 + 1 = 2.
# Predicted pairs: x:1, y:3 -> 4.
TRUTH = ["a", "a", "a", "b", "b", "c"]
PRED = ["x", "x", "y", "y", "y", "z"]


def test_pairwise_by_hand() -> None:
    s = pairwise_scores(np.array(PRED), np.array(TRUTH))
    assert (s.true_pairs, s.predicted_pairs, s.correct_pairs) == (4, 4, 2)
    assert s.precision == 0.5 and s.recall == 0.5 and s.f1 == 0.5


def test_pairwise_matches_enumeration_on_random_labels() -> None:
    rng = np.random.default_rng(0)
    pred, truth = rng.integers(0, 15, 200), rng.integers(0, 10, 200)
    i, j = np.triu_indices(200, k=1)
    same_pred, same_truth = pred[i] == pred[j], truth[i] == truth[j]
    s = pairwise_scores(pd.Series(pred), pd.Series(truth))
    assert s.predicted_pairs == same_pred.sum()
    assert s.true_pairs == same_truth.sum()
    assert s.correct_pairs == (same_pred & same_truth).sum()


def test_bcubed_by_hand() -> None:
    # Per mention, |cell| / |pred|: 2/2 2/2 1/3 2/3 2/3 1/1 -> (1+1+1/3+2/3+2/3+1)/6 = 14/18
    # |cell| / |truth|:            2/3 2/3 1/3 2/2 2/2 1/1 -> (2/3+2/3+1/3+1+1+1)/6 = 14/18
    p, r, f = bcubed_scores(PRED, TRUTH)
    assert p == pytest.approx(14 / 18) and r == pytest.approx(14 / 18)
    assert f == pytest.approx(14 / 18)


def test_truth_against_itself_is_perfect() -> None:
    s = pairwise_scores(TRUTH, TRUTH)
    assert (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0)
    assert bcubed_scores(TRUTH, TRUTH) == (1.0, 1.0, 1.0)


def test_singletons_have_no_recall_and_full_precision() -> None:
    alone = [str(i) for i in range(len(TRUTH))]
    s = pairwise_scores(alone, TRUTH)
    assert (s.precision, s.recall, s.predicted_pairs) == (1.0, 0.0, 0)
    p, r, _ = bcubed_scores(alone, TRUTH)
    assert p == 1.0 and r == pytest.approx((1 / 3 * 3 + 1 / 2 * 2 + 1) / 6)


def test_one_big_cluster_and_empty_input() -> None:
    s = pairwise_scores(["k"] * 6, TRUTH)
    assert (s.precision, s.recall) == (4 / 15, 1.0)
    empty = pairwise_scores([], [])
    assert (empty.precision, empty.recall, empty.true_pairs) == (1.0, 1.0, 0)


def test_length_mismatch_and_nulls_are_refused() -> None:
    with pytest.raises(ValueError, match="labels"):
        pairwise_scores(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="null"):
        pairwise_scores(["a", None], ["a", "b"])


def test_common_names_rank_by_distinct_persons_ties_by_name() -> None:
    names = pd.Series(
        ["张伟", "张伟", "张伟", "王芳", "王芳", "李娜", "李娜", "赵六"],
        index=["p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"],
    )
    assert most_common_names(names, top=3) == ["张伟", "李娜", "王芳"]


def test_common_name_precision_on_crafted_example() -> None:
    # Common names (top 1): 张伟, borne by p1 and p2. 王芳 (p3) is rarer.
    names = pd.Series(["张伟", "张伟", "王芳"], index=["p1", "p2", "p3"])
    truth = ["p1", "p1", "p2", "p2", "p3", "p3"]
    # e1 merges p1 with p2 (one mention each); e2 merges p2 with p3, which is out of scope.
    pred = ["e0", "e1", "e1", "e2", "e2", "e3"]
    precision, mentions, pairs = common_name_precision(pred, truth, names, top=1)
    # Subset: the four mentions of p1 and p2; predicted pairs inside it: (1, 2) only, wrong.
    assert (precision, mentions, pairs) == (0.0, 4, 1)
    precision, mentions, pairs = common_name_precision(truth, truth, names, top=1)
    assert (precision, mentions, pairs) == (1.0, 4, 2)
    with pytest.raises(ValueError, match="no name"):
        common_name_precision(["e"], ["p9"], names)


def test_identifier_split_by_hand() -> None:
    # TRUTH / PRED as above; the third and sixth mentions give a name only.
    joined = pd.DataFrame(
        {
            "entity_id": PRED,
            "true": TRUTH,
            "id_form": ["full", "masked_4+4", "missing", "full", "legacy15", "missing"],
        }
    )
    split = identifier_split(joined, "true")
    # With ID: x x y y (a a b b): true pairs a-a, b-b; predicted x-x, y-y; both correct.
    assert (split["with_id"]["true_pairs"], split["with_id"]["correct_pairs"]) == (2, 2)
    assert split["with_id"]["precision"] == 1.0 and split["with_id"]["mentions"] == 4
    # The rest of the pairs involve mention 3 (a, in y): true with the two other a's
    # (neither predicted), predicted with the two b's (neither true).
    name_only = split["name_only"]
    assert (name_only["true_pairs"], name_only["predicted_pairs"]) == (2, 2)
    assert name_only["correct_pairs"] == 0 and name_only["mentions"] == 2
    table = format_scores({"person": {**split, "mentions": 6, "entities": 3, "true_entities": 3}})
    assert " with ID" in table and " name only" in table


def test_format_scores_lists_every_method_and_type() -> None:
    row = {
        "mentions": 6,
        "entities": 3,
        "true_entities": 3,
        "precision": 1.0,
        "recall": 0.5,
        "f1": 2 / 3,
        "b3_precision": 1.0,
        "b3_recall": 0.5,
        "b3_f1": 2 / 3,
    }
    table = format_scores(
        {"veil": {"person": row | {"common_name_precision": 0.99}, "company": row}, "x": {}}
    )
    lines = table.splitlines()
    assert len(lines) == 3 and "name-P" in lines[0]
    assert "veil" in lines[1] and "0.9900" in lines[1] and "company" in lines[2]
    assert format_scores({"person": row}).splitlines()[1].startswith("-")


@pytest.fixture
def tiny(world_dir: Path, loaded_run: Path) -> tuple[Path, Path]:
    """The session's world and its loaded run (conftest.py); read only."""
    return world_dir, loaded_run


def _truth_entities(world: Path) -> pd.DataFrame:
    frames = []
    for kind, column in (("person", "true_person_id"), ("company", "true_company_id")):
        t = pd.read_parquet(world / "truth" / f"{kind}_mentions.parquet", columns=[*KEY, column])
        frames.append(
            t[KEY].assign(entity_type=kind, entity_id=t[column].to_numpy(), confidence=1.0)
        )
    return pd.concat(frames, ignore_index=True)[ENTITY_COLUMNS]


def test_truth_derived_entities_score_one(tiny: tuple[Path, Path]) -> None:
    world, run = tiny
    scores = score_run(run, world, _truth_entities(world))
    for kind in ("person", "company"):
        s = scores[kind]
        for measure in ("precision", "recall", "f1", "b3_precision", "b3_recall", "b3_f1"):
            assert s[measure] == 1.0, (kind, measure)
        assert s["entities"] == s["true_entities"] > 0
        assert s["true_pairs"] == s["correct_pairs"] > 0
    assert scores["person"]["common_name_precision"] == 1.0
    assert scores["person"]["common_name_mentions"] > 0
    outside = scores["person"]["outside_main"]
    assert {"full", "missing", "masked_6+4"} <= set(outside["id_form"])
    assert {"canonical", "pinyin"} <= set(outside["name_form"])
    assert all(
        v["outside"] == 0.0
        for kind in ("person", "company")
        for table in scores[kind]["outside_main"].values()
        for v in table.values()
    )


def test_mentions_outside_their_entity_are_counted_by_variation() -> None:
    joined = pd.DataFrame(
        {
            "true_person_id": ["A", "A", "A", "B", "B", "C"],
            "entity_id": ["e1", "e1", "e2", "e3", "e3", "e4"],
            "id_form": ["full", "full", "masked_4+4", "full", "masked_4+4", "full"],
        }
    )
    out = outside_main_entity(joined, "true_person_id", ("id_form",))
    # C has one mention and is left out; of A's three, the masked one sits apart.
    assert out["id_form"] == {
        "full": {"outside": 0.0, "mentions": 3},
        "masked_4+4": {"outside": 0.5, "mentions": 2},
    }


def test_exact_baseline_scores_plausibly(tiny: tuple[Path, Path], copy_run) -> None:
    world, loaded = tiny
    run = copy_run(loaded)  # the baseline's entities are written into it
    entities = exact_baseline(run)
    assert list(entities.columns) == ENTITY_COLUMNS
    assert entities["confidence"].dtype == np.float64
    (run / "entities.parquet").unlink(missing_ok=True)
    entities.to_parquet(run / "entities.parquet")
    scores = score_run(run, world)  # read from the run directory
    for kind in ("person", "company"):
        s = scores[kind]
        assert 0.9 <= s["precision"] <= 1.0, kind
        assert 0.0 < s["recall"] < 1.0, kind  # noisy names and missing IDs stay apart
        assert s["true_entities"] < s["entities"] <= s["mentions"]
    assert 0.0 <= scores["person"]["common_name_precision"] <= 1.0
    assert "exact" in format_scores({"exact": scores})


def test_unreconciled_mentions_are_refused(tiny: tuple[Path, Path]) -> None:
    world, run = tiny
    entities = _truth_entities(world)
    with pytest.raises(MentionMismatch, match=r"2 person mentions missing from the entities"):
        score_run(run, world, entities.drop(index=[0, 1]))
    extra = entities.iloc[[0]].assign(record_id="no-such-record")
    with pytest.raises(MentionMismatch, match=r"1 person mentions not in truth, e\.g\."):
        score_run(run, world, pd.concat([entities, extra], ignore_index=True))
    with pytest.raises(MentionMismatch, match="more than one entity row"):
        score_run(run, world, pd.concat([entities, entities.iloc[[0]]], ignore_index=True))
