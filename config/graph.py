"""The graph.yaml schema: control thresholds, load batch size and atomic cap, query reach.

Thresholds are law and policy, so they live in config. The default file sits next to this
module; `VEIL_GRAPH` or an explicit path points at another.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from config.settings import CONFIG_DIR, environment
from config.validated import Strict, load_validated

DEFAULT_GRAPH = CONFIG_DIR / "graph.yaml"


class Control(Strict):
    beneficial_owner_threshold: float = Field(0.25, gt=0.0, le=1.0)
    majority: float = Field(0.5, ge=0.5, lt=1.0)
    tolerance: float = Field(1e-12, gt=0.0, le=1e-6)
    max_paths: int = Field(20, ge=1, le=1000)


class Load(Strict):
    batch_size: int = Field(5000, ge=100, le=100_000)
    #: A load delta, control run or sweep of at most this many rows is written in one
    #: transaction (readers see all of it or none); a larger one in batches.
    atomic_rows: int = Field(250_000, ge=0, le=10_000_000)


class Queries(Strict):
    related_party_hops: int = Field(3, ge=1, le=6)


class GraphConfig(Strict):
    version: Literal[1] = 1
    control: Control = Control()
    load: Load = Load()
    queries: Queries = Queries()


def load_graph_config(path: Path | None = None) -> GraphConfig:
    """Read and validate graph.yaml (default: $VEIL_GRAPH, else the packaged file)."""
    if path is None:
        path = environment().graph or DEFAULT_GRAPH
    return load_validated(path, GraphConfig, "graph")
