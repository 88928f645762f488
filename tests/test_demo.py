"""`veil demo` end to end on a small world, pointed at the session's Neo4j via NEO4J_URI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pii_scan import private_modes, scan_files, scan_graph
from typer.testing import CliRunner

from graph.server.connection import Neo4jSettings, open_driver
from service import keys
from service.cli import app
from service.keys import Role


def test_demo_runs_every_stage_and_the_load_matches_the_truth(
    neo4j_server: Neo4jSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("NEO4J_URI", neo4j_server.uri)
    monkeypatch.setenv("NEO4J_USER", neo4j_server.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_server.password)
    result = CliRunner().invoke(
        app, ["demo", "--out", str(tmp_path), "--companies", "300", "--seed", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["neo4j"]["answers"] is True
    assert summary["load_check"]["ok"] is True
    assert summary["load_check"]["expected_rows"] == summary["load"]["totals"]["rows_quarantined"]
    assert (tmp_path / "run" / "manifest.json").is_file()
    assert (tmp_path / "world" / "truth" / "person_mentions.parquet").is_file()
    quality = summary["link_quality"]["veil"]
    baseline = summary["link_quality"]["exact name + ID baseline"]
    for kind in ("person", "company"):
        assert quality[kind]["f1"] > baseline[kind]["f1"]
        assert summary["link"][kind]["mentions"] == quality[kind]["mentions"]
    assert (tmp_path / "run" / "entities.parquet").is_file()
    graph = summary["graph"]
    assert graph["resolved"]["companies"] == summary["link"]["company"]["entities"]
    assert graph["counters"]["relationships_created"] > 0
    assert summary["control"]["beneficial_owners"] > 0
    notable = summary["notable"]
    assert notable["deep_chain"]["actual_controller"]["basis"] == "majority_chain"
    assert len(notable["deep_chain"]["actual_controller"]["chain"]) >= 3
    alerts = summary["alerts"]
    assert alerts["raised"]["food_art135"] > 0
    truth = alerts["art135_against_truth"]
    assert truth["true_alerts"] > 0 and truth["recall"] > 0.5
    assert all(v["alerted"] == 0 for v in truth["near_misses"].values())
    # Keys for the page, live: a regulator's, and an inspector's for the alert's province.
    page = summary["page"]
    assert page["command"] == "make serve"
    principals = [keys.authenticate(key) for key in page["keys"].values()]
    assert [p.role for p in principals if p] == [Role.REGULATOR, Role.INSPECTOR]
    exported = (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(exported) == sum(alerts["raised"].values())
    assert (tmp_path / "alerts.csv").is_file()
    # No full resident ID anywhere veil wrote (the world's extracts are the input), and
    # every file it wrote is the owner's only.
    assert scan_files(tmp_path, skip=(tmp_path / "world",)) == {}
    with open_driver(neo4j_server) as driver:
        assert scan_graph(driver) == []
    assert private_modes(tmp_path / "run") == []
    assert private_modes(tmp_path, skip=(tmp_path / "world",)) == []
