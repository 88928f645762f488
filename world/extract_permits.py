"""Food business and production licences (Parquet) and customs filings (CSV).

Licences name the holder as it was called when the licence was issued; dates are typed
Parquet dates. Customs filings romanise the legal representative's name in pinyin, in
either order and with varying spacing, which is all a customs record gives to link the
person by.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from world import calendar, names, noise
from world.build import World
from world.extract import Breaker, Extract, mentions, table
from world.regions import REGIONS

LICENCE_SCHEMA = pa.schema(
    [
        ("许可证编号", pa.string()),
        ("经营者名称", pa.string()),
        ("社会信用代码", pa.string()),
        ("法定代表人（负责人）", pa.string()),
        ("经营场所", pa.string()),
        ("主体业态", pa.string()),
        ("经营项目", pa.string()),
        ("发证日期", pa.date32()),
        ("有效期至", pa.date32()),
        ("状态", pa.string()),
    ]
)
BUSINESS = {  # industry letter -> (主体业态, 经营项目, licence prefix)
    "C": ("食品生产者", "糕点、饮料、酒类、乳制品生产", "SC"),
    "F": ("食品销售经营者", "预包装食品销售（含冷藏冷冻食品）；散装食品销售", "JY1"),
    "H": ("餐饮服务经营者", "热食类食品制售；冷食类食品制售；自制饮品制售", "JY2"),
}


def _licence_number(letter: str, region_code: str, serial: int) -> str:
    """SC + 3-digit category + region + 5 digits, or JY + type + region + 7 digits."""
    prefix = BUSINESS[letter][2]
    if prefix == "SC":
        return f"SC1{serial % 100:02d}{region_code}{serial:05d}"
    return f"{prefix}{region_code}{serial:07d}"


def food_licences(w: World, rng: np.random.Generator) -> Extract:
    lic = w.licences
    n = len(lic)
    company = lic["company"].to_numpy()
    issued = lic["issued"].to_numpy(dtype="datetime64[D]")
    c = w.companies
    name, name_form = noise.company_names(c, company, issued, rng)
    rep = lic["rep"].to_numpy()
    has_rep = (rep >= 0) & (rng.random(n) < 0.97)
    rep_name, rep_form = noise.person_names(w.people, np.where(has_rep, rep, 0), rng)
    letter = np.array(
        [code[0] for code in c["industry"].to_numpy()[company].tolist()], dtype=object
    )
    region_code = c["region_code"].to_numpy()[company]
    keys = np.array(
        [
            _licence_number(a, r, s)
            for a, r, s in zip(
                letter.tolist(), region_code.tolist(), lic["serial"].tolist(), strict=True
            )
        ],
        dtype=object,
    )
    frame = table(
        {
            "许可证编号": keys,
            "经营者名称": name,
            "社会信用代码": noise.usccs(c, company, rng, 0.96),
            "法定代表人（负责人）": np.where(has_rep, rep_name, None).astype(object),
            "经营场所": c["address"].to_numpy()[company],
            "主体业态": np.array([BUSINESS[a][0] for a in letter.tolist()], dtype=object),
            "经营项目": np.array([BUSINESS[a][1] for a in letter.tolist()], dtype=object),
            "发证日期": issued.astype(object),
            "有效期至": lic["valid_to"].to_numpy(dtype="datetime64[D]").astype(object),
            "状态": lic["status"].to_numpy(),
        }
    )
    frame["社会信用代码"] = frame["社会信用代码"].replace("", None)
    order = np.argsort(keys, kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    rid = keys[order]
    persons = mentions(rid, "legal_rep", rep[order], has_rep[order], rep_form[order])
    companies = mentions(
        rid,
        "holder",
        company[order],
        np.ones(n, dtype=bool),
        name_form[order],
        entity_column="company",
    )
    spare = iter(range(9_000_000, 9_000_100))
    breaker = Breaker(
        frame, rid, ["许可证编号"], lambda: {"许可证编号": f"JY1110105{next(spare)}"}, rng
    )
    breaker.duplicate_key()
    breaker.missing_key()
    spec = {
        "description": "食品经营（生产）许可证",
        "agency": "市场监督管理局（食品许可）",
        "record_key": "许可证编号",
        "mentions": {
            "holder": {
                "kind": "company",
                "fields": {"name": "经营者名称", "uscc": "社会信用代码", "address": "经营场所"},
            },
            "legal_rep": {
                "kind": "person",
                "fields": {"name": "法定代表人（负责人）"},
                "required": False,
            },
        },
        "facts": [
            {
                "type": "licence",
                "holder": "holder",
                "licence_number": "许可证编号",
                "valid_from": "发证日期",
                "valid_to": "有效期至",
                "status": "状态",
                "scope": "经营项目",
                "issued": "发证日期",
            },
            # the legal representative printed on the licence held the role that day
            {
                "type": "role",
                "person": "legal_rep",
                "company": "holder",
                "role": {"const": "法定代表人"},
                "observed_on": "发证日期",
            },
        ],
    }
    return Extract(
        "food_licences",
        "extracts/licences/food_licences.parquet",
        "parquet",
        "utf-8",
        spec,
        frame,
        persons,
        companies,
        [],
        breaker.breaks,
    )


def customs_filings(w: World, rng: np.random.Generator) -> Extract:
    f = w.customs
    n = len(f)
    company = f["company"].to_numpy()
    filed = f["filed"].to_numpy(dtype="datetime64[D]")
    c = w.companies
    name, name_form = noise.company_names(c, company, filed, rng)
    latin = (rng.random(n) < w.habits.customs_romanised_names) & (name_form != "former")
    for i in np.flatnonzero(latin).tolist():
        k = company[i]
        name[i] = names.romanised_company(
            c["city"].iat[k], c["brand"].iat[k], c["word"].iat[k], c["form"].iat[k], rng
        )
        name_form[i] = "romanised"
    rep = f["rep"].to_numpy()
    has_rep = rep >= 0
    pinyin = noise.person_pinyin(w.people, np.where(has_rep, rep, 0), rng)
    region = c["region"].to_numpy()[company]
    keys = np.array(
        [
            f"{REGIONS[r].code[:4]}{s:06d}"
            for r, s in zip(region.tolist(), f["serial"].tolist(), strict=True)
        ],
        dtype=object,
    )
    frame = table(
        {
            "海关注册编码": keys,
            "企业名称": name,
            "统一社会信用代码": noise.usccs(c, company, rng, 0.97),
            "法定代表人（拼音）": np.where(has_rep, pinyin, "").astype(object),
            "注册海关": np.array([f"{REGIONS[r].city}海关" for r in region.tolist()], dtype=object),
            "企业经营类别": "进出口货物收发货人",
            "备案日期": calendar.mixed(filed, rng, (0.4, 0.4, 0.2)),
        }
    )
    order = np.argsort(keys, kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    rid = keys[order]
    persons = mentions(
        rid, "legal_rep", rep[order], has_rep[order], np.full(n, "pinyin", dtype=object)
    )
    companies = mentions(
        rid,
        "company",
        company[order],
        np.ones(n, dtype=bool),
        name_form[order],
        entity_column="company",
    )
    spare = iter(range(990000, 990100))
    breaker = Breaker(
        frame, rid, ["海关注册编码"], lambda: {"海关注册编码": f"1100{next(spare)}"}, rng
    )
    breaker.missing_key()
    breaker.duplicate_key()
    spec = {
        "description": "海关进出口货物收发货人备案（法定代表人姓名为拼音；部分企业名称为英文）",
        "agency": "海关",
        "record_key": "海关注册编码",
        "mentions": {
            "company": {
                "kind": "company",
                "fields": {"name": "企业名称", "uscc": "统一社会信用代码"},
            },
            "legal_rep": {
                "kind": "person",
                "fields": {"name": "法定代表人（拼音）"},
                "required": False,
            },
        },
        "facts": [
            {
                "type": "role",
                "person": "legal_rep",
                "company": "company",
                "role": {"const": "法定代表人"},
                "observed_on": "备案日期",
            }
        ],
    }
    return Extract(
        "customs_filings",
        "extracts/customs/customs_filings.csv",
        "csv",
        "utf-8",
        spec,
        frame,
        persons,
        companies,
        [],
        breaker.breaks,
    )
