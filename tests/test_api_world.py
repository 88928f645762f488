"""The session's world (conftest.py) through the API: no answer, for any role, holds a full
resident ID, and no person's masks in an answer add up to one. The world's punishments
print birth-date masks (`******19900101****`) beside the courts' 6+4 ones, so a person
linked across both holds masks that, as the run directory keeps them, are the number."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import neo4j
import pytest
from fastapi.testclient import TestClient
from pii_scan import adding_up, full_ids
from shared_world import WORLD_SECRET

from config.graph import load_graph_config
from graph.analysis import run_control
from graph.load import load_run
from graph.server.connection import Neo4jSettings
from service import keys
from service.api.app import KEY_HEADER, create_app
from service.keys import Role
from world.graph_checks import TRUTH_AS_OF

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(
    neo4j_server: Neo4jSettings, neo4j_driver: neo4j.Driver, linked_run: Path
) -> Iterator[tuple[TestClient, neo4j.Driver]]:
    load_run(neo4j_driver, linked_run, secret=WORLD_SECRET)
    run_control(neo4j_driver, load_graph_config().control, TRUTH_AS_OF)
    with TestClient(create_app(neo4j_server)) as client:
        yield client, neo4j_driver


def _ids(driver: neo4j.Driver, query: str) -> list[str]:
    records, _, _ = driver.execute_query(query, routing_=neo4j.RoutingControl.READ)
    return [r["id"] for r in records]


def _shown(masks: list[str]) -> str:
    """The characters a person's masks show together, `*` where none does."""
    return "".join(
        next((m[i] for m in masks if len(m) == 18 and m[i] != "*"), "*") for i in range(18)
    )


def _masks(value: Any, found: dict[str, set[str]]) -> None:
    """Every person's masks anywhere in a JSON answer, by entity ID."""
    if isinstance(value, dict):
        if "id_masks" in value:
            found[value["entity_id"]].update(value["id_masks"])
        for v in value.values():
            _masks(v, found)
    elif isinstance(value, list):
        for v in value:
            _masks(v, found)


def test_no_answer_holds_or_adds_up_to_a_resident_id(
    world: tuple[TestClient, neo4j.Driver], linked_run: Path
) -> None:
    client, driver = world
    companies = _ids(driver, "MATCH (c:Company) RETURN c.entity_id AS id ORDER BY id")
    masked = _ids(
        driver, "MATCH (p:Person) WHERE size(p.id_masks) > 0 RETURN p.entity_id AS id ORDER BY id"
    )
    several = _ids(
        driver, "MATCH (p:Person) WHERE size(p.id_masks) > 1 RETURN p.entity_id AS id ORDER BY id"
    )
    # The world holds what the answers must not show: masks that are the number together.
    at_risk = adding_up(linked_run)
    assert at_risk and set(at_risk) <= set(several)
    regions = sorted(
        {r[:2] + "0000" for r in _ids(driver, "MATCH (c:Company) RETURN c.region_code AS id") if r}
    )
    # Every company as the regulator sees it, and the persons whose masks are most at risk;
    # the other roles see the same answers with less in them, so a quarter each.
    requests = {role: [f"/companies/{c}/control" for c in companies[::4]] for role in Role}
    requests[Role.REGULATOR] = [f"/companies/{c}/control" for c in companies]
    requests[Role.REGULATOR] += [f"/companies/{c}/risk" for c in companies[::3]]
    persons = sorted(set(several) | set(masked[::4]))
    requests[Role.REGULATOR] += [f"/persons/{p}/footprint" for p in persons]
    answered = 0
    for role, paths in requests.items():
        scope = {"regions": regions} if role == Role.INSPECTOR else {}
        _, key = keys.create(role, f"world {role}", **scope)
        masks: dict[str, set[str]] = defaultdict(set)
        for path in paths:
            response = client.get(path, params={"as_of": "2025-06-30"}, headers={KEY_HEADER: key})
            if role == Role.INSPECTOR and response.status_code == 403:
                continue  # a company without a region or industry is out of every scope
            assert response.status_code == 200, (path, response.text)
            assert full_ids(response.text) == [], path
            _masks(response.json(), masks)
            answered += 1
        together = {p: _shown(sorted(m)) for p, m in masks.items()}
        assert all("*" in shown for shown in together.values()), role
        assert masks, role
    assert answered > len(companies) + len(persons)
