"""The rules.yaml schema: alert rules with a legal basis, a trigger, a reach, a scope and an end.

A rule is law turned into data, so adding one needs only YAML: which records trigger it
(punishment categories, list memberships), which persons it reaches (how they stood to the
triggering company or record), what it restricts them from (roles and control in companies
of given GB/T 4754 industries), for how long, and how severe it is. The default file sits
next to this module; `VEIL_RULES` or an explicit path points at another.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.settings import CONFIG_DIR, environment
from config.validated import Strict, load_validated

DEFAULT_RULES = CONFIG_DIR / "rules.yaml"

#: How a person stands to a triggering record:
#: legal_rep: legal representative of the triggering company on the trigger date (registry
#:   tenure), or named as legal representative on the record itself;
#: responsible: named in a punishment decision as a directly responsible person;
#: officers: in an officer role at the triggering company on the trigger date;
#: actual_controller / beneficial_owner: of the triggering company on the trigger date;
#: party: the person the record is imposed on or lists.
Reach = Literal[
    "legal_rep", "responsible", "officers", "actual_controller", "beneficial_owner", "party"
]

#: The roles that are control of a company, not an office in it.
CONTROL_ROLES = ("actual_controller", "beneficial_owner")
#: Roles a rule can restrict: legal_rep, any officer role of the graph (OFFICER_OF.role),
#: and control (actual_controller; beneficial_owner at or above the control threshold).
Role = Literal[
    "legal_rep",
    "chairman",
    "vice_chairman",
    "executive_director",
    "director",
    "supervisor",
    "manager",
    "deputy_manager",
    "finance_officer",
    "board_secretary",
    "food_safety_manager",
    "actual_controller",
    "beneficial_owner",
]
INDUSTRY_PREFIX = re.compile(r"^[A-T][0-9]{0,4}$")
#: Licence kinds a rule can scope by, told by the licence number's prefix: SC + 14 digits
#: (食品生产许可管理办法 art. 29) and JY + 14 digits (食品经营许可管理办法 art. 27).
LicenceKind = Literal["food_production", "food_business"]
LICENCE_PREFIXES: dict[str, tuple[str, ...]] = {
    "food_production": ("SC",),
    "food_business": ("JY",),
}
RULE_ID = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


class Trigger(Strict):
    """Records that start a restriction: punishments of these canonical categories
    (config/vocabulary.yaml), optionally only under a law the legal basis cites, and/or
    entries on these lists."""

    punishment_categories: tuple[str, ...] = ()
    legal_basis_contains: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _something(self) -> Trigger:
        if not self.punishment_categories and not self.lists:
            raise ValueError("name punishment_categories or lists (or both)")
        if self.legal_basis_contains and not self.punishment_categories:
            raise ValueError("legal_basis_contains only narrows punishment_categories")
        return self


class Restricts(Strict):
    """What the reached persons must not do: take these roles, in companies in scope.

    A company is in scope when its GB/T 4754 code starts with one of `industries`, or it
    holds a licence of one of `licences` that is in force during the role (within the
    rule's window); with neither given, every company is."""

    roles: tuple[Role, ...] = Field(min_length=1)
    industries: tuple[str, ...] = ()
    licences: tuple[LicenceKind, ...] = ()
    other_companies_only: bool = True

    @field_validator("industries")
    @classmethod
    def _prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not INDUSTRY_PREFIX.match(v)]
        if bad:
            raise ValueError(
                f"industry prefixes must be a GB/T 4754 section letter and up to 4 digits "
                f"(e.g. C13, F52, H62): {bad}"
            )
        return value


class Period(Strict):
    """How long a restriction runs from the trigger date: a number of years, for life, or
    while the list entry stands (until it is removed or its management period ends).
    Exactly one."""

    years: int | None = Field(None, ge=1, le=100)
    lifetime: bool = False
    until_removed: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> Period:
        chosen = [self.years is not None, self.lifetime, self.until_removed]
        if sum(chosen) != 1:
            raise ValueError("give exactly one of years, lifetime: true, until_removed: true")
        return self


class Rule(Strict):
    id: str
    title: str = Field(min_length=1)
    legal_basis: str = Field(min_length=1)
    severity: Literal["ban", "watch"]
    trigger: Trigger
    reaches: tuple[Reach, ...] = Field(min_length=1)
    restricts: Restricts
    period: Period

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not RULE_ID.match(value):
            raise ValueError("a rule id is lower-case letters, digits and _, e.g. food_art135")
        return value

    @model_validator(mode="after")
    def _period_fits_trigger(self) -> Rule:
        if self.period.until_removed and not self.trigger.lists:
            raise ValueError("period.until_removed needs a list trigger (trigger.lists)")
        if "responsible" in self.reaches and not self.trigger.punishment_categories:
            raise ValueError("reach 'responsible' needs a punishment trigger")
        return self


class RulesConfig(Strict):
    version: Literal[1] = 1
    rules: tuple[Rule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> RulesConfig:
        ids = [r.id for r in self.rules]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"rule ids must be unique: {duplicated}")
        return self

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def load_rules(path: Path | None = None) -> RulesConfig:
    """Read and validate rules.yaml (default: $VEIL_RULES, else the packaged file)."""
    if path is None:
        path = environment().rules or DEFAULT_RULES
    return load_validated(path, RulesConfig, "rules")
