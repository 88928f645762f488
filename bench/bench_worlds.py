"""Synthetic worlds shared by the benchmarks: generated once under bench/out/, then reused.

Generation runs in a child process so that a benchmark's own peak memory is its stage's
alone, not the generator's.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def world_tag(companies: int, seed: int, habits: Path | None = None) -> str:
    """How bench/out/ names a world and the runs made from it: N-SEED[-HABITS]."""
    return f"{companies}-{seed}" + (f"-{habits.stem}" if habits else "")


def ensure_world(companies: int, seed: int, habits: Path | None = None) -> Path:
    """The world for (companies, seed), written with the agency habits of the YAML file
    `habits` (world/habits.py; default: its realistic mix), under bench/out/, generated
    in a child process once."""
    world = OUT / f"world-{world_tag(companies, seed, habits)}"
    if not (world / "sources.yaml").exists():
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "service.cli",
                "world",
                "--companies",
                str(companies),
                "--seed",
                str(seed),
                "--out",
                str(world),
                *(["--habits", str(habits)] if habits else []),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"generated world in {time.perf_counter() - started:.1f} s: {world}", flush=True)
    return world
