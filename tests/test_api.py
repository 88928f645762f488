"""The HTTP API through the real app (FastAPI's test client over ASGI) against the
session's real Neo4j: keys and roles (401, 403 without saying whether a company exists),
the control answer, errors in one JSON shape, and an audit row for every request."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import neo4j
import pytest
from api_support import api_key, last_audit
from fastapi.testclient import TestClient
from graph_runs import RunBuilder, cid, pid

from config.errors import EnvironmentProblem
from config.graph import load_graph_config
from graph.queries import controls
from graph.server.connection import Neo4jSettings
from service import audit
from service.api.app import KEY_HEADER, create_app
from service.api.disclosure import printed
from service.keys import Role

SHANGHAI_FOOD = "310115"


@pytest.fixture(scope="module")
def api_world() -> RunBuilder:
    """A small graph: 甲 (Shanghai, food) held 70% by 张三; 乙 (Beijing) held by 甲."""
    b = RunBuilder()
    b.company("A", "甲食品有限公司", region=SHANGHAI_FOOD, industry="F5221")
    b.company("B", "乙贸易有限公司", region="110105", industry="F5191")
    b.person("P", "张三")
    b.holds("P", "A", 0.7)
    b.holds("A", "B", 0.6)
    return b


def test_health_and_readiness(client: TestClient) -> None:
    """Up, Neo4j answering; not ready to screen: this run has no saved models (a linked
    run's readiness is tests/test_screen.py's)."""
    assert client.get("/healthz").json() == {"status": "ok", "threads": 4}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    error = ready.json()["error"]
    assert error["code"] == "screening_unavailable" and "veil link" in error["message"]


def test_the_worker_threads_are_set_by_the_environment(
    neo4j_server: Neo4jSettings, api_graph: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VEIL_SERVE_THREADS (`veil serve --threads`) sizes the pool blocking requests run in."""
    monkeypatch.setenv("VEIL_SERVE_THREADS", "2")
    with TestClient(create_app(neo4j_server)) as app:
        assert app.get("/healthz").json() == {"status": "ok", "threads": 2}
    monkeypatch.setenv("VEIL_SERVE_THREADS", "0")
    with (
        pytest.raises(EnvironmentProblem, match="VEIL_SERVE_THREADS"),
        TestClient(create_app(neo4j_server)),
    ):
        pass


def test_no_key_or_a_wrong_key_is_401_and_audited(client: TestClient) -> None:
    missing = client.get(f"/companies/{cid('A')}/control")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorised"
    assert KEY_HEADER in missing.json()["error"]["message"]
    assert last_audit()["status"] == 401
    wrong = client.get(f"/companies/{cid('A')}/control", headers={KEY_HEADER: "veil.x.y"})
    assert wrong.status_code == 401


def test_a_regulator_reads_who_controls_a_company(client: TestClient) -> None:
    headers = api_key(Role.REGULATOR)
    answer = client.get(
        f"/companies/{cid('B')}/control", params={"as_of": "2026-01-01"}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["company"]["entity_id"] == cid("B")
    assert body["actual_controller"]["entity_id"] == pid("P")
    row = last_audit()
    assert row["action"] == "GET /companies/{ref}/control" and row["status"] == 200
    assert row["params"] == {"company": cid("B"), "as_of": "2026-01-01"}


def test_the_apis_control_answer_is_the_clis(
    client: TestClient, neo4j_driver: neo4j.Driver
) -> None:
    """The endpoint runs the control read on the async driver, the CLI on the sync one
    (graph/steps.py: one read, two drivers): by entity ID, USCC-less name (the name path
    reads the state in a statement of its own) and as of two days, the answers are equal."""
    headers = api_key(Role.REGULATOR)
    settings = load_graph_config().control
    for reference in (cid("A"), cid("B"), "甲食品有限公司", "乙贸易有限公司"):
        for as_of in (date(2026, 1, 1), date(2019, 1, 1)):
            api = client.get(
                f"/companies/{reference}/control",
                params={"as_of": as_of.isoformat()},
                headers=headers,
            )
            assert api.status_code == 200, api.text
            cli = printed(controls(neo4j_driver, reference, settings, as_of))
            assert api.json() == json.loads(cli.model_dump_json(by_alias=True))
    missing = client.get("/companies/丙有限公司/control", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_an_inspector_sees_its_region_only_and_cannot_tell_unknown_from_outside(
    client: TestClient,
) -> None:
    headers = api_key(Role.INSPECTOR, regions=["310000"], industries=["F52"])
    inside = client.get(f"/companies/{cid('A')}/control", headers=headers)
    assert inside.status_code == 200, inside.text
    outside = client.get(f"/companies/{cid('B')}/control", headers=headers)
    unknown = client.get("/companies/C000000000000/control", headers=headers)
    assert outside.status_code == unknown.status_code == 403
    assert outside.json() == unknown.json()
    # Its role reads control, not company records.
    assert client.get(f"/companies/{cid('A')}", headers=headers).status_code == 403


def test_errors_are_json_with_a_code_and_never_500(client: TestClient) -> None:
    headers = api_key(Role.REGULATOR)
    unknown = client.get("/companies/C000000000000/control", headers=headers)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    bad_day = client.get(
        f"/companies/{cid('A')}/control", params={"as_of": "2026-13-45"}, headers=headers
    )
    assert bad_day.status_code == 422 and bad_day.json()["error"]["code"] == "bad_input"
    found = client.get("/companies/甲食品有限公司", headers=headers)
    assert found.status_code == 200 and found.json()["region_code"] == SHANGHAI_FOOD


def test_the_audit_chain_holds_after_the_requests(client: TestClient, tmp_path: Path) -> None:
    client.get("/companies/" + cid("A"), headers=api_key(Role.ANALYST))
    verdict = audit.verify()
    assert verdict.ok, verdict.message()
    assert date.fromisoformat(str(last_audit()["time"])[:10]) <= date.today()


def test_a_person_footprint_is_for_regulators_only(client: TestClient) -> None:
    answer = client.get(f"/persons/{pid('P')}/footprint", headers=api_key(Role.REGULATOR))
    assert answer.status_code == 200, answer.text
    assert answer.json()["person"]["name"] == "张三"
    held = {h["entity_id"] for h in answer.json()["holdings"]}
    assert held == {cid("A")}
    for role in (Role.ANALYST, Role.INSPECTOR):
        scope = {"regions": ["310000"]} if role == Role.INSPECTOR else {}
        refused = client.get(f"/persons/{pid('P')}/footprint", headers=api_key(role, **scope))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert last_audit()["params"] == {"person": pid("P")}


def test_related_party_risk_checks_its_reach(client: TestClient) -> None:
    headers = api_key(Role.ANALYST)
    answer = client.get(f"/companies/{cid('B')}/risk", params={"hops": 2}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["company"] == cid("B") and answer.json()["related_companies"] == 1
    too_far = client.get(f"/companies/{cid('B')}/risk", params={"hops": 9}, headers=headers)
    assert too_far.status_code == 422 and too_far.json()["error"]["code"] == "bad_input"
    refused = last_audit()  # refused as malformed before the endpoint ran: audited all the same
    assert (refused["status"], refused["params"]) == (422, {"reference": cid("B"), "hops": "9"})


def _not_ready(app: TestClient) -> str:
    """The code /readyz answers 503 with."""
    ready = app.get("/readyz")
    assert ready.status_code == 503, ready.text
    code: str = ready.json()["error"]["code"]
    return code


@pytest.mark.slow
def test_neo4j_down_is_503_and_the_app_recovers_by_itself(tmp_path: Path, free_port: int) -> None:
    """A Neo4j of its own, stopped under a running app and started again: readiness and
    data requests answer 503 with the error shape meanwhile, then 200 with no restart."""
    from graph.server.local import ServerConfig, start

    config = ServerConfig(
        data_dir=tmp_path / "neo4j", port=free_port, heap="512m", pagecache="64m", tx_max="256m"
    )
    server = start(config, watch_stdin=True)
    try:
        with TestClient(create_app(server.settings)) as app:
            headers = api_key(Role.REGULATOR)
            # an empty graph: Neo4j answers, there is nothing to screen with
            assert _not_ready(app) == "screening_unavailable"
            server.stop()
            down = app.get("/readyz")
            assert down.status_code == 503, down.text
            assert down.json()["error"]["code"] == "graph_unavailable"
            assert server.settings.uri in down.json()["error"]["message"]
            lookup = app.get("/companies/C000000000000", headers=headers)
            assert lookup.status_code == 503
            control = app.get("/companies/C000000000000/control", headers=headers)  # async
            assert control.status_code == 503, control.text
            assert control.json()["error"]["code"] == "graph_unavailable"
            server = start(config, watch_stdin=True)
            assert _not_ready(app) == "screening_unavailable"
            assert app.get("/companies/C000000000000", headers=headers).status_code == 404
            after = app.get("/companies/C000000000000/control", headers=headers)
            assert after.status_code == 404, after.text
    finally:
        server.stop()
