"""Write a resolved run into Neo4j: batched, parameterised UNWIND ... MERGE, idempotent.

Every node and relationship is MERGEd on its key and stamped with the run's load ID (a
digest of its entities and manifests). The graph mirrors the last run loaded: a wave's
run directory is cumulative, so after MERGEing it, whatever still carries another stamp
(an entity merged away, a fact corrected) is deleted. Loading the same run twice
therefore changes nothing, and a wave updates tenures in place (an ended role gets its
end date) instead of adding duplicates. Control results are stamped too and go stale
with the facts they were computed from; alert records (issue 5) carry no stamp and stay.

Each batch is one managed transaction (`session.execute_write`), which the driver
retries on transient errors (deadlocks, leader changes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import neo4j
import numpy as np
import pandas as pd

from graph.facts import LEGAL_REPRESENTATIVE, ResolvedRun, resolve_run
from graph.schema import init_schema

BATCH_SIZE = 5_000
Progress = Callable[[str, int, int], None]


def no_progress(_: str, __: int, ___: int) -> None:
    """The progress callback of callers that show none."""


@dataclass
class LoadSummary:
    """What a load did; `rows` counts the node and relationship rows sent."""

    run_dir: str
    load_id: str
    rows: int = 0
    seconds: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)
    stale_deleted: dict[str, int] = field(default_factory=dict)
    resolved: dict[str, int] = field(default_factory=dict)
    unresolved_slots: int = 0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_dir": self.run_dir,
            "load_id": self.load_id,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "counters": self.counters,
            "stale_deleted": self.stale_deleted,
            "resolved": self.resolved,
            "unresolved_slots": self.unresolved_slots,
        }


# One constant query text per step; rows arrive as $rows.
_NODE = "UNWIND $rows AS row MERGE (n:{label} {{{key}: row.{key}}}) SET n += row.props"
_REL = (
    "UNWIND $rows AS row "
    "MATCH (a:{start} {{{start_key}: row.start}}) "
    "MATCH (b:{end} {{{end_key}: row.end}}) "
    "MERGE (a)-[r:{type} {{key: row.key}}]->(b) SET r += row.props"
)


def _node(label: str, key: str = "entity_id") -> str:
    return _NODE.format(label=label, key=key)


def _rel(
    rel_type: str, start: str, end: str, start_key: str = "entity_id", end_key: str = "entity_id"
) -> str:
    return _REL.format(type=rel_type, start=start, end=end, start_key=start_key, end_key=end_key)


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
    "CONTROLS",
    "BENEFICIAL_OWNER_OF",
)
STAMPED_NODES = ("Punishment", "ListEntry", "Licence", "Person", "Company")


def load_run(
    driver: neo4j.Driver,
    run_dir: Path,
    database: str = "neo4j",
    batch_size: int = BATCH_SIZE,
    progress: Progress = no_progress,
) -> LoadSummary:
    """Resolve `run_dir` and write it; returns counts and speed."""
    started = time.perf_counter()
    resolved = resolve_run(Path(run_dir))
    init_schema(driver, database)
    summary = LoadSummary(
        run_dir=str(run_dir),
        load_id=resolved.load_id,
        resolved=resolved.counts(),
        unresolved_slots=resolved.unresolved,
    )
    with driver.session(database=database) as session:
        summary.counters, summary.rows = write_batches(
            session, list(_steps(resolved)), batch_size, progress
        )
        summary.stale_deleted = _delete_stale(session, resolved.load_id)
        session.execute_write(_record_load, resolved, summary)
    summary.seconds = time.perf_counter() - started
    return summary


def write_batches(
    session: neo4j.Session,
    steps: list[tuple[str, str, list[dict]]],
    batch_size: int,
    progress: Progress = no_progress,
    **params: Any,
) -> tuple[dict[str, int], int]:
    """Run each (name, query, rows) step over its rows in batches, one managed transaction
    per batch (`params` go to every batch); returns the summed counters and rows sent."""
    counters: dict[str, int] = {}
    total = sum(len(rows) for _, _, rows in steps)
    done = 0
    for name, query, rows in steps:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            add_counters(counters, session.execute_write(_write, query, batch, params))
            done += len(batch)
            progress(name, done, total)
    return counters, done


def _write(
    tx: neo4j.ManagedTransaction, query: str, rows: list[dict], params: dict[str, Any]
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


def _delete_stale(session: neo4j.Session, load_id: str) -> dict[str, int]:
    """Remove what the current run no longer states (see the module docstring)."""
    deleted: dict[str, int] = {}
    for rel_type in STAMPED_RELATIONSHIPS:
        query = (
            f"MATCH ()-[r:{rel_type}]->() WHERE r.load <> $load "
            "CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS"
        )
        deleted[rel_type] = (
            session.run(query, load=load_id).consume().counters.relationships_deleted
        )
    for label in STAMPED_NODES:
        query = (
            f"MATCH (n:{label}) WHERE n.load <> $load "
            "CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        )
        deleted[label] = session.run(query, load=load_id).consume().counters.nodes_deleted
    return {k: v for k, v in deleted.items() if v}


def _record_load(tx: neo4j.ManagedTransaction, resolved: ResolvedRun, summary: LoadSummary) -> None:
    tx.run(
        "MERGE (l:Load {id: $id}) ON CREATE SET l.run_dir = $run_dir, l.loaded_at = $at, "
        "l.persons = $persons, l.companies = $companies",
        id=resolved.load_id,
        run_dir=str(resolved.run_dir.resolve()),
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        persons=len(resolved.persons),
        companies=len(resolved.companies),
    ).consume()


def _steps(r: ResolvedRun) -> Iterator[tuple[str, str, list[dict]]]:
    """(step name, query, rows) in dependency order: nodes before relationships."""
    load = r.load_id
    yield "persons", _node("Person"), _node_rows(r.persons, "entity_id", load)
    yield "companies", _node("Company"), _node_rows(r.companies, "entity_id", load)
    punishments = r.punishments.drop(
        columns=[
            "run",
            "party_slot",
            "responsible_slots",
            "party_id",
            "party_kind",
            "responsible_ids",
        ]
    )
    yield "punishments", _node("Punishment", "key"), _node_rows(punishments, "key", load)
    entries = r.list_entries.drop(columns=["run", "party_slot", "party_id", "party_kind"])
    yield "list entries", _node("ListEntry", "key"), _node_rows(entries, "key", load)
    licences = r.licences.drop(columns=["run", "holder_slot", "holder_id"])
    yield "licences", _node("Licence", "key"), _node_rows(licences, "key", load)

    tenures = r.tenures
    is_rep = tenures["role"] == LEGAL_REPRESENTATIVE
    yield (
        "legal representatives",
        _rel("LEGAL_REPRESENTATIVE_OF", "Person", "Company"),
        _rel_rows(tenures[is_rep].drop(columns=["role"]), "person_id", "company_id", load),
    )
    yield (
        "officers",
        _rel("OFFICER_OF", "Person", "Company"),
        _rel_rows(tenures[~is_rep], "person_id", "company_id", load),
    )
    for kind, label in KIND_LABEL.items():
        holdings = r.holdings[r.holdings["holder_kind"] == kind].drop(columns=["holder_kind"])
        yield (
            f"{kind} shareholdings",
            _rel("HOLDS_SHARES_IN", label, "Company"),
            _rel_rows(holdings, "holder_id", "company_id", load),
        )
        punished = r.punishments[r.punishments["party_kind"] == kind]
        yield (
            f"punishments of {kind}s",
            _rel("IMPOSED_ON", "Punishment", label, "key"),
            _provenance_rows(punished, "party_id", load),
        )
        listed = r.list_entries[r.list_entries["party_kind"] == kind]
        yield (
            f"list entries of {kind}s",
            _rel("LISTS", "ListEntry", label, "key"),
            _provenance_rows(listed, "party_id", load),
        )
    responsible = (
        r.punishments[["key", "source", "record_id", "responsible_ids"]]
        .explode("responsible_ids")
        .dropna(subset=["responsible_ids"])
    )
    yield (
        "responsible persons",
        _rel("NAMES_RESPONSIBLE", "Punishment", "Person", "key"),
        _provenance_rows(responsible, "responsible_ids", load),
    )
    yield (
        "licence holders",
        _rel("ISSUED_TO", "Licence", "Company", "key"),
        _provenance_rows(r.licences, "holder_id", load),
    )
    named = r.named
    for label, frame in (
        ("Punishment", r.punishments),
        ("ListEntry", r.list_entries),
        ("Licence", r.licences),
    ):
        rows = named[named["record_key"].isin(frame["key"])]
        yield (
            f"persons named in {label}",
            _rel("NAMES", label, "Person", "key"),
            [
                {
                    "start": row["record_key"],
                    "end": row["person_id"],
                    "key": f"{row['record_key']}:{row['slot']}",
                    "props": {
                        "slot": row["slot"],
                        "source": row["source"],
                        "record_id": row["record_id"],
                        "load": load,
                    },
                }
                for row in _records(rows)
            ],
        )


def _node_rows(frame: pd.DataFrame, key: str, load: str) -> list[dict]:
    rows = []
    for record in _records(frame):
        rows.append({key: record[key], "props": {**record, "load": load}})
    return rows


def _rel_rows(frame: pd.DataFrame, start: str, end: str, load: str) -> list[dict]:
    rows = []
    for record in _records(frame):
        props = {k: v for k, v in record.items() if k not in (start, end)}
        rows.append(
            {
                "start": record[start],
                "end": record[end],
                "key": record["key"],
                "props": {**props, "load": load},
            }
        )
    return rows


def _provenance_rows(frame: pd.DataFrame, end: str, load: str) -> list[dict]:
    return [
        {
            "start": row["key"],
            "end": row[end],
            "key": f"{row['key']}:{row[end]}",
            "props": {"source": row["source"], "record_id": row["record_id"], "load": load},
        }
        for row in _records(frame[["key", "source", "record_id", end]])
    ]


def _records(frame: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """Rows as plain Python values the driver accepts: no NaN, numpy scalars or arrays.
    Converted a column at a time: per value, this cost 40 s of a 100k-company load."""
    columns = list(frame.columns)
    for values in zip(*(_column(frame[c]) for c in columns), strict=True):
        yield dict(zip(columns, values, strict=True))


def _column(series: pd.Series) -> list[Any]:
    """A column as plain values; `_plain` runs per value only for lists, dates, numpy scalars."""
    values = series.astype(object).where(series.notna(), None).tolist()
    if any(isinstance(v, _NOT_PLAIN) for v in values):
        return [_plain(v) for v in values]
    return values


_NOT_PLAIN = (np.ndarray, list, tuple, np.generic, pd.Timestamp)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray | list | tuple):
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
