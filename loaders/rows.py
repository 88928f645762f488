"""The rows of the tables `veil load` writes, one named type per table.

A row type is the table's schema: its fields, in order, are the Parquet columns, and their
annotations give the Arrow types (`arrow_schema`), so a column cannot be added to one and
forgotten in the other. Records are mapped into these rows by loaders/records.py;
loaders/rundir.py registers them as the run directory's load tables.
"""

from __future__ import annotations

import types
import typing
from datetime import date
from typing import NamedTuple, TypedDict

import pyarrow as pa

from loaders.identifiers import ResidentId


class Record(NamedTuple):
    """One accepted row: its provenance."""

    source: str
    record_id: str
    file: str
    line: int


class PersonMention(NamedTuple):
    """A person named by a record. The ID number is kept only as a token, a masked display
    form and what it says openly (region, birth date, sex)."""

    source: str
    record_id: str
    slot: str
    name: str | None
    name_raw: str | None
    id_status: str
    id_kind: str | None
    id_token: str | None
    id_display: str | None
    id_prefix: str | None
    id_suffix: str | None
    birth_date: date | None
    sex: str | None
    region_code: str | None
    phone: str | None
    address: str | None


class ResidentIdFields(TypedDict):
    """A PersonMention's `id_*` fields."""

    id_status: str
    id_kind: str | None
    id_token: str | None
    id_display: str | None
    id_prefix: str | None
    id_suffix: str | None


def resident_id_fields(rid: ResidentId) -> ResidentIdFields:
    """A PersonMention's `id_*` fields from its ID as parsed: what a loader and the
    licence counter's screening (linkage/screen.py) both write."""
    return ResidentIdFields(
        id_status=rid.status,
        id_kind=rid.kind,
        id_token=rid.token,
        id_display=rid.display,
        id_prefix=rid.visible_prefix,
        id_suffix=rid.visible_suffix,
    )


class CompanyMention(NamedTuple):
    """A company named by a record, with its identifiers as read and checked."""

    source: str
    record_id: str
    slot: str
    name: str | None
    name_raw: str | None
    former_names: list[str] | None
    uscc: str | None
    uscc_status: str
    org_code: str | None
    org_code_status: str
    reg_no: str | None
    reg_no_status: str
    region_code: str | None
    industry_code: str | None
    established: date | None
    address: str | None
    status: str | None
    registered_capital: float | None
    ended: date | None


class Role(NamedTuple):
    """A person's role in a company (legal representative, director, supervisor...)."""

    source: str
    record_id: str
    person_slot: str
    company_slot: str
    role: str
    role_raw: str | None
    valid_from: date | None
    valid_to: date | None
    observed_on: date | None


class Shareholding(NamedTuple):
    """A holder's share of a company; `ratio` is a fraction once the column is read."""

    source: str
    record_id: str
    holder_slot: str
    holder_kind: str
    company_slot: str
    ratio: float | None
    subscribed_capital: float | None
    valid_from: date | None
    valid_to: date | None


class Punishment(NamedTuple):
    """An administrative punishment decision against a party."""

    source: str
    record_id: str
    decision_number: str | None
    party_slot: str
    party_kind: str
    responsible_slots: list[str]
    categories: list[str]
    category_raw: str | None
    decision_date: date | None
    agency: str | None
    legal_basis: str | None
    fine_amount: float | None


class ListEntry(NamedTuple):
    """A party on a list (judgment defaulters, serious violators...), while it stands."""

    source: str
    record_id: str
    list: str
    list_raw: str | None
    party_slot: str
    party_kind: str
    entered: date | None
    removed: date | None
    expires: date | None
    reason: str | None
    authority: str | None
    case_number: str | None


class Licence(NamedTuple):
    """A licence held by a company (food business licences)."""

    source: str
    record_id: str
    licence_number: str | None
    holder_slot: str
    valid_from: date | None
    valid_to: date | None
    status: str | None
    status_raw: str | None
    scope: str | None
    issued: date | None


class QuarantineRow(NamedTuple):
    """One problem of a rejected row; `field` is the extract's column where known."""

    source: str
    file: str
    line: int
    record_id: str | None
    field: str | None
    raw_value: str | None
    reason: str
    detail: str | None


class FieldIssue(NamedTuple):
    """A field kept but marked invalid (a bad identifier, an unknown term, a doubt)."""

    source: str
    record_id: str
    slot: str | None
    field: str
    raw_value: str | None
    reason: str


_ARROW: dict[object, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    date: pa.date32(),
    list[str]: pa.list_(pa.string()),
}


def _arrow_type(annotation: object) -> pa.DataType:
    """The Arrow type of a field's annotation; `X | None` is X (every column is nullable)."""
    if isinstance(annotation, types.UnionType):
        (annotation,) = (a for a in typing.get_args(annotation) if a is not type(None))
    return _ARROW[annotation]


def arrow_schema(row: type[tuple[object, ...]]) -> pa.Schema:
    """The Parquet schema of a row type: its fields in order, typed by their annotations."""
    hints = typing.get_type_hints(row)
    fields: tuple[str, ...] = row._fields  # type: ignore[attr-defined]
    return pa.schema([(name, _arrow_type(hints[name])) for name in fields])
