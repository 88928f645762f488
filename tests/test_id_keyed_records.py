"""A record whose key is a resident ID (an extract keyed by the person's ID number) in the
graph: keyed by the ID's HMAC token, shown masked, and an alert it triggers still finds
its records, its mentions and the chain of links between them."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import neo4j
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from graph_runs import RunBuilder, cid, pid
from pii_scan import scan_graph

from alerts.store import AlertFilter, list_alerts, review, sweep
from config.graph import load_graph_config
from config.rules import load_rules
from config.settings import id_token_secret
from graph.load import load_run
from loaders import rundir
from loaders.identifiers import make_resident_id, parse_resident_id

SOURCE = "judgment_defaulters"
BORN = date(1980, 5, 17)
ID_NUMBER = make_resident_id("110101", BORN, 123)
COURT_MASK = ID_NUMBER[:6] + "*" * 8 + ID_NUMBER[-4:]


def _namesake_number() -> str:
    """Another person's ID that shows the same first 6 and last 4 characters."""
    day = BORN
    while True:
        day += timedelta(days=1)
        other = make_resident_id("110101", day, 123)
        if other[-4:] == ID_NUMBER[-4:]:
            return other


OTHER_NUMBER = _namesake_number()


def _digest(*parts: str) -> str:
    """A fact's key as graph/facts.py digests it."""
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:20]


def _linked(builder: RunBuilder, run_dir: Path) -> None:
    """links.parquet chaining each person's mentions, as an identifier link would."""
    by_person: dict[str, list[str]] = {}
    for e in builder.entities:
        if e["entity_type"] == "person":
            ref = f"{e['source']}:{e['record_id']}:{e['slot']}"
            by_person.setdefault(e["entity_id"], []).append(ref)
    rows = [
        {
            "entity_type": "person",
            "mention_l": a,
            "mention_r": b,
            "entity_id_l": person,
            "entity_id_r": person,
            "evidence": "identifier:id_token",
            "match_weight": 20.0,
            "match_probability": 1.0,
            "levels": [],
            "merged": True,
        }
        for person, refs in by_person.items()
        for a, b in zip(sorted(refs), sorted(refs)[1:], strict=False)
    ]
    table = pa.Table.from_pylist(rows, schema=rundir.TABLES["links"].schema)
    pq.write_table(rundir.conform("links", table), rundir.path(run_dir, "links"))


@pytest.fixture(scope="module")
def graph(neo4j_driver: neo4j.Driver, tmp_path_factory: pytest.TempPathFactory) -> neo4j.Driver:
    """钱某, listed as a judgment defaulter by a record keyed by his ID number, becomes
    legal representative of 新设 while listed; 孙某, whose ID shows the same ends, is listed
    by a record keyed by his."""
    neo4j_driver.execute_query("MATCH (n) DETACH DELETE n")
    b = RunBuilder()
    b.person("L", "钱某", COURT_MASK, born=BORN)
    b.listed("L", date(2021, 1, 1), record=ID_NUMBER)
    b.company("E", "新设科技有限公司", industry="I6510", established=date(2022, 1, 1))
    b.legal_rep("L", "E", date(2022, 1, 1))
    b.person("M", "孙某", COURT_MASK)
    b.listed("M", date(2021, 2, 1), record=OTHER_NUMBER)
    run = b.write(tmp_path_factory.mktemp("id-keyed") / "run")
    _linked(b, run)
    load_run(neo4j_driver, run)  # the ID-token secret of the environment (conftest's)
    again = load_run(neo4j_driver, run)
    assert again.counters["nodes_created"] == 0  # the same keys: stable
    sweep(neo4j_driver, load_rules(), load_graph_config().control, date(2026, 10, 31))
    return neo4j_driver


def _entries(driver: neo4j.Driver) -> dict[str, dict]:
    records, _, _ = driver.execute_query(
        "MATCH (e:ListEntry)-[r:LISTS]->(p:Person) "
        "RETURN p.entity_id AS person, e {.*} AS entry, r {.*} AS lists, p.mentions AS mentions"
    )
    return {r["person"]: r.data() for r in records}


def test_the_record_is_keyed_by_the_token_and_shown_masked(graph: neo4j.Driver) -> None:
    entries = _entries(graph)
    token = parse_resident_id(ID_NUMBER, id_token_secret()).token
    assert token is not None
    mine, other = entries[pid("L")], entries[pid("M")]
    assert mine["entry"]["key"] == _digest(SOURCE, token)
    # Both records show the same masked key; their keys keep them apart.
    assert mine["entry"]["record_id"] == other["entry"]["record_id"] == COURT_MASK
    assert mine["entry"]["key"] != other["entry"]["key"]
    assert mine["entry"]["case_number"] == f"(2020)执{COURT_MASK}号"
    assert mine["lists"]["record_id"] == COURT_MASK
    assert mine["lists"]["key"] == f"{mine['entry']['key']}:{pid('L')}"
    assert f"{SOURCE}:{COURT_MASK}:party" in mine["mentions"]


def test_nothing_in_the_graph_holds_the_number_or_its_plain_digest(graph: neo4j.Driver) -> None:
    assert scan_graph(graph) == []
    records, _, _ = graph.execute_query(
        "MATCH (n) RETURN properties(n) AS p UNION ALL MATCH ()-[r]->() RETURN properties(r) AS p"
    )
    dump = json.dumps([r["p"] for r in records], ensure_ascii=False, default=str)
    for number in (ID_NUMBER, OTHER_NUMBER):
        # Neither the number nor the unkeyed digest a guess of 1,000 numbers would find.
        assert number not in dump and _digest(SOURCE, number) not in dump


def test_its_alert_evidence_still_links(graph: neo4j.Driver) -> None:
    (alert,) = list_alerts(graph, AlertFilter(rule="judgment_defaulter_watch"))
    assert (alert.person_id, alert.company_id, alert.role) == (pid("L"), cid("E"), "legal_rep")
    entry = _entries(graph)[pid("L")]["entry"]
    ev = alert.evidence
    assert alert.trigger_key == ev.trigger.key == entry["key"]
    assert ev.trigger.record_id == COURT_MASK
    assert [t.records for t in ev.ties] == [[f"{SOURCE}:{COURT_MASK}"]]
    identity = ev.identity
    assert [(m.mention, m.id) for m in identity.old_mentions] == [
        (f"{SOURCE}:{COURT_MASK}:party", COURT_MASK)
    ]
    (new,) = identity.new_mentions
    assert new.mention.startswith("legal_rep_changes:")
    # The chain of links from the run directory, whose mention keys hold the full number,
    # joins the mentions the graph shows masked.
    assert identity.note is None and identity.path
    assert identity.path[0].from_.mention == identity.old_mentions[0].mention
    assert identity.path[-1].to.mention == new.mention
    assert identity.weakest_probability == 1.0
    assert ID_NUMBER not in alert.model_dump_json()


def test_a_review_stores_a_typed_resident_id_masked(graph: neo4j.Driver) -> None:
    (alert,) = list_alerts(graph, AlertFilter(rule="judgment_defaulter_watch"))
    reviewed = review(
        graph, alert.id, "dismissed", "Li", f"not {ID_NUMBER}: the court's list names another"
    )
    assert reviewed.reason == f"not {COURT_MASK}: the court's list names another"
    assert scan_graph(graph) == []
