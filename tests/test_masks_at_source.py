"""No full resident ID leaves the run directory, written out or put together from masks:
the session's world in the graph (every node and relationship property, alerts included),
its alert evidence, and what the `veil` commands that print persons, footprints, controls,
alerts and the explanation of a merge print, run through the CLI.

The world's agencies mask IDs in different patterns (the courts 6+4, punishments the
birth date alone, ...): inside the run directory one person's source masks add up to the
number (the first test shows the world holds such persons), and linkage compares them
there. Outside it, each output is searched for the truth's IDs in full and for masks that,
overlaid, show every character of one (pii_scan.revealed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import neo4j
import pandas as pd
import pytest
from pii_scan import adding_up, full_ids, masks_in, overlaid, revealed
from typer.testing import CliRunner

from alerts.store import AlertFilter, list_alerts
from graph.server.connection import Neo4jSettings
from loaders import rundir
from service.cli import app

pytestmark = pytest.mark.slow


def _truth_ids(world_dir: Path) -> list[str]:
    persons = pd.read_parquet(world_dir / "truth" / "persons.parquet", columns=["id_number"])
    return sorted(persons["id_number"].dropna())


@pytest.fixture(scope="module")
def world(
    swept_world: neo4j.Driver, world_dir: Path, linked_run: Path
) -> tuple[neo4j.Driver, list[str], dict[str, str]]:
    """The swept session world, the truth's resident IDs, and the persons at risk."""
    return swept_world, _truth_ids(world_dir), adding_up(linked_run)


def _leaks(text: str, ids: list[str]) -> list[str]:
    return sorted(set(full_ids(text)) | set(revealed(text, ids)))


def test_the_run_directory_holds_masks_that_add_up(
    world: tuple[neo4j.Driver, list[str], dict[str, str]],
) -> None:
    """What the outputs must not show is there to show: persons whose source masks (a
    6+4 and a birth-date mask, say) are together their whole number."""
    _, ids, at_risk = world
    assert at_risk and set(at_risk.values()) <= set(ids)


def test_no_graph_property_holds_or_adds_up_to_a_resident_id(
    world: tuple[neo4j.Driver, list[str], dict[str, str]],
) -> None:
    driver, ids, at_risk = world
    texts = []
    for query in (
        "MATCH (n) RETURN labels(n) AS kind, properties(n) AS props",
        "MATCH ()-[r]->() RETURN type(r) AS kind, properties(r) AS props",
    ):
        records, _, _ = driver.execute_query(query, routing_=neo4j.RoutingControl.READ)
        texts += [json.dumps(r.data(), ensure_ascii=False, default=str) for r in records]
    graph = "\n".join(texts)
    assert _leaks(graph, ids) == []
    records, _, _ = driver.execute_query(
        "MATCH (p:Person) WHERE p.entity_id IN $ids RETURN p.id_masks AS masks",
        ids=sorted(at_risk),
    )
    # The persons at risk keep more than one mask each: shown, not dropped.
    assert len(records) == len(at_risk) and all(len(r["masks"]) > 1 for r in records)
    assert all("*" in overlaid(r["masks"]) for r in records)


def test_no_alert_evidence_holds_or_adds_up_to_a_resident_id(
    world: tuple[neo4j.Driver, list[str], dict[str, str]],
) -> None:
    driver, ids, _ = world
    alerts = list_alerts(driver, AlertFilter(include_inactive=True))
    documents = [a.evidence.model_dump_json(by_alias=True) for a in alerts]
    assert documents and any(masks_in(d) for d in documents)
    for alert, document in zip(alerts, documents, strict=True):
        assert _leaks(document, ids) == [], alert.id


@pytest.fixture(scope="module")
def cli(neo4j_server: Neo4jSettings) -> Iterator[CliRunner]:
    """A CLI runner whose `veil` talks to the session's Neo4j."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEO4J_URI", neo4j_server.uri)
        patch.setenv("NEO4J_USER", neo4j_server.user)
        patch.setenv("NEO4J_PASSWORD", neo4j_server.password)
        yield CliRunner()


def _run(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == 0, (args, result.output)
    return result.output


def _two_masks(run_dir: Path, person: str) -> tuple[str, str]:
    """Two mentions (source:record_id:slot) of `person` whose source masks differ."""
    mentions = rundir.table(run_dir, "person_mentions")
    entities = rundir.entities(run_dir, ["source", "record_id", "slot", "entity_id"])
    mine = mentions.merge(entities[entities["entity_id"] == person])
    first = mine.drop_duplicates("id_display").dropna(subset=["id_display"]).head(2)
    a, b = (f"{r.source}:{r.record_id}:{r.slot}" for r in first.itertuples())
    return a, b


def _companies_of(footprint: dict[str, Any]) -> set[str]:
    return {r["entity_id"] for r in footprint["roles"] + footprint["holdings"]}


def test_no_cli_output_holds_or_adds_up_to_a_resident_id(
    world: tuple[neo4j.Driver, list[str], dict[str, str]],
    cli: CliRunner,
    linked_run: Path,
    tmp_path: Path,
) -> None:
    _, ids, at_risk = world
    outputs: dict[tuple[str, ...], str] = {}

    def run(*args: str) -> str:
        outputs[args] = _run(cli, *args)
        return outputs[args]

    names = set()

    companies: set[str] = set()
    for person in sorted(at_risk):
        answer = json.loads(run("footprint", person, "--json"))
        assert len(answer["person"]["id_masks"]) > 1  # the masks are printed, and checked
        companies |= _companies_of(answer)
        run("footprint", person)
        names.add(answer["person"]["name"])
    for name in sorted(names):  # namesakes: an error listing each candidate's masks
        outputs[("footprint", name)] = cli.invoke(app, ["footprint", name]).output
    for company in sorted(companies)[:40]:
        run("controls", company, "--as-of", "2025-06-30", "--json")
        run("controls", company, "--as-of", "2025-06-30")
    for company in sorted(companies)[:10]:
        run("risk", company, "--json")
    listed = json.loads(run("alerts", "list", "--all", "--json"))
    about = [a["id"] for a in listed if a["person_id"] in at_risk] or [a["id"] for a in listed]
    for alert in about[:20]:
        run("alerts", "show", alert)
        run("alerts", "show", alert, "--json")
    for person in sorted(at_risk):  # a reviewer explaining the merge of two of its masks
        a, b = _two_masks(linked_run, person)
        run("explain", a, b, "--run", str(linked_run), "--json")
        chart = tmp_path / f"{person}.html"
        run("explain", a, b, "--run", str(linked_run), "--html", str(chart))
        outputs[("waterfall", person)] = chart.read_text(encoding="utf-8")
    for name in ("alerts.jsonl", "alerts.csv"):
        run("alerts", "export", str(tmp_path / name), "--all")
        outputs[("export", name)] = (tmp_path / name).read_text(encoding="utf-8-sig")
    assert companies and about
    leaking = {" ".join(args): _leaks(text, ids) for args, text in outputs.items()}
    assert {k: v for k, v in leaking.items() if v} == {}
