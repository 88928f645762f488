"""Masked resident IDs in every pattern agencies print, compared position by position.

A court prints 6+4 (110101********123X); other agencies print 4+4, 3+4, 1+1 or the birth
date alone, with * or other mask characters. Each is parsed into the characters it shows
(loaders/identifiers.py) and compared with the other mention wherever both show one
(linkage/models.py, `veil_id_agree` on the real DuckDB connection). Levels are checked
against `exact_u.masked_level`, which counts their u by the same thresholds.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from linkage import exact_u, models
from loaders.identifiers import parse_resident_id

SECRET = b"test-secret"
ID = "110101199001011234"  # a valid check character is not needed: only masks are parsed
BORN = date(1990, 1, 1)
FULL = {"token": "t1", "visible": "110101********1234", "birth": BORN, "masked": False}


def _mask(raw: str) -> dict:
    parsed = parse_resident_id(raw, SECRET)
    assert parsed.status == "masked", raw
    return {"token": None, "visible": parsed.display, "birth": parsed.birth_date, "masked": True}


def _levels(pairs: list[tuple[dict, dict]]) -> list[str]:
    """The resident_id level label of each pair, by the model's own SQL."""
    comparison = next(
        c for c in models.person_comparisons(set()) if c["output_column_name"] == "resident_id"
    )
    rows = []
    for left, right in pairs:
        row = {}
        for side, value in (("l", left), ("r", right)):
            row |= {
                f"id_token_{side}": value["token"],
                f"id_visible_{side}": value["visible"],
                f"birth_date_{side}": value["birth"],
                f"id_masked_{side}": value["masked"],
                f"sex_{side}": "M" if value["token"] else None,
            }
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["pair"] = range(len(frame))
    cases = " ".join(
        f"WHEN {level['sql_condition']} THEN '{level['label_for_charts']}'"
        for level in comparison["comparison_levels"]
        if level["sql_condition"] != "ELSE"
    )
    con = models.connect()
    try:
        con.register("frame", frame)
        got = con.execute(
            f"SELECT CASE {cases} ELSE 'conflict' END FROM frame ORDER BY pair"
        ).fetchall()
    finally:
        con.close()
    return [g[0] for g in got]


LEVELS = models.MASKED_LEVELS

CASES = [
    # (mask as printed, level against the full ID 110101199001011234)
    ("110101********1234", LEVELS[0]),  # 6+4, as the courts print
    ("110101××××××××1234", LEVELS[0]),
    ("11010119900101***4", LEVELS[0]),  # region and birth date and check
    ("1101**********1234", LEVELS[1]),  # 4+4
    ("110***********1234", LEVELS[1]),  # 3+4
    ("******19900101****", LEVELS[2]),  # birth date alone
    ("●●●●●●19900101●●●●", LEVELS[2]),
    ("1****************4", LEVELS[3]),  # 1+1
    ("1101**********1235", "conflict"),  # last character differs
    ("******19900102****", "conflict"),  # another birth date
    ("3101**********1234", "conflict"),  # another province
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_each_pattern_against_a_full_id(raw: str, expected: str) -> None:
    assert _levels([(FULL, _mask(raw))]) == [expected]
    assert _levels([(_mask(raw), FULL)]) == [expected]  # symmetric


@pytest.mark.parametrize(("raw", "expected"), [c for c in CASES if c[1] != "conflict"])
def test_counted_level_is_the_sql_level(raw: str, expected: str) -> None:
    """exact_u counts a pattern's u under the level the SQL puts it in."""
    mask = _mask(raw)
    shown = exact_u._shown_outside_birth(mask["visible"]).count("1")
    assert LEVELS[exact_u.masked_level(shown, mask["birth"] is not None)] == expected


def test_masks_showing_nothing_in_common_are_not_evidence() -> None:
    court = _mask("110101********1234")
    birth_only = _mask("******19900101****")
    assert _levels([(court, birth_only)]) == ["null"]
    # Two masks showing the same characters agree like a mask and a full ID.
    assert _levels([(court, _mask("110101********1234"))]) == [LEVELS[0]]
    assert _levels([(birth_only, _mask("******19900101****"))]) == [LEVELS[2]]


def test_full_ids_are_compared_as_before() -> None:
    other = {"token": "t2", "visible": "110101********1234", "birth": BORN, "masked": False}
    elsewhere = {"token": "t3", "visible": "310101********5678", "birth": BORN, "masked": False}
    none = {"token": None, "visible": None, "birth": None, "masked": False}
    assert _levels([(FULL, FULL), (FULL, other), (FULL, elsewhere), (FULL, none)]) == [
        "same ID",
        "birth date and sex agree",
        "birth date and sex agree",
        "null",
    ]


def test_counted_u_per_pattern() -> None:
    """A 4+4 agreement is counted from how often different full IDs share the first four
    and last four characters, not from 6+4; the birth-date level from shared birth dates."""
    full = [
        ("110101********1234", date(1990, 1, 1)),
        ("110102********1234", date(1990, 1, 1)),  # same first four and last four
        ("110101********9999", date(1985, 5, 5)),
        ("310101********1234", date(1985, 5, 5)),
    ]
    rows = [
        {"id_token": f"t{i}", "id_visible": v, "birth_date": b, "id_masked": False}
        for i, (v, b) in enumerate(full)
    ]
    rows += [
        {
            "id_token": None,
            "id_visible": "1101**********1234",
            "birth_date": None,
            "id_masked": True,
        },
        {
            "id_token": None,
            "id_visible": "******19900101****",
            "birth_date": date(1990, 1, 1),
            "id_masked": True,
        },
    ]
    frame = pd.DataFrame(rows)
    comparable = 6 * 5 / 2
    partners = 4 + (2 - 1) / 2
    counts = exact_u.counted_u(
        frame, "person", [("resident_id", label) for label in LEVELS] + [("resident_id", "same ID")]
    )
    # 4+4: 1 agreeing pair among 6 full pairs; birth date: 2 agreeing pairs among 6.
    assert counts[("resident_id", LEVELS[1])] == pytest.approx((partners * 1 / 6, comparable))
    assert counts[("resident_id", LEVELS[2])] == pytest.approx((partners * 2 / 6, comparable))
    assert counts[("resident_id", LEVELS[0])] == (0.0, comparable)
    assert counts[("resident_id", "same ID")] == (0.0, comparable)


def test_a_mask_no_full_id_bearer_of_the_name_can_have_is_another_bearer() -> None:
    """namesakes_by_mask: the term frequencies count a masked 王芳 that conflicts with every
    full-ID 王芳 as one more person of that name; a mask that fits one of them, or a name
    without a full-ID bearer, is not counted."""
    full = "110101********1234"
    frame = pd.DataFrame(
        {
            "name_simplified": ["王芳", "王芳", "王芳", "王芳", "王芳", "李娜"],
            "id_token": ["t1", None, None, None, None, None],
            "id_masked": [False, True, True, True, True, True],
            "id_visible": [
                full,
                "3****************7",  # 1+1 that no bearer shows: another 王芳
                "1****************4",  # 1+1 that fits the bearer: perhaps the bearer
                "******19910101****",  # another birth date: another 王芳
                "******19900101****",  # the bearer's birth date
                "3****************7",  # a name no full ID bears
            ],
            "birth_date": [
                date(1990, 1, 1),
                None,
                None,
                date(1991, 1, 1),
                date(1990, 1, 1),
                None,
            ],
        }
    )
    assert models.namesakes_by_mask(frame).tolist() == [False, True, False, True, False, False]
