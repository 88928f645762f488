"""Resolved facts: the run directory's facts with every slot replaced by its entity.

This is the contract between linkage/ and the graph: `veil load` wrote facts that name
mentions by (source, record_id, slot), `veil link` wrote which entity each mention is.
Here they are joined, and what the graph needs is derived once, without Neo4j:

- persons and companies with display attributes chosen from their mentions;
- role *tenures*: one per (person, company, role, start). A registry snapshot row says
  "in office now", a change record says "from D" or "until D"; a tenure gathers them, so
  a later wave that only brings the end date updates the same tenure instead of adding
  a second one;
- holdings, punishments, list entries and licences, each keyed by its record.

What the graph stores leaves the run directory, so no resident ID does (PIPL): a Person's
masks are shown with the birth month and day hidden (`display_mask`: a court's 6+4 mask
and a punishment's birth-date mask side by side would be the number), every text (record
keys, mention references, names, an agency's free text) has any resident ID in it masked
(`masked_resident_ids`), and a record whose key holds a resident ID is keyed in the graph
by that ID's HMAC token (`keyed_resident_ids`), so it stays unique and stable while its
key cannot be hashed back to the number. The run directory keeps the source masks and
keys, which linkage compares.

A wave's run directory holds cumulative entities whose `run` column points at the run
directory of each mention; facts are read from those runs, so resolving a wave gives the
whole picture, not just the new month.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from config.errors import InputError
from config.settings import id_token_secret
from graph.in_force import in_force
from loaders import rundir
from loaders.identifiers import (
    RESIDENT_ID_HINT,
    display_mask,
    keyed_resident_ids,
    masked_resident_ids,
)

log = logging.getLogger(__name__)

LEGAL_REPRESENTATIVE = "legal_rep"
MENTION_KEY = ["run", "source", "record_id", "slot"]

#: A table and its slot column -> the entity ID of each row's mention (None: unresolved).
Resolve = Callable[[pd.DataFrame, str], np.ndarray]
#: Record IDs -> what a fact's key is a digest of (see `RecordKeys`).
Keyed = Callable[[pd.Series], pd.Series]


@dataclass(frozen=True)
class ResolvedRun:
    """Everything the graph stores about one run, as frames with entity IDs."""

    run_dir: Path
    load_id: str
    persons: pd.DataFrame
    companies: pd.DataFrame
    tenures: pd.DataFrame
    holdings: pd.DataFrame
    punishments: pd.DataFrame
    list_entries: pd.DataFrame
    licences: pd.DataFrame
    named: pd.DataFrame
    unresolved: int

    def counts(self) -> dict[str, int]:
        return {
            "persons": len(self.persons),
            "companies": len(self.companies),
            "tenures": len(self.tenures),
            "holdings": len(self.holdings),
            "punishments": len(self.punishments),
            "list_entries": len(self.list_entries),
            "licences": len(self.licences),
            "named": len(self.named),
        }


def resolve_run(run_dir: Path, secret: bytes | None = None) -> ResolvedRun:
    """Join the facts of `run_dir` (and, for a wave, of its base runs) to their entities,
    shown as the graph may hold them (see the module docstring); `secret` keys the records
    whose key holds a resident ID (default: the ID-token secret, read only if one does)."""
    run_dir = Path(run_dir)
    entities = rundir.entities(run_dir)
    stale = rundir.stale_entities(run_dir)
    if stale:
        raise InputError(
            str(rundir.path(run_dir, "entities")),
            f"older than the mentions it should resolve: {stale}; run `veil link --run "
            f"{run_dir}` first (the graph was not touched)",
        )
    if "run" not in entities.columns:
        entities["run"] = "."
    runs = sorted(entities["run"].unique())
    secret = _checked_secret(run_dir, runs, secret)
    tables = {name: _read_all(run_dir, runs, name) for name in _FACT_TABLES}
    entity_of = entities.set_index(MENTION_KEY)["entity_id"]
    missing = [0]

    def resolve(frame: pd.DataFrame, slot_col: str) -> np.ndarray:
        keys = pd.MultiIndex.from_arrays(
            [frame["run"], frame["source"], frame["record_id"], frame[slot_col]]
        )
        ids = entity_of.reindex(keys).to_numpy()
        missing[0] += int(pd.isna(ids).sum())
        return ids

    keyed = RecordKeys(secret)
    persons = _persons(tables["person_mentions"], entities)
    companies = _with_name_keys(_companies(tables["company_mentions"], entities), run_dir)
    tenures = _tenures(tables["roles"], resolve)
    holdings = _holdings(tables["shareholdings"], resolve, keyed)
    punishments = _punishments(tables["punishments"], resolve, keyed)
    list_entries = _list_entries(tables["list_entries"], resolve, keyed)
    licences = _licences(tables["licences"], resolve, keyed)
    named = _named(entities, [punishments, list_entries, licences])
    return ResolvedRun(
        run_dir=run_dir,
        load_id=_load_id(run_dir, runs),
        persons=_outward(persons),
        companies=_outward(companies),
        tenures=_outward(tenures),
        holdings=_outward(holdings),
        punishments=_outward(punishments),
        list_entries=_outward(list_entries),
        licences=_outward(licences),
        named=_outward(named),
        unresolved=missing[0],
    )


def _may_hold_id(values: pd.Series) -> np.ndarray:
    """Which string values may hold a resident ID or a mask (`RESIDENT_ID_HINT`, in Arrow:
    most hold none)."""
    strings = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    found = pc.match_substring_regex(strings, RESIDENT_ID_HINT).fill_null(False)
    return found.to_numpy(zero_copy_only=False)


class RecordKeys:
    """Record IDs as a fact's key digests them: one that holds a resident ID with the ID's
    HMAC token in its place (`keyed_resident_ids`), so the graph's key stays unique and
    stable but cannot be hashed back to the number; any other unchanged. The secret is
    read when the first such record turns up."""

    def __init__(self, secret: bytes | None) -> None:
        self.secret = secret

    def __call__(self, record_ids: pd.Series) -> pd.Series:
        holding = _may_hold_id(record_ids)
        if not holding.any():
            return record_ids
        if self.secret is None:
            self.secret = id_token_secret()
        secret = self.secret
        out = record_ids.astype(object).copy()
        out[holding] = [keyed_resident_ids(v, secret) for v in record_ids[holding].tolist()]
        return out


#: Columns that hold veil's own keys and tokens, source names or public company codes,
#: never an ID's digits; `id_masks` and `mentions` are shown so where they are built.
_KEPT = frozenset(
    {
        "key",
        "record_key",
        "entity_id",
        "person_id",
        "company_id",
        "holder_id",
        "party_id",
        "responsible_ids",
        "id_tokens",
        "id_masks",
        "mentions",
        "source",
        "sources",
        "uscc",
        "org_code",
        "reg_no",
        "run",
    }
)


def _outward(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every text, and every text in a list, passed through
    `masked_resident_ids` (record keys, names, free text), but for the `_KEPT` columns.
    Only the values `_may_hold_id` finds something in are looked at, and a column is
    replaced only when one of them changes."""
    for column in frame.columns:
        values = frame[column]
        if column in _KEPT:
            continue
        texts = _texts(values)
        if texts is None:
            continue
        cells = values.to_numpy(dtype=object, copy=True)
        changed = False
        for row in np.unique(texts.index[_may_hold_id(texts)]).tolist():
            shown = _masked(cells[row])
            if shown != cells[row]:
                cells[row], changed = shown, True
        if changed:
            frame[column] = pd.Series(cells, index=values.index, dtype=values.dtype)
    return frame


def _texts(values: pd.Series) -> pd.Series | None:
    """A column's texts, one per item of a list column, indexed by row position; None for
    a column of anything else (dates, numbers)."""
    present = values.reset_index(drop=True).dropna()
    if present.empty:
        return None
    first = present.iat[0]
    if isinstance(first, list | np.ndarray):
        present = present.explode().dropna()
    elif not isinstance(first, str):
        return None
    return present if pd.api.types.infer_dtype(present, skipna=True) == "string" else None


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return masked_resident_ids(value)
    return [masked_resident_ids(v) if isinstance(v, str) else v for v in value]


_FACT_TABLES = (
    "person_mentions",
    "company_mentions",
    "roles",
    "shareholdings",
    "punishments",
    "list_entries",
    "licences",
)


def _checked_secret(run_dir: Path, runs: list[str], secret: bytes | None) -> bytes | None:
    """`secret` (default: the ID-token secret) if every run was loaded with it; refuses a
    run loaded with another, whose record keys and tokens the graph would mix with this
    secret's, so a ban would never meet the person it names. None (read later, only if a
    record key needs it) when no run records its secret."""
    then = "load the graph with the secret the run was loaded with (the graph was not touched)"
    for run in runs:
        manifest = rundir.manifest(run_dir / run)
        if "id_secret_fingerprint" not in manifest:
            log.warning(
                "%s records no ID-token secret (loaded before veil recorded it): the graph "
                "keys its records with this process's secret, unchecked",
                run_dir / run,
            )
            continue
        secret = id_token_secret() if secret is None else secret
        rundir.check_id_secret(run_dir / run, secret, then)
    return secret


def _read_all(run_dir: Path, runs: list[str], name: str) -> pd.DataFrame:
    frames = []
    for run in runs:
        frame = rundir.table(run_dir / run, name)
        frame.insert(0, "run", run)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _load_id(run_dir: Path, runs: list[str]) -> str:
    """Same run, same ID: a digest of the entities and of every contributing manifest and
    fact table (two runs with the same records but other facts, e.g. a corrected date, must
    not share an ID, or the load would keep the old facts as if current)."""
    digest = hashlib.sha256(rundir.path(run_dir, "entities").read_bytes())
    for run in runs:
        digest.update((run_dir / run / rundir.MANIFEST).read_bytes())
        for name in _FACT_TABLES:
            path = rundir.path(run_dir / run, name)
            if path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _mention_ref(frame: pd.DataFrame) -> pd.Series:
    return frame["source"] + ":" + frame["record_id"] + ":" + frame["slot"]


def _with_entity(
    mentions: pd.DataFrame, entities: pd.DataFrame, columns: list[str]
) -> pd.DataFrame:
    """The mentions' `columns` with their entity and mention reference (only the columns
    used: every filter and sort of a wide frame copies all its string columns)."""
    merged = mentions[[*MENTION_KEY, *columns]].merge(
        entities[[*MENTION_KEY, "entity_id"]], on=MENTION_KEY, how="inner"
    )
    merged["mention"] = _shown_refs(_mention_ref(merged))
    return merged


def _shown_refs(refs: pd.Series) -> pd.Series:
    """Mention references with any resident ID in the record key masked."""
    holding = _may_hold_id(refs)
    if not holding.any():
        return refs
    out = refs.astype(object).copy()
    out[holding] = [masked_resident_ids(v) for v in refs[holding].tolist()]
    return out


def _most_common(frame: pd.DataFrame, column: str, prefer: pd.Series | None = None) -> pd.Series:
    """Per entity, the value most mentions agree on (ties: the preferred rows, then the
    smallest value, so the choice is the same on every run). Counted on integer codes:
    pandas' groupby and sort on string columns cost seconds at 100k entities."""
    rows = frame[["entity_id", column]].dropna()
    weight = np.where(prefer.loc[rows.index], 1000, 1) if prefer is not None else None
    entity, entities, value, values = _codes(rows, column)
    pair, inverse = np.unique(entity * len(values) + value, return_inverse=True)
    votes = np.bincount(inverse, weights=weight, minlength=len(pair))
    entity, value = np.divmod(pair, max(len(values), 1))
    order = np.lexsort((value, -votes, entity))
    first = order[_starts(entity[order])]
    return pd.Series(
        values.take(value[first]),
        index=pd.Index(entities.take(entity[first]), name="entity_id"),
        name=column,
    )


def _distinct_lists(frame: pd.DataFrame, column: str, distinct: bool = True) -> pd.Series:
    """Per entity, its distinct (or all) values of `column`, sorted (on integer codes)."""
    entity, entities, value, values = _codes(frame[["entity_id", column]].dropna(), column)
    pair = entity * len(values) + value
    pair = np.unique(pair) if distinct else np.sort(pair)
    entity, value = np.divmod(pair, max(len(values), 1))
    starts = _starts(entity)
    items = values.take(value).to_numpy(dtype=object).tolist()
    ends = np.r_[starts[1:], len(entity)][: len(starts)].tolist()
    return pd.Series(
        [items[a:b] for a, b in zip(starts.tolist(), ends, strict=True)],
        index=pd.Index(entities.take(entity[starts]), name="entity_id"),
        dtype=object,
    )


def _codes(rows: pd.DataFrame, column: str) -> tuple[np.ndarray, pd.Index, np.ndarray, pd.Index]:
    """Sorted factorisations of the rows' entity IDs and of `column`: code order is value
    order, so sorting codes sorts the values."""
    entity, entities = pd.factorize(rows["entity_id"], sort=True)
    value, values = pd.factorize(rows[column], sort=True)
    return entity.astype(np.int64), pd.Index(entities), value.astype(np.int64), pd.Index(values)


def _starts(sorted_codes: np.ndarray) -> np.ndarray:
    """Positions where a run of equal codes begins."""
    if not len(sorted_codes):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])


def _persons(mentions: pd.DataFrame, entities: pd.DataFrame) -> pd.DataFrame:
    columns = ["name", "id_status", "id_token", "id_display", "birth_date", "sex"]
    m = _with_entity(mentions, entities, columns)
    with_id = m["id_status"] == "valid"
    out = pd.DataFrame(index=pd.Index(sorted(m["entity_id"].unique()), name="entity_id"))
    out["name"] = _most_common(m, "name", prefer=with_id)
    out["names"] = _distinct_lists(m, "name")
    out["id_tokens"] = _distinct_lists(m[with_id], "id_token")
    m["id_display"] = m["id_display"].map(display_mask, na_action="ignore")
    out["id_masks"] = _distinct_lists(m, "id_display")
    # The year, never the date: the published 6+4 mask hides exactly the birth date, so a
    # mask and a date side by side on one node would be the whole resident ID.
    out["birth_year"] = pd.to_datetime(_most_common(m, "birth_date")).dt.year.astype("Int64")
    out["sex"] = _most_common(m, "sex")
    out["mentions"] = _distinct_lists(m, "mention", distinct=False)
    out["sources"] = _distinct_lists(m, "source")
    return _lists_filled(out.reset_index(), ["names", "id_tokens", "id_masks", "sources"])


def _companies(mentions: pd.DataFrame, entities: pd.DataFrame) -> pd.DataFrame:
    valid = {"uscc": "uscc_status", "org_code": "org_code_status", "reg_no": "reg_no_status"}
    chosen = ["region_code", "industry_code", "established", "status", "address", "ended"]
    columns = ["name", "former_names", *valid, *valid.values(), *chosen, "registered_capital"]
    m = _with_entity(mentions, entities, columns)
    registry = m["established"].notna()
    out = pd.DataFrame(index=pd.Index(sorted(m["entity_id"].unique()), name="entity_id"))
    out["name"] = _most_common(m, "name", prefer=registry)
    out["names"] = _distinct_lists(m, "name")
    former = m[["entity_id", "former_names"]].explode("former_names")
    out["former_names"] = _distinct_lists(former.dropna(), "former_names")
    for column, status in valid.items():
        out[column] = _most_common(m.loc[m[status] == "valid", ["entity_id", column]], column)
    for column in [*chosen, "registered_capital"]:
        out[column] = _most_common(m, column, prefer=registry)
    out["mentions"] = _distinct_lists(m, "mention", distinct=False)
    out["sources"] = _distinct_lists(m, "source")
    return _lists_filled(out.reset_index(), ["names", "former_names", "sources"])


#: company_name_keys' lists -> the Company properties that hold them, each a string with
#: its items between bars (`|a|b|`): a TEXT index serves `CONTAINS '|key|'`, which is
#: membership, while no Neo4j index serves membership in a list property.
NAME_KEYS = {"keys": "name_keys", "sounds": "name_sounds", "forms": "name_forms"}


def _with_name_keys(companies: pd.DataFrame, run_dir: Path) -> pd.DataFrame:
    """`companies` with what finds each by name (`veil link`'s company_name_keys); null
    for a run linked before the table existed, whose companies only codes find."""
    if not rundir.exists(run_dir, "company_name_keys"):
        return companies.assign(**dict.fromkeys(NAME_KEYS.values()))
    keys = rundir.table(run_dir, "company_name_keys")
    for column in NAME_KEYS:
        keys[column] = [
            "|" + "|".join(values) + "|" if len(values) else None for values in keys[column]
        ]
    out = companies.merge(keys.rename(columns=NAME_KEYS), on="entity_id", how="left")
    for column in NAME_KEYS.values():  # a company the table lacks: NaN -> null
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out


def _lists_filled(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Missing lists as empty ones (a comprehension: Series.apply costs twice as much)."""
    for column in columns:
        frame[column] = pd.Series(
            [list(v) if isinstance(v, list | np.ndarray) else [] for v in frame[column].tolist()],
            index=frame.index,
            dtype=object,
        )
    return frame


def _key(*parts: pd.Series) -> pd.Series:
    """A short stable key for a fact: the graph MERGEs on it, so reloads never duplicate."""
    joined = parts[0].astype(str)
    for part in parts[1:]:
        joined = joined + "\x1f" + part.astype(str)
    return pd.Series(
        [hashlib.sha1(s.encode()).hexdigest()[:20] for s in joined.tolist()], index=joined.index
    )


def _tenures(roles: pd.DataFrame, resolve: Resolve) -> pd.DataFrame:
    """Role rows folded into tenures (see the module docstring)."""
    if "observed_on" not in roles.columns:  # a run loaded before roles had the column
        roles = roles.assign(observed_on=None)
    r = roles[["role", "valid_from", "valid_to", "source", "record_id", "observed_on"]].assign(
        person_id=resolve(roles, "person_slot"), company_id=resolve(roles, "company_slot")
    )
    r = r.dropna(subset=["person_id", "company_id"])
    columns = [
        "person_id",
        "company_id",
        "role",
        "valid_from",
        "valid_to",
        "observed_first",
        "observed_last",
        "sources",
        "record_ids",
        "key",
    ]
    if r.empty:
        return pd.DataFrame(columns=columns)
    group = ["person_id", "company_id", "role"]
    r, codes = _sorted(r, [*group, "source", "record_id"])
    same = np.all(codes[:3, 1:] == codes[:3, :-1], axis=0)  # as the row before, in group
    several = pd.Series(np.r_[same, False] | np.r_[False, same], index=r.index)
    single = r[~several].copy()
    single["observed_first"] = single["observed_last"] = single["observed_on"]
    for column, values in (("sources", "source"), ("record_ids", "record_id")):
        single[column] = pd.Series(
            [[v] for v in single[values].tolist()], index=single.index, dtype=object
        )
    folded: list[dict[str, Any]] = []
    rows = r.loc[several, list(RoleRow._fields)]
    batch: list[RoleRow] = []
    for record in rows.itertuples(index=False, name=None):
        row = RoleRow._make(record)
        if batch and row[:3] != batch[0][:3]:
            folded.extend(_fold(batch))
            batch = []
        batch.append(row)
    if batch:
        folded.extend(_fold(batch))
    out = pd.concat(
        [
            single,
            pd.DataFrame(folded, columns=columns[:-1]),  # all but the key
        ],
        ignore_index=True,
    )
    out, _ = _sorted(out, [*group, "valid_from"])  # undated (open) starts first
    start = out["valid_from"].astype(str).where(out["valid_from"].notna(), "open")
    out["key"] = _key(out["person_id"], out["company_id"], out["role"], start)
    return out[columns]


def _sorted(frame: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """`frame` stably sorted by `columns`, missing values first, and the sorted codes (one
    row per column). Sorting integer codes: pandas' multi-column sort of string columns
    costs seconds at 500k rows."""
    codes = np.stack([pd.factorize(frame[c], sort=True)[0] for c in columns])
    order = np.lexsort(codes[::-1])
    return frame.take(order).reset_index(drop=True), codes[:, order]


class RoleRow(NamedTuple):
    """One role record of a (person, company, role), as tenures are folded from them."""

    person_id: str
    company_id: str
    role: str
    valid_from: Any  # a date, or missing (None / NaT)
    valid_to: Any
    source: str
    record_id: str
    observed_on: Any


def _fold(rows: list[RoleRow]) -> list[dict[str, Any]]:
    """One (person, company, role)'s rows as tenures: each start pairs with the first end
    after it; undated rows ("in office", from a snapshot) confirm the latest tenure; a row
    observed on a day (a dated record printing the role) joins the tenure in force that
    day, else the latest one begun by then, and dates it."""
    person, company, role = rows[0].person_id, rows[0].company_id, rows[0].role
    dated = [r for r in rows if _given(r.valid_from)]
    rest = [r for r in rows if not _given(r.valid_from)]
    starts = sorted(dated, key=lambda r: r.valid_from)
    ends = sorted((r for r in rest if _given(r.valid_to)), key=lambda r: r.valid_to)
    undated = [r for r in rest if not _given(r.valid_to) and not _given(r.observed_on)]
    observed = [r for r in rest if not _given(r.valid_to) and _given(r.observed_on)]
    tenures = [
        {
            "valid_from": r.valid_from,
            "valid_to": r.valid_to if _given(r.valid_to) else None,
            "provenance": [(r.source, r.record_id)],
            "observed": [r.observed_on] if _given(r.observed_on) else [],
        }
        for r in starts
    ]
    for r in ends:
        open_before = [
            t for t in tenures if t["valid_to"] is None and t["valid_from"] <= r.valid_to
        ]
        if open_before:
            open_before[-1]["valid_to"] = r.valid_to
            open_before[-1]["provenance"].append((r.source, r.record_id))
        else:
            tenures.insert(
                0,
                {
                    "valid_from": None,
                    "valid_to": r.valid_to,
                    "provenance": [(r.source, r.record_id)],
                    "observed": [],
                },
            )
    if (undated or observed) and not tenures:
        tenures.append({"valid_from": None, "valid_to": None, "provenance": [], "observed": []})
    if undated:
        tenures[-1]["provenance"].extend((r.source, r.record_id) for r in undated)
    for r in observed:
        tenure = _tenure_on(tenures, r.observed_on)
        tenure["provenance"].append((r.source, r.record_id))
        tenure["observed"].append(r.observed_on)
    for t in tenures:
        provenance = sorted(set(t.pop("provenance")))
        seen = sorted(t.pop("observed"))
        t.update(
            observed_first=seen[0] if seen else None,
            observed_last=seen[-1] if seen else None,
            person_id=person,
            company_id=company,
            role=role,
            sources=[s for s, _ in provenance],
            record_ids=[k for _, k in provenance],
        )
    return tenures


def _tenure_on(tenures: list[dict[str, Any]], day: Any) -> dict[str, Any]:
    """The tenure in force on `day` (open bounds count as in force), else the latest one
    begun by then, else the first."""
    t: dict[str, Any]  # mypy types reversed() over a list of Any-valued dicts as Any
    for t in reversed(tenures):
        if in_force(t["valid_from"], t["valid_to"], day):
            return t
    begun = [t for t in tenures if t["valid_from"] is not None and t["valid_from"] <= day]
    return begun[-1] if begun else tenures[0]


def _given(value: Any) -> bool:
    return value is not None and not pd.isna(value)


def _holdings(rows: pd.DataFrame, resolve: Resolve, keyed: Keyed) -> pd.DataFrame:
    h = rows.copy()
    h["holder_id"] = resolve(h, "holder_slot")
    h["company_id"] = resolve(h, "company_slot")
    h = h.dropna(subset=["holder_id", "company_id"])
    h["key"] = _key(h["source"], keyed(h["record_id"]), h["holder_slot"])
    return h[
        [
            "holder_id",
            "holder_kind",
            "company_id",
            "ratio",
            "subscribed_capital",
            "valid_from",
            "valid_to",
            "source",
            "record_id",
            "key",
        ]
    ].reset_index(drop=True)


def _resolved_records(
    rows: pd.DataFrame, resolve: Resolve, keyed: Keyed, slot: str, entity: str
) -> pd.DataFrame:
    """A record table with the entity in `slot` as column `entity` and a `key` to MERGE
    on (a digest of source and the keyed record_id); records whose slot resolves to
    nothing drop."""
    out = rows.copy()
    out[entity] = resolve(out, slot)
    out = out.dropna(subset=[entity])
    out["key"] = _key(out["source"], keyed(out["record_id"]))
    return out


def _punishments(rows: pd.DataFrame, resolve: Resolve, keyed: Keyed) -> pd.DataFrame:
    p = _resolved_records(rows, resolve, keyed, "party_slot", "party_id")
    flat = p[["run", "source", "record_id", "responsible_slots"]].explode("responsible_slots")
    flat = flat.dropna(subset=["responsible_slots"])
    flat["person_id"] = resolve(flat, "responsible_slots")
    responsible = flat.dropna(subset=["person_id"]).groupby(level=0)["person_id"].agg(list)
    p["responsible_ids"] = responsible.reindex(p.index)
    return _lists_filled(p, ["responsible_ids", "categories"])


def _list_entries(rows: pd.DataFrame, resolve: Resolve, keyed: Keyed) -> pd.DataFrame:
    return _resolved_records(rows, resolve, keyed, "party_slot", "party_id")


def _licences(rows: pd.DataFrame, resolve: Resolve, keyed: Keyed) -> pd.DataFrame:
    return _resolved_records(rows, resolve, keyed, "holder_slot", "holder_id")


def _named(entities: pd.DataFrame, records: list[pd.DataFrame]) -> pd.DataFrame:
    """Persons a punishment, list entry or licence names beyond its party or holder (the
    legal representative written on the decision, for instance): kept as evidence."""
    used = []
    for frame in records:
        for column in ("party_slot", "holder_slot"):
            if column in frame:
                used.append(
                    frame[["run", "source", "record_id", column]].rename(columns={column: "slot"})
                )
        if "responsible_slots" in frame:
            flat = frame[["run", "source", "record_id", "responsible_slots"]]
            used.append(
                flat.explode("responsible_slots")
                .dropna()
                .rename(columns={"responsible_slots": "slot"})
            )
    used_keys = pd.concat(used, ignore_index=True).drop_duplicates()
    fact_records = pd.concat(
        [f[["run", "source", "record_id", "key"]] for f in records], ignore_index=True
    ).drop_duplicates(["run", "source", "record_id"])
    people = entities[entities["entity_type"] == "person"]
    named = people.merge(fact_records, on=["run", "source", "record_id"], how="inner")
    named = named.merge(used_keys.assign(_used=True), on=MENTION_KEY, how="left")
    named = named[named["_used"].isna()]
    return (
        named[["key", "entity_id", "slot", "source", "record_id"]]
        .rename(columns={"key": "record_key", "entity_id": "person_id"})
        .reset_index(drop=True)
    )
