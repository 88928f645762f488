"""The local Neo4j, end to end: a real embedded DBMS, the official driver, the CLI. No mocks.

Each JVM start costs 15-30 s, so: one session instance (conftest) for the driver tests and
one more for the CLI path; the error tests fail before any JVM starts.
"""

from __future__ import annotations

import json
import socket
import stat
import uuid
from dataclasses import replace
from pathlib import Path

import neo4j
import pytest
from typer.testing import CliRunner

from config.errors import EnvironmentProblem
from graph.server import jars, local
from graph.server.connection import Neo4jSettings, neo4j_settings, open_driver
from service.cmd_neo4j import app

# The local launcher itself: Java and the jars, even where no server is left running.
pytestmark = pytest.mark.neo4j


def test_round_trip_through_the_driver(neo4j_driver: neo4j.Driver, neo4j_server: Neo4jSettings):
    tag = f"t{uuid.uuid4().hex}"
    names = ["张伟", "李娜", "Ødegaard"]
    rows = [{"uid": f"{tag}-{i}", "name": name} for i, name in enumerate(names)]
    try:
        neo4j_driver.execute_query(
            "UNWIND $rows AS row CREATE (:VeilTest {uid: row.uid, name: row.name, tag: $tag})",
            parameters_={"rows": rows, "tag": tag},
            database_=neo4j_server.database,
        )
        records, _, _ = neo4j_driver.execute_query(
            "MATCH (n:VeilTest {tag: $tag}) RETURN n.uid AS uid, n.name AS name ORDER BY uid",
            parameters_={"tag": tag},
            database_=neo4j_server.database,
        )
        assert [r.data() for r in records] == rows
    finally:
        neo4j_driver.execute_query(
            "MATCH (n:VeilTest {tag: $tag}) DELETE n",
            parameters_={"tag": tag},
            database_=neo4j_server.database,
        )


def test_wrong_password_is_rejected(neo4j_server: Neo4jSettings):
    wrong = replace(neo4j_server, password=neo4j_server.password + "-wrong")
    with open_driver(wrong) as driver, pytest.raises(neo4j.exceptions.AuthError):
        driver.verify_connectivity()
    assert "-wrong" not in repr(wrong)  # passwords stay out of reprs and so out of logs


def test_taken_port_is_named_in_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("NEO4J_URI", raising=False)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        config = local.ServerConfig(data_dir=tmp_path / "neo4j", port=port)
        with pytest.raises(EnvironmentProblem, match=rf"port {port}\b.*--port"):
            local.start(config)


def test_external_server_wins_and_blocks_a_local_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("NEO4J_URI", "bolt://db.example:7687")
    monkeypatch.setenv("NEO4J_USER", "veil")
    monkeypatch.setenv("NEO4J_PASSWORD", "secret-pw")
    monkeypatch.delenv("NEO4J_DATABASE", raising=False)
    assert neo4j_settings() == Neo4jSettings("bolt://db.example:7687", "veil", "secret-pw")

    def starting() -> None:
        raise AssertionError("a command asked for the external server started a local one")

    assert neo4j_settings(start=True, starting=starting) == neo4j_settings()
    with pytest.raises(EnvironmentProblem, match="NEO4J_URI"):
        local.start(local.ServerConfig(data_dir=tmp_path / "neo4j", port=1))


def test_cli_start_status_stop(tmp_path: Path, free_port: int, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.setenv("VEIL_NEO4J_HEAP", "512m")
    monkeypatch.setenv("VEIL_NEO4J_PAGECACHE", "128m")
    data_dir = tmp_path / "neo4j"
    where = ["--data-dir", str(data_dir), "--port", str(free_port)]
    runner = CliRunner()
    uri = f"bolt://127.0.0.1:{free_port}"
    try:
        result = runner.invoke(app, ["start", *where])
        assert result.exit_code == 0, result.output
        assert f"ready at {uri}" in result.output

        result = runner.invoke(app, ["start", *where])
        assert result.exit_code == 0, result.output
        assert "already running" in result.output

        result = runner.invoke(app, ["status", "--json", *where])
        assert result.exit_code == 0, result.output
        st = json.loads(result.output)
        assert (st["mode"], st["uri"], st["running"], st["bolt_ok"]) == ("local", uri, True, True)
        assert isinstance(st["pid"], int)

        password_file = data_dir / "password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        assert password_file.read_text().strip() not in result.output

        result = runner.invoke(app, ["stop", *where])
        assert result.exit_code == 0, result.output
        assert f"stopped (pid {st['pid']})" in result.output

        result = runner.invoke(app, ["stop", *where])
        assert result.exit_code == 0, result.output
        assert "not running" in result.output

        result = runner.invoke(app, ["status", *where])
        assert result.exit_code == 0, result.output
        assert "not running" in result.output
    finally:
        local.stop(local.server_config(data_dir=data_dir))


def test_missing_java_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EnvironmentProblem, match=r"no `java` on PATH.*Java 17"):
        jars.check_java()


def test_missing_maven_with_an_empty_jar_cache_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("VEIL_JAR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EnvironmentProblem, match=r"not cached .* `mvn` is not on"):
        jars.ensure_jars()


def test_a_start_that_times_out_says_so_and_leaves_nothing_running(tmp_path: Path, free_port: int):
    config = local.server_config(data_dir=tmp_path / "neo4j", port=free_port, timeout=1.0)
    with pytest.raises(EnvironmentProblem, match=r"did not become ready within 1 s"):
        local.start(config, watch_stdin=True)
    assert not config.state_file.exists()
    assert local.status(config).running is False
