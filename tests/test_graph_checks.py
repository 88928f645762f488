"""Control in the graph against the world's ground truth, on the session's world (conftest.py).

With the truth's own clustering (perfect_entities) every difference would be a control
bug, so agreement must be exact; with real linkage the few differences must all come
from entity resolution. Each test loads its run first: the session's Neo4j is shared and
a load replaces the whole graph.
"""

from __future__ import annotations

from pathlib import Path

import neo4j
import pytest
from shared_world import WORLD_COMPANIES as COMPANIES
from shared_world import WORLD_SECRET

from config.graph import load_graph_config
from graph.analysis import run_control
from graph.load import load_run as load_graph
from world.graph_checks import (
    ENTITY_RESOLUTION,
    TRUTH_AS_OF,
    StaleControl,
    format_control_scores,
    perfect_entities,
    score_control,
)


def _scores(driver: neo4j.Driver, run: Path, world: Path) -> dict:
    load_graph(driver, run, secret=WORLD_SECRET)  # the shared runs' secret
    run_control(driver, load_graph_config().control, TRUTH_AS_OF)
    return score_control(driver, run, world, TRUTH_AS_OF)


def test_perfect_entities_give_the_truth_exactly(
    neo4j_driver: neo4j.Driver, world_dir: Path, loaded_run: Path, copy_run
):
    world = world_dir
    run = copy_run(loaded_run)  # the truth's entities are written into it
    perfect_entities(run, world)
    scores = _scores(neo4j_driver, run, world)
    print(format_control_scores(scores))
    assert scores["companies"] == COMPANIES
    assert scores["bo_set_agreement"] == 1.0
    assert scores["controller_agreement"] == 1.0
    assert scores["look_through_agreement"] == 1.0
    assert scores["look_through_pairs"] > COMPANIES / 2
    assert scores["mismatches"] == 0
    assert scores["linkage"] == {"unclean_companies": 0, "unclean_persons": 0}
    assert scores["split_holding_mentions"] == {"person": {}, "company": {}}
    with pytest.raises(StaleControl):
        score_control(neo4j_driver, run, world, TRUTH_AS_OF.replace(year=2020))


def test_real_linkage_differs_only_through_entity_resolution(
    neo4j_driver: neo4j.Driver, world_dir: Path, linked_run: Path
):
    scores = _scores(neo4j_driver, linked_run, world_dir)
    print(format_control_scores(scores))
    assert scores["bo_set_agreement"] >= 0.95
    assert scores["controller_agreement"] >= 0.95
    assert set(scores["mismatch_reasons"]) <= {ENTITY_RESOLUTION}
    assert all(e["unclean"] for e in scores["mismatch_examples"])
    if scores["mismatches"]:  # the split mentions behind them are counted
        assert sum(
            n for counts in scores["split_holding_mentions"].values() for n in counts.values()
        )
