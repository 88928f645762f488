"""Actual controllers, and the batch analysis that writes every company's control.

Company Law art. 265: a controlling shareholder holds more than 50%; a chain of such holders
that ends at a person decides. Otherwise the single largest look-through holder at or above
the beneficial-owner threshold (25% under the PBOC/SAMR measures) controls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from graph.control.holdings import PERSON, validated
from graph.control.look_through import EPS, LookThrough, beneficial_owners, look_through

__all__ = ["ControlResult", "actual_controllers", "control_analysis"]


@dataclass(frozen=True)
class ControlResult:
    """Everything the batch job writes back to the graph."""

    look_through: LookThrough
    beneficial_owners: pd.DataFrame
    controllers: pd.DataFrame


def _member(values: pd.Series | pd.Index, members: pd.Index) -> np.ndarray:
    """Mask of values found among members; pandas' isin on arrow strings loops in Python."""
    mask: np.ndarray = pd.Index(members).unique().get_indexer(values) >= 0
    return mask


def _largest_holders(ownership: pd.DataFrame, companies: pd.Index, threshold: float) -> pd.Series:
    """Per company, the single largest look-through holder at or above threshold.

    A tie for largest (within EPS) names nobody: the figures cannot pick one person.
    """
    floor = threshold - 2 * EPS  # a tie partner of a qualifying holder is at least this large
    near = ownership[
        (ownership["look_through_share"] >= floor) & _member(ownership["company"], companies)
    ]
    near = near.sort_values(
        ["company", "look_through_share"], ascending=[True, False], kind="stable"
    )
    rank = near.groupby("company", sort=False).cumcount().to_numpy()
    top = near[rank == 0].set_index("company")
    runner_up = near[rank == 1].set_index("company")["look_through_share"]
    runner_up = runner_up.reindex(top.index, fill_value=-np.inf)
    share = top["look_through_share"]
    chosen = (share >= threshold - EPS) & (runner_up < share - EPS)
    chosen_persons: pd.Series = top.loc[chosen, "person"]
    return chosen_persons


def actual_controllers(
    companies: Sequence[str],
    holdings: pd.DataFrame,
    ownership: pd.DataFrame,
    threshold: float = 0.25,
    majority: float = 0.5,
) -> pd.DataFrame:
    """One row per company: who controls it, on what basis, and the chain of majority holders.

    A chain of holders of more than 50% (Company Law art. 265) that ends at a person decides
    first; a majority cycle, or a company without a majority holder, ends the chain at nobody.
    Otherwise the single largest look-through holder at or above threshold controls. Majority
    chains are followed by pointer jumping: O(entities log entities), no recursion.
    """
    h = validated(holdings)
    wanted = [str(c) for c in companies]
    m, rows = len(wanted), len(h)
    codes, ids = pd.factorize(
        pd.concat([pd.Series(wanted, dtype=h["company"].dtype), h["holder"], h["company"]])
    )
    target, holder_code, company_code = codes[:m], codes[m : m + rows], codes[m + rows :]
    n = len(ids)
    is_person = np.zeros(n, dtype=bool)
    is_person[holder_code[(h["holder_kind"] == PERSON).to_numpy()]] = True

    # More than one holder above majority is bad data (over 100%): it names no majority holder.
    above = (h["ratio"] > majority + EPS).to_numpy()
    sole = above & ~h["company"].where(above).duplicated(keep=False).to_numpy()
    parent = np.arange(n)
    parent[company_code[sole]] = holder_code[sole]

    # jumps[k] is the 2^k-th majority ancestor (roots point at themselves); steps counts the hops
    # actually taken, so after enough doublings it is the distance to the root.
    jumps = [parent]
    steps = (parent != np.arange(n)).astype(np.int64)
    for _ in range(max(1, n.bit_length())):
        up = jumps[-1]
        steps = steps + steps[up]
        jumps.append(up[up])
    root = jumps[-1]
    ends_at_person = (parent[root] == root) & is_person[root]

    by_chain = ends_at_person[target] & ~is_person[target]
    chained = target[by_chain]
    length = steps[chained] + 1
    owner = np.repeat(chained, length)
    offset = np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
    node = owner.copy()
    for k, up in enumerate(jumps[:-1]):
        bit = ((offset >> k) & 1).astype(bool)
        node[bit] = up[node[bit]]
    chains = np.split(ids.to_numpy()[node], np.cumsum(length)[:-1]) if len(chained) else []

    person = np.full(m, None, dtype=object)
    basis = np.full(m, "none", dtype=object)
    chain: list[list[str]] = [[] for _ in range(m)]
    person[by_chain] = ids.to_numpy()[root[chained]]
    basis[by_chain] = "majority_chain"
    for position, path in zip(np.flatnonzero(by_chain), chains, strict=True):
        chain[position] = path.tolist()

    holder = _largest_holders(ownership, pd.Index(wanted), threshold)
    fallback = ~by_chain & _member(pd.Index(wanted), holder.index)
    person[fallback] = holder.reindex(np.asarray(wanted, dtype=object)[fallback]).to_numpy()
    basis[fallback] = "look_through"

    shares = ownership.set_index(["company", "person"])["look_through_share"]
    named = pd.MultiIndex.from_arrays([wanted, person.tolist()])
    share = shares.reindex(named).to_numpy(dtype=float, copy=True)
    share[basis == "none"] = np.nan
    return pd.DataFrame(
        {
            "company": wanted,
            "person": pd.Series(person, dtype=object),  # None, not NaN, when nobody controls
            "basis": basis,
            "look_through_share": share,
            "chain": chain,
        }
    )


def control_analysis(
    companies: Sequence[str],
    holdings: pd.DataFrame,
    threshold: float = 0.25,
    majority: float = 0.5,
) -> ControlResult:
    """Look-through, beneficial owners and controllers in one call, for the batch job."""
    result = look_through(holdings)
    return ControlResult(
        look_through=result,
        beneficial_owners=beneficial_owners(result.ownership, threshold),
        controllers=actual_controllers(
            companies, holdings, result.ownership, threshold=threshold, majority=majority
        ),
    )
