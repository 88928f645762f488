"""Benchmark `veil load`: rows per second on a synthetic world, and peak memory.

    .venv/bin/python bench/load.py --companies 100000

Generates the world once under bench/out/ (reused when present) and times the load alone.
Prints a table and one JSON line for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time

from bench_worlds import OUT, ensure_world

from loaders.run import load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--companies", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: one per core for large loads)",
    )
    args = parser.parse_args()
    world = ensure_world(args.companies, args.seed)
    run = OUT / f"run-{args.companies}-{args.seed}"
    shutil.rmtree(run, ignore_errors=True)
    started = time.perf_counter()
    manifest = load_run(world / "sources.yaml", run, secret=b"bench", workers=args.workers)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows = manifest["totals"]["rows_read"]
    print(f"{'source':<22}{'rows read':>12}{'quarantined':>13}")
    for name, c in manifest["sources"].items():
        print(f"{name:<22}{c['rows_read']:>12,}{c['rows_quarantined']:>13,}")
    print(f"{'total':<22}{rows:>12,}")
    print(
        f"load: {seconds:.1f} s, {rows / seconds:,.0f} rows/s, peak RSS {peak_mib:,.0f} MiB "
        f"(largest worker {worker_mib:,.0f} MiB)"
    )
    print(
        json.dumps(
            {
                "bench": "load",
                "companies": args.companies,
                "rows": rows,
                "seconds": round(seconds, 2),
                "rows_per_second": round(rows / seconds),
                "peak_rss_mib": round(peak_mib),
                "worker_peak_rss_mib": round(worker_mib),
                "workers": args.workers,
                "tables": manifest["tables"],
            }
        )
    )


if __name__ == "__main__":
    main()
