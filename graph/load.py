"""Write a resolved run into Neo4j: parameterised UNWIND ... MERGE, idempotent, and as
one transaction whenever it can be.

Every node and relationship is MERGEd on its key and carries a `digest` of its properties
(graph/delta.py). The graph mirrors the last run loaded: a wave's run directory is
cumulative, so a load writes what the run states and the graph does not hold as it is
(new or changed rows) and deletes what the graph holds and the run no longer states (an
entity merged away, a fact corrected), found by comparing keys, not stamps. Each row
written is stamped with the run's load ID (a digest of its entities and manifests), so an
unchanged row keeps the stamp of the load that last wrote it. Loading the same run twice
therefore writes nothing, and a wave updates tenures in place (an ended role gets its end
date) instead of adding duplicates. Control results are stamped with the load they were
computed on and are deleted by a load of another run; alert records carry no stamp and
stay.

A delta of at most `atomic_rows` rows (graph config `load.atomic_rows`) is written as ONE
transaction with the `Load` record and a new published version of the graph
(graph/published.py): readers see all of it or none. A larger one is written in batches,
each a managed transaction (`session.execute_write`, retried by the driver on transient
errors), with the graph marked as loading meanwhile (graph/guard.py). A graph without
veil nodes (the first load) is written with CREATE, in batches: the same graph, without a
lookup per row. Into an empty local graph, graph/bulk_load.py (`veil graph load --bulk`)
writes the same steps (`load_steps`, their `Shape` and `Columns` as data) by offline
import instead.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

import neo4j
import numpy as np
import pandas as pd

from config.progress import Progress, Update, silent
from graph.delta import CONTROL_RELATIONSHIPS, Delta, plan_delta, row_digests
from graph.facts import LEGAL_REPRESENTATIVE, ResolvedRun, resolve_run
from graph.guard import (
    atomically,
    begin_load,
    finish_load,
    finished,
    graph_writer,
    unfinished_load,
)
from graph.published import bump
from graph.schema import init_schema

log = logging.getLogger(__name__)

BATCH_SIZE = 5_000
#: The largest write done as one transaction (config/graph.py `load.atomic_rows`).
ATOMIC_ROWS = 250_000
T = TypeVar("T")


@dataclass
class LoadSummary:
    """What a load did; `rows` counts the node and relationship rows sent (written or
    deleted), `unchanged` the run's rows the graph already held as they are; `atomic`: the
    whole load was one transaction; `stages` are the seconds of a bulk import's stages
    (graph/bulk_load.py)."""

    run_dir: str
    load_id: str
    mode: str = ""
    atomic: bool = False
    rows: int = 0
    unchanged: int = 0
    seconds: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)
    stale_deleted: dict[str, int] = field(default_factory=dict)
    resolved: dict[str, int] = field(default_factory=dict)
    unresolved_slots: int = 0
    replaced_unfinished: dict[str, Any] | None = None
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_dir": self.run_dir,
            "load_id": self.load_id,
            "mode": self.mode,
            "atomic": self.atomic,
            "rows": self.rows,
            "unchanged": self.unchanged,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "counters": self.counters,
            "stale_deleted": self.stale_deleted,
            "resolved": self.resolved,
            "unresolved_slots": self.unresolved_slots,
            "replaced_unfinished": self.replaced_unfinished,
        } | ({"stages": {k: round(v, 3) for k, v in self.stages.items()}} if self.stages else {})


# One constant query text per step; rows arrive as $rows. MERGE finds what an earlier
# load wrote; CREATE, for a graph without veil nodes, skips that lookup (see `load_run`).
_NODE = "UNWIND $rows AS row MERGE (n:{label} {{{key}: row.{key}}}) SET n += row.props"
_NEW_NODE = "UNWIND $rows AS row CREATE (n:{label}) SET n += row.props"
_REL = (
    "UNWIND $rows AS row "
    "MATCH (a:{start} {{{start_key}: row.start}}) "
    "MATCH (b:{end} {{{end_key}: row.end}}) "
    "{verb} (a)-[r:{type} {{key: row.key}}]->(b) SET r += row.props"
)


def _node(label: str, key: str, create: bool) -> str:
    return (_NEW_NODE if create else _NODE).format(label=label, key=key)


def _rel(
    rel_type: str,
    start: str,
    end: str,
    create: bool,
    start_key: str = "entity_id",
    end_key: str = "entity_id",
) -> str:
    return _REL.format(
        verb="CREATE" if create else "MERGE",
        type=rel_type,
        start=start,
        end=end,
        start_key=start_key,
        end_key=end_key,
    )


KIND_LABEL = {"person": "Person", "company": "Company"}
STAMPED_RELATIONSHIPS = (
    "LEGAL_REPRESENTATIVE_OF",
    "OFFICER_OF",
    "HOLDS_SHARES_IN",
    "IMPOSED_ON",
    "NAMES_RESPONSIBLE",
    "NAMES",
    "LISTS",
    "ISSUED_TO",
    *CONTROL_RELATIONSHIPS,
)
STAMPED_NODES = ("Punishment", "ListEntry", "Licence", "Person", "Company")


def load_run(
    driver: neo4j.Driver,
    run_dir: Path,
    database: str = "neo4j",
    batch_size: int = BATCH_SIZE,
    progress: Progress = silent,
    secret: bytes | None = None,
    atomic_rows: int = ATOMIC_ROWS,
) -> LoadSummary:
    """Resolve `run_dir` and write it; returns counts and speed. `secret` keys the records
    whose key holds a resident ID (graph.facts.resolve_run; default: VEIL_ID_SECRET's).

    Into a graph with veil nodes, only the delta is written (graph/delta.py): as one
    transaction when it has at most `atomic_rows` rows, else in batches with a warning.
    Into a graph without (no Person, Company, Punishment, ListEntry or Licence) every
    node and relationship is CREATEd in batches: the same graph MERGE would build (rows
    that MERGE would fold into one, the last winning, are folded first), without looking
    each one up.

    The load holds the graph's writer lock; a batched load marks the graph as loading
    until its stale rows are deleted (graph/guard.py): one that fails part-way leaves the
    graph marked unfinished, and running it again completes it. An atomic load that fails
    changes nothing."""
    started = time.perf_counter()
    resolved = resolve_run(Path(run_dir), secret)
    init_schema(driver, database)
    summary = LoadSummary(
        run_dir=str(run_dir),
        load_id=resolved.load_id,
        resolved=resolved.counts(),
        unresolved_slots=resolved.unresolved,
    )
    run = str(Path(run_dir).resolve())
    with (
        graph_writer(driver, f"veil graph load --run {run}", database),
        driver.session(database=database) as session,
    ):
        create = session.execute_read(_without_veil_nodes)
        summary.mode = "create" if create else "merge"
        steps = list(load_steps(resolved, create))
        if create:
            summary.replaced_unfinished = begin_load(session, resolved.load_id, run, "create")
            log.info(
                "loading %s into an empty graph: %d rows in %d steps",
                run_dir,
                sum(len(step.frame) for step in steps),
                len(steps),
            )
            summary.counters, summary.rows = _write_all(
                session,
                _ahead(_batches(steps, batch_size)),
                sum(len(step.frame) for step in steps),
                progress,
                {},
            )
            session.execute_write(record_load, resolved, summary)
            finish_load(session, resolved.load_id)
        else:
            summary.replaced_unfinished = unfinished_load(driver, database)
            delta = plan_delta(session, steps, resolved.load_id)
            summary.unchanged, summary.stale_deleted = delta.unchanged, delta.stale
            summary.atomic = delta.rows <= atomic_rows
            log.info(
                "loading %s into Neo4j: a delta of %d rows (%d unchanged), %s",
                run_dir,
                delta.rows,
                delta.unchanged,
                "in one transaction" if summary.atomic else f"in batches of {batch_size}",
            )
            if summary.atomic:
                written = atomically(
                    session,
                    partial(
                        _write_atomically,
                        delta=delta,
                        resolved=resolved,
                        summary=summary,
                        batch_size=batch_size,
                        progress=progress,
                    ),
                    f"the load's delta ({delta.rows} rows)",
                )
                summary.atomic = written is not None
                if written is not None:
                    summary.counters, summary.rows = written
            else:
                log.warning(
                    "the load's delta (%d rows) exceeds load.atomic_rows (%d): writing it in "
                    "batches; until it finishes, readers may see a mix of the previous load "
                    "and this one (API answers carry X-Veil-Graph-Warning)",
                    delta.rows,
                    atomic_rows,
                )
            if not summary.atomic:
                summary.replaced_unfinished = begin_load(session, resolved.load_id, run)
                summary.counters, summary.rows = _write_batched(
                    session, delta, resolved.load_id, batch_size, progress
                )
                session.execute_write(record_load, resolved, summary)
                finish_load(session, resolved.load_id)
    summary.seconds = time.perf_counter() - started
    log.info("graph loaded in %.1f s: %s", summary.seconds, summary.counters)
    return summary


def _write_atomically(
    tx: neo4j.ManagedTransaction,
    delta: Delta,
    resolved: ResolvedRun,
    summary: LoadSummary,
    batch_size: int,
    progress: Progress,
) -> tuple[dict[str, int], int]:
    """The whole delta, the `Load` record and a new published version, in `tx`. A delta of
    0 rows into a finished graph (the same run again) publishes no new version."""
    if delta.rows or summary.replaced_unfinished:
        bump(tx)
    batches = chain(_ahead(_batches(delta.writes, batch_size)), _slices(delta.deletes, batch_size))
    counters, done = _write_all(tx, batches, delta.rows, progress, {})
    for rel_type in CONTROL_RELATIONSHIPS:
        query = f"MATCH ()-[r:{rel_type}]->() WHERE r.load <> $load DELETE r"
        add_counters(counters, counters_of(tx.run(query, load=resolved.load_id).consume().counters))
    record_load(tx, resolved, summary)
    finished(tx, resolved.load_id)
    return counters, done + delta.control_stale


def _write_batched(
    session: neo4j.Session, delta: Delta, load_id: str, batch_size: int, progress: Progress
) -> tuple[dict[str, int], int]:
    """The delta a transaction per batch: writes, then deletes, then stale control results."""
    batches = chain(_ahead(_batches(delta.writes, batch_size)), _slices(delta.deletes, batch_size))
    counters, done = _write_all(session, batches, delta.rows, progress, {})
    for rel_type in CONTROL_RELATIONSHIPS:
        query = (
            f"MATCH ()-[r:{rel_type}]->() WHERE r.load <> $load "
            "CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS"
        )
        add_counters(counters, counters_of(session.run(query, load=load_id).consume().counters))
    return counters, done + delta.control_stale


def _slices(
    steps: list[tuple[str, str, list[dict[str, Any]]]], batch_size: int
) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    for name, query, rows in steps:
        for start in range(0, len(rows), batch_size):
            yield name, query, rows[start : start + batch_size]


def _without_veil_nodes(tx: neo4j.ManagedTransaction) -> bool:
    """No node of a stamped label (counts come from Neo4j's count store, not a scan)."""
    return not any(
        tx.run(f"MATCH (n:{label}) RETURN count(n) AS n").single(strict=True)["n"]
        for label in STAMPED_NODES
    )


def write_batches(
    target: neo4j.Session | neo4j.ManagedTransaction,
    steps: list[tuple[str, str, list[dict[str, Any]]]],
    batch_size: int,
    progress: Progress = silent,
    **params: Any,
) -> tuple[dict[str, int], int]:
    """Run each (name, query, rows) step over its rows in batches (`params` go to every
    batch): one managed transaction per batch when `target` is a session, all in it when it
    is a transaction. Returns the summed counters and rows sent."""
    total = sum(len(rows) for _, _, rows in steps)
    return _write_all(target, _slices(steps, batch_size), total, progress, params)


def _write_all(
    target: neo4j.Session | neo4j.ManagedTransaction,
    batches: Iterable[tuple[str, str, list[dict[str, Any]]]],
    total: int,
    progress: Progress,
    params: dict[str, Any],
) -> tuple[dict[str, int], int]:
    """Write (name, query, rows) batches in order (see `write_batches`); returns the summed
    counters and rows."""
    counters: dict[str, int] = {}
    done = 0
    for name, query, batch in batches:
        if isinstance(target, neo4j.Session):
            add_counters(counters, target.execute_write(_write, query, batch, params))
        else:
            add_counters(counters, _write(target, query, batch, params))
        done += len(batch)
        progress(Update(stage=name, done=done, total=total, unit="rows"))
    return counters, done


def _write(
    tx: neo4j.ManagedTransaction,
    query: str,
    rows: list[dict[str, Any]],
    params: dict[str, Any],
) -> dict[str, int]:
    result = tx.run(query, rows=rows, **params)
    return counters_of(result.consume().counters)


def counters_of(c: neo4j.SummaryCounters) -> dict[str, int]:
    return {
        "nodes_created": c.nodes_created,
        "nodes_deleted": c.nodes_deleted,
        "relationships_created": c.relationships_created,
        "relationships_deleted": c.relationships_deleted,
        "properties_set": c.properties_set,
    }


def add_counters(total: dict[str, int], more: dict[str, int]) -> None:
    for key, value in more.items():
        total[key] = total.get(key, 0) + value


def record_load(tx: neo4j.ManagedTransaction, resolved: ResolvedRun, summary: LoadSummary) -> None:
    """The run's `Load` node (audit): created once per distinct run loaded."""
    tx.run(
        "MERGE (l:Load {id: $id}) ON CREATE SET l.run_dir = $run_dir, l.loaded_at = $at, "
        "l.persons = $persons, l.companies = $companies",
        id=resolved.load_id,
        run_dir=str(resolved.run_dir.resolve()),
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        persons=len(resolved.persons),
        companies=len(resolved.companies),
    ).consume()


@dataclass(frozen=True)
class Shape:
    """What a step writes, as data: nodes labelled `label` and keyed by property `key`, or
    (with `start` and `end`) relationships of type `label`, keyed by property `key`, from
    the `start` node whose `start_key` is the row's start to the `end` node likewise."""

    label: str
    key: str = "key"
    start: str | None = None
    end: str | None = None
    start_key: str = "entity_id"
    end_key: str = "entity_id"

    @property
    def is_node(self) -> bool:
        return self.start is None

    def query(self, create: bool) -> str:
        if self.start is None or self.end is None:
            return _node(self.label, self.key, create)
        return _rel(self.label, self.start, self.end, create, self.start_key, self.end_key)


@dataclass(frozen=True)
class Columns:
    """A step's rows as columns: `props` are the properties `SET += props` stores (None:
    absent; `digest` among them); a relationship also has its ends and its `key` (stored
    too: the relationship pattern sets it)."""

    props: pd.DataFrame
    start: pd.Series | None = None
    end: pd.Series | None = None
    key: pd.Series | None = None


@dataclass(frozen=True)
class Step:
    """One query over a frame's rows; `columns` turns a slice of the frame into Columns,
    `rows` into the query's $rows."""

    name: str
    shape: Shape
    create: bool
    frame: pd.DataFrame
    columns: Callable[[pd.DataFrame], Columns]

    @property
    def query(self) -> str:
        return self.shape.query(self.create)

    def restricted(self, positions: list[int]) -> Step:
        """The step over the rows at `positions` of its frame only."""
        return Step(self.name, self.shape, self.create, self.frame.iloc[positions], self.columns)

    def identities(self) -> tuple[list[Any], list[str]]:
        """The identity (a node's key; a relationship's start, end and key) and digest of
        each row, in order."""
        c = self.columns(self.frame)
        digests = plain_values(c.props["digest"])
        if c.start is None or c.end is None or c.key is None:
            return plain_values(c.props[self.shape.key]), digests
        ends = zip(plain_values(c.start), plain_values(c.end), plain_values(c.key), strict=True)
        return list(ends), digests

    def rows(self, frame: pd.DataFrame) -> list[dict[str, Any]]:
        c = self.columns(frame)
        props = _records(c.props)
        if c.start is None or c.end is None or c.key is None:
            key = self.shape.key
            return [{key: p[key], "props": p} for p in props]
        return [
            {"start": a, "end": b, "key": k, "props": p}
            for a, b, k, p in zip(
                plain_values(c.start), plain_values(c.end), plain_values(c.key), props, strict=True
            )
        ]


def _batches(steps: list[Step], batch_size: int) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """(name, query, rows) per batch, rows built a batch at a time."""
    for step in steps:
        for start in range(0, len(step.frame), batch_size):
            yield step.name, step.query, step.rows(step.frame.iloc[start : start + batch_size])


_END = object()


def _ahead(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """`items`, produced by a thread up to `depth` ahead: the next batch's rows are built
    while the driver waits for Neo4j to write the last (the wait releases the GIL)."""
    ready: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as error:  # re-raised in the consumer
            put((_END, error))

    thread = threading.Thread(target=produce, name="veil-load-rows", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def load_steps(r: ResolvedRun, create: bool) -> Iterator[Step]:
    """The steps in dependency order: nodes before relationships. Rows that MERGE would fold
    into one node or relationship (same key and endpoints) are folded first, the last row
    winning as under MERGE ... SET +=: CREATE needs it, and a delta compares one row per
    node or relationship with the graph."""
    load = r.load_id

    def step(
        name: str,
        shape: Shape,
        frame: pd.DataFrame,
        columns: Callable[[pd.DataFrame], Columns],
        unique: list[str],
    ) -> Step:
        return Step(name, shape, create, frame.drop_duplicates(unique, keep="last"), columns)

    def nodes(name: str, label: str, frame: pd.DataFrame, key: str = "entity_id") -> Step:
        columns = partial(_node_columns, load=load)
        return step(name, Shape(label, key), frame, columns, [key])

    def facts(name: str, shape: Shape, frame: pd.DataFrame, start: str, end: str) -> Step:
        columns = partial(_fact_columns, start=start, end=end, load=load)
        return step(name, shape, frame, columns, [start, end, "key"])

    def provenance(name: str, shape: Shape, frame: pd.DataFrame, end: str) -> Step:
        frame = frame[["key", "source", "record_id", end]]
        columns = partial(_provenance_columns, end=end, load=load)
        return step(name, shape, frame, columns, ["key", end])

    def from_record(rel_type: str, record: str, label: str) -> Shape:
        return Shape(rel_type, start=record, end=label, start_key="key")

    yield nodes("persons", "Person", r.persons)
    yield nodes("companies", "Company", r.companies)
    punishment_links = [
        "run",
        "party_slot",
        "responsible_slots",
        "party_id",
        "party_kind",
        "responsible_ids",
    ]
    yield nodes("punishments", "Punishment", r.punishments.drop(columns=punishment_links), "key")
    entries = r.list_entries.drop(columns=["run", "party_slot", "party_id", "party_kind"])
    yield nodes("list entries", "ListEntry", entries, "key")
    licences = r.licences.drop(columns=["run", "holder_slot", "holder_id"])
    yield nodes("licences", "Licence", licences, "key")

    tenures = r.tenures
    is_rep = tenures["role"] == LEGAL_REPRESENTATIVE
    yield facts(
        "legal representatives",
        Shape("LEGAL_REPRESENTATIVE_OF", start="Person", end="Company"),
        tenures[is_rep].drop(columns=["role"]),
        "person_id",
        "company_id",
    )
    yield facts(
        "officers",
        Shape("OFFICER_OF", start="Person", end="Company"),
        tenures[~is_rep],
        "person_id",
        "company_id",
    )
    for kind, label in KIND_LABEL.items():
        yield facts(
            f"{kind} shareholdings",
            Shape("HOLDS_SHARES_IN", start=label, end="Company"),
            r.holdings[r.holdings["holder_kind"] == kind].drop(columns=["holder_kind"]),
            "holder_id",
            "company_id",
        )
        yield provenance(
            f"punishments of {kind}s",
            from_record("IMPOSED_ON", "Punishment", label),
            r.punishments[r.punishments["party_kind"] == kind],
            "party_id",
        )
        yield provenance(
            f"list entries of {kind}s",
            from_record("LISTS", "ListEntry", label),
            r.list_entries[r.list_entries["party_kind"] == kind],
            "party_id",
        )
    responsible = (
        r.punishments[["key", "source", "record_id", "responsible_ids"]]
        .explode("responsible_ids")
        .dropna(subset=["responsible_ids"])
    )
    yield provenance(
        "responsible persons",
        from_record("NAMES_RESPONSIBLE", "Punishment", "Person"),
        responsible,
        "responsible_ids",
    )
    yield provenance(
        "licence holders",
        from_record("ISSUED_TO", "Licence", "Company"),
        r.licences,
        "holder_id",
    )
    for label, frame in (
        ("Punishment", r.punishments),
        ("ListEntry", r.list_entries),
        ("Licence", r.licences),
    ):
        yield step(
            f"persons named in {label}",
            from_record("NAMES", label, "Person"),
            r.named[r.named["record_key"].isin(frame["key"])],
            partial(_named_columns, load=load),
            ["record_key", "person_id", "slot"],
        )


def _digested(props: pd.DataFrame, load: str, *ends: pd.Series) -> pd.DataFrame:
    """`props` with their digest (of them and of `ends`, graph/delta.py) and the stamp."""
    names = [*map(str, props.columns), *(f"@{i}" for i in range(len(ends)))]
    values = [plain_values(props[c]) for c in props.columns] + [plain_values(e) for e in ends]
    return props.assign(digest=row_digests(names, values), load=load)


def _node_columns(frame: pd.DataFrame, load: str) -> Columns:
    return Columns(_digested(frame, load))


def _fact_columns(frame: pd.DataFrame, start: str, end: str, load: str) -> Columns:
    """Facts: the frame's columns but the endpoints are the properties."""
    props = _digested(frame.drop(columns=[start, end]), load, frame[start], frame[end])
    return Columns(props, frame[start], frame[end], frame["key"])


def _provenance_columns(frame: pd.DataFrame, end: str, load: str) -> Columns:
    key = frame["key"] + ":" + frame[end]
    props = _digested(frame[["source", "record_id"]], load, frame["key"], frame[end], key)
    return Columns(props, frame["key"], frame[end], key)


def _named_columns(frame: pd.DataFrame, load: str) -> Columns:
    key = frame["record_key"] + ":" + frame["slot"]
    props = _digested(
        frame[["slot", "source", "record_id"]], load, frame["record_key"], frame["person_id"], key
    )
    return Columns(props, frame["record_key"], frame["person_id"], key)


def _tuples(frame: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    return zip(*(plain_values(frame[c]) for c in frame.columns), strict=True)


def _records(frame: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """Rows as plain Python values the driver accepts: no NaN, numpy scalars or arrays.
    Converted a column at a time: per value, this cost 40 s of a 100k-company load."""
    columns = list(frame.columns)
    for values in _tuples(frame):
        yield dict(zip(columns, values, strict=True))


def plain_values(series: pd.Series) -> list[Any]:
    """A column as plain values; `_plain` runs per value only for lists, dates, numpy scalars."""
    if isinstance(series.dtype, pd.StringDtype):  # no Python loop over Arrow-backed strings
        # pandas-stubs leaves None out of na_value's type; pandas takes it (NA -> None)
        strings: list[Any] = series.to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[call-overload]
        return strings
    values = series.astype(object).where(series.notna(), None).tolist()
    if any(isinstance(v, _NOT_PLAIN) for v in values):
        return [_plain(v) for v in values]
    return values


_NOT_PLAIN = (np.ndarray, list, tuple, np.generic, pd.Timestamp)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray | list | tuple):
        if all(type(v) is str for v in value):  # the common case, without a call per element
            return list(value)
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value
