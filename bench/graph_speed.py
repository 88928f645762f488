"""Benchmark the corporate-veil graph: correctness against truth, then speed, on a local Neo4j.

    .venv/bin/python bench/graph_speed.py --companies 20000 --speed-companies 100000

Starts a throwaway Neo4j (its own store under bench/out/neo4j-graph-bench, a free port,
4g heap, 2g page cache) and stops it at the end.

1. Correctness: the world of --companies (seed 7), loaded and linked by veil's own linkage
   (cached in bench/out/graphrun-linked-N-S), written to the graph, control computed as of
   the truth's date, scored by world.graph_checks.score_control. Targets: beneficial-owner
   sets and actual controllers equal to truth for >= 99.5% of companies, look-through
   shares within 1e-6.
2. Speed: the world of --speed-companies with PERFECT ENTITIES (the truth's clustering,
   world.graph_checks.perfect_entities; linkage is too slow at that size and is not what
   is measured): first load into an empty graph (CREATE) and an idempotent re-load
   (MERGE; target >= 20,000 relationships/s), the same first load by bulk import
   (graph/bulk_load.py, `veil graph load --bulk`) into a second, empty local Neo4j
   (bench/out/neo4j-graph-bulk, removed afterwards; started beforehand as a user's would
   be: the import stops and restarts it), run_control for all companies (target < 2 min),
   `controls` latency over --queries random companies (target p95 < 50 ms) and
   `footprint` latency. The load average at the end says how busy the shared cores were.
   --verify-bulk re-loads the run over Bolt into the imported graph, which must create
   and delete nothing.

Prints MET / NOT MET per target and one JSON line for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import neo4j
import numpy as np
from bench_runs import SECRET, graph_run
from bench_worlds import OUT

from config.graph import load_graph_config
from config.progress import Update
from graph.analysis import run_control
from graph.bulk_load import bulk_load
from graph.facts import resolve_run
from graph.load import LoadSummary
from graph.load import load_run as load_graph
from graph.queries import controls, footprint
from graph.server.connection import open_driver
from graph.server.local import LocalServer, ServerConfig, free_port, start, stop
from world.graph_checks import TRUTH_AS_OF, format_control_scores, score_control

AGREEMENT_TARGET = 0.995
SHARE_TOLERANCE = 1e-6
REL_PER_SECOND_TARGET = 20_000
CONTROL_SECONDS_TARGET = 120.0
P95_TARGET_MS = 50.0
WARM_UP = 20  # queries run before timing: query plans and page cache warm


def _met(ok: bool) -> str:
    return "MET    " if ok else "NOT MET"


def correctness(
    driver: neo4j.Driver, companies: int, seed: int, habits: Path | None = None
) -> dict[str, Any]:
    """Linked run -> graph -> control -> scores against truth."""
    world, run = graph_run(companies, seed, "linked", habits=habits)
    summary = load_graph(driver, run, secret=SECRET)
    print(f"graph load {companies:,} (linked): {summary.seconds:.1f} s", flush=True)
    control = run_control(driver, load_graph_config().control, TRUTH_AS_OF)
    print(f"run_control: {sum(control.seconds.values()):.1f} s", flush=True)
    scores = score_control(driver, run, world, TRUTH_AS_OF)
    print(format_control_scores(scores))
    for example in scores["mismatch_examples"][:5]:
        print(f"    e.g. {json.dumps(example, ensure_ascii=False)}")
    checks = {
        f"beneficial-owner sets >= {AGREEMENT_TARGET:.1%}": scores["bo_set_agreement"]
        >= AGREEMENT_TARGET,
        f"controllers >= {AGREEMENT_TARGET:.1%}": scores["controller_agreement"]
        >= AGREEMENT_TARGET,
        f"look-through within {SHARE_TOLERANCE:g}": scores["look_through_max_difference"]
        <= SHARE_TOLERANCE,
        "every difference from entity resolution": set(scores["mismatch_reasons"])
        <= {"entity resolution"},
    }
    for text, ok in checks.items():
        print(f"  {_met(ok)}  {text}")
    return {"companies": companies, "scores": scores, "targets": checks}


def _node_rows(summary: LoadSummary) -> int:
    r = summary.resolved
    return r["persons"] + r["companies"] + r["punishments"] + r["list_entries"] + r["licences"]


def _timed_load(driver: neo4j.Driver, run: Path, what: str) -> dict[str, Any]:
    """One graph load with per-step seconds (from the progress callback)."""
    steps: dict[str, float] = {}
    last = [time.perf_counter()]

    def progress(update: Update) -> None:
        now = time.perf_counter()
        steps[update.stage] = steps.get(update.stage, 0.0) + now - last[0]
        last[0] = now

    summary = load_graph(driver, run, progress=progress, secret=SECRET)
    relationships = summary.rows - _node_rows(summary)
    out = {
        "mode": summary.mode,
        "seconds": round(summary.seconds, 1),
        "rows": summary.rows,
        "relationship_rows": relationships,
        "relationships_per_second": round(relationships / summary.seconds),
        "rows_per_second": round(summary.rows_per_second),
        "counters": summary.counters,
        "steps": {k: round(v, 1) for k, v in steps.items()},
    }
    print(
        f"{what} ({summary.mode}): {summary.seconds:.1f} s, {summary.rows:,} rows "
        f"({relationships:,} relationships): {out['relationships_per_second']:,} relationships/s, "
        f"{out['rows_per_second']:,} rows/s; created {summary.counters.get('nodes_created', 0):,}"
        f" nodes, {summary.counters.get('relationships_created', 0):,} relationships",
        flush=True,
    )
    print("   steps (s; the first includes resolving the run): " + json.dumps(out["steps"]))
    return out


def bulk(run: Path, first: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The first load again, by bulk import into a second local Neo4j (its own data dir)."""
    data_dir = OUT / "neo4j-graph-bulk"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    config = ServerConfig(
        data_dir=data_dir, port=free_port(), heap=args.heap, pagecache=args.pagecache, tx_max="2g"
    )
    servers = [start(config, watch_stdin=True)]  # running and empty, as a user's would be
    load_before = os.getloadavg()
    started = time.perf_counter()

    def progress(update: Update) -> None:
        if update.result:
            at = time.perf_counter() - started
            print(f"   {at:6.1f} s  {update.stage:<8} {update.result}", flush=True)

    try:
        imported = bulk_load(config, run, watch_stdin=True, progress=progress, secret=SECRET)
        servers.append(imported.server)
        summary = imported.summary
        relationships = summary.counters["relationships_created"]
        stages = {k: round(v, 1) for k, v in summary.stages.items()}
        without_resolve = summary.seconds - summary.stages["resolve"]
        out = {
            "mode": summary.mode,
            "seconds": round(summary.seconds, 1),
            "seconds_without_resolve": round(without_resolve, 1),
            "rows": summary.rows,
            "relationships": relationships,
            "relationships_per_second": round(relationships / summary.seconds),
            "relationships_per_second_without_resolve": round(relationships / without_resolve),
            "import_relationships_per_second": round(relationships / summary.stages["import"]),
            "counters": summary.counters,
            "stages": stages,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        }
        print(
            f"bulk import (first load, empty graph): {summary.seconds:.1f} s, "
            f"{relationships:,} relationships: {out['relationships_per_second']:,} rel/s "
            f"({out['relationships_per_second_without_resolve']:,} rel/s without resolving, "
            f"{without_resolve:.1f} s; the import stage alone "
            f"{out['import_relationships_per_second']:,} rel/s); created "
            f"{summary.counters['nodes_created']:,} nodes",
            flush=True,
        )
        print(
            f"   stages (s): {json.dumps(stages)}; load average {load_before} -> "
            f"{out['load_average_after']}"
        )
        same = all(
            summary.counters[k] == first["counters"][k]
            for k in ("nodes_created", "relationships_created")
        )
        out["same_counts_as_bolt"] = same
        if args.verify_bulk:
            with open_driver(imported.server.settings) as driver:
                again = load_graph(driver, run, secret=SECRET)
            out["bolt_reload_into_import"] = {
                "mode": again.mode,
                "seconds": round(again.seconds, 1),
                "counters": again.counters,
                "stale_deleted": again.stale_deleted,
            }
            reload = json.dumps(out["bolt_reload_into_import"])
            print(f"   Bolt re-load into the imported graph: {reload}")
            same = same and again.counters["nodes_created"] == 0
            same = same and again.counters["relationships_created"] == 0
            same = same and not again.stale_deleted
            out["bolt_reload_changes_nothing"] = same
    finally:
        stop(config)
        for server in servers:
            server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)  # 1.2 GB at 100k
    return out


def _latencies(call: Callable[[str], Any], refs: list[str]) -> dict[str, float]:
    for ref in refs[:WARM_UP]:
        call(ref)
    ms = []
    for ref in refs[WARM_UP:]:
        started = time.perf_counter()
        call(ref)
        ms.append((time.perf_counter() - started) * 1000)
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {
        "n": len(ms),
        "p50_ms": round(float(p50), 1),
        "p95_ms": round(float(p95), 1),
        "p99_ms": round(float(p99), 1),
        "max_ms": round(max(ms), 1),
    }


def speed(driver: neo4j.Driver, args: argparse.Namespace) -> dict[str, Any]:
    """Perfect-entities run: load twice, bulk import, control, query latency."""
    companies, seed, queries = args.speed_companies, args.seed, args.queries
    _, run = graph_run(companies, seed, "perfect")
    print(f"speed at {companies:,} companies, PERFECT ENTITIES (truth clustering, no linkage)")
    driver.execute_query("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")
    started = time.perf_counter()
    resolve_run(run, SECRET)
    resolve_seconds = time.perf_counter() - started
    print(f"resolve_run alone (no Neo4j): {resolve_seconds:.1f} s")
    first = _timed_load(driver, run, "first load (empty graph)")
    again = _timed_load(driver, run, "re-load (same run, idempotent)")
    imported = bulk(run, first, args)

    settings = load_graph_config().control
    summary = run_control(driver, settings, TRUTH_AS_OF)
    control_seconds = sum(summary.seconds.values())
    print(
        f"run_control: {control_seconds:.1f} s for {summary.companies:,} companies, "
        f"{summary.holdings:,} holdings, {summary.beneficial_owners:,} beneficial owners; "
        f"stages {json.dumps({k: round(v, 2) for k, v in summary.seconds.items()})}",
        flush=True,
    )

    records, _, _ = driver.execute_query("MATCH (c:Company) RETURN c.entity_id AS id")
    company_ids = sorted(r["id"] for r in records)
    records, _, _ = driver.execute_query("MATCH (p:Person) RETURN p.entity_id AS id")
    person_ids = sorted(r["id"] for r in records)
    rng = random.Random(seed)
    n = queries + WARM_UP
    controls_ms = _latencies(
        lambda ref: controls(driver, ref, settings, TRUTH_AS_OF), rng.sample(company_ids, n)
    )
    footprint_ms = _latencies(lambda ref: footprint(driver, ref), rng.sample(person_ids, n))
    print(f"controls latency over {controls_ms['n']} random companies: {json.dumps(controls_ms)}")
    print(f"footprint latency over {footprint_ms['n']} random persons: {json.dumps(footprint_ms)}")
    checks = {
        f"first load >= {REL_PER_SECOND_TARGET:,} relationships/s": first[
            "relationships_per_second"
        ]
        >= REL_PER_SECOND_TARGET,
        f"re-load >= {REL_PER_SECOND_TARGET:,} relationships/s": again["relationships_per_second"]
        >= REL_PER_SECOND_TARGET,
        f"bulk import (first load) >= {REL_PER_SECOND_TARGET:,} relationships/s": imported[
            "relationships_per_second"
        ]
        >= REL_PER_SECOND_TARGET,
        "bulk import: same nodes and relationships as the Bolt load": imported[
            "bolt_reload_changes_nothing" if args.verify_bulk else "same_counts_as_bolt"
        ],
        f"run_control < {CONTROL_SECONDS_TARGET:.0f} s": control_seconds < CONTROL_SECONDS_TARGET,
        f"controls p95 < {P95_TARGET_MS:.0f} ms": controls_ms["p95_ms"] < P95_TARGET_MS,
    }
    for text, ok in checks.items():
        print(f"  {_met(ok)}  {text}")
    print(f"load average at the end (other jobs share the cores): {os.getloadavg()}")
    return {
        "companies": companies,
        "entities": "perfect (truth clustering)",
        "load_average_at_end": os.getloadavg(),
        "resolve_seconds": round(resolve_seconds, 1),
        "first_load": first,
        "reload": again,
        "bulk_import": imported,
        "control": summary.as_dict() | {"divergent_companies": len(summary.divergent)},
        "control_seconds": round(control_seconds, 1),
        "controls_latency": controls_ms,
        "footprint_latency": footprint_ms,
        "targets": checks,
    }


def _jvm_peak_mib(server: LocalServer) -> float | None:
    """The Neo4j JVM's peak resident memory (VmHWM), while it still runs."""
    try:
        status = Path(f"/proc/{server.pid}/status").read_text()
    except OSError:
        return None
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), None)
    return int(line.split()[1]) / 1024 if line else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--companies", type=int, default=20_000, help="correctness world")
    parser.add_argument("--speed-companies", type=int, default=100_000, help="speed world")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--habits",
        type=Path,
        default=None,
        help="YAML of the world's agency habits (world/habits.py); default: its mix",
    )
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--heap", default="4g")
    parser.add_argument("--pagecache", default="2g")
    parser.add_argument("--skip-correctness", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument(
        "--verify-bulk",
        action="store_true",
        help="re-load the run over Bolt into the bulk-imported graph (must create nothing)",
    )
    args = parser.parse_args()

    data_dir = OUT / "neo4j-graph-bench"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    config = ServerConfig(
        data_dir=data_dir, port=free_port(), heap=args.heap, pagecache=args.pagecache, tx_max="2g"
    )
    started = time.perf_counter()
    server = start(config, watch_stdin=True)
    print(f"neo4j started in {time.perf_counter() - started:.1f} s on {server.uri}", flush=True)
    result: dict[str, Any] = {"bench": "graph", "seed": args.seed}
    try:
        with open_driver(server.settings) as driver:
            if not args.skip_speed:
                result["speed"] = speed(driver, args)
            if not args.skip_correctness:
                result["correctness"] = correctness(driver, args.companies, args.seed, args.habits)
        result["jvm_peak_rss_mib"] = _jvm_peak_mib(server)
    finally:
        server.stop()
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(
        f"peak RSS: python {result['peak_rss_mib']:,} MiB, "
        f"neo4j JVM {result['jvm_peak_rss_mib']} MiB"
    )
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
