"""Golden outputs of the demo pipeline: recorded before a refactor, compared after it.

Issue 14 moves code between rooms and promises that behaviour does not change. This tool
runs what `veil demo` runs (world -> load -> link -> graph load -> control -> alerts), on a
fresh work directory and an empty Neo4j, and reduces every output to canonical rows:

    python bench/golden.py record  --companies 2000 --seed 7 --out tests/golden/demo-2000-7.json
    python bench/golden.py compare --companies 2000 --seed 7 --golden tests/golden/demo-2000-7.json
                                   [--dump DIR] [--golden-dump DIR]
    python bench/golden.py diff DUMP_A DUMP_B

The golden file holds, per part, the row count, the SHA-256 of the canonical rows and the
digests of up to 64 consecutive blocks of them (so `compare` can say where the first
difference lies), never the rows: it stays small enough to commit. `--dump DIR` writes
the rows as JSON Lines (one file per part); `compare --golden-dump` and `diff` print the
first differing rows of two runs. Exit status 1 on any difference.

Goldens: tests/golden/demo-2000.json (the demo world; tests/test_golden.py keeps it) and
bench/golden/world-20000-7.json. On 2 shared cores a recording takes 70-90 s at 2,000
companies (about 20 s of it the canonical rows, 15 s starting Neo4j) and 3-5.5 min at
20,000 (2.7 million rows, 1.5-2.5 min of it the canonical rows; 5.5 GB peak; `--heap
2g`), depending on what else runs.

Parts:
- `run/files`: the names of the files in the run directory;
- `run/<table>` and `run/<table>.schema`: every Parquet table of the run directory (rows;
  column names and Arrow types, veil's own schema metadata);
- `run/<file>.json`: manifest.json, link_report.json and the models/ (Splink JSON with
  veil's training record), flattened to one row per leaf;
- `graph/nodes`, `graph/relationships`: every node (labels, properties) and relationship
  (type, properties, its endpoints' stable keys) in Neo4j, alerts included;
- `graph/load`: the graph load's summary (counters, resolved entities);
- `control/*`: the pure control analysis of every company (look-through share of every
  (company, person), beneficial owners, actual controller with basis and chain) and the
  control run's summary; `queries/*`: `veil controls` for the demo's notable companies and
  the first 100 companies by entity ID, `veil footprint` of their actual controllers,
  `veil risk` of the same companies;
- `alerts/alerts` (every alert with its evidence, as `veil alerts list --all` reads them)
  and `alerts/sweep`;
- `checks/*`: the demo's scores against the world's truth (load, linkage, art. 135 alerts).

Canonical rows: one JSON line `[key, row]` per row, object keys sorted, no whitespace; a
part's lines are sorted, so the order in which a room writes rows never counts. Floats are
rounded to FLOAT_DIGITS (9) significant digits (NaN and infinities tagged, -0.0 is 0.0);
dates become {"$date": ISO}, date-times {"$datetime": ISO} (Neo4j's too), so a date and
a string never compare equal. Lists keep their order: it is data (a chain, paths largest
first). Resident IDs never appear in full in veil's outputs; whatever this tool prints or
dumps passes through `masked` anyway (loaders.identifiers.mask_id), while digests are
taken over the unmasked rows.

Volatile, replaced by a placeholder (so that presence still counts, not the value):
- any object key in VOLATILE_KEYS at any depth: wall-clock times of the run (created_at,
  loaded_at, computed_at, control_computed_at, ran_at, raised_at, updated_at,
  reviewed_at, a history entry's at), durations (seconds, stages, rows_per_second),
  Splink's random linker_uid, the manifest's veil_version (a version bump is not a
  change of behaviour), and Neo4j's properties_set counter (it counts a null written to
  a property whose key the store has met before, in any earlier data: `SET n += {ended:
  null}` counts on a database that once held an ended company, not on a new one; the
  properties themselves are compared in graph/nodes);
- the load ID (a digest of entities.parquet and manifest.json, which holds created_at and
  absolute paths): Load.id, every `load` stamp, GraphState.loaded -> "<load>"; the
  manifest's SHA-256 in entities.parquet's `veil.inputs` -> "<manifest-sha256>";
- the control run's and the alert sweep's random IDs -> "<control-run>", "<sweep>";
- the work directory's absolute path inside any string -> "<work>".

Left out: the `VeilLock` node (the writer lock: holder, pid, heartbeat), pandas' own
Parquet metadata (its version), the bytes of the files (compression, row groups), the
world's extracts themselves (their SHA-256 are in `run/manifest.json`), the CSV export
(the JSONL export is `alerts/alerts` one to one) and the terminal output of `veil demo`.

The run pins what the environment could change: the ID-token secret (GOLDEN_SECRET, passed
to the loader and to the graph load, which keys a record keyed by a resident ID with it),
and the packaged linkage, graph and rule configurations (VEIL_LINKAGE, VEIL_GRAPH and
VEIL_RULES are not read). Neo4j: with NEO4J_URI set, that server, which
must be empty (or `--wipe`); otherwise a throwaway local Neo4j in WORK/neo4j on a free
port, stopped at the end, so the user's own graph is never touched.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import platform
import re
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import neo4j
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from alerts.store import AlertFilter, list_alerts, sweep
from config.graph import DEFAULT_GRAPH, load_graph_config
from config.linkage import DEFAULT_LINKAGE, load_linkage_config
from config.rules import DEFAULT_RULES, load_rules
from config.settings import private_files, veil_home
from graph.analysis import holdings_in_force, run_control
from graph.answers import Controller
from graph.control.controllers import control_analysis
from graph.load import load_run as load_graph
from graph.queries import controls, footprint, notable_structures, related_party_risk
from graph.server.connection import external_settings, open_driver
from graph.server.local import ServerConfig, start
from linkage.run import link_run
from loaders.identifiers import mask_id
from loaders.run import load_run
from world.alert_checks import score_alerts
from world.calendar import REF_DATE
from world.checks import compare_load_with_truth
from world.generate import generate_world
from world.linkage_checks import exact_baseline, score_run

FORMAT = "veil-golden/1"
FLOAT_DIGITS = 9
GOLDEN_SECRET = b"veil-golden-secret"
MAX_BLOCKS = 64
MIN_BLOCK_ROWS = 100
QUERY_SAMPLE = 100
PACKAGES = ("splink", "duckdb", "numpy", "pandas", "pyarrow", "scipy", "neo4j", "rapidfuzz")
PACKAGES += ("pypinyin", "opencc", "python-stdnum", "cjk-semantic-split", "python-calamine")

VOLATILE_KEYS = frozenset(
    {
        "created_at",
        "loaded_at",
        "computed_at",
        "control_computed_at",
        "ran_at",
        "raised_at",
        "updated_at",
        "reviewed_at",
        "at",
        "seconds",
        "stages",
        "rows_per_second",
        "linker_uid",
        "veil_version",
        "properties_set",
    }
)
VOLATILE = "<volatile>"

#: Columns that identify a row of a run-directory table (rows are sorted by them first,
#: then by the whole row; `diff` pairs rows of two runs by them). Other tables: the row.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "records": ("source", "record_id"),
    "person_mentions": ("source", "record_id", "slot"),
    "company_mentions": ("source", "record_id", "slot"),
    "roles": ("source", "record_id", "person_slot", "company_slot", "role"),
    "shareholdings": ("source", "record_id", "holder_slot"),
    "punishments": ("source", "record_id"),
    "list_entries": ("source", "record_id"),
    "licences": ("source", "record_id"),
    "quarantine": ("source", "file", "line", "field", "reason"),
    "field_issues": ("source", "record_id", "slot", "field"),
    "entities": ("run", "source", "record_id", "slot"),
    "links": ("entity_type", "mention_l", "mention_r", "evidence"),
    "suspects": ("entity_type", "identifier", "mention_l", "mention_r"),
    "entity_changes": ("entity_type", "entity_id"),
}
NODE_KEYS = ("entity_id", "key", "id", "name")
LEFT_OUT_LABELS = frozenset({"VeilLock"})

# An 18-character resident ID: six digits, a plausible birth date, three digits, a check
# character; not inside a longer run of letters or digits (a token, a record number).
_RESIDENT_ID = re.compile(
    r"(?<![0-9A-Za-z])[0-9]{6}((?:19|20)[0-9]{6})[0-9]{3}[0-9Xx](?![0-9A-Za-z])"
)


# ----------------------------------------------------------------------------- values


def masked(text: str) -> str:
    """`text` with every full resident ID masked by the loader's own rule (6 + 4 shown)."""

    def one(match: re.Match[str]) -> str:
        born = match.group(1)
        try:
            date(int(born[:4]), int(born[4:6]), int(born[6:]))
        except ValueError:
            return match.group(0)
        return mask_id(match.group(0)) or ""

    return _RESIDENT_ID.sub(one, text)


@dataclass
class Scrubber:
    """Replaces the run's volatile values: exact strings (random IDs) and substrings
    (the work directory, the manifest's digest) by placeholders."""

    exact: dict[str, str] = field(default_factory=dict)
    inside: dict[str, str] = field(default_factory=dict)

    def __call__(self, text: str) -> str:
        if text in self.exact:
            return self.exact[text]
        for old, new in self.inside.items():
            if old in text:
                text = text.replace(old, new)
        return text


def canonical(value: Any, scrub: Callable[[str], str]) -> Any:
    """A JSON-ready value that is equal for equal outputs (see the module docstring)."""
    kind = type(value)  # the common plain types first: a large run has millions of values
    if kind is str:
        return scrub(value)
    if kind is dict:
        return {
            str(k): VOLATILE if k in VOLATILE_KEYS else canonical(v, scrub)
            for k, v in value.items()
        }
    if kind is list:
        return [canonical(v, scrub) for v in value]
    if value is None or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return {"$float": "nan"}
        if math.isinf(number):
            return {"$float": "inf" if number > 0 else "-inf"}
        rounded = float(f"{number:.{FLOAT_DIGITS}g}")
        return 0.0 if rounded == 0 else rounded
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, datetime):
        return {"$datetime": VOLATILE}  # every date-time veil writes is a wall-clock time
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, neo4j.time.DateTime):
        return {"$datetime": VOLATILE}
    if isinstance(value, neo4j.time.Date):
        return {"$date": value.iso_format()}
    if isinstance(value, neo4j.time.Time | neo4j.time.Duration):
        return {"$" + type(value).__name__.lower(): str(value)}
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, dict):
        return {
            str(k): VOLATILE if k in VOLATILE_KEYS else canonical(v, scrub)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | np.ndarray):
        return [canonical(v, scrub) for v in value]
    if hasattr(value, "isoformat"):  # pandas Timestamp, numpy datetime64 via pandas
        return {"$datetime": VOLATILE}
    raise TypeError(f"no canonical form for {type(value).__name__}: {value!r}")


def line(key: Any, row: Any) -> str:
    """One canonical row: `[key, row]` as compact JSON with sorted object keys."""
    return json.dumps([key, row], ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def flatten(document: Any, scrub: Callable[[str], str]) -> list[str]:
    """A JSON document as one line per leaf, keyed by its path (`a.b[0].c`)."""
    rows: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(VOLATILE if k in VOLATILE_KEYS else v, f"{path}.{k}" if path else str(k))
        elif isinstance(value, list | tuple) and value:
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")
        else:
            rows.append(line(path, canonical(value, scrub)))

    walk(document, "")
    return sorted(rows)


# ------------------------------------------------------------------------ the pipeline


@dataclass
class Outputs:
    """What the pipeline returned besides the files and the graph."""

    work: Path
    world_dir: Path
    run_dir: Path
    graph_load: dict[str, Any]
    control: dict[str, Any]
    sweep: dict[str, Any]
    notable: dict[str, str]
    checks: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


def run_pipeline(
    companies: int,
    seed: int,
    work: Path,
    driver: neo4j.Driver,
    database: str = "neo4j",
    say: Callable[[str], None] = lambda _: None,
) -> Outputs:
    """What `veil demo` does (service/cmd_demo.py), room function by room function, into
    a fresh `work` directory and an empty graph; the demo's scoring against the truth too."""
    world_dir, run_dir, models_dir = work / "world", work / "run", work / "models"
    for directory in (world_dir, run_dir, models_dir):
        shutil.rmtree(directory, ignore_errors=True)
    graph_config = load_graph_config(DEFAULT_GRAPH)
    as_of = REF_DATE.astype(object)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        seconds[stage] = round(time.perf_counter() - clock, 1)
        say(f"  {stage}: {seconds[stage]} s")
        clock = time.perf_counter()

    generate_world(companies, seed, world_dir)
    lap("world")
    load_run(world_dir / "sources.yaml", run_dir, secret=GOLDEN_SECRET)
    checks: dict[str, Any] = {"load": compare_load_with_truth(run_dir, world_dir).as_dict()}
    lap("load")
    link_run(run_dir, models_dir=models_dir, config=load_linkage_config(DEFAULT_LINKAGE))
    checks["linkage"] = {
        "veil": score_run(run_dir, world_dir),
        "exact name + ID baseline": score_run(run_dir, world_dir, exact_baseline(run_dir)),
    }
    lap("link")
    loaded = load_graph(
        driver, run_dir, database, graph_config.load.batch_size, secret=GOLDEN_SECRET
    )
    lap("graph load")
    summary = run_control(driver, graph_config.control, as_of, database)
    notable = notable_structures(driver, database)
    lap("control")
    swept = sweep(driver, load_rules(DEFAULT_RULES), graph_config.control, as_of, None, database)
    alerts = list_alerts(driver, AlertFilter(include_inactive=True), database)
    checks["alerts"] = score_alerts(alerts, run_dir, world_dir)
    lap("alerts")
    return Outputs(
        work=work,
        world_dir=world_dir,
        run_dir=run_dir,
        graph_load=loaded.as_dict(),
        control=summary.as_dict(),
        sweep=swept.as_dict(),
        notable=notable,
        checks=checks,
        seconds=seconds,
    )


# ------------------------------------------------------------------------------ parts


def scrubber(out: Outputs) -> Scrubber:
    """The placeholders of this run's volatile values (see the module docstring)."""
    manifest = hashlib.sha256((out.run_dir / "manifest.json").read_bytes()).hexdigest()
    exact = {
        out.graph_load["load_id"]: "<load>",
        out.control["run_id"]: "<control-run>",
        out.sweep["sweep"]: "<sweep>",
    }
    inside = {manifest: "<manifest-sha256>"}
    for path in {str(out.work.resolve()), str(out.work), str(out.work.absolute())}:
        inside[path] = "<work>"
    # The longest first, so a path is replaced whole before a shorter form of it.
    inside = dict(sorted(inside.items(), key=lambda kv: -len(kv[0])))
    return Scrubber(exact=exact, inside=inside)


def run_parts(run_dir: Path, scrub: Scrubber) -> dict[str, list[str]]:
    """Every file of the run directory: tables as rows, JSON documents flattened."""
    parts: dict[str, list[str]] = {}
    files = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file())
    parts["run/files"] = sorted(line(name, None) for name in files)
    for name in files:
        path = run_dir / name
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            stem = name.removesuffix(".parquet")
            keys = TABLE_KEYS.get(stem, ())
            rows = []
            for row in table.to_pylist():
                value = canonical(row, scrub)
                key = [value.get(k) for k in keys] if keys else value
                rows.append(line(key, value))
            parts[f"run/{stem}"] = sorted(rows)
            schema = [line(["column", f.name], str(f.type)) for f in table.schema]
            for k, v in (table.schema.metadata or {}).items():
                if k != b"pandas":
                    schema.append(line(["metadata", k.decode()], scrub(v.decode())))
            parts[f"run/{stem}.schema"] = sorted(schema)
        elif path.suffix == ".json":
            parts[f"run/{name}"] = flatten(json.loads(path.read_text(encoding="utf-8")), scrub)
    return parts


def graph_parts(driver: neo4j.Driver, scrub: Scrubber, database: str) -> dict[str, list[str]]:
    """Every node and relationship of the graph (VeilLock left out), by stable keys."""
    read = neo4j.RoutingControl.READ
    records, _, _ = driver.execute_query(
        "MATCH (n) RETURN elementId(n) AS id, labels(n) AS labels, properties(n) AS props",
        database_=database,
        routing_=read,
    )
    keys: dict[str, Any] = {}
    nodes = []
    for record in records:
        labels = sorted(record["labels"])
        if LEFT_OUT_LABELS & set(labels):
            continue
        props = _parsed(labels, dict(record["props"]))
        value = canonical(props, scrub)
        name = next((k for k in NODE_KEYS if k in value), None)
        key = [":".join(labels), name, value[name]] if name else [":".join(labels), value]
        keys[record["id"]] = key
        nodes.append(line(key, {"labels": labels, "properties": value}))
    records, _, _ = driver.execute_query(
        "MATCH (a)-[r]->(b) RETURN type(r) AS type, elementId(a) AS a, elementId(b) AS b, "
        "properties(r) AS props",
        database_=database,
        routing_=read,
    )
    relationships = []
    for record in records:
        start, end = keys.get(record["a"]), keys.get(record["b"])
        value = canonical(dict(record["props"]), scrub)
        key = [record["type"], start, end, value.get("key")]
        relationships.append(line(key, {"type": record["type"], "properties": value}))
    return {"graph/nodes": sorted(nodes), "graph/relationships": sorted(relationships)}


def _parsed(labels: list[str], props: dict[str, Any]) -> dict[str, Any]:
    """An alert's evidence and history are JSON text: compared as the values they hold."""
    if "Alert" in labels:
        if isinstance(props.get("evidence"), str):
            props["evidence"] = json.loads(props["evidence"])
        props["history"] = [json.loads(h) for h in props.get("history") or []]
    return props


def control_parts(
    driver: neo4j.Driver, out: Outputs, scrub: Scrubber, database: str
) -> dict[str, list[str]]:
    """The control analysis of every company (the arithmetic graph control writes from),
    and the query answers an inspector reads."""
    settings = load_graph_config(DEFAULT_GRAPH)
    as_of = REF_DATE.astype(object)
    records, _, _ = driver.execute_query(
        "MATCH (c:Company) RETURN c.entity_id AS id ORDER BY id",
        database_=database,
        routing_=neo4j.RoutingControl.READ,
    )
    companies = [r["id"] for r in records]
    result = control_analysis(
        companies,
        holdings_in_force(driver, as_of, database),
        threshold=settings.control.beneficial_owner_threshold,
        majority=settings.control.majority,
    )

    def frame(df: Any, keys: tuple[str, ...]) -> list[str]:
        rows = [canonical(r, scrub) for r in df.to_dict("records")]
        return sorted(line([r[k] for k in keys], r) for r in rows)

    look = result.look_through
    stats = {
        "iterations": look.iterations,
        "residual": look.residual,
        "divergent": sorted(look.divergent),
        "affected": sorted(look.affected),
        "converged": look.converged,
    }
    parts = {
        "control/look_through": frame(look.ownership, ("company", "person")),
        "control/beneficial_owners": frame(result.beneficial_owners, ("company", "person")),
        "control/controllers": frame(result.controllers, ("company",)),
        "control/solve": flatten(stats, scrub),
        "control/summary": flatten(out.control, scrub),
    }
    sample = list(out.notable.values()) + companies[:QUERY_SAMPLE]
    answers, footprints, risks = [], [], []
    controllers: set[str] = set()
    hops = settings.queries.related_party_hops
    # The answers as `--json` prints them (dates as ISO text).
    for company in dict.fromkeys(sample):
        answer = controls(driver, company, settings.control, as_of, database)
        answers.append(line(company, canonical(answer.model_dump(mode="json"), scrub)))
        if isinstance(answer.actual_controller, Controller):
            controllers.add(answer.actual_controller.entity_id)
        risk = related_party_risk(driver, company, hops, as_of, database)
        risks.append(line(company, canonical(risk.model_dump(mode="json"), scrub)))
    for person_id in sorted(controllers):
        person = footprint(driver, person_id, None, database)
        footprints.append(line(person_id, canonical(person.model_dump(mode="json"), scrub)))
    parts["queries/notable"] = flatten(out.notable, scrub)
    parts["queries/controls"] = sorted(answers)
    parts["queries/risk"] = sorted(risks)
    parts["queries/footprint"] = sorted(footprints)
    return parts


def alert_parts(
    driver: neo4j.Driver, out: Outputs, scrub: Scrubber, database: str
) -> dict[str, list[str]]:
    """Every alert with its evidence and history, as `veil alerts list --all` reads them:
    the fields the store holds (a model's defaults for fields it does not are no output of
    the pipeline)."""
    alerts = list_alerts(driver, AlertFilter(include_inactive=True), database)
    rows = [
        line(a.id, canonical(a.model_dump(mode="json", exclude_unset=True), scrub)) for a in alerts
    ]
    return {"alerts/alerts": sorted(rows), "alerts/sweep": flatten(out.sweep, scrub)}


def golden_parts(
    companies: int,
    seed: int,
    work: Path,
    driver: neo4j.Driver,
    database: str = "neo4j",
    say: Callable[[str], None] = lambda _: None,
) -> tuple[dict[str, list[str]], dict[str, float]]:
    """Run the pipeline into `work` and an empty graph; its canonical rows per part, and the
    seconds per stage."""
    out = run_pipeline(companies, seed, work, driver, database, say)
    started = time.perf_counter()
    scrub = scrubber(out)
    parts = run_parts(out.run_dir, scrub)
    parts |= graph_parts(driver, scrub, database)
    parts["graph/load"] = flatten(out.graph_load, scrub)
    parts |= control_parts(driver, out, scrub, database)
    parts |= alert_parts(driver, out, scrub, database)
    for name, document in out.checks.items():
        parts[f"checks/{name}"] = flatten(document, scrub)
    out.seconds["canonical rows"] = round(time.perf_counter() - started, 1)
    say(f"  canonical rows: {out.seconds['canonical rows']} s")
    return dict(sorted(parts.items())), out.seconds


# ---------------------------------------------------------------------------- digests


def digest(lines: list[str]) -> dict[str, Any]:
    """Row count, SHA-256 of the rows, and digests of consecutive blocks of them."""
    block = max(MIN_BLOCK_ROWS, math.ceil(len(lines) / MAX_BLOCKS))
    blocks = [
        _sha("".join(x + "\n" for x in lines[i : i + block]))[:16]
        for i in range(0, len(lines), block)
    ]
    return {
        "rows": len(lines),
        "sha256": _sha("".join(x + "\n" for x in lines)),
        "block_rows": block,
        "blocks": blocks,
    }


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def versions(driver: neo4j.Driver, database: str = "neo4j") -> dict[str, str | None]:
    """Python, Neo4j and the libraries whose upgrade may change outputs (recorded with a
    golden, not compared: `compare` names those that changed, the likeliest innocent
    cause of a difference)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    records, _, _ = driver.execute_query(
        "CALL dbms.components() YIELD name, versions RETURN versions[0] AS version",
        database_=database,
        routing_=neo4j.RoutingControl.READ,
    )
    out["neo4j-server"] = records[0]["version"] if records else None
    return out


def version_changes(recorded: dict[str, Any], now: dict[str, str | None]) -> list[str]:
    """`name old -> new` for every version that differs from the recording."""
    before = recorded.get("recorded", {}).get("versions", {})
    return [f"{k} {before.get(k)} -> {now.get(k)}" for k in sorted(now) if before.get(k) != now[k]]


@dataclass
class PartResult:
    """One part compared: equal, different (with where), or present on one side only."""

    name: str
    golden_rows: int | None
    now_rows: int | None
    equal: bool
    first_block: tuple[int, int] | None = None

    def text(self) -> str:
        def count(n: int | None) -> str:
            return "-" if n is None else f"{n:,}"

        verdict = "equal" if self.equal else "DIFFERENT"
        if self.golden_rows is None:
            verdict += " (not in the golden)"
        elif self.now_rows is None:
            verdict += " (missing now)"
        elif self.first_block is not None:
            verdict += (
                f": first difference in sorted rows {self.first_block[0]:,}-{self.first_block[1]:,}"
            )
        return (
            f"{self.name:<36} {count(self.golden_rows):>10} {count(self.now_rows):>10}  {verdict}"
        )


def compare_digests(golden: dict[str, Any], now: dict[str, dict[str, Any]]) -> list[PartResult]:
    """Per part of either side: equal or not, and the first differing block."""
    results = []
    for name in sorted(set(golden) | set(now)):
        g, n = golden.get(name), now.get(name)
        if g is None or n is None:
            results.append(PartResult(name, g and g["rows"], n and n["rows"], False))
            continue
        equal = g["sha256"] == n["sha256"]
        first = None
        if not equal and g["block_rows"] == n["block_rows"]:
            for i, (a, b) in enumerate(zip(g["blocks"], n["blocks"], strict=False)):
                if a != b:
                    first = (i * g["block_rows"] + 1, (i + 1) * g["block_rows"])
                    break
            else:
                shorter = min(len(g["blocks"]), len(n["blocks"]))
                first = (shorter * g["block_rows"] + 1, (shorter + 1) * g["block_rows"])
        results.append(PartResult(name, g["rows"], n["rows"], equal, first))
    return results


# ------------------------------------------------------------------------------ dumps


def _dump_file(directory: Path, part: str) -> Path:
    return directory / f"{part}.jsonl"


def write_dump(parts: dict[str, list[str]], directory: Path) -> None:
    """The canonical rows of every part as JSON Lines, resident IDs masked."""
    for part, lines in parts.items():
        path = _dump_file(directory, part)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(masked(x) + "\n" for x in lines), encoding="utf-8")


def read_dump(directory: Path) -> dict[str, list[str]]:
    """The parts of a dump written by `write_dump`."""
    parts = {}
    for path in sorted(directory.rglob("*.jsonl")):
        name = path.relative_to(directory).as_posix().removesuffix(".jsonl")
        parts[name] = path.read_text(encoding="utf-8").splitlines()
    return parts


def differing_rows(before: list[str], after: list[str], limit: int = 5) -> list[str]:
    """The first `limit` differences of two parts' (masked) rows: a key on one side only
    (- before, + after), or a key on both with other values (~, the fields that differ)."""
    gone = set(before) - set(after)
    came = set(after) - set(before)
    if not gone and not came:
        return []

    def by_key(rows: Iterable[str]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for row in sorted(rows):
            key, value = json.loads(row)
            out.setdefault(json.dumps(key, ensure_ascii=False), []).append(value)
        return out

    old, new = by_key(gone), by_key(came)
    shown = []
    for key in sorted(set(old) | set(new)):
        if len(shown) >= limit:
            break
        a, b = old.get(key, []), new.get(key, [])
        if len(a) == 1 and len(b) == 1:
            leaves_a, leaves_b = _leaves(a[0]), _leaves(b[0])
            paths = sorted(
                p for p in set(leaves_a) | set(leaves_b) if leaves_a.get(p) != leaves_b.get(p)
            )
            changes = "; ".join(
                f"{p or '(row)'}: {_short(leaves_a.get(p), 120)} -> {_short(leaves_b.get(p), 120)}"
                for p in paths[:4]
            )
            if len(paths) > 4:
                changes += f"; ... {len(paths) - 4} more"
            shown.append(f"    ~ {_short(key, 200)}  {changes}")
            continue
        shown += [f"    - {_short(key, 200)}  {_short(v)}" for v in a]
        shown += [f"    + {_short(key, 200)}  {_short(v)}" for v in b]
    more = len(set(old) | set(new)) - limit
    if more > 0:
        shown.append(f"    ... and {more:,} more differing keys")
    return shown


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    """A row's leaves by path (`evidence.identity.path[0].to`), to name what differs."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out |= _leaves(v, f"{path}.{k}" if path else k)
        return out
    if isinstance(value, list) and value:
        out = {}
        for i, v in enumerate(value):
            out |= _leaves(v, f"{path}[{i}]")
        return out
    return {path: value}


def _short(value: Any, limit: int = 300) -> str:
    text = (
        value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    )
    text = masked(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -------------------------------------------------------------------------------- CLI


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def empty_graph(
    work: Path, wipe: bool, heap: str, pagecache: str
) -> Iterator[tuple[neo4j.Driver, str]]:
    """A driver on an empty graph: NEO4J_URI's server (emptied only with `wipe`), else a
    throwaway local Neo4j in WORK/neo4j, stopped on the way out."""
    settings = external_settings()
    server = None
    if settings is None:
        config = ServerConfig(
            data_dir=(work / "neo4j").resolve(),
            port=_free_port(),
            heap=heap,
            pagecache=pagecache,
        )
        shutil.rmtree(config.data_dir, ignore_errors=True)
        server = start(config, watch_stdin=True)
        settings = server.settings
    try:
        with open_driver(settings) as driver:
            records, _, _ = driver.execute_query(
                "MATCH (n) RETURN count(n) AS n", database_=settings.database
            )
            if records[0]["n"]:
                if not wipe:
                    raise SystemExit(
                        f"the graph at {settings.uri} is not empty: golden outputs need an "
                        "empty one (--wipe empties it)"
                    )
                driver.execute_query(
                    "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS",
                    database_=settings.database,
                )
            yield driver, settings.database
    finally:
        if server is not None:
            server.stop()


def _record_or_compare(args: argparse.Namespace) -> int:
    work = args.work or veil_home() / "golden" / f"{args.companies}-{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    say(f"{args.mode}: {args.companies:,} companies, seed {args.seed}, work {work}")
    started = time.perf_counter()
    with empty_graph(work, args.wipe, args.heap, args.pagecache) as (driver, database):
        parts, seconds = golden_parts(args.companies, args.seed, work, driver, database, say)
        now_versions = versions(driver, database)
    seconds["total"] = round(time.perf_counter() - started, 1)
    say(f"  total: {seconds['total']} s")
    if args.dump:
        write_dump(parts, args.dump)
    digests = {name: digest(lines) for name, lines in parts.items()}
    if args.mode == "record":
        document = {
            "format": FORMAT,
            "world": {"companies": args.companies, "seed": args.seed},
            "float_digits": FLOAT_DIGITS,
            "recorded": {"seconds": seconds, "versions": now_versions},
            "parts": digests,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(
            f"recorded {len(parts)} parts, {sum(len(x) for x in parts.values()):,} rows: {args.out}"
        )
        return 0
    golden = json.loads(args.golden.read_text(encoding="utf-8"))
    golden_rows = read_dump(args.golden_dump) if args.golden_dump else None
    return report(golden, digests, parts, golden_rows, now_versions)


def report(
    golden: dict[str, Any],
    digests: dict[str, dict[str, Any]],
    parts: dict[str, list[str]],
    golden_rows: dict[str, list[str]] | None = None,
    now_versions: dict[str, str | None] | None = None,
) -> int:
    """Print the comparison part by part; 1 if anything differs."""
    if golden.get("format") != FORMAT:
        print(f"the golden file is {golden.get('format')!r}, this tool reads {FORMAT!r}")
        return 1
    changed = version_changes(golden, now_versions or {})
    if changed:
        print("versions differ from the recording: " + ", ".join(changed))
    results = compare_digests(golden["parts"], digests)
    print(f"{'part':<36} {'golden':>10} {'now':>10}")
    for result in results:
        print(result.text())
        if not result.equal and golden_rows is not None and result.name in golden_rows:
            for text in differing_rows(
                golden_rows[result.name], [masked(x) for x in parts.get(result.name, [])]
            ):
                print(text)
    different = [r.name for r in results if not r.equal]
    print(f"{len(results) - len(different)} of {len(results)} parts equal")
    return 1 if different else 0


def _diff(args: argparse.Namespace) -> int:
    a, b = read_dump(args.a), read_dump(args.b)
    different = 0
    for name in sorted(set(a) | set(b)):
        rows_a, rows_b = a.get(name), b.get(name)
        if rows_a == rows_b:
            print(f"{name:<36} equal ({len(rows_a or []):,} rows)")
            continue
        different += 1
        print(f"{name:<36} DIFFERENT ({len(rows_a or []):,} rows -> {len(rows_b or []):,})")
        for text in differing_rows(rows_a or [], rows_b or [], args.rows):
            print(text)
    return 1 if different else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    for mode in ("record", "compare"):
        sub = modes.add_parser(mode)
        sub.add_argument("--companies", type=int, required=True)
        sub.add_argument("--seed", type=int, required=True)
        if mode == "record":
            sub.add_argument("--out", type=Path, required=True, help="the golden JSON to write")
        else:
            sub.add_argument("--golden", type=Path, required=True, help="the golden JSON")
            sub.add_argument(
                "--golden-dump", type=Path, help="the dump of the golden run: print differing rows"
            )
        sub.add_argument("--dump", type=Path, help="also write the canonical rows here (JSONL)")
        sub.add_argument("--work", type=Path, help="default: $VEIL_HOME/golden/N-SEED")
        sub.add_argument("--wipe", action="store_true", help="empty NEO4J_URI's graph first")
        sub.add_argument("--heap", default="1g", help="throwaway Neo4j's heap")
        sub.add_argument("--pagecache", default="512m", help="throwaway Neo4j's page cache")
    sub = modes.add_parser("diff", help="compare two dumps row by row")
    sub.add_argument("a", type=Path)
    sub.add_argument("b", type=Path)
    sub.add_argument("--rows", type=int, default=5, help="differing rows shown per part")
    args = parser.parse_args(argv)
    private_files()  # the world and the run hold personal data, as veil's own files do
    return _diff(args) if args.mode == "diff" else _record_or_compare(args)


if __name__ == "__main__":
    sys.exit(main())
