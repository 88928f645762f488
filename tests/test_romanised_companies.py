"""Company names in Latin letters (customs filings): read into region, trade-name sound,
industry and form, and joined to their company on those alone when the filing gives no
USCC."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from config.linkage import EntityLinkage, LinkageConfig
from linkage.company_names import standardise_company_name
from linkage.models import (
    COMPANY,
    MAX_NAME_BLOCK,
    add_blocking_keys,
    rare_brand_sounds,
    rare_keys,
)
from linkage.run import link_run
from loaders.run import load_run
from service.cli import app

SECRET = b"test-secret"
KEY = ["source", "record_id", "slot"]


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A world whose customs filings all name the company in Latin letters, without the
    USCC (the column blanked, as an agency that does not print it), loaded and linked.

    Not the session's world (conftest.py): it is written with its own habit, then edited."""
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


@pytest.mark.slow
def test_customs_filings_are_written_in_latin_letters(linked: tuple[Path, Path]) -> None:
    world, _ = linked
    filings = pd.read_csv(world / "extracts/customs/customs_filings.csv", dtype=str)
    names = filings["企业名称"].dropna()
    assert len(names) > 20 and names.map(str.isascii).all()
    truth = pd.read_parquet(world / "truth/company_mentions.parquet")
    forms = truth.loc[truth["source"] == "customs_filings", "name_form"]
    assert set(forms) <= {"romanised", "former"} and (forms == "romanised").mean() > 0.9


def _romanised_placed(world: Path, run: Path) -> tuple[np.ndarray, list[str]]:
    """Per romanised mention, whether it is in its company's entity; and the entities of
    other companies that took one."""
    truth = pd.read_parquet(world / "truth/company_mentions.parquet")
    entities = pd.read_parquet(run / "entities.parquet")
    joined = truth.merge(entities[entities["entity_type"] == "company"], on=KEY)
    registry = joined[joined["source"] == "company_registry"].set_index("true_company_id")
    latin = joined[joined["name_form"] == "romanised"]
    theirs = registry["entity_id"].reindex(latin["true_company_id"]).to_numpy()
    right = latin["entity_id"].to_numpy() == theirs
    others = registry.reset_index().set_index("entity_id")["true_company_id"]
    wrong = [
        e
        for e, t in zip(latin["entity_id"], latin["true_company_id"], strict=True)
        if e in others.index and (others.loc[[e]] != t).any()
    ]
    return right, wrong


@pytest.mark.slow
def test_romanised_names_join_their_company_and_no_other(linked: tuple[Path, Path]) -> None:
    right, wrong = _romanised_placed(*linked)
    # A 股份有限公司 written plain "Co., Ltd." reads as 有限公司 and stays apart: a miss,
    # never a wrong company.
    assert right.mean() >= 0.9, f"{int((~right).sum())} of {len(right)} apart"
    assert wrong == []


@pytest.mark.slow
def test_a_romanised_name_joins_the_one_company_that_sounds_so(
    linked: tuple[Path, Path], tmp_path: Path
) -> None:
    """A romanised name's pair with its company counts how often different companies
    sound alike anywhere, so its probability falls as the run grows (0.986 at 100,000
    companies, under the 0.99 company threshold). Where only one identified company of
    its region and form sounds so, it joins at rare_name_threshold. Shown here by asking
    for more than any such pair reaches: without the rule the romanised names stay apart;
    with it they join their company, and no other."""
    world, linked_run = linked
    strict = LinkageConfig(company=EntityLinkage(match_threshold=0.999999, review_threshold=0.5))
    run = tmp_path / "run"
    shutil.copytree(linked_run, run)
    link_run(run, models_dir=linked_run / "models", config=strict)
    right, wrong = _romanised_placed(world, run)
    assert right.mean() < 0.5 and wrong == []
    rare = strict.model_copy(
        update={"company": strict.company.model_copy(update={"rare_name_threshold": 0.5})}
    )
    link_run(run, models_dir=linked_run / "models", config=rare)
    right, wrong = _romanised_placed(world, run)
    assert right.mean() >= 0.9 and wrong == []


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


def _named(names: list[str], usccs: list[str | None], former: list[list[str]]) -> pd.DataFrame:
    parsed = [standardise_company_name(n) for n in names]
    return pd.DataFrame(
        {
            "name_core_pinyin": [p.core_pinyin or None for p in parsed],
            "name_legal_form": [p.legal_form or None for p in parsed],
            "name_region": [p.region or None for p in parsed],
            "former_canonical": [
                [standardise_company_name(n).canonical for n in f] for f in former
            ],
            "uscc": usccs,
            "org_code": None,
            "reg_no": None,
        }
    )


def test_a_brand_sound_is_rare_where_one_identified_company_bears_it():
    """linkage.yaml's company rare_name_threshold: a romanised name or a same-sound slip
    joins on less evidence only where exactly one identified company of its region and
    legal form sounds so, by its name or a former one. Mentions without an identifier
    bear for no one; the region and the form must both be read."""
    names = [
        "上海星河食品有限公司",  # 0: identified
        "SHANGHAI XINGHE FOOD CO., LTD.",  # 1: no USCC, same sound, region and form
        "上海兴河食品有限公司",  # 2: a clerk's slip, no USCC
        "北京兴禾食品有限公司",  # 3: the same sound, another region: its own key
        "北京星禾食品有限公司",  # 4: ... borne by a second identified company there
        "XINGHE FOOD CO., LTD.",  # 5: no region read: no key at all
        "星河小吃店",  # 6: no legal form: no key
        "广州星和食品有限公司",  # 7: no identified company sounds so
        "广州星海食品有限公司",  # 8: identified, renamed from a name that sounds like 7's
    ]
    usccs = [None] * len(names)
    usccs[0], usccs[3], usccs[4], usccs[8] = (
        "91310000MA1FL0001X",
        "91110000MA1FL0002X",
        "91110000MA1FL0003X",
        "91440100MA1FL0004X",
    )
    former: list[list[str]] = [[] for _ in names]
    frame = _named(names, usccs, former)
    keys = rare_keys(frame, COMPANY)
    assert keys[0] == keys[1] == keys[2] != keys[3]
    assert keys[3] == keys[4]
    assert keys[5] is None and keys[6] is None
    provisional = np.arange(len(frame))
    rare = rare_brand_sounds(frame, provisional)
    assert keys[0] in rare and keys[3] not in rare and keys[7] not in rare
    # The two Beijing companies as one provisional entity (a shared identifier): one bearer.
    provisional[4] = 3
    assert keys[3] in rare_brand_sounds(frame, provisional)
    # 星海's former name 星禾 sounds like 7's: one bearer, by its former name.
    former[8] = ["星禾食品有限公司"]
    assert keys[7] in rare_brand_sounds(_named(names, usccs, former), provisional)
    # ... and a second bearer of 星河's sound in Shanghai, by a former name.
    former[8] = ["上海星禾食品有限公司"]
    assert keys[0] not in rare_brand_sounds(_named(names, usccs, former), provisional)
