"""Planted art. 135 cases: banned people reappearing in food businesses, and near misses.

A food company's licence is revoked; within five years its then legal representative or
a directly responsible person turns up (a) as legal representative of another food
company, (b) controlling a new food company through holding companies while a nominee
is its legal representative, (c) as an officer of a food company, (d) under a variant
of their name. Next to them, cases that must not alert: (e) the new company is not in
food, (f) the role starts after the ban ended, (g) a namesake, (h) only a warning.

Everything planted here uses fresh people and companies appended after the ordinary
ones, so a planted case is exactly what it claims to be; ordinary people fill the
unremarkable seats (minority shareholders, supervisors).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from world.calendar import NAT, REF_DATE, add_years, day
from world.industries import HOLDING_CODE, NON_FOOD_OPERATING, food_class_codes
from world.names import HOMOPHONE_OF, TOP_NAMES, traditional
from world.ownership import draw_holders
from world.regions import BIRTH_REGION_CODES, REGIONS, region_weights

ALERT_VARIANTS = ("direct_legal_rep", "via_holding", "officer", "name_variant")
NEAR_MISS_KINDS = ("non_food", "after_ban", "namesake", "warning_only")
BAN_YEARS = 5
OFFICER_TITLES = ("董事", "监事", "经理", "总经理")
OFFICER_ROLE = {"董事": "director", "监事": "supervisor", "经理": "manager", "总经理": "manager"}
REVOCATIONS = ("吊销许可证", "吊销食品经营许可证", "罚款；吊销许可证")
VARIANT_SURNAMES = "张陈刘杨黄赵吴孙马郑"


def cases_per_kind(n_companies: int) -> int:
    return max(2, n_companies // 500)


@dataclass
class Planted:
    """Rows to append to the world; company/person numbers are global indices."""

    companies: list[dict] = field(default_factory=list)
    people: list[dict] = field(default_factory=list)
    tenures: list[tuple] = field(default_factory=list)
    holdings: list[tuple] = field(default_factory=list)
    officers: list[tuple] = field(default_factory=list)
    punishments: list[dict] = field(default_factory=list)
    customs: list[tuple] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    near_misses: list[dict] = field(default_factory=list)
    # (company, slot) -> how the registry writes that person's name ("traditional", ...)
    name_forms: dict[tuple[int, str], str] = field(default_factory=dict)


class _Planter:
    def __init__(
        self, rng: np.random.Generator, first_company: int, first_person: int, n_fillers: int
    ):
        self.rng = rng
        self.first_company = first_company
        self.first_person = first_person
        self.n_fillers = n_fillers
        self.out = Planted()
        self.food = food_class_codes()  # planted alerts need no licence to be in scope
        self.layered = 0

    # -- building blocks ----------------------------------------------------------
    def days(self, low: np.datetime64, high: np.datetime64) -> np.datetime64:
        span = max(int((high - low).astype(np.int64)), 0)
        return low + np.timedelta64(int(self.rng.integers(span + 1)), "D")

    def company(
        self, industry: str, established: np.datetime64, level: int = 0, status: str = "存续"
    ) -> int:
        self.out.companies.append(
            {
                "region": int(self.rng.choice(len(REGIONS), p=region_weights())),
                "level": level,
                "industry": industry,
                "established": established,
                "origin": "scenario",
                "status": status,
            }
        )
        return self.first_company + len(self.out.companies) - 1

    def person(
        self, sex: str | None = None, surname: str | None = None, given: str | None = None
    ) -> int:
        self.out.people.append(
            {
                "sex": sex,
                "surname": surname,
                "given": given,
                "birth_region": BIRTH_REGION_CODES[int(self.rng.integers(len(BIRTH_REGION_CODES)))],
            }
        )
        return self.first_person + len(self.out.people) - 1

    def filler(self) -> int:
        return int(draw_holders(self.rng, self.n_fillers, 1)[0])

    def rep(
        self, company: int, person: int, start: np.datetime64, end: np.datetime64 = NAT
    ) -> None:
        self.out.tenures.append((company, person, start, end))

    def hold(self, company: int, kind: str, holder: int, bp: int, start: np.datetime64) -> None:
        self.out.holdings.append((company, kind, holder, bp, start))

    def officer(self, company: int, person: int, title: str, start: np.datetime64) -> None:
        self.out.officers.append((company, person, title, start))

    def ordinary_holders(self, company: int, total_bp: int, start: np.datetime64) -> None:
        first = int(self.rng.choice([total_bp, total_bp * 6 // 10, total_bp // 2]))
        self.hold(company, "person", self.filler(), first, start)
        if first < total_bp:
            self.hold(company, "person", self.filler(), total_bp - first, start)

    def punish(
        self, company: int, when: np.datetime64, category: str, responsible: list[int]
    ) -> int:
        self.out.punishments.append(
            {
                "company": company,
                "date": when,
                "category": category,
                "responsible": responsible,
                "origin": "scenario",
            }
        )
        return len(self.out.punishments) - 1

    def food_company(self, established: np.datetime64, rep: int, holders_bp: int = 10000) -> int:
        """A food company with a founding legal rep, ordinary holders and a small board."""
        y = self.company(str(self.rng.choice(self.food)), established)
        self.rep(y, rep, established)
        if holders_bp:
            self.ordinary_holders(y, holders_bp, established)
        self.officer(y, self.filler(), "执行董事", established)
        self.officer(y, self.filler(), "监事", established)
        return y

    # -- the revoked company ------------------------------------------------------------
    def revoked(self, t0: np.datetime64, banned: int) -> tuple[int, int]:
        """A food company whose licence is revoked on t0; `banned` is its legal rep then,
        or (half the time) a directly responsible manager. Returns (company, trigger)."""
        est = self.days(day("2003-01-01"), t0 - 400)
        industry = str(self.rng.choice(self.food))
        x = self.company(industry, est, status="吊销，未注销")
        as_rep = self.rng.random() < 0.5
        rep = banned if as_rep else self.person()
        self.rep(x, rep, est)
        self.hold(x, "person", rep, 6000, est)
        self.hold(x, "person", self.filler(), 4000, est)
        self.officer(x, rep, "执行董事兼总经理", est)
        self.officer(x, self.filler(), "监事", est)
        responsible = [banned] if (not as_rep or self.rng.random() < 0.5) else []
        if not as_rep:
            self.officer(x, banned, "经理", self.days(est, t0 - 30))
        category = str(self.rng.choice(REVOCATIONS))
        if industry.startswith(("C13", "C14", "C15")) and self.rng.random() < 0.5:
            category = "吊销食品生产许可证"
        return x, self.punish(x, t0, category, responsible)

    def window(self, t0: np.datetime64, start_after: int = 60) -> np.datetime64:
        """A day inside the ban that is old enough to have left traces in the extracts."""
        ban_end = add_years(t0, BAN_YEARS)
        return self.days(t0 + start_after, min(ban_end - 1, REF_DATE - 200))

    def t0(self) -> np.datetime64:
        return self.days(day("2016-01-01"), day("2021-06-30"))

    def expect(
        self, person: int, company: int, trigger: int, role: str, start: np.datetime64, variant: str
    ) -> None:
        self.out.alerts.append(
            {
                "person": person,
                "company": company,
                "trigger": trigger,
                "role": role,
                "role_start": start,
                "variant": variant,
            }
        )

    def near(
        self, kind: str, person: int, company: int, trigger: int, role: str, start: np.datetime64
    ) -> None:
        self.out.near_misses.append(
            {
                "kind": kind,
                "person": person,
                "company": company,
                "trigger": trigger,
                "role": role,
                "role_start": start,
            }
        )

    # -- alerts -------------------------------------------------------------------------
    def direct_legal_rep(self) -> None:
        t0, b = self.t0(), self.person()
        _, trigger = self.revoked(t0, b)
        t1 = self.window(t0)
        if self.rng.random() < 0.5:
            y = self.food_company(t1, b)
        else:  # an existing food company hands its legal representation to b
            est = self.days(t1 - 6 * 365, t1 - 200)
            y = self.food_company(est, self.filler())
            self.out.tenures[-1] = (*self.out.tenures[-1][:3], t1)
            self.rep(y, b, t1)
        self.expect(b, y, trigger, "legal_rep", t1, "direct_legal_rep")

    def via_holding(self) -> None:
        t0, b = self.t0(), self.person()
        _, trigger = self.revoked(t0, b)
        t_h = self.days(t0 + 30, t0 + 400)
        t1 = self.window(t0, start_after=int((t_h - t0).astype(np.int64)) + 60)
        h = self.company(HOLDING_CODE, t_h, level=2)
        self.hold(h, "person", b, 8000, t_h)
        self.hold(h, "person", self.filler(), 2000, t_h)
        self.rep(h, b if self.rng.random() < 0.5 else self.filler(), t_h)
        top = h
        self.layered += 1
        if self.layered % 3 == 0:  # every third case adds a second layer
            t_h2 = self.days(t_h + 10, t1 - 10)
            top = self.company(HOLDING_CODE, t_h2, level=1)
            self.hold(top, "company", h, 10000, t_h2)
            self.rep(top, self.filler(), t_h2)
        nominee = self.person()
        y = self.food_company(t1, nominee, holders_bp=0)
        share = int(self.rng.choice([6000, 7000, 7500]))
        self.hold(y, "company", top, share, t1)
        self.hold(y, "person", self.filler(), 10000 - share, t1)
        self.expect(b, y, trigger, "actual_controller", t1, "via_holding")
        self.expect(b, y, trigger, "beneficial_owner", t1, "via_holding")

    def officer_role(self) -> None:
        t0, b = self.t0(), self.person()
        _, trigger = self.revoked(t0, b)
        t1 = self.window(t0)
        est = self.days(t1 - 4 * 365, t1)
        y = self.food_company(est, self.filler(), holders_bp=9000)
        self.hold(y, "person", b, 1000, t1)  # a small stake filed with b's ID
        title = str(self.rng.choice(OFFICER_TITLES))
        self.officer(y, b, title, t1)
        self.expect(b, y, trigger, OFFICER_ROLE[title], t1, "officer")

    def name_variant(self) -> None:
        sex = str(self.rng.choice(["M", "F"]))
        surname = VARIANT_SURNAMES[int(self.rng.integers(len(VARIANT_SURNAMES)))]
        pool = [c for c in HOMOPHONE_OF if len(HOMOPHONE_OF[c]) > 1 and traditional(c) == c]
        given = pool[int(self.rng.integers(len(pool)))]
        if self.rng.random() < 0.5:
            given += pool[int(self.rng.integers(len(pool)))]
        t0, b = self.t0(), self.person(sex, surname, given)
        _, trigger = self.revoked(t0, b)
        t1 = self.window(t0)
        y = self.food_company(t1, b)
        form = "traditional" if self.rng.random() < 0.5 else "homophone"
        self.out.name_forms[(y, "legal_rep")] = form
        self.out.customs.append((y, self.days(t1 + 30, min(t1 + 180, REF_DATE - 10))))
        self.expect(b, y, trigger, "legal_rep", t1, "name_variant")

    # -- near misses ----------------------------------------------------------------------
    def non_food(self) -> None:
        t0, b = self.t0(), self.person()
        _, trigger = self.revoked(t0, b)
        t1 = self.window(t0)
        z = self.company(str(self.rng.choice(NON_FOOD_OPERATING)), t1)
        self.rep(z, b, t1)
        self.ordinary_holders(z, 10000, t1)
        self.near("non_food", b, z, trigger, "legal_rep", t1)

    def after_ban(self) -> None:
        t0 = self.days(day("2015-01-01"), day("2021-03-31"))
        b = self.person()
        _, trigger = self.revoked(t0, b)
        t1 = self.days(add_years(t0, BAN_YEARS), REF_DATE - 30)
        z = self.food_company(t1, b)
        self.near("after_ban", b, z, trigger, "legal_rep", t1)

    def namesake(self) -> None:
        name, sex = TOP_NAMES[int(self.rng.integers(len(TOP_NAMES)))]
        t0 = self.t0()
        b = self.person(sex, name[0], name[1:])
        _, trigger = self.revoked(t0, b)
        other = self.person(sex, name[0], name[1:])
        t1 = self.window(t0)
        z = self.food_company(t1, other)
        self.near("namesake", other, z, trigger, "legal_rep", t1)

    def warning_only(self) -> None:
        t0, b = self.t0(), self.person()
        est = self.days(day("2003-01-01"), t0 - 400)
        w = self.food_company(est, b)
        trigger = self.punish(w, t0, "警告", [b] if self.rng.random() < 0.5 else [])
        t1 = self.window(t0)
        z = self.food_company(t1, b)
        self.near("warning_only", b, z, trigger, "legal_rep", t1)


def plant(
    k: int, first_company: int, first_person: int, n_fillers: int, rng: np.random.Generator
) -> Planted:
    """k cases of every alert variant and every near-miss kind."""
    planter = _Planter(rng, first_company, first_person, n_fillers)
    makers = (
        planter.direct_legal_rep,
        planter.via_holding,
        planter.officer_role,
        planter.name_variant,
        planter.non_food,
        planter.after_ban,
        planter.namesake,
        planter.warning_only,
    )
    for _ in range(k):
        for make in makers:
            make()
    return planter.out


def frames(planted: Planted) -> dict[str, pd.DataFrame]:
    """The planted rows as frames shaped like their ordinary counterparts."""
    return {
        "tenures": pd.DataFrame(
            planted.tenures, columns=["company", "person", "valid_from", "valid_to"]
        ),
        "holdings": pd.DataFrame(
            planted.holdings, columns=["company", "holder_kind", "holder", "bp", "subscribed"]
        ),
        "officers": pd.DataFrame(
            planted.officers, columns=["company", "person", "title", "appointed"]
        ),
        "punishments": pd.DataFrame(planted.punishments),
        "customs": pd.DataFrame(planted.customs, columns=["company", "filed"]),
    }
