"""Alerts as records in Neo4j: one sweep writes them, reviewers move them through statuses,
inspectors list and export them.

An `Alert` node is keyed by a deterministic ID (rule + person + target company +
triggering record + role), so re-running a sweep never duplicates: it refreshes the
evidence and marks the alert seen. Statuses are `new`, `acknowledged`, `confirmed`,
`dismissed`; each review records reviewer, time and reason and is appended to the
alert's history. A dismissed alert stays dismissed while its evidence digest is the one
the reviewer saw; if the evidence changes (a new role record, another path, a changed
link), it is reopened as `new` and says why. A full sweep that no longer raises an alert
marks it inactive (`active: false`), never deletes it. `updated_at` is when the alert last
changed (raised, its evidence changed, reopened, withdrawn, raised again, reviewed), not
when a sweep last saw it, so "changed since" lists what is worth another look. Alert nodes
carry no `load` stamp: a graph reload does not remove them. Each sweep leaves an
`AlertSweep` node (audit). A sweep's writes (alerts raised, withdrawn, the sweep node) are
one transaction with a new published version of the graph (graph/published.py) when they
are at most `atomic_rows` rows, so the inbox shows the sweep before or after, never half
of it; reads go through `read_whole`. Reads answer the typed models of alerts/answers.py.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import neo4j

from alerts.answers import STATUSES, Alert, AlertPage, AlertSummary
from alerts.engine import evaluate
from alerts.evidence import Identity, alert_id, build, digest, display_names
from alerts.model import Hit
from alerts.reads import GraphReader
from config.errors import InputError, NotFound
from config.graph import Control
from config.rules import RulesConfig
from graph.guard import (
    atomically,
    batched_write,
    end_batched,
    graph_writer,
    require_finished_load,
)
from graph.load import ATOMIC_ROWS
from graph.published import bump, read_whole
from loaders.identifiers import masked_resident_ids
from loaders.industry import normalise_industry

log = logging.getLogger(__name__)
#: What marks the graph while a sweep writes in batches (graph.guard.batched_write).
SWEEP_COMMAND = "veil alerts run"

SCHEMA = (
    "CREATE CONSTRAINT alert_id IF NOT EXISTS FOR (a:Alert) REQUIRE a.id IS UNIQUE",
    "CREATE CONSTRAINT alert_sweep_id IF NOT EXISTS FOR (s:AlertSweep) REQUIRE s.id IS UNIQUE",
    "CREATE INDEX alert_status IF NOT EXISTS FOR (a:Alert) ON (a.status)",
    "CREATE INDEX alert_rule IF NOT EXISTS FOR (a:Alert) ON (a.rule)",
)

_EXISTING = (
    "MATCH (a:Alert) RETURN a.id AS id, a.status AS status, a.evidence_digest AS digest, "
    "a.reviewed_digest AS reviewed_digest, a.active AS active"
)
_WRITE = (
    "UNWIND $rows AS row "
    "MERGE (a:Alert {id: row.id}) "
    "ON CREATE SET a.first_sweep = $sweep, a.raised_at = $at, a.history = [] "
    "WITH a, row, (a.evidence_digest IS NULL OR a.evidence_digest <> row.props.evidence_digest "
    "OR size(row.history) > 0 OR NOT coalesce(a.active, false)) AS changed "
    "SET a += row.props, a.last_sweep = $sweep, a.active = true, "
    "a.updated_at = CASE WHEN changed THEN $at ELSE a.updated_at END, "
    "a.history = a.history + row.history "
    "WITH a, row "
    "OPTIONAL MATCH (p:Person {entity_id: row.props.person_id}) "
    "OPTIONAL MATCH (c:Company {entity_id: row.props.company_id}) "
    "FOREACH (_ IN CASE WHEN p IS NULL THEN [] ELSE [1] END | MERGE (a)-[:ABOUT]->(p)) "
    "FOREACH (_ IN CASE WHEN c IS NULL THEN [] ELSE [1] END | MERGE (a)-[:AT]->(c))"
)
_WITHDRAW = (
    "MATCH (a:Alert) WHERE a.active AND a.last_sweep <> $sweep "
    "SET a.active = false, a.withdrawn_sweep = $sweep, a.updated_at = $at, "
    "a.history = a.history + [$entry] RETURN count(a) AS n"
)
_SWEEP = "CREATE (s:AlertSweep) SET s = $props"
# One statement, so two reviewers of one alert are serialised on its write lock: setting the
# status takes the lock, the time is read after it, and the history is read and extended
# under it. Each review's entry lands after every review committed before it, stamped
# later, and the answer returned is the alert as this review left it. The entry is the
# caller's JSON (status, reviewer, reason) with the time put in front.
_REVIEW = (
    "MATCH (a:Alert {id: $id}) "
    "SET a.status = $status "
    "WITH a, toString(datetime.truncate('microsecond', datetime.realtime())) AS at "
    "SET a.reviewer = $reviewer, a.reason = $reason, a.reviewed_at = at, a.updated_at = at, "
    "a.reviewed_digest = a.evidence_digest, "
    "a.history = a.history + ['{\"at\": \"' + at + '\", ' + substring($entry, 1)] "
    "RETURN a {.*} AS alert"
)
# The filters of a list; a scoped reader's regions and industries are prefixes, as
# service.keys.Principal.in_scope reads them (an unknown region or industry is out).
_MATCHING = (
    "MATCH (a:Alert) "
    "WHERE ($status IS NULL OR a.status = $status) AND ($rule IS NULL OR a.rule = $rule) "
    "AND ($region IS NULL OR a.region_code STARTS WITH $region) "
    "AND ($industry IS NULL OR a.industry_code STARTS WITH $industry) "
    "AND ($since IS NULL OR a.raised_at >= $since OR a.updated_at >= $since) "
    "AND ($regions IS NULL OR any(r IN $regions WHERE a.region_code STARTS WITH r)) "
    "AND ($industries IS NULL "
    "OR any(i IN $industries WHERE toUpper(a.industry_code) STARTS WITH i)) "
    "AND ($all OR a.active) "
    "AND ($sweep IS NULL OR a.first_sweep = $sweep OR a.reopened_sweep = $sweep) "
)
_ORDER = "a.severity, a.rule, a.company_name, a.id"
_LIST = _MATCHING + f"RETURN a {{.*}} AS alert ORDER BY {_ORDER}"
# The total and the page come from one list, so an answer never counts other alerts than
# it shows, whatever a sweep writes meanwhile.
_SUMMARY = ", ".join(f".{name}" for name in AlertSummary.model_fields)
_PAGE = (
    _MATCHING + f"WITH a ORDER BY {_ORDER} WITH collect(a) AS matched "
    "RETURN size(matched) AS total, "
    f"[x IN matched[$skip..$skip + $limit] | x {{{_SUMMARY}}}] AS alerts"
)
_LATEST_SWEEP = "MATCH (s:AlertSweep) WHERE s.full RETURN s.id AS id ORDER BY s.ran_at DESC LIMIT 1"
_ONE = "MATCH (a:Alert {id: $id}) RETURN a {.*} AS alert"

#: Columns of the CSV export (the evidence goes in full into JSONL).
CSV_COLUMNS = (
    "id",
    "rule",
    "severity",
    "status",
    "active",
    "person_id",
    "person_name",
    "role",
    "company_id",
    "company_name",
    "company_uscc",
    "region_code",
    "industry_code",
    "role_start",
    "role_end",
    "began_before_trigger",
    "trigger_kind",
    "trigger_reference",
    "trigger_date",
    "window_start",
    "window_end",
    "match_probability",
    "first_sweep",
    "last_sweep",
    "reviewer",
    "reviewed_at",
    "reason",
)


@dataclass
class SweepSummary:
    """What one `veil alerts run` did."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    as_of: date | None = None
    since: date | None = None
    ran_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    triggers: dict[str, int] = field(default_factory=dict)
    reached: dict[str, int] = field(default_factory=dict)
    raised: dict[str, int] = field(default_factory=dict)
    new: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    withdrawn: int = 0
    undated_triggers: int = 0
    #: Hits not raised: the resident IDs on the old and new records cannot be one person's
    #: (a linkage error to review, never an alert): (rule, person, company, trigger key).
    identity_conflicts: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: Alerts raised with a doubt in their evidence (`evidence.doubts`), per rule.
    doubtful: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def full(self) -> bool:
        return self.since is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "sweep": self.id,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "since": self.since.isoformat() if self.since else None,
            "ran_at": self.ran_at,
            "triggers": self.triggers,
            "persons_reached": self.reached,
            "raised": self.raised,
            "new": self.new,
            "reopened": self.reopened,
            "withdrawn": self.withdrawn,
            "undated_triggers": self.undated_triggers,
            "identity_conflicts": [list(c) for c in self.identity_conflicts],
            "doubtful": self.doubtful,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def ensure_schema(driver: neo4j.Driver, database: str = "neo4j") -> None:
    for statement in SCHEMA:
        driver.execute_query(statement, database_=database)


def sweep(
    driver: neo4j.Driver,
    rules: RulesConfig,
    settings: Control,
    as_of: date | None = None,
    since: date | None = None,
    database: str = "neo4j",
    atomic_rows: int = ATOMIC_ROWS,
) -> SweepSummary:
    """Evaluate every rule, write the alerts, and say which are new (see module docstring).

    Refused on a graph whose last load did not finish (a sweep over half a graph would
    withdraw every alert it cannot see); holds the graph's writer lock."""
    require_finished_load(driver, "the alert sweep", database)
    with graph_writer(driver, "veil alerts run", database):
        return _sweep(driver, rules, settings, as_of, since, database, atomic_rows)


def _sweep(
    driver: neo4j.Driver,
    rules: RulesConfig,
    settings: Control,
    as_of: date | None,
    since: date | None,
    database: str,
    atomic_rows: int,
) -> SweepSummary:
    day = as_of or date.today()
    summary = SweepSummary(as_of=day, since=since)
    started = time.perf_counter()
    ensure_schema(driver, database)
    reader = GraphReader(driver, database)
    evaluation = evaluate(reader, rules, settings, day, since)
    summary.triggers, summary.reached = evaluation.triggers, evaluation.reached
    summary.undated_triggers = evaluation.undated
    summary.seconds["evaluate"] = time.perf_counter() - started

    mark = time.perf_counter()
    rows = _rows(reader, evaluation.hits, summary.identity_conflicts)
    summary.seconds["evidence"] = time.perf_counter() - mark

    mark = time.perf_counter()
    existing = {r["id"]: r.data() for r in driver.execute_query(_EXISTING, database_=database)[0]}
    at = summary.ran_at
    for row in rows:
        before = existing.get(row["id"])
        row["history"] = []
        props = row["props"]
        summary.raised[props["rule"]] = summary.raised.get(props["rule"], 0) + 1
        if props["doubtful"]:
            summary.doubtful[props["rule"]] = summary.doubtful.get(props["rule"], 0) + 1
        if before is None:
            props["status"] = "new"
            summary.new.append(row["id"])
            continue
        changed = (
            before["reviewed_digest"] is not None
            and before["reviewed_digest"] != props["evidence_digest"]
        )
        if before["status"] == "dismissed" and changed:
            props.update(status="new", reopened_sweep=summary.id)
            row["history"] = [_entry("new", "veil", at, "reopened: the evidence changed")]
            summary.reopened.append(row["id"])
        elif not before["active"]:
            row["history"] = [_entry(before["status"], "veil", at, "raised again")]
    # Up to every active alert may be withdrawn; the sweep node is one more row.
    size = len(rows) + sum(1 for r in existing.values() if r["active"]) + 1
    with driver.session(database=database) as session:

        def whole_sweep(tx: neo4j.ManagedTransaction) -> bool:
            _write_sweep(tx, rows, summary, True)
            return True

        if size > atomic_rows:
            log.warning(
                "the sweep's writes (up to %d rows) exceed load.atomic_rows (%d): writing "
                "them in batches; until they are written, the inbox may mix two sweeps",
                size,
                atomic_rows,
            )
        if size > atomic_rows or not atomically(session, whole_sweep, f"the sweep ({size} rows)"):
            with batched_write(session, SWEEP_COMMAND):
                for start in range(0, len(rows), 2000):
                    session.execute_write(_write_sweep, rows[start : start + 2000], summary, False)
                session.execute_write(_write_sweep, [], summary, True)
    summary.seconds["write"] = time.perf_counter() - mark
    log.info(
        "sweep %s as of %s: triggers %s, raised %s, %d new, %d reopened, %d withdrawn",
        summary.id,
        summary.as_of,
        summary.triggers,
        summary.raised,
        len(summary.new),
        len(summary.reopened),
        summary.withdrawn,
    )
    summary.seconds["total"] = time.perf_counter() - started
    return summary


def _write_sweep(
    tx: neo4j.ManagedTransaction, rows: list[dict[str, Any]], summary: SweepSummary, last: bool
) -> None:
    """`rows` (alerts raised), and when `last` a new published version (first, taking its
    lock), the withdrawals of a full sweep and the sweep node: with all rows, the sweep as
    one transaction."""
    at = summary.ran_at
    if last:
        bump(tx)
        end_batched(tx, SWEEP_COMMAND)
    for start in range(0, len(rows), 2000):
        tx.run(_WRITE, rows=rows[start : start + 2000], sweep=summary.id, at=at).consume()
    if not last:
        return
    if summary.full:
        entry = _entry(None, "veil", at, "no longer raised by a full sweep")
        record = tx.run(_WITHDRAW, sweep=summary.id, entry=entry, at=at).single(strict=True)
        summary.withdrawn = record["n"]
    tx.run(_SWEEP, props=_sweep_props(summary)).consume()


def _sweep_props(summary: SweepSummary) -> dict[str, Any]:
    return {
        "id": summary.id,
        "as_of": summary.as_of,
        "since": summary.since,
        "full": summary.full,
        "ran_at": summary.ran_at,
        "raised": sum(summary.raised.values()),
        "new": len(summary.new),
        "reopened": len(summary.reopened),
        "withdrawn": summary.withdrawn,
    }


def _entry(status: str | None, reviewer: str, at: str, reason: str) -> str:
    return json.dumps(
        {"at": at, "status": status, "reviewer": reviewer, "reason": reason}, ensure_ascii=False
    )


def _rows(
    reader: GraphReader, hits: list[Hit], conflicts: list[tuple[str, str, str, str]]
) -> list[dict[str, Any]]:
    """One row per hit: flat properties for filtering plus the evidence document. Hits whose
    identity the resident IDs contradict go to `conflicts` instead."""
    if not hits:
        return []
    persons = reader.persons(sorted({h.person for h in hits}))
    company_ids = {h.role.company for h in hits} | {
        h.trigger.party_id for h in hits if h.trigger.party_kind == "company"
    }
    for h in hits:
        if h.role.control:
            company_ids |= {n for p in h.role.control["paths"] for n in p["nodes"]}
    companies = reader.companies(sorted(c for c in company_ids if c))
    load = reader.latest_load()
    identity = Identity(Path(load["run_dir"]) if load else None, sorted(persons))
    names = display_names(companies, persons)
    rows = []
    for hit in hits:
        evidence = build(hit, companies, persons, identity, names)
        if evidence["identity"]["ids_contradict"]:
            conflicts.append((hit.rule.id, hit.person, hit.role.company, hit.trigger.key))
            continue
        company = evidence["target"]["company"] or {}
        identity_ev = evidence["identity"]
        props = {
            "rule": hit.rule.id,
            "severity": hit.rule.severity,
            "person_id": hit.person,
            "person_name": evidence["person"]["name"],
            "company_id": hit.role.company,
            "company_name": company.get("name"),
            "company_uscc": company.get("uscc"),
            "region_code": company.get("region_code"),
            "industry_code": company.get("industry_code"),
            "role": hit.role.role,
            "role_start": hit.role.start,
            "role_end": hit.role.end,
            "began_before_trigger": hit.began_before_trigger,
            "trigger_key": hit.trigger.key,
            "trigger_kind": hit.trigger.kind,
            "trigger_reference": hit.trigger.record.get("reference"),
            "trigger_date": hit.trigger.day,
            "window_start": hit.trigger.window[0],
            "window_end": hit.trigger.window[1],
            "match_probability": identity_ev.get("weakest_probability"),
            "doubtful": bool(evidence.get("doubts")),
            "evidence": json.dumps(evidence, ensure_ascii=False, sort_keys=True),
            "evidence_digest": digest(evidence),
        }
        key = alert_id(hit.rule.id, hit.person, hit.role.company, hit.trigger.key, hit.role.role)
        rows.append({"id": key, "props": props})
    return rows


@dataclass(frozen=True)
class Scope:
    """The companies a scoped reader may see: a region code starting with one of
    `regions`, and, when `industries` names any, an industry code starting with one of
    them (service.keys.Principal.in_scope's rule, as prefixes)."""

    regions: tuple[str, ...]
    industries: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts a list takes. `region` and `industry` are prefixes of the company's
    codes (3101, F52; an industry without its section letter gets it: 52 is F52); `since`
    takes alerts raised or changed on or after that day (UTC); `sweep_id` those first
    raised or reopened by that sweep; `scope` the reader's regions and industries."""

    status: str | None = None
    rule: str | None = None
    region: str | None = None
    industry: str | None = None
    since: date | None = None
    sweep_id: str | None = None
    include_inactive: bool = False
    scope: Scope | None = None

    def parameters(self) -> dict[str, Any]:
        """The query parameters; a filter that cannot match anything well-formed is an
        InputError naming it."""
        if self.status is not None:
            _check_status(self.status)
        if self.region is not None and not _REGION_PREFIX.fullmatch(self.region):
            raise InputError("region", f"{self.region!r} is not a region code prefix (31, 3101)")
        industry = None
        if self.industry is not None:
            industry = normalise_industry(self.industry).value
            if industry is None:
                raise InputError(
                    "industry", f"{self.industry!r} is not a GB/T 4754 code prefix (F, F52, 1331)"
                )
        scope = self.scope
        return {
            "status": self.status,
            "rule": self.rule,
            "region": self.region,
            "industry": industry,
            "since": None if self.since is None else self.since.isoformat(),
            "sweep": self.sweep_id,
            "all": self.include_inactive,
            "regions": None if scope is None else list(scope.regions),
            "industries": None if scope is None or not scope.industries else list(scope.industries),
        }


_REGION_PREFIX = re.compile(r"[0-9]{1,6}")
#: The longest page a list answers, and the last page it may be asked for.
MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000


def review(
    driver: neo4j.Driver,
    alert: str,
    status: str,
    reviewer: str,
    reason: str,
    database: str = "neo4j",
) -> Alert:
    """Move an alert to `status`, recording who, when and why; the alert as this review
    left it (see `_REVIEW`: concurrent reviews of one alert are serialised). A resident ID
    the reviewer typed into the reason or name is stored masked, as the evidence is."""
    _check_status(status)
    if not reviewer.strip():
        raise InputError("reviewer", "a review needs the reviewer's name")
    if status == "dismissed" and not reason.strip():
        raise InputError("reason", "dismissing an alert needs a reason")
    reviewer, reason = masked_resident_ids(reviewer), masked_resident_ids(reason)
    entry = json.dumps(
        {"status": status, "reviewer": reviewer, "reason": reason}, ensure_ascii=False
    )
    records, _, _ = driver.execute_query(
        _REVIEW,
        id=alert,
        status=status,
        reviewer=reviewer,
        reason=reason,
        entry=entry,
        database_=database,
    )
    if not records:
        raise NotFound(f"no alert {alert!r}")
    return _alert(records[0]["alert"])


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise InputError("status", f"'{status}' is not one of {', '.join(STATUSES)}")


def latest_full_sweep(driver: neo4j.Driver, database: str = "neo4j") -> str | None:
    records, _, _ = driver.execute_query(
        _LATEST_SWEEP, database_=database, routing_=neo4j.RoutingControl.READ
    )
    return records[0]["id"] if records else None


def list_alerts(
    driver: neo4j.Driver, filters: AlertFilter | None = None, database: str = "neo4j"
) -> list[Alert]:
    """Every alert the filters take, in full (evidence and history), in inbox order:
    severity, rule, company."""
    params = (filters or AlertFilter()).parameters()
    return read_whole(
        driver, database, lambda tx: [_alert(r["alert"]) for r in tx.run(_LIST, params)]
    )


def alert_page(
    driver: neo4j.Driver,
    filters: AlertFilter,
    page: int = 1,
    per_page: int = 50,
    database: str = "neo4j",
) -> AlertPage:
    """One page (from 1) of the alerts the filters take, as summaries, with their total."""
    if not 1 <= page <= MAX_PAGE:
        raise InputError("page", f"pages count from 1 to {MAX_PAGE:,}")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InputError("per_page", f"a page holds 1 to {MAX_PER_PAGE} alerts")
    params = filters.parameters() | {"skip": (page - 1) * per_page, "limit": per_page}
    found = read_whole(driver, database, lambda tx: tx.run(_PAGE, params).single(strict=True))
    return AlertPage(
        total=found["total"],
        page=page,
        per_page=per_page,
        alerts=[AlertSummary.model_validate(_native(a)) for a in found["alerts"]],
    )


def get_alert(driver: neo4j.Driver, alert: str, database: str = "neo4j") -> Alert:
    record = read_whole(driver, database, lambda tx: tx.run(_ONE, id=alert).single())
    if record is None:
        raise NotFound(f"no alert {alert!r}")
    return _alert(record["alert"])


def _native(properties: dict[str, Any]) -> dict[str, Any]:
    """Neo4j's dates as Python's; a property Neo4j does not keep (null) as None."""
    out = {k: v.to_native() if hasattr(v, "to_native") else v for k, v in properties.items()}
    for column in CSV_COLUMNS:
        out.setdefault(column, None)
    return out


def _alert(properties: dict[str, Any]) -> Alert:
    out = _native(properties)
    out["evidence"] = json.loads(out.get("evidence") or "{}")
    out["history"] = [json.loads(h) for h in out.get("history") or []]
    return Alert.model_validate(out)


# A text cell starting with one of these is run as a formula by Excel and WPS (OWASP,
# "CSV Injection"): =cmd|' /C calc'!A0, +SUM(1), @SUM, -2+3, or a tab/CR before them.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text: a leading ' before a formula start.

    Only text is touched (numbers stay numbers); the JSONL export keeps every value exact.
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def export(alerts: Sequence[Alert], path: Path) -> int:
    """Write alerts to `path`: JSONL (one alert with its full evidence per line) or CSV (one
    row per alert, the flat fields). The format follows the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        with path.open("w", encoding="utf-8") as out:
            for alert in alerts:
                row = alert.model_dump(mode="json")
                out.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    elif path.suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for alert in alerts:
                flat = alert.model_dump(mode="json", include=set(CSV_COLUMNS))
                writer.writerow({k: spreadsheet_safe(flat[k]) for k in CSV_COLUMNS})
    else:
        raise InputError(str(path), "export to a .jsonl or .csv file")
    return len(alerts)
