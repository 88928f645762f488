"""A first load into an EMPTY local graph by offline bulk import, not Bolt (`--bulk`).

`load.load_run` writes a run over Bolt, a transaction per batch; into an empty graph that
costs Neo4j a lookup-free CREATE per row, and still about 150 s for a 100k-company run.
`neo4j-admin database import full` writes the store files directly from CSV instead, at
hundreds of thousands of rows per second, but only into a stopped database that it
replaces whole. So `bulk_load`:

1. check     the local instance's database holds no node at all (asked over Bolt; a data
             dir without a database needs no asking). Anything in it would be lost, so
             a graph with nodes is refused, and left as it was: load it with `load_run`.
2. resolve   the run (`graph.facts.resolve_run`), as `load_run` does.
3. csv       one CSV per step of `load.load_steps(resolved, create=True)`: the same rows,
             folded the same way, with the values the driver would send (`load.plain_values`)
             and typed headers derived from them (str -> string, int -> long, float ->
             double, bool -> boolean, date -> date, lists -> string[] ...), so each
             property gets the Neo4j type Bolt gives it. A null is an empty field, which
             neo4j-admin stores as no property, as `SET n += props` does with a None;
             strings are always quoted, so an empty string stays one. Relationships whose
             ends are not among the nodes are left out, as the Bolt path's MATCH leaves
             them out. Meanwhile the instance stops (emptiness checked once more first);
             `stop` is what is left of that wait after the CSVs.
4. import    `neo4j-admin database import full --overwrite-destination` (the Community
             AdminTool from the cached jars) into the instance's data dir.
5. restart   the instance.
6. schema    `init_schema`.
7. finish    what CSV cannot hold: an empty list (or a list of one empty string) reads
             back as no property, so those are set over Bolt, as `load_run` sets them;
             last, the `Load` node (`load.record_load`).

The result is the graph `load_run` builds (tests/test_bulk_import.py compares the two
property by property, types included), so a later `load_run` of the same run creates
nothing and deletes nothing, and a later wave MERGEs as usual.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import neo4j
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from config.errors import EnvironmentProblem, InputError
from graph import neo4j_server
from graph.connection import external_settings, open_driver
from graph.facts import resolve_run
from graph.load import (
    BATCH_SIZE,
    Columns,
    LoadSummary,
    Shape,
    Step,
    load_steps,
    plain_values,
    record_load,
    write_batches,
)
from graph.neo4j_server import JVM_FLAGS, LocalServer, ServerConfig
from graph.schema import init_schema

DATABASE = "neo4j"  # Community has one user database
IMPORT_HEAP = "1g"
IMPORT_MEMORY = "2g"  # --max-off-heap-memory; its default, 90% of the machine, is greedy
# Characters that separate list elements in a field; the first that no list element
# contains is used (a string element cannot escape it).
ARRAY_DELIMITERS = "".join(chr(c) for c in (0x1F, 0x1E, 0x1D, 0x1C, *range(0x01, 0x09)))

StageProgress = Callable[[str, str], None]


def _quiet(_: str, __: str) -> None:
    """The progress callback of callers that show none."""


@dataclass
class Imported:
    """What `bulk_load` did, and the instance it left running (stop it when done)."""

    summary: LoadSummary
    server: LocalServer


# --- CSV ----------------------------------------------------------------------------------


@dataclass
class CsvFile:
    """One CSV (header line first) of nodes of a label or relationships of a type."""

    path: Path
    label: str
    rows: int
    multiline: bool


@dataclass
class ImportPlan:
    """The CSVs for neo4j-admin, and what they cannot hold, set over Bolt after the restart:
    `fill` statements give every node or relationship of a step that lacks a list property
    an empty one (when all the step's values of it that CSV cannot hold are empty lists and
    none is None), `later` steps set the other values by key, as `Step.rows` would."""

    nodes: list[CsvFile] = field(default_factory=list)
    relationships: list[CsvFile] = field(default_factory=list)
    array_delimiter: str = ARRAY_DELIMITERS[0]
    fill: list[str] = field(default_factory=list)
    later: list[tuple[str, str, list[dict]]] = field(default_factory=list)
    rows: int = 0  # rows as `load_run` counts them (relationships without ends included)
    dropped: int = 0  # relationships left out: an end is not among the nodes

    @property
    def node_count(self) -> int:
        return sum(f.rows for f in self.nodes)

    @property
    def relationship_count(self) -> int:
        return sum(f.rows for f in self.relationships)


_SCALAR_TYPES = {str: "string", bool: "boolean", int: "long", float: "double", date: "date"}
_ARROW_TYPES = {
    "string": pa.string(),
    "boolean": pa.bool_(),
    "long": pa.int64(),
    "double": pa.float64(),
    "date": pa.date32(),
}


def csv_type(values: list[Any]) -> str | None:
    """The CSV header type that stores `values` (plain values as the driver sends them) with
    the Neo4j types Bolt gives them; None if every value is None (no column)."""
    kinds = {type(v) for v in values} - {type(None)}
    if not kinds:
        return None
    if kinds == {list}:
        inner = {type(e) for v in values if v is not None for e in v}
        if not inner:
            return "string[]"  # only empty lists: every one is set after the import
        if len(inner) == 1 and (kind := _SCALAR_TYPES.get(inner.pop())):
            return kind + "[]"
    elif len(kinds) == 1 and (kind := _SCALAR_TYPES.get(kinds.pop())):
        return kind
    names = ", ".join(sorted(k.__name__ for k in kinds))
    raise TypeError(f"values of types {names} have no single neo4j-admin CSV type")


def _text(kind: str, value: Any) -> str:
    """A scalar as neo4j-admin reads it."""
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "double" and not math.isfinite(value):
        return "Infinity" if value > 0 else "-Infinity"  # NaN never gets here: it is None
    if kind == "date":
        return value.isoformat()
    return str(value) if kind != "double" else repr(value)


class _DelimiterInData(Exception):
    """A list element contains the array delimiter: try the next one."""


def csv_field(kind: str, values: list[Any], delimiter: str) -> tuple[pa.Array, dict[int, Any]]:
    """`values` of CSV type `kind` as an Arrow array that pyarrow's CSV writer writes as
    neo4j-admin reads it (every string quoted, a null as an empty field: an absent
    property), and the values a field cannot hold by position: an empty list, or a list
    of one empty string, reads back as no property at all."""
    if kind.endswith("[]"):
        element = kind[:-2]
        texts: list[str | None] = []
        later: dict[int, Any] = {}
        separators = elements = 0
        for i, v in enumerate(values):
            if v is None:
                texts.append(None)
            elif not v or v == [""]:
                texts.append(None)
                later[i] = v
            else:
                text = delimiter.join(v if element == "string" else [_text(element, e) for e in v])
                texts.append(text)
                separators += text.count(delimiter)
                elements += len(v) - 1
        if separators != elements:
            raise _DelimiterInData
        return pa.array(texts, pa.string()), later
    if kind == "double" and not all(math.isfinite(v) for v in values if v is not None):
        texts = [None if v is None else _text(kind, v) for v in values]
        return pa.array(texts, pa.string()), {}  # quoted, still read as a double
    return pa.array(values, _ARROW_TYPES[kind]), {}


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _header_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InputError(name, "a property name neo4j-admin headers cannot carry")
    return name


def write_csvs(steps: list[Step], directory: Path) -> ImportPlan:
    """Write one CSV per step into `directory` (module docstring), with the first array
    delimiter of ARRAY_DELIMITERS that no list element contains."""
    for delimiter in ARRAY_DELIMITERS:
        try:
            return _write_csvs(steps, directory, delimiter)
        except _DelimiterInData:
            continue
    raise InputError("list properties", "every candidate array delimiter occurs in the data")


def _write_csvs(steps: list[Step], directory: Path, delimiter: str) -> ImportPlan:
    plan = ImportPlan(array_delimiter=delimiter)
    ids: dict[str, tuple[str, pa.Array]] = {}  # label -> (key property, node keys)
    shapes = Counter((s.shape.label, s.shape.start, s.shape.end) for s in steps)
    for n, step in enumerate(steps):
        shape = step.shape
        cols = step.columns(step.frame)
        plan.rows += len(step.frame)
        path = directory / f"{n:02d}-{shape.label.lower()}.csv"
        if shape.is_node:
            keys = _keys(step.name, shape.key, cols.props[shape.key])
            if shape.label in ids:
                raise ValueError(f"two node steps of label {shape.label}")
            ids[shape.label] = (shape.key, keys)
            header = [f"{_header_name(shape.key)}:ID({shape.label})"]
            fields, later = _props(step.name, cols.props.drop(columns=[shape.key]), delimiter)
            multiline = _write(path, header + list(fields), [keys, *fields.values()])
            plan.nodes.append(CsvFile(path, shape.label, len(keys), multiline))
            _plan_later(plan, shape, fields, later, keys.to_pylist())
            continue
        assert cols.start is not None and cols.end is not None and cols.key is not None
        ends = [
            _keys(step.name, "start", cols.start),
            _keys(step.name, "end", cols.end),
            _keys(step.name, "key", cols.key),
        ]
        keep = _ends_exist(shape, ends[0], ends[1], ids)
        plan.dropped += len(keep) - sum(keep)
        if not all(keep):
            ends = [a.filter(pa.array(keep)) for a in ends]
            cols = Columns(cols.props[keep], cols.start[keep], cols.end[keep], cols.key[keep])
        if not len(cols.props):
            continue
        props = cols.props.drop(columns=["key"], errors="ignore")  # written as the key
        fields, later = _props(step.name, props, delimiter)
        header = [f":START_ID({shape.start})", f":END_ID({shape.end})", "key:string"]
        multiline = _write(path, header + list(fields), [*ends, *fields.values()])
        plan.relationships.append(CsvFile(path, shape.label, len(cols.props), multiline))
        unique = shapes[(shape.label, shape.start, shape.end)] == 1
        _plan_later(plan, shape, fields, later, *(a.to_pylist() for a in ends), unique=unique)
    return plan


def _keys(step: str, name: str, keys: pd.Series) -> pa.Array:
    try:
        array = pa.array(plain_values(keys), pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        array = None
    if array is None or array.null_count:
        raise InputError(step, f"{name}: every key must be a string to bulk-import")
    return array


def _ends_exist(
    shape: Shape, start: pa.Array, end: pa.Array, ids: dict[str, tuple[str, pa.Array]]
) -> list[bool]:
    """Rows whose both ends are nodes: the Bolt path MATCHes them and skips the others."""
    keep = None
    for label, key, values in (
        (shape.start, shape.start_key, start),
        (shape.end, shape.end_key, end),
    ):
        if label not in ids or ids[label][0] != key:
            raise ValueError(f"{shape.label}: no node step keys {label} by {key}")
        found = pc.is_in(values, value_set=ids[label][1])
        keep = found if keep is None else pc.and_(keep, found)
    assert keep is not None
    return keep.to_pylist()


def _props(
    step: str, props: pd.DataFrame, delimiter: str
) -> tuple[dict[str, pa.Array], dict[str, dict[int, Any]]]:
    """Each property column that has a value as an Arrow array, by its typed header field
    (`name:type`), and per property the values a CSV field cannot hold, by position."""
    fields: dict[str, pa.Array] = {}
    later: dict[str, dict[int, Any]] = {}
    for name in props.columns:
        listed = _string_lists(props[name], delimiter)
        if listed is not None:
            kind, (array, cannot) = "string[]", listed
        else:
            values = plain_values(props[name])
            try:
                kind = csv_type(values)
            except TypeError as err:
                raise InputError(step, f"property {name}: {err}; load without --bulk") from None
            if kind is None:
                continue
            array, cannot = csv_field(kind, values, delimiter)
        fields[f"{_header_name(name)}:{kind}"] = array
        if cannot:
            later[name] = cannot
    return fields, later


def _string_lists(series: pd.Series, delimiter: str) -> tuple[pa.Array, dict[int, Any]] | None:
    """`csv_field("string[]", plain_values(series), delimiter)` for the common column whose every
    value is a list of strings, without converting each value (a third of the CSV time);
    None for any other column."""
    if series.dtype != object:
        return None
    values = series.tolist()
    if not values or set(map(type, values)) != {list}:
        return None
    try:
        texts: list[str | None] = [delimiter.join(v) for v in values]
    except TypeError:  # an element that is not a string
        return None
    later = {i: list(values[i]) for i, text in enumerate(texts) if not text}  # [] or [""]
    separators = sum(map(len, values)) - len(values) + sum(1 for i in later if not values[i])
    if "".join(t for t in texts if t).count(delimiter) != separators:
        raise _DelimiterInData
    for i in later:
        texts[i] = None
    return pa.array(texts, pa.string()), later


_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="needed")


def _write(path: Path, header: list[str], columns: list[pa.Array]) -> bool:
    """Write the header line and the rows; True if a value spans lines (neo4j-admin must
    then be told the file has multiline fields)."""
    table = pa.table(columns, names=[f"c{i}" for i in range(len(columns))])
    with open(path, "wb") as out:
        out.write((",".join(header) + "\n").encode("utf-8"))
        pa_csv.write_csv(table, out, _CSV_OPTIONS)
    data = path.read_bytes()
    return data.count(b"\n") != len(table) + 1 or b"\r" in data


def _plan_later(
    plan: ImportPlan,
    shape: Shape,
    fields: dict[str, pa.Array],
    later: dict[str, dict[int, Any]],
    keys: list,
    ends: list | None = None,
    rel_keys: list | None = None,
    unique: bool = True,
) -> None:
    """Plan what the CSV could not hold (see ImportPlan): `unique` says no other step writes
    nodes or relationships of this label (or type and end labels)."""
    nulls = {name.split(":")[0]: array.null_count for name, array in fields.items()}
    by_key = {}
    for name, values in later.items():
        if unique and nulls[name] == len(values) and all(v == [] for v in values.values()):
            plan.fill.append(_fill(shape, name))
        else:
            by_key[name] = values
    if not by_key:
        return
    positions = sorted({i for values in by_key.values() for i in values})
    props = [{name: values[i] for name, values in by_key.items() if i in values} for i in positions]
    if shape.is_node:
        query = (
            f"UNWIND $rows AS row MATCH (n:{shape.label} {{{shape.key}: row.key}}) "
            "SET n += row.props"
        )
        rows = [{"key": keys[i], "props": p} for i, p in zip(positions, props, strict=True)]
    else:
        assert ends is not None and rel_keys is not None
        query = (
            f"UNWIND $rows AS row MATCH (a:{shape.start} {{{shape.start_key}: row.start}})"
            f"-[r:{shape.label} {{key: row.key}}]->(b:{shape.end} {{{shape.end_key}: row.end}}) "
            "SET r += row.props"
        )
        rows = [
            {"start": keys[i], "end": ends[i], "key": rel_keys[i], "props": p}
            for i, p in zip(positions, props, strict=True)
        ]
    plan.later.append((f"{shape.label}: lists", query, rows))


def _fill(shape: Shape, name: str) -> str:
    """The statement that gives every node (relationship) of the shape without property
    `name` an empty list: in an imported graph, exactly those whose list was empty."""
    if shape.is_node:
        match, var = f"MATCH (x:{shape.label})", "x"
    else:
        match, var = f"MATCH (:{shape.start})-[x:{shape.label}]->(:{shape.end})", "x"
    return (
        f"{match} WHERE {var}.{name} IS NULL "
        f"CALL ({var}) {{ SET {var}.{name} = [] }} IN TRANSACTIONS OF 10000 ROWS"
    )


# --- neo4j-admin --------------------------------------------------------------------------


def run_import(
    data_dir: Path,
    plan: ImportPlan,
    work: Path,
    *,
    memory: str = IMPORT_MEMORY,
    heap: str = IMPORT_HEAP,
    threads: int | None = None,
    progress: StageProgress = _quiet,
) -> dict[str, int]:
    """`neo4j-admin database import full` of the plan into data_dir's (stopped) database;
    returns the counts it reports. A failure raises with the importer's own words, which
    name the CSV file and line."""
    java = neo4j_server.check_java()
    lib = neo4j_server.ensure_jars()
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
        f"--array-delimiter=U+{ord(plan.array_delimiter):04X}",
        "--ignore-empty-strings=false",
        "--trim-strings=false",
        "--skip-bad-relationships=false",
        "--skip-duplicate-nodes=false",
        f"--threads={threads or max(2, os.cpu_count() or 2)}",
        f"--max-off-heap-memory={memory}",
        f"--report-file={report}",
    ]
    cmd += [f"--nodes={f.label}={f.path}" for f in plan.nodes]
    cmd += [f"--relationships={f.label}={f.path}" for f in plan.relationships]
    multiline = [str(f.path) for f in plan.nodes + plan.relationships if f.multiline]
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
                progress("import", f"{phase[1]}...")  # ... : a phase starts
            elif line.startswith("IMPORT DONE"):
                progress("import", line.strip())
        code = proc.wait()
    text = log.read_text(encoding="utf-8")
    if code != 0 or "IMPORT DONE" not in text:
        reported = report.read_text(encoding="utf-8", errors="replace") if report.exists() else ""
        raise EnvironmentProblem(
            f"neo4j-admin database import failed (exit {code}):\n{_import_errors(text)}"
            + (f"\nbad entries ({report}):\n{_tail(reported, 10)}" if reported.strip() else "")
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


def _tail(text: str, n: int) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join("  | " + ln for ln in lines[-n:])


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
    return _tail("\n".join(said), 40 if failed is not None else 25)


# --- the whole load -----------------------------------------------------------------------


def graph_nodes(driver: neo4j.Driver, database: str = DATABASE) -> dict[str, int]:
    """Nodes per label ({} for an empty graph; counts come from the count store)."""
    records, _, _ = driver.execute_query("MATCH (n) RETURN count(n) AS n", database_=database)
    if not records[0]["n"]:
        return {}
    labels, _, _ = driver.execute_query("CALL db.labels() YIELD label", database_=database)
    counts = {}
    for record in labels:
        label = record["label"].replace("`", "``")
        rows, _, _ = driver.execute_query(
            f"MATCH (n:`{label}`) RETURN count(n) AS n", database_=database
        )
        if rows[0]["n"]:
            counts[record["label"]] = rows[0]["n"]
    return counts or {"(no label)": records[0]["n"]}


def _refuse_unless_empty(server: LocalServer) -> None:
    with open_driver(server.settings) as driver:
        nodes = graph_nodes(driver)
    if nodes:
        held = ", ".join(f"{label} {count:,}" for label, count in sorted(nodes.items()))
        raise EnvironmentProblem(
            f"the local graph at {server.uri} is not empty ({held}): a bulk import replaces "
            "the whole database, so it only loads into an empty one. Load without --bulk "
            "(it MERGEs into what is there), or use a data dir without a database"
        )


def database_dir(config: ServerConfig) -> Path:
    return config.data_dir / "data" / "databases" / DATABASE


def _discard_store(config: ServerConfig) -> None:
    """Remove the database's store and transaction logs (after a failed import: it was
    empty, and neo4j-admin leaves it unusable); the next start creates it empty."""
    shutil.rmtree(database_dir(config), ignore_errors=True)
    shutil.rmtree(config.data_dir / "data" / "transactions" / DATABASE, ignore_errors=True)


@contextmanager
def _stage(stages: dict[str, float], name: str, progress: StageProgress) -> Iterator[None]:
    progress(name, "")
    started = time.perf_counter()
    yield
    stages[name] = stages.get(name, 0.0) + time.perf_counter() - started
    progress(name, f"{stages[name]:.1f} s")


def bulk_load(
    config: ServerConfig,
    run_dir: Path,
    *,
    watch_stdin: bool = False,
    progress: StageProgress = _quiet,
    memory: str | None = None,
    threads: int | None = None,
    work_dir: Path | None = None,
    batch_size: int = BATCH_SIZE,
) -> Imported:
    """Load `run_dir` into the local instance of `config` by bulk import (module docstring)
    and leave the instance running (`watch_stdin` as for `neo4j_server.start`).

    `progress(stage, message)` hears of each stage when it starts (message "") and ends
    (its seconds), and of the importer's phases as they start (message ending in "...").
    The instance is stopped while the CSVs are written (after the emptiness check), so a
    refusal leaves it as it was, and a failure before the restart leaves it running again
    (as it was, or with an empty database after a failed import)."""
    started = time.perf_counter()
    if external_settings() is not None:
        raise EnvironmentProblem(
            f"NEO4J_URI is set ({os.environ.get('NEO4J_URI')}): a bulk import writes the "
            "store files of veil's own local Neo4j and cannot reach another server. Unset "
            "NEO4J_URI, or load without --bulk"
        )
    stages: dict[str, float] = {}
    server: LocalServer | None = None
    with _stage(stages, "check", progress):
        if neo4j_server.is_running(config) or database_dir(config).exists():
            server = neo4j_server.start(config, watch_stdin=watch_stdin)
            _refuse_unless_empty(server)
        elif neo4j_server.store_in_use(config):
            raise EnvironmentProblem(
                f"the Neo4j store in {config.data_dir} is locked by another process"
            )
    was_running = server is not None
    with _stage(stages, "resolve", progress):
        resolved = resolve_run(Path(run_dir))
    config.data_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="veil-bulk-", dir=work_dir))
    stopping: threading.Thread | None = None
    importing = imported = False
    try:
        if server is not None:
            _refuse_unless_empty(server)  # again: nothing written since the first check
            stopping = threading.Thread(target=server.stop, name="veil-neo4j-stop")
            stopping.start()  # Neo4j shuts down while the CSVs are written
            server = None
        with _stage(stages, "csv", progress):
            plan = write_csvs(list(load_steps(resolved, create=True)), work)
        progress(
            "csv",
            f"{plan.node_count:,} nodes, {plan.relationship_count:,} relationships in "
            f"{len(plan.nodes) + len(plan.relationships)} files",
        )
        if stopping is not None:
            with _stage(stages, "stop", progress):  # what is left of it after the CSVs
                stopping.join()
        importing = True
        with _stage(stages, "import", progress):
            counters = run_import(
                config.data_dir,
                plan,
                work,
                memory=memory or os.environ.get("VEIL_IMPORT_MEMORY") or IMPORT_MEMORY,
                threads=threads,
                progress=progress,
            )
        imported = True
        with _stage(stages, "restart", progress):
            server = neo4j_server.start(config, watch_stdin=watch_stdin)
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
            neo4j_server.start(config, watch_stdin=watch_stdin)
        if importing and isinstance(err, EnvironmentProblem):
            raise EnvironmentProblem(
                f"{err}\nThe local Neo4j's database is empty again"
                + (" and the instance running" if was_running else "")
                + f"; the CSVs are kept in {work} (delete them when done)"
            ) from None
        raise
    shutil.rmtree(work, ignore_errors=True)
    summary = LoadSummary(
        run_dir=str(run_dir),
        load_id=resolved.load_id,
        mode="import",
        rows=plan.rows,
        counters=counters | {"nodes_deleted": 0, "relationships_deleted": 0},
        resolved=resolved.counts(),
        unresolved_slots=resolved.unresolved,
    )
    with open_driver(server.settings) as driver:
        with _stage(stages, "schema", progress):
            init_schema(driver, DATABASE)
        with _stage(stages, "finish", progress), driver.session(database=DATABASE) as session:
            for statement in plan.fill:
                session.run(statement).consume()
            if plan.later:
                write_batches(session, plan.later, batch_size)
            session.execute_write(record_load, resolved, summary)
    if (counters["nodes_created"], counters["relationships_created"]) != (
        plan.node_count,
        plan.relationship_count,
    ):
        raise EnvironmentProblem(
            f"neo4j-admin imported {counters['nodes_created']:,} nodes and "
            f"{counters['relationships_created']:,} relationships, but the CSVs hold "
            f"{plan.node_count:,} and {plan.relationship_count:,}: check the graph"
        )
    summary.stages = stages
    summary.seconds = time.perf_counter() - started
    return Imported(summary, server)
