"""Control arithmetic: look-through ownership, beneficial owners and actual controllers.

Pure functions over a holdings table (holder, holder_kind, company, ratio); no database, no I/O.

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

Thresholds follow the PBOC/SAMR beneficial-owner measures (>= 25% directly or indirectly, chains
multiplied and added) and Company Law art. 265 (a controlling shareholder holds more than 50%).
Float comparisons allow EPS = 1e-9: 25% reached along two paths may come out as 0.2499999999.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from config.errors import VeilError

__all__ = [
    "CONTROL_TOLERANCE",
    "DROP_BELOW",
    "EPS",
    "CompanyControl",
    "ControlResult",
    "HoldingPath",
    "HoldingsError",
    "LookThrough",
    "PathFinder",
    "actual_controllers",
    "beneficial_owners",
    "company_control",
    "control_analysis",
    "holding_paths",
    "look_through",
]

CONTROL_TOLERANCE = 1e-12  # stated convergence tolerance for look-through (max change per step)
EPS = 1e-9  # slack for threshold comparisons of figures summed along several paths
DROP_BELOW = 1e-15  # look-through shares below this are rounding noise, not holdings

PERSON = "person"
COMPANY = "company"
HOLDING_COLUMNS = ("holder", "holder_kind", "company", "ratio")
OWNERSHIP_COLUMNS = ("company", "person", "look_through_share")

# Power steps allowed to decide whether a cycle's gain reaches 1 - EPS; almost every cycle is
# decided by its column sums at the first step.
_GAIN_STEPS = 10_000
# Partial paths one holding_paths call may expand: bounds the work on pathological graphs.
_PATH_BUDGET = 50_000


class HoldingsError(VeilError, ValueError):
    """Holdings the arithmetic cannot use: the message names the rows to fix upstream."""


@dataclass(frozen=True)
class LookThrough:
    """Look-through ownership of every person in every company, and how the solve went."""

    ownership: pd.DataFrame  # company, person, look_through_share > 0; sorted by company, person
    iterations: int
    residual: float  # max abs change at the last iteration
    divergent: list[str]  # companies in cycles whose loop gain is >= 1: excluded from the solve
    affected: list[str]  # companies held through a divergent cycle: their figures omit those walks
    converged: bool  # residual < tolerance; False only when max_iterations ran out


@dataclass(frozen=True)
class HoldingPath:
    """One simple ownership path, so a regulator can see where a look-through figure comes from."""

    nodes: list[str]  # person, company, ..., target company
    ratios: list[float]  # ratio of each hop
    share: float  # product of the ratios


@dataclass(frozen=True)
class ControlResult:
    """Everything the batch job writes back to the graph."""

    look_through: LookThrough
    beneficial_owners: pd.DataFrame
    controllers: pd.DataFrame


def _examples(items: Sequence[object], limit: int = 5) -> str:
    """The first few offending items, and how many more, for an error message."""
    shown = ", ".join(repr(item) for item in items[:limit])
    more = len(items) - limit
    return f"{shown} and {more} more" if more > 0 else shown


def _validated(holdings: pd.DataFrame) -> pd.DataFrame:
    """Holdings with clean dtypes; raise on rows whose figures would otherwise be silently wrong."""
    missing = [c for c in HOLDING_COLUMNS if c not in holdings.columns]
    if missing:
        raise HoldingsError(f"holdings lack columns {missing}")
    h = pd.DataFrame(
        {
            "holder": holdings["holder"].astype(str),
            "holder_kind": holdings["holder_kind"].astype(str),
            "company": holdings["company"].astype(str),
            "ratio": pd.to_numeric(holdings["ratio"], errors="coerce").astype(float),
        }
    ).reset_index(drop=True)
    kinds = ~h["holder_kind"].isin([PERSON, COMPANY])
    if kinds.any():
        bad = sorted(set(h.loc[kinds, "holder_kind"]))
        raise HoldingsError(f"holder_kind must be 'person' or 'company', got {_examples(bad)}")
    ratio = h["ratio"]
    out_of_range = ~((ratio >= 0) & (ratio <= 1))
    if out_of_range.any():
        rows = h.loc[out_of_range, ["holder", "company", "ratio"]].itertuples(index=False)
        raise HoldingsError(f"ratio must lie in [0, 1]: {_examples([tuple(r) for r in rows])}")
    duplicated = h.duplicated(["holder", "company"])
    if duplicated.any():
        pairs = list(
            dict.fromkeys(h.loc[duplicated, ["holder", "company"]].itertuples(index=False))
        )
        raise HoldingsError(
            "more than one row per (holder, company), consolidate them first: "
            + _examples([tuple(p) for p in pairs])
        )
    is_person = h["holder_kind"] == PERSON
    persons = pd.Index(h.loc[is_person, "holder"].unique())
    companies = pd.Index(h["company"].unique()).union(h.loc[~is_person, "holder"].unique())
    both = persons.intersection(companies)
    if len(both):
        raise HoldingsError(f"ids used both as person and as company: {_examples(list(both))}")
    return h


def _member(values: pd.Series | pd.Index, members: object) -> np.ndarray:
    """Mask of values found among members; pandas' isin on arrow strings loops in Python."""
    return pd.Index(members).unique().get_indexer(values) >= 0


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
    h = _validated(holdings)
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
    return top.loc[chosen, "person"]


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
    h = _validated(holdings)
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


def _largest_paths(
    adjacency: dict[str, list[tuple[str, float]]],
    source: str,
    target: str,
    max_paths: int,
    max_depth: int,
) -> list[HoldingPath]:
    """Simple paths source -> target, largest share first (best-first search).

    Ratios are at most 1, so extending a partial path never raises its share: the complete paths
    leave the heap in exactly the order of their shares, and the search stops after max_paths.
    """
    heap: list[tuple[float, int, tuple[str, ...], tuple[float, ...]]] = [(-1.0, 0, (source,), ())]
    pushed = 1
    found: list[HoldingPath] = []
    while heap and len(found) < max_paths and pushed < _PATH_BUDGET:
        negative, _, nodes, ratios = heapq.heappop(heap)
        if nodes[-1] == target:
            found.append(HoldingPath(list(nodes), list(ratios), -negative))
            continue
        if len(ratios) >= max_depth:
            continue
        for child, ratio in adjacency.get(nodes[-1], ()):
            if child not in nodes:
                heapq.heappush(heap, (negative * ratio, pushed, (*nodes, child), (*ratios, ratio)))
                pushed += 1
    return found


def _simple_path_total(
    adjacency: dict[str, list[tuple[str, float]]], source: str, target: str
) -> float | None:
    """Sum of shares over every simple path source -> target; None when over _PATH_BUDGET."""
    total = 0.0
    visits = 0
    stack: list[tuple[str, float, frozenset[str]]] = [(source, 1.0, frozenset([source]))]
    while stack:
        visits += 1
        if visits > _PATH_BUDGET:
            return None
        node, share, seen = stack.pop()
        if node == target:
            total += share
            continue
        for child, ratio in adjacency.get(node, ()):
            if child not in seen:
                stack.append((child, share * ratio, seen | {child}))
    return total


def _has_cycle(adjacency: dict[str, list[tuple[str, float]]]) -> bool:
    """Whether the graph has a cycle (Kahn: a topological order covers every node otherwise)."""
    indegree: dict[str, int] = dict.fromkeys(adjacency, 0)
    for edges in adjacency.values():
        for child, _ in edges:
            indegree[child] = indegree.get(child, 0) + 1
    ready = [node for node, count in indegree.items() if count == 0]
    ordered = 0
    while ready:
        node = ready.pop()
        ordered += 1
        for child, _ in adjacency.get(node, ()):
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    return ordered < len(indegree)


class PathFinder:
    """Holding paths for many (person, company) pairs over one holdings table.

    The table is validated and indexed once; each query walks only the holdings upstream of its
    company that the person can reach, and the last company's upstream part is kept, since
    callers ask for several owners of one company in a row.
    """

    def __init__(self, holdings: pd.DataFrame | Sequence[Holding]):
        if isinstance(holdings, pd.DataFrame):
            h = _validated(holdings)
            rows = h[["holder", "holder_kind", "company", "ratio"]].itertuples(
                index=False, name=None
            )
        else:
            rows = _validated_rows(holdings)
        self._holders: dict[str, list[tuple[str, float]]] = {}
        for holder, _, company, ratio in rows:
            if ratio > 0:
                self._holders.setdefault(company, []).append((holder, ratio))
        self._last: tuple[str, dict[str, list[tuple[str, float]]]] | None = None

    def _upstream(self, company: str) -> dict[str, list[tuple[str, float]]]:
        """Holder -> [(held company, ratio)] for every holding upstream of company."""
        if self._last is not None and self._last[0] == company:
            return self._last[1]
        adjacency: dict[str, list[tuple[str, float]]] = {}
        seen = {company}
        frontier = [company]
        while frontier:
            held = frontier.pop()
            for holder, ratio in self._holders.get(held, ()):
                adjacency.setdefault(holder, []).append((held, ratio))
                if holder not in seen:
                    seen.add(holder)
                    frontier.append(holder)
        self._last = (company, adjacency)
        return adjacency

    def paths(
        self, person: str, company: str, max_paths: int = 20, max_depth: int = 12
    ) -> tuple[list[HoldingPath], bool]:
        """Simple paths person -> company, largest share first, and whether cycles add to them.

        The flag is True when the look-through share exceeds the sum over all simple paths by
        more than EPS, so a regulator sees why the figure differs from the listed paths (also
        True when the figure runs through a divergent cycle or the paths are too many to sum).
        """
        upstream = self._upstream(company)
        reached = {person}
        frontier = [person]
        while frontier:
            for child, _ in upstream.get(frontier.pop(), ()):
                if child not in reached:
                    reached.add(child)
                    frontier.append(child)
        if person == company or company not in reached:
            return [], False
        adjacency = {
            node: sorted(edges, key=lambda edge: (-edge[1], edge[0]))
            for node, edges in upstream.items()
            if node in reached
        }
        paths = _largest_paths(adjacency, person, company, max_paths, max_depth)
        if not _has_cycle(adjacency):
            return paths, False  # every walk is a simple path: the paths add up to the figure

        walks = pd.DataFrame(
            [
                (holder, PERSON if holder == person else COMPANY, held, ratio)
                for holder, edges in adjacency.items()
                for held, ratio in edges
            ],
            columns=list(HOLDING_COLUMNS),
        )
        result = look_through(walks)
        if company in result.divergent or company in result.affected or not result.converged:
            return paths, True
        figure = result.ownership.loc[
            (result.ownership["company"] == company) & (result.ownership["person"] == person),
            "look_through_share",
        ].sum()
        simple_total = _simple_path_total(adjacency, person, company)
        return paths, bool(simple_total is None or figure - simple_total > EPS)


def holding_paths(
    holdings: pd.DataFrame, person: str, company: str, max_paths: int = 20, max_depth: int = 12
) -> tuple[list[HoldingPath], bool]:
    """The simple paths behind one look-through figure; see PathFinder for many pairs."""
    return PathFinder(holdings).paths(person, company, max_paths, max_depth)


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


Holding = tuple[str, str, str, float]  # holder, holder_kind, company, ratio


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
    rows = _validated_rows(holdings)
    holders: dict[str, list[tuple[str, str, float]]] = {}
    for holder, kind, held, ratio in rows:
        holders.setdefault(held, []).append((holder, kind, ratio))
    weight = _weights_to(company, holders)
    if weight is None:
        return _from_analysis(company, rows, threshold, majority)
    persons = _persons(rows)
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


def _validated_rows(holdings: Sequence[Holding]) -> list[Holding]:
    """`_validated` for a few rows in plain Python: the same checks and messages."""
    rows = [(str(h), str(k), str(c), float(r)) for h, k, c, r in holdings]
    bad_kinds = sorted({k for _, k, _, _ in rows if k not in (PERSON, COMPANY)})
    if bad_kinds:
        raise HoldingsError(
            f"holder_kind must be 'person' or 'company', got {_examples(bad_kinds)}"
        )
    out_of_range = [(h, c, r) for h, _, c, r in rows if not 0 <= r <= 1]
    if out_of_range:
        raise HoldingsError(f"ratio must lie in [0, 1]: {_examples(out_of_range)}")
    pairs = [(h, c) for h, _, c, _ in rows]
    if len(set(pairs)) < len(pairs):
        seen: set[tuple[str, str]] = set()
        repeated = list(dict.fromkeys(p for p in pairs if p in seen or seen.add(p)))
        raise HoldingsError(
            "more than one row per (holder, company), consolidate them first: "
            + _examples(repeated)
        )
    persons = _persons(rows)
    companies = {c for _, _, c, _ in rows} | {h for h, k, _, _ in rows if k == COMPANY}
    both = sorted(persons & companies)
    if both:
        raise HoldingsError(f"ids used both as person and as company: {_examples(both)}")
    return rows


def _persons(rows: Sequence[Holding]) -> set[str]:
    return {h for h, k, _, _ in rows if k == PERSON}


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
