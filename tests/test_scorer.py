"""The real-time pair scorer (linkage/scorer.py) gives Splink's predict, to 1e-6.

The session's linked world (conftest.py), its saved models loaded as `veil link` loads
them (same features, same term-frequency tables), and every candidate pair Splink's
predict scores, compared pair by pair: the match weight, the probability, and per
comparison the level and its weight (TF adjustment included). A few mentions are copied
with one feature changed so that the levels the world's blocked pairs never reach (a
person or company without a name, two full IDs that share only birth date and sex, a
company renamed with its brand kept) are scored as well.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from linkage import models
from linkage.features import KEY, company_context, company_features, person_features
from linkage.resolver import provisional_grouping
from linkage.scorer import PairScore, PairScorer
from loaders import rundir

pytestmark = pytest.mark.slow

#: How many mentions are copied with a change, per kind of change.
COPIES = 30


def _copies(
    frame: pd.DataFrame, rows: pd.Series, change: dict[str, object], tag: str
) -> pd.DataFrame:
    """COPIES of the rows where `rows` holds, with `change` applied (a callable value is
    applied to the column), as new mentions."""
    picked = frame[rows.to_numpy()].head(COPIES).copy()
    for column, value in change.items():
        picked[column] = picked[column].map(value) if callable(value) else [value] * len(picked)
    picked["record_id"] = picked["record_id"] + f"~{tag}"
    return picked


def _with_copies(frame: pd.DataFrame, entity_type: str) -> pd.DataFrame:
    """The features plus mentions made to reach the levels blocking rarely meets."""
    if entity_type == models.PERSON:
        named = frame["name_simplified"].notna() & frame["id_token"].notna()
        dated = named & frame["birth_date"].notna() & frame["sex"].notna()
        extra = [
            # blocked by the ID: the name's null level
            _copies(frame, named, {"name_simplified": None, "name_pinyin_key": None}, "noname"),
            # blocked by name and birth date: two full IDs agreeing on birth date and sex
            _copies(frame, dated, {"id_token": lambda t: f"{t}~other"}, "otherid"),
        ]
    else:
        branded = frame["uscc"].notna() & frame["name_core"].notna()
        renamed = {
            "name_canonical": lambda n: f"改{n}",
            "former_canonical": lambda _: [],
            "name_keys": lambda _: [],
        }
        unnamed = {
            "name_canonical": None,
            "former_canonical": lambda _: [],
            "name_keys": lambda _: [],
        }
        extra = [  # blocked by the USCC
            _copies(frame, branded, renamed, "renamed"),  # same brand
            _copies(frame, branded, unnamed, "noname"),  # the name's null level
        ]
    out = pd.concat([frame, *extra], ignore_index=True)
    out["mention_id"] = np.arange(len(out), dtype=np.int64)
    return out


def _features(run: Path, entity_type: str) -> pd.DataFrame:
    """The features `veil link` scored (persons with their company context)."""
    companies = company_features(run)
    if entity_type == models.COMPANY:
        return companies
    entities = rundir.entities(run, [*KEY, "entity_type", "entity_id"])
    mine = entities[entities["entity_type"] == models.COMPANY]
    ids = companies[KEY].merge(mine, on=KEY, how="left")["entity_id"].to_numpy(dtype=object)
    persons = person_features(run)
    persons["context"] = company_context(persons, companies, ids)
    return persons


def _with_phone_and_address(saved: Path, features: pd.DataFrame, out: Path) -> Path:
    """The person model with the optional phone and address comparisons (the world's
    persons carry neither: the trained model has none), m and u set by hand, and features
    that share a few phones and addresses."""
    model = json.loads(saved.read_text(encoding="utf-8"))
    for comparison in models.person_comparisons({"phone", "address"})[3:]:
        for level, (m, u) in zip(
            comparison["comparison_levels"][1:], [(0.7, 0.01), (0.3, 0.99)], strict=True
        ):
            level.update(m_probability=m, u_probability=u)
        model["comparisons"].append(comparison)
    out.write_text(json.dumps(model, ensure_ascii=False), encoding="utf-8")
    ids = features["mention_id"].to_numpy()
    features["phone"] = [f"1380000000{i % 4}" if i % 3 else None for i in ids]
    features["address"] = [f"XX路{i % 5}号" if i % 2 else None for i in ids]
    return out


@pytest.mark.parametrize(
    ("entity_type", "optional"),
    [(models.PERSON, False), (models.PERSON, True), (models.COMPANY, False)],
    ids=["person", "person-phone-address", "company"],
)
def test_scorer_equals_splink_predict(
    linked_run: Path, tmp_path: Path, entity_type: str, optional: bool
) -> None:
    features = _with_copies(_features(linked_run, entity_type), entity_type)
    saved = linked_run / "models" / f"{entity_type}.json"
    if optional:
        saved = _with_phone_and_address(saved, features, tmp_path / "person.json")
    _, provisional = provisional_grouping(features, entity_type)
    model = models.load(features, entity_type, saved, provisional)
    try:
        predictions = model.linker.inference.predict().as_pandas_dataframe()
        scorer = PairScorer.from_model(model)
        labels = dict(model.comparison_labels())
    finally:
        model.close()
    assert len(predictions) >= 1000

    rows = {int(r["mention_id"]): r for r in features.to_dict("records")}
    pairs = [
        (rows[int(a)], rows[int(b)])
        for a, b in zip(predictions["mention_id_l"], predictions["mention_id_r"], strict=True)
    ]
    started = time.perf_counter()
    scores: list[PairScore] = [scorer.score(a, b) for a, b in pairs]
    per_pair = (time.perf_counter() - started) / len(pairs)

    weights = np.array([s.match_weight for s in scores])
    delta = np.abs(weights - predictions["match_weight"].to_numpy())
    probabilities = np.array([s.match_probability for s in scores])
    assert np.abs(probabilities - predictions["match_probability"].to_numpy()).max() <= 1e-9
    tf_adjusted = 0
    for i, comparison in enumerate(scorer.comparisons):
        name = comparison.name
        gamma = predictions[f"gamma_{name}"].to_numpy()
        expected = predictions[f"mw_{name}"].to_numpy()
        if f"mw_tf_adj_{name}" in predictions:
            adjustment = predictions[f"mw_tf_adj_{name}"].to_numpy()
            expected = expected + adjustment
            tf_adjusted += int((adjustment != 0).sum())
        ours = [s.comparisons[i] for s in scores]
        wrong = [
            (j, labels[name][int(g)], o.level)
            for j, (g, o) in enumerate(zip(gamma, ours, strict=True))
            if labels[name][int(g)] != o.level
        ]
        assert not wrong, f"{name}: {len(wrong)} pairs at another level, e.g. {wrong[:3]}"
        assert np.abs(np.array([o.match_weight for o in ours]) - expected).max() <= 1e-6, name
        # every level of every comparison was compared
        assert set(np.unique(gamma)) == set(labels[name]), (name, np.unique(gamma))
    assert delta.max() <= 1e-6
    if entity_type == models.PERSON:
        assert tf_adjusted > 0
    print(
        f"\n{entity_type}: {len(pairs)} pairs, max |delta weight| {delta.max():.2e}, "
        f"{tf_adjusted} TF-adjusted, {per_pair * 1e6:.1f} us a pair, "
        f"comparisons {[c.name for c in scorer.comparisons]}"
    )


@pytest.mark.parametrize("entity_type", [models.PERSON, models.COMPANY])
def test_the_saved_term_frequencies_score_as_the_live_model(
    linked_run: Path, entity_type: str
) -> None:
    """`veil link` saved each model's term frequencies beside it: the scorer read from the
    run's files alone (PairScorer.from_run, no DuckDB) has the live model's tables and
    gives its weights exactly, and Splink's predict's to 1e-6, on every pair predict
    scores."""
    features = _features(linked_run, entity_type)
    saved = PairScorer.from_run(linked_run, entity_type)
    _, provisional = provisional_grouping(features, entity_type)
    model = models.load(
        features, entity_type, linked_run / "models" / f"{entity_type}.json", provisional
    )
    try:
        predictions = model.linker.inference.predict().as_pandas_dataframe()
        live = PairScorer.from_model(model)
    finally:
        model.close()
    assert saved.term_frequencies == live.term_frequencies
    if entity_type == models.PERSON:
        assert all(len(saved.term_frequencies[c]) > 100 for c in models.TF_COLUMNS[entity_type])
    assert len(predictions) >= 1000
    rows = {int(r["mention_id"]): r for r in features.to_dict("records")}
    pairs = [
        (rows[int(a)], rows[int(b)])
        for a, b in zip(predictions["mention_id_l"], predictions["mention_id_r"], strict=True)
    ]
    from_files = np.array([saved.score(a, b).match_weight for a, b in pairs])
    from_model = np.array([live.score(a, b).match_weight for a, b in pairs])
    assert np.abs(from_files - from_model).max() == 0
    assert np.abs(from_files - predictions["match_weight"].to_numpy()).max() <= 1e-6
