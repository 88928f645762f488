"""Look-alike characters (形近字): the rule is data-driven, so its edges are pinned here."""

from __future__ import annotations

import pyarrow as pa
import pytest

from linkage.shapes import look_alike, look_alike_apart, one_look_alike_apart


@pytest.mark.parametrize("pair", ["明朋", "江红", "春泰", "海梅", "波坡", "静睁"])
def test_characters_that_share_a_specific_part_look_alike(pair: str) -> None:
    assert look_alike(pair[0], pair[1]) and look_alike(pair[1], pair[0])


@pytest.mark.parametrize(
    "pair",
    [
        "芳菊",  # share only 艹, which hundreds of characters have on top
        "婷娟",  # share only 女
        "伟伯",  # share only 亻
        "伟强",  # nothing in common
        "己已",  # single shapes: no decomposition to compare
        "明明",
    ],
)
def test_a_common_radical_or_nothing_is_not_looking_alike(pair: str) -> None:
    assert not look_alike(pair[0], pair[1])


def test_names_one_look_alike_apart() -> None:
    assert one_look_alike_apart("小明", "小朋")
    assert not one_look_alike_apart("明江", "朋红")  # two places differ
    assert not one_look_alike_apart("小明", "小明")
    assert not one_look_alike_apart("明", "小朋")
    out = look_alike_apart(pa.array(["小明", None, "伟"]), pa.array(["小朋", "小朋", "强"]))
    assert out.to_pylist() == [True, None, False]
