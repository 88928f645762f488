"""Benchmark: does `veil link` finish, train and keep its quality on many worlds?

    .venv/bin/python bench/training_robustness.py               # seeds 1-20 at 2,000 + 3 at 20,000
    .venv/bin/python bench/training_robustness.py --seeds 1-3 --large 0

Each world is generated once under bench/out/ and loaded once; each link runs on a fresh
copy with no saved models (training on the run, as `veil link` does by default). The three
large worlds are bent into other habits after loading: as generated; no masked IDs and one
address for everyone; and few repeated mentions (the registry plus one row in fifty).

Prints per world: whether the link finished (a failure is printed, never hidden), the
training fixes (levels the data could not give, by comparison/level and the value's
source), pairwise precision and recall against the truth; then how many worlds needed a
fallback for each level, and one JSON line for docs/PERFORMANCE.md. Exits 1 when any link
failed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from bench_worlds import OUT, ensure_world

from loaders.run import load_run
from world.linkage_checks import ENTITY_COLUMNS, score_run
from world.skews import SCORABLE, as_generated, few_repeats, unmasked_one_address

LARGE = [(11, as_generated), (12, unmasked_one_address), (13, few_repeats)]


def loaded(companies: int, seed: int) -> Path:
    world = ensure_world(companies, seed)
    run = OUT / f"loaded-{companies}-{seed}"
    if not (run / "manifest.json").exists():
        shutil.rmtree(run, ignore_errors=True)
        load_run(world / "sources.yaml", run, secret=b"bench")
    return run


def link_one(companies: int, seed: int, habit: Callable[[Path], None]) -> dict:
    from linkage.run import link_run

    world = ensure_world(companies, seed)
    run = OUT / f"run-training-{companies}-{seed}-{habit.__name__}"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(loaded(companies, seed), run)
    habit(run)
    started = time.perf_counter()
    row: dict = {"companies": companies, "seed": seed, "habit": habit.__name__}
    try:
        link_run(run, models_dir=OUT / "no-saved-models")
    except Exception as exc:
        row["failed"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return row
    row["seconds"] = round(time.perf_counter() - started, 1)
    report = json.loads((run / "link_report.json").read_text(encoding="utf-8"))
    row["fixes"] = {
        kind: sorted(
            {
                f"{f['comparison']}/{f['level']} ({f['parameter']}: {f['source']})"
                for f in (report[kind].get("training") or {}).get("fixes", [])
            }
        )
        for kind in ("person", "company")
    }
    if habit not in SCORABLE:
        row["scores"] = None
    else:
        entities = pd.read_parquet(run / "entities.parquet", columns=ENTITY_COLUMNS)
        scores = score_run(run, world, entities)
        row["scores"] = {
            kind: {m: round(scores[kind][m], 5) for m in ("precision", "recall")}
            for kind in ("person", "company")
        }
    shutil.rmtree(run, ignore_errors=True)
    return row


def _seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(s) for s in text.split(",") if s]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--companies", type=int, default=2_000)
    parser.add_argument("--seeds", default="1-20")
    parser.add_argument("--large", type=int, default=20_000, help="0 to skip the large worlds")
    parser.add_argument("--large-seeds", default=",".join(str(s) for s, _ in LARGE))
    args = parser.parse_args()
    cases = [(args.companies, s, as_generated) for s in _seeds(args.seeds)]
    if args.large:
        wanted = set(_seeds(args.large_seeds))
        cases += [(args.large, s, habit) for s, habit in LARGE if s in wanted]
    rows = []
    for companies, seed, habit in cases:
        row = link_one(companies, seed, habit)
        rows.append(row)
        if "failed" in row:
            print(f"{companies:>7,} seed {seed:>2} {habit.__name__:<22} FAILED: {row['failed']}")
            continue
        s = row["scores"]
        quality = (
            "not scored (mentions removed)"
            if s is None
            else f"person P {s['person']['precision']:.4f} R {s['person']['recall']:.4f}  "
            f"company P {s['company']['precision']:.4f} R {s['company']['recall']:.4f}"
        )
        print(
            f"{companies:>7,} seed {seed:>2} {habit.__name__:<22} {row['seconds']:>6.1f} s  "
            f"{quality}  fixes {sum(len(v) for v in row['fixes'].values())}",
            flush=True,
        )
    finished = [r for r in rows if "failed" not in r]
    print(f"\nfinished {len(finished)} of {len(rows)}")
    levels: Counter[str] = Counter()
    for r in finished:
        for kind, fixes in r["fixes"].items():
            levels.update(f"{kind} {f}" for f in fixes)
    print("worlds that needed a fallback, per level:")
    for level, count in levels.most_common():
        print(f"  {count:>3} / {len(finished)}  {level}")
    print(json.dumps({"bench": "training_robustness", "rows": rows}, ensure_ascii=False))
    if len(finished) < len(rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
