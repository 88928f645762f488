"""The synthetic world through the real loader: every clean row accepted, every broken row
quarantined with the planted reason, and the mentions the loader made are exactly the
mentions the ground truth knows."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from loaders.run import load_run
from world.checks import compare_load_with_truth
from world.generate import generate_world

# Generates and loads worlds.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world_and_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    world = tmp_path_factory.mktemp("world")
    generate_world(600, 11, world)
    run = tmp_path_factory.mktemp("run")
    return world, run, load_run(world / "sources.yaml", run, secret=b"world-test")


def _keys(path: Path) -> set[tuple[str, str, str]]:
    table = pq.read_table(path, columns=["source", "record_id", "slot"]).to_pylist()
    return {(r["source"], r["record_id"], r["slot"]) for r in table}


def test_quarantine_is_exactly_the_planted_broken_rows(world_and_run):
    world, run, manifest = world_and_run
    check = compare_load_with_truth(run, world)
    assert check.differences == []
    assert check.expected_rows >= 9  # at least one of each planted kind
    reasons = {r for s in manifest["sources"].values() for r in s["quarantine_reasons"]}
    assert reasons >= {
        "missing_key",
        "duplicate_key",
        "wrong_column_count",
        "undecodable",
        "unparseable_json",
        "unparseable_date",
        "unparseable_ratio",
        "ratio_out_of_range",
        "missing_value",
    }
    for counts in manifest["sources"].values():
        assert counts["rows_read"] == counts["rows_accepted"] + counts["rows_quarantined"]


@pytest.mark.parametrize("kind", ["person", "company"])
def test_loaded_mentions_are_the_truths_mentions(world_and_run, kind: str):
    world, run, _ = world_and_run
    loaded = _keys(run / f"{kind}_mentions.parquet")
    truth = _keys(world / "truth" / f"{kind}_mentions.parquet")
    assert loaded == truth


def test_worker_processes_give_the_same_tables(world_and_run, tmp_path: Path):
    world, run, manifest = world_and_run
    parallel = load_run(world / "sources.yaml", tmp_path / "run", secret=b"world-test", workers=2)
    assert parallel["sources"] == manifest["sources"]
    assert parallel["tables"] == manifest["tables"]
    for name in manifest["tables"]:
        assert pq.read_table(tmp_path / "run" / f"{name}.parquet").equals(
            pq.read_table(run / f"{name}.parquet")
        ), name
