"""`POST /screen`, the licence counter, through the real app against the session's world
(conftest.py: `linked_run` loaded into the session's Neo4j), with the world's truth:
a banned person is found and their ban shown, by full ID and by masked ID; their name
alone, or a namesake with their own ID, is never presented as the banned person; the
roles and an inspector's scope; the audit row and the answer hold no full resident ID;
malformed applications are 4xx that say what to fix; no saved models is 503."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import neo4j
import pandas as pd
import pytest
from api_support import api_key, last_audit
from fastapi.testclient import TestClient
from shared_world import WORLD_SECRET

from graph.load import load_run
from graph.server.connection import Neo4jSettings
from linkage import models
from linkage.screen import BLOCKS, CONTEXT_BLOCK
from loaders import rundir
from loaders.identifiers import make_resident_id
from service import audit
from service.api.app import create_app
from service.keys import Role

pytestmark = pytest.mark.slow

#: The world's own day (world/calendar.py REF_DATE): its bans are dated around it.
AS_OF = date(2026, 10, 31)
ART135 = "food_art135"


@pytest.fixture(scope="module")
def client(
    neo4j_server: Neo4jSettings, neo4j_driver: neo4j.Driver, linked_run: Path
) -> Iterator[TestClient]:
    """The app over the session's world, its screener built from the graph's last load
    (the IDs were tokenised with the world's secret, so the app uses it too)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VEIL_ID_SECRET", WORLD_SECRET.decode())
        load_run(neo4j_driver, linked_run)
        with TestClient(create_app(neo4j_server)) as test_client:
            yield test_client


@pytest.fixture(scope="module")
def truth(world_dir: Path) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_parquet(world_dir / "truth" / f"{name}.parquet")
        for name in ("persons", "bans", "near_misses", "companies")
    }


def _masked(id18: str) -> str:
    """As the courts print it: first 6, 8 stars, last 4."""
    return id18[:6] + "*" * 8 + id18[-4:]


def _application(*persons: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An application for a company not yet registered, in Shanghai's Pudong."""
    return {
        "company_name": "新开张食品有限公司",
        "region_code": "310115",
        "as_of": AS_OF.isoformat(),
        **{k: v.isoformat() if isinstance(v, date) else v for k, v in fields.items()},
        "persons": list(persons),
    }


def _bans(truth: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The world's art. 135 bans with the banned person's name and ID, and a day a year
    into each ban (`during`: the world's bans all lie before its own day)."""
    bans = truth["bans"].assign(
        decision_date=lambda b: pd.to_datetime(b["decision_date"]).dt.date,
        ban_end=lambda b: pd.to_datetime(b["ban_end"]).dt.date,
    )
    bans["during"] = [d + timedelta(days=365) for d in bans["decision_date"]]
    return bans.merge(truth["persons"], left_on="person_id", right_on="true_person_id")


def _bans_of(person: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for c in person["candidates"] for b in c["bans"]]


def test_banned_persons_are_found_by_their_id_and_their_ban_shown(
    client: TestClient, truth: dict[str, pd.DataFrame]
) -> None:
    """Every person the world bans, screened with name and full ID a year into the ban:
    the candidate sharing the ID is strong, and (where linkage joined the punishment's
    mention to them) the art. 135 ban of their decision stands on it with its rule, legal
    basis, record and window. On the day the ban ends it is gone."""
    headers = api_key(Role.REGULATOR)
    active = _bans(truth)
    assert len(active) >= 3
    found = 0
    for ban in active.itertuples():
        applicant = {"role": "legal_rep", "name": ban.name, "id_number": ban.id_number}
        answer = client.post(
            "/screen", json=_application(applicant, as_of=ban.during), headers=headers
        )
        assert answer.status_code == 200, answer.text
        person = answer.json()["persons"][0]
        top = person["candidates"][0]
        assert top["strong"] and top["evidence"] == "identifier:id_token"
        assert top["match_probability"] > 0.99
        shown = [
            b for b in top["bans"] if b["rule"]["id"] == ART135 and ban.decision_number in str(b)
        ]
        if not shown:
            continue
        found += 1
        (first,) = shown[:1]
        assert first["weak"] is False and person["banned"] is True
        assert first["trigger"]["reference"] == ban.decision_number
        assert first["start"] == ban.decision_date.isoformat()
        assert first["end"] == ban.ban_end.isoformat()
        assert "第一百三十五条" in first["rule"]["legal_basis"]
        assert first["match_probability"] == top["match_probability"]
        assert {t["how"] for t in first["ties"]} <= {"legal_rep", "responsible"}
        assert first["on_record"], "the applicant scored against the punishment's mention"
        ended = client.post(
            "/screen", json=_application(applicant, as_of=ban.ban_end), headers=headers
        )
        still = [b for b in _bans_of(ended.json()["persons"][0]) if b["rule"]["id"] == ART135]
        assert ban.decision_number not in str(still)
    print(f"\n{found} of {len(active)} bans shown on the banned person found by full ID")
    assert found >= 0.8 * len(active), f"{found} of {len(active)} bans shown"


def test_a_masked_id_finds_the_banned_person(
    client: TestClient, truth: dict[str, pd.DataFrame]
) -> None:
    headers = api_key(Role.REGULATOR)
    for ban in _bans(truth).itertuples():
        applicant = {"role": "officer", "name": ban.name, "id_number": _masked(ban.id_number)}
        answer = client.post(
            "/screen", json=_application(applicant, as_of=ban.during), headers=headers
        )
        assert answer.status_code == 200, answer.text
        person = answer.json()["persons"][0]
        assert person["id_masked"] == _masked(ban.id_number)
        top = person["candidates"][0]
        assert top["strong"] and top["evidence"] == "model"
        levels = {lv["comparison"]: lv["level"] for lv in top["levels"]}
        assert levels["resident_id"] == "masked ID agrees: region and last four"
        if any(ban.decision_number in str(b) for b in top["bans"]):
            assert person["banned"] is True
            return
    pytest.fail("no banned person was found by a masked ID")


def test_a_name_alone_or_a_namesake_is_never_presented_as_the_banned_person(
    client: TestClient, truth: dict[str, pd.DataFrame]
) -> None:
    """The banned person's name without an ID meets them, but only as a weak lead; a
    namesake the world plants (same name, their own ID) is not them at all."""
    headers = api_key(Role.REGULATOR)
    leads = 0
    for ban in _bans(truth).itertuples():
        answer = client.post(
            "/screen",
            json=_application({"role": "legal_rep", "name": ban.name}, as_of=ban.during),
            headers=headers,
        )
        person = answer.json()["persons"][0]
        assert person["banned"] is False, person
        for candidate in person["candidates"]:
            assert not candidate["strong"]
            assert all(b["weak"] for b in candidate["bans"])
        leads += person["weak_leads"]
    assert leads > 0, "the banned persons' names met them as weak leads"

    namesakes = truth["near_misses"][truth["near_misses"]["kind"] == "namesake"]
    people = truth["persons"].set_index("true_person_id")
    assert len(namesakes)
    for near in namesakes.itertuples():
        who = people.loc[near.person_id]
        applicant = {"role": "legal_rep", "name": who["name"], "id_number": who["id_number"]}
        during = near.decision_date + timedelta(days=365)
        answer = client.post(
            "/screen", json=_application(applicant, as_of=during), headers=headers
        ).json()
        person = answer["persons"][0]
        assert person["candidates"][0]["evidence"] == "identifier:id_token"
        for candidate in person["candidates"]:
            for shown in candidate["bans"]:
                if shown["trigger"].get("reference") == near.decision_number:
                    assert shown["weak"], (who["name"], candidate["entity_id"])


def test_the_company_is_resolved_and_an_inspector_is_held_to_its_scope(
    client: TestClient, truth: dict[str, pd.DataFrame]
) -> None:
    companies = truth["companies"].dropna(subset=["uscc"])
    company = companies.iloc[0]
    applicant = {"role": "legal_rep", "name": "张三"}
    by_uscc = _application(applicant, uscc=company["uscc"], region_code=None, company_name=None)
    answer = client.post("/screen", json=by_uscc, headers=api_key(Role.REGULATOR))
    assert answer.status_code == 200, answer.text
    resolved = answer.json()["company"]
    assert resolved["matched_by"] == "uscc" and resolved["uscc"] == company["uscc"]
    assert resolved["region_code"] == company["region_code"]

    inside = api_key(Role.INSPECTOR, regions=[company["region_code"]])
    assert client.post("/screen", json=by_uscc, headers=inside).status_code == 200
    elsewhere = next(r for r in companies["region_code"] if r[:2] != company["region_code"][:2])
    outside = api_key(Role.INSPECTOR, regions=[elsewhere])
    refused = client.post("/screen", json=by_uscc, headers=outside)
    # an unknown company and no region: the same 403, existence not told
    unknown = client.post(
        "/screen", json=_application(applicant, region_code=None), headers=outside
    )
    assert refused.status_code == unknown.status_code == 403
    assert refused.json() == unknown.json()
    assert last_audit()["status"] == 403
    # a company not yet registered, in the region the clerk gives
    new = _application(applicant, region_code=elsewhere)
    assert client.post("/screen", json=new, headers=outside).status_code == 200

    analyst = client.post("/screen", json=by_uscc, headers=api_key(Role.ANALYST))
    assert analyst.status_code == 403 and analyst.json()["error"]["code"] == "forbidden"
    assert client.post("/screen", json=by_uscc).status_code == 401


def test_no_full_id_in_the_answer_or_the_audit_row(
    client: TestClient, truth: dict[str, pd.DataFrame]
) -> None:
    ban = _bans(truth).iloc[0]
    applicant = {"role": "legal_rep", "name": ban["name"], "id_number": ban["id_number"]}
    answer = client.post("/screen", json=_application(applicant), headers=api_key(Role.REGULATOR))
    assert answer.status_code == 200
    row = last_audit()
    assert row["action"] == "POST /screen" and row["status"] == 200
    assert row["result_count"] >= 1
    (logged,) = row["params"]["persons"]
    assert logged["id"].startswith(_masked(ban["id_number"]) + " token:")
    full_id = re.compile(r"\d{17}[\dX]")
    assert not full_id.search(answer.text)
    assert not full_id.search(json.dumps(row, ensure_ascii=False))
    assert audit.verify().ok


#: A valid resident ID, and the same with another check character.
VALID_ID = make_resident_id("110101", date(1990, 3, 7), 123)
MISTYPED_ID = VALID_ID[:17] + ("0" if VALID_ID[17] != "0" else "1")


def _person(**fields: Any) -> dict[str, Any]:
    return {"persons": [{"role": "legal_rep", "name": "张三", **fields}]}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"uscc": "91310115MA1K000000"}, "USCC"),
        (_person(id_number=MISTYPED_ID), "check character"),
        (_person(name="  "), "persons.0.name"),
        ({"persons": []}, "persons"),
        ({"company_name": None}, "company's name or its USCC"),
        (_person(id_number=VALID_ID, birth_date="1990-03-08"), "birth_date"),
        (_person(id_number="*" * 18), "shows no character"),
        ({"region_code": "3101"}, "region_code"),
    ],
)
def test_a_malformed_application_is_4xx_saying_what_to_fix(
    client: TestClient, change: dict[str, Any], says: str
) -> None:
    application = _application({"role": "legal_rep", "name": "张三"}) | change
    answer = client.post("/screen", json=application, headers=api_key(Role.REGULATOR))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "bad_input" and says in error["message"], error
    assert VALID_ID[6:14] not in answer.text and MISTYPED_ID not in answer.text


def test_a_name_standardisation_leaves_empty_is_bad_input(client: TestClient) -> None:
    answer = client.post(
        "/screen",
        json=_application({"role": "legal_rep", "name": "——"}),
        headers=api_key(Role.REGULATOR),
    )
    assert answer.status_code == 400 and "persons[0].name" in answer.json()["error"]["message"]


def test_without_saved_term_frequencies_screening_is_not_ready(
    neo4j_server: Neo4jSettings, linked_run: Path, copy_run: Callable[..., Path]
) -> None:
    run = copy_run(linked_run)
    rundir.path(run, rundir.term_frequency_table(models.PERSON)).unlink()
    with TestClient(create_app(neo4j_server, run_dir=run)) as app:
        ready = app.get("/readyz")
        assert ready.status_code == 503, ready.text
        error = ready.json()["error"]
        assert error["code"] == "screening_unavailable"
        assert "person_term_frequencies" in error["message"]
        screened = app.post(
            "/screen",
            json=_application({"role": "legal_rep", "name": "张三"}),
            headers=api_key(Role.REGULATOR),
        )
        assert screened.status_code == 503


def test_the_blocking_keys_are_the_person_models() -> None:
    """The screener meets an applicant by the person model's blocking rules: the same
    columns, rule by rule (a rule added to models.person_blocking() must be added here)."""
    capped = {key: column for key, column, _ in models.CAPPED_KEYS[models.PERSON]}
    ours = [frozenset(run) | ({"id_masked"} if mask else set()) for run, _, mask in BLOCKS]
    ours.append(frozenset(CONTEXT_BLOCK))
    theirs = [
        frozenset(re.findall(r'l\."?(\w+)"?', rule.get_blocking_rule("duckdb").blocking_rule_sql))
        for rule in models.person_blocking()
    ]
    assert ours == theirs
    for run, mine, _ in BLOCKS:
        assert tuple(capped.get(c, c) for c in run) == mine


def test_a_run_loaded_with_another_id_secret_is_refused(linked_run: Path) -> None:
    """Full IDs typed at the counter are tokenised with the server's secret: a run loaded
    with another one would match none of them, silently. Its manifest says which it was."""
    from config.errors import InputError
    from config.linkage import load_linkage_config
    from linkage.screen import Screener
    from loaders.identifiers import secret_fingerprint

    recorded = rundir.manifest(linked_run)["id_secret_fingerprint"]
    assert recorded == secret_fingerprint(WORLD_SECRET) != secret_fingerprint(b"another")
    assert WORLD_SECRET.decode() not in json.dumps(rundir.manifest(linked_run))
    with pytest.raises(InputError, match="another ID-token secret"):
        Screener(linked_run, load_linkage_config().screening, b"another", in_child=False)
