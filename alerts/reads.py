"""What the alert engine reads from the graph: triggering records, the roles and holdings
around them, and the companies where the reached persons turn up.

Every read is a constant, parameterised query; lists of keys go in as parameters and are
matched on labelled unique keys, so each lookup is an index seek. Dates come back as
`datetime.date` (or None).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import neo4j
import pandas as pd

from graph.analysis import walk_upstream

_PUNISHMENTS = (
    "MATCH (p:Punishment) WHERE any(c IN p.categories WHERE c IN $categories) "
    "OPTIONAL MATCH (p)-[:IMPOSED_ON]->(x) "
    "RETURN p.key AS key, p.source AS source, p.record_id AS record_id, "
    "p.decision_number AS reference, p.decision_date AS date, p.categories AS categories, "
    "p.category_raw AS category_raw, p.legal_basis AS legal_basis, p.agency AS agency, "
    "x.entity_id AS party_id, CASE WHEN x:Person THEN 'person' ELSE 'company' END AS party_kind"
)
_LIST_ENTRIES = (
    "MATCH (e:ListEntry) WHERE e.list IN $lists "
    "OPTIONAL MATCH (e)-[:LISTS]->(x) "
    "RETURN e.key AS key, e.source AS source, e.record_id AS record_id, "
    "e.case_number AS reference, e.entered AS date, e.removed AS removed, e.expires AS expires, "
    "e.list AS list, "
    "e.list_raw AS list_raw, e.reason AS reason, e.authority AS authority, "
    "x.entity_id AS party_id, CASE WHEN x:Person THEN 'person' ELSE 'company' END AS party_kind"
)
_NAMED_PUNISHMENT = (
    "UNWIND $keys AS key MATCH (r:Punishment {key: key})-[n:NAMES_RESPONSIBLE|NAMES]->(p:Person) "
    "RETURN key, type(n) AS how, n.slot AS slot, p.entity_id AS person"
)
_NAMED_LIST_ENTRY = (
    "UNWIND $keys AS key MATCH (r:ListEntry {key: key})-[n:NAMES]->(p:Person) "
    "RETURN key, type(n) AS how, n.slot AS slot, p.entity_id AS person"
)
_ROLES_IN = (
    "UNWIND $companies AS id MATCH (c:Company {entity_id: id}) "
    "MATCH (p:Person)-[r:LEGAL_REPRESENTATIVE_OF|OFFICER_OF]->(c) "
    "RETURN p.entity_id AS person, id AS company, "
    "CASE type(r) WHEN 'LEGAL_REPRESENTATIVE_OF' THEN 'legal_rep' ELSE r.role END AS role, "
    "r.valid_from AS start, r.valid_to AS end, r.sources AS sources, r.record_ids AS record_ids, "
    "r.observed_first AS observed_first, r.observed_last AS observed_last"
)
_ROLES_OF = (
    "UNWIND $persons AS id MATCH (p:Person {entity_id: id}) "
    "MATCH (p)-[r:LEGAL_REPRESENTATIVE_OF|OFFICER_OF]->(c:Company) "
    "RETURN id AS person, c.entity_id AS company, "
    "CASE type(r) WHEN 'LEGAL_REPRESENTATIVE_OF' THEN 'legal_rep' ELSE r.role END AS role, "
    "r.valid_from AS start, r.valid_to AS end, r.sources AS sources, r.record_ids AS record_ids, "
    "r.observed_first AS observed_first, r.observed_last AS observed_last"
)
_HELD_BY_PERSONS = (
    "UNWIND $ids AS id MATCH (:Person {entity_id: id})-[:HOLDS_SHARES_IN]->(c:Company) "
    "RETURN DISTINCT c.entity_id AS company"
)
_HELD_BY_COMPANIES = (
    "UNWIND $ids AS id MATCH (:Company {entity_id: id})-[:HOLDS_SHARES_IN]->(c:Company) "
    "RETURN DISTINCT c.entity_id AS company"
)
_HOLDERS_OF = (
    "UNWIND $ids AS id MATCH (c:Company {entity_id: id}) "
    "MATCH (h)-[r:HOLDS_SHARES_IN]->(c) "
    "RETURN h.entity_id AS holder, CASE WHEN h:Person THEN 'person' ELSE 'company' END "
    "AS holder_kind, id AS company, r.ratio AS ratio, r.valid_from AS valid_from, "
    "r.valid_to AS valid_to, r.source AS source, r.record_id AS record_id"
)
_COMPANIES = (
    "UNWIND $ids AS id MATCH (c:Company {entity_id: id}) "
    "RETURN id AS entity_id, c.name AS name, c.uscc AS uscc, c.industry_code AS industry_code, "
    "c.region_code AS region_code, c.status AS status, c.established AS established, "
    "c.ended AS ended, "
    "[(l:Licence)-[:ISSUED_TO]->(c) | {number: l.licence_number, valid_from: l.valid_from, "
    "valid_to: l.valid_to, status: l.status}] AS licences"
)
_PERSONS = (
    "UNWIND $ids AS id MATCH (p:Person {entity_id: id}) "
    "RETURN id AS entity_id, p.name AS name, p.names AS names, p.id_masks AS id_masks, "
    "p.mentions AS mentions"
)
_LATEST_LOAD = (
    "MATCH (l:Load) RETURN l.id AS id, l.run_dir AS run_dir, l.loaded_at AS loaded_at "
    "ORDER BY l.loaded_at DESC LIMIT 1"
)

HOLDING_COLUMNS = [
    "holder",
    "holder_kind",
    "company",
    "ratio",
    "valid_from",
    "valid_to",
    "source",
    "record_id",
]
ROLE_COLUMNS = [
    "person",
    "company",
    "role",
    "start",
    "end",
    "sources",
    "record_ids",
    "observed_first",
    "observed_last",
]
_ROLE_DATES = ("start", "end", "observed_first", "observed_last")


def _day(value: Any) -> date | None:
    if value is None:
        return None
    day: date | None = value.to_native() if hasattr(value, "to_native") else value  # neo4j Date
    return day


def _frame(records: list[neo4j.Record], columns: list[str], dates: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame([r.values() for r in records], columns=columns)
    for column in dates:
        frame[column] = [_day(v) for v in frame[column]]
    return frame


class GraphReader:
    """The reads of one alert sweep, on one driver and database."""

    def __init__(self, driver: neo4j.Driver, database: str = "neo4j") -> None:
        self.driver = driver
        self.database = database

    def _run(self, query: str, **params: Any) -> list[neo4j.Record]:
        records, _, _ = self.driver.execute_query(
            query, params, database_=self.database, routing_=neo4j.RoutingControl.READ
        )
        return records

    def punishments(self, categories: list[str]) -> pd.DataFrame:
        columns = [
            "key",
            "source",
            "record_id",
            "reference",
            "date",
            "categories",
            "category_raw",
            "legal_basis",
            "agency",
            "party_id",
            "party_kind",
        ]
        return _frame(self._run(_PUNISHMENTS, categories=categories), columns, ("date",))

    def list_entries(self, lists: list[str]) -> pd.DataFrame:
        columns = [
            "key",
            "source",
            "record_id",
            "reference",
            "date",
            "removed",
            "expires",
            "list",
            "list_raw",
            "reason",
            "authority",
            "party_id",
            "party_kind",
        ]
        return _frame(
            self._run(_LIST_ENTRIES, lists=lists), columns, ("date", "removed", "expires")
        )

    def named(self, punishment_keys: list[str], entry_keys: list[str]) -> pd.DataFrame:
        """Persons a record names: (key, how: NAMES_RESPONSIBLE or NAMES, slot, person)."""
        records = self._run(_NAMED_PUNISHMENT, keys=punishment_keys)
        records += self._run(_NAMED_LIST_ENTRY, keys=entry_keys)
        return pd.DataFrame([r.values() for r in records], columns=["key", "how", "slot", "person"])

    def roles_in(self, companies: list[str]) -> pd.DataFrame:
        """Legal-representative and officer tenures at these companies, any date."""
        return _frame(self._run(_ROLES_IN, companies=companies), ROLE_COLUMNS, _ROLE_DATES)

    def roles_of(self, persons: list[str]) -> pd.DataFrame:
        """Every legal-representative and officer tenure of these persons, any date."""
        return _frame(self._run(_ROLES_OF, persons=persons), ROLE_COLUMNS, _ROLE_DATES)

    def held_downstream(self, persons: list[str]) -> set[str]:
        """Companies these persons hold shares in, directly or through holding companies."""
        reached = {r["company"] for r in self._run(_HELD_BY_PERSONS, ids=persons)}
        frontier = sorted(reached)
        while frontier:
            found = {r["company"] for r in self._run(_HELD_BY_COMPANIES, ids=frontier)}
            frontier = sorted(found - reached)
            reached |= found
        return reached

    def holdings_upstream(self, companies: list[str]) -> pd.DataFrame:
        """Every holding (any date) that can reach these companies (walk_upstream)."""
        if not companies:
            return pd.DataFrame(columns=HOLDING_COLUMNS)
        rows = walk_upstream(
            lambda ids: [r.data() for r in self._run(_HOLDERS_OF, ids=ids)], companies
        )
        frame = pd.DataFrame(rows, columns=HOLDING_COLUMNS)
        for column in ("valid_from", "valid_to"):
            frame[column] = [_day(v) for v in frame[column]]
        return frame

    def companies(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        records = self._run(_COMPANIES, ids=ids)
        return {
            r["entity_id"]: {
                **r.data(),
                "established": _day(r["established"]),
                "ended": _day(r["ended"]),
                "licences": [
                    {
                        **lic,
                        "valid_from": _day(lic["valid_from"]),
                        "valid_to": _day(lic["valid_to"]),
                    }
                    for lic in r["licences"]
                ],
            }
            for r in records
        }

    def persons(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {r["entity_id"]: r.data() for r in self._run(_PERSONS, ids=ids)}

    def latest_load(self) -> dict[str, Any] | None:
        records = self._run(_LATEST_LOAD)
        return records[0].data() if records else None
