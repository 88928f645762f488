"""The alert endpoints through the real app against the session's Neo4j: the inbox paged
with its total, one alert with its evidence, reviews (the CLI's rules, the key as
reviewer), role and region boundaries, an audit row per request, concurrent reviews of
one alert, reads while a load and a sweep write, and a review outliving the app.

The graph: 李建国 (B) ran 旧食品 (X, Shanghai), whose food licence was revoked on T0; within
the five-year ban he became legal representative of a Shanghai food retailer (Y, F5221), a
Shanghai dairy (W, C1441) and a Beijing restaurant (Z, H6210): three art. 135 alerts in
two regions. 钱某 (L), legal representative of a company on the judgment-defaulter list,
set up a Beijing software company (E): a watch alert.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import neo4j
import pytest
from api_support import api_key, last_audit
from fastapi.testclient import TestClient
from graph_runs import RunBuilder, cid, pid

from alerts.answers import Alert, AlertPage
from alerts.store import sweep
from config.graph import load_graph_config
from config.rules import load_rules
from graph.load import load_run
from graph.server.connection import Neo4jSettings
from service import audit, keys
from service.api.app import KEY_HEADER, create_app
from service.keys import Principal, Role

AS_OF = date(2026, 10, 31)
T0 = date(2020, 5, 1)
SETTINGS = load_graph_config().control
RULES = load_rules()
#: Companies with an alert, and where they are.
ALERTED = {"Y": ("310115", "F5221"), "W": ("310104", "C1441"), "Z": ("110105", "H6210")}


def _world(with_newcomer: bool = False) -> RunBuilder:
    b = RunBuilder()
    b.company("X", "旧食品有限公司", region="310115", established=date(2010, 1, 1))
    b.person("B", "李建国", "110101********123X")
    b.legal_rep("B", "X", date(2012, 1, 1))
    b.punishment("X", "沪市监处〔2020〕1号", T0, ["licence_revocation"])
    names = {"Y": "新食品有限公司", "W": "新乳业有限公司", "Z": "北京新餐饮有限公司"}
    for key, (region, industry) in ALERTED.items():
        b.company(key, names[key], region=region, industry=industry, established=date(2022, 1, 1))
        b.legal_rep("B", key, date(2022, 1, 1))
    b.person("P", "张三", "310101********0011")
    b.holds("P", "Y", 0.7, date(2022, 1, 1))
    b.holds("B", "Y", 0.2, date(2022, 1, 1))  # under 25%: not a beneficial owner
    b.company("D", "欠债有限公司", region="110105", industry="C3130", established=date(2010, 1, 1))
    b.person("L", "钱某", "110101********1111")
    b.legal_rep("L", "D", date(2010, 1, 1))
    b.listed("D", date(2021, 1, 1))
    b.company(
        "E", "新设科技有限公司", region="110108", industry="I6510", established=date(2022, 1, 1)
    )
    b.legal_rep("L", "E", date(2022, 1, 1))
    if with_newcomer:  # last, so every earlier record keeps its ID
        b.company("N", "波次新设食品有限公司", region="310115", established=date(2024, 9, 1))
        b.legal_rep("B", "N", date(2024, 9, 1))
    return b


@pytest.fixture(scope="module")
def runs(neo4j_driver: neo4j.Driver, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The graph loaded from run A and swept; run B is A with one more alerted company."""
    neo4j_driver.execute_query("MATCH (n) DETACH DELETE n")
    root = tmp_path_factory.mktemp("api-alerts")
    out = {"A": _world().write(root / "a"), "B": _world(with_newcomer=True).write(root / "b")}
    load_run(neo4j_driver, out["A"])
    sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
    return out


@pytest.fixture(scope="module")
def api_graph(runs: dict[str, Path]) -> Path:
    """The app (conftest's `client`) serves run A, swept."""
    return runs["A"]


def _principal(headers: dict[str, str]) -> Principal:
    principal = keys.authenticate(headers[KEY_HEADER])
    assert principal is not None
    return principal


def _everything(client: TestClient, headers: dict[str, str], **filters: Any) -> AlertPage:
    answer = client.get("/alerts", params={"per_page": 200, **filters}, headers=headers)
    assert answer.status_code == 200, answer.text
    return AlertPage.model_validate(answer.json())


def _alert_at(client: TestClient, company: str) -> str:
    (found,) = [
        a.id
        for a in _everything(client, api_key(Role.REGULATOR)).alerts
        if a.company_id == cid(company)
    ]
    return found


def test_a_regulator_pages_through_every_alert(client: TestClient) -> None:
    headers = api_key(Role.REGULATOR)
    whole = _everything(client, headers)
    assert whole.total == len(whole.alerts) == 4
    assert {a.company_id for a in whole.alerts} == {cid(k) for k in (*ALERTED, "E")}
    assert {a.region_code[:2] for a in whole.alerts if a.region_code} == {"31", "11"}
    pages = [
        client.get("/alerts", params={"page": n, "per_page": 3}, headers=headers).json()
        for n in (1, 2, 3)
    ]
    assert [p["total"] for p in pages] == [4, 4, 4]
    assert [len(p["alerts"]) for p in pages] == [3, 1, 0]
    assert [a["id"] for p in pages for a in p["alerts"]] == [a.id for a in whole.alerts]
    assert "evidence" not in pages[0]["alerts"][0]  # a list shows summaries
    row = last_audit()
    assert row["action"] == "GET /alerts" and row["status"] == 200 and row["result_count"] == 0
    assert row["params"] == {"page": 3, "per_page": 3}


@pytest.mark.parametrize(
    ("filters", "companies"),
    [
        ({"region": "3101"}, {"Y", "W"}),
        ({"region": "11"}, {"Z", "E"}),
        ({"industry": "52"}, {"Y"}),
        ({"industry": "H62"}, {"Z"}),
        ({"rule": "judgment_defaulter_watch"}, {"E"}),
        ({"rule": "food_art135", "region": "110105"}, {"Z"}),
        ({"since": "2000-01-01"}, {"Y", "W", "Z", "E"}),
        ({"since": (date.today() + timedelta(days=2)).isoformat()}, set()),
    ],
)
def test_filters(client: TestClient, filters: dict[str, str], companies: set[str]) -> None:
    found = _everything(client, api_key(Role.REGULATOR), **filters)
    assert {a.company_id for a in found.alerts} == {cid(k) for k in companies}
    assert found.total == len(companies)


def test_a_status_filter_follows_the_reviews(client: TestClient) -> None:
    headers = api_key(Role.REGULATOR)
    target = _alert_at(client, "E")
    done = client.post(
        f"/alerts/{target}/review", json={"action": "confirm", "reason": ""}, headers=headers
    )
    assert done.status_code == 200, done.text
    confirmed = _everything(client, headers, status="confirmed")
    assert [a.id for a in confirmed.alerts] == [target]
    assert target not in {a.id for a in _everything(client, headers, status="new").alerts}


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"status": "open"}, 422),
        ({"since": "2026-13-45"}, 422),
        ({"per_page": 0}, 422),
        ({"per_page": 201}, 422),
        ({"page": 0}, 422),
        ({"page": 1_000_001}, 422),
        ({"industry": "Q99"}, 400),
        ({"region": "31x"}, 400),
    ],
)
def test_bad_filters_are_4xx_in_the_error_shape(
    client: TestClient, params: dict[str, Any], status: int
) -> None:
    headers = api_key(Role.REGULATOR)
    answer = client.get("/alerts", params=params, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == "bad_input"
    row = last_audit()  # refused before the endpoint ran or by it: audited alike
    assert (row["action"], row["status"]) == ("GET /alerts", status)
    assert row["key_id"] == _principal(headers).key_id
    assert all(str(row["params"][k]) == str(v) for k, v in params.items())


def test_one_alert_with_its_evidence_and_history(client: TestClient) -> None:
    headers = api_key(Role.REGULATOR)
    answer = client.get(f"/alerts/{_alert_at(client, 'Y')}", headers=headers)
    assert answer.status_code == 200, answer.text
    alert = Alert.model_validate(answer.json())
    evidence = alert.evidence
    assert evidence.rule.id == "food_art135" and "第一百三十五条" in evidence.rule.legal_basis
    assert evidence.trigger.reference == "沪市监处〔2020〕1号" and evidence.trigger.day == T0
    assert evidence.person.entity_id == pid("B") and evidence.person.id_masks
    assert [m.id for m in evidence.identity.old_mentions] == ["110101********123X"]
    assert evidence.window.start == T0 and evidence.window.end == date(2025, 5, 1)
    assert alert.history == [] and alert.status == "new"
    assert answer.json()["window_start"] == "2020-05-01"  # dates as ISO days
    assert last_audit()["params"] == {"alert": alert.id}
    missing = client.get("/alerts/Anope", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_an_inspector_sees_only_its_regions_and_industries(client: TestClient) -> None:
    food_shanghai = api_key(Role.INSPECTOR, regions=["310000"], industries=["F52"])
    inbox = _everything(client, food_shanghai)
    assert [a.company_id for a in inbox.alerts] == [cid("Y")] and inbox.total == 1
    assert _everything(client, food_shanghai, region="11").total == 0
    inside = client.get(f"/alerts/{_alert_at(client, 'Y')}", headers=food_shanghai)
    assert inside.status_code == 200, inside.text
    outside = client.get(f"/alerts/{_alert_at(client, 'W')}", headers=food_shanghai)
    unknown = client.get("/alerts/Anope", headers=food_shanghai)
    assert outside.status_code == unknown.status_code == 403
    assert outside.json() == unknown.json()
    assert last_audit()["status"] == 403


@pytest.mark.parametrize(
    "scope",
    [
        {"regions": ["310000"]},
        {"regions": ["310115"]},
        {"regions": ["110000"], "industries": ["H"]},
        {"regions": ["310000", "110100"], "industries": ["C14", "I"]},
        {"regions": ["440000"]},
    ],
)
def test_the_inbox_scope_is_the_keys_scope(client: TestClient, scope: dict[str, list[str]]) -> None:
    """The list's scope (a query filter) and one alert's (Principal.in_scope) agree."""
    everything = _everything(client, api_key(Role.REGULATOR)).alerts
    headers = api_key(Role.INSPECTOR, **scope)
    principal = _principal(headers)
    expected = {a.id for a in everything if principal.in_scope(a.region_code, a.industry_code)}
    inbox = _everything(client, headers)
    assert {a.id for a in inbox.alerts} == expected and inbox.total == len(expected)
    for a in everything:
        status = client.get(f"/alerts/{a.id}", headers=headers).status_code
        assert status == (200 if a.id in expected else 403)


def test_an_analyst_may_not_read_or_review_alerts(client: TestClient) -> None:
    headers = api_key(Role.ANALYST)
    target = _alert_at(client, "Z")
    for answer in (
        client.get("/alerts", headers=headers),
        client.get(f"/alerts/{target}", headers=headers),
        client.post(f"/alerts/{target}/review", json={"action": "confirm"}, headers=headers),
    ):
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
        assert last_audit()["status"] == 403
    assert last_audit()["action"] == "POST /alerts/{alert_id}/review"


def test_no_key_is_401_and_audited(client: TestClient) -> None:
    for answer in (
        client.get("/alerts"),
        client.post("/alerts/Anope/review", json={"action": "confirm"}),
        client.get("/alerts", headers={KEY_HEADER: "veil.nope.nope"}),
    ):
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorised"
        assert last_audit()["status"] == 401


def test_a_review_follows_the_cli_rules_and_records_the_key(client: TestClient) -> None:
    headers = api_key(Role.REGULATOR)
    principal = _principal(headers)
    target = _alert_at(client, "Z")
    url = f"/alerts/{target}/review"
    no_reason = client.post(url, json={"action": "dismiss", "reason": "  "}, headers=headers)
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["error"]["message"]
    assert last_audit()["status"] == 400
    for body in ({"action": "close"}, {"action": "confirm", "reviewer": "someone else"}, {}):
        refused = client.post(url, json=body, headers=headers)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "bad_input"
        row = last_audit()
        assert (row["action"], row["status"]) == ("POST /alerts/{alert_id}/review", 422)
        assert row["params"] == {"alert_id": target}
    half_a_pair = '{"action": "dismiss", "reason": "\\ud800"}'  # valid JSON, no valid text
    refused = client.post(
        url, content=half_a_pair, headers={**headers, "Content-Type": "application/json"}
    )
    assert refused.status_code == 422 and "unicode" in refused.json()["error"]["message"]
    done = client.post(
        url, json={"action": "dismiss", "reason": "已核实：同名不同人"}, headers=headers
    )
    assert done.status_code == 200, done.text
    alert = Alert.model_validate(done.json())
    assert alert.status == "dismissed" and alert.reason == "已核实：同名不同人"
    assert alert.reviewer == principal.reviewer and principal.key_id in alert.reviewer
    assert alert.history[-1].reviewer == principal.reviewer
    assert alert.history[-1].at == alert.reviewed_at
    row = last_audit()
    assert row["action"] == "POST /alerts/{alert_id}/review" and row["status"] == 200
    assert (
        row["params"] == {"alert": target, "action": "dismiss"}
        and row["key_id"] == principal.key_id
    )
    unknown = client.post("/alerts/Anope/review", json={"action": "confirm"}, headers=headers)
    assert unknown.status_code == 404


def test_an_inspector_reviews_inside_its_scope_only(client: TestClient) -> None:
    headers = api_key(Role.INSPECTOR, regions=["310000"], industries=["F52"])
    inside = client.post(
        f"/alerts/{_alert_at(client, 'Y')}/review", json={"action": "acknowledge"}, headers=headers
    )
    assert inside.status_code == 200, inside.text
    assert inside.json()["status"] == "acknowledged"
    beyond = _alert_at(client, "Z")
    regulator = api_key(Role.REGULATOR)
    history = client.get(f"/alerts/{beyond}", headers=regulator).json()["history"]
    outside = client.post(f"/alerts/{beyond}/review", json={"action": "confirm"}, headers=headers)
    unknown = client.post("/alerts/Anope/review", json={"action": "confirm"}, headers=headers)
    assert outside.status_code == unknown.status_code == 403
    assert outside.json() == unknown.json()
    assert client.get(f"/alerts/{beyond}", headers=regulator).json()["history"] == history


REVIEWERS = 12


def test_concurrent_reviews_of_one_alert_leave_one_consistent_history(client: TestClient) -> None:
    """Reviewers acting on one alert at once: every review lands, in the order the stamps
    say, each answer shows its own review last, and the status is the last entry's."""
    target = _alert_at(client, "W")
    url = f"/alerts/{target}/review"
    headers = [api_key(Role.REGULATOR) for _ in range(REVIEWERS)]
    before = len(client.get(f"/alerts/{target}", headers=headers[0]).json()["history"])
    actions = ["acknowledge", "confirm", "dismiss"]
    start = threading.Barrier(REVIEWERS)

    def act(i: int) -> Alert:
        start.wait()
        body = {"action": actions[i % 3], "reason": f"reviewer {i}"}
        answer = client.post(url, json=body, headers=headers[i])
        assert answer.status_code == 200, answer.text
        return Alert.model_validate(answer.json())

    with ThreadPoolExecutor(REVIEWERS) as pool:
        answers = list(pool.map(act, range(REVIEWERS)))
    for i, answer in enumerate(answers):
        assert answer.history[-1].reason == f"reviewer {i}"  # its own review, last
        assert answer.status == answer.history[-1].status
        assert answer.reviewer == _principal(headers[i]).reviewer
    final = Alert.model_validate(client.get(f"/alerts/{target}", headers=headers[0]).json())
    added = final.history[before:]
    assert len(added) == REVIEWERS
    assert sorted(e.reason for e in added) == sorted(f"reviewer {i}" for i in range(REVIEWERS))
    assert [e.at for e in added] == sorted(e.at for e in added)
    last = added[-1]
    assert (final.status, final.reason, final.reviewed_at) == (last.status, last.reason, last.at)
    # each answer saw exactly the reviews committed before it
    assert sorted(len(a.history) - before for a in answers) == list(range(1, REVIEWERS + 1))


def test_a_review_outlives_the_app(neo4j_server: Neo4jSettings, client: TestClient) -> None:
    """Reviewed through one app, read through a new one over the same Neo4j and VEIL_HOME."""
    headers = api_key(Role.REGULATOR)
    target = _alert_at(client, "Y")
    with TestClient(create_app(neo4j_server)) as first:
        done = first.post(
            f"/alerts/{target}/review",
            json={"action": "confirm", "reason": "现场核实"},
            headers=headers,
        )
        assert done.status_code == 200, done.text
    with TestClient(create_app(neo4j_server)) as second:
        again = second.get(f"/alerts/{target}", headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "confirmed" and again.json()["reason"] == "现场核实"
    assert again.json()["history"] == done.json()["history"]
    verdict = audit.verify()
    assert verdict.ok, verdict.message()


ROUNDS = 3


def test_reads_answer_whole_while_loads_and_sweeps_write(
    client: TestClient, neo4j_driver: neo4j.Driver, runs: dict[str, Path]
) -> None:
    """Readers ask for the inbox and for who controls Y while a writer loads run B (one
    more alert), sweeps, loads A back and sweeps, ROUNDS times. Every answer is 200 and
    whole: a list holds exactly the alerts its total counts, and the control of Y, which
    neither run changes, is the answer given before the writes."""
    headers = api_key(Role.REGULATOR)
    control_url = f"/companies/{cid('Y')}/control"
    baseline = client.get(control_url, params={"as_of": AS_OF.isoformat()}, headers=headers)
    assert baseline.status_code == 200 and baseline.json()["actual_controller"]["entity_id"] == pid(
        "P"
    )
    base_total = _everything(client, headers).total
    writing, readers_ready = threading.Event(), threading.Barrier(3)
    seen_totals: list[int] = []
    problems: list[str] = []

    def write() -> None:
        readers_ready.wait()
        try:
            for _ in range(ROUNDS):
                for run in ("B", "A"):
                    load_run(neo4j_driver, runs[run])
                    sweep(neo4j_driver, RULES, SETTINGS, AS_OF)
        finally:
            writing.clear()

    def read() -> int:
        readers_ready.wait()
        done = 0
        while writing.is_set():
            whole = client.get("/alerts", params={"per_page": 200}, headers=headers)
            second = client.get("/alerts", params={"per_page": 1, "page": 2}, headers=headers)
            control = client.get(control_url, params={"as_of": AS_OF.isoformat()}, headers=headers)
            for answer in (whole, second, control):
                if answer.status_code != 200:
                    problems.append(f"{answer.request.url}: {answer.status_code} {answer.text}")
            if whole.status_code == second.status_code == 200:
                page = whole.json()
                seen_totals.append(page["total"])
                if len(page["alerts"]) != page["total"]:
                    problems.append(f"{page['total']} counted, {len(page['alerts'])} listed")
                if len(second.json()["alerts"]) != min(1, second.json()["total"] - 1):
                    problems.append(f"page 2 of 1: {second.json()}")
            if control.status_code == 200 and control.json() != baseline.json():
                problems.append(f"control of Y changed: {control.json()}")
            done += 1
        return done

    writing.set()
    with ThreadPoolExecutor(3) as pool:
        writer = pool.submit(write)
        reads = [pool.submit(read) for _ in range(2)]
        writer.result()
        counts = [r.result() for r in reads]
    assert problems == []
    assert all(n >= 1 for n in counts)  # every reader answered while the writer wrote
    assert set(seen_totals) <= {base_total, base_total + 1}
    assert _everything(client, headers).total == base_total  # A loaded and swept last


def test_openapi_documents_the_alert_answers(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert {"/alerts", "/alerts/{alert_id}", "/alerts/{alert_id}/review"} <= set(document["paths"])
    schemas = document["components"]["schemas"]
    assert "from" in schemas["IdentityLink"]["properties"]  # the stored name, not from_
    assert "date" in schemas["EvidenceTrigger"]["properties"]
    listed = document["paths"]["/alerts"]["get"]["responses"]["200"]["content"]
    assert listed["application/json"]["schema"]["$ref"].endswith("/AlertPage")
