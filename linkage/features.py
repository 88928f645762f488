"""The comparison features of mentions: what the linkage models and deterministic rules read.

One row per mention, with an integer `mention_id` (Splink's unique id: the row's position)
and the mention key. Only identifiers the loader judged valid are used: an invalid USCC or
a malformed ID number proves nothing. Resident IDs appear only as the loader's HMAC token
and the visible parts a masked ID keeps (region prefix, last four), never in full.
`id_visible` is what a mention shows of its ID as 18 positions ('*' hidden): the mask of
a full ID, a masked ID as published. Clustering refuses to join two that disagree at a
position both show; it never links two that agree (a mask is shared by many people).

A person's company context is the list of company entities named in the same record: a
legal representative and the company of the registry row, a shareholder and the company
it holds, a responsible manager and the punished company. Two namesakes in one company are
rare; one person in two records of the same company is common. It is computed after the
companies are resolved, so that "the same company" means one company entity, whatever the
name each record used.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.standardise import (
    PERSON_COLUMNS,
    standardise_company_mentions,
    standardise_person_mentions,
    standardise_person_name,
)
from loaders import rundir

KEY = ["source", "record_id", "slot"]

PERSON_FEATURES = [
    "mention_id",
    *KEY,
    "name",
    "name_simplified",
    "name_pinyin_key",
    "surname",
    "given",
    "surname_pinyin",
    "is_romanised",
    "id_token",
    "id_prefix",
    "id_suffix",
    "id_masked",
    "id_visible",
    "id_end",
    "birth_date",
    "sex",
    "phone",
    "address",
]

COMPANY_FEATURES = [
    "mention_id",
    *KEY,
    "name",
    "name_canonical",
    "name_region",
    "name_core",
    "name_industry",
    "name_legal_form",
    "name_core_pinyin",
    "name_is_branch",
    "name_is_romanised",
    "name_industry_latin",
    "former_canonical",
    "name_keys",
    "uscc",
    "org_code",
    "reg_no",
    "region_code",
    "address",
]


def mention_refs(frame: pd.DataFrame) -> pd.Series:
    """`source:record_id:slot`, the form reviewers and `veil explain` use."""
    return frame["source"] + ":" + frame["record_id"] + ":" + frame["slot"]


#: What person_features and company_features read of the loader's tables: the rest (raw
#: names, display forms, dates of establishment...) would only cost memory.
PERSON_INPUT = [*KEY, "name", "id_kind", "id_token", "id_display", "id_prefix", "id_suffix"]
PERSON_INPUT += ["birth_date", "sex", "phone", "address"]
COMPANY_INPUT = [*KEY, "name", "former_names", "uscc", "uscc_status", "org_code"]
COMPANY_INPUT += ["org_code_status", "reg_no", "reg_no_status", "region_code", "address"]


def _read(run_dir: Path, table: str, columns: list[str]) -> pa.Table:
    """`columns` of a run's table, those it has."""
    return rundir.arrow(run_dir, table, columns, present_only=True)


def _object_array(values: pa.ChunkedArray[Any] | pa.Array[Any]) -> np.ndarray:
    """Strings as Python objects, None where null or blank (what the deterministic rules
    and Splink's registration of the frame expect)."""
    values = values.cast(pa.string())
    blank = pc.equal(values, pa.scalar("")).fill_null(True)
    nulled = pc.if_else(blank, pa.scalar(None, pa.string()), values)
    return np.asarray(nulled.to_numpy(zero_copy_only=False), dtype=object)


def _objects(values: pa.ChunkedArray[Any] | pa.Array[Any]) -> pd.Series:
    """_object_array as a Series of dtype object."""
    return pd.Series(_object_array(values), dtype=object)


def _valid(table: pa.Table, column: str) -> pd.Series:
    """The identifier where its status is valid, else None."""
    values = table.column(column).cast(pa.string())
    status = f"{column}_status"
    if status in table.column_names:
        valid = pc.equal(table.column(status), pa.scalar("valid")).fill_null(False)
        values = pc.if_else(valid, values, pa.scalar(None, pa.string()))
    return _objects(values)


#: Length of a resident ID, and so of `id_visible`.
ID_LENGTH = 18
#: The loader's ID kinds (loaders/identifiers.py) of a full ID, and of any that shows some.
_FULL_ID_KINDS = ("18", "15_upgraded")
_ID_KINDS = (*_FULL_ID_KINDS, "masked")


def _id_visible(table: pa.Table) -> pa.ChunkedArray[Any]:
    """Per mention, its resident ID's visible characters at their positions ('*' hidden).

    A full ID shows its display (first 6, last 4); an 18-character mask shows what it
    shows. A mask of another length (a 15-digit number, or fewer stars than hidden
    digits) places only the region code for sure, so only that is kept.
    """
    kind = table.column("id_kind")
    has_id = pc.is_in(kind, pa.array(_ID_KINDS)).fill_null(False)
    display = table.column("id_display").cast(pa.string())
    # pyarrow-stubs: cast() gives ChunkedArray[Scalar[StringType]], utf8_length wants StringScalar.
    length = pc.utf8_length(display)  # type: ignore[arg-type]
    whole = pc.equal(length, pa.scalar(ID_LENGTH)).fill_null(False)
    region = pc.utf8_rpad(
        pc.utf8_slice_codeunits(table.column("id_prefix").cast(pa.string()), 0, 6),
        ID_LENGTH,
        padding="*",
    )
    visible = pc.if_else(whole, display, region)
    hidden = pc.equal(pc.replace_substring(visible, "*", ""), pa.scalar("")).fill_null(True)
    # pyarrow-stubs: Array.fill_null returns Array[Scalar[...]], not the BooleanArray it is.
    keep = pc.and_(has_id, pc.invert(hidden))  # type: ignore[arg-type]
    shown: pa.ChunkedArray[Any] = pc.if_else(keep, visible, pa.scalar(None, pa.string()))
    return shown


def _id_end(visible: pa.ChunkedArray[Any]) -> pa.ChunkedArray[Any]:
    """The last four characters of an ID where shown in full (a blocking key that meets a
    4+4 or 3+4 mask with the full ID whose region it shows only in part)."""
    end = pc.utf8_slice_codeunits(visible, -4)
    starred = pc.match_substring(end, "*").fill_null(True)
    shown: pa.ChunkedArray[Any] = pc.if_else(starred, pa.scalar(None, pa.string()), end)
    return shown


def person_features(run_dir: Path) -> pd.DataFrame:
    """Standardised person mentions of a run, as PERSON_FEATURES (context not yet added)."""
    return person_feature_frame(_read(run_dir, "person_mentions", PERSON_INPUT))


def person_feature_columns(mentions: pa.Table) -> dict[str, np.ndarray]:
    """The features of person_mentions rows (PERSON_INPUT's columns) that PERSON_FEATURES
    adds to the mention key and name, as arrays: what person_features computes for a run,
    and what the licence counter computes for an applicant (linkage/screen.py), so both
    are compared by one definition."""
    table = standardise_person_mentions(mentions)
    full = pc.is_in(table.column("id_kind"), pa.array(_FULL_ID_KINDS)).fill_null(False)
    out: dict[str, np.ndarray] = {}
    for column in ("name_simplified", "name_pinyin_key", "surname", "given", "surname_pinyin"):
        out[column] = _object_array(table.column(column))
    out["is_romanised"] = table.column("is_romanised").to_numpy()
    out["id_token"] = _object_array(
        pc.if_else(full, table.column("id_token"), pa.scalar(None, pa.string()))
    )
    for column in ("id_prefix", "id_suffix"):
        out[column] = _object_array(table.column(column))
    masked = pc.equal(table.column("id_kind"), pa.scalar("masked")).fill_null(False)
    out["id_masked"] = masked.to_numpy()
    visible = _id_visible(table)
    out["id_visible"] = _object_array(visible)
    out["id_end"] = _object_array(_id_end(visible))
    out["birth_date"] = _object_array(table.column("birth_date"))
    for column in ("sex", "phone", "address"):
        out[column] = _object_array(table.column(column))
    return out


def _text(value: str | None) -> str | None:
    """_object_array for one value: None where null or blank."""
    return None if value is None or value == "" else value


def _id_visible_one(kind: str | None, display: str | None, prefix: str | None) -> str | None:
    """_id_visible for one mention."""
    if kind not in _ID_KINDS:
        return None
    if display is not None and len(display) == ID_LENGTH:
        visible = display
    elif prefix is not None:
        visible = prefix[:6].ljust(ID_LENGTH, "*")
    else:
        return None
    return visible if visible.replace("*", "") else None


def person_feature_row(mention: Mapping[str, Any]) -> dict[str, Any]:
    """person_feature_columns for one person_mentions row (PERSON_INPUT's columns as a
    mapping), without Arrow: the licence counter features one to three applicants a
    request, where Arrow's fixed cost per call was most of the work. The name goes
    through the same standardisation (linkage.names, one name at a time as the batch does
    per distinct name); the ID columns follow the batch's rules written for one value,
    which tests/test_screen_speed_paths.py holds equal to the batch on every mention of
    the test world and on generated names and IDs."""
    name = mention.get("name")
    person = None if name is None else standardise_person_name(name)
    out: dict[str, Any] = {
        column: None if person is None else _text(getattr(person, PERSON_COLUMNS[column][0]))
        for column in ("name_simplified", "name_pinyin_key", "surname", "given", "surname_pinyin")
    }
    out["is_romanised"] = None if person is None else person.is_romanised
    kind, display = mention.get("id_kind"), mention.get("id_display")
    out["id_token"] = _text(mention.get("id_token")) if kind in _FULL_ID_KINDS else None
    for column in ("id_prefix", "id_suffix"):
        out[column] = _text(mention.get(column))
    out["id_masked"] = kind == "masked"
    visible = _id_visible_one(kind, display, mention.get("id_prefix"))
    out["id_visible"] = visible
    out["id_end"] = None if visible is None or "*" in visible[-4:] else visible[-4:]
    born = mention.get("birth_date")
    out["birth_date"] = None if born is None else born.isoformat()
    for column in ("sex", "phone", "address"):
        out[column] = _text(mention.get(column))
    return out


def person_feature_frame(mentions: pa.Table) -> pd.DataFrame:
    """PERSON_FEATURES of person_mentions rows (see person_feature_columns)."""
    frame = mentions.select([*KEY, "name"]).to_pandas()
    frame.insert(0, "mention_id", np.arange(len(frame), dtype=np.int64))
    derived = pd.DataFrame(
        {
            column: pd.Series(values, dtype=object) if values.dtype == object else values
            for column, values in person_feature_columns(mentions).items()
        },
        index=frame.index,
    )
    return pd.concat([frame, derived], axis=1)[PERSON_FEATURES]


def company_features(run_dir: Path) -> pd.DataFrame:
    """Standardised company mentions of a run, as COMPANY_FEATURES.

    name_keys is the canonical name plus the canonical former names: blocking explodes it,
    so a record naming a company by its old name meets the registry row that lists it.
    """
    table = standardise_company_mentions(_read(run_dir, "company_mentions", COMPANY_INPUT))
    frame = table.select([*KEY, "name"]).to_pandas()
    frame.insert(0, "mention_id", np.arange(len(frame), dtype=np.int64))
    for column in (
        "name_canonical",
        "name_region",
        "name_core",
        "name_industry",
        "name_legal_form",
        "name_core_pinyin",
    ):
        frame[column] = _objects(table.column(column))
    frame["name_is_branch"] = table.column("name_is_branch").to_numpy()
    frame["name_is_romanised"] = table.column("name_is_romanised").to_numpy()
    frame["name_industry_latin"] = _objects(table.column("name_industry_latin"))
    former_lists = table.column("former_canonical").fill_null(pa.scalar([], pa.list_(pa.string())))
    former = cast("list[list[str]]", former_lists.to_pylist())  # nulls filled: no None
    frame["former_canonical"] = former
    keys = [[] if n is None else [n] for n in frame["name_canonical"]]
    for i in np.flatnonzero(pc.list_value_length(former_lists).to_numpy() > 0):
        keys[i] = list(dict.fromkeys(keys[i] + former[i]))
    frame["name_keys"] = keys
    for column in ("uscc", "org_code", "reg_no"):
        frame[column] = _valid(table, column)
    for column in ("region_code", "address"):
        frame[column] = _objects(table.column(column))
    return frame[COMPANY_FEATURES]


def company_context(
    persons: pd.DataFrame, companies: pd.DataFrame, company_entity: np.ndarray
) -> pd.Series:
    """Per person mention, the sorted distinct company entity IDs named in its record (the
    record of its own run, when the frames hold several runs' mentions).

    Vectorised: records numbered over both frames, the companies' lists built once per
    record in Arrow (a pandas groupby of lists took 25 s for 1M mentions)."""
    both = "run" in persons and "run" in companies
    record = ["run", "source", "record_id"] if both else ["source", "record_id"]
    keys = pd.concat([persons[record], companies[record]], ignore_index=True)
    codes = keys.groupby(record, sort=False, dropna=False).ngroup().to_numpy()
    mine = codes[: len(persons)]
    named = (
        pd.DataFrame({"record": codes[len(persons) :], "entity": company_entity})
        .drop_duplicates()
        .sort_values(["record", "entity"])
    )
    if named.empty:
        return pd.Series([[] for _ in range(len(persons))], index=persons.index, dtype=object)
    records, starts = np.unique(named["record"].to_numpy(), return_index=True)
    lists = pa.ListArray.from_arrays(
        pa.array(np.append(starts, len(named)), pa.int32()),
        pa.array(named["entity"].to_numpy(dtype=object), pa.string()),
    )
    at = np.minimum(np.searchsorted(records, mine), len(records) - 1)
    found = records[at] == mine
    # pyarrow-stubs allow to_pylist only on arrays of basic types, not of lists.
    context = lists.take(at).to_pylist()  # type: ignore[misc]
    return pd.Series(
        [c if f else [] for c, f in zip(context, found, strict=True)],
        index=persons.index,
        dtype=object,
    )
