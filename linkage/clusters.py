"""Clustering: scored mention pairs become entities with stable IDs.

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
union-find loop (path halving, union by size, per-root cannot-link partner sets merged
small into big; a cluster's partial keys held as two Python ints, which characters it
shows and what they are, so a check is one xor and two ands).

`stable_entity_ids` names the clusters: a hash of the smallest mention key on a first
run, so the same input gives the same IDs; on later runs (new waves, re-loads) old IDs
follow their mentions, and a `changes` table says what happened to each entity.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = [
    "CHANGES_SCHEMA",
    "KEY_COLUMNS",
    "REFUSAL_REASONS",
    "Clustering",
    "Edges",
    "cluster",
    "stable_entity_ids",
]

#: Why a scored edge was not used to merge (keys of Clustering.refused).
REFUSAL_REASONS = ("cannot_link", "exclusive_key", "partial_key")

#: Columns naming a mention, in every frame these functions take.
KEY_COLUMNS = ["source", "record_id", "slot"]

#: Arrow schema of the `changes` frame (write it with this: from_ids is list<string> even
#: when every list is empty).
CHANGES_SCHEMA = pa.schema(
    [
        ("entity_id", pa.string()),
        ("change", pa.string()),
        ("from_ids", pa.list_(pa.string())),
        ("mentions", pa.int64()),
        ("new_mentions", pa.int64()),
    ]
)

#: Separator of the mention key hashed into entity IDs (never occurs in the key parts).
_SEP = "\x1f"
#: Hex characters of a fresh entity ID (48 bits); longer only on a collision.
_ID_HEX = 12
#: Key code of a root whose cluster holds several keys (a must-link joined two).
_MULTI = -2
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


# -- cluster ------------------------------------------------------------------------------


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
        shown, value = _packed(table)
        local_pattern = pattern[local]
        roots, refused, local_conflicts = _greedy(
            local.size,
            to_local[m_lo[m_sel]].tolist(),
            to_local[m_hi[m_sel]].tolist(),
            to_local[e_lo[e_sel]].tolist(),
            to_local[e_hi[e_sel]].tolist(),
            to_local[cannot_a[c_sel]].tolist(),
            to_local[cannot_b[c_sel]].tolist(),
            codes[local].tolist(),
            _Partial(
                _node_values(shown, local_pattern),
                _node_values(value, local_pattern),
                table.shape[1],
                _width(table),
            ),
        )
        group[local] = n_comp + roots
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
    encoded = pc.dictionary_encode(pa.array(values, pa.string(), from_pandas=True))
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
        codes[(codes >= 0) & blank[np.maximum(codes, 0)]] = -1
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


def _width(table: np.ndarray) -> int:
    """Bits per position of a packed partial key."""
    return max(int(table.max(initial=0)).bit_length(), 1)


def _packed(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per partial key, `shown` (all ones where a character shows) and `value` (the
    character codes), `_width` bits per position: int64 when they fit in 63 bits (so the
    union-find handles small Python ints), else Python ints of any size.

    Two keys agree when (value_a ^ value_b) & shown_a & shown_b is 0; their union is
    shown_a | shown_b, value_a | value_b.
    """
    width = _width(table)
    ones = np.uint64((1 << width) - 1)
    per = 63 // width
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for start in range(0, max(table.shape[1], 1), per):
        chars = table[:, start : start + per].astype(np.uint64)
        shift = np.arange(chars.shape[1], dtype=np.uint64) * np.uint64(width)
        value = (chars << shift).sum(axis=1, dtype=np.uint64)
        shown = (np.where(chars > 0, ones, np.uint64(0)) << shift).sum(axis=1, dtype=np.uint64)
        parts.append((shown, value))
    if len(parts) == 1:
        return parts[0][0].astype(np.int64), parts[0][1].astype(np.int64)
    shown_big = np.zeros(len(table), dtype=object)
    value_big = np.zeros(len(table), dtype=object)
    for i, (shown, value) in enumerate(parts):
        offset = i * per * width
        shown_big += shown.astype(object) << offset
        value_big += value.astype(object) << offset
    return shown_big, value_big


def _node_values(packed: np.ndarray, pattern: np.ndarray) -> list[int]:
    """Per node, the packed value of its partial key (0 for none), as Python ints."""
    if not packed.size:
        return [0] * pattern.size
    return np.where(pattern >= 0, packed[np.maximum(pattern, 0)], 0).tolist()


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


def _key_set(key: int, root: int, multi: dict[int, frozenset[int]]) -> frozenset[int]:
    return multi[root] if key == _MULTI else frozenset((key,))


def _merge_multi(
    ra: int, rb: int, keys: list[int], multi: dict[int, frozenset[int]]
) -> tuple[frozenset[int], bool]:
    """Keys of two clusters at least one of which holds several (a must-link joined them):
    the union, and whether the merge adds no new key to either side's set."""
    sa = _key_set(keys[ra], ra, multi)
    sb = _key_set(keys[rb], rb, multi)
    return sa | sb, sa <= sb or sb <= sa


@dataclass
class _Partial:
    """Partial keys of the union-find: per node (per root once merged) its packed `shown`
    and `value` (see _packed), and for a root whose cluster a must-link gave disagreeing
    keys, in `spread`, the set of characters shown per position (bit c: character code c)."""

    shown: list[int]
    value: list[int]
    length: int
    width: int
    spread: dict[int, list[int]] = field(default_factory=dict)

    def sets(self, root: int) -> list[int]:
        """Per position, the characters the cluster rooted at `root` shows, as bits."""
        held = self.spread.get(root)
        if held is not None:
            return held
        ones = (1 << self.width) - 1
        shown, value = self.shown[root], self.value[root]
        return [
            1 << ((value >> (p * self.width)) & ones) if (shown >> (p * self.width)) & ones else 0
            for p in range(self.length)
        ]

    def merge(self, ra: int, rb: int) -> tuple[bool, list[int] | None]:
        """Whether the keys of two clusters agree (per position, one side shows everything
        the other shows), and the per-position union when either is spread or they differ."""
        if self.spread and (ra in self.spread or rb in self.spread):
            sa, sb = self.sets(ra), self.sets(rb)
            ok = not any(a & ~b and b & ~a for a, b in zip(sa, sb, strict=True))
            return ok, [a | b for a, b in zip(sa, sb, strict=True)]
        sa, sb = self.shown[ra], self.shown[rb]
        if sa and sb and (self.value[ra] ^ self.value[rb]) & sa & sb:
            return False, [a | b for a, b in zip(self.sets(ra), self.sets(rb), strict=True)]
        return True, None

    def join(self, into: int, gone: int, sets: list[int] | None) -> None:
        """Record that the cluster rooted at `gone` joined `into` (`sets`: from merge)."""
        self.shown[into] |= self.shown[gone]
        self.value[into] |= self.value[gone]
        if self.spread:
            self.spread.pop(gone, None)
        if sets is not None:
            self.spread[into] = sets


def _greedy(
    m: int,
    must_a: list[int],
    must_b: list[int],
    edge_a: list[int],
    edge_b: list[int],
    cannot_a: list[int],
    cannot_b: list[int],
    keys: list[int],
    partial: _Partial,
) -> tuple[np.ndarray, dict[str, int], list[tuple[int, int, str]]]:
    """Union-find over m nodes: must-links, then the edges in the order given.

    keys: per node, -1 (none) or a key code; a root whose cluster a must-link gave several
    keys holds _MULTI and its set lives in `multi`. partial: the partial keys. Returns the
    root per node, refused counts per reason and must-link conflicts. The edge loop is the
    one per-edge Python loop of linkage, so find, union and the common partial-key check
    are written inline there.
    """
    parent = list(range(m))
    size = [1] * m
    multi: dict[int, frozenset[int]] = {}
    partners: dict[int, set[int]] = {}
    for a, b in zip(cannot_a, cannot_b, strict=True):
        partners.setdefault(a, set()).add(b)
        partners.setdefault(b, set()).add(a)

    def find(x: int) -> int:
        while True:
            p = parent[x]
            if p == x:
                return x
            g = parent[p]
            parent[x] = g
            x = g

    def blocked(ra: int, rb: int) -> bool:
        """A cannot-link pair between the clusters rooted at ra and rb?"""
        sa = partners.get(ra)
        if not sa:
            return False
        sb = partners.get(rb)
        if not sb:
            return False
        if len(sb) < len(sa):
            sa, rb = sb, ra
        return any(find(p) == rb for p in sa)

    def union(
        ra: int, rb: int, key: int, key_set: frozenset[int] | None, sets: list[int] | None
    ) -> None:
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] += size[rb]
        keys[ra] = key
        partial.join(ra, rb, sets)
        if multi:
            multi.pop(rb, None)
        if key_set is not None:
            multi[ra] = key_set
        sb = partners.pop(rb, None)
        if sb:
            sa = partners.get(ra)
            if sa is None:
                partners[ra] = sb
            elif len(sa) < len(sb):
                sb |= sa
                partners[ra] = sb
            else:
                sa |= sb

    def merged_key(ra: int, rb: int) -> tuple[int, frozenset[int] | None, bool]:
        """Key of the merged cluster, its key set if several, and whether it is allowed."""
        ka, kb = keys[ra], keys[rb]
        if ka == -1 or (ka == kb and ka != _MULTI):
            return kb, multi.get(rb), True
        if kb == -1:
            return ka, multi.get(ra), True
        union_set, ok = _merge_multi(ra, rb, keys, multi)
        return _MULTI, union_set, ok

    conflicts: list[tuple[int, int, str]] = []
    for a, b in zip(must_a, must_b, strict=True):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        if blocked(ra, rb):
            conflicts.append((a, b, "cannot_link"))
            continue
        key, key_set, ok = merged_key(ra, rb)
        agree, sets = partial.merge(ra, rb)
        if not ok:
            conflicts.append((a, b, "exclusive_key"))
        elif not agree:
            conflicts.append((a, b, "partial_key"))
        union(ra, rb, key, key_set, sets)

    shown, value, spread = partial.shown, partial.value, partial.spread
    refused_cannot = refused_key = refused_partial = 0
    for a, b in zip(edge_a, edge_b, strict=True):
        while True:  # find(a), path halving
            p = parent[a]
            if p == a:
                break
            g = parent[p]
            parent[a] = g
            a = g
        while True:  # find(b)
            p = parent[b]
            if p == b:
                break
            g = parent[p]
            parent[b] = g
            b = g
        if a == b:
            continue
        if partners and a in partners and b in partners and blocked(a, b):
            refused_cannot += 1
            continue
        ka, kb = keys[a], keys[b]
        if ka == -1 or (ka == kb and ka != _MULTI):
            key, key_set = kb, None
        elif kb == -1:
            key, key_set = ka, None
        elif ka >= 0 and kb >= 0:
            refused_key += 1
            continue
        else:
            key, key_set, ok = merged_key(a, b)
            if not ok:
                refused_key += 1
                continue
        sets = None
        if spread and (a in spread or b in spread):
            agree, sets = partial.merge(a, b)
            if not agree:
                refused_partial += 1
                continue
        else:
            sa, sb = shown[a], shown[b]
            if sa and sb and (value[a] ^ value[b]) & sa & sb:
                refused_partial += 1
                continue
        if size[a] < size[b]:
            a, b = b, a
        parent[b] = a
        size[a] += size[b]
        keys[a] = key
        if shown[b]:
            shown[a] |= shown[b]
            value[a] |= value[b]
        if sets is not None:
            spread.pop(b, None)
            spread[a] = sets
        if multi:
            moved = multi.pop(b, None)
            if key_set is None and moved is not None:
                key_set = moved
            if key_set is not None:
                multi[a] = key_set
        elif key_set is not None:
            multi[a] = key_set
        if partners:
            sb = partners.pop(b, None)
            if sb:
                sa = partners.get(a)
                if sa is None:
                    partners[a] = sb
                elif len(sa) < len(sb):
                    sb |= sa
                    partners[a] = sb
                else:
                    sa |= sb

    roots = np.asarray(parent, dtype=np.int64)
    while True:  # pointer jumping until every node points at its root
        hop = roots[roots]
        if np.array_equal(hop, roots):
            break
        roots = hop
    refused = {
        "cannot_link": refused_cannot,
        "exclusive_key": refused_key,
        "partial_key": refused_partial,
    }
    return roots, refused, conflicts


# -- stable entity IDs --------------------------------------------------------------------


def _mention_keys(frame: pd.DataFrame, what: str) -> pa.Array:
    """Per row, source, record_id and slot joined by U+001F: the string hashed into IDs.

    Arrow, not Python strings: sorting and looking up a million keys is a C++ job.
    """
    missing = [c for c in KEY_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {KEY_COLUMNS}; missing {missing}")
    parts = [_strings(frame[c]) for c in KEY_COLUMNS]
    return pc.binary_join_element_wise(*parts, pa.scalar(_SEP, pa.large_string()))


def _strings(column: pd.Series) -> pa.Array:
    return pa.Array.from_pandas(column.astype(str)).cast(pa.large_string())


def _sorted_unique(keys: pa.Array, what: str) -> tuple[np.ndarray, pa.Array]:
    """The sort order of the keys and the sorted keys; ValueError naming a duplicate."""
    order = pc.array_sort_indices(keys).to_numpy()
    ordered = keys.take(pa.array(order))
    if len(ordered) > 1:
        same = pc.equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1)).to_numpy(
            zero_copy_only=False
        )
        if same.any():
            dup = ordered[int(np.flatnonzero(same)[0])].as_py().replace(_SEP, ":")
            raise ValueError(f"{what} name mention {dup} more than once")
    return order, ordered


def stable_entity_ids(
    keys: pd.DataFrame,
    labels: np.ndarray,
    prefix: str,
    previous: pd.DataFrame | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Entity ID per node, and what changed since `previous` (columns of CHANGES_SCHEMA).

    A fresh ID is prefix + the first 12 hex characters of sha256 of the cluster's smallest
    mention key (longer where that collides with a previous ID or another fresh one), so a
    re-run of the same input gives the same IDs.

    With `previous` (source, record_id, slot, entity_id of the last run), IDs follow
    mentions: an old ID is awarded to the cluster holding most of its (still existing)
    mentions, ties to the smaller label; a cluster awarded several old IDs keeps the one
    it shares most mentions with, ties to the smallest ID, and the others are retired; a
    cluster awarded none gets a fresh ID, never one used before (not even a retired one,
    so an ID always means one entity's history).

    Change per entity, first rule that applies (created, then merged > split > extended >
    unchanged): created (no previous mention), merged (mentions of >= 2 old entities),
    split (part of one old entity whose mentions now lie in >= 2 clusters, whether or not
    this cluster kept the ID), extended (all of one old entity plus new mentions),
    unchanged (exactly one old entity's mentions). Old IDs no one keeps get a "retired"
    row (from_ids [the ID], mentions 0); so do old entities whose mentions all vanished.
    from_ids lists the old IDs whose mentions the entity holds, sorted.
    """
    labels = np.asarray(labels, dtype=np.int64).ravel()
    if len(keys) != len(labels):
        raise ValueError(f"{len(keys)} mention keys but {len(labels)} labels")
    mkeys = _mention_keys(keys, "keys")
    order, ordered = _sorted_unique(mkeys, "keys")
    # Clusters are numbered by label, ascending: "the smaller label" is the smaller number.
    _, cl = np.unique(labels, return_inverse=True)
    cl = cl.astype(np.int64).ravel()
    size = np.bincount(cl)
    n_clusters = size.size
    # The smallest key per cluster: the smallest rank in the keys' sorted order.
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    best = np.full(n_clusters, len(order), dtype=np.int64)
    np.minimum.at(best, cl, rank)
    smallest = ordered.take(pa.array(best)).to_numpy(zero_copy_only=False)

    if previous is None:
        ids = np.asarray(_fresh_ids(prefix, smallest, set()), dtype=object)
        changes = _changes_frame(
            ids,
            np.full(n_clusters, "created", dtype=object),
            [[] for _ in range(n_clusters)],
            size,
            size,
        )
        return ids[cl], _sorted_changes(changes)

    old_ids, old = _previous_ids(previous, mkeys)
    has_old = old >= 0
    new_mentions = np.bincount(cl[~has_old], minlength=n_clusters)
    # (cluster, old entity, shared mentions), one row per pair that shares any.
    n_old = max(old_ids.size, 1)
    pair, shared = np.unique(cl[has_old] * n_old + old[has_old], return_counts=True)
    p_cluster, p_old = pair // n_old, pair % n_old
    # Award each old ID to its biggest holder, ties to the smaller label; old IDs are
    # coded in sorted order, so the smaller code is the lexicographically smaller ID.
    order = np.lexsort((p_cluster, -shared, p_old))
    award = order[_firsts(p_old[order])]
    # A cluster awarded several keeps the one it shares most with, ties to the smallest ID.
    order = award[np.lexsort((p_old[award], -shared[award], p_cluster[award]))]
    kept = order[_firsts(p_cluster[order])]

    ids = np.empty(n_clusters, dtype=object)
    ids[p_cluster[kept]] = old_ids[p_old[kept]]
    need = np.ones(n_clusters, dtype=bool)
    need[p_cluster[kept]] = False
    fresh = _fresh_ids(prefix, smallest[need], set(old_ids.tolist()))
    ids[need] = np.asarray(fresh, dtype=object)

    changes = _classify(p_cluster, p_old, old_ids, ids, size, new_mentions)
    retired_mask = np.ones(old_ids.size, dtype=bool)
    retired_mask[p_old[kept]] = False
    retired = old_ids[retired_mask]
    if retired.size:
        none = np.zeros(retired.size, dtype=np.int64)
        retired_rows = _changes_frame(
            retired,
            np.full(retired.size, "retired", dtype=object),
            [[r] for r in retired.tolist()],
            none,
            none,
        )
        changes = pd.concat([changes, retired_rows], ignore_index=True)
    return ids[cl], _sorted_changes(changes)


def _firsts(sorted_groups: np.ndarray) -> np.ndarray:
    """Positions where a new group starts in an array sorted by group."""
    if sorted_groups.size == 0:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])


def _previous_ids(previous: pd.DataFrame, mkeys: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct previous IDs, and per current mention its old ID's code (-1: new)."""
    missing = [c for c in [*KEY_COLUMNS, "entity_id"] if c not in previous.columns]
    if missing:
        raise ValueError(f"previous entity IDs need column(s) {missing}")
    previous = previous[previous["entity_id"].notna()]
    prev_keys = _mention_keys(previous, "previous")
    _sorted_unique(prev_keys, "previous entity IDs")
    encoded = pc.dictionary_encode(_strings(previous["entity_id"]))
    distinct = encoded.dictionary
    by_name = pc.array_sort_indices(distinct).to_numpy()
    code_of = np.empty(len(distinct), dtype=np.int64)
    code_of[by_name] = np.arange(len(distinct), dtype=np.int64)
    codes = code_of[encoded.indices.to_numpy()]
    position = pc.index_in(mkeys, value_set=prev_keys).fill_null(-1).to_numpy()
    old = np.full(len(mkeys), -1, dtype=np.int64)
    hit = position >= 0
    old[hit] = codes[position[hit]]
    old_ids = distinct.take(pa.array(by_name)).to_numpy(zero_copy_only=False)
    return np.asarray(old_ids, dtype=object), old


def _classify(
    p_cluster: np.ndarray,
    p_old: np.ndarray,
    old_ids: np.ndarray,
    ids: np.ndarray,
    size: np.ndarray,
    new_mentions: np.ndarray,
) -> pd.DataFrame:
    """One changes row per current cluster (see stable_entity_ids for the precedence)."""
    n_clusters = size.size
    n_old = np.bincount(p_cluster, minlength=n_clusters)
    holders = np.bincount(p_old, minlength=old_ids.size)
    spread = np.zeros(n_clusters, dtype=bool)
    spread[p_cluster[holders[p_old] > 1]] = True
    change = np.select(
        [n_old == 0, n_old >= 2, spread, new_mentions > 0],
        ["created", "merged", "split", "extended"],
        default="unchanged",
    ).astype(object)
    from_ids: list[list[str]] = [[] for _ in range(n_clusters)]
    names = old_ids[p_old].tolist()
    for c, name in zip(p_cluster.tolist(), names, strict=True):  # sorted by cluster, old
        from_ids[c].append(name)
    return _changes_frame(ids, change, from_ids, size, new_mentions)


def _changes_frame(
    ids: np.ndarray,
    change: np.ndarray,
    from_ids: list[list[str]],
    mentions: np.ndarray,
    new_mentions: np.ndarray,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity_id": pd.Series(ids, dtype=object),
            "change": pd.Series(change, dtype=object),
            "from_ids": pd.Series(from_ids, dtype=object),
            "mentions": np.asarray(mentions, dtype=np.int64),
            "new_mentions": np.asarray(new_mentions, dtype=np.int64),
        }
    )


def _sorted_changes(changes: pd.DataFrame) -> pd.DataFrame:
    """Rows by entity_id, so two runs over the same input give identical tables."""
    ids = pa.array(changes["entity_id"].to_numpy(dtype=object), pa.large_string())
    order = pc.array_sort_indices(ids).to_numpy()
    return changes.iloc[order].reset_index(drop=True)


def _fresh_ids(prefix: str, smallest: np.ndarray, taken: set[str]) -> list[str]:
    """prefix + sha256 hex of each smallest mention key, 12 characters unless that collides.

    An ID colliding with a taken (previous) ID or with another fresh ID grows one hex
    character at a time until unique; the rule looks at all IDs at once, so the result
    does not depend on cluster order.
    """
    digests = [hashlib.sha256(k.encode("utf-8")).hexdigest() for k in smallest]
    length = [_ID_HEX] * len(digests)
    ids = [prefix + d[:_ID_HEX] for d in digests]
    pending = range(len(ids))
    while True:
        counts: dict[str, int] = {}
        for i in ids:
            counts[i] = counts.get(i, 0) + 1
        clash = [i for i in pending if counts[ids[i]] > 1 or ids[i] in taken]
        if not clash:
            return ids
        for i in clash:
            if length[i] >= len(digests[i]):
                raise ValueError(f"cannot make a unique entity ID for {smallest[i]!r}")
            length[i] += 1
            ids[i] = prefix + digests[i][: length[i]]
        pending = clash
