"""Assemble the whole world in memory: people, companies, roles, equity, events, truth.

Order matters for determinism: every draw comes from one generator seeded once, in a
fixed sequence. Planted cases are built first (their count decides how many ordinary
companies remain) and appended after the ordinary companies and people.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from world import alerts as rules
from world import control, events, names, ownership, population, roles, scenarios
from world.habits import Habits

MIN_COMPANIES = 200
PEOPLE_PER_COMPANY = 1.7

Progress = Callable[[str], None]


@dataclass
class World:
    """Everything true about the world; extracts are views of it."""

    seed: int
    n_ordinary: int
    companies: pd.DataFrame
    people: pd.DataFrame
    tenures: pd.DataFrame
    holdings: pd.DataFrame
    officers: pd.DataFrame
    punishments: pd.DataFrame
    court: pd.DataFrame
    licences: pd.DataFrame
    customs: pd.DataFrame
    serious: pd.DataFrame
    structures: ownership.Structures
    name_forms: dict[tuple[int, str], str]
    ownership: pd.DataFrame
    owners: pd.DataFrame
    controllers: pd.DataFrame
    bans: pd.DataFrame
    alerts: pd.DataFrame
    planted_alerts: pd.DataFrame
    near_misses: pd.DataFrame
    habits: Habits = field(default_factory=Habits)


def build_world(n_companies: int, seed: int, progress: Progress | None = None) -> World:
    """The world for `n_companies` companies and `seed` (same inputs, same world)."""
    if n_companies < MIN_COMPANIES:
        raise ValueError(f"a world needs at least {MIN_COMPANIES} companies")
    step = progress or (lambda _stage: None)
    rng = np.random.default_rng(seed)
    n_people = int(PEOPLE_PER_COMPANY * n_companies)
    step("people and companies")
    planted = scenarios.plant(scenarios.cases_per_kind(n_companies), 0, n_people, n_people, rng)
    n_ord = n_companies - len(planted.companies)
    base = population.draw_companies(rng, n_ord)
    structures = ownership.plan_structures(base, rng)
    companies = population.finish_companies(
        pd.concat([base, pd.DataFrame(planted.companies)], ignore_index=True), rng
    )
    people = _people(rng, n_people, planted)
    shifted = _shift(planted, n_ord)

    step("shareholdings")
    holdings = _holdings(companies, structures, n_ord, n_people, shifted["holdings"], rng)

    step("legal representatives and officers")
    tenures, officers = _roles(companies, holdings, n_ord, n_people, shifted, rng)

    step("punishments, listings, licences, filings")
    punished = events.punishments(companies, tenures, officers, shifted["punishments"], n_ord, rng)
    revoked = punished.loc[punished["revocation"], "company"].to_numpy()
    status = companies["status"].to_numpy().copy()
    status[revoked] = "吊销，未注销"
    companies["status"] = status
    court = events.court_entries(companies, len(people), tenures, rng)
    licences = events.licences(companies, punished, tenures, rng)
    customs = events.customs_filings(companies, n_ord, shifted["customs"], tenures, rng)
    serious = events.serious_violations(punished, tenures, rng)

    step("look-through ownership and control")
    a, p = control.matrices(len(companies), len(people), holdings)
    lt = control.look_through(a, p)
    owned = control.ownership_table(lt)
    owners = control.beneficial_owners(owned)
    ctrl = control.controllers(len(companies), holdings, owned)

    step("art. 135 alerts")
    first_planted = int((punished["origin"] == "ordinary").sum())
    expected = shifted["alerts"].assign(trigger=lambda f: f["trigger"] + first_planted)
    near = shifted["near_misses"].assign(trigger=lambda f: f["trigger"] + first_planted)
    ban = rules.bans(punished)
    held = rules.roles_of(ban["person"].unique(), tenures, officers, holdings, ctrl, owners)
    alerts = rules.art135_alerts(companies["industry"].to_numpy(), ban, held, expected, licences)
    rules.check_planted(alerts, expected, near)
    return World(
        seed,
        n_ord,
        companies,
        people,
        tenures,
        holdings,
        officers,
        punished,
        court,
        licences,
        customs,
        serious,
        structures,
        shifted["name_forms"],
        owned,
        owners,
        ctrl,
        ban,
        alerts,
        expected,
        near,
    )


def _people(rng: np.random.Generator, n_people: int, planted: scenarios.Planted) -> pd.DataFrame:
    drawn = population.draw_people(rng, n_people + len(planted.people))
    if planted.people:
        wanted = pd.DataFrame(planted.people)
        rows = np.arange(n_people, n_people + len(wanted))
        for col in ("sex", "surname", "given", "birth_region"):
            given = wanted[col].to_numpy()
            have = pd.notna(given)
            values = drawn[col].to_numpy().copy()
            values[rows[have]] = given[have]
            drawn[col] = values
    surname, given = drawn["surname"].to_numpy().copy(), drawn["given"].to_numpy().copy()
    eligible = np.arange(len(drawn)) < n_people
    names.plant_top_names(rng, surname, given, drawn["sex"].to_numpy(), eligible)
    drawn["surname"], drawn["given"] = surname, given
    people = population.finish_people(drawn, rng)
    people["origin"] = np.where(eligible, "ordinary", "scenario")
    return people


def _shift(planted: scenarios.Planted, offset: int) -> dict:
    """Planted rows with company numbers moved after the ordinary companies."""
    frames = scenarios.frames(planted)
    frames["tenures"]["company"] += offset
    h = frames["holdings"]
    h["company"] += offset
    h.loc[h["holder_kind"] == "company", "holder"] += offset
    frames["officers"]["company"] += offset
    frames["customs"]["company"] += offset
    frames["punishments"]["company"] += offset
    for name, rows in (("alerts", planted.alerts), ("near_misses", planted.near_misses)):
        frame = pd.DataFrame(rows)
        frame["company"] += offset
        frame["role_start"] = frame["role_start"].to_numpy(dtype="datetime64[D]")
        frames[name] = frame
    frames["name_forms"] = {
        (c + offset, slot): form for (c, slot), form in planted.name_forms.items()
    }
    return frames


def _holdings(
    companies: pd.DataFrame,
    structures: ownership.Structures,
    n_ord: int,
    n_people: int,
    planted: pd.DataFrame,
    rng: np.random.Generator,
) -> pd.DataFrame:
    est = companies["established"].to_numpy(dtype="datetime64[D]")
    structured = np.zeros(n_ord, dtype=bool)
    for block in (structures.chains, structures.splits, structures.cycles):
        structured[block.ravel()] = True
    targets = np.flatnonzero(~structured)
    ordinary = pd.concat(
        [
            ownership.random_holdings(companies.iloc[:n_ord], targets, n_people, rng),
            ownership.planted_holdings(structures, n_people, rng),
        ],
        ignore_index=True,
    )
    ordinary["subscribed"] = ownership.subscription_dates(ordinary, est, rng)
    frame = pd.concat([ordinary, planted], ignore_index=True)
    frame["subscribed"] = frame["subscribed"].to_numpy(dtype="datetime64[D]")
    frame["share"] = frame["bp"].to_numpy(dtype=float) / 10000.0
    return frame.sort_values(
        ["company", "bp"], ascending=[True, False], kind="stable", ignore_index=True
    )


def _roles(
    companies: pd.DataFrame,
    holdings: pd.DataFrame,
    n_ord: int,
    n_people: int,
    shifted: dict,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    est = companies["established"].to_numpy(dtype="datetime64[D]")
    targets = np.arange(n_ord)
    persons = holdings[(holdings["holder_kind"] == "person") & (holdings["company"] < n_ord)]
    largest = persons.drop_duplicates("company")  # holdings are sorted by share, largest first
    first_rep = np.full(n_ord, -1, dtype=np.int64)
    take = rng.random(len(largest)) < 0.6
    first_rep[largest["company"].to_numpy()[take]] = largest["holder"].to_numpy()[take]
    tenures = pd.concat(
        [roles.legal_rep_tenures(targets, est, first_rep, n_people, rng), shifted["tenures"]],
        ignore_index=True,
    )
    for col in ("valid_from", "valid_to"):
        tenures[col] = tenures[col].to_numpy(dtype="datetime64[D]")
    rep, since = roles.current_reps(tenures, len(companies))
    officers = pd.concat(
        [roles.officers(targets, est, rep, since, n_people, rng), shifted["officers"]],
        ignore_index=True,
    )
    officers["appointed"] = officers["appointed"].to_numpy(dtype="datetime64[D]")
    return tenures, officers
