"""The evidence an inspector acts on, built for each hit of the alert engine.

An alert says: this rule (and its legal basis), this triggering record, this person tied to
it in this way, the same person (this is how the linkage knows) holding this role or this
control (through these holding paths) in this company, inside this window. The identity
link is read from the linkage run the graph was loaded from (the latest `Load` node's
run directory): the mentions of the person on the old record and on the new one, and the
chain of links (identifier, reviewer judgement or model score with its key comparison
levels) that joined them.

Evidence is stored on Alert nodes and exported, so it shows what the graph may show
(graph/facts.py): ID masks with the birth month and day hidden (`display_mask`), and any
resident ID inside a text (a record key in a mention reference, an agency's reason) masked
(`masked_resident_ids`). Whether the IDs on the old and new records contradict is still
judged on the source masks, which the run directory keeps.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from alerts.engine import in_scope
from alerts.model import Hit
from graph.values import jsonable
from loaders import rundir
from loaders.identifiers import display_mask, masked_resident_ids

#: Comparison levels shown per model link: the ones that weighed most, either way.
KEY_LEVELS = 4


def alert_id(rule: str, person: str, company: str, trigger: str, role: str) -> str:
    """Deterministic: the same finding gets the same ID in every sweep."""
    text = "|".join((rule, person, company, trigger, role))
    return "A" + hashlib.sha256(text.encode()).hexdigest()[:15]


def digest(evidence: dict[str, Any]) -> str:
    """What a reviewer saw: a dismissal holds while this stays the same."""
    text = json.dumps(evidence, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Identity:
    """Mentions and merge links of the persons in a sweep, from the loaded run."""

    def __init__(self, run_dir: Path | None, persons: list[str]) -> None:
        self.run_dir = run_dir
        self.links: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        #: mention reference as the graph shows it -> name and the source's ID mask
        self.mentions: dict[str, dict[str, Any]] = {}
        self.note: str | None = None
        if run_dir is None or not rundir.exists(run_dir, "entities"):
            self.note = "the linkage run the graph was loaded from is not available here"
            return
        wanted = set(persons)
        entities = rundir.entities(run_dir, ["run", "source", "record_id", "slot", "entity_id"])
        entities = entities[entities["entity_id"].isin(wanted)]
        runs = sorted(entities["run"].unique())
        found_links = False
        for run in runs:
            found_links |= self._read_links(run_dir / run, wanted)
            self._read_mentions(run_dir / run, entities, run)
        if not found_links:
            self.note = "the run has no links.parquet: the entities were given, not linked"

    def _read_links(self, run: Path, wanted: set[str]) -> bool:
        if not rundir.exists(run, "links"):
            return False
        table = rundir.arrow(
            run,
            "links",
            [
                "entity_type",
                "mention_l",
                "mention_r",
                "entity_id_l",
                "evidence",
                "match_probability",
                "levels",
                "merged",
            ],
            filters=[("entity_type", "=", "person"), ("merged", "=", True)],
        )
        table = table.filter(pc.is_in(table["entity_id_l"], value_set=_array(wanted)))
        for row in table.to_pylist():
            hop = {
                "evidence": row["evidence"],
                "match_probability": row["match_probability"],
                "levels": _key_levels(row["levels"] or []),
            }
            entity = self.links[row["entity_id_l"]]
            left, right = shown_ref(row["mention_l"]), shown_ref(row["mention_r"])
            entity[left].append({"to": right, **hop})
            entity[right].append({"to": left, **hop})
        return True

    def _read_mentions(self, run_path: Path, entities: pd.DataFrame, run: str) -> None:
        if not rundir.exists(run_path, "person_mentions"):
            return
        mine = entities[entities["run"] == run]
        records = set(mine["record_id"])
        table = rundir.arrow(
            run_path, "person_mentions", ["source", "record_id", "slot", "name", "id_display"]
        )
        table = table.filter(pc.is_in(table["record_id"], value_set=_array(records)))
        keys = set(zip(mine["source"], mine["record_id"], mine["slot"], strict=True))
        for row in table.to_pylist():
            if (row["source"], row["record_id"], row["slot"]) in keys:
                ref = shown_ref(f"{row['source']}:{row['record_id']}:{row['slot']}")
                self.mentions[ref] = {"mention": ref, "name": row["name"], "id": row["id_display"]}

    def evidence(
        self, person: str, mentions: list[str], old_records: list[str], new_records: list[str]
    ) -> dict[str, Any]:
        """The person's mentions on the old and new records and the links between them.
        References are compared as the graph shows them (`shown_ref`), whether or not the
        graph was loaded before it showed them so."""
        mentions = [shown_ref(m) for m in mentions]
        old = _on(mentions, [shown_ref(r) for r in old_records])
        new = _on(mentions, [shown_ref(r) for r in new_records])
        out: dict[str, Any] = {
            "old_mentions": [self._show(m) for m in old],
            "new_mentions": [self._show(m) for m in new],
        }
        out["ids_contradict"] = contradicts(
            [self._source_id(m) for m in old], [self._source_id(m) for m in new]
        )
        if self.note:
            out["note"] = self.note
            return out
        if set(old) & set(new):
            out["path"] = []
            out["note"] = "the same mention is on both records"
            return out
        path = _shortest(self.links.get(person, {}), old, new)
        if path is None:
            out["note"] = "no chain of merge links joins these mentions in the run"
            return out
        out["path"] = [
            {
                "from": self._show(a),
                "to": self._show(hop["to"]),
                **{k: hop[k] for k in hop if k != "to"},
            }
            for a, hop in path
        ]
        out["weakest_probability"] = min(h["match_probability"] for _, h in path) if path else 1.0
        return out

    def _show(self, ref: str) -> dict[str, Any]:
        """A mention as the evidence shows it: its ID mask with the birth month and day
        hidden."""
        found = self.mentions.get(ref, {"mention": ref, "name": None, "id": None})
        return {**found, "id": found["id"] and display_mask(found["id"])}

    def _source_id(self, ref: str) -> str | None:
        """The mention's ID as its source masked it (judged, never shown)."""
        found: str | None = self.mentions.get(ref, {}).get("id")
        return found


def shown_ref(ref: str) -> str:
    """A mention or record reference (source:record_id[:slot]) as the graph shows it: a
    resident ID in the record key masked."""
    return masked_resident_ids(ref)


def compatible(a: str, b: str) -> bool:
    """Two ID displays (full IDs shown masked, or published masks) can be one person's:
    same length, and every position visible in both holds the same character."""
    if len(a) != len(b):
        return False
    return all(x == y or "*" in (x, y) for x, y in zip(a.upper(), b.upper(), strict=True))


def contradicts(old: list[str | None], new: list[str | None]) -> bool:
    """The IDs on the old record and on the new one cannot belong to one person: both sides
    carry IDs and no pair of them is compatible. Such a hit is a linkage error, not an
    alert."""
    a, b = [i for i in old if i], [i for i in new if i]
    return bool(a and b) and not any(compatible(x, y) for x in a for y in b)


def _array(values: set[str]) -> pa.Array[Any]:
    return pa.array(sorted(values), type=pa.string())


def _key_levels(levels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ranked = sorted(levels, key=lambda lv: -abs(lv.get("match_weight") or 0.0))[:KEY_LEVELS]
    return [
        {
            "comparison": lv["comparison"],
            "level": lv["level"],
            "match_weight": round(lv["match_weight"], 2),
        }
        for lv in ranked
    ]


def _on(mentions: list[str], records: list[str]) -> list[str]:
    """The mentions (source:record_id:slot) that sit on these records (source:record_id)."""
    prefixes = tuple(f"{r}:" for r in records)
    return sorted(m for m in mentions if m.startswith(prefixes)) if prefixes else []


def _shortest(
    adjacency: dict[str, list[dict[str, Any]]], starts: list[str], goals: list[str]
) -> list[tuple[str, dict[str, Any]]] | None:
    """Fewest links from any start mention to any goal mention (breadth first).

    Among chains of equal length the choice must not depend on the order of
    links.parquet's rows (Splink's scored pairs come from DuckDB in thread order), or the
    same run would show another chain, weakest probability and evidence digest at each
    sweep, and reopen dismissed alerts: neighbours are taken in mention order, each by its
    strongest link first."""
    goal = set(goals)
    if not starts or not goal:
        return None
    back: dict[str, tuple[str, dict[str, Any]] | None] = {s: None for s in starts}
    queue = deque(starts)
    while queue:
        node = queue.popleft()
        if node in goal:
            path = []
            while (step := back[node]) is not None:
                prev, hop = step
                path.append((prev, hop))
                node = prev
            return path[::-1]
        for hop in sorted(adjacency.get(node, ()), key=_hop_order):
            if hop["to"] not in back:
                back[hop["to"]] = (node, hop)
                queue.append(hop["to"])
    return None


def _hop_order(hop: dict[str, Any]) -> tuple[str, float, str, str]:
    """Neighbour, strongest link first, then evidence and levels: a total order."""
    levels = json.dumps(hop["levels"], sort_keys=True)
    return hop["to"], -hop["match_probability"], hop["evidence"], levels


# -- the evidence document -----------------------------------------------------------------


TRIGGER_COMPANY_NOT_IN_REGISTER = (
    "the company on the triggering record matches no registry record (no USCC, no founding "
    "date): the company alerted may be that company written another way"
)


def _in_register(company: dict[str, Any]) -> bool:
    """A registry record joins the company: it has a USCC or a founding date."""
    return company.get("uscc") is not None or company.get("established") is not None


def company_document(
    companies: dict[str, dict[str, Any]], entity_id: str | None
) -> dict[str, Any] | None:
    if entity_id is None:
        return None
    c = companies.get(entity_id, {})
    return {
        "entity_id": entity_id,
        "name": c.get("name"),
        "uscc": c.get("uscc"),
        "industry_code": c.get("industry_code"),
        "region_code": c.get("region_code"),
    }


def _path_text(path: dict[str, Any], names: dict[str, str]) -> str:
    text = names.get(path["nodes"][0], path["nodes"][0])
    for node, ratio in zip(path["nodes"][1:], path["ratios"], strict=True):
        text += f" -{ratio:.2%}-> {names.get(node, node)}"
    return f"{text} = {path['share']:.2%}"


def display_names(
    companies: dict[str, dict[str, Any]], persons: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """Entity ID -> name, for paths and chains (built once per sweep)."""
    names = {k: v.get("name") or k for k, v in companies.items()}
    names.update({k: v.get("name") or k for k, v in persons.items()})
    return names


def build(
    hit: Hit,
    companies: dict[str, dict[str, Any]],
    persons: dict[str, dict[str, Any]],
    identity: Identity,
    names: dict[str, str],
) -> dict[str, Any]:
    """The evidence document of one hit (JSON-ready)."""
    rule, trigger, role = hit.rule, hit.trigger, hit.role
    person = persons.get(hit.person, {})
    old_records = sorted({r for tie in hit.ties for r in tie.records})
    record = {k: v for k, v in trigger.record.items() if v is not None}
    target: dict[str, Any] = {
        "company": company_document(companies, role.company),
        "role": role.role,
        # A start no record gives is unknown; the company's establishment only bounds it.
        "start": None if role.start_inferred else role.start,
        "start_inferred": role.start_inferred,
        "start_no_earlier_than": role.start if role.start_inferred else None,
        "end": role.end,
        "end_by_company": role.end_by_company,
        "observed_in_office": (
            {"first": role.observed[0], "last": role.observed[1]}
            if role.observed[0] is not None
            else None
        ),
        "company_ended_undated": role.company_ended_undated,
        "began_before_trigger": hit.began_before_trigger,
        "records": role.records,
        "in_scope": in_scope(
            rule.restricts, companies.get(role.company) or {}, role, trigger.window
        ),
    }
    if role.control is not None:
        c = role.control
        target["control"] = {
            "look_through_share": round(c["share"], 6),
            "basis": c.get("basis"),
            "chain": [names.get(n, n) for n in c.get("chain", [])],
            "paths": [_path_text(p, names) for p in c["paths"]],
            "cycles_contribute": c["cycles_contribute"],
        }
    window_start, window_end = trigger.window
    party = (
        company_document(companies, trigger.party_id) if trigger.party_kind == "company" else None
    )
    doubts = []
    if party is not None and not _in_register(companies.get(party["entity_id"], {})):
        # A punished company that no registry record joins (no USCC, no founding date) is
        # probably a registered company written otherwise: "other companies than the
        # punished one" may then take in the punished company itself.
        party["in_register"] = False
        doubts.append(TRIGGER_COMPANY_NOT_IN_REGISTER)
    document: dict[str, Any] = jsonable(
        {
            "rule": {
                "id": rule.id,
                "title": rule.title,
                "legal_basis": rule.legal_basis,
                "severity": rule.severity,
            },
            "trigger": {
                "kind": trigger.kind,
                **record,
                "company": party,
            },
            "person": {
                "entity_id": hit.person,
                "name": person.get("name"),
                "names": person.get("names") or [],
                "id_masks": list(dict.fromkeys(map(display_mask, person.get("id_masks") or []))),
            },
            "ties": [tie_document(t, names) for t in hit.ties],
            "identity": identity.evidence(
                hit.person, person.get("mentions") or [], old_records, role.records
            ),
            "target": target,
            "window": {
                "start": window_start,
                "end": window_end,
                "period": period_text(rule),
            },
            **({"doubts": doubts} if doubts else {}),
        }
    )
    masked: dict[str, Any] = _masked(document)
    return masked


def _masked(value: Any) -> Any:
    """Every text of a JSON-ready document through `masked_resident_ids`: the graph's
    texts are masked when loaded, but a graph loaded before they were is not."""
    if isinstance(value, str):
        return masked_resident_ids(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def tie_document(tie: Any, names: dict[str, str]) -> dict[str, Any]:
    detail = dict(tie.detail)
    if "paths" in detail:
        detail["paths"] = [_path_text(p, names) for p in detail["paths"]]
        detail["chain"] = [names.get(n, n) for n in detail.get("chain", [])]
        detail["share"] = round(detail["share"], 6)
    return {"how": tie.how, **detail, "records": tie.records}


def period_text(rule: Any) -> str:
    period = rule.period
    if period.years is not None:
        return f"{period.years} years from the trigger date"
    if period.lifetime:
        return "for life"
    return "while the list entry stands: until it is removed or its management period ends"
