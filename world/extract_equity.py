"""Shareholder filings (CSV in GB18030) and key personnel (XLSX, keyed by company name).

Shareholders carry the holder's kind, name and identifier (resident ID or USCC) and a
ratio written three ways ("35%", "0.35", "35.00"), one per company as world/habits.py
mixes them: a whole holding is "1" in the fraction style and 1% is "1.00" in the
percentage style, so a bare number can be read two ways and only the company's total
decides. Key personnel name the company only by its name, never its USCC; some leave
the start date blank.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from world import calendar, ids, noise
from world.build import World
from world.calendar import excel_serial
from world.extract import (
    BAD_DATE,
    BAD_RATIO,
    RATIO_TOO_HIGH,
    Breaker,
    Extract,
    mentions,
    sequence_keys,
    table,
)
from world.habits import draw
from world.ids import USCC_ALPHABET

PERSON_KINDS = ("自然人股东", "自然人")
COMPANY_KINDS = ("企业法人", "法人股东")


def ratio_text(bp: np.ndarray, forms: np.ndarray) -> np.ndarray:
    """Shares (basis points) as filed in each row's form: 35% / 0.35 (a whole holding: 1)
    / 35.00 (1%: 1.00)."""
    out = []
    for b, f in zip(bp.tolist(), forms.tolist(), strict=True):
        if f == "35%":
            out.append(f"{b / 100:g}%")
        elif f == "0.35":
            out.append(f"{b / 10000:.4f}".rstrip("0").rstrip("."))
        else:
            out.append(f"{b / 100:.2f}")
    return np.array(out, dtype=object)


def shareholders(w: World, rng: np.random.Generator) -> Extract:
    h = w.holdings
    n = len(h)
    company = h["company"].to_numpy()
    is_person = (h["holder_kind"] == "person").to_numpy()
    holder = h["holder"].to_numpy()
    c = w.companies
    keys, spare = sequence_keys(rng, n, "GD", 12)
    name, name_form = noise.company_names(c, company, None, rng, noise.QUIET_COMPANY)
    p_idx = np.where(is_person, holder, 0)
    c_idx = np.where(is_person, 0, holder)
    p_name, p_form = noise.person_names(w.people, p_idx, rng)
    shares = w.habits.shareholder_ids
    p_id, p_id_form = noise.person_ids(
        w.people,
        p_idx,
        rng,
        shares.get("full", 0.0),
        shares.get("legacy15", 0.0),
        shares.get("masked", 0.0),
        w.habits,
    )
    c_name, c_form = noise.company_names(c, c_idx, None, rng)
    c_uscc = noise.usccs(c, c_idx, rng, 0.95)
    kind_text = np.where(
        is_person,
        np.array(PERSON_KINDS, dtype=object)[(rng.random(n) < 0.2).astype(int)],
        np.array(COMPANY_KINDS, dtype=object)[(rng.random(n) < 0.3).astype(int)],
    )
    bp = h["bp"].to_numpy()
    capital = c["capital"].to_numpy()[company] * bp / 10000
    frame = table(
        {
            "记录编号": keys,
            "企业名称": name,
            "统一社会信用代码": noise.usccs(c, company, rng, 0.97),
            "股东名称": np.where(is_person, p_name, c_name),
            "股东类型": kind_text,
            "证照/证件号码": np.where(is_person, p_id, c_uscc),
            "认缴出资额（万元）": np.array([f"{v:.4f}" for v in capital.tolist()], dtype=object),
            "出资比例": ratio_text(bp, draw(w.habits.ratio_forms, len(c), rng)[company]),
            "认缴出资日期": calendar.mixed(h["subscribed"].to_numpy(dtype="datetime64[D]"), rng),
        }
    )
    order = np.argsort(keys, kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    rid = keys[order]
    is_person, holder = is_person[order], holder[order]
    persons = mentions(
        rid[is_person],
        "holder",
        holder[is_person],
        np.ones(int(is_person.sum()), dtype=bool),
        p_form[order][is_person],
        p_id_form[order][is_person],
    )
    companies = pd.concat(
        [
            mentions(
                rid,
                "company",
                company[order],
                np.ones(n, dtype=bool),
                name_form[order],
                entity_column="company",
            ),
            mentions(
                rid[~is_person],
                "holder",
                holder[~is_person],
                np.ones(int((~is_person).sum()), dtype=bool),
                c_form[order][~is_person],
                entity_column="company",
            ),
        ],
        ignore_index=True,
    )
    invalid = _corrupt(frame, rid, is_person, p_id_form[order], rng)
    breaker = Breaker(frame, rid, ["记录编号"], lambda: {"记录编号": "GD" + spare()}, rng)
    breaker.bad_value("出资比例", BAD_RATIO, "unparseable_ratio")
    breaker.bad_value("出资比例", RATIO_TOO_HIGH, "ratio_out_of_range")
    breaker.blank_mention(["股东名称", "证照/证件号码"], "股东名称")
    breaker.duplicate_key()
    spec = {
        "description": "股东及出资信息（认缴）",
        "agency": "市场监督管理局（企业信用信息公示）",
        "record_key": "记录编号",
        "mentions": {
            "company": {
                "kind": "company",
                "fields": {"name": "企业名称", "uscc": "统一社会信用代码"},
            },
            "holder": {
                "kind_from": "股东类型",
                "kinds": {
                    **dict.fromkeys(PERSON_KINDS, "person"),
                    **dict.fromkeys(COMPANY_KINDS, "company"),
                },
                "fields": {"name": "股东名称", "identifier": "证照/证件号码"},
            },
        },
        "facts": [
            {
                "type": "shareholding",
                "holder": "holder",
                "company": "company",
                "ratio": "出资比例",
                "ratio_scale": "auto",
                "subscribed_capital": "认缴出资额（万元）",
                "valid_from": "认缴出资日期",
            }
        ],
    }
    return Extract(
        "shareholders",
        "extracts/equity/shareholders.csv",
        "csv",
        "gb18030",
        spec,
        frame,
        persons,
        companies,
        invalid,
        breaker.breaks,
    )


def _corrupt(
    frame: pd.DataFrame,
    rid: np.ndarray,
    is_person: np.ndarray,
    id_form: np.ndarray,
    rng: np.random.Generator,
) -> list[dict]:
    col = frame.columns.get_loc("证照/证件号码")
    values = frame["证照/证件号码"].to_numpy()
    out = []
    person_rows = np.flatnonzero(is_person & (id_form == "full"))
    company_rows = np.flatnonzero(~is_person & (values != ""))
    for rows, alphabet, field in (
        (person_rows, "0123456789X", "id_number"),
        (company_rows, USCC_ALPHABET, "uscc"),
    ):
        if rows.size:
            i = int(rng.choice(rows))
            frame.iat[i, col] = ids.wrong_check(values[i], rng, alphabet)
            out.append({"record_id": rid[i], "slot": "holder", "field": field})
    return out


def key_personnel(w: World, rng: np.random.Generator, max_rows: int) -> Extract:
    o = w.officers
    n = len(o)
    company = o["company"].to_numpy()
    person = o["person"].to_numpy()
    c = w.companies
    name, name_form = noise.company_names(c, company, None, rng, noise.QUIET_COMPANY)
    stale = (rng.random(n) < 0.3) & pd.notna(c["former1"].to_numpy()[company])
    name = np.where(stale, c["former1"].to_numpy()[company], name)
    name_form = np.where(stale, "former", name_form)
    p_name, p_form = noise.person_names(w.people, person, rng)
    noise.look_alike_names(w.people, person, p_name, p_form, w.habits.name_look_alike, rng)
    appointed = o["appointed"].to_numpy(dtype="datetime64[D]")
    cells = calendar.mixed(appointed, rng, (0.55, 0.0, 0.15))
    as_cell = rng.random(n) < 0.6
    serial = excel_serial(appointed)
    dates = np.array(
        [
            int(s) if a else t
            for s, a, t in zip(serial.tolist(), as_cell.tolist(), cells.tolist(), strict=True)
        ],
        dtype=object,
    )
    dates[rng.random(n) < w.habits.blank_start] = None
    order = np.lexsort((o["title"].to_numpy().astype(str), name.astype(str)))
    keys = np.arange(1, n + 1)
    columns = {"序号": keys.astype(object), "企业名称": name[order], "姓名": p_name[order]}
    person_fields = {"name": "姓名"}
    id_form = None
    if w.habits.key_personnel_carry_ids():
        shares = w.habits.key_personnel_ids
        p_id, id_form = noise.person_ids(
            w.people, person, rng, shares.get("full", 0.0), 0.0, shares.get("masked", 0.0), w.habits
        )
        columns["证件号码"] = p_id[order]
        id_form = id_form[order]
        person_fields["id_number"] = "证件号码"
    frame = table({**columns, "职务": o["title"].to_numpy()[order], "任职日期": dates[order]})
    rid = keys.astype(str).astype(object)
    persons = mentions(rid, "person", person[order], np.ones(n, dtype=bool), p_form[order], id_form)
    companies = mentions(
        rid,
        "company",
        company[order],
        np.ones(n, dtype=bool),
        name_form[order],
        entity_column="company",
    )
    spare = iter(range(n + 1, n + 100))
    breaker = Breaker(frame, rid, ["序号"], lambda: {"序号": next(spare)}, rng)
    breaker.missing_key()
    breaker.bad_value("任职日期", BAD_DATE, "unparseable_date")
    breaker.blank_mention([c for c in ("姓名", "证件号码") if c in frame.columns], "姓名")
    breaker.duplicate_key()
    files = "extracts/personnel/key_personnel_*.xlsx"
    spec = {
        "description": "主要人员信息（董事、监事、高级管理人员）；只有企业名称，"
        "没有统一社会信用代码",
        "agency": "市场监督管理局（企业信用信息公示）",
        "sheet": "主要人员",
        "record_key": "序号",
        "mentions": {
            "company": {"kind": "company", "fields": {"name": "企业名称"}},
            "person": {"kind": "person", "fields": person_fields},
        },
        "facts": [
            {
                "type": "role",
                "person": "person",
                "company": "company",
                "role": "职务",
                "valid_from": "任职日期",
            }
        ],
    }
    return Extract(
        "key_personnel",
        files,
        "xlsx",
        "utf-8",
        spec,
        frame,
        persons,
        companies,
        [],
        breaker.breaks,
        split_rows=max_rows,
    )
