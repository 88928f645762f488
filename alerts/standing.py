"""The bans and watches that reach a person on a day: what the licence counter must know.

Food Safety Law art. 135 bars the banned from *applying* for a licence, so a ban must be
found before the licence is granted, not only when the banned person turns up in a
company later (the sweep of alerts/engine.py). The question is the engine's first two
steps, asked of the whole graph once and kept: which triggers of config/rules.yaml reach
which persons, and how (`engine.reached`: the same triggers, windows and reach, control on
the trigger date included). None of it depends on the day asked about but which windows
hold it, so one read serves every application until the graph is loaded again: a ban or
watch stands on a day when its window holds it, from the trigger date until the window's
end (exclusive; none for life, or while a list entry stands).
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from alerts.engine import reached
from alerts.evidence import company_document, display_names, period_text, tie_document
from alerts.model import Trigger
from alerts.reads import GraphReader
from config.graph import Control
from config.rules import Rule, RulesConfig
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


class Standings:
    """Every ban and watch of the rules, per person it reaches (read once; `on` a day)."""

    def __init__(self, by_person: dict[str, list[Standing]], triggers: int, seconds: float):
        self.by_person = by_person
        self.triggers = triggers
        self.seconds = seconds

    @classmethod
    def read(cls, reader: GraphReader, rules: RulesConfig, settings: Control) -> Standings:
        """Every trigger of `rules` in the graph, whatever its date, and whom it reaches;
        in rules.yaml's order, then by trigger date."""
        started = time.perf_counter()
        triggers, ties = reached(reader, rules, settings, date.max)
        found = [
            (rules.rule(rule_id), triggers[rule_id][key], person, person_ties)
            for (rule_id, key), by_person in ties.items()
            for person, person_ties in by_person.items()
        ]
        companies, persons = _named(reader, found)
        names = display_names(companies, persons)
        order = {rule.id: i for i, rule in enumerate(rules.rules)}
        found.sort(key=lambda f: (order[f[0].id], f[1].day, f[1].key, f[2]))
        by_person: dict[str, list[Standing]] = {}
        for rule, trigger, person, person_ties in found:
            by_person.setdefault(person, []).append(
                _standing(rule, trigger, person, person_ties, companies, names)
            )
        count = sum(len(t) for t in triggers.values())
        return cls(by_person, count, round(time.perf_counter() - started, 3))

    def on(self, person: str, day: date) -> list[Standing]:
        """The bans and watches on `person` in force on `day`."""
        return [s for s in self.by_person.get(person, ()) if in_force((s.start, s.end), day)]


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
