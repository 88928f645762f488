"""Clustering: scored mention pairs become entities (stable IDs: linkage.entity_ids).

Linkage hands over three kinds of evidence about pairs of mentions (node indices 0..n-1):
scored edges (Splink match probabilities), must-links (equal USCC or resident-ID token,
reviewer "same") and cannot-links (reviewer "different"). Plain connected components over
the edges above a threshold would let one weak bridge chain two people into one, so
`cluster` agglomerates greedily instead: strongest edge first, and a merge is refused when
it would put a cannot-link pair, two different exclusive keys (two full resident-ID
tokens, two USCCs), or two disagreeing partial keys inside one cluster. A partial key is
what a mention shows of an identifier, hidden characters as '*' (a masked resident ID
`440305********5872`; a full ID contributes its own mask): two agree when every position
both show holds the same character. Agreeing partial keys never link anything (many people
share a mask); disagreeing ones prove two people. The order is fixed (probability
descending, then the pair's node indices ascending), so the result does not depend on
input order.

Most components of the thresholded graph contain no constraint at all; for them greedy
agglomeration ends in the whole component, so they are labelled in bulk with scipy's
connected components, and only the contested components go through the Python
union-find loop of linkage.constrained_union.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from linkage.constrained_union import ConstrainedUnion, PartialKeys

__all__ = ["REFUSAL_REASONS", "Clustering", "Edges", "cluster"]

#: Why a scored edge was not used to merge (keys of Clustering.refused).
REFUSAL_REASONS = ("cannot_link", "exclusive_key", "partial_key")

#: A partial key's hidden character.
_HIDDEN = "*"


@dataclass(frozen=True)
class Edges:
    """Pairs of node indices with a probability; must-links use probability 1.0."""

    left: np.ndarray
    right: np.ndarray
    probability: np.ndarray

    def __post_init__(self) -> None:
        left = np.asarray(self.left, dtype=np.int64).ravel()
        right = np.asarray(self.right, dtype=np.int64).ravel()
        probability = np.asarray(self.probability, dtype=np.float64).ravel()
        if not len(left) == len(right) == len(probability):
            raise ValueError(
                f"Edges arrays differ in length: left {len(left)}, right {len(right)}, "
                f"probability {len(probability)}"
            )
        object.__setattr__(self, "left", left)
        object.__setattr__(self, "right", right)
        object.__setattr__(self, "probability", probability)

    def __len__(self) -> int:
        return len(self.left)

    @classmethod
    def empty(cls) -> Edges:
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))

    @classmethod
    def certain(cls, left: Any, right: Any) -> Edges:
        """Must-links: every pair with probability 1.0."""
        left = np.asarray(left, dtype=np.int64)
        return cls(left, right, np.ones(len(left), dtype=np.float64))


@dataclass(frozen=True)
class Clustering:
    """The result of `cluster`.

    labels: per node, the smallest node index of its cluster (canonical, order-free).
    confidence: per node, the highest probability among the accepted edges and applied
        must-links (1.0) that attach it inside its cluster; 1.0 for a singleton.
    accepted: per scored edge, probability >= threshold and both ends in one cluster.
    refused: per reason in REFUSAL_REASONS, scored edges that would have merged two
        clusters but were refused.
    conflicts: (a, b, reason) per must-link that met a constraint: "cannot_link" (skipped:
        a reviewer's "different" beats a deterministic link), "exclusive_key" (applied:
        the cluster now holds two different keys, e.g. a reviewer said "same" across two
        ID tokens; no further key may join it) or "partial_key" (applied: the cluster now
        shows two characters at some position; one showing a third may not join it).
    """

    labels: np.ndarray
    confidence: np.ndarray
    accepted: np.ndarray
    refused: dict[str, int] = field(default_factory=dict)
    conflicts: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    @property
    def n_clusters(self) -> int:
        return int(np.unique(self.labels).size)


def cluster(
    n: int,
    edges: Edges,
    threshold: float | np.ndarray,
    *,
    must_link: Edges | None = None,
    cannot_link: tuple[np.ndarray, np.ndarray] | None = None,
    exclusive_key: np.ndarray | None = None,
    partial_key: np.ndarray | None = None,
) -> Clustering:
    """Constrained greedy agglomeration of n nodes (see the module docstring).

    Must-links are applied first, unconditionally except across a cannot-link; then the
    scored edges with probability >= threshold (one for all, or one per edge), strongest
    first, each merging its two clusters unless a cannot-link pair, two different non-null
    `exclusive_key` values (None, NaN and "" mean no key) or two `partial_key` values
    disagreeing at a position both show would end up in one cluster. Partial keys are
    strings of one length, '*' where a character is hidden (None, NaN and "" mean no key).
    A cluster a must-link gave disagreeing keys is compared position by position: a merge
    is allowed where, at every position, the characters one side shows include all the
    other side shows.
    """
    must = must_link if must_link is not None else Edges.empty()
    cannot_a, cannot_b = _cannot_arrays(cannot_link)
    for name, nodes in (
        ("edges.left", edges.left),
        ("edges.right", edges.right),
        ("must_link.left", must.left),
        ("must_link.right", must.right),
        ("cannot_link[0]", cannot_a),
        ("cannot_link[1]", cannot_b),
    ):
        if nodes.size and (nodes.min() < 0 or nodes.max() >= n):
            raise ValueError(f"{name} holds node indices outside 0..{n - 1}")
    if np.any(cannot_a == cannot_b):
        raise ValueError("cannot_link pairs a node with itself")
    codes = _key_codes(exclusive_key, n)
    pattern, table = _partial_patterns(partial_key, n)

    # Scored edges that may merge, strongest first; ties by (low node, high node). Two
    # stable argsorts over one int64 pair key are twice as fast as a three-key lexsort.
    lo = np.minimum(edges.left, edges.right)
    hi = np.maximum(edges.left, edges.right)
    strong = edges.probability >= threshold
    idx = np.flatnonzero(strong & (lo != hi))
    idx = idx[np.argsort(lo[idx] * n + hi[idx], kind="stable")]
    order = idx[np.argsort(-edges.probability[idx], kind="stable")]
    e_lo, e_hi = lo[order], hi[order]
    m_lo = np.minimum(must.left, must.right)
    m_hi = np.maximum(must.left, must.right)
    keep = m_lo != m_hi
    m_order = np.argsort(m_lo[keep] * n + m_hi[keep], kind="stable")
    m_lo, m_hi = m_lo[keep][m_order], m_hi[keep][m_order]

    n_comp, comp = _components(n, np.concatenate([m_lo, e_lo]), np.concatenate([m_hi, e_hi]))
    contested = np.zeros(n_comp, dtype=bool)
    inside = comp[cannot_a] == comp[cannot_b]
    contested[comp[cannot_a[inside]]] = True
    keyed = codes >= 0
    if keyed.any():
        n_codes = int(codes.max()) + 1
        comp_keys = np.unique(comp[keyed] * n_codes + codes[keyed])
        contested |= np.bincount(comp_keys // n_codes, minlength=n_comp) > 1
    if (pattern >= 0).any():
        contested |= _partial_contested(comp, contested, pattern, table)

    group = comp.astype(np.int64)
    refused = dict.fromkeys(REFUSAL_REASONS, 0)
    conflicts: list[tuple[int, int, str]] = []
    node_contested = contested[comp]
    if node_contested.any():
        local = np.flatnonzero(node_contested)
        to_local = np.full(n, -1, dtype=np.int64)
        to_local[local] = np.arange(local.size)
        m_sel = node_contested[m_lo]
        e_sel = node_contested[e_lo]
        c_sel = inside & node_contested[cannot_a]
        union = ConstrainedUnion(
            local.size,
            to_local[cannot_a[c_sel]].tolist(),
            to_local[cannot_b[c_sel]].tolist(),
            codes[local].tolist(),
            PartialKeys.of(table, pattern[local]),
        )
        local_conflicts = union.must_links(
            to_local[m_lo[m_sel]].tolist(), to_local[m_hi[m_sel]].tolist()
        )
        refused = union.edges(to_local[e_lo[e_sel]].tolist(), to_local[e_hi[e_sel]].tolist())
        group[local] = n_comp + union.roots()
        conflicts = [(int(local[a]), int(local[b]), why) for a, b, why in local_conflicts]

    labels = _smallest_member(group)
    accepted = strong & (labels[edges.left] == labels[edges.right])
    confidence = _confidence(n, labels, edges, accepted, m_lo, m_hi)
    return Clustering(labels, confidence, accepted, refused, conflicts)


def _cannot_arrays(
    cannot_link: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray]:
    if cannot_link is None:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    a = np.asarray(cannot_link[0], dtype=np.int64).ravel()
    b = np.asarray(cannot_link[1], dtype=np.int64).ravel()
    if len(a) != len(b):
        raise ValueError(f"cannot_link arrays differ in length: {len(a)} and {len(b)}")
    return a, b


def _key_codes(exclusive_key: np.ndarray | None, n: int) -> np.ndarray:
    """Integer code per node for its exclusive key, -1 for none (None, NaN, "")."""
    if exclusive_key is None:
        return np.full(n, -1, dtype=np.int64)
    values = pd.Series(np.asarray(exclusive_key, dtype=object).ravel())
    if len(values) != n:
        raise ValueError(f"exclusive_key has {len(values)} values for {n} nodes")
    values = values.mask(values.eq(""))
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64)


def _partial_patterns(partial_key: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per node the code of its partial key (-1: none, or nothing shown), and per code the
    characters at the positions where two keys can disagree (those showing two different
    characters across all keys): 0 hidden, else 1 + the character's rank among all shown."""
    if partial_key is None:
        return np.full(n, -1, dtype=np.int64), np.zeros((0, 0), dtype=np.int64)
    values = np.asarray(partial_key, dtype=object).ravel()
    if len(values) != n:
        raise ValueError(f"partial_key has {len(values)} values for {n} nodes")
    # Arrow's dictionary encoding: a third of pandas' time on a million Python strings.
    encoded = pa.array(values, pa.string(), from_pandas=True).dictionary_encode()
    codes = encoded.indices.fill_null(-1).to_numpy().astype(np.int64)
    text = np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=str)
    length = np.char.str_len(text)
    empty = length == 0
    if empty.all():
        return np.full(n, -1, dtype=np.int64), np.zeros((0, 0), dtype=np.int64)
    if (length[~empty] != length.max()).any():
        raise ValueError("partial_key values differ in length")
    chars = text.view(np.uint32).reshape(len(text), int(length.max()))
    hidden = (chars == ord(_HIDDEN)) | empty[:, None]
    alphabet = np.sort(pd.unique(chars[~hidden]))
    table = np.where(hidden, 0, np.searchsorted(alphabet, chars) + 1)
    low = np.where(hidden, alphabet.size + 1, table).min(axis=0)
    table = table[:, low < table.max(axis=0)]
    blank = ~table.any(axis=1)  # "", or nothing shown where keys can differ
    if blank.any():
        # numpy stubs: any(axis=1) of an ndarray of unknown rank may be a bool; table is 2-D.
        codes[(codes >= 0) & blank[np.maximum(codes, 0)]] = -1  # type: ignore[index]
    return codes, table


def _partial_contested(
    comp: np.ndarray, contested: np.ndarray, pattern: np.ndarray, table: np.ndarray
) -> np.ndarray:
    """Per component, whether two of its partial keys disagree at a position both show.

    Only components not yet `contested` and holding two distinct keys are looked at
    position by position."""
    n_comp = contested.size
    has = (pattern >= 0) & ~contested[comp]
    n_pat = len(table)
    pairs = np.unique(comp[has] * n_pat + pattern[has])
    p_comp, p_pat = pairs // n_pat, pairs % n_pat
    several = (np.bincount(p_comp, minlength=n_comp) > 1)[p_comp]
    p_comp, p_pat = p_comp[several], p_pat[several]
    disagree = np.zeros(n_comp, dtype=bool)
    if not p_comp.size:
        return disagree
    chars = table[p_pat]
    width = chars.shape[1]
    n_chars = int(table.max()) + 1
    shown = chars > 0
    cell = (p_comp[:, None] * width + np.arange(width))[shown]
    distinct = np.unique(cell * n_chars + chars[shown]) // n_chars
    cells, count = np.unique(distinct, return_counts=True)
    disagree[cells[count > 1] // width] = True
    return disagree


def _components(n: int, a: np.ndarray, b: np.ndarray) -> tuple[int, np.ndarray]:
    """Connected components of everything that could merge: the upper bound of a cluster."""
    graph = coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    n_comp, comp = connected_components(graph, directed=False)
    return int(n_comp), comp.astype(np.int64)


def _smallest_member(group: np.ndarray) -> np.ndarray:
    """Per node, the smallest node index sharing its group: a canonical cluster label."""
    n = group.size
    if n == 0:
        return np.empty(0, dtype=np.int64)
    _, dense = np.unique(group, return_inverse=True)
    first = np.full(dense.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, dense, np.arange(n, dtype=np.int64))
    return first[dense]


def _confidence(
    n: int,
    labels: np.ndarray,
    edges: Edges,
    accepted: np.ndarray,
    m_lo: np.ndarray,
    m_hi: np.ndarray,
) -> np.ndarray:
    """How strongly each node is attached: its best accepted edge (must-link = 1.0)."""
    confidence = np.zeros(n, dtype=np.float64)
    p = edges.probability[accepted]
    np.maximum.at(confidence, edges.left[accepted], p)
    np.maximum.at(confidence, edges.right[accepted], p)
    applied = labels[m_lo] == labels[m_hi]
    confidence[m_lo[applied]] = 1.0
    confidence[m_hi[applied]] = 1.0
    singleton = np.bincount(labels, minlength=n)[labels] == 1
    confidence[singleton] = 1.0
    return confidence
