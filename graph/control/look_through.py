"""Look-through ownership and beneficial owners: the numeric engine of the control arithmetic.

Method. With A[i, j] the ratio of company j held by company i and P[p, j] the ratio held directly
by person p, the look-through (integrated) share of p in j is the sum over every ownership walk
from p to j of the product of its ratios: L = P + L A, i.e. L = P (I - A)^-1. It is solved by the
sparse fixed-point iteration L_{k+1} = P + L_k A, carried as increments D_{k+1} = D_k A (the same
iterates, but each step only touches walks that grew), until max |L_{k+1} - L_k| falls below
CONTROL_TOLERANCE = 1e-12. Increments below DROP_BELOW = 1e-15 are dropped as they arise: they
are rounding noise, and extending a walk only shrinks its share. The iteration converges,
circular holdings included, whenever the spectral radius rho(A) < 1; the error left is then at
most residual * rho / (1 - rho). Strongly connected components whose block has rho >= 1 - EPS
(bad data such as mutual holdings over 100%) would never converge: they are found first, left
out of the solve and reported.

Beneficial owners follow the PBOC/SAMR measures (>= 25% directly or indirectly, chains multiplied
and added). Float comparisons allow EPS = 1e-9: 25% reached along two paths may come out as
0.2499999999.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from graph.control.holdings import PERSON, validated

__all__ = [
    "CONTROL_TOLERANCE",
    "DROP_BELOW",
    "EPS",
    "OWNERSHIP_COLUMNS",
    "LookThrough",
    "beneficial_owners",
    "look_through",
]

CONTROL_TOLERANCE = 1e-12  # stated convergence tolerance for look-through (max change per step)
EPS = 1e-9  # slack for threshold comparisons of figures summed along several paths
DROP_BELOW = 1e-15  # look-through shares below this are rounding noise, not holdings
OWNERSHIP_COLUMNS = ("company", "person", "look_through_share")

# Power steps allowed to decide whether a cycle's gain reaches 1 - EPS; almost every cycle is
# decided by its column sums at the first step.
_GAIN_STEPS = 10_000


@dataclass(frozen=True)
class LookThrough:
    """Look-through ownership of every person in every company, and how the solve went."""

    ownership: pd.DataFrame  # company, person, look_through_share > 0; sorted by company, person
    iterations: int
    residual: float  # max abs change at the last iteration
    divergent: list[str]  # companies in cycles whose loop gain is >= 1: excluded from the solve
    affected: list[str]  # companies held through a divergent cycle: their figures omit those walks
    converged: bool  # residual < tolerance; False only when max_iterations ran out


def _reachable(graph: sparse.csr_array, sources: np.ndarray) -> np.ndarray:
    """Nodes reachable from any source along graph edges (sources included), as a mask."""
    n = graph.shape[0]
    # One breadth-first search from a virtual node linked to every source.
    link = sparse.csr_array(
        (np.ones(len(sources)), (np.full(len(sources), n), sources)), shape=(n + 1, n + 1)
    )
    grown = sparse.block_diag([graph, sparse.csr_array((1, 1))], format="csr") + link
    order = csgraph.breadth_first_order(grown, n, directed=True, return_predecessors=False)
    mask = np.zeros(n + 1, dtype=bool)
    mask[order] = True
    return mask[:n]


def _gain_upper_bounds(
    block: sparse.csr_array, starts: np.ndarray, group: np.ndarray
) -> np.ndarray:
    """Upper bound of each irreducible block's spectral radius, decided against 1 - EPS.

    Collatz-Wielandt: for x > 0, min_j (xB)_j / x_j <= rho(B) <= max_j (xB)_j / x_j. Power steps
    with I + B (primitive even when a cycle is periodic) tighten both bounds until they lie on the
    same side of 1 - EPS. From x = 1 the bounds are the block's column sums, which decides almost
    every component at once; the simple column-sum rule alone would be wrong both ways.
    """
    transposed = block.T.tocsr()
    x = np.ones(block.shape[0])
    lower = np.full(len(starts), -np.inf)
    upper = np.full(len(starts), np.inf)
    for _ in range(_GAIN_STEPS):
        y = x + transposed @ x
        quotient = y / x
        lower = np.maximum(lower, np.minimum.reduceat(quotient, starts) - 1)
        upper = np.minimum(upper, np.maximum.reduceat(quotient, starts) - 1)
        if np.all((lower >= 1 - EPS) | (upper < 1 - EPS)):
            break
        x = y / np.maximum.reduceat(y, starts)[group]
    return upper


def _divergent(a: sparse.csr_array) -> np.ndarray:
    """Mask of companies in strongly connected components whose loop gain reaches 1 - EPS.

    Components still undecided after _GAIN_STEPS have a gain within a hair of 1: the look-through
    iteration could not converge through them either, so they count as divergent.
    """
    n = a.shape[0]
    divergent = np.zeros(n, dtype=bool)
    _, labels = csgraph.connected_components(a, directed=True, connection="strong")
    coo = a.tocoo()
    inside = labels[coo.row] == labels[coo.col]
    if not inside.any():
        return divergent
    cyclic = np.zeros(labels.max() + 1, dtype=bool)
    cyclic[labels[coo.row[inside]]] = True  # an edge inside a component means a cycle
    nodes = np.flatnonzero(cyclic[labels])
    nodes = nodes[np.argsort(labels[nodes], kind="stable")]
    node_labels = labels[nodes]
    starts = np.flatnonzero(np.r_[True, node_labels[1:] != node_labels[:-1]])
    group = np.cumsum(np.r_[False, node_labels[1:] != node_labels[:-1]])
    local = np.full(n, -1)
    local[nodes] = np.arange(len(nodes))
    block = sparse.csr_array(
        (coo.data[inside], (local[coo.row[inside]], local[coo.col[inside]])),
        shape=(len(nodes), len(nodes)),
    )
    divergent[nodes] = _gain_upper_bounds(block, starts, group)[group] >= 1 - EPS
    return divergent


def _empty_ownership() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "company": pd.Series(dtype=str),
            "person": pd.Series(dtype=str),
            "look_through_share": pd.Series(dtype=float),
        }
    )


def look_through(
    holdings: pd.DataFrame, tolerance: float = CONTROL_TOLERANCE, max_iterations: int = 10_000
) -> LookThrough:
    """Look-through share of every person in every company: L = P (I - A)^-1 by iteration."""
    h = validated(holdings)
    h = h[h["ratio"] > 0]
    is_person = (h["holder_kind"] == PERSON).to_numpy()
    person_code, persons = pd.factorize(h["holder"][is_person], sort=True)
    codes, companies = pd.factorize(
        pd.concat([h["company"], h["holder"][~is_person]], ignore_index=True), sort=True
    )
    n = len(companies)
    column, holder_code = codes[: len(h)], codes[len(h) :]
    ratio = h["ratio"].to_numpy()
    direct = sparse.csr_array(
        (ratio[is_person], (person_code, column[is_person])), shape=(len(persons), n)
    )
    a = sparse.csr_array((ratio[~is_person], (holder_code, column[~is_person])), shape=(n, n))

    divergent = _divergent(a)
    affected = np.zeros(n, dtype=bool)
    if divergent.any():
        affected = _reachable(a, np.flatnonzero(divergent)) & ~divergent
        keep = sparse.diags_array((~divergent).astype(float))
        a = (keep @ a @ keep).tocsr()
        direct = (direct @ keep).tocsr()
        a.eliminate_zeros()
        direct.eliminate_zeros()

    steps = [direct]
    iterations = 0
    residual = 0.0
    while steps[-1].nnz and iterations < max_iterations:
        step = steps[-1] @ a
        step.data[step.data < DROP_BELOW] = 0  # noise, and its extensions are smaller still
        step.eliminate_zeros()
        steps.append(step)
        iterations += 1
        residual = float(step.data.max()) if step.nnz else 0.0  # ratios >= 0: max is max |change|
        if residual < tolerance:
            break

    # Summed once at the end (adding each step to a running total costs O(nnz(L)) per step).
    # Company by person, so the rows in CSR order come sorted by company, then person.
    flat = [step.T.tocoo() for step in steps]
    total = sparse.coo_array(
        (
            np.concatenate([f.data for f in flat]),
            (np.concatenate([f.row for f in flat]), np.concatenate([f.col for f in flat])),
        ),
        shape=(n, len(persons)),
    ).tocsr()
    total.sum_duplicates()  # canonical form: one entry per pair, persons sorted within a company
    row = np.repeat(np.arange(n), np.diff(total.indptr))
    present = total.data >= DROP_BELOW
    ownership = _empty_ownership()
    if present.any():
        ownership = pd.DataFrame(
            {
                "company": companies.take(row[present]),
                "person": persons.take(total.indices[present]),
                "look_through_share": total.data[present],
            }
        )
    return LookThrough(
        ownership=ownership,
        iterations=iterations,
        residual=residual,
        divergent=companies[divergent].tolist(),
        affected=companies[affected].tolist(),
        converged=residual < tolerance,
    )


def beneficial_owners(ownership: pd.DataFrame, threshold: float = 0.25) -> pd.DataFrame:
    """Persons whose look-through share reaches the threshold (25% under the PBOC/SAMR measures)."""
    keep = ownership["look_through_share"] >= threshold - EPS
    return ownership.loc[keep, list(OWNERSHIP_COLUMNS)].reset_index(drop=True)
