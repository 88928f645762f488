"""Control analysis over the graph: read holdings as of a date, compute, write back.

The arithmetic is in graph/control/ (pure); here is only what touches Neo4j. The batch
job (`veil graph control`) reads every holding in force on the as-of date, solves
look-through ownership for all companies at once, and writes
(Person)-[:BENEFICIAL_OWNER_OF]->(Company) and (Person)-[:CONTROLS]->(Company) with the
share, the basis and the holding paths behind each figure; a company without an
identifiable controller is flagged on its node. `control_one` does the same for one
company on demand, from the holdings upstream of it only. The results and the removal of
older ones are one transaction (a new published version, graph/published.py) when they
are at most `atomic_rows` rows, so readers see the old results or the new, never a mix.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast

import neo4j
import pandas as pd

from config.graph import Control
from config.progress import Progress, silent
from graph.control.controllers import ControlResult, control_analysis
from graph.control.paths import HoldingPath, PathFinder
from graph.guard import (
    atomically,
    batched_write,
    current_load,
    end_batched,
    graph_writer,
    require_finished_load,
)
from graph.in_force import IN_FORCE
from graph.load import ATOMIC_ROWS, add_counters, counters_of, write_batches
from graph.published import bump

log = logging.getLogger(__name__)
#: What marks the graph while a control run writes in batches (graph.guard.batched_write).
CONTROL_COMMAND = "veil graph control"

_ALL_HOLDINGS = (
    "MATCH (h)-[r:HOLDS_SHARES_IN]->(c:Company) WHERE " + IN_FORCE + " "
    "RETURN h.entity_id AS holder, CASE WHEN h:Person THEN 'person' ELSE 'company' END "
    "AS holder_kind, c.entity_id AS company, r.ratio AS ratio"
)
_UPSTREAM_HOLDINGS = (
    "UNWIND $companies AS id MATCH (c:Company {entity_id: id}) "
    "MATCH (h)-[r:HOLDS_SHARES_IN]->(c) WHERE " + IN_FORCE + " "
    "RETURN h.entity_id AS holder, CASE WHEN h:Person THEN 'person' ELSE 'company' END "
    "AS holder_kind, c.entity_id AS company, r.ratio AS ratio"
)


@dataclass
class ControlSummary:
    """What a control run found and wrote. `run_id` stamps its results: whatever carries
    another stamp (in the run's scope: all companies, or one) is an older result."""

    as_of: date
    computed_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    companies: int = 0
    holdings: int = 0
    beneficial_owners: int = 0
    bases: dict[str, int] = field(default_factory=dict)
    iterations: int = 0
    residual: float = 0.0
    divergent: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "computed_at": self.computed_at,
            "run_id": self.run_id,
            "companies": self.companies,
            "holdings_in_force": self.holdings,
            "beneficial_owners": self.beneficial_owners,
            "controller_basis": self.bases,
            "iterations": self.iterations,
            "residual": self.residual,
            "divergent_companies": self.divergent,
            "counters": self.counters,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def consolidate(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (holder, company): holdings in force add up (two subscriptions by one
    entity, or two records the linkage joined into one holder)."""
    columns = ["holder", "holder_kind", "company", "ratio"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = rows.dropna(subset=["ratio"])
    groups = rows.groupby(["holder", "holder_kind", "company"], as_index=False)
    # pandas-stubs types a column group's sum as a Series; as_index=False makes it a frame
    summed: pd.DataFrame = groups["ratio"].sum()  # type: ignore[assignment]
    return summed[columns]


def holdings_in_force(driver: neo4j.Driver, as_of: date, database: str = "neo4j") -> pd.DataFrame:
    """Every holding in force on `as_of`, consolidated."""
    records, _, _ = driver.execute_query(
        _ALL_HOLDINGS, as_of=as_of, database_=database, routing_=neo4j.RoutingControl.READ
    )
    return consolidate(
        pd.DataFrame(
            [r.data() for r in records], columns=["holder", "holder_kind", "company", "ratio"]
        )
    )


def walk_upstream(
    read_level: Callable[[list[str]], list[dict[str, Any]]], companies: list[str]
) -> list[dict[str, Any]]:
    """Holding rows that can reach `companies`, read level by level upwards; each company is
    asked once, so cycles end the walk. `read_level(ids)` returns the rows (with `holder`
    and `holder_kind`) of the holdings in those companies."""
    seen = set(companies)
    level = read_level(sorted(seen))
    rows = list(level)
    while parents := sorted({r["holder"] for r in level if r["holder_kind"] == "company"} - seen):
        seen.update(parents)
        level = read_level(parents)
        rows += level
    return rows


def upstream_holdings(
    driver: neo4j.Driver, company_id: str, as_of: date, database: str = "neo4j"
) -> pd.DataFrame:
    """The holdings in force on `as_of` that can reach `company_id`, consolidated."""

    def read_level(ids: list[str]) -> list[dict[str, Any]]:
        records, _, _ = driver.execute_query(
            _UPSTREAM_HOLDINGS,
            companies=ids,
            as_of=as_of,
            database_=database,
            routing_=neo4j.RoutingControl.READ,
        )
        return [r.data() for r in records]

    rows = walk_upstream(read_level, [company_id])
    return consolidate(pd.DataFrame(rows, columns=["holder", "holder_kind", "company", "ratio"]))


def path_texts(paths: list[HoldingPath]) -> list[str]:
    """Paths as strings for a relationship property: `P1 -0.6-> C2 -0.5-> C3 = 0.3`."""
    out = []
    for path in paths:
        text = path.nodes[0]
        for node, ratio in zip(path.nodes[1:], path.ratios, strict=True):
            text += f" -{ratio:.6g}-> {node}"
        out.append(f"{text} = {path.share:.6g}")
    return out


def run_control(
    driver: neo4j.Driver,
    settings: Control,
    as_of: date | None = None,
    database: str = "neo4j",
    progress: Progress = silent,
    atomic_rows: int = ATOMIC_ROWS,
) -> ControlSummary:
    """Control analysis of every company; writes the results and removes older ones, in
    one transaction up to `atomic_rows` rows (`write_control`).

    Refused on a graph whose last load did not finish; holds the graph's writer lock."""
    require_finished_load(driver, "control analysis", database)
    with graph_writer(driver, "veil graph control", database):
        return _run_control(driver, settings, as_of, database, progress, atomic_rows)


def _run_control(
    driver: neo4j.Driver,
    settings: Control,
    as_of: date | None,
    database: str,
    progress: Progress,
    atomic_rows: int,
) -> ControlSummary:
    as_of = as_of or date.today()
    summary = ControlSummary(as_of=as_of)
    started = time.perf_counter()
    records, _, _ = driver.execute_query(
        "MATCH (c:Company) RETURN c.entity_id AS id",
        database_=database,
        routing_=neo4j.RoutingControl.READ,
    )
    companies = [r["id"] for r in records]
    load_id = _current_load(driver, database)
    holdings = holdings_in_force(driver, as_of, database)
    summary.companies, summary.holdings = len(companies), len(holdings)
    summary.seconds["read"] = time.perf_counter() - started

    started = time.perf_counter()
    result = control_analysis(
        companies,
        holdings,
        threshold=settings.beneficial_owner_threshold,
        majority=settings.majority,
    )
    summary.iterations = result.look_through.iterations
    summary.residual = result.look_through.residual
    summary.divergent = result.look_through.divergent
    _count(summary, result)
    summary.seconds["solve"] = time.perf_counter() - started

    started = time.perf_counter()
    rows = control_rows(holdings, result, settings, summary, load_id)
    summary.seconds["paths"] = time.perf_counter() - started
    started = time.perf_counter()
    summary.counters = write_control(
        driver, rows, summary, database, progress, atomic_rows=atomic_rows
    )
    summary.seconds["write"] = time.perf_counter() - started
    log.info(
        "control as of %s: %d companies, %d holdings; seconds %s",
        as_of,
        summary.companies,
        summary.holdings,
        {k: round(v, 1) for k, v in summary.seconds.items()},
    )
    return summary


def _count(summary: ControlSummary, result: ControlResult) -> None:
    summary.beneficial_owners = len(result.beneficial_owners)
    # the basis column holds strings; pandas-stubs types to_dict's keys as Hashable
    summary.bases = cast(dict[str, int], result.controllers["basis"].value_counts().to_dict())


def control_rows(
    holdings: pd.DataFrame,
    result: ControlResult,
    settings: Control,
    summary: ControlSummary,
    load_id: str | None,
) -> dict[str, list[dict[str, Any]]]:
    """Relationship and flag rows for `write_control`, with the holding paths."""
    finder = PathFinder(holdings)
    share = result.look_through.ownership.set_index(["company", "person"])["look_through_share"]
    stamp = {
        "as_of": summary.as_of,
        "computed_at": summary.computed_at,
        "control_run": summary.run_id,
        "load": load_id,
    }
    owners = []
    for company, person, value in result.beneficial_owners[
        ["company", "person", "look_through_share"]
    ].itertuples(index=False, name=None):
        paths, cycles = finder.paths(person, company, max_paths=settings.max_paths)
        owners.append(
            {
                "person": person,
                "company": company,
                "props": {
                    "share": float(value),
                    "paths": path_texts(paths),
                    "cycles_contribute": cycles,
                    **stamp,
                },
            }
        )
    controllers = []
    flags = []
    row: Any  # pandas-stubs types itertuples' fields as any scalar; these are controllers' columns
    for row in result.controllers.itertuples(index=False):
        flags.append({"company": row.company, "basis": row.basis})
        if row.person is None or pd.isna(row.person):
            continue
        value = float(share.get((row.company, row.person), 0.0))
        paths, cycles = finder.paths(row.person, row.company, max_paths=settings.max_paths)
        controllers.append(
            {
                "person": row.person,
                "company": row.company,
                "props": {
                    "share": value,
                    "basis": row.basis,
                    "chain": list(row.chain),
                    "paths": path_texts(paths),
                    "cycles_contribute": cycles,
                    **stamp,
                },
            }
        )
    return {"owners": owners, "controllers": controllers, "flags": flags}


_WRITE_OWNERS = (
    "UNWIND $rows AS row MATCH (p:Person {entity_id: row.person}) "
    "MATCH (c:Company {entity_id: row.company}) "
    "MERGE (p)-[r:BENEFICIAL_OWNER_OF]->(c) SET r = row.props"
)
_WRITE_CONTROLLERS = (
    "UNWIND $rows AS row MATCH (p:Person {entity_id: row.person}) "
    "MATCH (c:Company {entity_id: row.company}) "
    "MERGE (p)-[r:CONTROLS]->(c) SET r = row.props"
)
_WRITE_FLAGS = (
    "UNWIND $rows AS row MATCH (c:Company {entity_id: row.company}) "
    "SET c.controller_basis = row.basis, c.no_identifiable_controller = (row.basis = 'none'), "
    "c.control_as_of = $as_of, c.control_computed_at = $computed_at"
)


def write_control(
    driver: neo4j.Driver,
    rows: dict[str, list[dict[str, Any]]],
    summary: ControlSummary,
    database: str = "neo4j",
    progress: Progress = silent,
    batch_size: int = 5000,
    company: str | None = None,
    atomic_rows: int = ATOMIC_ROWS,
) -> dict[str, int]:
    """MERGE the results, then delete older results (of one company, or of all): in one
    transaction with a new published version when that is at most `atomic_rows` rows,
    else in batches, the graph marked as written in batches meanwhile."""
    steps = [
        ("beneficial owners", _WRITE_OWNERS, rows["owners"]),
        ("controllers", _WRITE_CONTROLLERS, rows["controllers"]),
        ("controller flags", _WRITE_FLAGS, rows["flags"]),
    ]
    params = {"as_of": summary.as_of, "computed_at": summary.computed_at}
    scope = "WHERE c.entity_id = $company AND" if company else "WHERE"
    older = [
        f"MATCH ()-[r:{rel_type}]->(c:Company) {scope} r.control_run <> $run"
        for rel_type in ("BENEFICIAL_OWNER_OF", "CONTROLS")
    ]
    with driver.session(database=database) as session:
        stale = session.execute_read(
            lambda tx: sum(
                tx.run(f"{q} RETURN count(r) AS n", run=summary.run_id, company=company).single(
                    strict=True
                )["n"]
                for q in older
            )
        )
        size = sum(len(r) for _, _, r in steps) + stale
        if size <= atomic_rows:

            def all_at_once(tx: neo4j.ManagedTransaction) -> dict[str, int]:
                bump(tx)
                end_batched(tx, CONTROL_COMMAND)
                counters, _ = write_batches(tx, steps, batch_size, progress, **params)
                for query in older:
                    deleted = tx.run(f"{query} DELETE r", run=summary.run_id, company=company)
                    add_counters(counters, counters_of(deleted.consume().counters))
                return counters

            written = atomically(session, all_at_once, f"the control results ({size} rows)")
            if written is not None:
                return written
        else:
            log.warning(
                "the control results (%d rows) exceed load.atomic_rows (%d): writing them in "
                "batches; until they are written, readers may see old and new results mixed",
                size,
                atomic_rows,
            )
        with batched_write(session, CONTROL_COMMAND):
            counters, _ = write_batches(session, steps, batch_size, progress, **params)
            for query in older:
                deleted = session.run(
                    f"{query} CALL (r) {{ DELETE r }} IN TRANSACTIONS OF 10000 ROWS",
                    run=summary.run_id,
                    company=company,
                ).consume()
                add_counters(counters, counters_of(deleted.counters))
    return counters


def _current_load(driver: neo4j.Driver, database: str) -> str | None:
    """The load the results are computed on (they go stale when another is loaded)."""
    with driver.session(database=database, default_access_mode=neo4j.READ_ACCESS) as session:
        return session.execute_read(current_load)


def control_one(
    driver: neo4j.Driver,
    company_id: str,
    settings: Control,
    as_of: date | None = None,
    database: str = "neo4j",
    atomic_rows: int = ATOMIC_ROWS,
) -> ControlSummary:
    """`veil graph control --company`: compute and write the results of one company."""
    require_finished_load(driver, "control analysis", database)
    with graph_writer(driver, f"veil graph control --company {company_id}", database):
        return _control_one(driver, company_id, settings, as_of, database, atomic_rows)


def _control_one(
    driver: neo4j.Driver,
    company_id: str,
    settings: Control,
    as_of: date | None,
    database: str,
    atomic_rows: int,
) -> ControlSummary:
    as_of = as_of or date.today()
    summary = ControlSummary(as_of=as_of)
    holdings = upstream_holdings(driver, company_id, as_of, database)
    result = control_analysis(
        [company_id],
        holdings,
        threshold=settings.beneficial_owner_threshold,
        majority=settings.majority,
    )
    load_id = _current_load(driver, database)
    result = _only(result, company_id)
    rows = control_rows(holdings, result, settings, summary, load_id)
    summary.companies, summary.holdings = 1, len(holdings)
    _count(summary, result)
    summary.counters = write_control(
        driver, rows, summary, database, company=company_id, atomic_rows=atomic_rows
    )
    return summary


def _only(result: ControlResult, company_id: str) -> ControlResult:
    owners = result.beneficial_owners
    controllers = result.controllers
    return ControlResult(
        look_through=result.look_through,
        beneficial_owners=owners[owners["company"] == company_id].reset_index(drop=True),
        controllers=controllers[controllers["company"] == company_id].reset_index(drop=True),
    )
