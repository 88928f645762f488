"""One company's control from the few holdings upstream of it, in pure Python, for an
interactive query: the batch figures without the batch's set-up cost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from graph.control.controllers import control_analysis
from graph.control.holdings import HOLDING_COLUMNS, PERSON, Holding, validated_rows
from graph.control.look_through import DROP_BELOW, EPS

__all__ = ["CompanyControl", "company_control"]


@dataclass(frozen=True)
class CompanyControl:
    """The control figures of one company, as `control_analysis` would give them for it."""

    company: str
    ownership: dict[str, float]  # person -> look-through share in the company
    beneficial_owners: list[tuple[str, float]]  # (person, share), sorted by person
    person: str | None  # the actual controller, None when nobody controls
    basis: str  # majority_chain / look_through / none
    share: float | None  # the controller's look-through share
    chain: list[str]  # company, majority holder, ..., person for a majority chain


def company_control(
    company: str, holdings: Sequence[Holding], threshold: float = 0.25, majority: float = 0.5
) -> CompanyControl:
    """Control of one company from the holdings upstream of it, for an interactive query.

    Same rules and figures as `control_analysis`, which costs about 30 ms of pandas and
    scipy set-up even for a handful of rows. Without circular holdings every walk is a
    simple path, so the look-through shares come from one pass over the holders in
    topological order, in pure Python; holdings with a cycle go to `control_analysis`.
    """
    rows = validated_rows(holdings)
    holders: dict[str, list[tuple[str, str, float]]] = {}
    for holder, kind, held, ratio in rows:
        holders.setdefault(held, []).append((holder, kind, ratio))
    weight = _weights_to(company, holders)
    if weight is None:
        return _from_analysis(company, rows, threshold, majority)
    persons = {h for h, k, _, _ in rows if k == PERSON}
    ownership = {
        node: share
        for node, share in sorted(weight.items())
        if node in persons and share >= DROP_BELOW
    }
    owners = [(p, s) for p, s in ownership.items() if s >= threshold - EPS]
    chain = _majority_chain(company, holders, majority)
    if chain:
        return CompanyControl(
            company, ownership, owners, chain[-1], "majority_chain", ownership.get(chain[-1]), chain
        )
    person = _largest_holder(ownership, threshold)
    basis = "look_through" if person else "none"
    share = ownership[person] if person else None
    return CompanyControl(company, ownership, owners, person, basis, share, [])


def _weights_to(
    company: str, holders: dict[str, list[tuple[str, str, float]]]
) -> dict[str, float] | None:
    """Share of `company` every upstream holder holds through all its paths, or None when the
    upstream holdings have a cycle. Kahn's order: a holder is reached once every company it
    holds has its full share, so each edge is used once."""
    upstream: dict[str, list[tuple[str, float]]] = {}  # held -> [(holder, ratio)]
    pending: dict[str, int] = {company: 0}  # companies held, not yet done, per holder
    frontier = [company]
    while frontier:
        held = frontier.pop()
        for holder, _, ratio in holders.get(held, ()):
            if ratio <= 0:
                continue
            upstream.setdefault(held, []).append((holder, ratio))
            if holder not in pending:
                pending[holder] = 0
                frontier.append(holder)
            pending[holder] += 1
    weight = {company: 1.0}
    ready = [company] if pending[company] == 0 else []
    done = 0
    while ready:
        held = ready.pop()
        done += 1
        for holder, ratio in upstream.get(held, ()):
            weight[holder] = weight.get(holder, 0.0) + weight[held] * ratio
            pending[holder] -= 1
            if pending[holder] == 0:
                ready.append(holder)
    return weight if done == len(pending) else None


def _majority_chain(
    company: str, holders: dict[str, list[tuple[str, str, float]]], majority: float
) -> list[str]:
    """Company, its sole holder of more than `majority`, ... up to a person; [] when the chain
    ends at a company (no sole majority holder). Only called on acyclic holdings."""
    chain = [company]
    while True:
        above = [(h, k) for h, k, r in holders.get(chain[-1], ()) if r > majority + EPS]
        if len(above) != 1:
            return []
        holder, kind = above[0]
        chain.append(holder)
        if kind == PERSON:
            return chain


def _largest_holder(ownership: dict[str, float], threshold: float) -> str | None:
    """The single largest look-through holder at or above threshold; a tie names nobody."""
    ranked = sorted(ownership.items(), key=lambda item: -item[1])  # stable: ties by person
    if not ranked or ranked[0][1] < threshold - EPS:
        return None
    if len(ranked) > 1 and ranked[1][1] >= ranked[0][1] - EPS:
        return None
    return ranked[0][0]


def _from_analysis(
    company: str, rows: list[Holding], threshold: float, majority: float
) -> CompanyControl:
    """`company_control` through the batch arithmetic, for holdings with a cycle."""
    frame = pd.DataFrame(rows, columns=list(HOLDING_COLUMNS))
    result = control_analysis([company], frame, threshold=threshold, majority=majority)
    own = result.look_through.ownership
    own = own[own["company"] == company]
    ownership = dict(zip(own["person"], own["look_through_share"].astype(float), strict=True))
    owners = [(p, s) for p, s in ownership.items() if s >= threshold - EPS]
    row = result.controllers.iloc[0]
    person = row["person"] if row["basis"] != "none" else None
    share = float(row["look_through_share"]) if person else None
    return CompanyControl(
        company, ownership, owners, person, row["basis"], share, list(row["chain"])
    )
