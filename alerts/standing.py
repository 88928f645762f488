"""The bans and watches that reach a person on a day: what the licence counter must know.

Food Safety Law art. 135 bars the banned from *applying* for a food licence, so a ban
must be found before the licence is granted, not only when the banned person turns up in
a company later (the sweep of alerts/engine.py). The question is the engine's first two
steps asked of a few persons: which triggers of config/rules.yaml reach them, and how.
The answer reuses them unchanged (`engine.reached`: the same triggers, windows and reach,
control on the trigger date included), over a reader narrowed to the records that can
reach these persons: those on or naming the persons, on the companies they held a role
in, and on the companies they hold shares in, directly or through holding companies.
A ban or watch stands on the day when its window holds it: from the trigger date, until
the window's end (exclusive; none for life or while a list entry stands).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from alerts.engine import reached
from alerts.evidence import company_document, display_names, period_text, tie_document
from alerts.model import Trigger
from alerts.reads import GraphReader
from config.graph import Control
from config.rules import CONTROL_ROLES, Rule, RulesConfig
from graph.values import jsonable


class RuleRef(BaseModel):
    """The rule, and the law it rests on."""

    id: str
    title: str
    legal_basis: str
    severity: Literal["ban", "watch"]


class Standing(BaseModel):
    """One ban or watch in force on the day, on one person, with its evidence."""

    person: str = Field(description="the person entity it reaches")
    rule: RuleRef
    trigger: dict[str, Any] = Field(
        description="the record that starts it: kind, source, record_id, reference "
        "(decision or case number), date, categories or list, legal basis, agency or "
        "authority, removed and expires for a list entry, and the company it was imposed on"
    )
    ties: list[dict[str, Any]] = Field(
        description="how the record reaches the person (legal_rep, responsible, officers, "
        "actual_controller, beneficial_owner, party), with the records that show it"
    )
    start: date = Field(description="the window's first day: the trigger date")
    end: date | None = Field(
        description="the first day it no longer holds; null: for life, or while the list "
        "entry stands"
    )
    period: str

    def records(self) -> list[str]:
        """source:record_id of the records that tie the person to the trigger."""
        return sorted({r for tie in self.ties for r in tie.get("records", [])})


def in_force(window: tuple[date, date | None], day: date) -> bool:
    """The window [start, end) holds `day`."""
    start, end = window
    return start <= day and (end is None or day < end)


def standing(
    reader: GraphReader,
    persons: list[str],
    rules: RulesConfig,
    settings: Control,
    as_of: date,
) -> dict[str, list[Standing]]:
    """Per person (entity ID), every ban or watch of `rules` in force on `as_of` that
    reaches them, rule by rule in the order of rules.yaml, then by trigger date."""
    if not persons:
        return {}
    around = set(persons) | set(reader.roles_of(persons)["company"])
    if any(set(CONTROL_ROLES) & set(rule.reaches) for rule in rules.rules):
        around |= reader.held_downstream(persons)
    narrowed = GraphReader(reader.driver, reader.database, around=sorted(around))
    triggers, ties = reached(narrowed, rules, settings, as_of)
    wanted = set(persons)
    found: list[tuple[Rule, Trigger, str, list[Any]]] = []
    for (rule_id, key), by_person in ties.items():
        trigger = triggers[rule_id][key]
        if not in_force(trigger.window, as_of):
            continue
        for person in sorted(wanted & by_person.keys()):
            found.append((rules.rule(rule_id), trigger, person, by_person[person]))
    if not found:
        return {}
    companies, persons_read = _named(reader, found)
    names = display_names(companies, persons_read)
    order = {rule.id: i for i, rule in enumerate(rules.rules)}
    found.sort(key=lambda f: (order[f[0].id], f[1].day, f[1].key, f[2]))
    out: dict[str, list[Standing]] = {}
    for rule, trigger, person, person_ties in found:
        out.setdefault(person, []).append(
            _standing(rule, trigger, person, person_ties, companies, names)
        )
    return out


def _named(
    reader: GraphReader, found: list[tuple[Rule, Trigger, str, list[Any]]]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The companies and persons the evidence names: the triggering companies and every
    node of a control path."""
    companies = {t.party_id for _, t, _, _ in found if t.party_kind == "company" and t.party_id}
    nodes: set[str] = set()
    for _, _, _, person_ties in found:
        for tie in person_ties:
            for path in tie.detail.get("paths", []):
                nodes |= set(path["nodes"])
            nodes |= set(tie.detail.get("chain", []))
    companies |= {n for n in nodes if n.startswith("C")}
    holders = sorted({n for n in nodes if n.startswith("P")})
    return (
        reader.companies(sorted(companies)),
        reader.persons(holders) if holders else {},
    )


def _standing(
    rule: Rule,
    trigger: Trigger,
    person: str,
    ties: list[Any],
    companies: dict[str, dict[str, Any]],
    names: dict[str, str],
) -> Standing:
    record = {k: v for k, v in trigger.record.items() if v is not None and k != "key"}
    party = (
        company_document(companies, trigger.party_id) if trigger.party_kind == "company" else None
    )
    start, end = trigger.window
    return Standing(
        person=person,
        rule=RuleRef(
            id=rule.id, title=rule.title, legal_basis=rule.legal_basis, severity=rule.severity
        ),
        trigger=jsonable({"kind": trigger.kind, **record, "company": party}),
        ties=[jsonable(tie_document(t, names)) for t in ties],
        start=start,
        end=end,
        period=period_text(rule),
    )
