"""Linked runs shared by the graph and alert benchmarks, prepared once under bench/out/.

A run is the world of (companies, seed) loaded by veil, with entities either `linked` by
veil's own linkage or `perfect` (the truth's clustering, for timing the graph without
linkage). It is prepared in a child process, so a benchmark's peak memory is its own
stage's alone.
"""

from __future__ import annotations

import multiprocessing
import shutil
import time
from pathlib import Path

from bench_worlds import OUT, ensure_world, world_tag

#: The ID-token secret the runs are loaded with: the graph loads and the screener take it too
#: (a graph load refuses a run loaded with another secret than its own).
SECRET = b"bench"


def _prepare(companies: int, seed: int, kind: str, habits: Path | None) -> None:
    from linkage.run import link_run
    from loaders.run import load_run
    from world.graph_checks import perfect_entities

    world = ensure_world(companies, seed, habits)
    run = OUT / f"graphrun-{kind}-{world_tag(companies, seed, habits)}"
    shutil.rmtree(run, ignore_errors=True)
    started = time.perf_counter()
    load_run(world / "sources.yaml", run, secret=SECRET)
    print(f"veil load {companies:,}: {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    if kind == "linked":
        link_run(run, models_dir=run / "no-saved-models")  # trained on this run
    else:
        perfect_entities(run, world)
    print(f"entities ({kind}): {time.perf_counter() - started:.1f} s", flush=True)


def graph_run(
    companies: int, seed: int, kind: str, fresh: bool = False, habits: Path | None = None
) -> tuple[Path, Path]:
    """(world, run with entities) for `kind` "linked" or "perfect", cached under bench/out/
    (`fresh`: prepared again, e.g. to link with the current code; `habits`: the world's
    agency habits, see bench_worlds.ensure_world)."""
    world = ensure_world(companies, seed, habits)
    run = OUT / f"graphrun-{kind}-{world_tag(companies, seed, habits)}"
    if fresh or not (run / "entities.parquet").is_file():
        child = multiprocessing.get_context("spawn").Process(
            target=_prepare, args=(companies, seed, kind, habits)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            raise RuntimeError(f"preparing {run} failed (exit code {child.exitcode})")
    return world, run
