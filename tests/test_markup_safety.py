"""Data is never markup: names, headers and arguments print as they are, through the real CLI.

Rich reads `[...]` as markup and `:x:` as an emoji code unless told not to; a company named
`[/]` once crashed `veil controls` with a MarkupError and `:x:` printed as an emoji. Each
case here puts such strings into user data (a sources.yaml, a CSV header, a company or
person name in the graph, a reviewer's name) and checks the command prints them literally.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import neo4j
import pytest
import yaml
from graph_runs import RunBuilder, cid, pid
from typer.testing import CliRunner, Result

from graph.load import load_run
from graph.server.connection import Neo4jSettings
from service.cli import app

HOSTILE = ("[/]", "[bold]x[/bold]", ":x:")
WIDE = {"COLUMNS": "400"}  # whole names on one line, so a table cell is never folded


def _invoke(args: list[str]) -> Result:
    return CliRunner().invoke(app, args, env=WIDE)


def _literal(result: Result, *texts: str) -> None:
    """Exit 0 (or a clean exit 1), no exception but SystemExit, every text as it is."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "MarkupError" not in result.output
    assert "❌" not in result.output  # the emoji for :x:
    for text in texts:
        assert text in result.output, (text, result.output)


# -- veil load ------------------------------------------------------------------------------

NAME_COLUMN = "[/]名称:x:[bold]x[/bold]"
SOURCE = "[/]登记:x:[bold]x[/bold]"


def _sources(tmp: Path, name_column: str, header: str, source: str = "registry") -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "registry.csv").write_text(
        f"记录编号,{header}\nR1,[/]食品:x:有限公司\nR2,[bold]x[/bold]有限公司\n", encoding="utf-8"
    )
    mapping = {
        "version": 1,
        "sources": {
            source: {
                "files": "registry.csv",
                "format": "csv",
                "record_key": "记录编号",
                "mentions": {"company": {"kind": "company", "fields": {"name": name_column}}},
                "facts": [],
            }
        },
    }
    path = tmp / "sources.yaml"
    path.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    return path


def test_load_error_naming_a_hostile_column_prints_it(tmp_path: Path):
    sources = _sources(tmp_path / "in", NAME_COLUMN, "企业名称")
    result = _invoke(["load", str(sources), "--run", str(tmp_path / "run")])
    assert result.exit_code == 1, result.output
    _literal(result, "error:", NAME_COLUMN)


def test_load_of_a_hostile_source_and_header_prints_them(tmp_path: Path):
    sources = _sources(tmp_path / "in", NAME_COLUMN, NAME_COLUMN, source=SOURCE)
    result = _invoke(["load", str(sources), "--run", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    _literal(result, SOURCE, f"{SOURCE}: 2 lines")


# -- controls, footprint, risk, alerts ------------------------------------------------------

OLD_CO = "旧食品[/]有限公司"
NEW_CO = "[bold]新[/bold]餐饮:x:有限公司[/]"
HOLDING = "控股:x:[red]有限公司"
PERSON = "李[/]建国[bold]x[/bold]:x:"
DECISION = "沪市监处〔2020〕[/]1号"
REVIEWER = "审核[/]员:x:"


@pytest.fixture
def hostile_graph(
    neo4j_server: Neo4jSettings,
    neo4j_driver: neo4j.Driver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A banned person with a hostile name whose licence-revoked company also has one, and a
    new food business of hers, held through a holding company with a record of its own."""
    monkeypatch.setenv("NEO4J_URI", neo4j_server.uri)
    monkeypatch.setenv("NEO4J_USER", neo4j_server.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_server.password)
    b = RunBuilder()
    b.company("X", OLD_CO, established=date(2010, 1, 1))
    b.person("B", PERSON, "110101********123X")
    b.legal_rep("B", "X", date(2012, 1, 1))
    b.punishment("X", DECISION, date(2020, 5, 1), ["licence_revocation"])
    b.company("H", HOLDING, industry="L7212", established=date(2015, 1, 1))
    b.company("Y", NEW_CO, industry="H6210", established=date(2022, 1, 1))
    b.legal_rep("B", "Y", date(2022, 1, 1))
    b.holds("B", "H", 0.8)
    b.holds("H", "Y", 0.6)
    b.punishment("H", "沪市监处〔2021〕:x:9号", date(2021, 1, 1), ["fine"])
    b.listed("H", date(2021, 3, 1))
    neo4j_driver.execute_query("MATCH (a:Alert) DETACH DELETE a")
    neo4j_driver.execute_query("MATCH (s:AlertSweep) DELETE s")
    load_run(neo4j_driver, b.write(tmp_path / "run"))
    done = _invoke(["graph", "control", "--as-of", "2026-10-31"])
    assert done.exit_code == 0, done.output


def test_controls_footprint_and_risk_print_names_literally(hostile_graph: None):
    shown = _invoke(["controls", cid("Y"), "--as-of", "2026-10-31"])
    assert shown.exit_code == 0, shown.output
    _literal(shown, NEW_CO, PERSON, HOLDING, "legal representative", "beneficial owner")
    assert f"{PERSON} -80%-> {HOLDING} -60%-> {NEW_CO}" in shown.output  # a control path
    by_name = _invoke(["controls", NEW_CO, "--as-of", "2026-10-31"])  # the argument, too
    assert by_name.exit_code == 0, by_name.output
    _literal(by_name, NEW_CO)

    person = _invoke(["footprint", pid("B")])
    assert person.exit_code == 0, person.output
    _literal(person, PERSON, OLD_CO, NEW_CO, HOLDING, DECISION)

    risk = _invoke(["risk", cid("Y"), "--hops", "2", "--as-of", "2026-10-31"])
    assert risk.exit_code == 0, risk.output
    _literal(risk, HOLDING)

    missing = _invoke(["controls", "[/]无此:x:公司"])
    assert missing.exit_code == 1
    _literal(missing, "[/]无此:x:公司")


def test_alerts_run_list_show_review_print_names_literally(hostile_graph: None):
    ran = _invoke(["alerts", "run", "--as-of", "2026-10-31"])
    assert ran.exit_code == 0, ran.output
    _literal(ran, PERSON, NEW_CO)

    listed = _invoke(["alerts", "list"])
    assert listed.exit_code == 0, listed.output
    _literal(listed, PERSON, NEW_CO)

    alerts = json.loads(_invoke(["alerts", "list", "--json"]).output)
    (alert,) = [
        a
        for a in alerts
        if (a["rule"], a["company_id"], a["role"]) == ("food_art135", cid("Y"), "legal_rep")
    ]
    shown = _invoke(["alerts", "show", alert["id"]])
    assert shown.exit_code == 0, shown.output
    _literal(shown, PERSON, NEW_CO, OLD_CO, DECISION)

    done = _invoke(
        ["alerts", "review", alert["id"], "--status", "acknowledged", "--reviewer", REVIEWER]
    )
    assert done.exit_code == 0, done.output
    _literal(done, f"acknowledged by {REVIEWER}")

    dismissed = _invoke(
        ["alerts", "review", alert["id"], "--status", "dismissed", "--reviewer", REVIEWER]
    )  # no reason: refused, and the refusal prints
    assert dismissed.exit_code == 1
    _literal(dismissed, "error:")
