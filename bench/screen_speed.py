"""Benchmark the licence counter's screener alone: Screener.screen per application, in-process.

    .venv/bin/python bench/screen_speed.py --companies 2000 [--applications 500] [--rounds 5]
    .venv/bin/python bench/screen_speed.py --companies 100000 --save before.pkl
    .venv/bin/python bench/screen_speed.py --companies 100000 --compare before.pkl

The linked run bench/out/graphrun-linked-N-S (bench/bench_runs.py; loaded with the ID
secret "bench", which this process uses too) and a Screener built over it as `veil serve`
builds one (linkage.yaml's screening policy). The applications are the first
--applications of bench/api.py's `POST /screen` pool: three of the world's real persons
(full ID, the courts' 6+4 mask, a 4+4 mask or none), a real company by USCC or a new one
by name. They are screened once to warm up, then --rounds times back to back on one
thread; per call the wall time and this process's CPU time are taken.

Prints mean / p50 / p95 ms per call and calls per second (wall and CPU), over every call
of every round; the process's resident memory once the screener is built; one JSON line
for docs/PERFORMANCE.md. The CPU figures are the steadier on a shared machine: the wall
time counts the turns other processes take. --save writes the answers (Screened:
candidates, probabilities, levels, order; the applicants' feature rows) to a pickle;
--compare checks them against one saved before, probabilities and weights to 1e-9,
everything else equal, and exits 1 naming the first difference.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from api import _requests
from bench_runs import SECRET
from bench_worlds import OUT, world_tag

from config.linkage import load_linkage_config
from linkage.screen import Screened, Screener, ScreenRequest

TOLERANCE = 1e-9


def _applications(world: Path, seed: int, count: int) -> list[ScreenRequest]:
    """The first `count` applications of bench/api.py's pool, as the endpoint parses them."""
    pool = _requests(world, seed)["screen"][:count]
    return [ScreenRequest.model_validate_json(body or b"") for _, _, body in pool]


def _value(value: Any) -> Any:
    """A feature value as plain Python (numpy's scalars and arrays as Python's)."""
    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value


def _plain(screened: Screened) -> dict[str, Any]:
    """An answer as comparable data."""
    rows = [{k: _value(v) for k, v in row.items()} for row in screened.rows]
    return {"answer": screened.answer.model_dump(), "rows": rows}


def _difference(before: Any, after: Any, where: str = "") -> str | None:
    """Where two answers differ (floats beyond TOLERANCE), or None."""
    if isinstance(before, float) and isinstance(after, float):
        if math.isnan(before) and math.isnan(after):
            return None
        return None if abs(before - after) <= TOLERANCE else f"{where}: {before!r} != {after!r}"
    if type(before) is not type(after):
        return f"{where}: {type(before).__name__} != {type(after).__name__}"
    if isinstance(before, dict):
        if before.keys() != after.keys():
            return f"{where}: keys {sorted(before)} != {sorted(after)}"
        for key in before:
            found = _difference(before[key], after[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(before, list):
        if len(before) != len(after):
            return f"{where}: {len(before)} items != {len(after)}"
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            found = _difference(b, a, f"{where}[{i}]")
            if found:
                return found
        return None
    return None if before == after else f"{where}: {before!r} != {after!r}"


def _rss_mib() -> float:
    """This process's resident memory (the screener built, its child gone)."""
    status = Path("/proc/self/status").read_text()
    return round(
        next(int(s.split()[1]) for s in status.splitlines() if s.startswith("VmRSS")) / 1024, 1
    )


def _figures(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        "mean_ms": round(float(ms.mean()), 3),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "calls_per_second": round(len(ms) / float(ms.sum()) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--applications", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5, help="timed passes over the pool")
    parser.add_argument("--save", type=Path, help="write the answers to this pickle")
    parser.add_argument("--compare", type=Path, help="check the answers against this pickle")
    args = parser.parse_args()

    tag = world_tag(args.companies, args.seed)
    world, run = OUT / f"world-{tag}", OUT / f"graphrun-linked-{tag}"
    if not (run / "entities.parquet").is_file() or not (world / "truth").is_dir():
        sys.exit(f"no linked run {run} or world {world}: run bench/api.py --companies N once")
    applications = _applications(world, args.seed, args.applications)
    started = time.perf_counter()
    screener = Screener(run, load_linkage_config().screening, SECRET)
    built = time.perf_counter() - started
    rss = _rss_mib()
    print(
        f"screener over {run.name}: {screener.mentions:,} mentions, built in {built:.1f} s, "
        f"process {rss} MiB"
    )

    answers = [_plain(screener.screen(a)) for a in applications]  # warm-up, and the answers
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(args.rounds):
        for application in applications:
            w, c = time.perf_counter(), time.process_time()
            screener.screen(application)
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - w)
    result: dict[str, Any] = {
        "bench": "screen_speed",
        "companies": args.companies,
        "mentions": screener.mentions,
        "build_seconds": round(built, 1),
        "rss_mib": rss,
        "applications": len(applications),
        "calls": len(wall),
        "pairs_scored_per_call": round(
            sum(p["scored_mentions"] for a in answers for p in a["answer"]["persons"])
            / len(answers),
            1,
        ),
        "wall": _figures(wall),
        "cpu": _figures(cpu),
        "load_average": round(os.getloadavg()[0], 1),
    }
    for kind in ("wall", "cpu"):
        f = result[kind]
        print(
            f"{kind:>4}: mean {f['mean_ms']} ms, p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms, "
            f"{f['calls_per_second']} calls/s"
        )
    if args.save:
        args.save.write_bytes(pickle.dumps(answers))
        print(f"answers saved to {args.save}")
    if args.compare:
        saved = pickle.loads(args.compare.read_bytes())
        found = _difference(saved, answers, "answers")
        print(f"answers against {args.compare}: {found or 'identical'}")
        if found:
            print(json.dumps(result, ensure_ascii=False))
            sys.exit(1)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
