"""A first load into an EMPTY local graph by offline bulk import, not Bolt (`--bulk`).

`load.load_run` writes a run over Bolt, a transaction per batch; into an empty graph that
costs Neo4j a lookup-free CREATE per row, and still about 150 s for a 100k-company run.
`neo4j-admin database import full` writes the store files directly from CSV instead
(graph/server/admin_import.py), but only into a stopped database that it replaces whole.
So `bulk_load`:

1. check     the local instance's database holds no node at all (asked over Bolt; a data
             dir without a database needs no asking). Anything in it would be lost, so
             a graph with nodes is refused, and left as it was: load it with `load_run`.
2. resolve   the run (`graph.facts.resolve_run`), as `load_run` does.
3. csv       one CSV per step of `load.load_steps(resolved, create=True)`, typed as Bolt
             would type the values (graph/bulk_csv.py). Meanwhile the instance stops
             (emptiness checked once more first); `stop` is what is left of that wait
             after the CSVs.
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

import time
from dataclasses import dataclass
from pathlib import Path

import neo4j

from config.errors import EnvironmentProblem
from config.progress import Progress, silent
from graph.bulk_csv import write_csvs
from graph.facts import resolve_run
from graph.guard import neo4j_faults
from graph.load import BATCH_SIZE, LoadSummary, load_steps, record_load, write_batches
from graph.schema import init_schema
from graph.server.admin_import import (
    DATABASE,
    Stages,
    instance_to_check,
    replace_database,
)
from graph.server.connection import open_driver
from graph.server.local import LocalServer, ServerConfig

# What to do when Bolt fails after the store was imported: a Bolt load MERGEs the rest in.
FINISH_AGAIN = (
    "then load the run again without --bulk: the import is complete, and a Bolt load sets "
    "what it could not hold and records the load"
)


@dataclass
class Imported:
    """What `bulk_load` did, and the instance it left running (stop it when done)."""

    summary: LoadSummary
    server: LocalServer


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
    with (
        neo4j_faults(server.uri, "checking the local graph is empty"),
        open_driver(server.settings) as driver,
    ):
        nodes = graph_nodes(driver)
    if nodes:
        held = ", ".join(f"{label} {count:,}" for label, count in sorted(nodes.items()))
        raise EnvironmentProblem(
            f"the local graph at {server.uri} is not empty ({held}): a bulk import replaces "
            "the whole database, so it only loads into an empty one. Load without --bulk "
            "(it MERGEs into what is there), or use a data dir without a database"
        )


def bulk_load(
    config: ServerConfig,
    run_dir: Path,
    *,
    watch_stdin: bool = False,
    progress: Progress = silent,
    memory: str | None = None,
    threads: int | None = None,
    work_dir: Path | None = None,
    batch_size: int = BATCH_SIZE,
    secret: bytes | None = None,
) -> Imported:
    """Load `run_dir` into the local instance of `config` by bulk import (module docstring)
    and leave the instance running (`watch_stdin` as for `graph.server.local.start`).

    `progress` hears of each stage when it starts (with what it does) and ends
    (its seconds), and of the importer's phases as they start (message ending in "...").
    The instance is stopped while the CSVs are written (after the emptiness check), so a
    refusal leaves it as it was, and a failure before the restart leaves it running again
    (as it was, or with an empty database after a failed import). `secret` as for
    `graph.load.load_run`."""
    started = time.perf_counter()
    stages = Stages(progress)
    with stages.timed("check"):
        server = instance_to_check(config, watch_stdin=watch_stdin)
        if server is not None:
            _refuse_unless_empty(server)
    with stages.timed("resolve"):
        resolved = resolve_run(Path(run_dir), secret)
    if server is not None:
        _refuse_unless_empty(server)  # again: nothing written since the first check
    server, plan, counters = replace_database(
        config,
        server,
        lambda work: write_csvs(list(load_steps(resolved, create=True)), work),
        stages,
        watch_stdin=watch_stdin,
        memory=memory,
        threads=threads,
        work_dir=work_dir,
    )
    summary = LoadSummary(
        run_dir=str(run_dir),
        load_id=resolved.load_id,
        mode="import",
        rows=plan.rows,
        counters=counters | {"nodes_deleted": 0, "relationships_deleted": 0},
        resolved=resolved.counts(),
        unresolved_slots=resolved.unresolved,
    )
    with (
        neo4j_faults(server.uri, "finishing the bulk import", then=FINISH_AGAIN),
        open_driver(server.settings) as driver,
    ):
        with stages.timed("schema"):
            init_schema(driver, DATABASE)
        with stages.timed("finish"), driver.session(database=DATABASE) as session:
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
    summary.stages = stages.seconds
    summary.seconds = time.perf_counter() - started
    return Imported(summary, server)
