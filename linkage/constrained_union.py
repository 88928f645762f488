"""The union-find behind `linkage.clusters.cluster`, for the components a constraint contests.

Nodes are numbered 0..m-1 within the contested components. Must-links are applied first,
then scored edges in the order given (strongest first); a merge is refused when it would put
a cannot-link pair, two different exclusive keys or two disagreeing partial keys inside one
cluster. Path halving, union by size, per-root cannot-link partner sets merged small into
big; a cluster's partial keys are held as two Python ints, which characters it shows and
what they are, so a check is one xor and two ands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np

__all__ = ["ConstrainedUnion", "PartialKeys"]

#: Key code of a root whose cluster holds several keys (a must-link joined two).
_MULTI = -2


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
    # ndarray.tolist() is typed Any; int64 or object (Python int) values give list[int].
    return cast(list[int], np.where(pattern >= 0, packed[np.maximum(pattern, 0)], 0).tolist())


@dataclass
class PartialKeys:
    """Partial keys of the union-find: per node (per root once merged) its packed `shown`
    and `value` (see _packed), and for a root whose cluster a must-link gave disagreeing
    keys, in `spread`, the set of characters shown per position (bit c: character code c)."""

    shown: list[int]
    value: list[int]
    length: int
    width: int
    spread: dict[int, list[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, table: np.ndarray, pattern: np.ndarray) -> PartialKeys:
        """The keys of nodes with these pattern codes (-1: none), `table` giving per code
        the character codes at the positions where keys can disagree (0: hidden)."""
        shown, value = _packed(table)
        return cls(
            _node_values(shown, pattern),
            _node_values(value, pattern),
            table.shape[1],
            _width(table),
        )

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
            seta, setb = self.sets(ra), self.sets(rb)
            ok = not any(a & ~b and b & ~a for a, b in zip(seta, setb, strict=True))
            return ok, [a | b for a, b in zip(seta, setb, strict=True)]
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


class ConstrainedUnion:
    """Union-find over m nodes that refuses merges a constraint forbids.

    keys: per node, -1 (none) or an exclusive key code; a root whose cluster a must-link
    gave several keys holds _MULTI and its set lives in `multi`. Call `must_links`, then
    `edges`, then `roots`.
    """

    def __init__(
        self,
        m: int,
        cannot_a: list[int],
        cannot_b: list[int],
        keys: list[int],
        partial: PartialKeys,
    ) -> None:
        self.parent = list(range(m))
        self.size = [1] * m
        self.keys = keys
        self.partial = partial
        self.multi: dict[int, frozenset[int]] = {}
        self.partners: dict[int, set[int]] = {}
        for a, b in zip(cannot_a, cannot_b, strict=True):
            self.partners.setdefault(a, set()).add(b)
            self.partners.setdefault(b, set()).add(a)

    def find(self, x: int) -> int:
        parent = self.parent
        while True:
            p = parent[x]
            if p == x:
                return x
            g = parent[p]
            parent[x] = g
            x = g

    def blocked(self, ra: int, rb: int) -> bool:
        """A cannot-link pair between the clusters rooted at ra and rb?"""
        sa = self.partners.get(ra)
        if not sa:
            return False
        sb = self.partners.get(rb)
        if not sb:
            return False
        if len(sb) < len(sa):
            sa, rb = sb, ra
        return any(self.find(p) == rb for p in sa)

    def _key_set(self, root: int) -> frozenset[int]:
        key = self.keys[root]
        return self.multi[root] if key == _MULTI else frozenset((key,))

    def merged_key(self, ra: int, rb: int) -> tuple[int, frozenset[int] | None, bool]:
        """Key of the merged cluster, its key set if several, and whether it is allowed:
        where either side holds several keys (a must-link joined them), only if the merge
        adds no new key to either side's set."""
        ka, kb = self.keys[ra], self.keys[rb]
        if ka == -1 or (ka == kb and ka != _MULTI):
            return kb, self.multi.get(rb), True
        if kb == -1:
            return ka, self.multi.get(ra), True
        sa, sb = self._key_set(ra), self._key_set(rb)
        return _MULTI, sa | sb, sa <= sb or sb <= sa

    def _union(
        self, ra: int, rb: int, key: int, key_set: frozenset[int] | None, sets: list[int] | None
    ) -> None:
        size, multi = self.size, self.multi
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        size[ra] += size[rb]
        self.keys[ra] = key
        self.partial.join(ra, rb, sets)
        if multi:
            multi.pop(rb, None)
        if key_set is not None:
            multi[ra] = key_set
        self._join_partners(ra, rb)

    def _join_partners(self, into: int, gone: int) -> None:
        """Move the cannot-link partners of root `gone` to `into`, the smaller set into the
        bigger."""
        partners = self.partners
        sb = partners.pop(gone, None)
        if sb:
            sa = partners.get(into)
            if sa is None:
                partners[into] = sb
            elif len(sa) < len(sb):
                sb |= sa
                partners[into] = sb
            else:
                sa |= sb

    def must_links(self, must_a: list[int], must_b: list[int]) -> list[tuple[int, int, str]]:
        """Apply must-links, skipped only across a cannot-link; (a, b, reason) per must-link
        that met a constraint (see Clustering.conflicts)."""
        conflicts: list[tuple[int, int, str]] = []
        for a, b in zip(must_a, must_b, strict=True):
            ra, rb = self.find(a), self.find(b)
            if ra == rb:
                continue
            if self.blocked(ra, rb):
                conflicts.append((a, b, "cannot_link"))
                continue
            key, key_set, ok = self.merged_key(ra, rb)
            agree, sets = self.partial.merge(ra, rb)
            if not ok:
                conflicts.append((a, b, "exclusive_key"))
            elif not agree:
                conflicts.append((a, b, "partial_key"))
            self._union(ra, rb, key, key_set, sets)
        return conflicts

    def edges(self, edge_a: list[int], edge_b: list[int]) -> dict[str, int]:
        """Merge along the edges in the order given unless a constraint forbids it; the
        refused count per reason.

        This is the one per-edge Python loop of linkage, so find, union and the common
        partial-key check are written inline, over local names.
        """
        parent, size, keys = self.parent, self.size, self.keys
        multi, partners, partial = self.multi, self.partners, self.partial
        blocked, merged_key, join_partners = self.blocked, self.merged_key, self._join_partners
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
            if partners and b in partners:
                join_partners(a, b)
        return {
            "cannot_link": refused_cannot,
            "exclusive_key": refused_key,
            "partial_key": refused_partial,
        }

    def roots(self) -> np.ndarray:
        """The root per node."""
        roots = np.asarray(self.parent, dtype=np.int64)
        while True:  # pointer jumping until every node points at its root
            hop = roots[roots]
            if np.array_equal(hop, roots):
                break
            roots = hop
        return roots
