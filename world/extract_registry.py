"""The market-regulation company registry and its legal-representative change log.

The registry is the one extract that carries every company: current name, former names,
identifiers (old companies: a 15-digit registration number, some without a USCC),
industry and the current legal representative with an ID. The change log gives each
change of legal representative as one row with the person before and after; the
registry's current legal representative is always the last change's new one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from world import calendar, ids, noise
from world.build import World
from world.extract import (
    BAD_DATE,
    Breaker,
    Extract,
    extra_field,
    mentions,
    sequence_keys,
    table,
    truncate_fields,
)
from world.ids import USCC_ALPHABET
from world.roles import current_reps

COMPANY_TYPE = {
    "有限公司": "有限责任公司（自然人投资或控股）",
    "有限责任公司": "有限责任公司（自然人投资或控股）",
    "股份有限公司": "股份有限公司（非上市、自然人投资或控股）",
}


def company_registry(w: World, rng: np.random.Generator) -> Extract:
    c = w.companies
    n = len(c)
    idx = np.arange(n)
    digits, spare = sequence_keys(rng, n, "", 10)
    region = c["region_code"].to_numpy()
    keys = region + digits
    rep, _ = current_reps(w.tenures, n)
    forced = {int(i): form for (i, slot), form in w.name_forms.items() if slot == "legal_rep"}
    rep_name, rep_form = noise.person_names(w.people, rep, rng, noise.REGISTRY_PERSON, forced)
    rep_id, id_form = noise.person_ids(w.people, rep, rng, full=0.94, legacy=0.03, masked=0.0)
    for i in forced:  # planted name variants keep their ID: the variant is the only hurdle
        rep_id[i], id_form[i] = w.people["id18"].to_numpy()[rep[i]], "full"
    former = [
        ";".join(x for x in (f1, f2) if isinstance(x, str))
        for f1, f2 in zip(c["former1"].tolist(), c["former2"].tolist(), strict=True)
    ]
    capital = c["capital"].to_numpy()
    capital_text = np.where(
        rng.random(n) < 0.2,
        np.char.add(capital.astype(str), "万元人民币").astype(object),
        capital.astype(str).astype(object),
    )
    frame = table(
        {
            "主体身份代码": keys,
            "统一社会信用代码": np.where(c["has_uscc"], c["uscc"], "").astype(object),
            "注册号": np.where(c["registry_reg_no"], c["reg_no"], "").astype(object),
            "企业名称": c["name"].to_numpy(),
            "曾用名": np.array(former, dtype=object),
            "企业类型": c["form"].map(COMPANY_TYPE).to_numpy(),
            "法定代表人": rep_name,
            "法定代表人证件号码": rep_id,
            "成立日期": calendar.mixed(
                c["established"].to_numpy(dtype="datetime64[D]"), rng, (0.8, 0.1, 0.1)
            ),
            "行业代码": _industry_codes(
                c["industry"].to_numpy(), w.habits.industry_without_letter, rng
            ),
            "住所": c["address"].to_numpy(),
            "登记状态": c["status"].to_numpy(),
            "注册资本（万元）": capital_text,
        }
    )
    order = np.argsort(keys, kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    rid = keys[order]
    ent, rep_o = idx[order], rep[order]
    persons = mentions(
        rid, "legal_rep", rep_o, np.ones(n, dtype=bool), rep_form[order], id_form[order]
    )
    companies = mentions(
        rid,
        "company",
        ent,
        np.ones(n, dtype=bool),
        np.full(n, "canonical", dtype=object),
        entity_column="company",
    )
    invalid = _corrupt(frame, rid, rng, id_form[order])
    spec = {
        "description": "企业登记信息：全部市场主体的登记事项与现任法定代表人",
        "agency": "市场监督管理局（企业登记）",
        "record_key": "主体身份代码",
        "mentions": {
            "company": {
                "kind": "company",
                "fields": {
                    "name": "企业名称",
                    "uscc": "统一社会信用代码",
                    "reg_no": "注册号",
                    "former_names": "曾用名",
                    "industry_code": "行业代码",
                    "established": "成立日期",
                    "address": "住所",
                    "status": "登记状态",
                    "registered_capital": "注册资本（万元）",
                },
            },
            "legal_rep": {
                "kind": "person",
                "fields": {"name": "法定代表人", "id_number": "法定代表人证件号码"},
            },
        },
        "facts": [
            {
                "type": "role",
                "person": "legal_rep",
                "company": "company",
                "role": {"const": "法定代表人"},
            }
        ],
    }
    breaker = Breaker(
        frame, rid, ["主体身份代码"], lambda: {"主体身份代码": "110105" + spare()}, rng
    )
    breaker.missing_key()
    breaker.duplicate_key()
    breaker.line_patch("wrong_column_count", truncate_fields())
    breaker.bad_value("成立日期", BAD_DATE, "unparseable_date")
    breaker.blank_mention(list(spec["mentions"]["company"]["fields"].values()), "企业名称")
    return Extract(
        "company_registry",
        "extracts/registry/company_registry.csv",
        "csv",
        "utf-8",
        spec,
        frame,
        persons,
        companies,
        invalid,
        breaker.breaks,
    )


def _industry_codes(
    codes: np.ndarray, without_letter: float, rng: np.random.Generator
) -> np.ndarray:
    """GB/T 4754 codes as filed: a share without the section letter ("1331" for C1331)."""
    drop = rng.random(codes.size) < without_letter
    return np.array(
        [
            c[1:] if d and isinstance(c, str) else c
            for c, d in zip(codes.tolist(), drop.tolist(), strict=True)
        ],
        dtype=object,
    )


def _corrupt(
    frame: pd.DataFrame, rid: np.ndarray, rng: np.random.Generator, id_form: np.ndarray
) -> list[dict]:
    """Wrong check characters on a few USCCs and IDs: the rows stay, the fields go invalid."""
    out = []
    has_uscc = np.flatnonzero(frame["统一社会信用代码"].to_numpy() != "")
    for i in rng.choice(has_uscc, size=2, replace=False).tolist():
        frame.iat[i, frame.columns.get_loc("统一社会信用代码")] = ids.wrong_check(
            frame["统一社会信用代码"].iat[i], rng, USCC_ALPHABET
        )
        out.append({"record_id": rid[i], "slot": "company", "field": "uscc"})
    full = np.flatnonzero(id_form == "full")
    for i in rng.choice(full, size=2, replace=False).tolist():
        frame.iat[i, frame.columns.get_loc("法定代表人证件号码")] = ids.wrong_check(
            frame["法定代表人证件号码"].iat[i], rng, "0123456789X"
        )
        out.append({"record_id": rid[i], "slot": "legal_rep", "field": "id_number"})
    return out


def legal_rep_changes(w: World, rng: np.random.Generator) -> Extract:
    t = w.tenures.sort_values(["company", "valid_from"], kind="stable").reset_index(drop=True)
    company = t["company"].to_numpy()
    first = np.r_[True, company[1:] != company[:-1]]
    previous = np.r_[-1, t["person"].to_numpy()[:-1]]
    initial = first & (rng.random(len(t)) < 0.15)
    take = ~first | initial
    company, new = company[take], t["person"].to_numpy()[take]
    prev = np.where(first[take], -1, previous[take])
    when = t["valid_from"].to_numpy(dtype="datetime64[D]")[take]
    n = company.size
    keys, spare = sequence_keys(rng, n, "BG", 12)
    c = w.companies
    name, name_form = noise.company_names(c, company, when, rng, noise.QUIET_COMPANY)
    uscc = noise.usccs(c, company, rng, 0.97)
    reg = c["reg_no"].to_numpy()[company]
    show_reg = pd.notna(reg) & ((uscc == "") | (rng.random(n) < 0.3))
    has_prev = prev >= 0
    prev_safe = np.where(has_prev, prev, 0)
    prev_name, prev_form = noise.person_names(w.people, prev_safe, rng)
    prev_id, prev_id_form = noise.person_ids(w.people, prev_safe, rng, 0.9, 0.02, 0.0)
    new_name, new_form = noise.person_names(w.people, new, rng)
    new_id, new_id_form = noise.person_ids(w.people, new, rng, 0.9, 0.02, 0.0)
    frame = table(
        {
            "变更记录编号": keys,
            "统一社会信用代码": uscc,
            "注册号": np.where(show_reg, reg, "").astype(object),
            "企业名称": name,
            "变更事项": np.where(has_prev, "法定代表人变更", "设立登记").astype(object),
            "变更前法定代表人": np.where(has_prev, prev_name, "").astype(object),
            "变更前证件号码": np.where(has_prev, prev_id, "").astype(object),
            "变更后法定代表人": new_name,
            "变更后证件号码": new_id,
            "变更日期": calendar.mixed(when, rng, (0.6, 0.2, 0.2)),
        }
    )
    order = np.lexsort((keys, when.astype(np.int64)))
    frame = frame.iloc[order].reset_index(drop=True)
    rid = keys[order]
    persons = pd.concat(
        [
            mentions(
                rid,
                "previous_rep",
                prev[order],
                has_prev[order],
                prev_form[order],
                prev_id_form[order],
            ),
            mentions(
                rid,
                "new_rep",
                new[order],
                np.ones(n, dtype=bool),
                new_form[order],
                new_id_form[order],
            ),
        ],
        ignore_index=True,
    )
    companies = mentions(
        rid,
        "company",
        company[order],
        np.ones(n, dtype=bool),
        name_form[order],
        entity_column="company",
    )
    breaker = Breaker(frame, rid, ["变更记录编号"], lambda: {"变更记录编号": "BG" + spare()}, rng)
    breaker.bad_value("变更日期", BAD_DATE, "unparseable_date")
    breaker.line_patch("wrong_column_count", extra_field)
    breaker.duplicate_key()
    person = {"kind": "person"}
    spec = {
        "description": "法定代表人变更记录：每行一次变更（设立登记行无变更前法定代表人）",
        "agency": "市场监督管理局（企业登记）",
        "record_key": "变更记录编号",
        "mentions": {
            "company": {
                "kind": "company",
                "fields": {"name": "企业名称", "uscc": "统一社会信用代码", "reg_no": "注册号"},
            },
            "previous_rep": {
                **person,
                "fields": {"name": "变更前法定代表人", "id_number": "变更前证件号码"},
                "required": False,
            },
            "new_rep": {
                **person,
                "fields": {"name": "变更后法定代表人", "id_number": "变更后证件号码"},
            },
        },
        "facts": [
            {
                "type": "role",
                "person": "previous_rep",
                "company": "company",
                "role": {"const": "法定代表人"},
                "valid_to": "变更日期",
            },
            {
                "type": "role",
                "person": "new_rep",
                "company": "company",
                "role": {"const": "法定代表人"},
                "valid_from": "变更日期",
            },
        ],
    }
    return Extract(
        "legal_rep_changes",
        "extracts/registry/legal_rep_changes.csv",
        "csv",
        "utf-8",
        spec,
        frame,
        persons,
        companies,
        [],
        breaker.breaks,
    )
