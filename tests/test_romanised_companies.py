"""Company names in Latin letters (customs filings): read into region, trade-name sound,
industry and form, and joined to their company on those alone when the filing gives no
USCC."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from linkage.company_names import standardise_company_name
from linkage.models import COMPANY, MAX_NAME_BLOCK, add_blocking_keys
from linkage.run import link_run
from loaders.run import load_run
from service.cli import app

SECRET = b"test-secret"
KEY = ["source", "record_id", "slot"]


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A world whose customs filings all name the company in Latin letters, without the
    USCC (the column blanked, as an agency that does not print it), loaded and linked."""
    root = tmp_path_factory.mktemp("romanised")
    habits = root / "habits.yaml"
    habits.write_text("customs_romanised_names: 1\n", "utf-8")
    world = root / "world"
    result = CliRunner().invoke(
        app,
        [
            "world",
            "--companies",
            "2000",
            "--seed",
            "3",
            "--out",
            str(world),
            "--habits",
            str(habits),
        ],
    )
    assert result.exit_code == 0, result.output
    path = world / "extracts/customs/customs_filings.csv"
    filings = pd.read_csv(path, dtype=str, keep_default_na=False)
    filings["统一社会信用代码"] = ""
    filings.to_csv(path, index=False)
    run = root / "run"
    load_run(world / "sources.yaml", run, secret=SECRET)
    link_run(run, models_dir=run / "no-saved-models")
    return world, run


def test_customs_filings_are_written_in_latin_letters(linked: tuple[Path, Path]) -> None:
    world, _ = linked
    filings = pd.read_csv(world / "extracts/customs/customs_filings.csv", dtype=str)
    names = filings["企业名称"].dropna()
    assert len(names) > 20 and names.map(str.isascii).all()
    truth = pd.read_parquet(world / "truth/company_mentions.parquet")
    forms = truth.loc[truth["source"] == "customs_filings", "name_form"]
    assert set(forms) <= {"romanised", "former"} and (forms == "romanised").mean() > 0.9


def test_romanised_names_join_their_company_and_no_other(linked: tuple[Path, Path]) -> None:
    world, run = linked
    truth = pd.read_parquet(world / "truth/company_mentions.parquet")
    entities = pd.read_parquet(run / "entities.parquet")
    joined = truth.merge(entities[entities["entity_type"] == "company"], on=KEY)
    registry = joined[joined["source"] == "company_registry"].set_index("true_company_id")
    latin = joined[joined["name_form"] == "romanised"]
    theirs = registry["entity_id"].reindex(latin["true_company_id"]).to_numpy()
    right = latin["entity_id"].to_numpy() == theirs
    # A 股份有限公司 written plain "Co., Ltd." reads as 有限公司 and stays apart: a miss,
    # never a wrong company.
    assert right.mean() >= 0.9, f"{int((~right).sum())} of {len(latin)} apart"
    others = registry.reset_index().set_index("entity_id")["true_company_id"]
    wrong = [
        e
        for e, t in zip(latin["entity_id"], latin["true_company_id"], strict=True)
        if e in others.index and (others.loc[[e]] != t).any()
    ]
    assert wrong == []


def test_a_brand_sound_common_across_the_country_is_still_met_in_its_region():
    """Blocking caps a brand sound at MAX_NAME_BLOCK mentions. At 100,000 companies a third
    of the romanised names' sounds were shared by more mentions than that across the
    country, so a USCC-less "GUIYANG ZHONG YI FOOD COMPANY LIMITED" met no Chinese name at
    all; within its region the sound is rare and the pair is still scored."""
    names = ["贵阳中益食品有限公司", "GUIYANG ZHONG YI FOOD COMPANY LIMITED"]
    regions = ["上海", "北京", "广州", "深圳", "成都", "武汉"]
    names += [f"{regions[i % len(regions)]}忠义食品有限公司" for i in range(MAX_NAME_BLOCK)]
    parsed = [standardise_company_name(n) for n in names]
    frame = pd.DataFrame(
        {
            "name_core": [p.core for p in parsed],
            "name_core_pinyin": [p.core_pinyin for p in parsed],
            "name_legal_form": [p.legal_form for p in parsed],
            "name_region": [p.region or None for p in parsed],
        }
    )
    add_blocking_keys(frame, COMPANY)
    assert frame["name_core_pinyin"].iloc[0] == frame["name_core_pinyin"].iloc[1] == "zhongyi"
    assert frame["brand_sound_block"].isna().all()
    assert frame["name_region"].iloc[0] == frame["name_region"].iloc[1]
    assert frame["brand_sound_region_block"].iloc[:2].tolist() == ["zhongyi", "zhongyi"]
