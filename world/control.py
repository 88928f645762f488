"""Control arithmetic: look-through ownership, beneficial owners and actual controllers.

Look-through (integrated) ownership sums, over every path, the product of the shares
along it. With A[i, j] the share of company j held by company i and P[p, j] the share
of company j held directly by person p, the look-through matrix L satisfies
L = P + L A, i.e. L = P (I - A)^-1. That is solved exactly, cycles included: companies
are grouped into strongly connected components, processed in topological order, and
each cyclic component is solved with its own small (I - A_SS)^-1. A brute-force path
enumeration (acyclic only) exists for tests to check the solver against.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

# Shares are compared with this tolerance: 0.25 reached along two paths may be 0.2499999...
EPS = 1e-9
BENEFICIAL_OWNER_SHARE = 0.25
MAJORITY = 0.5


def matrices(
    n_companies: int, n_people: int, holdings: pd.DataFrame
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """A (company x company) and P (person x company) from rows of
    (company, holder_kind, holder, share)."""
    is_company = (holdings["holder_kind"] == "company").to_numpy()
    company = holdings["company"].to_numpy()
    holder = holdings["holder"].to_numpy()
    share = holdings["share"].to_numpy(dtype=float)
    a = sp.csr_matrix(
        (share[is_company], (holder[is_company], company[is_company])),
        shape=(n_companies, n_companies),
    )
    p = sp.csr_matrix(
        (share[~is_company], (holder[~is_company], company[~is_company])),
        shape=(n_people, n_companies),
    )
    return a, p


def look_through(a: sp.spmatrix, p: sp.spmatrix) -> sp.csc_matrix:
    """L = P (I - A)^-1, by components in topological order (exact up to float rounding)."""
    a = sp.csr_matrix(a)
    n = a.shape[0]
    n_comp, label = connected_components(a, directed=True, connection="strong")
    coo = a.tocoo()
    cross = label[coo.row] != label[coo.col]
    src, dst = label[coo.row[cross]], label[coo.col[cross]]
    depth = np.zeros(n_comp, dtype=np.int64)
    while src.size:
        proposed = depth.copy()
        np.maximum.at(proposed, dst, depth[src] + 1)
        if np.array_equal(proposed, depth):
            break
        depth = proposed
    q = _component_inverses(a, label, n_comp)
    p = sp.csc_matrix(p)
    a_csc = sp.csc_matrix(a)
    result = sp.csc_matrix(p.shape, dtype=float)
    company_depth = depth[label]
    for d in range(int(company_depth.max(initial=0)) + 1):
        cols = np.flatnonzero(company_depth == d)
        if not cols.size:
            continue
        inflow = p[:, cols] + result @ a_csc[:, cols]
        block = sp.csc_matrix(inflow @ q[cols][:, cols])
        place = sp.csr_matrix(
            (np.ones(cols.size), (np.arange(cols.size), cols)), shape=(cols.size, n)
        )
        result = result + block @ place
    result.eliminate_zeros()
    return sp.csc_matrix(result)


def _component_inverses(a: sp.csr_matrix, label: np.ndarray, n_comp: int) -> sp.csr_matrix:
    """Block-diagonal Q with (I - A_SS)^-1 for each cyclic component S, 1 elsewhere."""
    n = a.shape[0]
    sizes = np.bincount(label, minlength=n_comp)
    self_loop = a.diagonal() != 0
    cyclic = (sizes[label] > 1) | self_loop
    singles = np.flatnonzero(~cyclic)
    rows, cols, vals = [singles], [singles], [np.ones(singles.size)]
    members = defaultdict(list)
    for i in np.flatnonzero(cyclic).tolist():
        members[int(label[i])].append(i)
    for comp in sorted(members):
        m = np.array(members[comp])
        block = np.eye(m.size) - a[m][:, m].toarray()
        inv = np.linalg.inv(block)
        r, c = np.meshgrid(m, m, indexing="ij")
        rows.append(r.ravel())
        cols.append(c.ravel())
        vals.append(inv.ravel())
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )


def path_sum_look_through(holdings: pd.DataFrame) -> dict[tuple[int, int], float]:
    """Brute force: enumerate every person-to-company path and sum the products.

    Only for acyclic holdings (raises ValueError on a cycle); used to check look_through.
    """
    children: dict[int, list[tuple[int, float]]] = defaultdict(list)
    direct: list[tuple[int, int, float]] = []
    for company, kind, holder, share in holdings[
        ["company", "holder_kind", "holder", "share"]
    ].itertuples(index=False):
        if kind == "company":
            children[int(holder)].append((int(company), float(share)))
        else:
            direct.append((int(holder), int(company), float(share)))
    total: dict[tuple[int, int], float] = defaultdict(float)

    def walk(person: int, company: int, product: float, on_path: frozenset[int]) -> None:
        if company in on_path:
            raise ValueError(f"cycle through company {company}")
        total[(person, company)] += product
        for child, share in children.get(company, ()):
            walk(person, child, product * share, on_path | {company})

    for person, company, share in direct:
        walk(person, company, share, frozenset())
    return dict(total)


def ownership_table(lt: sp.csc_matrix) -> pd.DataFrame:
    """Every (company, person, look_through_share) with a positive share."""
    coo = lt.tocoo()
    frame = pd.DataFrame(
        {
            "company": coo.col.astype(np.int64),
            "person": coo.row.astype(np.int64),
            "look_through_share": coo.data,
        }
    )
    frame = frame[frame["look_through_share"] > 0]
    return frame.sort_values(["company", "person"], ignore_index=True)


def beneficial_owners(ownership: pd.DataFrame) -> pd.DataFrame:
    """People with at least 25% look-through equity."""
    keep = ownership["look_through_share"] >= BENEFICIAL_OWNER_SHARE - EPS
    return ownership[keep].reset_index(drop=True)


def controllers(n_companies: int, holdings: pd.DataFrame, ownership: pd.DataFrame) -> pd.DataFrame:
    """The actual controller of every company and the basis for it.

    majority_chain: following holders of more than 50% from the company upwards ends at
    a person. Otherwise look_through: the single largest look-through holder, if at least
    25% (a tie for largest means no controller). Otherwise none.
    """
    kind, holder = majority_chain_ends(n_companies, holdings)
    person = np.full(n_companies, -1, dtype=np.int64)
    basis = np.full(n_companies, "none", dtype=object)
    chain = kind == 1
    person[chain] = holder[chain]
    basis[chain] = "majority_chain"
    top = ownership.sort_values(
        ["company", "look_through_share", "person"], ascending=[True, False, True]
    )
    first = top.drop_duplicates("company")
    second = top[top.duplicated("company")].drop_duplicates("company")
    runner = pd.Series(second["look_through_share"].to_numpy(), index=second["company"].to_numpy())
    c = first["company"].to_numpy()
    best = first["look_through_share"].to_numpy()
    next_best = runner.reindex(c).fillna(-1.0).to_numpy()
    ok = (best >= BENEFICIAL_OWNER_SHARE - EPS) & (best - next_best > EPS) & ~chain[c]
    person[c[ok]] = first["person"].to_numpy()[ok]
    basis[c[ok]] = "look_through"
    share = ownership.set_index(["company", "person"])["look_through_share"]
    has = person >= 0
    looked = np.zeros(n_companies)
    idx = pd.MultiIndex.from_arrays([np.flatnonzero(has), person[has]])
    looked[has] = share.reindex(idx).fillna(0.0).to_numpy()
    return pd.DataFrame(
        {
            "company": np.arange(n_companies),
            "person": person,
            "basis": basis,
            "look_through_share": np.where(has, looked, np.nan),
        }
    )


def majority_chain_ends(n_companies: int, holdings: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Where the chain of >50% holders ends, per company: (kind, index) with kind
    1 = a person, 0 = nowhere (a link without a majority holder, or a cycle)."""
    major = holdings[holdings["share"] > MAJORITY + EPS]
    kind = np.zeros(n_companies, dtype=np.int64)  # 0 none, 1 person, 2 company
    target = np.full(n_companies, -1, dtype=np.int64)
    c = major["company"].to_numpy()
    kind[c] = np.where(major["holder_kind"].to_numpy() == "person", 1, 2)
    target[c] = major["holder"].to_numpy()
    for _ in range(n_companies.bit_length() + 2):
        up = np.flatnonzero(kind == 2)
        if not up.size:
            break
        nxt = target[up]
        kind[up], target[up] = kind[nxt], target[nxt]
    kind[kind == 2] = 0  # still pointing at a company: a majority cycle
    return kind, np.where(kind == 1, target, -1)


def majority_chain_starts(n_companies: int, holdings: pd.DataFrame) -> np.ndarray:
    """Per company, the latest start date of the holdings along its majority chain (the
    day the chain was complete); NaT where no chain ends at a person."""
    major = holdings[holdings["share"] > MAJORITY + EPS]
    kind = np.zeros(n_companies, dtype=np.int64)
    target = np.full(n_companies, -1, dtype=np.int64)
    start = np.full(n_companies, np.datetime64("NaT", "D"))
    c = major["company"].to_numpy()
    kind[c] = np.where(major["holder_kind"].to_numpy() == "person", 1, 2)
    target[c] = major["holder"].to_numpy()
    start[c] = major["subscribed"].to_numpy(dtype="datetime64[D]")
    for _ in range(n_companies.bit_length() + 2):
        up = np.flatnonzero(kind == 2)
        if not up.size:
            break
        nxt = target[up]
        start[up] = np.maximum(start[up], start[nxt])
        kind[up], target[up] = kind[nxt], target[nxt]
    start[kind != 1] = np.datetime64("NaT", "D")
    return start


def equity_starts(people: np.ndarray, holdings: pd.DataFrame) -> pd.DataFrame:
    """For the given people: (person, company, start) over every company they reach, start
    being the latest start date among all holdings on their paths to it (cycle-safe)."""
    direct = holdings[(holdings["holder_kind"] == "person") & holdings["holder"].isin(people)]
    reach = pd.DataFrame(
        {
            "person": direct["holder"].to_numpy(),
            "company": direct["company"].to_numpy(),
            "start": direct["subscribed"].to_numpy(dtype="datetime64[D]"),
        }
    )
    reach = reach.groupby(["person", "company"], as_index=False)["start"].max()
    edges = holdings[holdings["holder_kind"] == "company"][["holder", "company", "subscribed"]]
    while True:
        step = reach.merge(edges, left_on="company", right_on="holder", suffixes=("", "_to"))
        step = pd.DataFrame(
            {
                "person": step["person"].to_numpy(),
                "company": step["company_to"].to_numpy(),
                "start": np.maximum(
                    step["start"].to_numpy(dtype="datetime64[D]"),
                    step["subscribed"].to_numpy(dtype="datetime64[D]"),
                ),
            }
        )
        merged = (
            pd.concat([reach, step], ignore_index=True)
            .groupby(["person", "company"], as_index=False)["start"]
            .max()
        )
        if len(merged) == len(reach) and merged["start"].equals(reach["start"]):
            return merged
        reach = merged
