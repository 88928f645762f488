"""Training cannot fail on the shape of the data, and says what the data could not teach.

Hand-made company mentions reproduce the crash seen on a real world (a level met in an EM
block only among non-matches: Splink's EM drives its m below 1e-300 and raises); veil's
training finishes on them and records the value it used instead. The EM itself is checked
on pattern counts drawn from known parameters; the exact u counts on small frames.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config.linkage import Training
from linkage import em, exact_u, models, training
from linkage.deterministic import COMPANY_IDENTIFIERS, identifier_links, provisional_entities

REGIONS = ["上海", "北京", "广州", "深圳", "杭州", "成都"]


def _company(i: int, name_id: int, uscc: str | None, address: str | None, source: str) -> dict:
    region = REGIONS[name_id % len(REGIONS)]
    core = f"星河{name_id:03d}"
    canonical = f"{region}{core}食品有限公司"
    return {
        "mention_id": i,
        "source": source,
        "record_id": f"{source}-{i}",
        "slot": "company",
        "name": canonical,
        "name_canonical": canonical,
        "name_region": region,
        "name_core": core,
        "name_industry": "食品",
        "name_legal_form": "有限公司",
        "name_core_pinyin": f"xing he {name_id}",
        "name_is_branch": False,
        "name_is_romanised": False,
        "name_industry_latin": "|food|",
        "former_canonical": [],
        "name_keys": [canonical],
        "uscc": uscc,
        "org_code": None if uscc is None else uscc[8:17],
        "reg_no": None,
        "region_code": None if uscc is None else uscc[2:8],
        "address": address,
    }


def _uscc(n: int) -> str:
    return f"91310000{n:09d}X"


def namesake_frame() -> pd.DataFrame:
    """60 companies, each in a registry row, a licence (same USCC and address) and a
    key-personnel row (name only); and 12 namesakes: another company under an existing
    company's full name, with its own USCC and address. In the same-name block the true
    matches never have different addresses; only the namesakes do."""
    rows: list[dict] = []
    for k in range(60):
        address = f"上海市黄浦区南京路{k}号"
        rows.append(_company(len(rows), k, _uscc(k), address, "company_registry"))
        rows.append(_company(len(rows), k, _uscc(k), address, "food_licences"))
        rows.append(_company(len(rows), k, None, None, "key_personnel"))
    for k in range(12):
        rows.append(
            _company(len(rows), k, _uscc(1000 + k), f"北京市海淀区{k}路", "company_registry")
        )
    return pd.DataFrame(rows)


def _provisional(frame: pd.DataFrame) -> np.ndarray:
    links = identifier_links(frame, COMPANY_IDENTIFIERS)
    return provisional_entities(frame, links, [["name_canonical"]])


@pytest.mark.slow
def test_splink_em_fails_on_the_block_where_veil_records_a_fallback(tmp_path: Path) -> None:
    frame = namesake_frame()
    provisional = _provisional(frame)
    config = Training(u_max_pairs=1e4)

    # The failure as seen: Splink 5's own EM over the same-name block raises.
    con = models.connect(tmp_path / "duckdb")
    try:
        optional = models.optional_fields(frame, models.COMPANY, config.min_field_coverage)
        linker, _ = models._linker(
            frame.copy(), models.COMPANY, models.settings(models.COMPANY, optional), con, "raw"
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=1e4, seed=1)
        logging.getLogger("splink").setLevel(logging.ERROR)
        with pytest.raises(ValueError, match="below the minimum allowed"):
            linker.training.estimate_parameters_using_expectation_maximisation(
                "l.name_canonical = r.name_canonical", estimate_without_term_frequencies=True
            )
    finally:
        con.close()

    # veil's training finishes and says what it could not learn, and from which block.
    model = training.train(frame, models.COMPANY, config, provisional, tmp_path / "duckdb")
    try:
        record = model.training
        fix = next(f for f in record.fixes if (f.comparison, f.level) == ("address", "else"))
        assert fix.parameter == "m" and fix.source == "floor"
        assert "l.name_canonical = r.name_canonical" in fix.why
        level = _level(model.as_dict(), "address", "else")
        assert fix.value == pytest.approx(
            min(max(config.unobserved_m, level["u_probability"] * 2.0**-20), 1.0), rel=0.2
        )
        assert level["m_probability"] > 0
        # The fix is saved with the model, and the model still scores.
        model.save(tmp_path / "company.json")
        saved = json.loads((tmp_path / "company.json").read_text(encoding="utf-8"))
        assert any(
            f["comparison"] == "address" and f["level"] == "else"
            for f in saved[models.TRAINING_KEY]["fixes"]
        )
        scored = model.predict(0.5)
        assert len(scored) > 0
    finally:
        model.close()

    # Trained again with that model saved: the saved value replaces the floor.
    again = training.train(
        frame, models.COMPANY, config, provisional, tmp_path / "duckdb", tmp_path / "company.json"
    )
    try:
        fixes = again.training.fixes
        fix = next(f for f in fixes if (f.comparison, f.level) == ("address", "else"))
        assert fix.source == "saved model"
        assert again.training.previous_model == str(tmp_path / "company.json")
    finally:
        again.close()


def _level(model: dict, comparison: str, label: str) -> dict:
    for c in model["comparisons"]:
        if c["output_column_name"] == comparison:
            for level in c["comparison_levels"]:
                if level["label_for_charts"] == label:
                    return level
    raise KeyError((comparison, label))


@pytest.mark.slow
def test_em_that_does_not_settle_is_not_trusted(tmp_path: Path) -> None:
    frame = namesake_frame()
    config = Training(u_max_pairs=1e4, em_max_iterations=1, em_tolerance=1e-12)
    model = training.train(frame, models.COMPANY, config, _provisional(frame), tmp_path / "d")
    try:
        unsettled = [f for f in model.training.fixes if "did not settle" in f.why]
        assert unsettled and all(f.source == "not used" for f in unsettled)
        assert not any(b.converged for b in model.training.blocks if b.pairs)
        # Every level still has a usable m.
        for comparison in model.as_dict()["comparisons"]:
            for level in em.non_null_levels(comparison):
                assert 0 < level["m_probability"] <= 1
    finally:
        model.close()


def _draw_patterns(
    rng: np.random.Generator, m: list[np.ndarray], u: list[np.ndarray], share: float, n: int
) -> em.PatternCounts:
    matches = rng.random(n) < share
    columns = []
    for mc, uc in zip(m, u, strict=True):
        codes = np.where(
            matches, rng.choice(len(mc), size=n, p=mc), rng.choice(len(uc), size=n, p=uc)
        )
        columns.append(codes)
    gammas = np.column_stack(columns)
    patterns, counts = np.unique(gammas, axis=0, return_counts=True)
    return em.PatternCounts(patterns, counts.astype(float), np.zeros(len(counts)))


def test_em_recovers_known_parameters_and_survives_an_unseen_level() -> None:
    rng = np.random.default_rng(3)
    m = [np.array([0.85, 0.1, 0.05]), np.array([0.7, 0.3, 0.0])]
    u = [np.array([0.01, 0.09, 0.9]), np.array([0.05, 0.15, 0.8])]
    counts = _draw_patterns(rng, m, u, 0.3, 200_000)
    start = [np.full(3, 1 / 3), np.full(3, 1 / 3)]
    result = em.expectation_maximisation(counts, u, start, 0.5, 500, 1e-5)
    assert result.converged
    assert result.match_share == pytest.approx(0.3, abs=0.01)
    for got, want in zip(result.m, m, strict=True):
        np.testing.assert_allclose(got, want, atol=0.01)
    # The third level of the second comparison occurs only among non-matches: its m heads
    # for zero without failing.
    assert result.m[1][2] < 2e-3
    assert result.matches_at[1][2] < 1e-3 * result.matches_at[1].sum()


def test_gamma_sql_follows_level_order() -> None:
    comparison = models.company_comparisons(set())[1]
    sql = em.gamma_sql(comparison)
    assert sql.startswith("CASE WHEN") and sql.endswith("ELSE 1 END")
    assert "THEN -1" in sql and "THEN 0" in sql


def test_agreeing_pairs_and_the_identifier_union() -> None:
    frame = pd.DataFrame(
        {
            "uscc": ["A", "A", "B", None, None],
            "org_code": ["a", "a", "b", "b", None],
            "reg_no": [None, "r", None, None, "r"],
        }
    )
    assert exact_u.agreeing_pairs(frame, ["uscc"]) == 1
    agree, comparable = exact_u._same_identifier(frame)
    # pairs (0,1) by uscc/org, (2,3) by org, (1,4) by reg_no
    assert agree == 3
    # every pair with an identifier on both sides of one kind: rows 0-3 share org presence
    # (6 pairs), and 1-4 share reg_no (1 more)
    assert comparable == 7


def test_masked_ids_agree_at_the_rate_of_strangers_full_ids() -> None:
    frame = pd.DataFrame(
        {
            "id_token": ["t1", "t2", None, None, "t3"],
            "id_visible": ["110101********1234"] * 4 + ["320101********9999"],
            "birth_date": ["1990-01-01", "1980-01-01", None, None, "1970-01-01"],
            "id_masked": [False, False, True, True, False],
        }
    )
    court = exact_u._masked_id(0)  # 6+4, the strongest masked level
    agree, comparable = court(frame)
    # The two masked rows may be t1's or t2's own mentions: they do not count as strangers.
    # Strangers' full IDs agree in 1 of their 3 pairs; 7 of the 10 pairs have a masked side.
    assert agree == pytest.approx(7 / 3) and comparable == 10
    assert exact_u._same_id(frame) == (0, 10)
    assert exact_u.u_from_counts(0, 10) == pytest.approx(0.05)
    assert exact_u.u_from_counts(0, 0) is None
    # Without two full IDs the masked pairs are counted as they are.
    only_masked = frame.iloc[1:4]
    assert court(only_masked) == (3, 3)


def test_brand_pairs_exclude_exact_names_and_other_regions() -> None:
    frame = pd.DataFrame(
        {
            "name_canonical": [
                "上海星河食品有限公司",
                "上海星河食品有限公司",
                "星河食品有限公司",
                "北京星河食品有限公司",
                "上海月亮食品有限公司",
            ],
            "name_core": ["星河", "星河", "星河", "星河", "月亮"],
            "name_industry": ["食品"] * 5,
            "name_legal_form": ["有限公司"] * 5,
            "name_region": ["上海", "上海", None, "北京", "上海"],
        }
    )
    agree, comparable = exact_u._same_brand(frame)
    # compatible: (0,1) same region, (0,2) (1,2) (2,3) one unknown; (0,1) is exact: 3 left
    assert agree == 3 and comparable == 10


def test_brand_sound_pairs_exclude_the_same_brand() -> None:
    frame = pd.DataFrame(
        {
            "name_canonical": [
                "上海星河食品有限公司",
                "上海兴河食品有限公司",
                "上海星河食品有限公司",
                "上海兴禾食品有限公司",
                "北京兴河食品有限公司",
            ],
            "name_core": ["星河", "兴河", "星河", "兴禾", "兴河"],
            "name_core_pinyin": ["xing he"] * 5,
            "name_industry": ["食品"] * 5,
            "name_legal_form": ["有限公司"] * 5,
            "name_region": ["上海", "上海", "上海", "上海", "北京"],
        }
    )
    agree, comparable = exact_u._same_brand_sound(frame)
    # Shanghai: 4 of one sound (6 pairs), of which (0,2) share the brand: 5 left; Beijing
    # is another region
    assert agree == 5 and comparable == 10
    assert ("name", "same brand sound") in exact_u.COUNTED["company"]


def test_former_name_pairs_are_counted() -> None:
    frame = pd.DataFrame(
        {
            "name_canonical": [
                "甲食品有限公司",
                "乙食品有限公司",
                "丙食品有限公司",
                "戊食品有限公司",
            ],
            "former_canonical": [["乙食品有限公司"], [], ["丁食品有限公司"], ["丁食品有限公司"]],
        }
    )
    # 甲's former name is 乙's name (reused after a rename); 丙 and 戊 were both once 丁.
    assert exact_u._former_name(frame) == (2.0, 6.0)
    # Counted with the equal names, as one level.
    assert exact_u._registered_name(frame) == (2.0, 6.0)
    assert ("name", models.REGISTERED_NAME) in exact_u.COUNTED["company"]
