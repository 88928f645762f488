"""The comparison features of mentions: what the linkage models and deterministic rules read.

One row per mention, with an integer `mention_id` (Splink's unique id: the row's position)
and the mention key. Only identifiers the loader judged valid are used: an invalid USCC or
a malformed ID number proves nothing. Resident IDs appear only as the loader's HMAC token
and the visible parts a masked ID keeps (region prefix, last four), never in full.

A person's company context is the list of company entities named in the same record: a
legal representative and the company of the registry row, a shareholder and the company
it holds, a responsible manager and the punished company. Two namesakes in one company are
rare; one person in two records of the same company is common. It is computed after the
companies are resolved, so that "the same company" means one company entity, whatever the
name each record used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from config.errors import InputError
from linkage.standardise import standardise_company_mentions, standardise_person_mentions

KEY = ["source", "record_id", "slot"]

PERSON_FEATURES = [
    "mention_id",
    *KEY,
    "name",
    "name_simplified",
    "name_pinyin_key",
    "surname",
    "given",
    "is_romanised",
    "id_token",
    "id_prefix",
    "id_suffix",
    "id_masked",
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


def _read(run_dir: Path, table: str) -> pa.Table:
    path = run_dir / f"{table}.parquet"
    if not path.is_file():
        raise InputError(
            str(path), f"no {table} table: is {run_dir} a run directory written by `veil load`?"
        )
    return pq.read_table(path)


def _valid(frame: pd.DataFrame, column: str) -> pd.Series:
    """The identifier where its status is valid, else null."""
    status = frame.get(f"{column}_status")
    values = frame[column].astype(object)
    if status is None:
        return values
    return values.where(status == "valid", None)


def _blank_to_none(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna() & (series.astype(str) != ""), None)


def person_features(run_dir: Path) -> pd.DataFrame:
    """Standardised person mentions of a run, as PERSON_FEATURES (context not yet added)."""
    frame = standardise_person_mentions(_read(run_dir, "person_mentions")).to_pandas()
    frame["mention_id"] = np.arange(len(frame), dtype=np.int64)
    full = frame["id_kind"].isin(["18", "15_upgraded"])
    frame["id_token"] = frame["id_token"].where(full, None)
    frame["id_masked"] = frame["id_kind"] == "masked"
    for column in ("id_prefix", "id_suffix", "sex", "phone", "address"):
        frame[column] = _blank_to_none(frame[column])
    frame["birth_date"] = frame["birth_date"].map(
        lambda d: None if d is None or pd.isna(d) else d.isoformat()
    )
    for column in ("name_simplified", "name_pinyin_key", "surname", "given"):
        frame[column] = _blank_to_none(frame[column])
    return frame[PERSON_FEATURES].reset_index(drop=True)


def company_features(run_dir: Path) -> pd.DataFrame:
    """Standardised company mentions of a run, as COMPANY_FEATURES.

    name_keys is the canonical name plus the canonical former names: blocking explodes it,
    so a record naming a company by its old name meets the registry row that lists it.
    """
    frame = standardise_company_mentions(_read(run_dir, "company_mentions")).to_pandas()
    frame["mention_id"] = np.arange(len(frame), dtype=np.int64)
    for column in ("uscc", "org_code", "reg_no"):
        frame[column] = _valid(frame, column)
    for column in (
        "name_canonical",
        "name_region",
        "name_core",
        "name_industry",
        "name_legal_form",
        "name_core_pinyin",
        "region_code",
        "address",
    ):
        frame[column] = _blank_to_none(frame[column])
    former = frame["former_canonical"].map(
        lambda v: [] if v is None or (not isinstance(v, (list, np.ndarray))) else list(v)
    )
    frame["former_canonical"] = former
    frame["name_keys"] = [
        list(dict.fromkeys(([n] if isinstance(n, str) else []) + f))
        for n, f in zip(frame["name_canonical"], former, strict=True)
    ]
    return frame[COMPANY_FEATURES].reset_index(drop=True)


def company_context(
    persons: pd.DataFrame, companies: pd.DataFrame, company_entity: np.ndarray
) -> pd.Series:
    """Per person mention, the sorted distinct company entity IDs named in its record (the
    record of its own run, when the frames hold several runs' mentions)."""
    record = (
        ["run", "source", "record_id"]
        if "run" in persons and "run" in companies
        else [
            "source",
            "record_id",
        ]
    )
    named = companies[record].assign(entity=company_entity)
    by_record = (
        named.drop_duplicates()
        .sort_values([*record, "entity"])
        .groupby(record, sort=False)["entity"]
        .agg(list)
    )
    context = by_record.reindex(pd.MultiIndex.from_frame(persons[record]))
    return pd.Series(
        [v if isinstance(v, list) else [] for v in context.to_list()],
        index=persons.index,
        dtype=object,
    )
