"""The CSVs of a bulk import (graph/bulk_load.py): one per step of
`load.load_steps(resolved, create=True)`, for `neo4j-admin database import`.

The same rows as the Bolt load, folded the same way, with the values the driver would send
(`load.plain_values`) and typed headers derived from them (str -> string, int -> long,
float -> double, bool -> boolean, date -> date, lists -> string[] ...), so each property
gets the Neo4j type Bolt gives it. A null is an empty field, which neo4j-admin stores as no
property, as `SET n += props` does with a None; strings are always quoted, so an empty
string stays one. Relationships whose ends are not among the nodes are left out, as the
Bolt path's MATCH leaves them out. What CSV cannot hold (an empty list, or a list of one
empty string, reads back as no property) is planned to be set over Bolt after the import.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from config.errors import InputError
from graph.load import Columns, Shape, Step, plain_values
from graph.server.admin_import import CsvFile, ImportFiles

# Characters that separate list elements in a field; the first that no list element
# contains is used (a string element cannot escape it).
ARRAY_DELIMITERS = "".join(chr(c) for c in (0x1F, 0x1E, 0x1D, 0x1C, *range(0x01, 0x09)))


@dataclass
class ImportPlan(ImportFiles):
    """The CSVs for neo4j-admin, and what they cannot hold, set over Bolt after the restart:
    `fill` statements give every node or relationship of a step that lacks a list property
    an empty one (when all the step's values of it that CSV cannot hold are empty lists and
    none is None), `later` steps set the other values by key, as `Step.rows` would."""

    fill: list[str] = field(default_factory=list)
    later: list[tuple[str, str, list[dict[str, Any]]]] = field(default_factory=list)
    rows: int = 0  # rows as `load_run` counts them (relationships without ends included)
    dropped: int = 0  # relationships left out: an end is not among the nodes


_SCALAR_TYPES = {str: "string", bool: "boolean", int: "long", float: "double", date: "date"}
_ARROW_TYPES = {
    "string": pa.string(),
    "boolean": pa.bool_(),
    "long": pa.int64(),
    "double": pa.float64(),
    "date": pa.date32(),
}


def csv_type(values: list[Any]) -> str | None:
    """The CSV header type that stores `values` (plain values as the driver sends them) with
    the Neo4j types Bolt gives them; None if every value is None (no column)."""
    kinds = {type(v) for v in values} - {type(None)}
    if not kinds:
        return None
    if kinds == {list}:
        inner = {type(e) for v in values if v is not None for e in v}
        if not inner:
            return "string[]"  # only empty lists: every one is set after the import
        if len(inner) == 1 and (kind := _SCALAR_TYPES.get(inner.pop())):
            return kind + "[]"
    elif len(kinds) == 1 and (kind := _SCALAR_TYPES.get(kinds.pop())):
        return kind
    names = ", ".join(sorted(k.__name__ for k in kinds))
    raise TypeError(f"values of types {names} have no single neo4j-admin CSV type")


def _text(kind: str, value: Any) -> str:
    """A scalar as neo4j-admin reads it."""
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "double" and not math.isfinite(value):
        return "Infinity" if value > 0 else "-Infinity"  # NaN never gets here: it is None
    if kind == "date":
        iso: str = value.isoformat()
        return iso
    return str(value) if kind != "double" else repr(value)


class _DelimiterInData(Exception):
    """A list element contains the array delimiter: try the next one."""


def csv_field(kind: str, values: list[Any], delimiter: str) -> tuple[pa.Array[Any], dict[int, Any]]:
    """`values` of CSV type `kind` as an Arrow array that pyarrow's CSV writer writes as
    neo4j-admin reads it (every string quoted, a null as an empty field: an absent
    property), and the values a field cannot hold by position: an empty list, or a list
    of one empty string, reads back as no property at all."""
    if kind.endswith("[]"):
        element = kind[:-2]
        texts: list[str | None] = []
        later: dict[int, Any] = {}
        separators = elements = 0
        for i, v in enumerate(values):
            if v is None:
                texts.append(None)
            elif not v or v == [""]:
                texts.append(None)
                later[i] = v
            else:
                text = delimiter.join(v if element == "string" else [_text(element, e) for e in v])
                texts.append(text)
                separators += text.count(delimiter)
                elements += len(v) - 1
        if separators != elements:
            raise _DelimiterInData
        return pa.array(texts, pa.string()), later
    if kind == "double" and not all(math.isfinite(v) for v in values if v is not None):
        texts = [None if v is None else _text(kind, v) for v in values]
        return pa.array(texts, pa.string()), {}  # quoted, still read as a double
    return pa.array(values, _ARROW_TYPES[kind]), {}


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _header_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InputError(name, "a property name neo4j-admin headers cannot carry")
    return name


def write_csvs(steps: list[Step], directory: Path) -> ImportPlan:
    """Write one CSV per step into `directory` (module docstring), with the first array
    delimiter of ARRAY_DELIMITERS that no list element contains."""
    for delimiter in ARRAY_DELIMITERS:
        try:
            return _write_csvs(steps, directory, delimiter)
        except _DelimiterInData:
            continue
    raise InputError("list properties", "every candidate array delimiter occurs in the data")


def _write_csvs(steps: list[Step], directory: Path, delimiter: str) -> ImportPlan:
    plan = ImportPlan(array_delimiter=delimiter)
    ids: dict[str, tuple[str, pa.Array[Any]]] = {}  # label -> (key property, node keys)
    shapes = Counter((s.shape.label, s.shape.start, s.shape.end) for s in steps)
    for n, step in enumerate(steps):
        shape = step.shape
        cols = step.columns(step.frame)
        plan.rows += len(step.frame)
        path = directory / f"{n:02d}-{shape.label.lower()}.csv"
        if shape.is_node:
            keys = _keys(step.name, shape.key, cols.props[shape.key])
            if shape.label in ids:
                raise ValueError(f"two node steps of label {shape.label}")
            ids[shape.label] = (shape.key, keys)
            header = [f"{_header_name(shape.key)}:ID({shape.label})"]
            fields, later = _props(step.name, cols.props.drop(columns=[shape.key]), delimiter)
            multiline = _write(path, header + list(fields), [keys, *fields.values()])
            plan.nodes.append(CsvFile(path, shape.label, len(keys), multiline))
            _plan_later(plan, shape, fields, later, keys.to_pylist())
            continue
        assert cols.start is not None and cols.end is not None and cols.key is not None
        ends = [
            _keys(step.name, "start", cols.start),
            _keys(step.name, "end", cols.end),
            _keys(step.name, "key", cols.key),
        ]
        keep = _ends_exist(shape, ends[0], ends[1], ids)
        plan.dropped += len(keep) - sum(keep)
        if not all(keep):
            ends = [a.filter(pa.array(keep)) for a in ends]
            cols = Columns(cols.props[keep], cols.start[keep], cols.end[keep], cols.key[keep])
        if not len(cols.props):
            continue
        props = cols.props.drop(columns=["key"], errors="ignore")  # written as the key
        fields, later = _props(step.name, props, delimiter)
        header = [f":START_ID({shape.start})", f":END_ID({shape.end})", "key:string"]
        multiline = _write(path, header + list(fields), [*ends, *fields.values()])
        plan.relationships.append(CsvFile(path, shape.label, len(cols.props), multiline))
        unique = shapes[(shape.label, shape.start, shape.end)] == 1
        start, end, key = (a.to_pylist() for a in ends)
        _plan_later(plan, shape, fields, later, start, end, key, unique=unique)
    return plan


def _keys(step: str, name: str, keys: pd.Series) -> pa.Array[Any]:
    try:
        array = pa.array(plain_values(keys), pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        array = None
    if array is None or array.null_count:
        raise InputError(step, f"{name}: every key must be a string to bulk-import")
    return array


def _ends_exist(
    shape: Shape,
    start: pa.Array[Any],
    end: pa.Array[Any],
    ids: dict[str, tuple[str, pa.Array[Any]]],
) -> list[bool]:
    """Rows whose both ends are nodes: the Bolt path MATCHes them and skips the others."""
    keep = None
    for label, key, values in (
        (shape.start, shape.start_key, start),
        (shape.end, shape.end_key, end),
    ):
        if label not in ids or ids[label][0] != key:
            raise ValueError(f"{shape.label}: no node step keys {label} by {key}")
        found = pc.is_in(values, value_set=ids[label][1])
        keep = found if keep is None else pc.and_(keep, found)
    assert keep is not None
    return cast(list[bool], keep.to_pylist())  # is_in gives no nulls: nor does and_ of them


def _props(
    step: str, props: pd.DataFrame, delimiter: str
) -> tuple[dict[str, pa.Array[Any]], dict[str, dict[int, Any]]]:
    """Each property column that has a value as an Arrow array, by its typed header field
    (`name:type`), and per property the values a CSV field cannot hold, by position."""
    fields: dict[str, pa.Array[Any]] = {}
    later: dict[str, dict[int, Any]] = {}
    for name in props.columns:
        listed = _string_lists(props[name], delimiter)
        kind: str | None
        if listed is not None:
            kind, (array, cannot) = "string[]", listed
        else:
            values = plain_values(props[name])
            try:
                kind = csv_type(values)
            except TypeError as err:
                raise InputError(step, f"property {name}: {err}; load without --bulk") from None
            if kind is None:
                continue
            array, cannot = csv_field(kind, values, delimiter)
        fields[f"{_header_name(name)}:{kind}"] = array
        if cannot:
            later[name] = cannot
    return fields, later


def _string_lists(series: pd.Series, delimiter: str) -> tuple[pa.Array[Any], dict[int, Any]] | None:
    """`csv_field("string[]", plain_values(series), delimiter)` for the common column whose every
    value is a list of strings, without converting each value (a third of the CSV time);
    None for any other column."""
    if series.dtype != object:
        return None
    values = series.tolist()
    if not values or set(map(type, values)) != {list}:
        return None
    try:
        texts: list[str | None] = [delimiter.join(v) for v in values]
    except TypeError:  # an element that is not a string
        return None
    later = {i: list(values[i]) for i, text in enumerate(texts) if not text}  # [] or [""]
    separators = sum(map(len, values)) - len(values) + sum(1 for i in later if not values[i])
    if "".join(t for t in texts if t).count(delimiter) != separators:
        raise _DelimiterInData
    for i in later:
        texts[i] = None
    return pa.array(texts, pa.string()), later


_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="needed")


def _write(path: Path, header: list[str], columns: list[pa.Array[Any]]) -> bool:
    """Write the header line and the rows; True if a value spans lines (neo4j-admin must
    then be told the file has multiline fields)."""
    table = pa.table(columns, names=[f"c{i}" for i in range(len(columns))])
    with open(path, "wb") as out:
        out.write((",".join(header) + "\n").encode("utf-8"))
        pa_csv.write_csv(table, out, _CSV_OPTIONS)
    data = path.read_bytes()
    return data.count(b"\n") != len(table) + 1 or b"\r" in data


def _plan_later(
    plan: ImportPlan,
    shape: Shape,
    fields: dict[str, pa.Array[Any]],
    later: dict[str, dict[int, Any]],
    keys: list[Any],
    ends: list[Any] | None = None,
    rel_keys: list[Any] | None = None,
    unique: bool = True,
) -> None:
    """Plan what the CSV could not hold (see ImportPlan): `unique` says no other step writes
    nodes or relationships of this label (or type and end labels)."""
    nulls = {name.split(":")[0]: array.null_count for name, array in fields.items()}
    by_key = {}
    for name, values in later.items():
        if unique and nulls[name] == len(values) and all(v == [] for v in values.values()):
            plan.fill.append(_fill(shape, name))
        else:
            by_key[name] = values
    if not by_key:
        return
    positions = sorted({i for values in by_key.values() for i in values})
    props = [{name: values[i] for name, values in by_key.items() if i in values} for i in positions]
    if shape.is_node:
        query = (
            f"UNWIND $rows AS row MATCH (n:{shape.label} {{{shape.key}: row.key}}) "
            "SET n += row.props"
        )
        rows = [{"key": keys[i], "props": p} for i, p in zip(positions, props, strict=True)]
    else:
        assert ends is not None and rel_keys is not None
        query = (
            f"UNWIND $rows AS row MATCH (a:{shape.start} {{{shape.start_key}: row.start}})"
            f"-[r:{shape.label} {{key: row.key}}]->(b:{shape.end} {{{shape.end_key}: row.end}}) "
            "SET r += row.props"
        )
        rows = [
            {"start": keys[i], "end": ends[i], "key": rel_keys[i], "props": p}
            for i, p in zip(positions, props, strict=True)
        ]
    plan.later.append((f"{shape.label}: lists", query, rows))


def _fill(shape: Shape, name: str) -> str:
    """The statement that gives every node (relationship) of the shape without property
    `name` an empty list: in an imported graph, exactly those whose list was empty."""
    if shape.is_node:
        match, var = f"MATCH (x:{shape.label})", "x"
    else:
        match, var = f"MATCH (:{shape.start})-[x:{shape.label}]->(:{shape.end})", "x"
    return (
        f"{match} WHERE {var}.{name} IS NULL "
        f"CALL ({var}) {{ SET {var}.{name} = [] }} IN TRANSACTIONS OF 10000 ROWS"
    )
