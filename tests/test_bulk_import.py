"""Bulk import (graph/bulk_load.py): the graph `neo4j-admin database import` builds equals
the one `load_run` builds over Bolt, property by property with Neo4j's own type names, and
a Bolt load of the same run afterwards changes nothing.

Both run on a SECOND local Neo4j (its own data dir and port), not the session's shared
one: an import stops and restarts the instance it loads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import neo4j
import pytest
from graph_runs import RunBuilder, pid
from typer.testing import CliRunner

from config.errors import EnvironmentProblem
from graph.bulk_csv import _DelimiterInData, csv_field, csv_type, write_csvs
from graph.bulk_load import bulk_load
from graph.facts import resolve_run
from graph.load import STAMPED_NODES, STAMPED_RELATIONSHIPS, load_run, load_steps
from graph.schema import SCHEMA
from graph.server import local
from graph.server.admin_import import CsvFile, ImportFiles, run_import
from graph.server.connection import external_settings, open_driver
from graph.server.local import LocalServer, ServerConfig, free_port
from service.cli import app

# Neo4j-admin and a server of its own: Java and the jars.
pytestmark = pytest.mark.neo4j

needs_local = pytest.mark.skipif(
    external_settings() is not None, reason="bulk import needs veil's local Neo4j"
)

HOSTILE = [
    'say "hi"',
    '"',
    "a,b,c",
    "line\nbreak",
    "cr\r\nlf\r",
    "pipe|semi;colon",
    "北京某某食品有限公司",
    "unit\x1fseparator",
    "  padded  ",
    "back\\slash\\",
    "tab\there",
    "'); MATCH (n) DETACH DELETE n //",
]


def _hostile_run(tmp_path: Path) -> Path:
    """Every kind of node and relationship, open and closed dates, lists empty and not,
    hostile strings in names and list elements."""
    b = RunBuilder()
    for i, text in enumerate(HOSTILE):
        b.company(
            f"c{i}",
            f"{text}有限公司{i}",
            uscc=f"91110000MA0{i:05d}X" if i % 2 else None,
            established=date(2000 + i, 1, 2) if i % 3 else None,
        )
        b.person(
            f"p{i}",
            f"{text}{i}",
            id_display=f"110101********{i:03d}X" if i % 2 else None,
            born=date(1970 + i, 3, 4) if i % 2 else None,
        )
        b.legal_rep(f"p{i}", f"c{i}", date(2015, 1, 1), date(2020, 6, 30) if i % 2 else None)
    b.legal_rep("p1", "c0", date(2020, 6, 30))  # open-ended successor
    b.legal_rep("p2", "c2")  # undated: in office now
    b.officer("p3", "c1", "director", date(2016, 1, 1))
    b.officer("p4", "c1", "supervisor")
    b.holds("p0", "c1", 0.6, date(2018, 3, 1))
    b.holds("c1", "c2", 1 / 3)
    b.holds("c2", "c1", 0.25, date(2019, 1, 1))
    b.punishment(
        "c0",
        "沪市监处〔2020〕1号",
        date(2020, 5, 1),
        ["fine", 'warn;"x",y\x1fz'],  # list elements with the delimiters of both paths
        responsible=("p0", "p1", "p0"),
        legal_rep="p2",
    )
    b.punishment("c1", "京市监处〔2021〕2号", date(2021, 1, 1), [""])  # one empty string
    b.punishment("c2", "京市监处〔2021〕3号", date(2021, 2, 1), [])  # an empty list
    b.listed("c3", date(2021, 1, 1))
    b.listed("p5", date(2021, 1, 1), removed=date(2022, 1, 1))
    b.licence("c4", "JY1\n2", date(2020, 1, 1), date(2025, 1, 1))
    return b.write(tmp_path / "run")


def _typed_dump(driver: neo4j.Driver) -> tuple[list, list]:
    """Every veil node and relationship, each property with its Neo4j type, sorted."""
    nodes, _, _ = driver.execute_query(
        "MATCH (n) WHERE any(l IN labels(n) WHERE l IN $labels) "
        "RETURN labels(n) AS labels, [k IN keys(n) | [k, valueType(n[k]), n[k]]] AS props",
        labels=list(STAMPED_NODES),
    )
    rels, _, _ = driver.execute_query(
        "MATCH (a)-[r]->(b) WHERE type(r) IN $types "
        "RETURN type(r) AS type, [k IN keys(r) | [k, valueType(r[k]), r[k]]] AS props, "
        "coalesce(a.entity_id, a.key) AS a, coalesce(b.entity_id, b.key) AS b",
        types=list(STAMPED_RELATIONSHIPS),
    )

    def text(record: neo4j.Record) -> str:
        data = record.data()
        data["props"] = sorted(data["props"])
        return json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)

    return sorted(map(text, nodes)), sorted(map(text, rels))


def _schema(driver: neo4j.Driver) -> list[tuple]:
    """Constraints and indexes of graph/schema.py as Neo4j reports them."""
    names = {re.search(r"(?:CONSTRAINT|INDEX) (\w+)", s)[1] for s in SCHEMA}
    records, _, _ = driver.execute_query(
        "SHOW INDEXES YIELD name, type, labelsOrTypes, properties, owningConstraint, state "
        "WHERE name IN $names RETURN *",
        names=list(names),
    )
    found = sorted(tuple(json.dumps(v) for v in r.values()) for r in records)
    assert len(found) == len(names)
    return found


def _load_node(driver: neo4j.Driver, load_id: str) -> list:
    records, _, _ = driver.execute_query(
        "MATCH (l:Load {id: $id}) RETURN [k IN keys(l) WHERE k <> 'loaded_at' "
        "| [k, valueType(l[k]), l[k]]] AS props",
        id=load_id,
    )
    return sorted(records[0]["props"])


@dataclass
class ImportTarget:
    """The second instance: its config, and every LocalServer handle started for it."""

    config: ServerConfig
    servers: list[LocalServer] = field(default_factory=list)

    def driver(self) -> neo4j.Driver:
        return open_driver(local.local_settings(self.config))


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImportTarget]:
    config = ServerConfig(
        data_dir=tmp_path_factory.mktemp("neo4j-import"),
        port=free_port(),
        heap="512m",
        pagecache="128m",
        tx_max="256m",
    )
    found = ImportTarget(config, [local.start(config, watch_stdin=True)])
    try:
        yield found
    finally:
        local.stop(config)  # whichever instance runs now
        for server in found.servers:
            server.stop()


@needs_local
def test_an_import_builds_what_the_bolt_load_builds(target: ImportTarget, tmp_path: Path):
    """The Bolt load (CREATE, into an empty graph) and the import run on the same instance:
    the graph, schema and Load node of the one are kept, the graph wiped, the other run."""
    run_dir = _hostile_run(tmp_path)
    with target.driver() as driver:
        driver.execute_query("MATCH (n) DETACH DELETE n")
        created = load_run(driver, run_dir)
        assert created.mode == "create"
        by_bolt = _typed_dump(driver)
        schema = _schema(driver)
        load_node = _load_node(driver, created.load_id)
        driver.execute_query("MATCH (n) DETACH DELETE n")  # empty: the import may replace it

    stages: list[str] = []
    imported = bulk_load(
        target.config,
        run_dir,
        watch_stdin=True,
        progress=lambda update: stages.append(update.stage),
        memory="512m",
    )
    target.servers.append(imported.server)
    summary = imported.summary
    assert summary.mode == "import"
    assert summary.load_id == created.load_id
    assert summary.rows == created.rows
    for counter in ("nodes_created", "relationships_created"):
        assert summary.counters[counter] == created.counters[counter]
    expected = ["check", "resolve", "csv", "stop", "import", "restart", "schema", "finish"]
    assert list(summary.stages) == expected
    assert set(stages) == set(expected)

    with target.driver() as driver:
        assert _typed_dump(driver) == by_bolt
        assert _schema(driver) == schema
        assert _load_node(driver, summary.load_id) == load_node
        records, _, _ = driver.execute_query(
            "MATCH (p:Person {entity_id: $id}) RETURN p.name AS name, p.id_tokens AS tokens",
            id=pid("p3"),
        )
        assert records[0]["name"] == "line\nbreak3" and len(records[0]["tokens"]) == 1

        again = load_run(driver, run_dir)  # Bolt, MERGE: finds everything in place
        assert again.mode == "merge"
        assert again.counters["nodes_created"] == 0
        assert again.counters["relationships_created"] == 0
        assert not again.stale_deleted
        assert _typed_dump(driver) == by_bolt
        loads, _, _ = driver.execute_query("MATCH (l:Load) RETURN count(l) AS n")
        assert loads[0]["n"] == 1


@needs_local
def test_a_graph_with_nodes_is_refused(target: ImportTarget, tmp_path: Path):
    run_dir = _hostile_run(tmp_path)
    if not local.is_running(target.config):
        target.servers.append(local.start(target.config, watch_stdin=True))
    with target.driver() as driver:
        driver.execute_query("MERGE (:VeilTest {id: 'refusal'})")
        with pytest.raises(EnvironmentProblem, match=r"not empty .*VeilTest 1"):
            bulk_load(target.config, run_dir, watch_stdin=True)
        assert local.is_running(target.config)  # left as it was
        records, _, _ = driver.execute_query("MATCH (n:VeilTest {id: 'refusal'}) RETURN n")
        assert len(records) == 1

    runner = CliRunner()  # the CLI says the same for the local instance
    env = {
        "VEIL_NEO4J_HOME": str(target.config.data_dir),
        "VEIL_NEO4J_PORT": str(target.config.port),
        "NEO4J_URI": "",
    }
    result = runner.invoke(app, ["graph", "load", "--run", str(run_dir), "--bulk"], env=env)
    assert result.exit_code == 1
    assert "not empty" in result.output and "without --bulk" in result.output


@needs_local
def test_a_changed_password_file_is_an_error_that_says_to_restart(
    target: ImportTarget, tmp_path: Path
):
    """The running instance took its password from the file at start; a file changed since
    makes Neo4j refuse veil: the CLI says so and what to do, without a traceback."""
    run_dir = _hostile_run(tmp_path)
    if not local.is_running(target.config):
        target.servers.append(local.start(target.config, watch_stdin=True))
    env = {
        "VEIL_NEO4J_HOME": str(target.config.data_dir),
        "VEIL_NEO4J_PORT": str(target.config.port),
        "NEO4J_URI": "",
    }
    password = target.config.password_file.read_text(encoding="ascii")
    target.config.password_file.write_text("not-the-password\n", encoding="ascii")
    try:
        runner = CliRunner()
        bulk = runner.invoke(app, ["graph", "load", "--run", str(run_dir), "--bulk"], env=env)
        init = runner.invoke(app, ["graph", "init"], env=env)
    finally:
        target.config.password_file.write_text(password, encoding="ascii")
    for result in (bulk, init):
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
        assert "refused the credentials" in result.output
        assert "veil neo4j stop" in result.output and "NEO4J_PASSWORD" not in result.output
    assert "checking the local graph is empty" in bulk.output
    assert local.is_running(target.config)  # left as it was


def test_an_external_server_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:1")
    monkeypatch.setenv("NEO4J_PASSWORD", "x")
    with pytest.raises(EnvironmentProblem, match="NEO4J_URI"):
        bulk_load(ServerConfig(data_dir=tmp_path / "neo4j"), tmp_path / "run")
    result = CliRunner().invoke(app, ["graph", "load", "--run", str(tmp_path), "--bulk"])
    assert result.exit_code == 1 and "NEO4J_URI" in result.output


def test_csv_types_follow_the_values_bolt_sends():
    assert csv_type(["a", None]) == "string"
    assert csv_type([1.5, None]) == "double"
    assert csv_type([1, 2]) == "long"
    assert csv_type([True, None]) == "boolean"
    assert csv_type([date(2020, 1, 1)]) == "date"
    assert csv_type([["a"], []]) == "string[]"
    assert csv_type([[], []]) == "string[]"
    assert csv_type([[1, 2], None]) == "long[]"
    assert csv_type([None, None]) is None
    with pytest.raises(TypeError):
        csv_type([1, 1.5])  # Bolt stores Integer and Float: no one CSV type
    array, later = csv_field("string[]", [["a", "b"], [], [""], None, ["", ""]], "\x1f")
    assert array.to_pylist() == ["a\x1fb", None, None, None, "\x1f"]
    assert later == {1: [], 2: [""]}
    with pytest.raises(_DelimiterInData):
        csv_field("string[]", [["a\x1fb"]], "\x1f")
    array, _ = csv_field("double", [float("inf"), 0.1, None], "\x1f")
    assert array.to_pylist() == ["Infinity", "0.1", None]


def test_csv_files_carry_typed_headers(tmp_path: Path):
    resolved = resolve_run(_hostile_run(tmp_path))
    plan = write_csvs(list(load_steps(resolved, create=True)), tmp_path)
    assert plan.array_delimiter == "\x1e"  # \x1f occurs in a list element
    person = plan.nodes[0].path.read_text(encoding="utf-8").splitlines()[0]
    assert person.startswith("entity_id:ID(Person),name:string,names:string[],")
    # the year, never the date beside a 6+4 mask (together: the whole resident ID)
    assert "birth_year:long" in person and "birth_date" not in person
    company = plan.nodes[1].path.read_text(encoding="utf-8").splitlines()[0]
    assert "established:date" in company and "former_names:string[]" in company
    holds = next(f for f in plan.relationships if f.label == "HOLDS_SHARES_IN")
    header = holds.path.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith(":START_ID(Person),:END_ID(Company),key:string,ratio:double,")
    assert all(f.multiline for f in plan.nodes[:2])  # names with line breaks
    assert any("former_names = []" in s for s in plan.fill)  # every company has none
    assert [name for name, _, _ in plan.later] == ["Punishment: lists"]  # [""] and []


def test_a_failed_import_names_the_file_and_line(tmp_path: Path):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    nodes = work / "persons.csv"
    nodes.write_text('entity_id:ID(Person),born:date\n"P1",2020-01-01\n"P2",not-a-date\n')
    files = ImportFiles("\x1f", nodes=[CsvFile(nodes, "Person", 2, False)])
    with pytest.raises(EnvironmentProblem) as failed:
        run_import(home, files, work, memory="256m", heap="256m")
    message = str(failed.value)
    assert str(nodes) in message and "line:2" in message and "not-a-date" in message
