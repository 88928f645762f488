"""Characters that look alike (形近字): 明/朋, 江/红, 春/泰.

A clerk copying a name by eye, or an OCR pass, swaps a character for one that looks like
it, not one that sounds like it. Two characters look alike here when the decomposition
of each (cjk-semantic-split's table of the 7,594 characters of the general standard list:
components with their positions, left/right, top/bottom, enclosures) has the same
layout, differs in exactly one component, and shares a component that few characters
have in that place: 明 (日 left, 月 right) and 朋 (月, 月); 江 and 红 (工 on the right).
Sharing only a common radical is not looking alike (芳 and 菊 share 艹, 婷 and 娟 share
女): a component shared in that place by more than SPECIFIC characters does not count.
A character without a decomposition (己, 已, 未, 末: single components) looks like
nothing by this rule, so those swaps stay with "one character apart".
"""

from __future__ import annotations

from collections import Counter
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias

import pyarrow as pa

if TYPE_CHECKING:
    ArrowArray: TypeAlias = pa.Array[Any]
else:
    # DuckDB reads an arrow function's type hints at runtime (create_function), where
    # pa.Array is not subscriptable: the annotation of such a function names this alias.
    ArrowArray = pa.Array

#: A shared component counts for looking alike when at most this many characters of the
#: table have it in that place (艹 on top: 408; 工 on the right: 27; 青 on the right: 17).
SPECIFIC = 40


@cache
def _loader() -> Any:  # chinese_decompose is untyped (no stub, no py.typed)
    from chinese_decompose import make_loader

    return make_loader()


@lru_cache(maxsize=1 << 16)
def _layout(ch: str) -> tuple[tuple[str, int], ...] | None:
    """The components of a character with their positions, None if it has none."""
    parts = _loader().get(ch)
    return tuple(parts) if parts and len(parts) >= 2 else None


@cache
def _placed() -> Counter[tuple[str, int]]:
    """How many characters have each component in each place."""
    counts: Counter[tuple[str, int]] = Counter()
    for code in range(0x4E00, 0xA000):
        parts = _loader().get(chr(code))
        if parts:
            counts.update(set(parts))
    return counts


@lru_cache(maxsize=1 << 16)
def look_alike(a: str, b: str) -> bool:
    """Two different characters with one layout that differ in exactly one component and
    share one that at most SPECIFIC characters have in that place."""
    if a == b:
        return False
    la, lb = _layout(a), _layout(b)
    if la is None or lb is None or len(la) != len(lb):
        return False
    if any(pa_ != pb for (_, pa_), (_, pb) in zip(la, lb, strict=True)):
        return False
    shared = [x for x, y in zip(la, lb, strict=True) if x == y]
    if len(shared) != len(la) - 1:
        return False
    return min(_placed()[x] for x in shared) <= SPECIFIC


@lru_cache(maxsize=1 << 20)
def one_look_alike_apart(a: str, b: str) -> bool:
    """Two texts of one length that differ in exactly one place, by look-alike characters."""
    if len(a) != len(b) or a == b:
        return False
    differ = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
    return len(differ) == 1 and look_alike(*differ[0])


def look_alike_apart(left: ArrowArray, right: ArrowArray) -> ArrowArray:
    """DuckDB function (arrow): one_look_alike_apart per pair, null where either is null."""
    return pa.array(
        [
            None if x is None or y is None else one_look_alike_apart(x, y)
            for x, y in zip(left.to_pylist(), right.to_pylist(), strict=True)
        ],
        type=pa.bool_(),
    )
