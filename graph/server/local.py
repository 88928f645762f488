"""veil's own Neo4j: an embedded Neo4j 5.26 Community DBMS run by launcher/Launcher.java
(the jars and the Java that run it: graph/server/jars.py), started, stopped and asked here.

One instance per data dir (the Neo4j home). Files in it:
  data/, logs/        Neo4j's own store and logs (logs/debug.log says why a start failed)
  logs/launcher.log   the launcher's stdout/stderr (READY / FAILED lines)
  password            the generated password of user neo4j (mode 0600)
  veil-neo4j.json     pid and port of the running launcher (absent when stopped)
Bolt listens on 127.0.0.1 only, auth is on, the HTTP connectors are off.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import neo4j

from config.errors import EnvironmentProblem
from config.progress import Progress, Update, silent
from config.settings import Environment, environment, read_or_create_secret, veil_home
from graph.server.connection import Neo4jSettings, external_settings, open_driver
from graph.server.jars import (
    JVM_FLAGS,
    LAUNCHER,
    NEO4J_VERSION,
    check_java,
    ensure_jars,
    tail_text,
)

DEFAULT_PORT: int = Environment.default("neo4j_port")
DEFAULT_HEAP: str = Environment.default("neo4j_heap")
DEFAULT_PAGECACHE: str = Environment.default("neo4j_pagecache")
DEFAULT_TIMEOUT: float = Environment.default("neo4j_start_timeout")
USER = "neo4j"

READY = "VEIL-NEO4J READY"
FAILED = "VEIL-NEO4J FAILED"


@dataclass(frozen=True)
class ServerConfig:
    """Everything that decides how the local instance runs; see `server_config` for defaults."""

    data_dir: Path
    port: int = DEFAULT_PORT
    heap: str = DEFAULT_HEAP
    pagecache: str = DEFAULT_PAGECACHE
    tx_max: str = "512m"
    timeout: float = DEFAULT_TIMEOUT

    @property
    def password_file(self) -> Path:
        return self.data_dir / "password"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "veil-neo4j.json"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / "launcher.log"


def server_config(
    data_dir: Path | None = None,
    port: int | None = None,
    timeout: float | None = None,
    heap: str | None = None,
    pagecache: str | None = None,
) -> ServerConfig:
    """Arguments win, then env (VEIL_NEO4J_HOME, _PORT, _HEAP, _PAGECACHE, _START_TIMEOUT,
    _TX_MAX), then defaults: <veil_home>/neo4j, 7687, 1g heap, 512m page cache, 120 s."""
    env = environment()
    if data_dir is None:
        data_dir = env.neo4j_home or veil_home() / "neo4j"
    heap = heap or env.neo4j_heap
    return ServerConfig(
        data_dir=Path(data_dir).expanduser().resolve(),
        port=port or env.neo4j_port,
        heap=heap,
        pagecache=pagecache or env.neo4j_pagecache,
        tx_max=env.neo4j_tx_max or _half(heap),
        timeout=timeout or env.neo4j_start_timeout,
    )


def _half(size: str) -> str:
    """Half of a JVM-style size ("1g" -> "512m"): the default cap on transaction memory."""
    match = re.fullmatch(r"(\d+)([kmg]?)", size.strip().lower())
    if not match:
        raise EnvironmentProblem(f"cannot read memory size {size!r}: use e.g. 512m or 2g")
    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return f"{int(match[1]) * units[match[2]] // 2 // (1 << 20)}m"


# --- process state -------------------------------------------------------------------------


def _read_state(config: ServerConfig) -> dict[str, Any] | None:
    """The recorded launcher of this data dir if it is still alive; stale records are removed."""
    try:
        state: dict[str, Any] = json.loads(config.state_file.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    if _is_our_launcher(int(state.get("pid", 0)), config.data_dir):
        return state
    config.state_file.unlink(missing_ok=True)
    return None


def is_running(config: ServerConfig) -> bool:
    """True while a launcher of config.data_dir runs (its state file names a live process)."""
    return _read_state(config) is not None


def store_in_use(config: ServerConfig) -> bool:
    """True if some process (a launcher or any other Neo4j) holds the store's lock."""
    return _store_locked(config.data_dir)


def _is_our_launcher(pid: int, data_dir: Path) -> bool:
    """True if pid is a live launcher for data_dir (guards against a reused pid)."""
    if pid <= 0:
        return False
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False  # exited, not yet reaped by its parent
    return b"Launcher.java" in b" ".join(args) and str(data_dir).encode() in args


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now (for a throwaway instance:
    tests and benchmarks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the JVM does
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _store_locked(data_dir: Path) -> bool:
    """True if another process holds Neo4j's store lock (a POSIX lock, as Java takes it)."""
    try:
        f = open(data_dir / "data" / "databases" / "store_lock", "r+b")  # noqa: SIM115
    except OSError:
        return False  # no store yet, so nothing can hold it
    with f:
        try:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.lockf(f, fcntl.LOCK_UN)
    return False


def _tail(path: Path, n: int = 20) -> str:
    try:
        return tail_text(path.read_text(encoding="utf-8", errors="replace"), n)
    except FileNotFoundError:
        return "  | (no log)"


# --- start / stop / status -----------------------------------------------------------------


@dataclass
class LocalServer:
    """A running local instance. `process` is set only when this Python process launched it."""

    config: ServerConfig
    pid: int
    settings: Neo4jSettings
    already_running: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def uri(self) -> str:
        return self.settings.uri

    def stop(self, timeout: float = 60.0) -> None:
        """Stop this instance cleanly (SIGTERM, then wait)."""
        if self.process is not None:
            _terminate(self.process, timeout)
            self.config.state_file.unlink(missing_ok=True)
        else:
            stop(self.config, timeout)


def local_settings(config: ServerConfig | None = None) -> Neo4jSettings:
    """Connection settings of the local instance (the running one's port if it is up)."""
    config = config or server_config()
    state = _read_state(config)
    port = int(state["port"]) if state else config.port
    password = read_or_create_secret(config.password_file, nbytes=16)
    return Neo4jSettings(uri=f"bolt://127.0.0.1:{port}", user=USER, password=password)


def start(
    config: ServerConfig, *, watch_stdin: bool = False, progress: Progress = silent
) -> LocalServer:
    """Start the local instance and wait until Bolt answers; no-op if it already runs.

    watch_stdin=True ties the JVM's life to this process (it exits when our end of its stdin
    closes): for tests and other short-lived owners. Otherwise it runs detached.
    """
    external = environment().neo4j_uri
    if external:
        raise EnvironmentProblem(
            f"NEO4J_URI is set ({external}), so veil uses that server and does not start its "
            "own: unset NEO4J_URI to run the local Neo4j"
        )
    state = _read_state(config)
    if state is not None:
        return LocalServer(config, int(state["pid"]), local_settings(config), already_running=True)
    if _port_in_use(config.port):
        raise EnvironmentProblem(
            f"port {config.port} on 127.0.0.1 is already in use: stop whatever listens there, "
            "or choose another port with --port or VEIL_NEO4J_PORT"
        )
    if _store_locked(config.data_dir):
        _raise_failed("store-locked", config)
    java = check_java()
    lib = ensure_jars(progress)
    settings = local_settings(config)  # creates the password file on first start
    progress(
        Update(
            stage=f"Starting Neo4j {NEO4J_VERSION} on {settings.uri} (data in {config.data_dir})"
        )
    )

    config.log_file.parent.mkdir(parents=True, exist_ok=True)
    if config.log_file.exists():
        config.log_file.replace(config.log_file.with_suffix(".log.1"))
    cmd = [java, f"-Xms{config.heap}", f"-Xmx{config.heap}", *JVM_FLAGS]
    cmd += ["-cp", f"{lib}/*", str(LAUNCHER / "Launcher.java")]
    cmd += ["--home", str(config.data_dir), "--port", str(config.port)]
    cmd += ["--password-file", str(config.password_file)]
    cmd += ["--pagecache", config.pagecache, "--tx-max", config.tx_max]
    if watch_stdin:
        cmd.append("--watch-stdin")
    with open(config.log_file, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if watch_stdin else subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=config.data_dir,
            start_new_session=True,  # Ctrl-C in the terminal must not kill the DBMS mid-write
        )
    record = {"pid": proc.pid, "port": config.port, "version": NEO4J_VERSION}
    config.state_file.write_text(json.dumps(record), encoding="utf-8")
    try:
        _wait_ready(proc, config)
        try:
            _check_bolt(settings, retries=10)
        except Exception as err:
            raise EnvironmentProblem(
                f"Neo4j started but Bolt at {settings.uri} does not accept veil's connection "
                f"({type(err).__name__}: {err}); see {config.log_file}"
            ) from err
    except BaseException:
        _terminate(proc, 30.0)
        config.state_file.unlink(missing_ok=True)
        raise
    return LocalServer(config, proc.pid, settings, process=proc)


def _wait_ready(proc: subprocess.Popen[bytes], config: ServerConfig) -> None:
    """Block until the launcher prints READY; turn every other outcome into a clear error."""
    deadline = time.monotonic() + config.timeout
    while True:
        text = config.log_file.read_text(encoding="utf-8", errors="replace")
        if READY in text:
            return
        failed = next((ln for ln in text.splitlines() if ln.startswith(FAILED)), None)
        if failed or proc.poll() is not None:
            proc.wait(30)  # let it finish writing its log
            _raise_failed(failed, config)
        if time.monotonic() > deadline:
            raise EnvironmentProblem(
                f"Neo4j did not become ready within {config.timeout:.0f} s (raise it with "
                f"--timeout or VEIL_NEO4J_START_TIMEOUT); last lines of {config.log_file}:\n"
                f"{_tail(config.log_file)}\nsee also {config.data_dir / 'logs' / 'debug.log'}"
            )
        time.sleep(0.2)


def _raise_failed(failed: str | None, config: ServerConfig) -> NoReturn:
    if failed and "store-locked" in failed:
        raise EnvironmentProblem(
            f"the Neo4j store in {config.data_dir} is locked by another process: stop the "
            "other Neo4j using it (`veil neo4j stop`, or the process holding "
            f"{config.data_dir / 'data'}), or use another --data-dir"
        )
    raise EnvironmentProblem(
        f"Neo4j failed to start; last lines of {config.log_file}:\n{_tail(config.log_file)}\n"
        f"see also {config.data_dir / 'logs' / 'debug.log'}"
    )


def _check_bolt(settings: Neo4jSettings, retries: int = 0) -> None:
    """Raise unless a driver can connect and authenticate (the end-to-end readiness check)."""
    for attempt in range(retries + 1):
        try:
            with open_driver(settings, connection_timeout=5.0) as driver:
                driver.verify_connectivity()
            return
        except neo4j.exceptions.AuthError:
            raise  # retrying a wrong password only trips Neo4j's rate limit
        except Exception:
            if attempt == retries:
                raise
            time.sleep(0.5)


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM (clean shutdown via the launcher's hook), SIGKILL only if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()


def stop(config: ServerConfig, timeout: float = 60.0) -> int | None:
    """Stop the instance of config.data_dir; return its pid, or None if it was not running."""
    state = _read_state(config)
    if state is None:
        return None
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _is_our_launcher(pid, config.data_dir):
        if time.monotonic() > deadline:
            raise EnvironmentProblem(
                f"Neo4j (pid {pid}) did not stop within {timeout:.0f} s of SIGTERM; see "
                f"{config.log_file}. If it is stuck, `kill -9 {pid}` (the next start will "
                "then run recovery)"
            )
        time.sleep(0.2)
    config.state_file.unlink(missing_ok=True)
    return pid


@dataclass(frozen=True)
class ServerStatus:
    """What `veil neo4j status` reports."""

    mode: str  # "local" or "external" (NEO4J_URI)
    uri: str
    running: bool
    bolt_ok: bool
    pid: int | None = None
    data_dir: str | None = None
    log_file: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def status(config: ServerConfig | None = None) -> ServerStatus:
    """Status of the server veil would use: external if NEO4J_URI is set, else the local one."""
    external = external_settings()
    if external is not None:
        error = _bolt_error(external)
        return ServerStatus("external", external.uri, error is None, error is None, error=error)
    config = config or server_config()
    state = _read_state(config)
    if state is None:  # nothing to ask, and no reason to create a password file yet
        uri, error = f"bolt://127.0.0.1:{config.port}", "not running"
    else:
        settings = local_settings(config)
        uri, error = settings.uri, _bolt_error(settings)
    return ServerStatus(
        mode="local",
        uri=uri,
        running=state is not None,
        bolt_ok=error is None,
        pid=int(state["pid"]) if state else None,
        data_dir=str(config.data_dir),
        log_file=str(config.log_file),
        error=error,
    )


def _bolt_error(settings: Neo4jSettings) -> str | None:
    try:
        _check_bolt(settings)
    except Exception as err:
        return f"{type(err).__name__}: {err}"
    return None
