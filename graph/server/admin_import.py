"""`neo4j-admin database import full` into veil's local Neo4j: the importer's call, and the
stop, import and restart of the local instance around it.

The importer writes the store files directly from CSV, at hundreds of thousands of rows per
second, but only into a stopped database that it replaces whole. So the caller checks the
database is empty first (graph/bulk_load.py), and `replace_database` stops the instance
while the CSVs are written, imports, and starts it again; a failure before the restart
leaves it as it was (running again if it ran, with an empty database after a failed import).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from config.errors import EnvironmentProblem
from config.progress import Progress, Update, silent
from config.settings import Environment, environment
from graph.server.connection import external_settings
from graph.server.jars import JVM_FLAGS, check_java, ensure_jars, tail_text
from graph.server.local import LocalServer, ServerConfig, is_running, start, store_in_use

DATABASE = "neo4j"  # Community has one user database
IMPORT_HEAP = "1g"
#: --max-off-heap-memory; neo4j-admin's own default, 90% of the machine, is greedy.
IMPORT_MEMORY: str = Environment.default("import_memory")

#: What each stage of a bulk load does, told as it starts.
STAGES = {
    "check": "checking the local graph is empty",
    "resolve": "resolving the run",
    "csv": "writing CSVs (the local Neo4j stops meanwhile)",
    "stop": "waiting for the local Neo4j to stop",
    "import": "neo4j-admin database import",
    "restart": "starting the local Neo4j",
    "schema": "constraints and indexes",
    "finish": "empty lists and the Load node",
}


@dataclass
class Stages:
    """Seconds per stage, told to `progress` as each starts (with what it does) and ends
    (with its seconds)."""

    progress: Progress = silent
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        self.progress(Update(stage=name, phase=STAGES.get(name, "")))
        started = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
        self.progress(Update(stage=name, result=f"{self.seconds[name]:.1f} s"))


@dataclass
class CsvFile:
    """One CSV (header line first) of nodes of a label or relationships of a type."""

    path: Path
    label: str
    rows: int
    multiline: bool


@dataclass
class ImportFiles:
    """The CSVs for neo4j-admin, and the character between the elements of a list field."""

    array_delimiter: str
    nodes: list[CsvFile] = field(default_factory=list)
    relationships: list[CsvFile] = field(default_factory=list)

    @property
    def node_count(self) -> int:
        return sum(f.rows for f in self.nodes)

    @property
    def relationship_count(self) -> int:
        return sum(f.rows for f in self.relationships)


Files = TypeVar("Files", bound=ImportFiles)


def run_import(
    data_dir: Path,
    files: ImportFiles,
    work: Path,
    *,
    memory: str = IMPORT_MEMORY,
    heap: str = IMPORT_HEAP,
    threads: int | None = None,
    progress: Progress = silent,
) -> dict[str, int]:
    """`neo4j-admin database import full` of `files` into data_dir's (stopped) database;
    returns the counts it reports. A failure raises with the importer's own words, which
    name the CSV file and line."""
    java = check_java()
    lib = ensure_jars()
    conf = work / "conf"
    conf.mkdir(exist_ok=True)
    (conf / "neo4j.conf").write_text("", encoding="utf-8")  # the defaults: data under home
    report = work / "import.report"
    log = work / "import.log"
    cmd = [java, f"-Xmx{heap}", *JVM_FLAGS, "-cp", f"{lib}/*", "org.neo4j.cli.AdminTool"]
    cmd += ["database", "import", "full", DATABASE, "--overwrite-destination=true", "--verbose"]
    cmd += [
        "--delimiter=,",
        '--quote="',
        f"--array-delimiter=U+{ord(files.array_delimiter):04X}",
        "--ignore-empty-strings=false",
        "--trim-strings=false",
        "--skip-bad-relationships=false",
        "--skip-duplicate-nodes=false",
        f"--threads={threads or max(2, os.cpu_count() or 2)}",
        f"--max-off-heap-memory={memory}",
        f"--report-file={report}",
    ]
    cmd += [f"--nodes={f.label}={f.path}" for f in files.nodes]
    cmd += [f"--relationships={f.label}={f.path}" for f in files.relationships]
    multiline = [str(f.path) for f in files.nodes + files.relationships if f.multiline]
    if multiline:
        cmd += ["--multiline-fields-format=v2", f"--multiline-fields={','.join(multiline)}"]
    env = os.environ | {"NEO4J_HOME": str(data_dir), "NEO4J_CONF": str(conf)}
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=work,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            if phase := re.match(r"(\S.*?), started \d{4}-", line):
                progress(Update(stage="import", phase=phase[1]))
            elif line.startswith("IMPORT DONE"):
                progress(Update(stage="import", result=line.strip()))
        code = proc.wait()
    text = log.read_text(encoding="utf-8")
    if code != 0 or "IMPORT DONE" not in text:
        reported = report.read_text(encoding="utf-8", errors="replace") if report.exists() else ""
        raise EnvironmentProblem(
            f"neo4j-admin database import failed (exit {code}):\n{_import_errors(text)}"
            + (f"\nbad entries ({report}):\n{tail_text(reported, 10)}" if reported.strip() else "")
            + f"\nfull output: {log}"
        )
    return {
        "nodes_created": _reported(text, "nodes"),
        "relationships_created": _reported(text, "relationships"),
        "properties_set": _reported(text, "properties"),
    }


def _reported(text: str, what: str) -> int:
    match = re.search(rf"^\s*(\d+) {what}\s*$", text, re.MULTILINE)
    return int(match[1]) if match else 0


def _import_errors(text: str) -> str:
    """What the importer said went wrong: from IMPORT FAILED on, without stack frames (with
    --verbose the cause names the CSV file, line, field and raw value)."""
    lines = text.splitlines()
    failed = next((i for i, ln in enumerate(lines) if "IMPORT FAILED" in ln), None)
    said = [
        ln
        for ln in lines[failed or 0 :]
        if ln.strip() and not re.match(r"\s+(at |\.\.\. \d+ more)", ln) and "....." not in ln
    ]
    return tail_text("\n".join(said), 40 if failed is not None else 25)


def database_dir(config: ServerConfig) -> Path:
    return config.data_dir / "data" / "databases" / DATABASE


def _discard_store(config: ServerConfig) -> None:
    """Remove the database's store and transaction logs (after a failed import: it was
    empty, and neo4j-admin leaves it unusable); the next start creates it empty."""
    shutil.rmtree(database_dir(config), ignore_errors=True)
    shutil.rmtree(config.data_dir / "data" / "transactions" / DATABASE, ignore_errors=True)


def instance_to_check(config: ServerConfig, *, watch_stdin: bool = False) -> LocalServer | None:
    """The local instance whose database an import would replace, started if it has a
    database but is stopped; None when there is no database yet (nothing to check).
    Refuses an external server (NEO4J_URI) and a store another process holds."""
    if external_settings() is not None:
        raise EnvironmentProblem(
            f"NEO4J_URI is set ({environment().neo4j_uri}): a bulk import writes the "
            "store files of veil's own local Neo4j and cannot reach another server. Unset "
            "NEO4J_URI, or load without --bulk"
        )
    if is_running(config) or database_dir(config).exists():
        return start(config, watch_stdin=watch_stdin)
    if store_in_use(config):
        raise EnvironmentProblem(
            f"the Neo4j store in {config.data_dir} is locked by another process"
        )
    return None


def replace_database(
    config: ServerConfig,
    server: LocalServer | None,
    write: Callable[[Path], Files],
    stages: Stages,
    *,
    watch_stdin: bool = False,
    memory: str | None = None,
    threads: int | None = None,
    work_dir: Path | None = None,
) -> tuple[LocalServer, Files, dict[str, int]]:
    """Replace the (checked, empty) database of the local instance by an import of the CSVs
    `write(work)` writes into a work directory; return the restarted instance, the files and
    the importer's counts. `server` is the instance `instance_to_check` started, if any: it
    stops while the CSVs are written (stages "csv", then "stop" for what is left of that)."""
    was_running = server is not None
    config.data_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="veil-bulk-", dir=work_dir))
    stopping: threading.Thread | None = None
    importing = imported = False
    try:
        if server is not None:
            stopping = threading.Thread(target=server.stop, name="veil-neo4j-stop")
            stopping.start()  # Neo4j shuts down while the CSVs are written
        with stages.timed("csv"):
            files = write(work)
        stages.progress(
            Update(
                stage="csv",
                result=f"{files.node_count:,} nodes, {files.relationship_count:,} relationships"
                f" in {len(files.nodes) + len(files.relationships)} files",
            )
        )
        if stopping is not None:
            with stages.timed("stop"):
                stopping.join()
        importing = True
        with stages.timed("import"):
            counters = run_import(
                config.data_dir,
                files,
                work,
                memory=memory or environment().import_memory,
                threads=threads,
                progress=stages.progress,
            )
        imported = True
        with stages.timed("restart"):
            restarted = start(config, watch_stdin=watch_stdin)
    except BaseException as err:
        if stopping is not None:
            stopping.join()
        if not importing:
            shutil.rmtree(work, ignore_errors=True)
        if imported:
            raise  # the store is complete; the start says why it failed
        if importing:
            _discard_store(config)  # empty before; unusable after a failed import
        if was_running:
            start(config, watch_stdin=watch_stdin)
        if importing and isinstance(err, EnvironmentProblem):
            raise EnvironmentProblem(
                f"{err}\nThe local Neo4j's database is empty again"
                + (" and the instance running" if was_running else "")
                + f"; the CSVs are kept in {work} (delete them when done)"
            ) from None
        raise
    shutil.rmtree(work, ignore_errors=True)
    return restarted, files, counters
