"""`veil world --habits`: the agencies' habits as a validated option, written as asked."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from config.errors import ConfigError
from loaders.run import load_run
from service.cli import app
from world.extract import BAD_RATIO, RATIO_TOO_HIGH
from world.habits import Habits, load_habits, mask

# Generates a world per habit.
pytestmark = pytest.mark.slow

SECRET = b"test-secret"
ID = "110101199001011234"


def _world(tmp_path: Path, habits: str) -> Path:
    """A 300-company world (seed 5) written with the habits in YAML text `habits`.

    Its own world per test, not the session's (conftest.py): each is written with other
    habits, and the test checks the extracts they make."""
    habits_file = tmp_path / "habits.yaml"
    habits_file.write_text(habits, "utf-8")
    out = tmp_path / "world"
    result = CliRunner().invoke(
        app,
        [
            "world",
            "--companies",
            "300",
            "--seed",
            "5",
            "--out",
            str(out),
            "--habits",
            str(habits_file),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize(
    ("pattern", "character", "expected"),
    [
        ("6+4", "*", "110101********1234"),
        ("4+4", "#", "1101##########1234"),
        ("3+4", "*", "110***********1234"),
        ("1+1", "●", "1●●●●●●●●●●●●●●●●4"),
        ("birth", "×", "××××××19900101××××"),
    ],
)
def test_mask_patterns(pattern: str, character: str, expected: str) -> None:
    assert mask(ID, pattern, character) == expected  # type: ignore[arg-type]


def test_bad_habits_name_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "habits.yaml"
    path.write_text('mask_patterns: {"6+4": 0.5, "5+5": 0.5}\nmask_colour: red\n', "utf-8")
    with pytest.raises(ConfigError) as err:
        load_habits(path)
    text = str(err.value)
    assert str(path) in text and "mask_patterns.5+5" in text and "mask_colour" in text
    path.write_text('mask_patterns: {"6+4": 0.5, "4+4": 0.6}\n', "utf-8")
    with pytest.raises(ConfigError, match="sum to 1"):
        load_habits(path)
    result = CliRunner().invoke(app, ["world", "--out", str(tmp_path / "w"), "--habits", str(path)])
    assert result.exit_code == 1 and "sum to 1" in result.output
    assert not (tmp_path / "w").exists()


def test_a_world_masks_as_its_habits_say(tmp_path: Path) -> None:
    habits_file = tmp_path / "habits.yaml"
    habits_file.write_text('mask_patterns: {"4+4": 0.5, birth: 0.5}\nmask_characters: {"#": 1}\n')
    out = tmp_path / "world"
    result = CliRunner().invoke(
        app,
        [
            "world",
            "--companies",
            "200",
            "--seed",
            "3",
            "--out",
            str(out),
            "--habits",
            str(habits_file),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        json.loads((out / "world.json").read_text())["habits"]
        == Habits.model_validate(
            {"mask_patterns": {"4+4": 0.5, "birth": 0.5}, "mask_characters": {"#": 1}}
        ).model_dump()
    )
    truth = pd.read_parquet(out / "truth" / "person_mentions.parquet")
    punished = truth[truth["source"] == "punishments"]
    masked = punished[punished["id_form"].str.startswith("masked")]
    assert set(masked["id_form"]) == {"masked_4+4", "masked_birth"}
    # The court keeps its own 6+4.
    court = truth[truth["source"] == "judgment_defaulters"]
    assert set(court["id_form"]) <= {"masked_6+4", "missing"}

    run = tmp_path / "run"
    load_run(out / "sources.yaml", run, secret=SECRET)
    mentions = pd.read_parquet(run / "person_mentions.parquet")
    loaded = mentions.merge(masked, on=["source", "record_id", "slot"])
    assert len(loaded) == len(masked) > 0
    assert (loaded["id_kind"] == "masked").all()
    four = loaded[loaded["id_form"] == "masked_4+4"]
    assert four["id_display"].str.fullmatch(r"[0-9]{4}\*{10}[0-9]{3}[0-9X]").all()
    birth = loaded[loaded["id_form"] == "masked_birth"]
    assert birth["birth_date"].notna().all()
    assert birth["id_display"].str.fullmatch(r"\*{6}[0-9]{8}\*{4}").all()


def test_a_world_writes_shares_codes_and_start_dates_as_its_habits_say(tmp_path: Path) -> None:
    """Every company files shares as fractions (a whole holding is "1"), every registry row
    drops the industry's section letter, every key-personnel row leaves 任职日期 blank: the
    load reads each by evidence and says so in the manifest."""
    out = _world(tmp_path, 'ratio_forms: {"0.35": 1}\nindustry_without_letter: 1\nblank_start: 1\n')
    extract = pd.read_csv(out / "extracts/equity/shareholders.csv", encoding="gb18030", dtype=str)
    whole = extract.loc[extract["出资比例"] == "1", "记录编号"]
    planted = {BAD_RATIO, RATIO_TOO_HIGH}  # the world's planted damage, quarantined
    assert len(whole) > 0
    assert set(extract.loc[extract["出资比例"].str.endswith("%"), "出资比例"]) <= planted
    registry = pd.read_csv(out / "extracts/registry/company_registry.csv", dtype=str)
    assert registry["行业代码"].dropna().str.fullmatch(r"[0-9]{4}").all()

    run = tmp_path / "run"
    manifest = load_run(out / "sources.yaml", run, secret=SECRET)
    shares = pd.read_parquet(run / "shareholdings.parquet")
    assert (shares.set_index("record_id").loc[whole, "ratio"] == 1.0).all()
    assert "ratio_below_one_undecided:出资比例" not in manifest["sources"]["shareholders"]["doubts"]
    companies = pd.read_parquet(run / "company_mentions.parquet")
    codes = companies.loc[companies["source"] == "company_registry", "industry_code"].dropna()
    assert len(codes) > 0 and codes.str.fullmatch(r"[A-T][0-9]{4}").all()
    inferred = manifest["sources"]["company_registry"]["values_inferred"]
    assert inferred["industry_section_added:行业代码"] == len(codes)
    roles = pd.read_parquet(run / "roles.parquet")
    officers = roles[roles["source"] == "key_personnel"]
    assert len(officers) > 0 and officers["valid_from"].isna().all()


def test_punishments_name_the_party_without_its_uscc_as_the_habits_say(tmp_path: Path) -> None:
    out = _world(tmp_path, "punishment_uscc: 0\n")
    run = tmp_path / "run"
    load_run(out / "sources.yaml", run, secret=SECRET)
    companies = pd.read_parquet(run / "company_mentions.parquet")
    parties = companies[companies["source"] == "punishments"]
    assert len(parties) > 0 and parties["uscc"].isna().all()


def test_key_personnel_carry_ids_as_the_habits_say(tmp_path: Path) -> None:
    """An internal extract of 主要人员 with its 证件号码 column: each row's ID full, masked
    in the agencies' mix, or blank; the truth records which, and the load reads them."""
    out = _world(
        tmp_path,
        'key_personnel_ids: {full: 0.5, masked: 0.3, none: 0.2}\nmask_patterns: {"4+4": 1}\n',
    )
    truth = pd.read_parquet(out / "truth" / "person_mentions.parquet")
    officers = truth[truth["source"] == "key_personnel"]
    shares = officers["id_form"].value_counts(normalize=True)
    assert set(shares.index) == {"full", "masked_4+4", "missing"}
    assert abs(shares["full"] - 0.5) < 0.05 and abs(shares["masked_4+4"] - 0.3) < 0.05

    run = tmp_path / "run"
    load_run(out / "sources.yaml", run, secret=SECRET)
    mentions = pd.read_parquet(run / "person_mentions.parquet")
    loaded = mentions.merge(officers, on=["source", "record_id", "slot"])
    assert len(loaded) == len(officers)
    by_form = loaded.groupby("id_form")["id_kind"].agg(lambda v: set(v.dropna()))
    assert by_form["full"] == {"18"} and by_form["masked_4+4"] == {"masked"}
    assert loaded.loc[loaded["id_form"] == "missing", "id_kind"].isna().all()


def test_key_personnel_name_only_by_default(tmp_path: Path) -> None:
    assert not Habits().key_personnel_carry_ids()
    assert Habits.model_validate(
        {"key_personnel_ids": {"none": 0.9, "full": 0.1}}
    ).key_personnel_carry_ids()


def test_shareholder_ids_as_the_habits_say_and_no_legacy_id_after_1999(tmp_path: Path) -> None:
    out = _world(tmp_path, "shareholder_ids: {full: 0.5, legacy15: 0.5}\n")
    truth = pd.read_parquet(out / "truth" / "person_mentions.parquet")
    holders = truth[truth["source"] == "shareholders"]
    assert set(holders["id_form"]) == {"full", "legacy15"}
    people = pd.read_parquet(out / "truth" / "persons.parquet")
    born = people.set_index("true_person_id")["birth_date"]
    legacy = holders.loc[holders["id_form"] == "legacy15", "true_person_id"]
    assert len(legacy) > 0 and (pd.to_datetime(born.reindex(legacy)) < "1999-01-01").all()


def test_key_personnel_names_with_look_alike_characters(tmp_path: Path) -> None:
    out = _world(tmp_path, "name_look_alike: 1\n")
    truth = pd.read_parquet(out / "truth" / "person_mentions.parquet")
    officers = truth[truth["source"] == "key_personnel"]
    swapped = officers[officers["name_form"] == "look_alike"]
    assert len(swapped) > 0.2 * len(officers)
    people = pd.read_parquet(out / "truth" / "persons.parquet").set_index("true_person_id")
    extract = pd.concat(
        pd.read_excel(f, sheet_name="主要人员", dtype=str, engine="calamine")
        for f in sorted((out / "extracts/personnel").glob("*.xlsx"))
    ).set_index("序号")
    written = extract.loc[swapped["record_id"], "姓名"].to_numpy()
    true = people.loc[swapped["true_person_id"], "name"].to_numpy()
    differ = [
        sum(a != b for a, b in zip(w, t, strict=True)) for w, t in zip(written, true, strict=True)
    ]
    assert set(differ) == {1}
