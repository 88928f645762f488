"""`veil serve --workers N`: a listening socket per worker, balanced by the kernel, kept
by the supervisor across a worker's death, refused when the port is taken."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import neo4j
import pytest
from shared_world import WORLD_SECRET

from graph.server import local
from graph.server.connection import Neo4jSettings
from service.workers import PortInUse, listening_sockets

_LISTEN, _ESTABLISHED = "0A", "01"


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _tcp_sockets(port: int, state: str) -> set[str]:
    """Inodes of the IPv4 sockets with local port `port` in `state` (/proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            found.add(fields[9])
    return found


def _get(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def _workers(supervisor: int, port: int) -> dict[int, set[str]]:
    """Each child of the supervisor that listens on `port`: the inodes of its listeners."""
    listening = _tcp_sockets(port, _LISTEN)
    found = {}
    for child in _children(supervisor):
        mine = _socket_inodes(child) & listening
        if mine:
            found[child] = mine
    return found


def _wait(condition, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _ready(port: int) -> bool:
    try:
        return _get(port, "/readyz") == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def served_workers(
    swept_world: neo4j.Driver,
    neo4j_server: Neo4jSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.Popen, int]]:
    """`veil serve --workers 2` as a user starts it, over the swept world."""
    env = {
        **os.environ,
        "NEO4J_URI": neo4j_server.uri,
        "NEO4J_USER": neo4j_server.user,
        "NEO4J_PASSWORD": neo4j_server.password,
        "NEO4J_DATABASE": neo4j_server.database,
        "VEIL_HOME": str(tmp_path_factory.mktemp("serve-home")),
        "VEIL_ID_SECRET": WORLD_SECRET.decode(),
    }
    port = local.free_port()
    command = [sys.executable, "-m", "service.cli", "serve", "--workers", "2"]
    server = subprocess.Popen([*command, "--port", str(port)], env=env)
    try:
        _wait(lambda: _ready(port) or server.poll() is not None, "the workers")
        assert server.poll() is None, f"veil serve ended with {server.returncode}"
        _wait(lambda: len(_workers(server.pid, port)) == 2, "two listening workers")
        yield server, port
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def test_each_worker_listens_on_a_socket_of_its_own(
    served_workers: tuple[subprocess.Popen, int],
) -> None:
    server, port = served_workers
    workers = _workers(server.pid, port)
    assert all(len(inodes) == 1 for inodes in workers.values())
    assert len(set.union(*workers.values())) == 2, "the workers share one socket"


def test_connections_that_arrive_together_reach_both_workers(
    served_workers: tuple[subprocess.Popen, int],
) -> None:
    """20 keep-alive clients connecting at once; with uvicorn's shared socket one worker
    could take them all. The kernel's hash leaves one worker idle with odds of 2 in 2**20."""
    server, port = served_workers
    clients = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(20)]
    try:
        for client in clients:
            client.request("GET", "/healthz")
            assert client.getresponse().read() is not None
        established = _tcp_sockets(port, _ESTABLISHED)
        held = {pid: len(_socket_inodes(pid) & established) for pid in _workers(server.pid, port)}
        assert sum(held.values()) == 20
        assert all(count > 0 for count in held.values()), held
    finally:
        for client in clients:
            client.close()


def test_a_dead_workers_socket_waits_for_its_replacement(
    served_workers: tuple[subprocess.Popen, int],
) -> None:
    """The supervisor keeps every socket open: connections the kernel hashes to a killed
    worker's socket are answered by its replacement, not reset."""
    server, port = served_workers
    before = _workers(server.pid, port)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    statuses = [_get(port, "/healthz") for _ in range(20)]
    assert statuses == [200] * 20
    _wait(lambda: len(_workers(server.pid, port)) == 2, "the replacement worker")
    after = _workers(server.pid, port)
    assert victim not in after
    assert set.union(*after.values()) == set.union(*before.values())


def test_a_taken_port_is_refused_not_shared(free_port: int) -> None:
    """Without the probe a second `veil serve` on the port would join the first one's
    group and take a share of its clients, silently."""
    group = listening_sockets("127.0.0.1", free_port, 2)
    try:
        for sock in group:
            sock.listen()
        with pytest.raises(PortInUse, match=f"127.0.0.1:{free_port}"):
            listening_sockets("127.0.0.1", free_port, 2)
    finally:
        for sock in group:
            sock.close()
    with socket.socket() as plain:
        plain.bind(("127.0.0.1", free_port))
        plain.listen()
        with pytest.raises(PortInUse):
            listening_sockets("127.0.0.1", free_port, 1)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_that_cannot_start_stops_the_server_with_an_error(
    workers: int, tmp_path: Path
) -> None:
    """uvicorn's supervisor restarts a worker that raises at start for ever (or, for its
    exit code 3, stops with status 0): veil serve ends with status 1 and says so."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    env |= {"NEO4J_URI": "bolt://127.0.0.1:1", "VEIL_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "service.cli", "serve", "--workers", str(workers)]
    ended = subprocess.run(
        [*command, "--port", str(local.free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ended.returncode == 1
    assert "NEO4J_PASSWORD" in ended.stderr
    if workers > 1:
        assert "ended before it served" in ended.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_listens_at_once_while_neo4j_is_down_and_ends_cleanly_on_ctrl_c(
    workers: int, tmp_path: Path
) -> None:
    """With Neo4j down at start-up, the app listens without first retrying its reads
    (which took a minute and more, deaf to Ctrl-C), /readyz says 503, and Ctrl-C ends it
    with status 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    env |= {
        "NEO4J_URI": f"bolt://127.0.0.1:{local.free_port()}",
        "NEO4J_PASSWORD": "unused",
        "VEIL_HOME": str(tmp_path),
    }
    port = local.free_port()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "service.cli", "serve", "--workers", str(workers)]
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        _wait(lambda: _answers(port, "/healthz") or server.poll() is not None, "/healthz")
        assert server.poll() is None
        assert "will be retried" not in log.read_text(encoding="utf-8")
        assert _answers(port, "/readyz") == 503
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=60) == 0, log.read_text(encoding="utf-8")[-2000:]


def _answers(port: int, path: str) -> int | None:
    try:
        return _get(port, path)
    except OSError:
        return None
