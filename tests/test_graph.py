"""The corporate-veil graph against the real local Neo4j: loading, control, queries.

The session shares one Neo4j, and the graph mirrors the last run loaded, so every test
loads the run it needs first. Runs are hand-built (tests/graph_runs.py) so each case is
exact: a cycle, split paths, a deep chain, a company without controller, a legal-rep
change, a wave.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import neo4j
import numpy as np
import pytest
from graph_runs import RunBuilder, cid, pid
from typer.testing import CliRunner

from config.errors import Ambiguous, NotFound
from config.graph import load_graph_config
from graph.analysis import run_control
from graph.answers import Controller, NoController
from graph.load import load_run
from graph.queries import controls, footprint, related_party_risk, resolve_person
from graph.server.connection import Neo4jSettings
from service.cli import app

SETTINGS = load_graph_config().control
TODAY = date(2026, 1, 1)


def _load(driver: neo4j.Driver, builder: RunBuilder, run_dir: Path) -> None:
    builder.write(run_dir)
    load_run(driver, run_dir)


def _dump(driver: neo4j.Driver) -> tuple[list, list]:
    """Every node and relationship of the veil graph with all its properties, sorted."""
    nodes, _, _ = driver.execute_query(
        "MATCH (n) WHERE NOT n:VeilTest AND NOT n:Load AND NOT n:GraphState AND NOT n:VeilLock "
        "RETURN labels(n) AS labels, properties(n) AS props"
    )
    rels, _, _ = driver.execute_query(
        "MATCH (a)-[r]->(b) RETURN type(r) AS type, properties(r) AS props, "
        "coalesce(a.entity_id, a.key) AS a, coalesce(b.entity_id, b.key) AS b"
    )
    as_text = [json.dumps(r.data(), sort_keys=True, default=str) for r in nodes]
    rel_text = [json.dumps(r.data(), sort_keys=True, default=str) for r in rels]
    return sorted(as_text), sorted(rel_text)


def _cycle_world() -> RunBuilder:
    """A holds 40% of B, B holds 30% of A; X holds 60% of A, Y holds 60% of B."""
    b = RunBuilder()
    for key in ("A", "B"):
        b.company(key, f"{key}有限公司")
    for key in ("X", "Y"):
        b.person(key, f"{key}某")
    b.holds("A", "B", 0.4)
    b.holds("B", "A", 0.3)
    b.holds("X", "A", 0.6)
    b.holds("Y", "B", 0.6)
    return b


def test_loading_twice_changes_nothing(neo4j_driver: neo4j.Driver, tmp_path: Path):
    b = _cycle_world()
    b.legal_rep("X", "A", date(2015, 1, 1))
    b.punishment(
        "A", "沪市监处〔2020〕1号", date(2020, 5, 1), ["licence_revocation"], responsible=("X",)
    )
    b.write(tmp_path / "run")
    neo4j_driver.execute_query("MATCH (n) DETACH DELETE n")  # counts below start from empty
    first = load_run(neo4j_driver, tmp_path / "run")
    before = _dump(neo4j_driver)
    second = load_run(neo4j_driver, tmp_path / "run")
    assert second.load_id == first.load_id
    assert second.counters["nodes_created"] == 0
    assert second.counters["relationships_created"] == 0
    assert not second.stale_deleted
    assert _dump(neo4j_driver) == before
    assert first.counters["nodes_created"] == 2 + 2 + 1  # companies, persons, punishment


def test_a_first_load_creates_what_merging_builds(neo4j_driver: neo4j.Driver, tmp_path: Path):
    """Into a graph without veil nodes the loader CREATEs; the graph equals the one MERGE
    builds, rows that MERGE folds into one (same key and endpoints) included."""
    b = _cycle_world()
    b.legal_rep("X", "A", date(2015, 1, 1))
    b.legal_rep("X", "A", date(2015, 1, 1), source="company_registry")  # one tenure key
    b.officer("Y", "B", "director", date(2016, 1, 1))
    b.punishment(
        "A",
        "沪市监处〔2020〕2号",
        date(2020, 5, 1),
        ["fine"],
        responsible=("X", "X"),
        legal_rep="Y",
    )
    b.listed("B", date(2021, 1, 1))
    b.licence("A", "JY1", date(2020, 1, 1), date(2025, 1, 1))
    run_dir = b.write(tmp_path / "run")
    other = RunBuilder("O")
    other.company("Z")
    load_run(neo4j_driver, other.write(tmp_path / "other"))  # veil nodes: the next MERGEs
    merged = load_run(neo4j_driver, run_dir)
    built_by_merge = _dump(neo4j_driver)
    neo4j_driver.execute_query(
        "MATCH (n) WHERE n:Person OR n:Company OR n:Punishment OR n:ListEntry OR n:Licence "
        "DETACH DELETE n"
    )
    created = load_run(neo4j_driver, run_dir)
    assert (merged.mode, created.mode) == ("merge", "create")
    assert _dump(neo4j_driver) == built_by_merge
    assert created.counters["relationships_created"] == merged.counters["relationships_created"]
    assert created.counters["nodes_created"] == merged.counters["nodes_created"]
    assert load_run(neo4j_driver, run_dir).mode == "merge"
    assert _dump(neo4j_driver) == built_by_merge


def test_every_relationship_carries_provenance(neo4j_driver: neo4j.Driver, tmp_path: Path):
    b = _cycle_world()
    b.legal_rep("X", "A", date(2015, 1, 1))
    b.officer("Y", "B", "director", date(2016, 1, 1))
    b.listed("B", date(2021, 1, 1))
    b.licence("A", "JY1", date(2020, 1, 1), date(2025, 1, 1))
    _load(neo4j_driver, b, tmp_path / "run")
    records, _, _ = neo4j_driver.execute_query(
        "MATCH ()-[r]->() WHERE NOT type(r) IN ['CONTROLS', 'BENEFICIAL_OWNER_OF'] "
        "RETURN type(r) AS t, coalesce(r.source, r.sources[0]) AS source, "
        "coalesce(r.record_id, r.record_ids[0]) AS record"
    )
    assert {r["t"] for r in records} >= {
        "HOLDS_SHARES_IN",
        "LEGAL_REPRESENTATIVE_OF",
        "OFFICER_OF",
        "LISTS",
        "ISSUED_TO",
    }
    assert all(r["source"] and r["record"] for r in records)


def test_cycle_look_through_is_the_linear_solution(neo4j_driver: neo4j.Driver, tmp_path: Path):
    _load(neo4j_driver, _cycle_world(), tmp_path / "run")
    # L = P (I - A)^-1 with A = [[0, .4], [.3, 0]] (rows hold columns): 1/(1-.12) = 1/.88
    x_in_a, x_in_b = 0.6 / 0.88, 0.6 * 0.4 / 0.88
    y_in_b, y_in_a = 0.6 / 0.88, 0.6 * 0.3 / 0.88
    a = controls(neo4j_driver, cid("A"), SETTINGS, TODAY)
    owners = {o.entity_id: o.look_through_share for o in a.beneficial_owners}
    assert owners == pytest.approx({pid("X"): x_in_a}, abs=1e-9)
    assert y_in_a < 0.25
    assert isinstance(a.actual_controller, Controller)
    assert a.actual_controller.entity_id == pid("X")
    assert a.actual_controller.basis == "majority_chain"
    b = controls(neo4j_driver, cid("B"), SETTINGS, TODAY)
    owners = {o.entity_id: o.look_through_share for o in b.beneficial_owners}
    assert owners == pytest.approx({pid("Y"): y_in_b, pid("X"): x_in_b}, abs=1e-9)
    assert all(o.cycles_contribute for o in b.beneficial_owners)
    assert isinstance(b.actual_controller, Controller)
    assert b.actual_controller.entity_id == pid("Y")

    summary = run_control(neo4j_driver, SETTINGS, TODAY)
    assert summary.divergent == []
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (p:Person)-[r:BENEFICIAL_OWNER_OF]->(c:Company) "
        "RETURN p.entity_id AS p, c.entity_id AS c, r.share AS share, r.paths AS paths"
    )
    stored = {(r["p"], r["c"]): r["share"] for r in records}
    assert stored == pytest.approx(
        {(pid("X"), cid("A")): x_in_a, (pid("Y"), cid("B")): y_in_b, (pid("X"), cid("B")): x_in_b},
        abs=1e-9,
    )
    assert all(r["paths"] for r in records)


def test_split_paths_add_up(neo4j_driver: neo4j.Driver, tmp_path: Path):
    b = RunBuilder()
    for key in ("H1", "H2", "T", "OTHER"):
        b.company(key)
    b.person("P")
    b.person("Q")
    b.holds("P", "H1", 0.5)
    b.holds("P", "H2", 0.5)
    b.holds("Q", "H1", 0.5)
    b.holds("Q", "H2", 0.5)
    b.holds("H1", "T", 0.3)
    b.holds("H2", "T", 0.2)
    b.holds("OTHER", "T", 0.5)
    _load(neo4j_driver, b, tmp_path / "run")
    answer = controls(neo4j_driver, cid("T"), SETTINGS, TODAY)
    owners = {o.entity_id: o for o in answer.beneficial_owners}
    assert set(owners) == {pid("P"), pid("Q")}
    assert owners[pid("P")].look_through_share == pytest.approx(0.25, abs=1e-12)
    assert sorted(p.share for p in owners[pid("P")].paths) == pytest.approx([0.1, 0.15])
    assert answer.actual_controller.basis == "none"  # P and Q tie for largest


def test_a_six_level_majority_chain(neo4j_driver: neo4j.Driver, tmp_path: Path):
    b = RunBuilder()
    levels = [f"L{i}" for i in range(6)]
    for key in levels:
        b.company(key)
    b.person("BOSS", "王老板")
    b.person("MINOR")
    b.holds("BOSS", "L5", 0.9)
    for upper, lower in zip(levels[1:][::-1], levels[:-1][::-1], strict=True):
        b.holds(upper, lower, 0.9)
    b.holds("MINOR", "L0", 0.1)
    _load(neo4j_driver, b, tmp_path / "run")
    answer = controls(neo4j_driver, cid("L0"), SETTINGS, TODAY)
    controller = answer.actual_controller
    assert isinstance(controller, Controller)
    assert controller.entity_id == pid("BOSS")
    assert controller.basis == "majority_chain"
    assert controller.look_through_share == pytest.approx(0.9**6, abs=1e-12)
    assert [n.entity_id for n in controller.chain] == [cid(k) for k in levels] + [pid("BOSS")]
    assert [n.entity_id for n in controller.paths[0].nodes] == [pid("BOSS")] + [
        cid(k) for k in reversed(levels)
    ]
    assert controller.paths[0].ratios == pytest.approx([0.9] * 6)


def test_a_company_without_controller_is_flagged(neo4j_driver: neo4j.Driver, tmp_path: Path):
    b = RunBuilder()
    b.company("SPREAD")
    for i in range(5):
        b.person(f"H{i}")
        b.holds(f"H{i}", "SPREAD", 0.2)
    b.person("MANAGER")
    b.legal_rep("MANAGER", "SPREAD", date(2019, 1, 1))
    _load(neo4j_driver, b, tmp_path / "run")
    answer = controls(neo4j_driver, cid("SPREAD"), SETTINGS, TODAY)
    assert answer.beneficial_owners == []
    assert isinstance(answer.actual_controller, NoController)
    assert [r.entity_id for r in answer.legal_representatives] == [pid("MANAGER")]
    run_control(neo4j_driver, SETTINGS, TODAY)
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (c:Company {entity_id: $id}) OPTIONAL MATCH (c)<-[r:CONTROLS]-() "
        "RETURN c.no_identifiable_controller AS flag, count(r) AS n",
        id=cid("SPREAD"),
    )
    assert records[0]["flag"] is True
    assert records[0]["n"] == 0


def _rep_change() -> RunBuilder:
    b = RunBuilder("B")
    b.company("FOOD", "好味食品有限公司", uscc="91310000MA1FL0001X", industry="C1491")
    b.person("OLD", "张旧", "310101********1234")
    b.person("NEW", "李新", "310101********5678")
    b.legal_rep("OLD", "FOOD", date(2015, 3, 1))
    b.legal_rep("OLD", "FOOD", source="company_registry")
    return b


def test_legal_rep_change_answers_both_sides(neo4j_driver: neo4j.Driver, tmp_path: Path):
    b = _rep_change()
    b.legal_rep("OLD", "FOOD", valid_to=date(2021, 6, 1))
    b.legal_rep("NEW", "FOOD", valid_from=date(2021, 6, 1))
    _load(neo4j_driver, b, tmp_path / "run")
    before = controls(neo4j_driver, "91310000MA1FL0001X", SETTINGS, date(2021, 5, 31))
    after = controls(neo4j_driver, "好味食品有限公司", SETTINGS, date(2021, 6, 1))
    assert [r.entity_id for r in before.legal_representatives] == [pid("OLD")]
    assert [r.entity_id for r in after.legal_representatives] == [pid("NEW")]
    old = before.legal_representatives[0]
    assert (old.valid_from, old.valid_to) == (date(2015, 3, 1), date(2021, 6, 1))
    assert sorted(old.sources) == ["company_registry", "legal_rep_changes", "legal_rep_changes"]
    early = controls(neo4j_driver, cid("FOOD"), SETTINGS, date(2015, 2, 28))
    assert early.legal_representatives == []


def test_a_listing_ends_with_its_management_period(neo4j_driver: neo4j.Driver, tmp_path: Path):
    b = RunBuilder()
    b.company("S", "严重违法食品有限公司")
    b.listed("S", date(2020, 1, 1), list_name="serious_violation", expires=date(2023, 1, 1))
    _load(neo4j_driver, b, tmp_path / "run")
    on = {
        day: controls(neo4j_driver, cid("S"), SETTINGS, day).list_entries
        for day in (date(2022, 12, 31), date(2023, 1, 1))
    }
    assert [e.listed_on_date for e in on[date(2022, 12, 31)]] == [True]
    assert [e.listed_on_date for e in on[date(2023, 1, 1)]] == [False]
    assert on[date(2023, 1, 1)][0].expires == date(2023, 1, 1)


def test_a_wave_ends_a_tenure_in_place(neo4j_driver: neo4j.Driver, tmp_path: Path):
    base = _rep_change()
    base_dir = base.write(tmp_path / "base")
    load_run(neo4j_driver, base_dir)
    wave = RunBuilder("W")
    wave.companies, wave.people = base.companies, base.people
    wave.legal_rep("OLD", "FOOD", valid_to=date(2021, 6, 1))
    wave.legal_rep("NEW", "FOOD", valid_from=date(2021, 6, 1))
    wave_dir = wave.write(tmp_path / "wave", base=base_dir)
    summary = load_run(neo4j_driver, wave_dir)
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (p:Person)-[r:LEGAL_REPRESENTATIVE_OF]->(:Company {entity_id: $c}) "
        "RETURN p.entity_id AS p, r.valid_from AS f, r.valid_to AS t ORDER BY f",
        c=cid("FOOD"),
    )
    rows = [(r["p"], r["f"].to_native(), r["t"] and r["t"].to_native()) for r in records]
    assert rows == [
        (pid("OLD"), date(2015, 3, 1), date(2021, 6, 1)),
        (pid("NEW"), date(2021, 6, 1), None),
    ]
    assert summary.counters["relationships_created"] == 1  # NEW's tenure; OLD's updated
    again = load_run(neo4j_driver, wave_dir)
    assert again.counters["relationships_created"] == 0 and not again.stale_deleted


def test_footprint_follows_a_person_across_companies(neo4j_driver: neo4j.Driver, tmp_path: Path):
    b = RunBuilder()
    b.company("OLDCO", "旧食品有限公司")
    b.company("NEWCO", "新餐饮管理有限公司")
    b.company("HOLD", "控股有限公司")
    b.person("ZW", "张伟", "110101********123X", born=date(1980, 5, 17))
    b.person("ZW2", "张伟", "440301********0011")
    b.legal_rep("ZW", "OLDCO", date(2010, 1, 1), date(2020, 1, 1))
    b.punishment(
        "OLDCO",
        "京市监处〔2019〕7号",
        date(2019, 7, 1),
        ["licence_revocation"],
        responsible=("ZW",),
    )
    b.holds("ZW", "HOLD", 0.8)
    b.holds("HOLD", "NEWCO", 0.6)
    b.officer("ZW2", "NEWCO", "supervisor")
    _load(neo4j_driver, b, tmp_path / "run")
    run_control(neo4j_driver, SETTINGS, TODAY)
    with pytest.raises(Ambiguous) as err:
        resolve_person(neo4j_driver, "张伟")
    assert {c["entity_id"] for c in err.value.candidates} == {pid("ZW"), pid("ZW2")}
    # The 6+4 mask hides the birth date: shown beside it, the pair would be the full ID.
    assert {c["birth_year"] for c in err.value.candidates} == {1980, None}
    assert "1980-05-17" not in str(err.value.candidates) and "19800517" not in str(err.value)
    assert resolve_person(neo4j_driver, "张伟", "110101*") == pid("ZW")
    assert resolve_person(neo4j_driver, "张伟", "*0011") == pid("ZW2")
    with pytest.raises(NotFound):
        resolve_person(neo4j_driver, "张伟", "999999********9999")
    answer = footprint(neo4j_driver, "张伟", "110101********123X")
    person = answer.model_dump()["person"]
    assert person["birth_year"] == 1980 and "birth_date" not in person
    assert {r.entity_id for r in answer.roles} == {cid("OLDCO")}
    assert {c.entity_id for c in answer.control} == {cid("NEWCO"), cid("HOLD")}
    assert {i.entity_id: i.hops for i in answer.indirect} == {cid("NEWCO"): 2}
    assert [(p.on, p.via) for p in answer.punishments] == [
        (cid("OLDCO"), "party"),
        (pid("ZW"), "responsible"),
    ]
    risk = related_party_risk(neo4j_driver, cid("NEWCO"), hops=3)
    assert [r.entity_id for r in risk.related] == []
    b.punishment("HOLD", "京市监处〔2021〕9号", date(2021, 1, 1), ["fine"])
    _load(neo4j_driver, b, tmp_path / "run2")
    risk = related_party_risk(neo4j_driver, cid("NEWCO"), hops=1)
    assert [r.entity_id for r in risk.related] == [cid("HOLD")]


def test_a_run_linked_before_name_keys_loads_without_them(
    neo4j_driver: neo4j.Driver, tmp_path: Path
):
    b = RunBuilder()
    b.company("OLD", "旧食品有限公司", uscc="91310000MA1FL0001X")
    run = b.write(tmp_path / "run")
    (run / "company_name_keys.parquet").unlink()
    _load(neo4j_driver, b, tmp_path / "run2")
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (c:Company) RETURN c.entity_id AS id, c.name_keys AS keys, c.name_forms AS forms"
    )
    assert [r.values() for r in records] == [[cid("OLD"), "|旧食品有限公司|", "|旧食品有限公司|"]]
    load_run(neo4j_driver, run)
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (c:Company) RETURN c.entity_id AS id, c.name_keys AS keys, c.name_forms AS forms"
    )
    assert [r.values() for r in records] == [[cid("OLD"), None, None]]


HOSTILE = [
    "X' OR 1=1 //",
    'A"}) MATCH (n) DETACH DELETE n //',
    "{evil: true}",
    "`Person`",
    "$rows",
    "MATCH (n) RETURN n",
    "\\u0027; DROP",
]


def test_hostile_strings_are_data(neo4j_driver: neo4j.Driver, tmp_path: Path):
    b = RunBuilder()
    for i, text in enumerate(HOSTILE):
        b.company(f"c{i}", text)
        b.person(f"p{i}", text)
        b.legal_rep(f"p{i}", f"c{i}", date(2020, 1, 1))
    _load(neo4j_driver, b, tmp_path / "run")
    count = _dump(neo4j_driver)
    for i, text in enumerate(HOSTILE):
        assert controls(neo4j_driver, text, SETTINGS, TODAY).company.name == text
        assert footprint(neo4j_driver, text).person.entity_id == pid(f"p{i}")
        assert related_party_risk(neo4j_driver, text, 2).company == cid(f"c{i}")
        with pytest.raises(NotFound):
            controls(neo4j_driver, text + "x", SETTINGS, TODAY)
        with pytest.raises(NotFound):
            footprint(neo4j_driver, text, id_hint=text)
    assert _dump(neo4j_driver) == count


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batch_control_matches_a_dense_solve(neo4j_driver: neo4j.Driver, tmp_path: Path, seed: int):
    """Random holdings with cycles: stored beneficial owners equal numpy's L = P (I - A)^-1."""
    rng = np.random.default_rng(seed)
    n_c, n_p = 12, 6
    b = RunBuilder()
    companies = [f"c{i}" for i in range(n_c)]
    people = [f"p{i}" for i in range(n_p)]
    for key in companies:
        b.company(key)
    for key in people:
        b.person(key)
    a = np.zeros((n_c, n_c))
    p = np.zeros((n_p, n_c))
    for j in range(n_c):
        holders = [
            *rng.choice(n_c, size=rng.integers(0, 3), replace=False),
            n_c + rng.integers(n_p),
        ]  # a person in every company: no 100% loops
        shares = rng.dirichlet(np.ones(len(holders)))
        for h, s in zip(holders, shares, strict=True):
            s = round(float(s), 4)
            if h < n_c and h != j:
                a[h, j] = s
                b.holds(companies[h], companies[j], s)
            elif h >= n_c:
                p[h - n_c, j] = s
                b.holds(people[h - n_c], companies[j], s)
    _load(neo4j_driver, b, tmp_path / "run")
    run_control(neo4j_driver, SETTINGS, TODAY)
    dense = p @ np.linalg.inv(np.eye(n_c) - a)
    expected = {
        (pid(people[i]), cid(companies[j])): dense[i, j]
        for i in range(n_p)
        for j in range(n_c)
        if dense[i, j] >= 0.25 - 1e-9
    }
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (p:Person)-[r:BENEFICIAL_OWNER_OF]->(c:Company) "
        "RETURN p.entity_id AS p, c.entity_id AS c, r.share AS share"
    )
    assert {(r["p"], r["c"]): r["share"] for r in records} == pytest.approx(expected, abs=1e-9)


def test_cli_load_control_controls_footprint(
    neo4j_server: Neo4jSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("NEO4J_URI", neo4j_server.uri)
    monkeypatch.setenv("NEO4J_USER", neo4j_server.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_server.password)
    b = _cycle_world()
    b.legal_rep("X", "A", date(2015, 1, 1))
    run_dir = b.write(tmp_path / "run")
    runner = CliRunner()
    loaded = runner.invoke(app, ["graph", "load", "--run", str(run_dir), "--json"])
    assert loaded.exit_code == 0, loaded.output
    # stdout: the log's warning that this hand-built run records no ID secret is on stderr
    assert json.loads(loaded.stdout)["resolved"]["persons"] == 2
    done = runner.invoke(app, ["graph", "control", "--as-of", "2026-01-01", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["beneficial_owners"] == 3  # X in A and B, Y in B
    shown = runner.invoke(app, ["controls", "A有限公司", "--as-of", "2026-01-01"])
    assert shown.exit_code == 0, shown.output
    assert "actual controller" in shown.output and "X某" in shown.output
    person = runner.invoke(app, ["footprint", "X某", "--json"])
    assert json.loads(person.output)["roles"][0]["entity_id"] == cid("A")
    missing = runner.invoke(app, ["controls", "无此公司"])
    assert missing.exit_code == 1 and "no company matches" in missing.output
    bad_date = runner.invoke(app, ["controls", "A有限公司", "--as-of", "2026-13-01"])
    assert bad_date.exit_code == 1 and "YYYY-MM-DD" in bad_date.output


def test_a_run_loaded_with_another_id_secret_is_refused_before_the_graph_is_touched(
    neo4j_driver: neo4j.Driver,
    neo4j_server: Neo4jSettings,
    linked_run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The graph keys the records whose key holds a resident ID with the ID-token secret; a
    run loaded with another secret would put two keyings in one graph, and the screener
    (which refuses such a run) and the graph would disagree on every such record, silently.
    The run's manifest records its secret's fingerprint: another secret is refused, the
    graph as it was, through the CLI too."""
    from shared_world import WORLD_SECRET

    from config.errors import InputError

    one = RunBuilder()
    one.company("A", "甲有限公司")
    _load(neo4j_driver, one, tmp_path / "one")
    before = _dump(neo4j_driver)
    with pytest.raises(InputError, match="another ID-token secret") as refused:
        load_run(neo4j_driver, linked_run, secret=b"a-different-secret")
    assert "VEIL_ID_SECRET" in str(refused.value) and "different" not in str(refused.value)
    assert _dump(neo4j_driver) == before
    monkeypatch.setenv("NEO4J_URI", neo4j_server.uri)  # the session's server, not a local one
    monkeypatch.setenv("NEO4J_USER", neo4j_server.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_server.password)
    result = CliRunner().invoke(app, ["graph", "load", "--run", str(linked_run)])
    assert result.exit_code != 0 and "another ID-token secret" in result.output
    assert _dump(neo4j_driver) == before
    assert load_run(neo4j_driver, linked_run, secret=WORLD_SECRET).rows > 0
