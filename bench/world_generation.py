"""Benchmark `veil world`: seconds, rows per extract and peak memory per world size.

    .venv/bin/python bench/world_generation.py --companies 20000 100000

Each size runs in its own process so that its peak RSS is its own. Worlds are written
under bench/out/ (git-ignored). Prints a table per size and one JSON line for the docs.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from world.generate import generate_world

HERE = Path(__file__).resolve().parent

OUT = HERE / "out"


def one(companies: int, seed: int, keep: bool) -> None:
    out = OUT / f"world-{companies}-{seed}"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    summary = generate_world(companies, seed, out)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = {name: e["rows"] for name, e in summary.extracts.items()}
    print(f"{'extract':<22}{'rows':>12}")
    for name, n in rows.items():
        print(f"{name:<22}{n:>12,}")
    print(f"{'total':<22}{sum(rows.values()):>12,}")
    print(f"{companies:,} companies: {seconds:.1f} s, peak RSS {peak_mib:,.0f} MiB")
    print(
        json.dumps(
            {
                "bench": "world",
                "companies": companies,
                "people": summary.people,
                "seconds": round(seconds, 2),
                "peak_rss_mib": round(peak_mib),
                "rows": rows,
                "truth": summary.truth,
            }
        )
    )
    if not keep:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--companies", type=int, nargs="+", default=[20_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the worlds under bench/out/")
    args = parser.parse_args()
    if len(args.companies) == 1:
        one(args.companies[0], args.seed, args.keep)
        return
    for n in args.companies:
        cmd = [sys.executable, __file__, "--companies", str(n), "--seed", str(args.seed)]
        subprocess.run(cmd + (["--keep"] if args.keep else []), check=True)


if __name__ == "__main__":
    main()
