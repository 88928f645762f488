"""Holding paths: the simple ownership paths behind one look-through figure, for a regulator.

Paths are listed largest share first; when circular holdings add walks that no simple path
covers, a flag says so, since the figure then exceeds the sum over the listed paths.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from graph.control.holdings import (
    COMPANY,
    HOLDING_COLUMNS,
    PERSON,
    Holding,
    validated,
    validated_rows,
)
from graph.control.look_through import EPS, look_through

__all__ = ["HoldingPath", "PathFinder", "holding_paths"]

# Partial paths one holding_paths call may expand: bounds the work on pathological graphs.
_PATH_BUDGET = 50_000


@dataclass(frozen=True)
class HoldingPath:
    """One simple ownership path, so a regulator can see where a look-through figure comes from."""

    nodes: list[str]  # person, company, ..., target company
    ratios: list[float]  # ratio of each hop
    share: float  # product of the ratios


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
        rows: Iterable[tuple[Any, ...]]
        if isinstance(holdings, pd.DataFrame):
            h = validated(holdings)
            rows = h[["holder", "holder_kind", "company", "ratio"]].itertuples(
                index=False, name=None
            )
        else:
            rows = validated_rows(holdings)
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
