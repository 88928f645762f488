"""The synthetic world through the real loader: every clean row accepted, every broken row
quarantined with the planted reason, and the mentions the loader made are exactly the
mentions the ground truth knows."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from shared_world import WORLD_SECRET

from loaders.run import load_run
from world.checks import compare_load_with_truth

# Loads the session's world (conftest.py) again, with worker processes.
pytestmark = pytest.mark.slow


@pytest.fixture
def world_and_run(
    world_dir: Path, loaded_run: Path, load_manifest: dict
) -> tuple[Path, Path, dict]:
    """The session's world, its loaded run and the load's manifest."""
    return world_dir, loaded_run, load_manifest


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
    parallel = load_run(world / "sources.yaml", tmp_path / "run", secret=WORLD_SECRET, workers=2)
    assert parallel["sources"] == manifest["sources"]
    assert parallel["tables"] == manifest["tables"]
    for name in manifest["tables"]:
        assert pq.read_table(tmp_path / "run" / f"{name}.parquet").equals(
            pq.read_table(run / f"{name}.parquet")
        ), name
