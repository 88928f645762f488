"""Standardisation of names for linkage: the public API, scalar and batch.

Scalar functions (pure, one name) live in linkage.names (persons, and `simplify`) and
linkage.company_names (companies); they are re-exported here. The batch functions add
standardised columns to the run directory's person_mentions and company_mentions tables.
Names repeat a lot (thousands of 王伟, a company in every extract), so each distinct name
is standardised once: the column is dictionary-encoded, the dictionary standardised, and
the results taken back to the rows with Arrow. Identifier-derived facts (birth date, sex,
region, visible ID parts) are already columns of person_mentions, written by the loader;
they pass through untouched.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.company_names import (
    CompanyName,
    company_from_simplified,
    standardise_company_name,
    standardise_former_names,
)
from linkage.names import (
    PersonName,
    person_from_simplified,
    simplify,
    simplify_many,
    simplify_name,
    standardise_person_name,
)

__all__ = [
    "COMPANY_COLUMNS",
    "PERSON_COLUMNS",
    "CompanyName",
    "PersonName",
    "simplify",
    "standardise_company_mentions",
    "standardise_company_name",
    "standardise_former_names",
    "standardise_person_mentions",
    "standardise_person_name",
]

#: Columns standardise_person_mentions adds: name -> (PersonName field, Arrow type).
PERSON_COLUMNS: dict[str, tuple[str, pa.DataType]] = {
    "name_simplified": ("simplified", pa.string()),
    "name_pinyin": ("pinyin", pa.string()),
    "name_pinyin_key": ("pinyin_key", pa.string()),
    "surname": ("surname", pa.string()),
    "given": ("given", pa.string()),
    "surname_pinyin": ("surname_pinyin", pa.string()),
    "initials": ("initials", pa.string()),
    "is_romanised": ("is_romanised", pa.bool_()),
}

#: Columns standardise_company_mentions adds (besides former_canonical, a list<string>).
COMPANY_COLUMNS: dict[str, tuple[str, pa.DataType]] = {
    "name_simplified": ("simplified", pa.string()),
    "name_canonical": ("canonical", pa.string()),
    "name_region": ("region", pa.string()),
    "name_core": ("core", pa.string()),
    "name_industry": ("industry", pa.string()),
    "name_legal_form": ("legal_form", pa.string()),
    "name_core_pinyin": ("core_pinyin", pa.string()),
    "name_is_branch": ("is_branch", pa.bool_()),
    "name_parent_canonical": ("parent_canonical", pa.string()),
    "name_is_romanised": ("is_romanised", pa.bool_()),
    "name_industry_latin": ("industry_latin_key", pa.string()),
}


def _array(column: pa.ChunkedArray[Any] | pa.Array[Any]) -> pa.Array[Any]:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    # pyarrow-stubs type ChunkedArray.chunk() as a ChunkedArray; it returns an Array.
    return column  # type: ignore[return-value]


def _distinct(column: pa.ChunkedArray[Any] | pa.Array[Any]) -> tuple[list[str], pa.Array[Any]]:
    """The distinct non-null strings of a column, and each row's index into them (null for
    a null row)."""
    array = _array(column)
    if not pa.types.is_dictionary(array.type):
        if not pa.types.is_string(array.type):
            array = array.cast(pa.string())
        array = pc.dictionary_encode(array)
    # A DictionaryArray either way; pyarrow-stubs type pc.dictionary_encode as a plain Array.
    return array.dictionary.to_pylist(), array.indices  # type: ignore[attr-defined]


def _require(table: pa.Table, column: str, what: str) -> None:
    if column not in table.column_names:
        raise ValueError(f"{what} needs a {column!r} column; it has {table.column_names}")


def _with_columns(table: pa.Table, columns: dict[str, pa.Array[Any]]) -> pa.Table:
    """The table with these columns appended, or replaced where they exist (a re-run)."""
    for name, values in columns.items():
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, values) if i >= 0 else table.append_column(name, values)
    return table


def _columns(
    results: list[PersonName] | list[CompanyName],
    spec: dict[str, tuple[str, pa.DataType]],
    indices: pa.Array[Any],
) -> dict[str, pa.Array[Any]]:
    return {
        name: pa.array([getattr(r, attr) for r in results], type=type_).take(indices)
        for name, (attr, type_) in spec.items()
    }


def standardise_person_mentions(table: pa.Table) -> pa.Table:
    """person_mentions with PERSON_COLUMNS added (null where `name` is null), rows unchanged."""
    _require(table, "name", "standardise_person_mentions")
    distinct, indices = _distinct(table.column("name"))
    results = [person_from_simplified(simplify_name(s)) for s in distinct]
    return _with_columns(table, _columns(results, PERSON_COLUMNS, indices))


def standardise_company_mentions(table: pa.Table) -> pa.Table:
    """company_mentions with COMPANY_COLUMNS and former_canonical added, rows unchanged.

    former_canonical lists the distinct canonical forms of the row's former names in their
    order (null where former_names is null; absent column: all null).
    """
    _require(table, "name", "standardise_company_mentions")
    distinct, indices = _distinct(table.column("name"))
    has_former = "former_names" in table.column_names
    # former_names is a list of strings (loaders/rows.py); Table.column is ChunkedArray[Any].
    former = cast("pa.ListArray[Any]", _array(table.column("former_names"))) if has_former else None
    former_distinct: list[str] = []
    former_indices: pa.Array[Any] = pa.array([], pa.int32())
    if former is not None:
        former_distinct, former_indices = _distinct(former.flatten())
    texts = list(dict.fromkeys(distinct + former_distinct))
    parsed = dict(zip(texts, map(company_from_simplified, simplify_many(texts)), strict=True))
    columns = _columns([parsed[n] for n in distinct], COMPANY_COLUMNS, indices)
    if former is None:
        columns["former_canonical"] = pa.nulls(table.num_rows, pa.list_(pa.string()))
    else:
        canon = [parsed[n].canonical for n in former_distinct]
        columns["former_canonical"] = _former_canonical(former, canon, former_indices)
    return _with_columns(table, columns)


def _former_canonical(
    former: pa.Array[Any], canon: list[str], indices: pa.Array[Any]
) -> pa.Array[Any]:
    """Per row, the distinct non-empty canonical forms of its former names, order kept."""
    counts = np.zeros(len(former), dtype=np.int32)
    values: list[str] = []
    row_seen: tuple[int | None, set[str]] = (-1, set())
    parents = pc.list_parent_indices(former).to_pylist()
    for row, i in zip(parents, indices.to_pylist(), strict=True):
        if row != row_seen[0]:
            row_seen = (row, set())
        if i is None or not canon[i] or canon[i] in row_seen[1]:
            continue
        row_seen[1].add(canon[i])
        values.append(canon[i])
        counts[row] += 1
    offsets = np.zeros(len(former) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()),
        pa.array(values, pa.string()),
        type=pa.list_(pa.string()),
        mask=former.is_null(),
    )
