"""Ground-truth tables written under DIR/truth/ (Parquet), and how they are built.

Entity tables
- persons: true_person_id, name, surname, given_name, sex (M/F), birth_date,
  id_number (the true 18-character resident ID), birth_region, origin (ordinary |
  scenario: planted for the art. 135 cases), n_mentions.
- companies: true_company_id, name (current), former_names (list, most recent first),
  uscc (null for old companies that never got one), org_code (9 chars), reg_no (15-digit
  legacy number, null after 2015-10), region_code, industry_code (GB/T 4754), is_food,
  established, status, registered_capital (万元), holding_level (0 operating, 1-5 holding
  layers), origin.

Mentions: one row per mention in every accepted extract row (never for planted broken rows)
- person_mentions: source, record_id, slot, true_person_id, name_form (canonical,
  traditional, homophone, typo, look_alike, pinyin), id_form (full, legacy15, masked_<pattern> as in
  world/habits.py, missing).
- company_mentions: source, record_id, slot, true_company_id, name_form (canonical,
  former, bracketed, bracketed_halfwidth, legal_form, traditional, homophone, romanised).
  record_id is the record key as the loader reads it; composite keys joined with "|";
  `each:` list slots are responsible[0], responsible[1], ...

Relations
- roles: person_id, company_id, role (canonical per config/vocabulary.yaml; a combined
  title such as 执行董事兼总经理 gives one row per role), title (raw), valid_from,
  valid_to (null: still in office).
- shareholdings: company_id, holder_kind (person/company), holder_id, share (fraction),
  basis_points, valid_from.
- ownership: company_id, person_id, look_through_share (> 0), solving L = P (I - A)^-1.
- beneficial_owners: company_id, person_id, look_through_share (>= 0.25).
- controllers: company_id, person_id (null when none), basis (majority_chain,
  look_through, none), look_through_share (of the controller; null when none).
- punishments: decision_number, company_id, decision_date, category (raw),
  revocation (bool), legal_rep_id (at decision date), responsible_ids (list).

Art. 135 (rule spelled out in world/alerts.py)
- bans: person_id, decision_number, decision_date, trigger_company_id, ban_end, basis
  (legal_rep, responsible, legal_rep+responsible).
- alerts_art135: person_id, company_id, decision_number, decision_date,
  trigger_company_id, ban_end, role (legal_rep, director, supervisor, manager,
  actual_controller, beneficial_owner), role_start, variant (direct_legal_rep,
  via_holding, officer, name_variant), planted.
- near_misses: kind (non_food, after_ban, namesake, warning_only), person_id, company_id,
  decision_number, decision_date, trigger_company_id, role, role_start. None alerts.

Quarantine expectations
- broken_rows: source, file (relative to DIR), line, record_id (null when the row cannot
  be read or has no key), field (the column; "a|b" for a composite key), reason.
  line: CSV header = line 1; JSONL first record = line 1; XLSX sheet row (header row 1);
  Parquet 1-based row number.
- invalid_fields: source, record_id, slot, field (uscc or id_number), reason
  (invalid_check_digit). Those rows are accepted and their mentions are in the truth.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from config.settings import CONFIG_DIR
from world.build import World
from world.industries import food_mask

_DATE_COLUMNS = (
    "birth_date",
    "established",
    "valid_from",
    "valid_to",
    "decision_date",
    "ban_end",
    "role_start",
)


@cache
def _id_table(prefix: str, size: int) -> np.ndarray:
    """P0000001... for indices 0..size-1, then None (looked up by -1)."""
    return np.array([f"{prefix}{i:07d}" for i in range(1, size + 1)] + [None], dtype=object)


def _ids(prefix: str, idx: np.ndarray) -> np.ndarray:
    """IDs like P0000001 for 0-based indices; None for -1."""
    idx = np.asarray(idx, dtype=np.int64)
    if not idx.size:
        return np.empty(0, dtype=object)
    size = 1 << int(idx.max() + 1).bit_length()  # few sizes, so few tables
    return _id_table(prefix, size)[np.where(idx < 0, -1, idx)]


def person_ids(idx: np.ndarray) -> np.ndarray:
    return _ids("P", idx)


def company_ids(idx: np.ndarray) -> np.ndarray:
    return _ids("C", idx)


def _title_roles() -> dict[str, list[str]]:
    """Raw title -> canonical roles, from the vocabulary the loader reads titles with."""
    vocab = yaml.safe_load((CONFIG_DIR / "vocabulary.yaml").read_text(encoding="utf-8"))
    return {k: v if isinstance(v, list) else [v] for k, v in vocab["roles"].items()}


def tables(
    w: World, person_mentions: pd.DataFrame, company_mentions: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """Every truth table except broken_rows and invalid_fields (the extracts add those)."""
    c, p = w.companies, w.people
    counts = person_mentions["person"].value_counts()
    persons = pd.DataFrame(
        {
            "true_person_id": p["person_id"],
            "name": p["name"],
            "surname": p["surname"],
            "given_name": p["given"],
            "sex": p["sex"],
            "birth_date": p["birth"],
            "id_number": p["id18"],
            "birth_region": p["birth_region"],
            "origin": p["origin"],
            "n_mentions": counts.reindex(np.arange(len(p))).fillna(0).astype(np.int64).to_numpy(),
        }
    )
    former = [
        [x for x in (a, b) if isinstance(x, str)]
        for a, b in zip(c["former1"].tolist(), c["former2"].tolist(), strict=True)
    ]
    companies = pd.DataFrame(
        {
            "true_company_id": c["company_id"],
            "name": c["name"],
            "former_names": former,
            "uscc": c["uscc"],
            "org_code": c["org_code"],
            "reg_no": c["reg_no"],
            "region_code": c["region_code"],
            "industry_code": c["industry"],
            "is_food": food_mask(c["industry"].to_numpy()),
            "established": c["established"],
            "status": c["status"],
            "registered_capital": c["capital"].astype(np.int64),
            "holding_level": c["level"].astype(np.int64),
            "origin": c["origin"],
        }
    )
    titles = _title_roles()
    t, o = w.tenures, w.officers
    roles = pd.concat(
        [
            pd.DataFrame(
                {
                    "person_id": person_ids(t["person"]),
                    "company_id": company_ids(t["company"]),
                    "role": "legal_rep",
                    "title": "法定代表人",
                    "valid_from": t["valid_from"],
                    "valid_to": t["valid_to"],
                }
            ),
            pd.DataFrame(
                {
                    "person_id": person_ids(o["person"]),
                    "company_id": company_ids(o["company"]),
                    "role": o["title"].map(titles),
                    "title": o["title"],
                    "valid_from": o["appointed"],
                    "valid_to": pd.NaT,
                }
            ).explode("role"),
        ],
        ignore_index=True,
    )
    h = w.holdings
    is_person = (h["holder_kind"] == "person").to_numpy()
    shareholdings = pd.DataFrame(
        {
            "company_id": company_ids(h["company"]),
            "holder_kind": h["holder_kind"],
            "holder_id": np.where(is_person, person_ids(h["holder"]), company_ids(h["holder"])),
            "share": h["share"],
            "basis_points": h["bp"].astype(np.int64),
            "valid_from": h["subscribed"],
        }
    )
    own = pd.DataFrame(
        {
            "company_id": company_ids(w.ownership["company"]),
            "person_id": person_ids(w.ownership["person"]),
            "look_through_share": w.ownership["look_through_share"],
        }
    )
    owners = pd.DataFrame(
        {
            "company_id": company_ids(w.owners["company"]),
            "person_id": person_ids(w.owners["person"]),
            "look_through_share": w.owners["look_through_share"],
        }
    )
    ctrl = pd.DataFrame(
        {
            "company_id": company_ids(w.controllers["company"]),
            "person_id": person_ids(w.controllers["person"]),
            "basis": w.controllers["basis"],
            "look_through_share": w.controllers["look_through_share"],
        }
    )
    pun = w.punishments
    punishments = pd.DataFrame(
        {
            "decision_number": pun["decision_no"],
            "company_id": company_ids(pun["company"]),
            "decision_date": pun["date"],
            "category": pun["category"],
            "revocation": pun["revocation"].astype(bool),
            "legal_rep_id": person_ids(pun["rep"]),
            "responsible_ids": _id_lists(pun["responsible"].tolist()),
        }
    )
    return {
        "persons": persons,
        "companies": companies,
        "roles": roles,
        "shareholdings": shareholdings,
        "ownership": own,
        "beneficial_owners": owners,
        "controllers": ctrl,
        "punishments": punishments,
        "bans": _bans(w),
        "alerts_art135": _alerts(w),
        "near_misses": _near(w),
        "person_mentions": _mentions(person_mentions, "person", "true_person_id", person_ids),
        "company_mentions": _mentions(company_mentions, "company", "true_company_id", company_ids),
    }


def _id_lists(lists: list[list[int]]) -> list[list[str]]:
    flat = person_ids(np.array([x for lst in lists for x in lst], dtype=np.int64))
    bounds = np.r_[0, np.cumsum([len(lst) for lst in lists])]
    return [list(flat[a:b]) for a, b in itertools.pairwise(bounds)]


def _trigger(w: World, trigger: pd.Series) -> dict[str, np.ndarray]:
    pun = w.punishments
    rows = trigger.to_numpy(dtype=np.int64)
    return {
        "decision_number": pun["decision_no"].to_numpy()[rows],
        "decision_date": pun["date"].to_numpy(dtype="datetime64[D]")[rows],
        "trigger_company_id": company_ids(pun["company"].to_numpy()[rows]),
    }


def _bans(w: World) -> pd.DataFrame:
    b = w.bans
    return pd.DataFrame(
        {
            "person_id": person_ids(b["person"]),
            **_trigger(w, b["trigger"]),
            "ban_end": b["ban_end"],
            "basis": b["basis"],
        }
    )


def _alerts(w: World) -> pd.DataFrame:
    a = w.alerts
    return pd.DataFrame(
        {
            "person_id": person_ids(a["person"]),
            "company_id": company_ids(a["company"]),
            **_trigger(w, a["trigger"]),
            "ban_end": a["ban_end"],
            "role": a["role"],
            "role_start": a["start"],
            "variant": a["variant"],
            "planted": a["planted"].astype(bool),
        }
    )


def _near(w: World) -> pd.DataFrame:
    n = w.near_misses
    return pd.DataFrame(
        {
            "kind": n["kind"],
            "person_id": person_ids(n["person"]),
            "company_id": company_ids(n["company"]),
            **_trigger(w, n["trigger"]),
            "role": n["role"],
            "role_start": n["role_start"],
        }
    )


def _mentions(
    frame: pd.DataFrame, column: str, true_column: str, to_id: Callable[[np.ndarray], np.ndarray]
) -> pd.DataFrame:
    out = frame.rename(columns={column: true_column}).copy()
    out[true_column] = to_id(out[true_column].to_numpy())
    first = ["source", "record_id", "slot", true_column]
    return out[first + [c for c in out.columns if c not in first]]


def write(directory: Path, name: str, frame: pd.DataFrame) -> None:
    """One truth table; dates as date32, everything else as pandas gives it."""
    frame = frame.reset_index(drop=True).copy()
    fields = []
    for col in frame.columns:
        if col in _DATE_COLUMNS:
            frame[col] = pd.Series(frame[col].to_numpy(dtype="datetime64[D]")).dt.date
            fields.append(pa.field(col, pa.date32()))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for f in fields:
        table = table.set_column(
            table.schema.get_field_index(f.name), f, table.column(f.name).cast(pa.date32())
        )
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table.replace_schema_metadata(None), directory / f"{name}.parquet", compression="zstd"
    )
