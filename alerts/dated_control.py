"""Control on a day: the holdings in force that day, look-through control computed from them
(graph/control/), and the actual-controller and beneficial-owner roles it gives, with
the holding paths and records behind each and when the last holding on them began. The
alert engine asks it twice: control of a triggering company on its trigger day (who the
punishment reaches), and control as of the sweep's day of every company a reached person
holds into (where the person turns up)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from alerts.model import Role, Trigger, earlier
from alerts.reads import GraphReader
from config.graph import Control
from config.rules import CONTROL_ROLES, Rule
from graph.analysis import consolidate
from graph.control.controllers import ControlResult, control_analysis
from graph.control.holdings import COMPANY
from graph.control.paths import PathFinder
from graph.in_force import in_force_day


class ControlAt:
    """Control of the triggering companies on their trigger dates. Each (company, day) gets
    its own copy of the holdings upstream of it in force that day, node IDs suffixed
    `@n` (persons, having no holders, are shared), so one control analysis serves every
    trigger at once."""

    def __init__(
        self,
        reader: GraphReader,
        triggers: dict[str, Trigger],
        rules: tuple[Rule, ...],
        settings: Control,
    ) -> None:
        self.by_target: dict[tuple[str | None, date], list[Role]] = {}  # looked up by any trigger
        if not any(set(CONTROL_ROLES) & set(r.reaches) for r in rules):
            return
        dated = sorted(
            {
                (t.party_id, t.day)
                for t in triggers.values()
                if t.party_id is not None and t.party_kind == "company"
            }
        )
        holdings = DatedHoldings(reader.holdings_upstream(sorted({c for c, _ in dated})))
        positions: list[np.ndarray] = []
        suffixes: list[np.ndarray] = []
        targets: dict[str, tuple[str, date]] = {}
        for n, (company, day) in enumerate(dated):
            upstream = holdings.upstream([company], day)
            if len(upstream):
                positions.append(upstream)
                suffixes.append(np.full(len(upstream), f"@{n}", dtype=object))
                targets[f"{company}@{n}"] = (company, day)
        if not positions:
            return
        rows = holdings.frame.iloc[np.concatenate(positions)].reset_index(drop=True)
        suffix = np.concatenate(suffixes)
        is_company = (rows["holder_kind"] == COMPANY).to_numpy()
        holder = rows["holder"].to_numpy(dtype=object)
        rows["company"] = rows["company"].to_numpy(dtype=object) + suffix
        rows["holder"] = np.where(is_company, holder + suffix, holder)
        found = controlled(rows, sorted(targets), settings)
        for role in control_roles(found, sorted(targets), None, settings):
            self.by_target.setdefault(targets[role.company], []).append(_unsuffixed(role))

    def reached(self, trigger: Trigger, how: str) -> list[tuple[str, dict[str, Any], list[str]]]:
        roles = self.by_target.get((trigger.party_id, trigger.day), [])
        return [
            (r.person, {"as_of": trigger.day, **(r.control or {})}, r.records)
            for r in roles
            if r.role == how
        ]


def _unsuffixed(role: Role) -> Role:
    def plain(node: str) -> str:
        return node.split("@", 1)[0]

    detail = dict(role.control or {})
    detail["chain"] = [plain(n) for n in detail.get("chain", [])]
    detail["paths"] = [
        {**p, "nodes": [plain(n) for n in p["nodes"]]} for p in detail.get("paths", [])
    ]
    return Role(
        role.person, plain(role.company), role.role, role.start, role.end, role.records, detail
    )


# -- 3. roles --------------------------------------------------------------------------------


Edges = dict[tuple[str, str], tuple[date | None, list[str]]]


@dataclass
class Controlled:
    """Control computed on one day: the result, the consolidated holdings it came from, and
    per holding edge (holder, company) its earliest start and its records."""

    result: ControlResult
    holdings: pd.DataFrame
    edges: Edges


class DatedHoldings:
    """Holdings with their dates and records; control on any day from those in force."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame.reset_index(drop=True)
        self._upstream: dict[str, list[int]] = defaultdict(list)
        for i, company in enumerate(self.frame["company"]):
            self._upstream[company].append(i)
        self._holders = self.frame["holder"].to_numpy()
        self._is_company = (self.frame["holder_kind"] == COMPANY).to_numpy()
        self._from = _days(self.frame["valid_from"])
        self._to = _days(self.frame["valid_to"])

    def upstream(self, companies: list[str], day: date) -> np.ndarray:
        """Positions of the holdings in force on `day` that can reach `companies` through
        holdings in force that day (cycles end the walk)."""
        when = np.datetime64(day, "D")
        seen, frontier, rows = set(companies), list(companies), []
        while frontier:
            for i in self._upstream.get(frontier.pop(), ()):
                if not in_force_day(self._from[i], self._to[i], when):
                    continue
                rows.append(i)
                holder = self._holders[i]
                if self._is_company[i] and holder not in seen:
                    seen.add(holder)
                    frontier.append(holder)
        return np.array(sorted(rows), dtype=np.int64)

    def control(self, companies: list[str], day: date, settings: Control) -> Controlled:
        """Control of `companies` from the holdings upstream of them in force on `day`."""
        return controlled(self.frame.iloc[self.upstream(companies, day)], companies, settings)


def _days(values: pd.Series) -> np.ndarray:
    return np.array(
        [np.datetime64(v, "D") if v is not None else np.datetime64("NaT") for v in values],
        dtype="datetime64[D]",
    )


def controlled(rows: pd.DataFrame, companies: list[str], settings: Control) -> Controlled:
    """Control of `companies` from these dated holding rows (all in force)."""
    edges: Edges = {}
    for holder, held, start, source, record in rows[
        ["holder", "company", "valid_from", "source", "record_id"]
    ].itertuples(index=False, name=None):
        first, records = edges.get((holder, held), (start, []))
        earliest = start if earlier(start, first) else first
        edges[(holder, held)] = (earliest, [*records, f"{source}:{record}"])
    holdings = consolidate(rows[["holder", "holder_kind", "company", "ratio"]])
    result = control_analysis(
        companies,
        holdings,
        threshold=settings.beneficial_owner_threshold,
        majority=settings.majority,
    )
    return Controlled(result, holdings, edges)


def control_roles(
    found: Controlled, companies: list[str], persons: set[str] | None, settings: Control
) -> list[Role]:
    """Actual-controller and beneficial-owner roles in `companies` (of `persons`, if given),
    each with its share, basis, paths, start (when the last holding on its paths began) and
    the holding records behind it."""
    if found.holdings.empty:
        return []
    finder = PathFinder(found.holdings)
    ownership = found.result.look_through.ownership
    share = ownership.set_index(["company", "person"])["look_through_share"]
    wanted = set(companies)

    def role(
        person: str, company: str, name: str, extra: dict[str, Any], used: list[tuple[str, str]]
    ) -> Role:
        paths, cycles = finder.paths(person, company, max_paths=settings.max_paths)
        used = used or [(a, b) for p in paths for a, b in zip(p.nodes, p.nodes[1:], strict=False)]
        starts = [found.edges[e][0] for e in used if e in found.edges]
        start = None if not starts or None in starts else max(s for s in starts if s is not None)
        records = sorted({r for e in used if e in found.edges for r in found.edges[e][1]})
        detail = {
            "share": float(share.get((company, person), 0.0)),
            **extra,
            "paths": [{"nodes": p.nodes, "ratios": p.ratios, "share": p.share} for p in paths],
            "cycles_contribute": cycles,
        }
        return Role(person, company, name, start, None, records, detail)

    out = []
    for company, person in found.result.beneficial_owners[["company", "person"]].itertuples(
        index=False, name=None
    ):
        if company in wanted and (persons is None or person in persons):
            out.append(role(person, company, "beneficial_owner", {}, []))
    row: Any  # pandas-stubs types itertuples' fields as any scalar; these are controllers' columns
    for row in found.result.controllers.itertuples(index=False):
        if row.company not in wanted or row.person is None or pd.isna(row.person):
            continue
        if persons is not None and row.person not in persons:
            continue
        chain = list(row.chain)
        # a majority chain starts when its last link was in place; look-through control
        # when the last holding on any of its paths was
        links = (
            [(chain[i + 1], chain[i]) for i in range(len(chain) - 1)]
            if row.basis == "majority_chain"
            else []
        )
        extra = {"basis": row.basis, "chain": chain}
        out.append(role(row.person, row.company, "actual_controller", extra, links))
    return out


def person_roles(
    reader: GraphReader, persons: list[str], settings: Control, as_of: date
) -> dict[str, list[Role]]:
    """Every tenure of `persons`, and their control as of `as_of` of every company they
    reach through holdings."""
    roles: dict[str, list[Role]] = defaultdict(list)
    if not persons:
        return roles
    for row in reader.roles_of(persons).to_dict("records"):
        records = [f"{s}:{r}" for s, r in zip(row["sources"], row["record_ids"], strict=True)]
        role = Role(row["person"], row["company"], row["role"], row["start"], row["end"], records)
        role.observed = (row["observed_first"], row["observed_last"])
        roles[row["person"]].append(role)
    candidates = sorted(reader.held_downstream(persons))
    if not candidates:
        return roles
    holdings = DatedHoldings(reader.holdings_upstream(candidates))
    found = holdings.control(candidates, as_of, settings)
    for role in control_roles(found, candidates, set(persons), settings):
        roles[role.person].append(role)
    return roles
