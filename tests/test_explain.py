"""`veil explain` on a small linked world: the score it shows is the one links.parquet holds,
the evidence is named, and no resident ID leaks (in full or as its token)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from config.errors import InputError
from linkage.explain import explain_pair, write_waterfall
from linkage.judgements import append_judgement
from service.cli import app

# Explains pairs of the session's linked world (conftest.py).
pytestmark = pytest.mark.slow

FULL_ID = re.compile(r"\d{17}[\dX]")
#: In HTML, an ID would be a standalone 18-character run; the inlined chart libraries hold
#: long numeric constants (".000740702534166267") that are not IDs.
FULL_ID_IN_HTML = re.compile(r"(?<![\d.eE+-])\d{17}[\dX](?!\d)")


@pytest.fixture(scope="module")
def run(linked_run: Path) -> Path:
    """The session's linked world (conftest.py); read only."""
    return linked_run


@pytest.fixture(scope="module")
def links(run: Path) -> pd.DataFrame:
    return pq.read_table(run / "links.parquet").to_pandas()


@pytest.fixture(scope="module")
def tokens(run: Path) -> set[str]:
    persons = pq.read_table(run / "person_mentions.parquet", columns=["id_token"]).to_pandas()
    return set(persons["id_token"].dropna())


def _model_link(links: pd.DataFrame, entity_type: str, comparison: str, level: str) -> pd.Series:
    """A merging model link whose levels include comparison=level."""
    rows = links[
        (links["entity_type"] == entity_type) & (links["evidence"] == "model") & links["merged"]
    ]
    for _, row in rows.iterrows():
        if any(lv["comparison"] == comparison and lv["level"] == level for lv in row["levels"]):
            return row
    raise AssertionError(f"no merged {entity_type} model link with {comparison}={level}")


def _two_people(run: Path) -> tuple[str, str]:
    """Two person mentions of different entities with different names and full IDs."""
    persons = pq.read_table(run / "person_mentions.parquet").to_pandas()
    entities = pq.read_table(run / "entities.parquet").to_pandas()
    persons = persons.merge(entities, on=["source", "record_id", "slot"])
    persons = persons[persons["id_kind"] == "18"]
    first = persons.iloc[0]
    other = persons[
        (persons["entity_id"] != first["entity_id"]) & (persons["name"].str[0] != first["name"][0])
    ].iloc[0]
    return tuple(f"{r['source']}:{r['record_id']}:{r['slot']}" for r in (first, other))


def _no_secret(text: str, tokens: set[str]) -> None:
    assert not FULL_ID.search(text)
    assert not any(token in text for token in tokens)


def test_a_merged_model_link_is_explained_with_the_weight_links_parquet_holds(
    run: Path, links: pd.DataFrame, tokens: set[str]
):
    row = _model_link(links, "person", "name", "exact")
    explanation = explain_pair(run, row["mention_l"], row["mention_r"])
    assert explanation.entity_type == "person"
    assert explanation.same_entity and explanation.verdict.startswith("one entity: P")
    assert [c.comparison for c in explanation.comparisons][:3] == [
        "name",
        "resident_id",
        "company_context",
    ]
    assert explanation.match_weight == pytest.approx(row["match_weight"], abs=1e-6)
    assert explanation.match_probability == pytest.approx(row["match_probability"], abs=1e-9)
    for mine, theirs in zip(explanation.comparisons, row["levels"], strict=True):
        assert (mine.comparison, mine.level) == (theirs["comparison"], theirs["level"])
        assert mine.match_weight == pytest.approx(theirs["match_weight"], abs=1e-6)
    # The TF adjustment (a common name counts for less) is part of the name's weight.
    name = explanation.comparisons[0]
    assert name.tf_adjustment != 0
    total = explanation.prior_match_weight + sum(c.match_weight for c in explanation.comparisons)
    assert total == pytest.approx(explanation.match_weight, abs=1e-6)
    _no_secret(json.dumps(explanation.as_dict(), ensure_ascii=False), tokens)


def test_explaining_in_either_order_gives_the_same_score(run: Path, links: pd.DataFrame):
    row = _model_link(links, "person", "resident_id", "same ID")
    forward = explain_pair(run, row["mention_l"], row["mention_r"])
    backward = explain_pair(run, row["mention_r"], row["mention_l"])
    assert forward.match_weight == pytest.approx(row["match_weight"], abs=1e-6)
    assert backward.match_weight == pytest.approx(forward.match_weight, abs=1e-9)
    assert forward.shared_identifiers == ["resident_id"]
    assert backward.a.ref == row["mention_r"]
    # The masked display is shown; it keeps only the region prefix and the last four.
    assert re.fullmatch(r"\d{6}\*{8}\d{3}[\dX]", forward.a.identifier)


def test_a_company_model_link_matches_links_parquet(run: Path, links: pd.DataFrame):
    rows = links[(links["entity_type"] == "company") & (links["evidence"] == "model")]
    row = rows.iloc[0]
    explanation = explain_pair(run, row["mention_l"], row["mention_r"])
    assert explanation.entity_type == "company"
    assert "identifiers" in [c.comparison for c in explanation.comparisons]
    assert explanation.match_weight == pytest.approx(row["match_weight"], abs=1e-6)


def test_two_different_people_score_low_and_stay_two(run: Path, tokens: set[str]):
    a, b = _two_people(run)
    explanation = explain_pair(run, a, b)
    assert not explanation.same_entity
    assert explanation.verdict == "two entities"
    assert explanation.match_weight < 0
    assert explanation.match_probability < 0.5
    assert explanation.shared_identifiers == []
    levels = {c.comparison: c.level for c in explanation.comparisons}
    assert levels["resident_id"] != "same ID"


def test_a_reviewers_judgement_is_shown(run: Path, links: pd.DataFrame, tmp_path: Path):
    work = tmp_path / "run"
    shutil.copytree(run, work)
    row = _model_link(links, "person", "name", "exact")
    append_judgement(
        work / "judgements.jsonl", row["mention_l"], row["mention_r"], "same", "li.na", "first"
    )
    append_judgement(
        work / "judgements.jsonl", row["mention_r"], row["mention_l"], "different", "wu", "later"
    )
    explanation = explain_pair(work, row["mention_l"], row["mention_r"])
    assert explanation.judgement is not None
    assert (explanation.judgement.verdict, explanation.judgement.reviewer) == ("different", "wu")
    assert explanation.as_dict()["judgement"]["reason"] == "later"


def test_the_waterfall_is_standalone_html_without_ids(
    run: Path, links: pd.DataFrame, tokens: set[str], tmp_path: Path
):
    row = _model_link(links, "person", "resident_id", "same ID")
    explanation = explain_pair(run, row["mention_l"], row["mention_r"])
    path = write_waterfall(explanation, tmp_path / "charts" / "pair.html")
    html = path.read_text(encoding="utf-8")
    assert "<html" in html.lower() and "vega" in html.lower()
    assert "cdn.jsdelivr" not in html
    assert not re.search(r"<script[^>]+src=[\"']https://cdn", html)
    assert "resident_id" in html
    assert explanation.a.identifier in html
    assert not FULL_ID_IN_HTML.search(html)
    assert not any(token in html for token in tokens)
    # A pair record with the model that scored it draws the same chart.
    again = write_waterfall(explanation.pair_record, tmp_path / "again.html", explanation.model)
    drawn = again.read_text(encoding="utf-8")
    assert "resident_id" in drawn and explanation.a.identifier in drawn
    assert not any(token in drawn for token in tokens)


def test_the_cli_prints_the_levels_and_the_verdict(
    run: Path, links: pd.DataFrame, tokens: set[str], tmp_path: Path
):
    row = _model_link(links, "person", "name", "exact")
    chart = tmp_path / "w.html"
    result = CliRunner().invoke(
        app,
        ["explain", row["mention_l"], row["mention_r"], "--run", str(run), "--html", str(chart)],
    )
    assert result.exit_code == 0, result.output
    for word in ("name", "resident_id", "company_context", "prior", "total", "one entity: P"):
        assert word in result.output
    assert str(chart) in result.output.replace("\n", "") and chart.is_file()
    _no_secret(result.output, tokens)


def test_the_cli_json_is_the_explanation(run: Path, links: pd.DataFrame, tokens: set[str]):
    row = _model_link(links, "person", "resident_id", "same ID")
    result = CliRunner().invoke(
        app, ["explain", row["mention_l"], row["mention_r"], "--run", str(run), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["match_weight"] == pytest.approx(row["match_weight"], abs=1e-6)
    assert data["shared_identifiers"] == ["resident_id"]
    assert data["verdict"].startswith("one entity")
    _no_secret(result.output, tokens)


def test_an_unknown_mention_is_named(run: Path, links: pd.DataFrame):
    known = links["mention_l"].iloc[0]
    result = CliRunner().invoke(app, ["explain", known, "nowhere:123:legal_rep", "--run", str(run)])
    assert result.exit_code == 1
    assert "nowhere:123:legal_rep" in result.output
    with pytest.raises(InputError, match="not a mention reference"):
        explain_pair(run, known, "no-colons")


def test_a_person_and_a_company_cannot_be_compared(run: Path, links: pd.DataFrame):
    person = links.loc[links["entity_type"] == "person", "mention_l"].iloc[0]
    company = links.loc[links["entity_type"] == "company", "mention_l"].iloc[0]
    result = CliRunner().invoke(app, ["explain", person, company, "--run", str(run)])
    assert result.exit_code == 1
    assert "person" in result.output and "company" in result.output


def test_an_unlinked_run_says_to_link_first(tmp_path: Path):
    with pytest.raises(InputError, match="veil link --run"):
        explain_pair(tmp_path, "a:1:x", "b:2:y")
