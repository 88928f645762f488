"""What the alert engine reasons about: triggers and the windows they open, the ties that
reach a person, the person's roles, and the hits where the two meet; with the day rules
every part of the room shares (a year later, the earlier of two days; "in force on" and
"overlaps" are graph/in_force.py's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from config.rules import Rule

PUNISHMENT = "punishment"
LIST_ENTRY = "list_entry"


def add_years(day: date, years: int) -> date:
    """The same calendar day `years` later; 29 February rolls to 1 March."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


@dataclass
class Trigger:
    """One record that starts a rule's restriction, and the window it opens."""

    kind: str  # punishment | list_entry
    key: str
    record: dict[str, Any]  # the record's fields as the graph holds them
    party_id: str | None
    party_kind: str | None
    day: date
    window: tuple[date, date | None]


@dataclass
class Tie:
    """How a trigger reaches a person: `how` from config.rules.Reach, plus what shows it."""

    how: str
    detail: dict[str, Any]
    records: list[str]  # source:record_id behind the tie


@dataclass
class Role:
    """A role or control of a person in a company, with the records (and paths) behind it."""

    person: str
    company: str
    role: str
    start: date | None
    end: date | None
    records: list[str]
    control: dict[str, Any] | None = None  # share, basis, chain, paths, cycles_contribute
    start_inferred: bool = False  # start unknown: the company's establishment date stands in
    end_by_company: bool = False  # the role's end is the company's end (deregistered, revoked)
    company_ended_undated: bool = False  # the company ended on a day no record gives
    # first and last day a dated record (licence, decision, filing) shows the role
    observed: tuple[date | None, date | None] = (None, None)


@dataclass
class Hit:
    rule: Rule
    trigger: Trigger
    person: str
    ties: list[Tie]
    role: Role

    @property
    def began_before_trigger(self) -> bool | None:
        """None when unknown: no record dates the role, and its company existed before."""
        first_seen = self.role.observed[0]
        if first_seen is not None and first_seen < self.trigger.window[0]:
            return True  # a dated record shows the role held before the trigger
        if self.role.start is None:
            return None
        if self.role.start < self.trigger.window[0]:
            return None if self.role.start_inferred else True
        return False


@dataclass
class Evaluation:
    """A sweep's hits and what it looked at."""

    hits: list[Hit]
    triggers: dict[str, int] = field(default_factory=dict)  # per rule
    reached: dict[str, int] = field(default_factory=dict)  # persons per rule
    undated: int = 0  # triggering records without a date: no window, skipped


def earlier(a: date | None, b: date | None) -> bool:
    """`a` comes before `b`; an unknown day (None) comes before any known one."""
    return b is not None and (a is None or a < b)
