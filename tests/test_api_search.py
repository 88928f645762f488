"""`GET /companies?q=` through the real app against the session's Neo4j: every form of a
company's name finds it (linkage's name keys, written by `veil link`, loaded onto the
Company nodes), exact matches rank first, pages add up to the total, a scoped key finds and
counts only its companies, and the search is audited with its query masked."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from api_support import api_key, last_audit
from fastapi.testclient import TestClient
from graph_runs import RunBuilder, cid
from pii_scan import full_ids
from typer.testing import CliRunner

from graph.server.connection import Neo4jSettings
from linkage.company_names import search_keys, standardise_company_name
from loaders.identifiers import make_resident_id
from service.cli import app
from service.keys import Role

USCC_A = "91310115MA1FL0001X"


@pytest.fixture(scope="module")
def api_world() -> RunBuilder:
    b = RunBuilder()
    b.company(
        "A",
        "上海星河食品有限公司",
        uscc=USCC_A,
        region="310115",
        established=date(2010, 1, 1),  # the registry's row: its name is the company's
        former_names=("上海银河食品有限公司",),
    )
    b.also_named("A", "SHANGHAI XINGHE FOOD CO., LTD.")  # a customs filing's name
    b.company("B", "北京星河贸易有限公司", region="110105", industry="F5191")
    b.company("C", "上海华丰食品有限公司", region="310101")
    b.company("D", "上海金龙餐饮有限公司", region="310104", industry="H6210")
    b.company("E", "上海华丰食品有限公司第一分店", region="310101")
    return b


def _search(client: TestClient, q: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/companies", params={"q": q, **params}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _found(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(h["company"]["entity_id"], h["match"]) for h in body["hits"]]


@pytest.mark.parametrize(
    ("query", "company", "match"),
    [
        ("上海星河食品有限公司", "A", "name"),
        ("星河食品（上海）有限公司", "A", "name"),  # bracketed region, full-width
        ("星河食品(上海)有限公司", "A", "name"),  # half-width
        ("上海市星河食品有限责任公司", "A", "name"),  # 上海市, 有限责任公司
        ("上海银河食品有限公司", "A", "name"),  # its former name
        ("SHANGHAI XINGHE FOOD CO., LTD.", "A", "name"),  # the romanised name its records give
        ("Shanghai Xinghe Food Co Ltd", "A", "name"),
        (USCC_A, "A", "code"),
        (USCC_A.lower(), "A", "code"),
        (cid("A"), "A", "code"),
        ("上海華豐食品有限公司", "C", "name"),  # traditional characters
        ("SHANGHAI JINLONG CATERING CO., LTD.", "D", "sound"),  # romanised, never on record
        ("上海金隆餐饮有限公司", "D", "sound"),  # a same-sound slip
    ],
)
def test_every_form_of_a_name_finds_its_company_first(
    client: TestClient, query: str, company: str, match: str
) -> None:
    body = _search(client, query, api_key(Role.REGULATOR))
    assert _found(body)[0] == (cid(company), match), body


def test_exact_matches_rank_before_sounds_and_parts(client: TestClient) -> None:
    headers = api_key(Role.REGULATOR)
    # C by its name; E, its branch, sounds the same in the same region.
    body = _search(client, "上海华丰食品有限公司", headers)
    assert _found(body) == [(cid("C"), "name"), (cid("E"), "sound")]
    assert body["total"] == 2
    # A trade name alone: both 星河 by sound (by name), then a part of a name.
    assert _found(_search(client, "星河", headers)) == [(cid("A"), "sound"), (cid("B"), "sound")]
    assert _found(_search(client, "食品有限公司第一", headers)) == [(cid("E"), "partial")]


def test_pages_add_up_to_the_total(client: TestClient) -> None:
    headers = api_key(Role.ANALYST)
    first = _search(client, "食品", headers, per_page=2)
    assert first["total"] == 3 and first["page"] == 1 and first["per_page"] == 2
    second = _search(client, "食品", headers, per_page=2, page=2)
    beyond = _search(client, "食品", headers, per_page=2, page=3)
    assert beyond["total"] == 3 and beyond["hits"] == []
    found = _found(first) + _found(second)
    assert sorted(found) == sorted((cid(k), "partial") for k in ("A", "C", "E"))


def test_a_scoped_key_finds_and_counts_only_its_companies(client: TestClient) -> None:
    everyone = _search(client, "星河", api_key(Role.REGULATOR))
    assert everyone["total"] == 2
    shanghai = _search(client, "星河", api_key(Role.INSPECTOR, regions=["310000"]))
    assert shanghai["total"] == 1 and _found(shanghai) == [(cid("A"), "sound")]
    catering = api_key(Role.INSPECTOR, regions=["310000"], industries=["H"])
    assert _search(client, "食品", catering)["total"] == 0
    assert _found(_search(client, "金龙", catering)) == [(cid("D"), "sound")]
    # Nor does it learn a company outside its scope by its code.
    assert _search(client, USCC_A, catering) == {"total": 0, "page": 1, "per_page": 20, "hits": []}


def test_the_search_is_audited_with_its_query_masked(client: TestClient) -> None:
    number = make_resident_id("110101", date(1980, 5, 17), 123)
    response = client.get("/companies", params={"q": number}, headers=api_key(Role.ANALYST))
    assert response.status_code == 200 and full_ids(response.text) == []
    row = last_audit()
    assert row["action"] == "GET /companies" and row["status"] == 200
    assert row["params"]["q"].startswith("110101********") and full_ids(json.dumps(row)) == []


def test_bad_input_is_4xx_and_hostile_text_is_data(client: TestClient) -> None:
    headers = api_key(Role.REGULATOR)
    for params in ({}, {"q": ""}, {"q": "星河", "per_page": 0}, {"q": "星河", "page": 0}):
        refused = client.get("/companies", params=params, headers=headers)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "bad_input"
    for text in ("' OR 1=1 //", "a|b", "|", "$keys", "*", "   "):
        assert _search(client, text, headers)["total"] == 0
    assert client.get("/companies", params={"q": "星河"}).status_code == 401


def test_the_forms_of_a_name_give_one_set_of_keys() -> None:
    forms = ["上海星河食品有限公司", "星河食品（上海）有限公司", "上海市星河食品有限责任公司"]
    keys = [search_keys(standardise_company_name(f)) for f in forms]
    found = {(k.key, k.sound, k.regional_sound) for k in keys}
    assert found == {("上海星河食品有限公司", "xinghe", "上海 xinghe")}
    romanised = search_keys(standardise_company_name("SHANGHAI XINGHE FOOD CO., LTD."))
    assert romanised.key.startswith("@") and romanised.regional_sound == "上海 xinghe"


def test_veil_find_company(
    client: TestClient, neo4j_server: Neo4jSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEO4J_URI", neo4j_server.uri)
    monkeypatch.setenv("NEO4J_USER", neo4j_server.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_server.password)
    runner = CliRunner()
    shown = runner.invoke(app, ["find-company", "星河食品（上海）有限公司"])
    assert shown.exit_code == 0, shown.output
    assert "1 companies found" in shown.output and "上海星河食品有限公司" in shown.output
    as_json = runner.invoke(app, ["find-company", "食品", "--per-page", "1", "--json"])
    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.output)
    assert body["total"] == 3 and len(body["hits"]) == 1
