"""The graph's published version: readers answer from one state of the graph, never a mix.

Neo4j reads at read-committed isolation: a read transaction of several statements sees
what other transactions commit between its statements. Every atomic write (a load's
delta, a control run, a sweep: one transaction each) therefore bumps `version` on the
`:GraphState` node in the same transaction, and `read_whole` reads the state before and
after its work, in the same read transaction, and reads again when the two differ. An
answer is thus computed wholly from one published state, at the cost of one tiny
statement at each end of the transaction. A hot read (`read_stamped`) saves even those two:
its statement reads the state before and after its data (`stamped`).

A write too large for one transaction (`load.atomic_rows`) goes in batches and marks the
state while it runs (`loading` for a load, `batched` for a control run or sweep): answers
read meanwhile may mix two states, and the state they were read from says so
(`Published.warning`; the API sends it as a header). While the FIRST load of an empty
graph runs (`loading_mode: create`), there is nothing whole to answer from:
`GraphLoading`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import neo4j

from config.errors import VeilError
from graph.steps import Statement, Steps, run, run_async

log = logging.getLogger(__name__)

STATE = "graph"
T = TypeVar("T")
#: Reads of one answer before giving up on a graph that keeps changing under it.
ATTEMPTS = 5
#: How long `read_stamped_async` retries a fault the driver calls retryable: as long as the
#: driver's managed transactions do (its max_transaction_retry_time).
RETRY_SECONDS = 30.0

_STATE = (
    "OPTIONAL MATCH (g:GraphState {name: $name}) "
    "RETURN coalesce(g.version, 0) AS version, g.loading_run AS loading_run, "
    "g.loading_mode AS loading_mode, g.batched AS batched"
)
#: The state as one map column, for a statement to return beside its own columns
#: (`stamped`); the name is this module's constant.
_STAMP = (
    "OPTIONAL MATCH (g:GraphState {name: '" + STATE + "'}) "
    "RETURN g {.version, .loading_run, .loading_mode, .batched} AS graph_state"
)
_STAMP_AFTER = _STAMP.replace(" AS graph_state", " AS graph_state_after")
_BUMP = (
    "MERGE (g:GraphState {name: $name}) SET g.version = coalesce(g.version, 0) + 1 "
    "RETURN g.version AS version"
)


class GraphLoading(VeilError):
    """The graph's first load is running: no answer can be whole until it ends."""


class GraphChanging(VeilError):
    """The graph changed under every attempt to read an answer."""


@dataclass(frozen=True)
class Published:
    """The graph's state as a reader saw it."""

    version: int
    loading_run: str | None = None
    loading_mode: str | None = None
    batched: str | None = None

    @classmethod
    def of(cls, stamp: dict[str, Any] | None) -> Published:
        """The state a `stamped` statement returned (None: no GraphState node yet)."""
        if stamp is None:
            return cls(version=0)
        return cls(**{**stamp, "version": stamp.get("version") or 0})

    @property
    def creating(self) -> bool:
        """The first load of an empty graph is running (or died part-way)."""
        return self.loading_mode == "create" and self.loading_run is not None

    @property
    def warning(self) -> str | None:
        """Why an answer read in this state may mix two states of the graph, or None (plain
        ASCII, no path: the API sends it as a header)."""
        if self.loading_run is not None:
            return (
                "the graph is being loaded in batches: this answer may mix the previous load "
                "and the new one; ask again when the load has finished"
            )
        if self.batched is not None:
            return (
                f"the graph is being written in batches ({self.batched}): this answer may mix "
                "old and new results; ask again when it has finished"
            )
        return None


#: The state the last whole read in this context answered from (the API's header reads it;
#: each request runs in its own copy of the context).
_observed: ContextVar[Published | None] = ContextVar("veil_graph_published", default=None)


def observed() -> Published | None:
    """The state the last `read_whole` of this context read its answer from."""
    return _observed.get()


def state(tx: neo4j.ManagedTransaction | neo4j.Transaction) -> Published:
    """The graph's published state (version 0: never written by an atomic write)."""
    record = tx.run(_STATE, name=STATE).single(strict=True)
    return Published(**record.data())


def read_state(driver: neo4j.Driver, database: str = "neo4j") -> Published:
    with driver.session(database=database, default_access_mode=neo4j.READ_ACCESS) as session:
        return session.execute_read(state)


def bump(tx: neo4j.ManagedTransaction | neo4j.Transaction) -> int:
    """Publish a new version; run it FIRST in a write transaction: it takes the state's
    write lock, so writers are serialised on it (they hold the writer lock anyway)."""
    version: int = tx.run(_BUMP, name=STATE).single(strict=True)["version"]
    return version


def first_load_error() -> GraphLoading:
    return GraphLoading(
        "the graph is being loaded for the first time and holds no whole answer until that "
        "load has finished: ask again in a few minutes (the operator's `veil graph load` "
        "shows its progress; if it died, running it again completes the graph)"
    )


def stamped(query: str) -> str:
    """`query` (a whole query, to its RETURN, of one row: aggregations) with the published
    state read BEFORE it, in the column `graph_state`, and AFTER it, in
    `graph_state_after`, whether or not `query` finds anything. The query runs as a
    subquery importing the first read, which Neo4j runs after that read (an Apply whose
    left side is it); the second read is a subquery importing the query's columns, which
    Neo4j runs once that row is complete (the right side of the Apply above)."""
    return (
        f"CALL () {{ {_STAMP} }} CALL (graph_state) {{ {query} }} "
        f"CALL (*) {{ {_STAMP_AFTER} }} RETURN *"
    )


class Stamps:
    """The states a `read_stamped` work's statements returned: the first is the state the
    answer starts from, the last the state it ends in."""

    def __init__(self) -> None:
        self.before: Published | None = None
        self.after: Published | None = None

    def saw(self, stamp: dict[str, Any] | Published | None) -> None:
        """Record a statement's `graph_state` (or a `state` read), in the order read;
        GraphLoading if the first says a first load is running."""
        published = stamp if isinstance(stamp, Published) else Published.of(stamp)
        if self.before is None:
            if published.creating:
                raise first_load_error()
            self.before = published
        self.after = published

    def bounds(self) -> tuple[Published, Published]:
        """(first, last) state seen; AssertionError if the read recorded none."""
        if self.before is None or self.after is None:
            raise AssertionError("a whole read must record the state it starts and ends in")
        return self.before, self.after


def read_whole(driver: neo4j.Driver, database: str, work: Callable[..., T], *args: Any) -> T:
    """`work(tx, *args)` in one read transaction, read again while the published state
    changes under it (see the module docstring). The state it answered from is kept
    for `observed`. GraphLoading during a first load; GraphChanging when every one of
    ATTEMPTS reads saw another write land."""

    def once(tx: neo4j.ManagedTransaction, stamps: Stamps) -> T:
        stamps.saw(state(tx))
        answer = work(tx, *args)
        stamps.saw(state(tx))
        return answer

    return _whole(driver, database, once)


def read_stamped(
    driver: neo4j.Driver, database: str, steps: Callable[..., Steps[T]], *args: Any
) -> T:
    """`read_whole` for a hot read that saves its two state statements: `steps(stamps,
    *args)` (graph/steps.py) passes `stamps.saw` the state read before anything else and
    the one read after everything else, in the order read (its statements are `stamped`),
    so a write landing between the two is seen."""
    return _whole(driver, database, lambda tx, stamps: run(tx, steps(stamps, *args)))


async def read_stamped_async(
    driver: neo4j.AsyncDriver, database: str, steps: Callable[..., Steps[T]], *args: Any
) -> T:
    """`read_stamped` on the async driver (the API's event loop), each statement in an
    auto-commit transaction of its own. One read transaction would cost two more round
    trips (BEGIN, COMMIT; a third of a one-statement read's CPU, client and server) and,
    Neo4j reading at read-committed, would see no more of one state than the stamps
    already make sure of. A fault the driver calls retryable is retried as its managed
    transactions retry it (`_retried`)."""

    async def attempt() -> tuple[Published, Published, T]:
        stamps = Stamps()
        async with driver.session(database=database, default_access_mode=neo4j.READ_ACCESS) as s:
            answer = await run_async(s, steps(stamps, *args))
        return (*stamps.bounds(), answer)

    for tries in range(ATTEMPTS):
        before, after, answer = await _retried(attempt)
        if _settled(before, after, tries):
            return answer
    raise _changing()


async def _retried(work: Callable[[], Awaitable[T]]) -> T:
    """`work()`, again while it fails with a fault the driver calls retryable (Neo4j down or
    restarting, a stale pooled connection), for up to RETRY_SECONDS from the first
    failure, waiting as the driver's managed transactions wait: 1 s, doubling, +-20%."""
    deadline: float | None = None
    delay = 1.0
    while True:
        try:
            return await work()
        except (neo4j.exceptions.DriverError, neo4j.exceptions.Neo4jError) as err:
            if not err.is_retryable():
                raise
            now = time.monotonic()
            deadline = now + RETRY_SECONDS if deadline is None else deadline
            if now > deadline:
                raise
            wait = delay * random.uniform(0.8, 1.2)
            log.warning("a read failed and is retried in %.1f s (%s)", wait, err)
            await asyncio.sleep(wait)
            delay *= 2


def state_statement() -> Statement:
    """`state`'s statement, for steps (graph/steps.py); its row is a `Published`'s fields."""
    return _STATE, {"name": STATE}


def _whole(
    driver: neo4j.Driver, database: str, once: Callable[[neo4j.ManagedTransaction, Stamps], T]
) -> T:
    def attempt(tx: neo4j.ManagedTransaction) -> tuple[Published, Published, T]:
        stamps = Stamps()
        answer = once(tx, stamps)
        return (*stamps.bounds(), answer)

    with driver.session(database=database, default_access_mode=neo4j.READ_ACCESS) as session:
        for tries in range(ATTEMPTS):
            before, after, answer = session.execute_read(attempt)
            if _settled(before, after, tries):
                return answer
    raise _changing()


def _settled(before: Published, after: Published, tries: int) -> bool:
    """Whether a read saw one state throughout (then `observed` keeps it)."""
    if before == after:
        _observed.set(after)
        return True
    log.debug(
        "graph version %d -> %d during a read (attempt %d)",
        before.version,
        after.version,
        tries + 1,
    )
    return False


def _changing() -> GraphChanging:
    return GraphChanging(
        f"the graph changed while each of {ATTEMPTS} reads of this answer ran (writes are "
        "landing faster than it can be read); ask again"
    )
