"""What each role sees of an answer (service/api/disclosure.py), through the real app against
the session's Neo4j: record keys that embed a resident ID, and one person's masks from two
lists that side by side would be the whole number."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from api_support import api_key
from fastapi.testclient import TestClient
from graph_runs import RunBuilder, cid, pid
from pii_scan import full_ids

from loaders.identifiers import make_resident_id
from service.keys import Role

BORN = date(1980, 5, 17)
#: An agency that keys its rows by the person's ID number: the key lands in record_id.
ID_NUMBER = make_resident_id("110101", BORN, 123)
COURT_MASK = ID_NUMBER[:6] + "*" * 8 + ID_NUMBER[-4:]
BIRTH_MASK = "*" * 6 + ID_NUMBER[6:14] + "*" * 4
DECISION = "沪市监处〔2021〕1号"


@pytest.fixture(scope="module")
def api_world() -> RunBuilder:
    """甲 (Shanghai, food), held 70% by 张三, its legal representative, named responsible
    in a punishment and listed as a judgment defaulter; the records show 张三's ID as a
    court's 6+4 mask and as a punishment's birth-date mask."""
    b = RunBuilder(prefix=f"{ID_NUMBER}|")
    b.company("A", "甲食品有限公司", uscc="91310115MA1FL0001X", region="310115")
    b.person("P", "张三", COURT_MASK, born=BORN)
    b.holds("P", "A", 0.7)
    b.legal_rep("P", "A", date(2019, 1, 1))
    b.people["P"]["id_display"] = BIRTH_MASK  # the next records' list shows another mask
    b.punishment("A", DECISION, date(2021, 3, 1), ["fine"], responsible=("P",))
    b.listed("P", date(2022, 1, 1))
    return b


def _key(role: Role) -> dict[str, str]:
    """A key of each role; the inspector's over Shanghai."""
    return api_key(role, **({"regions": ["310000"]} if role == Role.INSPECTOR else {}))


def _record_ids(answer: dict[str, Any]) -> list[str | None]:
    """Every record_id and record_ids item in a control answer."""
    found: list[str | None] = []
    for rep in answer["legal_representatives"]:
        found += rep["record_ids"] or [None]
    for item in answer["shareholders"] + answer["punishments"] + answer["list_entries"]:
        found.append(item["record_id"])
    return found


@pytest.mark.parametrize("role", list(Role))
def test_each_role_sees_what_it_may(client: TestClient, role: Role) -> None:
    answer = client.get(
        f"/companies/{cid('A')}/control", params={"as_of": "2023-01-01"}, headers=_key(role)
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # A tenure, a holding, the punishment (on 甲 and naming 张三) and the listing.
    record_ids = _record_ids(body)
    assert len(record_ids) == 5
    if role == Role.ANALYST:  # no identifiers beyond masks: no record keys at all
        assert record_ids == [None] * 5
    else:  # the keys, with the ID number inside them masked (a punishment's is its number)
        assert record_ids.count(DECISION) == 2
        keyed = [r for r in record_ids if r != DECISION]
        assert len(keyed) == 3 and all(r and r.startswith(f"{COURT_MASK}|") for r in keyed)
    # Every role: the two masks never add up to the number (the birth month and day hidden).
    (rep,) = body["legal_representatives"]
    assert rep["entity_id"] == pid("P")
    assert sorted(rep["id_masks"]) == sorted([COURT_MASK, "*" * 6 + "1980" + "*" * 8])
    assert full_ids(answer.text) == [] and ID_NUMBER[6:14] not in answer.text


def test_a_footprint_shows_the_regulator_masked_keys_and_masks(client: TestClient) -> None:
    answer = client.get(f"/persons/{pid('P')}/footprint", headers=_key(Role.REGULATOR))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "1980" + "*" * 8 in "".join(body["person"]["id_masks"])
    keys_shown = [h["record_id"] for h in body["holdings"]]
    keys_shown += [k for r in body["roles"] for k in r["record_ids"]]
    assert keys_shown and all(k.startswith(f"{COURT_MASK}|") for k in keys_shown)
    assert full_ids(answer.text) == [] and ID_NUMBER[6:14] not in answer.text


def test_a_footprint_takes_a_person_entity_id_only(client: TestClient) -> None:
    """A name could match several people, whose candidates would list their masks."""
    by_name = client.get("/persons/张三/footprint", headers=_key(Role.REGULATOR))
    assert by_name.status_code == 422 and by_name.json()["error"]["code"] == "bad_input"
