"""The questions regulators ask of the graph, one function each, parameterised Cypher only.

Every answer is a typed model of graph/answers.py, which the CLI renders and the HTTP API
returns (OpenAPI documents them). Dates: a role or holding is in force on a day
when it started on or before it (or its start is unknown) and has not ended by it (the
end date is the first day it no longer holds: a legal-representative change on D ends
the old tenure on D and starts the new one on D).

References: a company by entity ID (`C...`), USCC or name (current, other or former); a
person by entity ID (`P...`) or name, optionally narrowed by a partial resident ID
(`110101********123X`, `110101*`, `*123X`). Several matches raise `Ambiguous` with the
candidates; none raises `NotFound`.

Each answer is read through `graph.published.read_whole` (or `read_stamped`), so it is
computed from one published state of the graph, never half of a load, control run or sweep.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import neo4j

from config.errors import Ambiguous, NotFound
from config.graph import Control
from graph.answers import (
    BeneficialOwner,
    Company,
    CompanyHit,
    CompanySearch,
    ControlAnswer,
    Controller,
    Footprint,
    HoldingPath,
    ListEntry,
    NoController,
    Node,
    Punishment,
    RelatedParty,
    RelatedPartyRisk,
)
from graph.control.holdings import Holding
from graph.control.one_company import CompanyControl, company_control
from graph.control.paths import HoldingPath as FoundPath
from graph.control.paths import PathFinder
from graph.in_force import IN_FORCE
from graph.published import (
    Published,
    Stamps,
    read_stamped,
    read_stamped_async,
    read_whole,
    stamped,
    state_statement,
)
from graph.steps import Steps, run
from graph.values import native
from loaders.identifiers import display_mask

COMPANY_ID = re.compile(r"^C[0-9a-f]{12}$")
PERSON_ID = re.compile(r"^P[0-9a-f]{12}$")
USCC = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")

_COMPANY_FIELDS = (
    "c {.entity_id, .name, .uscc, .names, .former_names, .industry_code, .region_code, "
    ".established, .status, .registered_capital, .controller_basis, .control_as_of, "
    ".no_identifiable_controller}"
)
_PERSON_FIELDS = "p {.entity_id, .name, .names, .id_masks, .sex, .birth_year}"
# By label, so each lookup uses its uniqueness constraint instead of scanning all nodes.
_PERSON_OR_COMPANY = (
    "CALL (id) { MATCH (x:Person {entity_id: id}) RETURN x "
    "UNION MATCH (x:Company {entity_id: id}) RETURN x }"
)


def _rows(tx: neo4j.ManagedTransaction, query: str, **params: Any) -> list[dict[str, Any]]:
    return [native(r.data()) for r in tx.run(query, **params)]


def resolve_company(driver: neo4j.Driver, reference: str, database: str = "neo4j") -> str:
    """The entity ID of the company `reference` names (see the module docstring)."""
    return find_company(driver, reference, database).entity_id


def find_company(driver: neo4j.Driver, reference: str, database: str = "neo4j") -> Company:
    """The company `reference` names, with its properties (`_COMPANY_FIELDS`)."""
    return read_whole(driver, database, _find_company, reference)


def _unique_key(reference: str) -> tuple[str, str] | None:
    """(property, value) when `reference` is an entity ID or a USCC, which name one company
    at most under a uniqueness constraint; None for a name, which may name several."""
    reference = reference.strip()
    if COMPANY_ID.match(reference):
        return "entity_id", reference
    if USCC.match(reference.upper()):
        return "uscc", reference.upper()
    return None


def _not_found(reference: str) -> NotFound:
    return NotFound(f"no company matches '{reference.strip()}' (entity ID, USCC or exact name)")


def _find_company(tx: neo4j.ManagedTransaction, reference: str) -> Company:
    return run(tx, _find_company_steps(reference))


def _find_company_steps(reference: str) -> Steps[Company]:
    unique = _unique_key(reference)
    if unique is not None:
        key, reference = unique
        query = f"MATCH (c:Company {{{key}: $ref}}) RETURN " + _COMPANY_FIELDS + " AS c"
    else:
        reference = reference.strip()
        query = (
            "MATCH (c:Company) WHERE c.name = $ref OR $ref IN c.names "
            "OR $ref IN c.former_names RETURN " + _COMPANY_FIELDS + " AS c LIMIT 50"
        )
    found = yield query, {"ref": reference}
    if not found:
        raise _not_found(reference)
    if len(found) > 1:
        raise Ambiguous(
            reference,
            [
                {k: c["c"].get(k) for k in ("entity_id", "name", "uscc", "region_code")}
                for c in found
            ],
        )
    return Company.model_validate(found[0]["c"])


@dataclass(frozen=True)
class NameSearch:
    """What a company search looks for. The caller standardises the query with linkage's
    search keys (linkage.company_names.search_keys), the function `veil link` wrote the
    Company nodes' keys with; graph/ knows linkage only by its files, so it cannot.

    code: a USCC or entity ID as typed (None for a name); keys, sounds, fragments: looked
    up in the Company nodes' name_keys, name_sounds and name_forms (graph/facts.py).
    """

    code: str | None = None
    keys: tuple[str, ...] = ()
    sounds: tuple[str, ...] = ()
    fragments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scope:
    """The companies a scoped caller may see: region code prefixes (`31`, `3101`) and, if
    any, industry code prefixes (`F52`)."""

    regions: tuple[str, ...]
    industries: tuple[str, ...] = ()


#: Each way of matching, by rank: every branch is served by an index (uscc and entity_id
#: range indexes, the name text indexes of graph/schema.py).
_SEARCH = (
    "CALL () { "
    "MATCH (c:Company {uscc: $code}) RETURN c, 0 AS rank "
    "UNION ALL MATCH (c:Company {entity_id: $code}) RETURN c, 0 AS rank "
    "UNION ALL UNWIND $keys AS k MATCH (c:Company) WHERE c.name_keys CONTAINS k "
    "RETURN c, 1 AS rank "
    "UNION ALL UNWIND $sounds AS k MATCH (c:Company) WHERE c.name_sounds CONTAINS k "
    "RETURN c, 2 AS rank "
    "UNION ALL UNWIND $fragments AS k MATCH (c:Company) WHERE c.name_forms CONTAINS k "
    "RETURN c, 3 AS rank } "
    "WITH c, min(rank) AS rank "
    "WHERE $regions IS NULL OR (any(r IN $regions WHERE c.region_code STARTS WITH r) "
    "AND (size($industries) = 0 "
    "OR any(i IN $industries WHERE toUpper(c.industry_code) STARTS WITH i))) "
    "WITH c, rank ORDER BY rank, c.name, c.entity_id "
    "WITH count(*) AS total, collect([c, rank]) AS hits "
    "UNWIND CASE WHEN size(hits) > $skip THEN hits[$skip..$skip + $limit] ELSE [null] END AS hit "
    "WITH total, hit[0] AS c, hit[1] AS rank "
    "RETURN total, rank, CASE WHEN c IS NULL THEN null ELSE " + _COMPANY_FIELDS + " END AS c"
)
_MATCHES: tuple[Literal["code", "name", "sound", "partial"], ...] = (
    "code",
    "name",
    "sound",
    "partial",
)


def search_companies(
    driver: neo4j.Driver,
    search: NameSearch,
    scope: Scope | None = None,
    page: int = 1,
    per_page: int = 20,
    database: str = "neo4j",
) -> CompanySearch:
    """The companies `search` finds (within `scope`, if given): a page of them, exact
    matches (code, then any form of a name) before same-sound and partial ones, then by
    name; and how many there are in all."""
    if page < 1 or not 1 <= per_page <= 1000:
        raise ValueError(f"page must be 1 or more and per_page 1..1000, got {page}, {per_page}")

    def bars(values: tuple[str, ...]) -> list[str]:  # keys are stored between bars
        return [f"|{v}|" for v in values if v and "|" not in v]

    rows = read_whole(
        driver,
        database,
        lambda tx: _rows(
            tx,
            _SEARCH,
            code=search.code,
            keys=bars(search.keys),
            sounds=bars(search.sounds),
            fragments=[f for f in search.fragments if f and "|" not in f],
            regions=None if scope is None else list(scope.regions),
            industries=[] if scope is None else [i.upper() for i in scope.industries],
            skip=(page - 1) * per_page,
            limit=per_page,
        ),
    )
    hits = [
        CompanyHit(match=_MATCHES[r["rank"]], company=Company.model_validate(r["c"]))
        for r in rows
        if r["c"] is not None
    ]
    return CompanySearch(total=rows[0]["total"], page=page, per_page=per_page, hits=hits)


def resolve_person(
    driver: neo4j.Driver, reference: str, id_hint: str | None = None, database: str = "neo4j"
) -> str:
    """The entity ID of the person `reference` names, narrowed by a partial ID if given."""
    return read_whole(driver, database, _resolve_person, reference, id_hint)


def _resolve_person(tx: neo4j.ManagedTransaction, reference: str, id_hint: str | None) -> str:
    reference = reference.strip()
    if PERSON_ID.match(reference):
        query = "MATCH (p:Person {entity_id: $ref}) RETURN " + _PERSON_FIELDS + " AS p"
    else:
        query = (
            "MATCH (p:Person) WHERE p.name = $ref OR $ref IN p.names RETURN "
            + _PERSON_FIELDS
            + " AS p LIMIT 500"
        )
    found = [r["p"] for r in _rows(tx, query, ref=reference)]
    if id_hint:
        found = [p for p in found if _id_compatible(p.get("id_masks") or [], id_hint)]
    if not found:
        hint = f" with ID like {id_hint}" if id_hint else ""
        raise NotFound(f"no person matches '{reference}'{hint}")
    if len(found) > 1:
        raise Ambiguous(
            reference,
            [
                {
                    "entity_id": p["entity_id"],
                    "name": p["name"],
                    "id": ",".join(map(display_mask, p.get("id_masks") or [])),
                    "birth_year": p.get("birth_year"),
                }
                for p in found[:20]
            ],
        )
    entity_id: str = found[0]["entity_id"]
    return entity_id


def _id_compatible(masks: list[str], hint: str) -> bool:
    """A partial ID agrees with a masked display form on every visible character."""
    hint = hint.strip().upper()
    if "*" in hint:
        prefix, suffix = hint.split("*", 1)[0], hint.rsplit("*", 1)[1]
    elif len(hint) == 18:
        prefix, suffix = hint[:6], hint[-4:]
    else:
        prefix, suffix = hint, ""
    return any(m.upper().startswith(prefix) and m.upper().endswith(suffix) for m in masks)


# The two read with the company `c` already matched (`_CONTROL`).
_ROLES = (
    "MATCH (p:Person)-[r:LEGAL_REPRESENTATIVE_OF|OFFICER_OF]->(c) "
    "WHERE " + IN_FORCE + " RETURN type(r) AS type, r.role AS role, " + _PERSON_FIELDS + " AS p, "
    "r.valid_from AS valid_from, r.valid_to AS valid_to, r.sources AS sources, "
    "r.record_ids AS record_ids ORDER BY p.entity_id, role"
)
_SHAREHOLDERS = (
    "MATCH (h)-[r:HOLDS_SHARES_IN]->(c) WHERE " + IN_FORCE + " "
    "RETURN h.entity_id AS entity_id, h.name AS name, "
    "CASE WHEN h:Person THEN 'person' ELSE 'company' END AS kind, r.ratio AS ratio, "
    "r.subscribed_capital AS subscribed_capital, r.valid_from AS valid_from, "
    "r.source AS source, r.record_id AS record_id ORDER BY ratio DESC, entity_id"
)
# Every holding in force that can reach `c` (graph.analysis.upstream_holdings' rows, with
# the holder's name, which the answer shows): the companies above `c` by a breadth-first
# search along holdings in force (Neo4j plans it as a pruning var-length expand: each
# company once, however many paths reach it), then the holdings into `c` and into each.
_UPSTREAM = (
    "OPTIONAL MATCH (c)<-[rs:HOLDS_SHARES_IN*1..]-(u:Company) "
    "WHERE all(r IN rs WHERE " + IN_FORCE + ") "
    "WITH c, collect(DISTINCT u) AS above UNWIND [c] + above AS t WITH DISTINCT t "
    "MATCH (h)-[r:HOLDS_SHARES_IN]->(t) WHERE " + IN_FORCE + " "
    "RETURN h.entity_id AS holder, CASE WHEN h:Person THEN 'person' ELSE 'company' END "
    "AS holder_kind, t.entity_id AS company, r.ratio AS ratio, h.name AS name "
    "ORDER BY company, holder"
)
# Everyone an answer about `c` may name: `c`, its role holders and every person holding
# shares on the way up (beneficial owners and the controller are among them).
_NAMED_ABOVE = (
    "CALL (c, roles, holdings) { UNWIND [c.entity_id] + [x IN roles | x.p.entity_id] "
    "+ [x IN holdings WHERE x.holder_kind = 'person' | x.holder] AS id "
    "WITH DISTINCT id WHERE id IS NOT NULL RETURN collect(id) AS ids }"
)


def controls(
    driver: neo4j.Driver,
    reference: str,
    settings: Control,
    as_of: date | None = None,
    database: str = "neo4j",
) -> ControlAnswer:
    """Who controls a company on `as_of` (default today): its legal representatives and
    officers, shareholders, beneficial owners with paths, the actual controller (or why
    there is none), and the punishments and list entries on the company and on every person
    above, each with `on` (entity ID) and `via` (how it names them)."""
    return read_stamped(
        driver, database, _control_steps, reference, settings, as_of or date.today()
    )


async def controls_async(
    driver: neo4j.AsyncDriver,
    reference: str,
    settings: Control,
    as_of: date | None = None,
    database: str = "neo4j",
) -> ControlAnswer:
    """`controls` on the async driver: the same steps, for the API's event loop."""
    return await read_stamped_async(
        driver, database, _control_steps, reference, settings, as_of or date.today()
    )


def _control_steps(
    stamps: Stamps, reference: str, settings: Control, as_of: date
) -> Steps[ControlAnswer]:
    """`controls` as steps (graph/steps.py). A company named by entity ID or USCC is read in
    ONE statement (`_CONTROL`, the API's hottest read): the company, its roles and
    shareholders, every holding that can reach it, the records on everyone it may name, and
    the published state before and after (graph.published.stamped). A name is first looked
    up, in statements of their own."""
    unique = _unique_key(reference)
    if unique is None:
        stamps.saw(Published(**(yield state_statement())[0]))
        unique = "entity_id", (yield from _find_company_steps(reference)).entity_id
    key, ref = unique
    found = (yield _CONTROL[key], {"ref": ref, "as_of": as_of})[0]
    stamps.saw(found["graph_state"])
    stamps.saw(found["graph_state_after"])
    if found["c"] is None:
        raise _not_found(reference)
    company = Company.model_validate(found["c"])
    company_id = company.entity_id
    roles, shareholders = found["roles"], found["shareholders"]
    holdings = _consolidated(found["holdings"])
    names = {company_id: company.name} | {r["holder"]: r["name"] for r in found["holdings"]}
    result = company_control(
        company_id,
        holdings,
        threshold=settings.beneficial_owner_threshold,
        majority=settings.majority,
    )
    finder = PathFinder(holdings)
    owners = []
    for person, share in result.beneficial_owners:
        paths, cycles = finder.paths(person, company_id, max_paths=settings.max_paths)
        owners.append(
            BeneficialOwner(
                entity_id=person,
                name=names.get(person),
                look_through_share=share,
                cycles_contribute=cycles,
                paths=_paths(paths, names),
            )
        )
    controller = _controller(result, finder, names, settings)
    people: set[str] = {r["p"]["entity_id"] for r in roles} | {o.entity_id for o in owners}
    people |= {s["entity_id"] for s in shareholders if s["kind"] == "person"}
    if isinstance(controller, Controller):
        people.add(controller.entity_id)
    on = people | {company_id}
    return ControlAnswer.model_validate(
        {
            "company": company,
            "as_of": as_of,
            "legal_representatives": [_role(r) for r in roles if r["type"] != "OFFICER_OF"],
            "officers": [_role(r) for r in roles if r["type"] == "OFFICER_OF"],
            "shareholders": shareholders,
            "beneficial_owners": owners,
            "actual_controller": controller,
            # Read on everyone the answer may name; kept on those it does name.
            "punishments": [p for p in found["punishments"] if p["on"] in on],
            "list_entries": [e for e in found["list_entries"] if e["on"] in on],
        }
    )


def _consolidated(rows: list[dict[str, Any]]) -> list[Holding]:
    """graph.analysis.consolidate for a few rows, summed in Python: pandas' groupby costs
    more than the rest of the lookup (about 10 ms)."""
    ratios: dict[tuple[str, str, str], float] = {}
    for r in rows:
        if r["ratio"] is not None:
            key = (r["holder"], r["holder_kind"], r["company"])
            ratios[key] = ratios.get(key, 0.0) + r["ratio"]
    return [(*key, ratio) for key, ratio in sorted(ratios.items())]


def _role(row: dict[str, Any]) -> dict[str, Any]:
    """A role row as a RoleTenure's fields: the person and the tenure."""
    return {
        **row["p"],
        "role": row["role"] or "legal_rep",
        "valid_from": row["valid_from"],
        "valid_to": row["valid_to"],
        "sources": row["sources"],
        "record_ids": row["record_ids"],
    }


def _controller(
    result: CompanyControl,
    finder: PathFinder,
    names: dict[str, str],
    settings: Control,
) -> Controller | NoController:
    if result.person is None:
        return NoController(
            basis="none",
            note="no identifiable controller: no majority chain ends at a person and "
            "no single person holds the largest look-through share at or above "
            f"{settings.beneficial_owner_threshold:.0%}",
        )
    paths, cycles = finder.paths(result.person, result.company, max_paths=settings.max_paths)
    return Controller.model_validate(
        {
            "entity_id": result.person,
            "name": names.get(result.person),
            "basis": result.basis,
            "look_through_share": result.share,
            "chain": [Node(entity_id=e, name=names.get(e)) for e in result.chain],
            "cycles_contribute": cycles,
            "paths": _paths(paths, names),
        }
    )


def _paths(paths: list[FoundPath], names: dict[str, str]) -> list[HoldingPath]:
    return [
        HoldingPath(
            nodes=[Node(entity_id=n, name=names.get(n)) for n in p.nodes],
            ratios=p.ratios,
            share=p.share,
        )
        for p in paths
    ]


# Rows on each `id` (an entity ID); `_PUNISHMENTS_ON` and `_LIST_ENTRIES_ON` for a list.
_PUNISHMENTS = (
    _PERSON_OR_COMPANY + " "
    "MATCH (n:Punishment)-[l:IMPOSED_ON|NAMES_RESPONSIBLE|NAMES]->(x) "
    "WHERE $as_of IS NULL OR n.decision_date IS NULL OR n.decision_date <= $as_of "
    "RETURN x.entity_id AS on, x.name AS on_name, "
    "CASE type(l) WHEN 'IMPOSED_ON' THEN 'party' WHEN 'NAMES_RESPONSIBLE' "
    "THEN 'responsible' ELSE l.slot END AS via, n.decision_number AS decision_number, "
    "n.decision_date AS decision_date, n.categories AS categories, n.agency AS agency, "
    "n.legal_basis AS legal_basis, n.source AS source, n.record_id AS record_id "
    "ORDER BY decision_date, decision_number, on"
)
_LIST_ENTRIES = (
    _PERSON_OR_COMPANY + " "
    "MATCH (n:ListEntry)-[l:LISTS|NAMES]->(x) "
    "WHERE $as_of IS NULL OR n.entered IS NULL OR n.entered <= $as_of "
    "RETURN x.entity_id AS on, x.name AS on_name, "
    "CASE type(l) WHEN 'LISTS' THEN 'party' ELSE l.slot END AS via, n.list AS list, "
    "n.entered AS entered, n.removed AS removed, n.expires AS expires, "
    "($as_of IS NOT NULL AND (n.removed IS NULL OR n.removed > $as_of) "
    "AND (n.expires IS NULL OR n.expires > $as_of)) AS listed_on_date, "
    "n.reason AS reason, n.authority AS authority, n.case_number AS case_number, "
    "n.source AS source, n.record_id AS record_id ORDER BY entered, case_number, on"
)
_PUNISHMENTS_ON = "UNWIND $ids AS id " + _PUNISHMENTS
_LIST_ENTRIES_ON = "UNWIND $ids AS id " + _LIST_ENTRIES


def _collected(query: str, name: str, scope: str = "") -> str:
    """A row query (`... RETURN a AS x, b AS y ORDER BY ...`) as a subquery that returns its
    rows in order as one list `name`: two such lists come back in one round trip. `scope`:
    the variables of the outer query it reads."""
    match, _, projection = query.rpartition(" RETURN ")
    columns, _, order = projection.partition(" ORDER BY ")
    aliases = [c.rpartition(" AS ")[2] for c in _top_level(columns)]
    fields = ", ".join(f"{a}: {a}" for a in aliases)
    return (
        f"CALL ({scope}) {{ {match} WITH {columns} ORDER BY {order} "
        f"RETURN collect({{{fields}}}) AS {name} }}"
    )


def _top_level(columns: str) -> list[str]:
    """The comma-separated items of a RETURN clause, ignoring commas inside brackets."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(columns):
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            items.append(columns[start:i].strip())
            start = i + 1
    return [*items, columns[start:].strip()]


# `controls`' one statement for a company named by a unique key: one row whether or not the
# company exists (`c` null if not).
_CONTROL = {
    key: stamped(
        f"OPTIONAL MATCH (c:Company {{{key}: $ref}}) "
        + _collected(_ROLES, "roles", "c")
        + " "
        + _collected(_SHAREHOLDERS, "shareholders", "c")
        + " "
        + _collected(_UPSTREAM, "holdings", "c")
        + " "
        + _NAMED_ABOVE
        + " "
        + _collected("UNWIND ids AS id " + _PUNISHMENTS, "punishments", "ids")
        + " "
        + _collected("UNWIND ids AS id " + _LIST_ENTRIES, "list_entries", "ids")
        + f" RETURN {_COMPANY_FIELDS} AS c, roles, shareholders, holdings, punishments, "
        "list_entries"
    )
    for key in ("entity_id", "uscc")
}


def _punishments_on(
    tx: neo4j.ManagedTransaction, entity_ids: list[str], as_of: date | None
) -> list[Punishment]:
    """Punishments imposed on, or naming, any of `entity_ids` (decided by `as_of`)."""
    rows = _rows(tx, _PUNISHMENTS_ON, ids=entity_ids, as_of=as_of)
    return [Punishment.model_validate(r) for r in rows]


def _list_entries_on(
    tx: neo4j.ManagedTransaction, entity_ids: list[str], as_of: date | None
) -> list[ListEntry]:
    """List entries of, or naming, any of `entity_ids`, with whether listed on `as_of`."""
    rows = _rows(tx, _LIST_ENTRIES_ON, ids=entity_ids, as_of=as_of)
    return [ListEntry.model_validate(r) for r in rows]


def footprint(
    driver: neo4j.Driver, reference: str, id_hint: str | None = None, database: str = "neo4j"
) -> Footprint:
    """Every company a person is or was tied to, and what marks that footprint: roles with
    tenures, holdings, control and beneficial ownership (`graph control`'s results),
    companies reached through holding companies, and the punishments and list entries on
    the person and on every company of the footprint."""
    return read_whole(driver, database, _footprint, reference, id_hint)


def _footprint(tx: neo4j.ManagedTransaction, reference: str, id_hint: str | None) -> Footprint:
    person_id = _resolve_person(tx, reference, id_hint)
    person = _rows(
        tx,
        "MATCH (p:Person {entity_id: $id}) RETURN "
        + _PERSON_FIELDS
        + " AS p, p.sources AS sources",
        id=person_id,
    )[0]
    roles = _rows(
        tx,
        "MATCH (p:Person {entity_id: $id})-[r:LEGAL_REPRESENTATIVE_OF|OFFICER_OF]->(c) "
        "RETURN c.entity_id AS entity_id, c.name AS name, c.uscc AS uscc, "
        "coalesce(r.role, 'legal_rep') AS role, r.valid_from AS valid_from, "
        "r.valid_to AS valid_to, r.sources AS sources, r.record_ids AS record_ids "
        "ORDER BY valid_from, name, role",
        id=person_id,
    )
    holdings = _rows(
        tx,
        "MATCH (p:Person {entity_id: $id})-[r:HOLDS_SHARES_IN]->(c) "
        "RETURN c.entity_id AS entity_id, c.name AS name, c.uscc AS uscc, r.ratio AS ratio, "
        "r.valid_from AS valid_from, r.valid_to AS valid_to, r.source AS source, "
        "r.record_id AS record_id ORDER BY valid_from, name",
        id=person_id,
    )
    controlled = _rows(
        tx,
        "MATCH (p:Person {entity_id: $id})-[r:CONTROLS|BENEFICIAL_OWNER_OF]->(c) "
        "RETURN c.entity_id AS entity_id, c.name AS name, type(r) AS relation, "
        "r.share AS share, r.basis AS basis, r.as_of AS as_of, r.paths AS paths "
        "ORDER BY name, relation",
        id=person_id,
    )
    indirect = _rows(
        tx,
        "MATCH (p:Person {entity_id: $id})-[:HOLDS_SHARES_IN]->(first:Company) "
        "MATCH path = (first)-[:HOLDS_SHARES_IN*1..8]->(c:Company) "
        "WITH c, min(length(path)) + 1 AS hops "
        "RETURN c.entity_id AS entity_id, c.name AS name, hops ORDER BY hops, name LIMIT 500",
        id=person_id,
    )
    companies = {r["entity_id"] for r in roles + holdings + controlled + indirect}
    on = sorted(companies | {person_id})
    return Footprint.model_validate(
        {
            "person": {**person["p"], "sources": person["sources"]},
            "roles": roles,
            "holdings": holdings,
            "control": controlled,
            "indirect": indirect,
            "punishments": _punishments_on(tx, on, None),
            "list_entries": _list_entries_on(tx, on, None),
        }
    )


def related_party_risk(
    driver: neo4j.Driver,
    reference: str,
    hops: int,
    as_of: date | None = None,
    database: str = "neo4j",
) -> RelatedPartyRisk:
    """Punishments and list entries on the companies within `hops` relationships of the
    company over holdings and control (either direction): the related companies that have
    any, each with its distance and the path to it."""
    hops = int(hops)
    if not 1 <= hops <= 6:
        raise ValueError(f"hops must be 1..6, got {hops}")
    return read_whole(driver, database, _related_party_risk, reference, hops, as_of)


def _related_party_risk(
    tx: neo4j.ManagedTransaction, reference: str, hops: int, as_of: date | None
) -> RelatedPartyRisk:
    company_id = _find_company(tx, reference).entity_id
    # Cypher takes no parameter in a path length; the bound is a checked integer.
    related = _rows(
        tx,
        "MATCH (c:Company {entity_id: $id}) "
        "MATCH path = (c)-[:HOLDS_SHARES_IN|CONTROLS|BENEFICIAL_OWNER_OF*1.."
        + str(hops)
        + "]-(other:Company) WHERE other <> c "
        "WITH other, path ORDER BY length(path) "
        "WITH other, collect(path)[0] AS path "
        "RETURN other.entity_id AS entity_id, other.name AS name, length(path) AS distance, "
        "[n IN nodes(path) | n.entity_id] AS path ORDER BY distance, name LIMIT 1000",
        id=company_id,
    )
    ids = [r["entity_id"] for r in related]
    punished = _punishments_on(tx, ids, as_of)
    listed = _list_entries_on(tx, ids, as_of)
    out = []
    for r in related:
        p = [x for x in punished if x.on == r["entity_id"]]
        e = [x for x in listed if x.on == r["entity_id"]]
        if p or e:
            out.append(RelatedParty(**r, punishments=p, list_entries=e))
    return RelatedPartyRisk(
        company=company_id, hops=hops, related_companies=len(related), related=out
    )


def notable_structures(driver: neo4j.Driver, database: str = "neo4j") -> dict[str, str]:
    """Companies whose control is worth a look, found from `graph control`'s results: the
    deepest majority chain, a circular holding that adds to an owner's share, and a
    nominee structure (a controller behind holding companies who is not the legal
    representative, preferring one named responsible in a punishment)."""
    queries = {
        "deep_chain": (
            "MATCH (:Person)-[r:CONTROLS {basis: 'majority_chain'}]->(c:Company) "
            "RETURN c.entity_id AS id ORDER BY size(r.chain) DESC, id LIMIT 1"
        ),
        "cycle": (
            "MATCH (:Person)-[r:BENEFICIAL_OWNER_OF]->(c:Company) WHERE r.cycles_contribute "
            "RETURN c.entity_id AS id ORDER BY r.share DESC, id LIMIT 1"
        ),
        "nominee": (
            "MATCH (p:Person)-[r:CONTROLS]->(c:Company) WHERE size(r.chain) >= 3 "
            "AND NOT EXISTS { (p)-[t:LEGAL_REPRESENTATIVE_OF]->(c) WHERE t.valid_to IS NULL } "
            "RETURN c.entity_id AS id "
            "ORDER BY EXISTS { (:Punishment)-[:NAMES_RESPONSIBLE]->(p) } DESC, "
            "size(r.chain) DESC, id LIMIT 1"
        ),
    }

    def read(tx: neo4j.ManagedTransaction) -> dict[str, str]:
        found = {}
        for kind, query in queries.items():
            rows = _rows(tx, query)
            if rows:
                found[kind] = rows[0]["id"]
        return found

    return read_whole(driver, database, read)
