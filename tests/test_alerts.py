"""Reincorporation alerts against the real local Neo4j, on small hand-built graphs.

Each test builds the run it needs (tests/graph_runs.py), loads it (the graph mirrors the
last run loaded), clears earlier alerts and sweeps with the shipped rules
(config/rules.yaml) as of AS_OF.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import date, timedelta
from pathlib import Path

import neo4j
import pytest
from graph_runs import RunBuilder, cid, pid
from typer.testing import CliRunner

from alerts.answers import EvidenceWindow, InScope, ObservedInOffice
from alerts.evidence import compatible, contradicts
from alerts.model import add_years
from alerts.store import AlertFilter, get_alert, list_alerts, review, sweep
from config.errors import ConfigError, InputError
from config.graph import load_graph_config
from config.rules import load_rules
from graph.in_force import overlaps
from graph.load import load_run
from graph.server.connection import Neo4jSettings
from service.cli import app

RULES = load_rules()
SETTINGS = load_graph_config().control
AS_OF = date(2026, 10, 31)
T0 = date(2020, 5, 1)  # the revocation: the art. 135 ban runs [2020-05-01, 2025-05-01)
FOOD = "F5221"  # food retail; F5211 department stores are not food by class
NON_FOOD = "C3130"


def _fresh(driver: neo4j.Driver, builder: RunBuilder, run_dir: Path) -> None:
    driver.execute_query("MATCH (a:Alert) DETACH DELETE a")
    driver.execute_query("MATCH (s:AlertSweep) DELETE s")
    builder.write(run_dir)
    load_run(driver, run_dir)


def _found(driver: neo4j.Driver, rule: str | None = None) -> set[tuple[str, str, str]]:
    """(person, company, role) of the active alerts (of `rule`)."""
    alerts = list_alerts(driver, AlertFilter(rule=rule))
    return {(a.person_id, a.company_id, a.role) for a in alerts}


def _revoked(b: RunBuilder, banned: str = "B", how: str = "legal_rep") -> None:
    """Company X (food) loses its licence on T0; `banned` is its legal representative then
    (or a directly responsible person the decision names)."""
    b.company("X", "旧食品有限公司", established=date(2010, 1, 1))
    b.person(banned, "李建国", "110101********123X")
    if how == "legal_rep":
        b.legal_rep(banned, "X", date(2012, 1, 1))
        b.punishment("X", "沪市监处〔2020〕1号", T0, ["licence_revocation"])
    else:
        b.person("R", "王某", "110101********5678")
        b.legal_rep("R", "X", date(2012, 1, 1))
        b.punishment("X", "沪市监处〔2020〕1号", T0, ["licence_revocation"], responsible=(banned,))


def test_window_edges_industry_and_trigger_company(neo4j_driver: neo4j.Driver, tmp_path: Path):
    b = RunBuilder()
    _revoked(b)
    for key, industry, start in (
        ("Y", FOOD, date(2025, 4, 30)),  # the last day of the ban: alerts
        ("Z", FOOD, date(2025, 5, 1)),  # the day the ban ends: does not
        ("W", NON_FOOD, date(2021, 1, 1)),  # not a food business: does not
        ("V", "H6210", date(2010, 6, 1)),  # catering, since before the ban and still: alerts
    ):
        b.company(key, f"{key}公司", industry=industry, established=start)
        b.legal_rep("B", key, start)
    _fresh(neo4j_driver, b, tmp_path / "run")
    summary = sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    assert summary.raised == {"food_art135": 2}
    assert _found(neo4j_driver) == {
        (pid("B"), cid("Y"), "legal_rep"),
        (pid("B"), cid("V"), "legal_rep"),
    }
    (v,) = [a for a in list_alerts(neo4j_driver) if a.company_id == cid("V")]
    assert v.began_before_trigger is True
    evidence = v.evidence
    assert evidence.rule.legal_basis.startswith("《中华人民共和国食品安全法》第一百三十五条")
    assert evidence.trigger.reference == "沪市监处〔2020〕1号"
    assert evidence.trigger.categories == ["licence_revocation"]
    assert evidence.ties[0].how == "legal_rep"
    assert evidence.window == EvidenceWindow(
        start=date(2020, 5, 1), end=date(2025, 5, 1), period="5 years from the trigger date"
    )
    assert evidence.identity.old_mentions[0].id == "110101********123X"
    assert evidence.identity.new_mentions[0].name == "李建国"
    assert evidence.trigger.company is not None
    assert not evidence.doubts and evidence.trigger.company.in_register is None


def test_responsible_person_as_officer_and_warning_only(neo4j_driver: neo4j.Driver, tmp_path: Path):
    b = RunBuilder()
    _revoked(b, banned="B", how="responsible")
    b.company("Y", "新餐饮有限公司", industry="H6210", established=date(2019, 1, 1))
    b.officer("B", "Y", "manager", date(2022, 3, 1))
    b.officer("B", "Y", "finance_officer", date(2022, 3, 1))  # a senior manager (art. 265)
    b.officer("B", "Y", "food_safety_manager", date(2022, 3, 1))  # not a restricted role
    # a warning is no revocation: its legal representative may run food businesses
    b.company("Q", "警告食品有限公司", established=date(2010, 1, 1))
    b.person("S", "赵某", "110101********9999")
    b.legal_rep("S", "Q", date(2011, 1, 1))
    b.punishment("Q", "沪市监处〔2020〕2号", T0, ["warning"], responsible=("S",))
    b.company("U", "又一食品有限公司", established=date(2021, 1, 1))
    b.legal_rep("S", "U", date(2021, 1, 1))
    _fresh(neo4j_driver, b, tmp_path / "run")
    sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    assert _found(neo4j_driver) == {
        (pid("B"), cid("Y"), "manager"),
        (pid("B"), cid("Y"), "finance_officer"),
    }
    for alert in list_alerts(neo4j_driver):
        assert [t.how for t in alert.evidence.ties] == ["responsible"]


def test_namesake_is_not_alerted(neo4j_driver: neo4j.Driver, tmp_path: Path):
    b = RunBuilder()
    _revoked(b)
    b.person("N", "李建国", "320102********4321")  # same name, another person
    b.company("Y", "新食品有限公司", established=date(2022, 1, 1))
    b.legal_rep("N", "Y", date(2022, 1, 1))
    _fresh(neo4j_driver, b, tmp_path / "run")
    summary = sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    assert summary.raised == {} and _found(neo4j_driver) == set()


def test_unknown_start_takes_the_establishment_date(neo4j_driver: neo4j.Driver, tmp_path: Path):
    """A registry row names the legal representative without a date: a company founded
    after the ban ended was not run during it."""
    b = RunBuilder()
    _revoked(b)
    b.company("Y", "后设食品有限公司", established=date(2025, 6, 1))
    b.legal_rep("B", "Y", source="company_registry")
    b.company("E", "早设食品有限公司", established=date(2021, 6, 1))
    b.legal_rep("B", "E", source="company_registry")
    _fresh(neo4j_driver, b, tmp_path / "run")
    sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    (alert,) = list_alerts(neo4j_driver)
    assert alert.company_id == cid("E")
    target = alert.evidence.target
    assert target.start is None and target.start_inferred is True
    assert target.start_no_earlier_than == date(2021, 6, 1)
    assert alert.began_before_trigger is False  # founded after the trigger


def test_unknown_start_before_the_ban_is_not_called_a_continuing_role(
    neo4j_driver: neo4j.Driver, tmp_path: Path
):
    b = RunBuilder()
    _revoked(b)
    b.company("E", "老食品有限公司", established=date(2015, 6, 1))
    b.legal_rep("B", "E", source="company_registry")
    _fresh(neo4j_driver, b, tmp_path / "run")
    sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    (alert,) = list_alerts(neo4j_driver)
    assert alert.began_before_trigger is None
    assert alert.evidence.target.start is None


def test_a_company_end_closes_its_roles(neo4j_driver: neo4j.Driver, tmp_path: Path):
    """Deregistered before the ban: no alert. Ended without a date: the alert says so."""
    b = RunBuilder()
    _revoked(b)
    b.company(
        "D",
        "已注销食品有限公司",
        established=date(2012, 1, 1),
        status="注销",
        ended=date(2019, 3, 1),
    )
    b.legal_rep("B", "D", date(2012, 1, 1))
    b.company(
        "L",
        "晚注销食品有限公司",
        established=date(2012, 1, 1),
        status="注销",
        ended=date(2022, 3, 1),
    )
    b.legal_rep("B", "L", date(2012, 1, 1))
    b.company("U", "吊销食品有限公司", established=date(2012, 1, 1), status="吊销，未注销")
    b.legal_rep("B", "U", date(2012, 1, 1))
    _fresh(neo4j_driver, b, tmp_path / "run")
    sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    assert _found(neo4j_driver) == {
        (pid("B"), cid("L"), "legal_rep"),
        (pid("B"), cid("U"), "legal_rep"),
    }
    by_company = {a.company_id: a.evidence.target for a in list_alerts(neo4j_driver)}
    assert by_company[cid("L")].end == date(2022, 3, 1) and by_company[cid("L")].end_by_company
    assert by_company[cid("U")].company_ended_undated is True


def test_control_through_two_holding_companies(neo4j_driver: neo4j.Driver, tmp_path: Path):
    b = RunBuilder()
    _revoked(b)
    b.person("M", "张代表", "110101********0001")
    b.company("H1", "壹号控股有限公司", industry="L7212", established=date(2021, 1, 1))
    b.company("H2", "贰号投资有限公司", industry="L7212", established=date(2021, 3, 1))
    b.company("Y", "新乳业有限公司", industry="C1441", established=date(2022, 1, 1))
    b.legal_rep("M", "Y", date(2022, 1, 1))  # a nominee fronts the company
    b.holds("B", "H1", 0.8, date(2021, 1, 1))
    b.holds("M", "H1", 0.2, date(2021, 1, 1))
    b.holds("H1", "H2", 1.0, date(2021, 3, 1))
    b.holds("H2", "Y", 0.6, date(2022, 2, 1))
    b.holds("M", "Y", 0.4, date(2022, 1, 1))
    _fresh(neo4j_driver, b, tmp_path / "run")
    sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    assert _found(neo4j_driver) == {
        (pid("B"), cid("Y"), "actual_controller"),
        (pid("B"), cid("Y"), "beneficial_owner"),
    }
    (controller,) = [a for a in list_alerts(neo4j_driver) if a.role == "actual_controller"]
    target = controller.evidence.target
    assert target.start == date(2022, 2, 1)  # when the last link of the chain was in place
    assert target.control is not None and target.control.basis == "majority_chain"
    assert target.control.look_through_share == pytest.approx(0.48)
    assert target.control.chain == [
        "新乳业有限公司",
        "贰号投资有限公司",
        "壹号控股有限公司",
        "李建国",
    ]
    assert target.control.paths == [
        "李建国 -80.00%-> 壹号控股有限公司 -100.00%-> 贰号投资有限公司 -60.00%-> "
        "新乳业有限公司 = 48.00%"
    ]
    assert len(target.records) == 3  # the three holding records on the chain


def test_judgment_defaulter_watch_and_a_removed_entry(neo4j_driver: neo4j.Driver, tmp_path: Path):
    b = RunBuilder()
    b.company("D", "欠债有限公司", industry=NON_FOOD, established=date(2010, 1, 1))
    b.person("L", "钱某", "110101********1111")
    b.legal_rep("L", "D", date(2010, 1, 1))
    b.listed("D", date(2021, 1, 1), removed=date(2022, 6, 1))
    b.company("E", "新设科技有限公司", industry="I6510", established=date(2022, 1, 1))
    b.legal_rep("L", "E", date(2022, 1, 1))  # while listed: watched, any industry
    b.company("F", "后设贸易有限公司", industry="F5191", established=date(2022, 6, 1))
    b.officer("L", "F", "director", date(2022, 6, 1))  # the day the entry was removed: not
    b.company("G", "仍在名单有限公司", industry=NON_FOOD, established=date(2015, 1, 1))
    b.person("K", "孙某", "110101********2222")
    b.legal_rep("K", "G", date(2015, 1, 1))
    b.listed("G", date(2023, 1, 1))
    b.company("J", "另设餐饮有限公司", industry="H6210", established=date(2024, 1, 1))
    b.legal_rep("K", "J", date(2024, 1, 1))
    _fresh(neo4j_driver, b, tmp_path / "run")
    sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    assert _found(neo4j_driver, "judgment_defaulter_watch") == {
        (pid("L"), cid("E"), "legal_rep"),
        (pid("K"), cid("J"), "legal_rep"),
    }
    by_company = {a.company_id: a for a in list_alerts(neo4j_driver)}
    assert by_company[cid("E")].severity == "watch"
    assert by_company[cid("E")].window_end == date(2022, 6, 1)
    assert by_company[cid("J")].window_end is None  # still listed: open


def test_serious_violation_list(neo4j_driver: neo4j.Driver, tmp_path: Path):
    b = RunBuilder()
    b.company("S", "严重违法食品有限公司", established=date(2010, 1, 1))
    b.person("L", "周某", "110101********3333")
    b.legal_rep("L", "S", date(2010, 1, 1))
    b.listed("S", date(2022, 1, 1), list_name="serious_violation")
    b.company("Y", "新开食品有限公司", established=date(2023, 1, 1))
    b.legal_rep("L", "Y", date(2023, 1, 1))
    b.company("Z", "新开软件有限公司", industry="I6510", established=date(2023, 1, 1))
    b.legal_rep("L", "Z", date(2023, 1, 1))  # not food
    _fresh(neo4j_driver, b, tmp_path / "run")
    sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    assert _found(neo4j_driver) == {(pid("L"), cid("Y"), "legal_rep")}
    (alert,) = list_alerts(neo4j_driver)
    assert (alert.rule, alert.severity) == ("food_serious_violation", "ban")


def test_a_list_entry_stands_until_its_management_period_ends(
    neo4j_driver: neo4j.Driver, tmp_path: Path
):
    b = RunBuilder()
    b.company("S", "严重违法食品有限公司", established=date(2010, 1, 1))
    b.person("L", "周某", "110101********3333")
    b.legal_rep("L", "S", date(2010, 1, 1))
    # 管理期限至 2023-01-01; the removal written later does not lengthen the listing
    b.listed(
        "S",
        date(2020, 1, 1),
        removed=date(2024, 1, 1),
        list_name="serious_violation",
        expires=date(2023, 1, 1),
    )
    b.company("Y", "期内食品有限公司", established=date(2022, 6, 1))
    b.legal_rep("L", "Y", date(2022, 6, 1))  # inside the management period
    b.company("X", "期满食品有限公司", established=date(2023, 1, 1))
    b.legal_rep("L", "X", date(2023, 1, 1))  # the day the period ended: not
    _fresh(neo4j_driver, b, tmp_path / "run")
    sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    assert _found(neo4j_driver) == {(pid("L"), cid("Y"), "legal_rep")}
    (alert,) = list_alerts(neo4j_driver)
    assert alert.window_end == date(2023, 1, 1)
    evidence = alert.evidence
    assert evidence.trigger.expires == date(2023, 1, 1)
    assert evidence.trigger.list_name == "serious_violation"
    assert evidence.window.end == date(2023, 1, 1)
    assert "management period" in evidence.window.period


def test_a_punished_company_outside_the_register_is_a_doubt_on_the_alert(
    neo4j_driver: neo4j.Driver, tmp_path: Path
):
    """A decision naming its company with no USCC and a name no registry record shares
    leaves that company an entity of its own: "other companies" then takes in the
    punished company itself. The alert is raised, and says so."""
    b = RunBuilder()
    b.company("X", "兴河食品有限公司")  # no USCC, no founding date: not in the register
    b.person("B", "李建国", "110101********123X")
    b.legal_rep("B", "X", date(2012, 1, 1))
    b.punishment("X", "沪市监处〔2020〕1号", T0, ["licence_revocation"])
    b.company("Y", "新食品有限公司", established=date(2021, 1, 1))
    b.legal_rep("B", "Y", date(2022, 1, 1))
    _fresh(neo4j_driver, b, tmp_path / "run")
    summary = sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    (alert,) = list_alerts(neo4j_driver)
    evidence = alert.evidence
    assert evidence.trigger.company is not None
    assert evidence.trigger.company.in_register is False
    assert evidence.doubts and "matches no registry record" in evidence.doubts[0]
    assert alert.doubtful is True
    assert summary.doubtful == {"food_art135": 1}
    assert summary.as_dict()["doubtful"] == {"food_art135": 1}


def _reopen_world(start: date) -> RunBuilder:
    b = RunBuilder()
    _revoked(b)
    b.company("Y", "新食品有限公司", established=date(2021, 1, 1))
    b.legal_rep("B", "Y", start)
    return b


def test_reruns_are_idempotent_and_a_dismissal_holds(neo4j_driver: neo4j.Driver, tmp_path: Path):
    _fresh(neo4j_driver, _reopen_world(date(2022, 1, 1)), tmp_path / "run")
    first = sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    (alert_id,) = first.new
    again = sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    assert again.new == [] and again.raised == first.raised and again.withdrawn == 0
    count, _, _ = neo4j_driver.execute_query("MATCH (a:Alert) RETURN count(a) AS n")
    assert count[0]["n"] == 1

    reviewed = review(neo4j_driver, alert_id, "dismissed", "inspector Li", "known, cleared")
    assert reviewed.status == "dismissed" and reviewed.reviewer == "inspector Li"
    assert reviewed.reviewed_digest == reviewed.evidence_digest
    sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    assert get_alert(neo4j_driver, alert_id).status == "dismissed"

    # a later wave dates the role differently: the evidence changed, so it is new again
    _reopen_world(date(2022, 3, 1)).write(tmp_path / "run2")
    load_run(neo4j_driver, tmp_path / "run2")
    third = sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    assert third.reopened == [alert_id] and third.new == []
    reopened = get_alert(neo4j_driver, alert_id)
    assert reopened.status == "new"
    assert [h.status for h in reopened.history] == ["dismissed", "new"]
    assert reopened.history[1].reason == "reopened: the evidence changed"

    # the role is gone from the next run: the alert is withdrawn, not deleted
    b = RunBuilder()
    _revoked(b)
    b.company("Y", "新食品有限公司", established=date(2021, 1, 1))
    b.write(tmp_path / "run3")
    load_run(neo4j_driver, tmp_path / "run3")
    fourth = sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    assert fourth.withdrawn == 1
    assert list_alerts(neo4j_driver) == []
    (kept,) = list_alerts(neo4j_driver, AlertFilter(include_inactive=True))
    assert kept.id == alert_id and kept.active is False
    assert kept.history[-1].status is None and kept.history[-1].reviewer == "veil"


def test_review_needs_a_reviewer_and_a_reason_to_dismiss(
    neo4j_driver: neo4j.Driver, tmp_path: Path
):
    _fresh(neo4j_driver, _reopen_world(date(2022, 1, 1)), tmp_path / "run")
    (alert_id,) = sweep(neo4j_driver, RULES, SETTINGS, AS_OF).new
    with pytest.raises(InputError, match="reason"):
        review(neo4j_driver, alert_id, "dismissed", "inspector Li", "")
    with pytest.raises(InputError, match="not one of"):
        review(neo4j_driver, alert_id, "closed", "inspector Li", "x")
    assert review(neo4j_driver, alert_id, "confirmed", "inspector Li", "").status == "confirmed"


def test_incremental_sweep_reports_only_new_roles(neo4j_driver: neo4j.Driver, tmp_path: Path):
    b = _reopen_world(date(2022, 1, 1))
    _fresh(neo4j_driver, b, tmp_path / "run")
    sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    b.company("N", "波次新设食品有限公司", established=date(2024, 9, 1))
    b.legal_rep("B", "N", date(2024, 9, 1))
    b.write(tmp_path / "wave")
    load_run(neo4j_driver, tmp_path / "wave")
    wave = sweep(neo4j_driver, RULES, SETTINGS, AS_OF, since=date(2024, 6, 1))
    assert wave.raised == {"food_art135": 1} and len(wave.new) == 1
    assert wave.withdrawn == 0  # an incremental sweep withdraws nothing
    assert {a.company_id for a in list_alerts(neo4j_driver, AlertFilter(sweep_id=wave.id))} == {
        cid("N")
    }
    assert len(list_alerts(neo4j_driver)) == 2


def test_cli_run_list_show_review_export(
    neo4j_server: Neo4jSettings, neo4j_driver: neo4j.Driver, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("NEO4J_URI", neo4j_server.uri)
    monkeypatch.setenv("NEO4J_USER", neo4j_server.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_server.password)
    _fresh(neo4j_driver, _reopen_world(date(2022, 1, 1)), tmp_path / "run")
    runner = CliRunner()
    ran = runner.invoke(app, ["alerts", "run", "--as-of", "2026-10-31", "--json"])
    assert ran.exit_code == 0, ran.output
    counts = json.loads(ran.output)
    assert counts["new"] == 1 and counts["raised"] == {"food_art135": 1}
    assert "沪市监处" not in ran.output  # a summary, not the alerts and their evidence
    (new,) = json.loads(runner.invoke(app, ["alerts", "list", "--new", "--json"]).output)
    listed = runner.invoke(app, ["alerts", "list", "--rule", "food_art135", "--json"])
    assert [a["id"] for a in json.loads(listed.output)] == [new["id"]]
    region = runner.invoke(app, ["alerts", "list", "--region", "99", "--json"])
    assert json.loads(region.output) == []
    for industry, found in (("52", 1), ("F522", 1), ("H62", 0)):
        by_industry = runner.invoke(app, ["alerts", "list", "--industry", industry, "--json"])
        assert len(json.loads(by_industry.output)) == found, industry
    for since, found in (("2000-01-01", 1), ((date.today() + timedelta(days=2)).isoformat(), 0)):
        changed = runner.invoke(app, ["alerts", "list", "--since", since, "--json"])
        assert len(json.loads(changed.output)) == found, since
    shown = runner.invoke(app, ["alerts", "show", new["id"]])
    assert shown.exit_code == 0 and "沪市监处〔2020〕1号" in shown.output
    done = runner.invoke(
        app, ["alerts", "review", new["id"], "--status", "acknowledged", "--reviewer", "Li"]
    )
    assert done.exit_code == 0, done.output
    assert runner.invoke(app, ["alerts", "export", str(tmp_path / "a.jsonl")]).exit_code == 0
    assert runner.invoke(app, ["alerts", "export", str(tmp_path / "a.csv")]).exit_code == 0
    line = json.loads((tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert line["status"] == "acknowledged" and line["evidence"]["rule"]["id"] == "food_art135"
    with (tmp_path / "a.csv").open(encoding="utf-8-sig") as f:
        (row,) = list(csv.DictReader(f))
    assert (
        row["company_name"] == "新食品有限公司"
        and row["trigger_reference"] == "沪市监处〔2020〕1号"
    )
    bad = runner.invoke(app, ["alerts", "list", "--status", "open"])
    assert bad.exit_code == 1 and "not one of" in bad.output
    bad = runner.invoke(app, ["alerts", "list", "--industry", "Q99"])
    assert bad.exit_code == 1 and "GB/T 4754" in bad.output
    bad = runner.invoke(app, ["alerts", "list", "--since", "2026-13-45"])
    assert bad.exit_code == 1 and "--since" in bad.output
    missing = runner.invoke(app, ["alerts", "show", "Anope"])
    assert missing.exit_code == 1 and "no alert" in missing.output


def _options_in_help(command: str) -> dict[str, str]:
    """`veil alerts COMMAND --help`'s options, each with its help text, as printed."""
    shown = CliRunner().invoke(app, ["alerts", command, "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    rows = re.findall(r"^│ (--[\w-]+) +<\w+> *(.*?) *│$", shown.output, re.MULTILINE)
    return dict(rows)


def test_list_and_export_take_the_same_filters():
    """One set of filter options for `alerts list` and `alerts export`, help and all."""
    listed, exported = _options_in_help("list"), _options_in_help("export")
    filters = {"--status", "--rule", "--region", "--industry", "--since", "--new", "--all"}
    assert set(listed) == filters | {"--json", "--help"}
    assert set(exported) == filters | {"--help"}
    assert {o: listed[o] for o in filters} == {o: exported[o] for o in filters}
    assert all(listed[o] for o in filters)  # each says what it does


# -- pure pieces ----------------------------------------------------------------------------


def test_add_years_rolls_29_february_to_1_march():
    assert add_years(date(2020, 2, 29), 5) == date(2025, 3, 1)
    assert add_years(date(2020, 5, 1), 5) == date(2025, 5, 1)


def test_overlap_is_half_open():
    window = (date(2020, 5, 1), date(2025, 5, 1))
    assert overlaps(date(2025, 4, 30), None, window)
    assert not overlaps(date(2025, 5, 1), None, window)
    assert not overlaps(date(2010, 1, 1), date(2020, 5, 1), window)  # ended the day it began
    assert overlaps(date(2010, 1, 1), date(2020, 5, 2), window)
    assert overlaps(None, None, (date(2020, 5, 1), None))


def test_id_displays_contradict_only_when_no_pair_is_compatible():
    assert compatible("110101********123X", "110101********123x")
    assert not compatible("340104********3595", "440305********5872")
    assert contradicts(["440305********5872"], ["340104********3595"])
    assert not contradicts(["440305********5872"], [None, "440305********5872"])
    assert not contradicts([None], ["340104********3595"])


def test_rules_yaml_errors_name_file_and_key(tmp_path: Path):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: 1\nrules:\n- id: x_rule\n  title: t\n  legal_basis: b\n  severity: ban\n"
        "  trigger: {punishment_categories: [licence_revocation]}\n  reaches: [legal_rep]\n"
        "  restricts: {roles: [legal_rep], industries: [food]}\n"
        "  period: {years: 5, lifetime: true}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    text = str(err.value)
    assert str(path) in text
    assert "rules.0.restricts.industries" in text and "rules.0.period" in text


def test_a_new_rule_needs_only_yaml(neo4j_driver: neo4j.Driver, tmp_path: Path):
    """A lifetime ban on employment-ban punishments, reaching the responsible persons."""
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: 1\nrules:\n- id: lifetime_ban\n  title: 终身禁业\n  legal_basis: 某法\n"
        "  severity: ban\n  trigger: {punishment_categories: [employment_ban]}\n"
        "  reaches: [responsible]\n  restricts: {roles: [legal_rep, manager]}\n"
        "  period: {lifetime: true}\n",
        encoding="utf-8",
    )
    b = RunBuilder()
    b.company("X", "旧有限公司", established=date(2000, 1, 1))
    b.person("B", "终身某", "110101********7777")
    b.punishment("X", "沪市监处〔2001〕9号", date(2001, 1, 1), ["employment_ban"], ("B",))
    b.company("Y", "很久以后有限公司", industry="I6510", established=date(2026, 1, 1))
    b.legal_rep("B", "Y", date(2026, 1, 1))
    _fresh(neo4j_driver, b, tmp_path / "run")
    sweep(neo4j_driver, load_rules(path), SETTINGS, AS_OF)
    assert _found(neo4j_driver) == {(pid("B"), cid("Y"), "legal_rep")}


def test_scope_by_food_class_or_a_licence_in_force(neo4j_driver: neo4j.Driver, tmp_path: Path):
    """Art. 135 bans food business: a food class of GB/T 4754 or a food licence in force
    during the role, not every shop (F5211 department stores, F5161 hardware wholesale)."""
    b = RunBuilder()
    _revoked(b)
    for key, industry in (
        ("STORE", "F5211"),
        ("HARD", "F5161"),
        ("SHOP", "F5211"),
        ("OLD", "F5211"),
        ("GONE", "F5211"),
    ):
        b.company(key, f"{key}商贸有限公司", industry=industry, established=date(2021, 1, 1))
        b.legal_rep("B", key, date(2021, 1, 1))
    b.licence("SHOP", "JY13101050000001", date(2022, 6, 1), date(2027, 5, 31))
    b.licence("OLD", "JY13101050000002", date(2010, 1, 1), date(2015, 1, 1))  # before the ban
    # revoked on a day not given: in force on its issue day only, before the role began
    b.licence("GONE", "JY13101050000003", date(2020, 12, 1), date(2025, 12, 1), status="revoked")
    _fresh(neo4j_driver, b, tmp_path / "run")
    sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    assert _found(neo4j_driver) == {(pid("B"), cid("SHOP"), "legal_rep")}
    (alert,) = list_alerts(neo4j_driver)
    assert alert.evidence.target.in_scope == InScope(
        by="licence",
        licence_number="JY13101050000001",
        valid_from=date(2022, 6, 1),
        valid_to=date(2027, 5, 31),
    )


def test_a_role_observed_on_a_dated_record_dates_the_alert(
    neo4j_driver: neo4j.Driver, tmp_path: Path
):
    """A licence of 2019 printing B as legal representative of an old company: B held the
    role before the ban, though no registry row dates it; a snapshot row joins the same
    tenure."""
    b = RunBuilder()
    _revoked(b)
    b.company("E", "老食品有限公司", established=date(2015, 6, 1))
    b.legal_rep("B", "E", source="company_registry")
    b.legal_rep("B", "E", source="food_licences", observed_on=date(2019, 3, 2))
    _fresh(neo4j_driver, b, tmp_path / "run")
    sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    (alert,) = list_alerts(neo4j_driver)
    assert alert.began_before_trigger is True
    target = alert.evidence.target
    assert target.observed_in_office == ObservedInOffice(
        first=date(2019, 3, 2), last=date(2019, 3, 2)
    )
    assert any(r.startswith("food_licences:") for r in target.records)
    assert any(r.startswith("company_registry:") for r in target.records)
