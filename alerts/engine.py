"""The alert engine: which persons a rule reaches, and where they turn up inside its window.

For every rule of config/rules.yaml (the semantics are documented there and in
docs/ALERTS.md):

1. **Triggers**: the punishments and list entries the rule names, dated on or before the
   sweep's as-of day. Each opens a window: [decision date, + N years) with 29 February
   rolling to 1 March, [date, open) for life, or [entered, removed) for a list entry.
2. **Reach**: the persons the trigger reaches, each with how (the tie): legal
   representative of the triggering company on the trigger date (registry tenure) or named
   as such on the record, directly responsible persons the decision names, officers in
   office then, the actual controller or beneficial owners then (look-through control
   computed from the holdings in force on that day), a natural-person party.
3. **Roles**: every legal-representative and officer tenure of those persons, and control
   of companies as of the sweep's day: look-through shares through any chain of holding
   companies (graph/control/), the actual controller and beneficial owners, with the
   holding paths. A control role starts when the last holding on its paths was in place.
4. **Hits**: a role the rule restricts, in a company of its industries (other than the
   triggering company), overlapping the window: it starts before the window ends and has
   not ended before the window starts. A role that began before the trigger and continued
   into the window counts too and says so. One hit per (rule, person, company, trigger,
   role), with the earliest qualifying start.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any, cast

import pandas as pd

from alerts.dated_control import ControlAt, person_roles
from alerts.model import (
    LIST_ENTRY,
    PUNISHMENT,
    Evaluation,
    Hit,
    Role,
    Tie,
    Trigger,
    add_years,
    earlier,
)
from alerts.reads import GraphReader
from config.graph import Control
from config.rules import CONTROL_ROLES, LICENCE_PREFIXES, Restricts, Rule, RulesConfig
from graph.in_force import in_force, overlaps


def evaluate(
    reader: GraphReader,
    rules: RulesConfig,
    settings: Control,
    as_of: date,
    since: date | None = None,
) -> Evaluation:
    """Every hit of every rule as of `as_of` (roles starting on or after `since` only, if
    given: an incremental sweep after a wave)."""
    triggers, undated = _triggers(reader, rules.rules, as_of)
    ties = _reach(reader, rules.rules, triggers, settings)
    persons = sorted({person for by_person in ties.values() for person in by_person})
    roles = person_roles(reader, persons, settings, as_of)
    companies = reader.companies(sorted({r.company for rs in roles.values() for r in rs}))
    _infer_starts(roles, companies)
    _end_with_company(roles, companies)
    evaluation = Evaluation(hits=[], undated=undated)
    for rule in rules.rules:
        evaluation.triggers[rule.id] = len(triggers[rule.id])
        evaluation.reached[rule.id] = len(
            {p for (rid, _), by_person in ties.items() if rid == rule.id for p in by_person}
        )
    for (rule_id, trigger_key), by_person in sorted(ties.items()):
        rule = rules.rule(rule_id)
        trigger = triggers[rule_id][trigger_key]
        for person, person_ties in sorted(by_person.items()):
            best: dict[tuple[str, str], Role] = {}
            for role in roles.get(person, ()):
                if not _restricted(rule, trigger, role, companies, as_of, since):
                    continue
                key = (role.company, role.role)
                if key not in best or earlier(role.start, best[key].start):
                    best[key] = role
            evaluation.hits += [
                Hit(rule, trigger, person, person_ties, role) for _, role in sorted(best.items())
            ]
    return evaluation


def reached(
    reader: GraphReader, rules: RulesConfig, settings: Control, as_of: date
) -> tuple[dict[str, dict[str, Trigger]], Ties]:
    """Steps 1 and 2 alone: per rule its triggers dated by `as_of`, and per (rule, trigger)
    the persons it reaches with their ties. Screening asks this of a reader narrowed to
    the records around its candidates (alerts/standing.py): the same rules, reached the
    same way as the sweep reaches them."""
    triggers, _ = _triggers(reader, rules.rules, as_of)
    return triggers, _reach(reader, rules.rules, triggers, settings)


def _infer_starts(roles: dict[str, list[Role]], companies: dict[str, dict[str, Any]]) -> None:
    """A role whose start no record gives began no earlier than its company was established
    (a registry row says who is legal representative now, not since when): take that day,
    so a company founded after a ban ended does not look like one run during it."""
    for role in (r for rs in roles.values() for r in rs):
        established = (companies.get(role.company) or {}).get("established")
        if role.start is None and established is not None:
            role.start, role.start_inferred = established, True


#: Registration statuses of a company that no longer operates (注销 deregistered, 吊销
#: business licence revoked, 撤销 registration cancelled).
ENDED_STATUS_WORDS = ("注销", "吊销", "撤销")


def company_ended(company: dict[str, Any]) -> bool:
    status = company.get("status") or ""
    return company.get("ended") is not None or any(w in status for w in ENDED_STATUS_WORDS)


def _end_with_company(roles: dict[str, list[Role]], companies: dict[str, dict[str, Any]]) -> None:
    """No one holds a role in a company past its end: a dated end closes every open or
    later-ending role there; an undated one is marked, for the evidence to say so."""
    for role in (r for rs in roles.values() for r in rs):
        company = companies.get(role.company) or {}
        ended = company.get("ended")
        if ended is not None:
            if role.end is None or role.end > ended:
                role.end, role.end_by_company = ended, True
        elif company_ended(company):
            role.company_ended_undated = True


def _restricted(
    rule: Rule,
    trigger: Trigger,
    role: Role,
    companies: dict[str, dict[str, Any]],
    as_of: date,
    since: date | None,
) -> bool:
    scope = rule.restricts
    if role.role not in scope.roles:
        return False
    if scope.other_companies_only and role.company == trigger.party_id:
        return False
    if role.start is not None and role.start > as_of:
        return False
    if since is not None and (role.start is None or role.start < since):
        return False
    if not overlaps(role.start, role.end, trigger.window):
        return False
    return in_scope(scope, companies.get(role.company) or {}, role, trigger.window) is not None


#: Licence statuses that say the licence stopped on a day the extract does not give.
_ENDED_UNDATED = frozenset({"revoked", "cancelled", "withdrawn"})


def in_scope(
    scope: Restricts, company: dict[str, Any], role: Role, window: tuple[date, date | None]
) -> dict[str, Any] | None:
    """Why the company is in the rule's scope for this role, or None.

    By industry (its code starts with a listed prefix), else by a licence of a listed kind
    in force at some time during the role within the window. A licence revoked or
    cancelled on a day the extract does not give counts on its issue day only: veil can
    say it was in force then, not later.
    """
    if not scope.industries and not scope.licences:
        return {"by": "every company"}
    industry = company.get("industry_code") or ""
    if scope.industries and industry.startswith(scope.industries):
        return {"by": "industry", "industry_code": industry}
    prefixes = tuple(p for kind in scope.licences for p in LICENCE_PREFIXES[kind])
    start = max(d for d in (role.start, window[0]) if d is not None)
    ends = [d for d in (role.end, window[1]) if d is not None]
    end = min(ends) if ends else None
    for licence in company.get("licences") or ():
        number = (licence.get("number") or "").upper()
        if not prefixes or not number.startswith(prefixes):
            continue
        valid_from, valid_to = licence.get("valid_from"), licence.get("valid_to")
        if licence.get("status") in _ENDED_UNDATED:
            if valid_from is None:
                continue
            valid_to = valid_from + timedelta(days=1)  # in force on its issue day, at least
        if overlaps(valid_from, valid_to, (start, end)):
            return {
                "by": "licence",
                "licence_number": licence.get("number"),
                "valid_from": licence.get("valid_from"),
                "valid_to": licence.get("valid_to"),
            }
    return None


# -- 1. triggers -------------------------------------------------------------------------


def _window(rule: Rule, day: date, row: dict[str, Any]) -> tuple[date, date | None]:
    """A list entry stands from its entry until it is removed or its management period
    (管理期限至) ends, whichever comes first."""
    period = rule.period
    if period.years is not None:
        return day, add_years(day, period.years)
    if period.lifetime:
        return day, None
    ends = [d for d in (row.get("removed"), row.get("expires")) if d is not None]
    return day, min(ends) if ends else None


def _triggers(
    reader: GraphReader, rules: tuple[Rule, ...], as_of: date
) -> tuple[dict[str, dict[str, Trigger]], int]:
    categories = sorted({c for r in rules for c in r.trigger.punishment_categories})
    lists = sorted({name for r in rules for name in r.trigger.lists})
    punishments = reader.punishments(categories) if categories else pd.DataFrame()
    entries = reader.list_entries(lists) if lists else pd.DataFrame()
    undated: set[str] = set()
    out: dict[str, dict[str, Trigger]] = {}
    for rule in rules:
        found: dict[str, Trigger] = {}
        for kind, frame in ((PUNISHMENT, punishments), (LIST_ENTRY, entries)):
            for row in _matching(rule, kind, frame):
                if row["date"] is None:
                    undated.add(row["key"])
                    continue
                if row["date"] > as_of:
                    continue
                found[row["key"]] = Trigger(
                    kind=kind,
                    key=row["key"],
                    record={k: v for k, v in row.items() if k not in ("party_id", "party_kind")},
                    party_id=row["party_id"],
                    party_kind=row["party_kind"] if row["party_id"] else None,
                    day=row["date"],
                    window=_window(rule, row["date"], row),
                )
        out[rule.id] = found
    return out, len(undated)


def _matching(rule: Rule, kind: str, frame: pd.DataFrame) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    if kind == PUNISHMENT:
        wanted = set(rule.trigger.punishment_categories)
        if not wanted:
            return []
        keep = frame["categories"].map(lambda cs: bool(wanted.intersection(cs or ())))
        if rule.trigger.legal_basis_contains:
            needles = rule.trigger.legal_basis_contains
            keep &= frame["legal_basis"].map(lambda b: any(n in (b or "") for n in needles))
    else:
        keep = frame["list"].isin(rule.trigger.lists)
    # the graph's columns are named by strings: pandas-stubs types the keys as Hashable
    return cast(list[dict[str, Any]], frame[keep].to_dict("records"))


# -- 2. reach ------------------------------------------------------------------------------

Ties = dict[tuple[str, str], dict[str, list[Tie]]]  # (rule, trigger key) -> person -> ties


def _reach(
    reader: GraphReader,
    rules: tuple[Rule, ...],
    triggers: dict[str, dict[str, Trigger]],
    settings: Control,
) -> Ties:
    every = {t.key: t for found in triggers.values() for t in found.values()}
    companies = sorted(
        {t.party_id for t in every.values() if t.party_id is not None and t.party_kind == "company"}
    )
    named = reader.named(
        sorted(k for k, t in every.items() if t.kind == PUNISHMENT),
        sorted(k for k, t in every.items() if t.kind == LIST_ENTRY),
    )
    named_by_key: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for key, how, slot, person in named.itertuples(index=False, name=None):
        named_by_key[key].append((how, slot, person))
    roles_at: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if any({"legal_rep", "officers"} & set(r.reaches) for r in rules) and companies:
        # pandas-stubs types to_dict's keys as Hashable; the graph's columns are str
        for row in cast(list[dict[str, Any]], reader.roles_in(companies).to_dict("records")):
            roles_at[row["company"]].append(row)
    controlled_at = ControlAt(reader, every, rules, settings)

    ties: Ties = {}
    for rule in rules:
        for key, trigger in triggers[rule.id].items():
            by_person: dict[str, list[Tie]] = defaultdict(list)
            for how in rule.reaches:
                for person, tie in _ties(how, trigger, named_by_key, roles_at, controlled_at):
                    by_person[person].append(tie)
            if by_person:
                ties[(rule.id, key)] = dict(by_person)
    return ties


def _record(trigger: Trigger) -> list[str]:
    return [f"{trigger.record['source']}:{trigger.record['record_id']}"]


def _ties(
    how: str,
    trigger: Trigger,
    named: dict[str, list[tuple[str, str, str]]],
    roles_at: dict[str, list[dict[str, Any]]],
    controlled_at: ControlAt,
) -> list[tuple[str, Tie]]:
    """The persons `trigger` reaches in the way `how` names, each with its tie."""
    out: list[tuple[str, Tie]] = []
    company = trigger.party_id if trigger.party_kind == "company" else None
    if how == "party" and trigger.party_kind == "person" and trigger.party_id is not None:
        out.append((trigger.party_id, Tie("party", {}, _record(trigger))))
    if how == "responsible":
        for rel, slot, person in named.get(trigger.key, ()):
            if rel == "NAMES_RESPONSIBLE":
                detail: dict[str, Any] = {"slot": slot} if isinstance(slot, str) else {}
                out.append((person, Tie("responsible", detail, _record(trigger))))
    if how == "legal_rep":
        for rel, slot, person in named.get(trigger.key, ()):
            if rel == "NAMES" and slot == "legal_rep":
                detail = {"named_on_record": True, "slot": slot}
                out.append((person, Tie("legal_rep", detail, _record(trigger))))
    if how in ("legal_rep", "officers") and company is not None:
        for row in roles_at.get(company, ()):
            is_rep = row["role"] == "legal_rep"
            if is_rep != (how == "legal_rep") or not in_force(
                row["start"], row["end"], trigger.day
            ):
                continue
            detail = {"role": row["role"], "tenure": [row["start"], row["end"]]}
            records = [f"{s}:{r}" for s, r in zip(row["sources"], row["record_ids"], strict=True)]
            out.append((row["person"], Tie(how, detail, records)))
    if how in CONTROL_ROLES and company is not None:
        for person, detail, records in controlled_at.reached(trigger, how):
            out.append((person, Tie(how, detail, records)))
    return out
