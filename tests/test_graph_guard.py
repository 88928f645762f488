"""One writer at a time and a graph that knows whether its last load finished, against the
session's real Neo4j: concurrent loads, a sweep during a load, a load killed part-way (in
batches: `atomic_rows=0`; an atomic load killed changes nothing, tests/test_graph_atomic.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import neo4j
import pytest
from graph_runs import BOOKKEEPING, RunBuilder, graph_dump

from alerts.store import sweep
from config.graph import load_graph_config
from config.progress import Update
from config.rules import load_rules
from graph.analysis import run_control
from graph.guard import (
    GraphBusy,
    GraphIncomplete,
    begin_load,
    graph_writer,
    neo4j_faults,
    unfinished_load,
)
from graph.load import load_run
from graph.server.connection import Neo4jSettings

SETTINGS = load_graph_config().control
DAY = date(2026, 1, 1)


def _world(prefix: str, companies: int) -> RunBuilder:
    """Food companies each with a legal rep holding 60% of the previous one; the first
    loses its licence in 2021 and its legal rep is legal rep of the second from 2022: one
    art. 135 alert."""
    b = RunBuilder(prefix)
    for i in range(companies):
        b.company(
            f"c{i}", f"{prefix}第{i}食品有限公司", industry="F5221", established=date(2010, 1, 1)
        )
        b.person(f"p{i}", f"{prefix}某{i}", f"110101********{i % 10000:04d}")
        b.legal_rep(f"p{i}", f"c{i}", date(2010, 1, 1))
        if i:
            b.holds(f"p{i}", f"c{i - 1}", 0.6)
    b.punishment("c0", f"{prefix}市监处〔2021〕1号", date(2021, 1, 1), ["licence_revocation"])
    b.legal_rep("p0", "c1", date(2022, 1, 1))
    return b


def _dump(driver: neo4j.Driver) -> list[str]:
    """The graph's facts and derived results, alerts aside (graph_runs.graph_dump)."""
    return graph_dump(driver, (*BOOKKEEPING, "Alert", "AlertSweep"))


def _wipe(driver: neo4j.Driver) -> None:
    driver.execute_query("MATCH (n) DETACH DELETE n")


def test_a_second_writer_is_refused_naming_the_holder(neo4j_driver: neo4j.Driver) -> None:
    with graph_writer(neo4j_driver, "veil graph load --run A"):
        with pytest.raises(GraphBusy) as err, graph_writer(neo4j_driver, "veil alerts run"):
            pass
        assert "veil graph load --run A" in str(err.value)
        assert f"pid {os.getpid()}" in str(err.value)
    with graph_writer(neo4j_driver, "veil alerts run"):  # released: free again
        pass


def test_a_dead_holders_lock_expires(neo4j_driver: neo4j.Driver) -> None:
    neo4j_driver.execute_query(
        "MERGE (l:VeilLock {name: 'graph'}) SET l.token = 'dead', l.owner = 'gone pid 1', "
        "l.command = 'veil graph load', l.started = datetime(), "
        "l.expires = datetime() - duration({seconds: 1})"
    )
    with graph_writer(neo4j_driver, "veil graph control"):
        pass


def test_a_writer_waits_for_the_holder_when_asked(neo4j_driver: neo4j.Driver) -> None:
    released = threading.Event()

    def hold() -> None:
        with graph_writer(neo4j_driver, "veil graph control"):
            time.sleep(3)
        released.set()

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(1)
    with graph_writer(neo4j_driver, "veil alerts run", wait_seconds=30):
        assert released.is_set()
    holder.join()


def test_two_loads_of_different_runs_at_once_leave_one_of_them(
    neo4j_driver: neo4j.Driver, tmp_path: Path
) -> None:
    _wipe(neo4j_driver)
    runs = {p: _world(p, 300).write(tmp_path / p) for p in ("A", "B")}
    expected = {}
    for prefix, run in runs.items():
        load_run(neo4j_driver, run)
        expected[prefix] = _dump(neo4j_driver)
        _wipe(neo4j_driver)
    outcomes: dict[str, object] = {}

    def load(prefix: str) -> None:
        try:
            outcomes[prefix] = load_run(neo4j_driver, runs[prefix], batch_size=50)
        except GraphBusy as err:
            outcomes[prefix] = err

    threads = [threading.Thread(target=load, args=(p,)) for p in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    busy = [p for p, o in outcomes.items() if isinstance(o, GraphBusy)]
    assert len(busy) == 1, outcomes
    (winner,) = set(runs) - set(busy)
    assert _dump(neo4j_driver) == expected[winner]
    assert unfinished_load(neo4j_driver) is None


def test_a_sweep_or_control_on_an_unfinished_load_is_refused_and_changes_nothing(
    neo4j_driver: neo4j.Driver, tmp_path: Path
) -> None:
    _wipe(neo4j_driver)
    run = _world("S", 20).write(tmp_path / "run")
    load_run(neo4j_driver, run)
    rules = load_rules(None)
    first = sweep(neo4j_driver, rules, SETTINGS, DAY)
    alerts_before = _alerts(neo4j_driver)
    with neo4j_driver.session() as session:  # a load that started and never finished
        begin_load(session, "some-other-load", "/runs/next")
    with pytest.raises(GraphIncomplete, match="/runs/next"):
        sweep(neo4j_driver, rules, SETTINGS, DAY)
    with pytest.raises(GraphIncomplete):
        run_control(neo4j_driver, SETTINGS, DAY)
    assert _alerts(neo4j_driver) == alerts_before
    resumed = load_run(neo4j_driver, run)  # the next load completes the graph and says so
    assert resumed.replaced_unfinished["run_dir"] == "/runs/next"
    assert unfinished_load(neo4j_driver) is None
    again = sweep(neo4j_driver, rules, SETTINGS, DAY)
    assert first.raised == again.raised == {"food_art135": 1}
    assert again.withdrawn == 0 and len(again.new) == 0


def _alerts(driver: neo4j.Driver) -> list[str]:
    records, _, _ = driver.execute_query(
        "MATCH (a:Alert) RETURN a.id AS id, a.active AS active, a.status AS status ORDER BY id"
    )
    return [json.dumps(r.data()) for r in records]


def test_a_load_killed_part_way_is_marked_and_the_rerun_equals_a_clean_load(
    neo4j_driver: neo4j.Driver, neo4j_server: Neo4jSettings, tmp_path: Path
) -> None:
    _wipe(neo4j_driver)
    old = _world("K", 1_500).write(tmp_path / "old")
    new_world = _world("L", 1_500)  # every row differs: a delta as large as the run
    new_world.company("extra", "L新设食品有限公司")
    new = new_world.write(tmp_path / "new")
    load_run(neo4j_driver, new)
    clean = _dump(neo4j_driver)
    _wipe(neo4j_driver)
    load_run(neo4j_driver, old)

    env = {
        **os.environ,
        "NEO4J_URI": neo4j_server.uri,
        "NEO4J_USER": neo4j_server.user,
        "NEO4J_PASSWORD": neo4j_server.password,
    }
    script = (
        "import sys; from pathlib import Path; from graph.server.connection import neo4j_settings, "
        "open_driver; from graph.load import load_run\n"
        "with open_driver(neo4j_settings()) as d:\n"
        "    load_run(d, Path(sys.argv[1]), batch_size=20, atomic_rows=0, "
        "progress=lambda update: print(update.done, flush=True))\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(new)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    for line in child.stdout:
        if int(line) >= 400:  # a fifth of the rows written: a mixed graph
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    unfinished = unfinished_load(neo4j_driver)
    assert unfinished is not None and unfinished["run_dir"] == str(new.resolve())
    with pytest.raises(GraphIncomplete):
        sweep(neo4j_driver, load_rules(None), SETTINGS, DAY)
    # The dead writer's lock is taken over at once: it ran on this host and is gone.
    rerun = load_run(neo4j_driver, new)
    assert rerun.replaced_unfinished is not None
    assert _dump(neo4j_driver) == clean
    assert unfinished_load(neo4j_driver) is None


def test_neo4j_gone_is_a_clear_error(free_port: int) -> None:
    from config.errors import VeilError

    uri = f"bolt://127.0.0.1:{free_port}"
    with (
        pytest.raises(VeilError) as err,
        neo4j_faults(uri, "loading the graph"),
        neo4j.GraphDatabase.driver(uri, auth=("neo4j", "x")) as driver,
    ):
        driver.verify_connectivity()
    message = str(err.value)
    assert uri in message and "veil neo4j start" in message and "run the same command" in message


def _kill_processes_of(data_dir: Path) -> int:
    """SIGKILL every process whose command line names `data_dir` (the Neo4j JVM)."""
    killed = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="ignore")
        except OSError:
            continue
        if str(data_dir) in cmdline and "java" in cmdline:
            os.kill(int(proc.name), signal.SIGKILL)
            killed += 1
    return killed


def test_neo4j_killed_mid_load_is_an_error_and_the_rerun_equals_a_clean_load(
    tmp_path: Path, free_port: int
) -> None:
    from config.errors import VeilError
    from graph.server.connection import open_driver
    from graph.server.local import ServerConfig, start

    old = _world("N", 1_500).write(tmp_path / "old")
    new_world = _world("M", 1_500)  # every row differs: a delta as large as the run
    new_world.company("extra", "M新设食品有限公司")
    new = new_world.write(tmp_path / "new")
    config = ServerConfig(
        data_dir=tmp_path / "neo4j", port=free_port, heap="512m", pagecache="64m", tx_max="256m"
    )
    server = start(config, watch_stdin=True)
    try:
        with open_driver(server.settings, max_transaction_retry_time=3.0) as driver:
            load_run(driver, new)
            clean = _dump(driver)
            _wipe(driver)
            load_run(driver, old)
            killed: list[int] = []

            def progress(update: Update) -> None:
                if update.done >= 400 and not killed:
                    killed.append(_kill_processes_of(config.data_dir))

            with (
                pytest.raises(VeilError) as err,
                neo4j_faults(server.uri, "loading the graph"),
            ):
                load_run(driver, new, batch_size=20, progress=progress, atomic_rows=0)
            assert killed and killed[0] >= 1
            assert server.uri in str(err.value) and "run the same command again" in str(err.value)
        server = start(config, watch_stdin=True)  # recovers the store after the crash
        with open_driver(server.settings) as driver:
            unfinished = unfinished_load(driver)
            assert unfinished is not None and unfinished["run_dir"] == str(new.resolve())
            driver.execute_query(
                "MATCH (l:VeilLock {name: 'graph'}) SET l.expires = datetime() - duration('PT1S')"
            )
            load_run(driver, new)
            assert _dump(driver) == clean
            assert unfinished_load(driver) is None
    finally:
        server.stop()
