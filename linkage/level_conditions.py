"""The comparison levels of linkage/models.py as Python predicates over two feature rows.

The real-time scorer (linkage/scorer.py) cannot afford DuckDB per pair, so each level's
SQL condition is written again here, with SQL's three-valued logic: a predicate says
whether the condition is TRUE (a level is taken only then; NULL and FALSE both pass on).
Where the SQL calls a veil function, the predicate calls the Python function that function
wraps (rapidfuzz's Levenshtein distance, shapes.one_look_alike_apart, the ID agreement of
models._id_agree), so the two cannot drift apart. `conditions` checks the SQL the predicates
were written for against what models.py defines today: a model whose SQL this module does
not know is refused rather than scored differently.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from rapidfuzz.distance import Levenshtein

from linkage import models
from linkage.shapes import one_look_alike_apart

Row = Mapping[str, Any]
#: Whether a level's SQL condition is TRUE for the pair (left row, right row).
Predicate = Callable[[Row, Row], bool]


def is_null(value: Any) -> bool:
    """SQL NULL as a feature row may carry it: None, NaN or pandas' NA."""
    if value is None:
        return True
    kind = type(value)
    if kind is str:  # most values, asked first: the scorer asks some 20 times a pair
        return False
    if isinstance(value, float):
        return math.isnan(value)
    return kind.__name__ == "NAType"


def _eq(left: Row, right: Row, column: str) -> bool:
    """`column_l = column_r` is TRUE."""
    a, b = left.get(column), right.get(column)
    return not is_null(a) and not is_null(b) and bool(a == b)


def _is_false(value: Any) -> bool:
    """`NOT value` is TRUE: the value is known and false."""
    return not is_null(value) and not bool(value)


def _either_null(column: str) -> Predicate:
    return lambda left, right: is_null(left.get(column)) or is_null(right.get(column))


def _equal(column: str) -> Predicate:
    return lambda left, right: _eq(left, right, column)


def _items(value: Any) -> set[Any] | None:
    """A list feature as a set of its non-null items, None where the list is NULL."""
    if value is None or (not isinstance(value, (list, tuple)) and is_null(value)):
        return None
    return {v for v in value if not is_null(v)}


def _has_any(a: Any, b: Any) -> bool:
    """`list_has_any(a, b)` is TRUE."""
    left, right = _items(a), _items(b)
    return left is not None and right is not None and not left.isdisjoint(right)


def _list_contains(values: Any, value: Any) -> bool:
    """`list_contains(values, value)` is TRUE."""
    items = _items(values)
    return items is not None and not is_null(value) and value in items


def _coalesce_eq(left: Row, right: Row, column: str) -> bool:
    """`coalesce(column_l, '') = coalesce(column_r, '')`."""
    a, b = left.get(column), right.get(column)
    return ("" if is_null(a) else a) == ("" if is_null(b) else b)


def _distance(a: Any, b: Any) -> int | None:
    """veil_char_distance: Levenshtein distance in characters, None where either is null."""
    if is_null(a) or is_null(b):
        return None
    return int(Levenshtein.distance(a, b))


# -- persons ---------------------------------------------------------------------------


def _same_script_surname(left: Row, right: Row) -> bool:
    """`surname_l = surname_r AND NOT is_romanised_l AND NOT is_romanised_r`."""
    return (
        _eq(left, right, "surname")
        and _is_false(left.get("is_romanised"))
        and _is_false(right.get("is_romanised"))
    )


def _look_alike(left: Row, right: Row) -> bool:
    a, b = left.get("given"), right.get("given")
    return (
        _same_script_surname(left, right)
        and not is_null(a)
        and not is_null(b)
        and one_look_alike_apart(a, b)
    )


def _one_apart(left: Row, right: Row) -> bool:
    if not _same_script_surname(left, right):
        return False
    distance = _distance(left.get("given"), right.get("given"))
    return distance is not None and distance <= 1


_OUTSIDE_BIRTH = tuple(int(i) for i in models.OUTSIDE_BIRTH)


def _shown(value: Any) -> str | None:
    """What models._visible_matrix reads of an ID: its 18 positions, or None for a null or
    odd value (all hidden)."""
    if is_null(value) or len(value) != 18 or not value.isascii():
        return None
    return str(value)


def id_agree(left: Row, right: Row) -> int | None:
    """veil_id_agree(id_visible_l, id_visible_r, birth_date_l, birth_date_r), as
    models._id_agree computes it for one pair."""
    vl, vr = left.get("id_visible"), right.get("id_visible")
    if is_null(vl) or is_null(vr):
        return None
    bl, br = left.get("birth_date"), right.get("birth_date")
    if not is_null(bl) and not is_null(br) and str(bl) != str(br):
        return -1
    a, b = _shown(vl), _shown(vr)
    if a is None or b is None:
        return 0
    both = 0
    for i in _OUTSIDE_BIRTH:
        x, y = a[i], b[i]
        if x != "*" and y != "*":
            if x != y:
                return -1
            both += 1
    return both


def _masked(left: Row, right: Row) -> bool:
    """`(id_masked_l OR id_masked_r)` is TRUE."""
    return any(not is_null(v) and bool(v) for v in (left.get("id_masked"), right.get("id_masked")))


def _id_null(left: Row, right: Row) -> bool:
    def nothing(row: Row) -> bool:
        return is_null(row.get("id_token")) and is_null(row.get("id_visible"))

    if nothing(left) or nothing(right):
        return True
    return (
        _masked(left, right) and id_agree(left, right) == 0 and not _eq(left, right, "birth_date")
    )


def _masked_level(test: Callable[[int, bool], bool]) -> Predicate:
    """A masked-ID level: `masked AND test(agree, birth dates equal)`, agree not NULL."""

    def predicate(left: Row, right: Row) -> bool:
        if not _masked(left, right):
            return False
        agree = id_agree(left, right)
        return agree is not None and test(agree, _eq(left, right, "birth_date"))

    return predicate


def _birth_and_sex(left: Row, right: Row) -> bool:
    return (
        not is_null(left.get("id_token"))
        and not is_null(right.get("id_token"))
        and _eq(left, right, "birth_date")
        and _eq(left, right, "sex")
    )


def _context_null(left: Row, right: Row) -> bool:
    """`len(context_l) = 0 OR len(context_r) = 0` (a NULL list has no length)."""
    return any(
        (items := _items(row.get("context"))) is not None and len(items) == 0
        for row in (left, right)
    )


def _context_shared(left: Row, right: Row) -> bool:
    return _has_any(left.get("context"), right.get("context"))


_PERSON: dict[tuple[str, str], Predicate] = {
    ("name", "null"): _either_null("name_simplified"),
    ("name", "exact"): _equal("name_simplified"),
    ("name", "same sound"): _equal("name_pinyin_key"),
    ("name", "one look-alike character apart"): _look_alike,
    ("name", "one character apart"): _one_apart,
    ("resident_id", "null"): _id_null,
    ("resident_id", "same ID"): _equal("id_token"),
    ("resident_id", models.MASKED_LEVELS[0]): _masked_level(
        lambda agree, born: agree >= 9 or (agree >= 4 and born)
    ),
    ("resident_id", models.MASKED_LEVELS[1]): _masked_level(lambda agree, _: agree >= 7),
    ("resident_id", models.MASKED_LEVELS[2]): _masked_level(
        lambda agree, born: agree >= 0 and born
    ),
    ("resident_id", models.MASKED_LEVELS[3]): _masked_level(lambda agree, _: agree >= 1),
    ("resident_id", "birth date and sex agree"): _birth_and_sex,
    ("company_context", "null"): _context_null,
    ("company_context", "same company"): _context_shared,
}

# -- companies -------------------------------------------------------------------------


def _registered(left: Row, right: Row) -> bool:
    fl, fr = left.get("former_canonical"), right.get("former_canonical")
    return (
        _eq(left, right, "name_canonical")
        or _list_contains(fl, right.get("name_canonical"))
        or _list_contains(fr, left.get("name_canonical"))
        or _has_any(fl, fr)
    )


def _region_allows(left: Row, right: Row) -> bool:
    """`(name_region_l = name_region_r OR name_region_l IS NULL OR name_region_r IS NULL)`."""
    a, b = left.get("name_region"), right.get("name_region")
    return is_null(a) or is_null(b) or bool(a == b)


def _brand(core: str) -> Predicate:
    """Same brand (words or sound), industry, legal form, and region where both have one."""
    return lambda left, right: (
        _eq(left, right, core)
        and _coalesce_eq(left, right, "name_industry")
        and _coalesce_eq(left, right, "name_legal_form")
        and _region_allows(left, right)
    )


def _contains(haystack: Any, industry: Any) -> bool:
    """`contains(haystack, '|' || coalesce(industry, '') || '|')` is TRUE."""
    if is_null(haystack):
        return False
    return f"|{'' if is_null(industry) else industry}|" in haystack


def _romanised(left: Row, right: Row) -> bool:
    rl, rr = left.get("name_is_romanised"), right.get("name_is_romanised")
    if is_null(rl) or is_null(rr) or bool(rl) == bool(rr):
        return False
    if not (
        _eq(left, right, "name_core_pinyin")
        and _coalesce_eq(left, right, "name_legal_form")
        and _region_allows(left, right)
    ):
        return False
    if bool(rl):
        return _contains(right.get("name_industry_latin"), left.get("name_industry"))
    return _contains(left.get("name_industry_latin"), right.get("name_industry"))


def _brand_one_apart(left: Row, right: Row) -> bool:
    if not (_coalesce_eq(left, right, "name_region") and _eq(left, right, "name_is_branch")):
        return False
    distance = _distance(left.get("name_core"), right.get("name_core"))
    return distance is not None and distance <= 1


_IDENTIFIERS = ("uscc", "org_code", "reg_no")

_COMPANY: dict[tuple[str, str], Predicate] = {
    ("name", "null"): _either_null("name_canonical"),
    ("name", models.REGISTERED_NAME): _registered,
    ("name", "same brand"): _brand("name_core"),
    ("name", "same brand sound"): _brand("name_core_pinyin"),
    ("name", models.ROMANISED_BRAND): _romanised,
    ("name", "brand one character apart"): _brand_one_apart,
    ("identifiers", "null"): lambda left, right: (
        not any(not is_null(left.get(c)) and not is_null(right.get(c)) for c in _IDENTIFIERS)
    ),
    ("identifiers", "same identifier"): lambda left, right: any(
        _eq(left, right, c) for c in _IDENTIFIERS
    ),
}

#: Comparisons built by models._exact: (null level, equal level) on one column.
_EXACT = {models.PERSON: ("phone", "address"), models.COMPANY: ("region_code", "address")}


def conditions(entity_type: str) -> dict[str, Predicate]:
    """Per SQL condition of a level that models.py defines for `entity_type` (every optional
    comparison included), its predicate. ELSE levels are not here: they always hold."""
    if entity_type == models.PERSON:
        known, definitions = _PERSON, models.person_comparisons({"phone", "address"})
    else:
        known, definitions = _COMPANY, models.company_comparisons({"address"})
    out: dict[str, Predicate] = {}
    for comparison in definitions:
        name = comparison["output_column_name"]
        for level in comparison["comparison_levels"]:
            sql, label = level["sql_condition"], level["label_for_charts"]
            if sql == "ELSE":
                continue
            if name in _EXACT[entity_type]:
                out[sql] = _either_null(name) if level.get("is_null_level") else _equal(name)
            else:
                out[sql] = known[(name, label)]
    return out
