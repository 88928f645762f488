"""Benchmark the alert sweep: accuracy against the world's true alerts, then speed.

    .venv/bin/python bench/alerts_bench.py --companies 20000 --speed-companies 100000

Starts a throwaway Neo4j (its own store under bench/out/neo4j-alerts-bench, a free port,
4g heap, 2g page cache) and stops it at the end.

1. Accuracy: the world of --companies (seed 7), loaded and linked by veil's own linkage
   (cached in bench/out/graphrun-linked-N-S; --relink redoes it with the current linkage),
   written to the graph, swept with config/rules.yaml as of the truth's date, and the art.
   135 alerts scored by world.alert_checks.score_alerts: recall per variant (direct legal
   rep, via holding company, officer, name variant, and ordinary cases by role),
   precision, and alerts per near-miss kind. Targets: recall >= 0.98, precision >= 0.95,
   zero alerts on every near-miss kind.
2. Speed: the world of --speed-companies with PERFECT ENTITIES (the truth's clustering;
   linkage is not what is measured), loaded into an empty graph, then a full sweep of
   every rule, twice (the second finds every alert already stored). Target: < 60 s.

Prints MET / NOT MET per target and one JSON line for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import shutil
from pathlib import Path
from typing import Any

import neo4j
from bench_runs import SECRET, graph_run
from bench_worlds import OUT

from alerts.store import list_alerts, sweep
from config.graph import load_graph_config
from config.rules import load_rules
from graph.load import load_run as load_graph
from graph.server.connection import open_driver
from graph.server.local import ServerConfig, free_port, start
from world.alert_checks import format_alert_scores, score_alerts
from world.graph_checks import TRUTH_AS_OF

RECALL_TARGET = 0.98
PRECISION_TARGET = 0.95
SWEEP_SECONDS_TARGET = 60.0


def _met(ok: bool) -> str:
    return "MET    " if ok else "NOT MET"


def _empty(driver: neo4j.Driver) -> None:
    with driver.session() as session:  # CALL ... IN TRANSACTIONS needs an implicit transaction
        session.run(
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()


def _sweep(driver: neo4j.Driver, profile: bool) -> Any:
    """One full sweep as of the truth's date; with `profile`, the 25 costliest calls."""
    rules, settings = load_rules(), load_graph_config().control
    if not profile:
        return sweep(driver, rules, settings, TRUTH_AS_OF)
    profiler = cProfile.Profile()
    summary = profiler.runcall(sweep, driver, rules, settings, TRUTH_AS_OF)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return summary


def accuracy(
    driver: neo4j.Driver,
    companies: int,
    seed: int,
    relink: bool,
    profile: bool,
    habits: Path | None = None,
) -> dict[str, Any]:
    world, run = graph_run(companies, seed, "linked", fresh=relink, habits=habits)
    _empty(driver)
    loaded = load_graph(driver, run, secret=SECRET)
    print(f"graph load {companies:,} (linked by veil): {loaded.seconds:.1f} s", flush=True)
    summary = _sweep(driver, profile)
    print(f"sweep: {summary.seconds['total']:.1f} s; raised {summary.raised}", flush=True)
    print(f"identity conflicts (not raised): {len(summary.identity_conflicts)}")
    scores = score_alerts(list_alerts(driver), run, world)
    print(format_alert_scores(scores))
    for example in scores["missed_examples"][:5]:
        print(f"    missed: {json.dumps(example, ensure_ascii=False)}")
    for example in scores["false_examples"][:5]:
        print(f"    false:  {json.dumps(example, ensure_ascii=False)}")
    checks = {
        f"recall >= {RECALL_TARGET}": scores["recall"] >= RECALL_TARGET,
        f"precision >= {PRECISION_TARGET}": scores["precision"] >= PRECISION_TARGET,
        "no near miss alerts": all(v["alerted"] == 0 for v in scores["near_misses"].values()),
    }
    for text, ok in checks.items():
        print(f"  {_met(ok)}  {text}")
    return {
        "companies": companies,
        "scores": scores,
        "targets": checks,
        "sweep": summary.as_dict() | {"new": len(summary.new)},
    }


def speed(driver: neo4j.Driver, companies: int, seed: int, profile: bool) -> dict[str, Any]:
    _, run = graph_run(companies, seed, "perfect")
    print(f"speed at {companies:,} companies, PERFECT ENTITIES (truth clustering, no linkage)")
    _empty(driver)
    loaded = load_graph(driver, run, secret=SECRET)
    print(f"graph load: {loaded.seconds:.1f} s", flush=True)
    sweeps = []
    for what in ("first sweep", "re-run"):
        s = _sweep(driver, profile and what == "first sweep")
        print(
            f"{what}: {s.seconds['total']:.1f} s ({json.dumps(s.seconds)}); triggers "
            f"{s.triggers}, persons reached {s.reached}, raised {s.raised}, new {len(s.new)}",
            flush=True,
        )
        sweeps.append({k: round(v, 1) for k, v in s.seconds.items()} | {"raised": s.raised})
    ok = max(s["total"] for s in sweeps) < SWEEP_SECONDS_TARGET
    print(f"  {_met(ok)}  full sweep < {SWEEP_SECONDS_TARGET:.0f} s")
    return {"companies": companies, "sweeps": sweeps, "target_met": ok}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=20_000)
    parser.add_argument("--speed-companies", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--habits",
        type=Path,
        default=None,
        help="YAML of the world's agency habits (world/habits.py); default: its mix",
    )
    parser.add_argument("--relink", action="store_true", help="link the accuracy run again")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--profile", action="store_true", help="profile the (first) sweeps")
    args = parser.parse_args()

    store = OUT / "neo4j-alerts-bench"
    shutil.rmtree(store, ignore_errors=True)
    server = start(
        ServerConfig(data_dir=store, port=free_port(), heap="4g", pagecache="2g"),
        watch_stdin=True,
    )
    result: dict[str, Any] = {"machine": "2 cores, 24 GiB"}
    try:
        with open_driver(server.settings) as driver:
            if not args.skip_accuracy:
                result["accuracy"] = accuracy(
                    driver, args.companies, args.seed, args.relink, args.profile, args.habits
                )
            if not args.skip_speed:
                result["speed"] = speed(driver, args.speed_companies, args.seed, args.profile)
    finally:
        server.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["peak_rss_mib"] = round(peak)
    print(f"peak RSS (this process): {peak:,.0f} MiB")
    print(json.dumps(result, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
