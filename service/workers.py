"""Several uvicorn workers, each listening on a socket of its own (SO_REUSEPORT).

Why not uvicorn's own `workers=`: there all workers accept from one shared socket, and
asyncio accepts every waiting connection at each wake-up (up to the backlog). Clients
that connect together (a proxy's pool, 20 inspectors' browsers after a restart) then land
on whichever worker woke first: 20/0 and 15/5 splits were seen with bench/api.py, and
keep-alive keeps them so for as long as the clients stay. A worker is one core at most, so
the others sit idle while its clients queue. With a socket per worker the kernel spreads
new connections over the sockets by a hash of their addresses.
"""

from __future__ import annotations

import logging
import pickle
import socket
import time

from uvicorn.config import Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from config.errors import VeilError

logger = logging.getLogger("uvicorn.error")

#: Workers killed in a row on one socket before they served, after which the server stops.
UNSERVED_DEATHS = 3


class PortInUse(VeilError):
    """Something listens on the port already (another `veil serve`, most likely)."""


class WorkersFailed(VeilError):
    """A worker ended before it served (a broken app or config): the supervisor stopped."""


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets bound to one address, the kernel balancing connections over them.

    A probe bound first without SO_REUSEPORT fails if anything listens there: without it a
    second `veil serve` on the same port would join the group and silently take a share
    of the first one's clients."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortInUse(f"cannot listen on {host}:{port}: {error.strerror}") from error
    sockets = []
    for _ in range(count):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets


class SocketPerWorker(Multiprocess):
    """uvicorn's supervisor (health pings, restart of a dead or hung worker, SIGHUP to
    replace all), with worker `i` always serving socket `i`.

    The parent keeps every socket open, so connections the kernel queued on a dying
    worker's socket wait for its replacement instead of being reset. The worker count is
    fixed: SIGTTIN and SIGTTOU would have to bind or drop a socket, and are refused."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.processes_num = len(sockets)
        self.served: set[int | None] = set()
        self.unserved_deaths = [0] * len(sockets)
        self.failure: str | None = None

    def _start(self, slot: int) -> Process:
        process = Process(self.config, [self.sockets[slot]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._start(slot) for slot in range(self.processes_num)]

    def restart_all(self) -> None:
        """Each worker's replacement serves its socket before the old one is retired."""
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._start(slot)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    logger.error(
                        f"New worker [{new.pid}] was not ready in time; keeping [{old.pid}]."
                    )
                return
            self.served.add(new.pid)
            old.terminate()
            old.join()
            self.processes[slot] = new

    def keep_subprocess_alive(self) -> None:
        """uvicorn's, but a worker that could not start stops the server instead of being
        restarted for ever: one that ended by itself (an exception, an exit) before it
        served, or the third in a row on a socket killed before it served (a screener too
        big for the memory). A worker that had served is replaced, as is one killed before
        (by the operator, or in the half second before its start was seen)."""
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            started = _health(process, self.config.timeout_worker_healthcheck)
            if started:
                self.served.add(process.pid)
            if started is not None:
                continue
            process.kill()
            process.join()
            if self.should_exit.is_set():
                return
            if process.pid in self.served:
                self.unserved_deaths[slot] = 0
            else:
                self.unserved_deaths[slot] += 1
                exitcode = process.exitcode or 0
                if exitcode > 0 or self.unserved_deaths[slot] >= UNSERVED_DEATHS:
                    self.failure = (
                        f"worker {process.pid} ended before it served (exit code "
                        f"{exitcode}); its log above says why"
                    )
                    logger.error(self.failure)
                    self.should_exit.set()
                    return
            logger.info(f"Worker [{process.pid}] died; starting another on its socket")
            self.processes[slot] = self._start(slot)

    def handle_ttin(self) -> None:
        logger.warning("SIGTTIN ignored: the worker count is fixed (veil serve --workers)")

    def handle_ttou(self) -> None:
        logger.warning("SIGTTOU ignored: the worker count is fixed (veil serve --workers)")


def _health(process: Process, timeout: float) -> bool | None:
    """A live worker's answer to a health ping (has it started serving?), or None if it
    is dead or gives no answer within `timeout`. Waits in half seconds, so a worker that
    dies after the ping is seen at once: uvicorn's ping waits out the whole timeout (300 s
    here, for workers busy building their screener)."""
    if not process.process.is_alive():
        return None
    deadline = time.monotonic() + timeout
    try:
        process.parent_conn.send(b"ping")
        while time.monotonic() < deadline:
            if process.parent_conn.poll(0.5):
                return bool(process.parent_conn.recv())
            if not process.process.is_alive():
                return None
    except (OSError, EOFError, pickle.UnpicklingError):
        return None
    return None


def run(config: Config) -> None:
    """Serve `config` with its `workers` processes, one socket each; the sockets are
    closed when the supervisor ends. Raises WorkersFailed if it ended because a worker
    could not start (uvicorn's own supervisor then ends with status 0, or never)."""
    sockets = listening_sockets(config.host, config.port, config.workers)
    logger.info(
        "Listening on http://%s:%d with %d workers, a socket each",
        config.host,
        config.port,
        config.workers,
    )
    supervisor = SocketPerWorker(config, sockets)
    try:
        supervisor.run()
    finally:
        for sock in sockets:
            sock.close()
    if supervisor.failure is not None:
        raise WorkersFailed(supervisor.failure)
