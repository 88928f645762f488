"""Reads answer whole while the graph is written: a load's delta, a control run and a sweep
are each one transaction with a new published version, readers answer from one version
(graph/published.py), and a write too large for one transaction says so to readers.

Two runs, A and B, state the same companies with different people: in A, 甲 is legal
representative of the revoked 旧食品 and then of every 新食品 company, each held 60% by a
shareholder of A's; in B, 乙 and B's shareholders. Every control answer and every alert
differs between them, so an answer read from half a load or half a sweep is neither A's
nor B's.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import neo4j
import pytest
from api_support import api_key
from fastapi.testclient import TestClient
from graph_runs import RunBuilder, cid, graph_dump

from alerts.store import sweep
from config.graph import load_graph_config
from config.progress import Update
from config.rules import load_rules
from graph.analysis import control_one, run_control
from graph.guard import unfinished_load
from graph.load import load_run
from graph.published import read_state
from graph.queries import _CONTROL
from graph.server.connection import Neo4jSettings
from service.api.app import create_app
from service.api.common import WARNING_HEADER
from service.keys import Role

AS_OF = date(2026, 10, 31)
T0 = date(2020, 5, 1)
SETTINGS = load_graph_config().control
RULES = load_rules()
COMPANIES = 120
#: The companies whose control the readers ask for.
ASKED = [cid(f"Y{i}") for i in range(0, COMPANIES, 15)]
ROUNDS = 2


def _run(who: str) -> RunBuilder:
    b = RunBuilder(who)  # record IDs prefixed: every fact of A differs from B's
    b.company("X", "旧食品有限公司", region="310115", established=date(2010, 1, 1))
    b.person(who, f"{who}某", "110101********123X")
    b.legal_rep(who, "X", date(2012, 1, 1))
    b.punishment("X", f"沪市监处〔2020〕{who}号", T0, ["licence_revocation"])
    for i in range(COMPANIES):
        company = f"Y{i}"
        b.company(company, f"新食品{i}有限公司", region="310115", established=date(2022, 1, 1))
        b.legal_rep(who, company, date(2022, 1, 1))
        b.person(f"{who}h{i}", f"{who}股东{i}")
        b.holds(f"{who}h{i}", company, 0.6, date(2022, 1, 1))
    return b


@pytest.fixture(scope="module")
def api_world() -> RunBuilder:
    return _run("甲")


@pytest.fixture(scope="module")
def runs(api_graph: Path) -> dict[str, Path]:
    """Run A (the module's graph, `api_graph`) and run B."""
    return {"A": api_graph, "B": _run("乙").write(api_graph.parent / "b")}


def _wipe(driver: neo4j.Driver) -> None:
    driver.execute_query("MATCH (n) DETACH DELETE n")


def _controls(client: TestClient) -> dict[str, Any]:
    headers = api_key(Role.REGULATOR)
    answers = {}
    for company in ASKED:
        got = client.get(
            f"/companies/{company}/control", params={"as_of": AS_OF.isoformat()}, headers=headers
        )
        assert got.status_code == 200, got.text
        answers[company] = got.json()
    return answers


def _inbox(client: TestClient) -> tuple[int, frozenset[str]]:
    got = client.get("/alerts", params={"per_page": 200}, headers=api_key(Role.REGULATOR))
    assert got.status_code == 200, got.text
    return got.json()["total"], frozenset(a["id"] for a in got.json()["alerts"])


def _hammer(write: Callable[[], None], read: Callable[[], list[str]]) -> tuple[int, list[str]]:
    """`read` by two threads over and over while `write` runs; the answers read and the
    problems they found."""
    writing = threading.Event()
    writing.set()
    start = threading.Barrier(3)

    def writer() -> None:
        start.wait()
        try:
            write()
        finally:
            writing.clear()

    def reader() -> tuple[int, list[str]]:
        start.wait()
        answers, problems = 0, []
        while writing.is_set():
            found = read()
            answers += 1
            problems += found
        return answers, problems

    with ThreadPoolExecutor(3) as pool:
        done = pool.submit(writer)
        readers = [pool.submit(reader) for _ in range(2)]
        done.result()
        results = [r.result() for r in readers]
    assert all(n >= 1 for n, _ in results)  # every reader answered while the writer wrote
    return sum(n for n, _ in results), [p for _, found in results for p in found]


def test_control_answers_are_one_load_or_the_other_while_loads_write(
    client: TestClient, neo4j_driver: neo4j.Driver, runs: dict[str, Path]
) -> None:
    """Readers ask who controls eight companies while a writer loads A, B, A, B (small
    batches, as a large load's are): every answer is 200 and equals A's or B's answer for
    that company, never a mix (a legal representative of A beside a shareholder of B)."""
    expected = {}
    for name in ("B", "A"):  # A last: the graph the writer starts from
        load_run(neo4j_driver, runs[name])
        expected[name] = _controls(client)
    assert all(expected["A"][c] != expected["B"][c] for c in ASKED)
    headers = api_key(Role.REGULATOR)

    def write() -> None:
        for _ in range(ROUNDS):
            for name in ("B", "A"):
                load_run(neo4j_driver, runs[name], batch_size=50)

    def read() -> list[str]:
        problems = []
        for company in ASKED:
            got = client.get(
                f"/companies/{company}/control",
                params={"as_of": AS_OF.isoformat()},
                headers=headers,
            )
            if got.status_code != 200:
                problems.append(f"{company}: {got.status_code} {got.text[:200]}")
            elif got.json() not in (expected["A"][company], expected["B"][company]):
                problems.append(f"{company}: mixed")
        return problems

    answers, problems = _hammer(write, read)
    assert problems == [], f"{len(problems)} of {answers * len(ASKED)} answers: {problems[:5]}"


def test_the_inbox_is_one_sweep_or_the_other_while_sweeps_write(
    client: TestClient, neo4j_driver: neo4j.Driver, runs: dict[str, Path]
) -> None:
    """Readers list the inbox while a writer loads and sweeps B, A, B, A: every list is 200
    and holds exactly the alerts of A's sweep or of B's (a sweep raises its alerts and
    withdraws the others' in one transaction), with its total."""
    expected = {}
    for name in ("B", "A"):
        load_run(neo4j_driver, runs[name])
        sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
        expected[name] = _inbox(client)
    assert expected["A"][1].isdisjoint(expected["B"][1]) and len(expected["A"][1]) >= COMPANIES
    headers = api_key(Role.REGULATOR)

    def write() -> None:
        for _ in range(ROUNDS):
            for name in ("B", "A"):
                load_run(neo4j_driver, runs[name])
                sweep(neo4j_driver, RULES, SETTINGS, AS_OF)

    def read() -> list[str]:
        got = client.get("/alerts", params={"per_page": 200}, headers=headers)
        if got.status_code != 200:
            return [f"{got.status_code} {got.text[:200]}"]
        seen = (got.json()["total"], frozenset(a["id"] for a in got.json()["alerts"]))
        return [] if seen in expected.values() else [f"mixed: {seen[0]} alerts"]

    answers, problems = _hammer(write, read)
    assert problems == [], f"{len(problems)} of {answers} lists: {problems[:5]}"


def test_control_reads_the_state_before_and_after_its_statement(
    neo4j_driver: neo4j.Driver,
) -> None:
    """`controls` reads the published state inside its one statement, not in two statements
    of its own (graph.published.stamped). That is whole only if Neo4j reads the state BEFORE
    the company and AFTER the records; the plan decides the order, so this reads the plan:
    the top Apply reads a state on its right (after) side; below it on the left, the first
    Apply reads the other on its left (before) side and the company on its right."""
    for key in ("uscc", "entity_id"):
        plan = neo4j_driver.execute_query("EXPLAIN " + _CONTROL[key], ref="x", as_of=None)
        assert plan.summary.plan is not None
        top = _top_apply(plan.summary.plan)
        before_and_query, after = top["children"]
        assert _reads("GraphState", after) and not _reads("Company", after)
        before, query = _top_apply(before_and_query)["children"]
        assert _reads("GraphState", before) and not _reads("Company", before)
        assert _reads("Company", query) and not _reads("GraphState", query)


def _reads(word: str, plan: dict[str, Any]) -> bool:
    return word in json.dumps(plan)


def _top_apply(plan: dict[str, Any]) -> dict[str, Any]:
    """The first Apply operator, breadth first from the plan's root."""
    queue = [plan]
    while queue:
        node = queue.pop(0)
        if node["operatorType"].split("@")[0] == "Apply":
            return node
        queue += node.get("children", [])
    raise AssertionError(f"no Apply in the plan: {json.dumps(plan)[:2000]}")


def test_reloading_the_same_run_writes_nothing(
    client: TestClient, neo4j_driver: neo4j.Driver, runs: dict[str, Path]
) -> None:
    _wipe(neo4j_driver)
    first = load_run(neo4j_driver, runs["A"])
    before, version = graph_dump(neo4j_driver), read_state(neo4j_driver).version
    again = load_run(neo4j_driver, runs["A"])
    assert (again.mode, again.atomic, again.rows) == ("merge", True, 0)
    assert not any(again.counters.values())
    assert again.unchanged == first.rows and not again.stale_deleted
    assert graph_dump(neo4j_driver) == before
    assert read_state(neo4j_driver).version == version  # nothing new to publish


def test_a_delta_above_the_cap_is_batched_says_so_and_ends_as_a_clean_load(
    client: TestClient,
    neo4j_driver: neo4j.Driver,
    runs: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With load.atomic_rows below the delta, the load is batched: its summary says
    atomic false, the log warns, answers read meanwhile carry the warning header and
    /readyz reports graph_warning; afterwards the graph is a clean load of the run."""
    _wipe(neo4j_driver)
    load_run(neo4j_driver, runs["B"])
    clean = graph_dump(neo4j_driver)
    load_run(neo4j_driver, runs["A"])
    headers = api_key(Role.REGULATOR)
    during: list[Any] = []

    def look(update: Update) -> None:
        if not during:  # mid-load: the first batch is written, the rest to come
            control = client.get(f"/companies/{ASKED[0]}/control", headers=headers)
            during.extend([control, client.get("/readyz")])

    with caplog.at_level(logging.WARNING, logger="graph.load"):
        summary = load_run(neo4j_driver, runs["B"], batch_size=20, progress=look, atomic_rows=10)
    assert summary.atomic is False and summary.mode == "merge"
    assert any("load.atomic_rows" in r.getMessage() for r in caplog.records)
    control, ready = during
    assert control.status_code == 200 and "loaded in batches" in control.headers[WARNING_HEADER]
    assert "loaded in batches" in ready.headers[WARNING_HEADER]
    body = ready.json()
    warning = body.get("graph_warning") or body["error"]["graph_warning"]
    assert "may mix" in warning
    assert graph_dump(neo4j_driver) == clean
    after = client.get(f"/companies/{ASKED[0]}/control", headers=headers)
    assert after.status_code == 200 and WARNING_HEADER not in after.headers
    assert "graph_warning" not in json.dumps(client.get("/readyz").json())


def test_during_the_first_load_readiness_and_answers_are_503_graph_loading(
    neo4j_driver: neo4j.Driver, neo4j_server: Neo4jSettings, runs: dict[str, Path]
) -> None:
    """The first load of an empty graph is batched (CREATE): while it runs, /readyz and the
    data endpoints answer 503 graph_loading with what to do, never 500 or half a graph."""
    _wipe(neo4j_driver)
    headers = api_key(Role.REGULATOR)
    during: list[Any] = []
    with TestClient(create_app(neo4j_server)) as app:

        def look(update: Update) -> None:
            if not during:
                during.extend(
                    [
                        app.get("/readyz"),
                        app.get(f"/companies/{ASKED[0]}/control", headers=headers),
                        app.get("/alerts", headers=headers),
                        app.get("/companies", params={"q": "新食品"}, headers=headers),
                    ]
                )

        summary = load_run(neo4j_driver, runs["A"], batch_size=20, progress=look)
        assert summary.mode == "create" and summary.atomic is False
        for answer in during:
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"] == "graph_loading"
            assert "ask again" in answer.json()["error"]["message"]
        after = app.get(f"/companies/{ASKED[0]}/control", headers=headers)
        assert after.status_code == 200 and WARNING_HEADER not in after.headers


def test_every_atomic_write_publishes_one_version(
    client: TestClient, neo4j_driver: neo4j.Driver, runs: dict[str, Path]
) -> None:
    load_run(neo4j_driver, runs["A"])
    versions = [read_state(neo4j_driver).version]
    load_run(neo4j_driver, runs["B"])
    versions.append(read_state(neo4j_driver).version)
    load_run(neo4j_driver, runs["B"])  # delta 0: nothing to publish
    versions.append(read_state(neo4j_driver).version)
    run_control(neo4j_driver, SETTINGS, AS_OF)
    versions.append(read_state(neo4j_driver).version)
    control_one(neo4j_driver, cid("Y0"), SETTINGS, AS_OF)
    versions.append(read_state(neo4j_driver).version)
    sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    versions.append(read_state(neo4j_driver).version)
    first = versions[0]
    assert versions == [first, first + 1, first + 1, first + 2, first + 3, first + 4]
    assert read_state(neo4j_driver).warning is None


def test_control_and_sweeps_above_the_cap_are_batched_and_marked_meanwhile(
    client: TestClient, neo4j_driver: neo4j.Driver, runs: dict[str, Path]
) -> None:
    """A control run or sweep larger than atomic_rows is written in batches, the graph
    marked meanwhile (answers carry the header), and ends as an atomic one would."""
    load_run(neo4j_driver, runs["A"])
    run_control(neo4j_driver, SETTINGS, AS_OF)
    atomic = graph_dump(neo4j_driver)
    seen: list[str | None] = []
    headers = api_key(Role.REGULATOR)

    def look(update: Update) -> None:
        answer = client.get(f"/companies/{ASKED[0]}/control", headers=headers)
        seen.append(answer.headers.get(WARNING_HEADER))

    summary = run_control(neo4j_driver, SETTINGS, AS_OF, progress=look, atomic_rows=1)
    assert seen and all(w and "veil graph control" in w for w in seen)
    assert summary.companies == COMPANIES + 1
    assert _strip_runs(graph_dump(neo4j_driver)) == _strip_runs(atomic)
    swept = sweep(neo4j_driver, RULES, SETTINGS, AS_OF, atomic_rows=1)
    assert swept.raised and read_state(neo4j_driver).warning is None
    # A batched control run that died leaves its mark, until the next control run ends.
    neo4j_driver.execute_query("MATCH (g:GraphState) SET g.batched = 'veil graph control'")
    assert "veil graph control" in (read_state(neo4j_driver).warning or "")
    run_control(neo4j_driver, SETTINGS, AS_OF)
    assert read_state(neo4j_driver).warning is None


def _strip_runs(dump: list[str]) -> list[str]:
    """A dump without the control run's ID and time (each run has its own)."""
    out = []
    for line in dump:
        row = json.loads(line)
        for key in ("control_run", "computed_at", "control_computed_at"):
            row["props"].pop(key, None)
        out.append(json.dumps(row, sort_keys=True))
    return sorted(out)


def test_an_atomic_load_killed_part_way_changes_nothing(
    neo4j_driver: neo4j.Driver, neo4j_server: Neo4jSettings, runs: dict[str, Path]
) -> None:
    """kill -9 of a process loading B over A in one transaction, after its first batches:
    the graph is A's as it was, not marked unfinished, and the next load of B is a clean
    one."""
    _wipe(neo4j_driver)
    load_run(neo4j_driver, runs["B"])
    clean_b = graph_dump(neo4j_driver)
    load_run(neo4j_driver, runs["A"])
    before = graph_dump(neo4j_driver)
    env = {
        **os.environ,
        "NEO4J_URI": neo4j_server.uri,
        "NEO4J_USER": neo4j_server.user,
        "NEO4J_PASSWORD": neo4j_server.password,
    }
    # The child stops inside the transaction once 100 rows are written: killed there.
    script = (
        "import sys, time; from pathlib import Path; from graph.server.connection import "
        "neo4j_settings, open_driver; from graph.load import load_run\n"
        "def progress(update):\n"
        "    print(update.done, flush=True)\n"
        "    if update.done >= 100: time.sleep(600)\n"
        "with open_driver(neo4j_settings()) as d:\n"
        "    load_run(d, Path(sys.argv[1]), batch_size=20, progress=progress)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(runs["B"])], env=env, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    for line in child.stdout:
        if int(line) >= 100:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert graph_dump(neo4j_driver) == before
    assert unfinished_load(neo4j_driver) is None
    rerun = load_run(neo4j_driver, runs["B"])  # the dead writer's lock is taken over at once
    assert rerun.atomic and graph_dump(neo4j_driver) == clean_b


def test_a_write_neo4j_has_no_memory_for_is_batched_and_said(
    tmp_path: Path, free_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A delta, a control run or a sweep under load.atomic_rows can still need more
    transaction memory than Neo4j allows (an 86,324-row delta did not fit the 512 MiB of a
    local server at 20,000 companies): Neo4j refuses it, nothing is written, and it is
    written in batches instead, with a warning that says why, ending as a clean load would.
    A server of its own, with a few MiB of transaction memory. (Control runs and sweeps go
    through the same `graph.guard.atomically`.)"""
    from graph.server.connection import open_driver
    from graph.server.local import ServerConfig, start

    config = ServerConfig(
        data_dir=tmp_path / "neo4j", port=free_port, heap="256m", pagecache="32m", tx_max="10m"
    )
    a = _run("甲").write(tmp_path / "a")
    big = RunBuilder("丙")
    for i in range(3_000):
        big.company(f"Z{i}", f"丙第{i}食品有限公司", region="310115", established=T0)
        big.person(f"q{i}", f"丙某{i}", f"110101********{i:04d}")
        big.legal_rep(f"q{i}", f"Z{i}", T0)
    c = big.write(tmp_path / "c")
    server = start(config, watch_stdin=True)
    try:
        with open_driver(server.settings, max_transaction_retry_time=3.0) as driver:
            load_run(driver, a, batch_size=200)
            with caplog.at_level(logging.WARNING, logger="graph.guard"):
                summary = load_run(driver, c, batch_size=200)
            assert summary.atomic is False and summary.rows > 5_000
            memory = [
                r.getMessage() for r in caplog.records if "transaction memory" in r.getMessage()
            ]
            assert memory and "load's delta" in memory[0] and "VEIL_NEO4J_TX_MAX" in memory[0]
            assert read_state(driver).warning is None and unfinished_load(driver) is None
            delta = graph_dump(driver)
            with driver.session() as session:  # one transaction could not hold this either
                session.run(
                    "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 200 ROWS"
                ).consume()
            load_run(driver, c, batch_size=200)
            assert graph_dump(driver) == delta
    finally:
        server.stop()
