"""The graph's schema: constraints and indexes, created idempotently (`veil graph init`).

Nodes are keyed by veil entity ID (Person, Company) or by a digest of their record
(Punishment, ListEntry, Licence). Company.uscc is indexed, not unique: a reviewer may
split two records that carry one USCC (a data-entry error), and the graph must still
load. docs/GRAPH.md describes every label, relationship and property.
"""

from __future__ import annotations

import neo4j

SCHEMA = (
    "CREATE CONSTRAINT person_entity IF NOT EXISTS FOR (p:Person) REQUIRE p.entity_id IS UNIQUE",
    "CREATE CONSTRAINT company_entity IF NOT EXISTS FOR (c:Company) REQUIRE c.entity_id IS UNIQUE",
    "CREATE CONSTRAINT punishment_key IF NOT EXISTS FOR (n:Punishment) REQUIRE n.key IS UNIQUE",
    "CREATE CONSTRAINT list_entry_key IF NOT EXISTS FOR (n:ListEntry) REQUIRE n.key IS UNIQUE",
    "CREATE CONSTRAINT licence_key IF NOT EXISTS FOR (n:Licence) REQUIRE n.key IS UNIQUE",
    "CREATE CONSTRAINT load_id IF NOT EXISTS FOR (n:Load) REQUIRE n.id IS UNIQUE",
    "CREATE INDEX company_uscc IF NOT EXISTS FOR (c:Company) ON (c.uscc)",
    "CREATE INDEX company_name IF NOT EXISTS FOR (c:Company) ON (c.name)",
    # The name search (graph.queries.search_companies): `CONTAINS '|key|'` on these strings.
    "CREATE TEXT INDEX company_name_keys IF NOT EXISTS FOR (c:Company) ON (c.name_keys)",
    "CREATE TEXT INDEX company_name_sounds IF NOT EXISTS FOR (c:Company) ON (c.name_sounds)",
    "CREATE TEXT INDEX company_name_forms IF NOT EXISTS FOR (c:Company) ON (c.name_forms)",
    "CREATE INDEX person_name IF NOT EXISTS FOR (p:Person) ON (p.name)",
    "CREATE INDEX person_load IF NOT EXISTS FOR (p:Person) ON (p.load)",
    "CREATE INDEX company_load IF NOT EXISTS FOR (c:Company) ON (c.load)",
    "CREATE INDEX punishment_date IF NOT EXISTS FOR (n:Punishment) ON (n.decision_date)",
    "CREATE INDEX list_entry_list IF NOT EXISTS FOR (n:ListEntry) ON (n.list)",
)


def init_schema(driver: neo4j.Driver, database: str = "neo4j") -> int:
    """Create what is missing (each statement in its own transaction, as Neo4j requires);
    returns how many statements ran."""
    for statement in SCHEMA:
        driver.execute_query(statement, database_=database)
    driver.execute_query("CALL db.awaitIndexes(300)", database_=database)
    return len(SCHEMA)
