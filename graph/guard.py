"""One writer at a time, a graph that knows whether its last load finished, and Neo4j
faults told as what happened and what to do.

- **The writer lock** is a `:VeilLock {name: "graph"}` node. A graph write (load, bulk
  import, control, alert sweep) takes it with its owner (host, pid), command and start
  time; a heartbeat keeps it alive, so a holder killed with -9 leaves a lock that expires
  `LOCK_TTL_SECONDS` later instead of blocking for ever (at once, when the holder ran on
  this host and its process is gone). A second writer waits up to
  `wait_seconds`, then fails naming the holder. Two loads of different runs at once would
  otherwise each delete the other's rows as stale.
- **The load state** is a `:GraphState {name: "graph"}` node: `loading` is set (with the
  run and load ID) before a batched load writes its first row and cleared after its stale deletes,
  so a graph mixing two loads is always marked as such; `alerts run` refuses it, and the
  next load completes or replaces it and says so. An atomic load (one transaction) never
  marks it. The same node publishes the graph's version to readers (graph/published.py).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import neo4j
from neo4j import exceptions as neo4j_errors

from config.errors import VeilError
from graph.published import bump
from graph.server.connection import external_settings

log = logging.getLogger(__name__)
T = TypeVar("T")
#: What Neo4j answers when a transaction would hold more memory than it allows
#: (`db.memory.transaction.total.max`, `db.memory.transaction.max`): retrying cannot help.
OUT_OF_TRANSACTION_MEMORY = (
    "Neo.TransientError.General.MemoryPoolOutOfMemoryError",
    "Neo.TransientError.General.TransactionMemoryLimit",
)

LOCK = "graph"
CONSTRAINTS = (
    "CREATE CONSTRAINT veil_lock IF NOT EXISTS FOR (n:VeilLock) REQUIRE n.name IS UNIQUE",
    "CREATE CONSTRAINT graph_state IF NOT EXISTS FOR (n:GraphState) REQUIRE n.name IS UNIQUE",
)
LOCK_TTL_SECONDS = 90
HEARTBEAT_SECONDS = 20
POLL_SECONDS = 2.0


class GraphBusy(VeilError):
    """Another veil command is writing the graph."""


class GraphIncomplete(VeilError):
    """The graph's last load did not finish: it may mix two loads."""


class GraphUnavailable(VeilError):
    """Neo4j stopped answering or refused a write."""


def _claim(tx: neo4j.ManagedTransaction, token: str, owner: str, command: str) -> dict[str, Any]:
    # Writing `claims` first takes the node's write lock, so two claimants are serialised
    # and the second reads the first one's token (no lost update).
    record = tx.run(
        "MERGE (l:VeilLock {name: $name}) SET l.claims = coalesce(l.claims, 0) + 1 "
        "WITH l, (l.token IS NULL OR l.expires < datetime()) AS free "
        "FOREACH (_ IN CASE WHEN free THEN [1] ELSE [] END | "
        "  SET l.token = $token, l.owner = $owner, l.command = $command, "
        "      l.started = datetime(), "
        "      l.expires = datetime() + duration({seconds: $ttl})) "
        "RETURN l.token = $token AS mine, l.token AS holder, l.owner AS owner, "
        "       l.command AS command, toString(l.started) AS started",
        name=LOCK,
        token=token,
        owner=owner,
        command=command,
        ttl=LOCK_TTL_SECONDS,
    ).single(strict=True)
    return dict(record)


def _steal(tx: neo4j.ManagedTransaction, holder: str, token: str, owner: str, command: str) -> bool:
    record = tx.run(
        "MATCH (l:VeilLock {name: $name, token: $holder}) "
        "SET l.token = $token, l.owner = $owner, l.command = $command, l.started = datetime(), "
        "    l.expires = datetime() + duration({seconds: $ttl}) RETURN count(l) AS n",
        name=LOCK,
        holder=holder,
        token=token,
        owner=owner,
        command=command,
        ttl=LOCK_TTL_SECONDS,
    ).single(strict=True)
    return bool(record["n"])


def _dead_here(owner: str | None) -> bool:
    """The holder ran on this host and its process is gone (killed, crashed)."""
    host, _, pid = (owner or "").rpartition(" pid ")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _renew(tx: neo4j.ManagedTransaction, token: str) -> None:
    tx.run(
        "MATCH (l:VeilLock {name: $name, token: $token}) "
        "SET l.expires = datetime() + duration({seconds: $ttl})",
        name=LOCK,
        token=token,
        ttl=LOCK_TTL_SECONDS,
    ).consume()


def _release(tx: neo4j.ManagedTransaction, token: str) -> None:
    tx.run(
        "MATCH (l:VeilLock {name: $name, token: $token}) "
        "REMOVE l.token, l.owner, l.command, l.started, l.expires",
        name=LOCK,
        token=token,
    ).consume()


@contextmanager
def graph_writer(
    driver: neo4j.Driver, command: str, database: str = "neo4j", wait_seconds: float = 0.0
) -> Iterator[None]:
    """Hold the graph's writer lock for the block (see the module docstring)."""
    for statement in CONSTRAINTS:  # two MERGEs of one unconstrained node can make two
        driver.execute_query(statement, database_=database)
    token = uuid.uuid4().hex
    owner = f"{socket.gethostname()} pid {os.getpid()}"
    deadline = time.monotonic() + wait_seconds
    with driver.session(database=database) as session:
        while True:
            claim = session.execute_write(_claim, token, owner, command)
            if claim["mine"]:
                break
            if _dead_here(claim["owner"]) and session.execute_write(
                _steal, claim["holder"], token, owner, command
            ):
                break
            if time.monotonic() >= deadline:
                raise GraphBusy(
                    f"the graph is being written by `{claim['command']}` ({claim['owner']}, "
                    f"since {claim['started']}); wait for it to finish and run this again "
                    f"(a holder that died releases the lock within {LOCK_TTL_SECONDS} s)"
                )
            time.sleep(POLL_SECONDS)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                with driver.session(database=database) as s:
                    s.execute_write(_renew, token)
            except (neo4j_errors.Neo4jError, neo4j_errors.DriverError):
                return  # the writer itself will meet the same fault and report it

    heart = threading.Thread(target=beat, name="veil-lock-heartbeat", daemon=True)
    heart.start()
    try:
        yield
    finally:
        stop.set()
        heart.join()
        try:
            with driver.session(database=database) as session:
                session.execute_write(_release, token)
        except (neo4j_errors.Neo4jError, neo4j_errors.DriverError):
            pass  # Neo4j is gone: the lock expires on its own


def begin_load(
    session: neo4j.Session, load_id: str, run_dir: str, mode: str = "merge"
) -> dict[str, Any] | None:
    """Mark the graph as being loaded in batches (`mode` create: its first load) and
    publish that (graph/published.py); return the unfinished load this one replaces."""

    def work(tx: neo4j.ManagedTransaction) -> dict[str, Any] | None:
        bump(tx)
        record = tx.run(
            "MERGE (g:GraphState {name: $name}) "
            "WITH g, g.loading AS before, g.loading_run AS before_run, "
            "     toString(g.loading_started) AS before_started "
            "SET g.loading = $load, g.loading_run = $run, g.loading_started = datetime(), "
            "    g.loading_mode = $mode "
            "RETURN before, before_run, before_started",
            name=LOCK,
            load=load_id,
            run=run_dir,
            mode=mode,
        ).single(strict=True)
        if record["before"] is None:
            return None
        return {
            "load_id": record["before"],
            "run_dir": record["before_run"],
            "started": record["before_started"],
        }

    return session.execute_write(work)


def finished(tx: neo4j.ManagedTransaction | neo4j.Transaction, load_id: str) -> None:
    """Record `load_id` as the graph's finished load, in the caller's transaction (an atomic
    load's, which also bumps the version)."""
    tx.run(
        "MERGE (g:GraphState {name: $name}) "
        "SET g.loaded = $load, g.loaded_at = datetime() "
        "REMOVE g.loading, g.loading_run, g.loading_started, g.loading_mode",
        name=LOCK,
        load=load_id,
    ).consume()


def finish_load(session: neo4j.Session, load_id: str) -> None:
    """End a batched load: the graph is whole again, as a new published version."""

    def work(tx: neo4j.ManagedTransaction) -> None:
        bump(tx)
        finished(tx, load_id)

    session.execute_write(work)


def atomically(
    session: neo4j.Session, work: Callable[[neo4j.ManagedTransaction], T], what: str
) -> T | None:
    """`work` as one transaction, or None, with nothing written, when Neo4j refuses it for
    want of transaction memory: the caller then writes in batches. An explicit transaction,
    not `execute_write`, whose retries would repeat the same refusal for half a minute."""
    try:
        with session.begin_transaction() as tx:
            # the work only runs statements, as it would in a managed transaction
            result = work(cast(neo4j.ManagedTransaction, tx))
            tx.commit()
    except neo4j_errors.Neo4jError as err:
        if err.code not in OUT_OF_TRANSACTION_MEMORY:
            raise
        log.warning(
            "%s would need more transaction memory than Neo4j allows (%s): writing it in "
            "batches instead; until it finishes, readers may see a mix (answers carry "
            "X-Veil-Graph-Warning). For one transaction, give Neo4j more (VEIL_NEO4J_TX_MAX "
            "for the local one) or lower load.atomic_rows",
            what,
            (err.message or "")[:200],
        )
        return None
    return result


@contextmanager
def batched_write(session: neo4j.Session, command: str) -> Iterator[None]:
    """Mark the graph as written in batches by `command` (a control run or sweep too large
    for one transaction) for the block: readers are told their answers may mix old and
    new results. A writer that dies leaves the mark until `command` next finishes (in
    batches, or atomically: `end_batched`)."""

    def mark(tx: neo4j.ManagedTransaction) -> None:
        bump(tx)
        tx.run(
            "MERGE (g:GraphState {name: $name}) SET g.batched = $command",
            name=LOCK,
            command=command,
        ).consume()

    def unmark(tx: neo4j.ManagedTransaction) -> None:
        bump(tx)
        end_batched(tx, command)

    session.execute_write(mark)
    yield
    session.execute_write(unmark)


def end_batched(tx: neo4j.ManagedTransaction, command: str) -> None:
    """Clear the mark `command` left when it wrote in batches (and perhaps died), in the
    caller's transaction: its results are whole again."""
    tx.run(
        "MATCH (g:GraphState {name: $name}) WHERE g.batched = $command REMOVE g.batched",
        name=LOCK,
        command=command,
    ).consume()


def current_load(tx: neo4j.ManagedTransaction | neo4j.Transaction) -> str | None:
    """The load ID of the graph's last finished load: its state's, else (a bulk import,
    which keeps no state) the latest `Load` node's."""
    record = tx.run(
        "OPTIONAL MATCH (g:GraphState {name: $name}) "
        "OPTIONAL MATCH (l:Load) WITH g, l ORDER BY l.loaded_at DESC LIMIT 1 "
        "RETURN coalesce(g.loaded, l.id) AS load",
        name=LOCK,
    ).single()
    return None if record is None else record["load"]


def unfinished_load(driver: neo4j.Driver, database: str = "neo4j") -> dict[str, Any] | None:
    """The load that started and did not finish, or None."""
    records, _, _ = driver.execute_query(
        "MATCH (g:GraphState {name: $name}) WHERE g.loading IS NOT NULL "
        "RETURN g.loading AS load_id, g.loading_run AS run_dir, "
        "       toString(g.loading_started) AS started",
        name=LOCK,
        database_=database,
        routing_=neo4j.RoutingControl.READ,
    )
    return dict(records[0]) if records else None


def loaded_run(driver: neo4j.Driver, database: str = "neo4j") -> str | None:
    """The run directory of the graph's last finished load (a bulk import, which keeps no
    load state, by its `Load` node's time); None for a graph never loaded."""
    records, _, _ = driver.execute_query(
        "OPTIONAL MATCH (g:GraphState {name: $name}) "
        "OPTIONAL MATCH (l:Load {id: g.loaded}) "
        "CALL () { MATCH (x:Load) RETURN x ORDER BY x.loaded_at DESC LIMIT 1 } "
        "RETURN coalesce(l.run_dir, x.run_dir) AS run_dir",
        name=LOCK,
        database_=database,
        routing_=neo4j.RoutingControl.READ,
    )
    run_dir: str | None = records[0]["run_dir"] if records else None
    return run_dir


def require_finished_load(driver: neo4j.Driver, command: str, database: str = "neo4j") -> None:
    """Refuse `command` on a graph whose last load did not finish."""
    unfinished = unfinished_load(driver, database)
    if unfinished:
        raise GraphIncomplete(
            f"the graph's last load (run {unfinished['run_dir']}, started "
            f"{unfinished['started']}) did not finish, so it may mix two loads; {command} "
            "was not run and nothing was changed. Run `veil graph load` again (it resumes)"
        )


AGAIN = "run the same command again: a load resumes, nothing is lost"


@contextmanager
def neo4j_faults(uri: str, doing: str, then: str = AGAIN) -> Iterator[None]:
    """Neo4j faults as VeilErrors naming the server and the next step, not tracebacks;
    `then` is what to do once Neo4j answers again.

    The driver already retried transient errors with backoff for its
    `max_transaction_retry_time`; what reaches here is final.
    """
    try:
        yield
    except (neo4j_errors.ServiceUnavailable, neo4j_errors.SessionExpired) as err:
        raise GraphUnavailable(
            f"Neo4j at {uri} stopped answering while {doing} ({type(err).__name__}); "
            f"check it is running (`veil neo4j status`, `veil neo4j start`), then {then}"
        ) from None
    except neo4j_errors.AuthError:
        if external_settings() is None:
            advice = (
                "veil's local Neo4j takes its password from the password file in its data "
                "dir at each start, so that file changed since: restart it (`veil neo4j "
                "stop`, then `veil neo4j start`)"
            )
        else:
            advice = (
                "check NEO4J_USER and NEO4J_PASSWORD (or unset NEO4J_URI to use veil's local Neo4j)"
            )
        raise GraphUnavailable(
            f"Neo4j at {uri} refused the credentials while {doing}; {advice}"
        ) from None
    except neo4j_errors.Neo4jError as err:
        raise GraphUnavailable(
            f"Neo4j at {uri} refused a statement while {doing}: {err.code}: "
            f"{(err.message or '')[:300]}"
        ) from None
