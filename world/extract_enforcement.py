"""Punishments (JSONL), the court's judgment-defaulter list (CSV in GBK, CRLF) and the
food-safety serious-violation list (CSV).

Punishment decisions name the company as it was called on the decision date, its legal
representative then (name only) and the directly responsible people as a JSON list of
{姓名, 身份证号} (IDs full or masked). The court list masks people's IDs and prints a
company's organisation code as 12345678-9.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from loaders.fields import clean
from world import calendar, ids, noise
from world.build import World
from world.extract import (
    BAD_DATE,
    Breaker,
    Extract,
    cut_json,
    mentions,
    table,
    truncate_fields,
    undecodable,
)
from world.ids import USCC_ALPHABET
from world.regions import REGIONS

OFFENCES = (
    "生产经营超过保质期的食品",
    "未按规定查验供货者许可证和产品合格证明",
    "使用非食品原料生产食品",
    "经营腐败变质、油脂酸败的食品",
    "未按规定建立并遵守进货查验记录制度",
    "餐具饮具未按规定洗净消毒",
    "生产经营标签不符合规定的预包装食品",
)
SERIOUS_OFFENCES = (
    "使用非食品原料生产食品",
    "经营病死、毒死或者死因不明的禽畜肉类制品",
    "在食品中添加药品",
)


def punishments(w: World, rng: np.random.Generator) -> Extract:
    p = w.punishments
    n = len(p)
    company = p["company"].to_numpy()
    when = p["date"].to_numpy(dtype="datetime64[D]")
    c = w.companies
    name, name_form = noise.company_names(c, company, when, rng)
    rep = p["rep"].to_numpy()
    has_rep = (rep >= 0) & (rng.random(n) < 0.95)
    rep_name, rep_form = noise.person_names(w.people, np.where(has_rep, rep, 0), rng)
    responsible = p["responsible"].tolist()
    counts = np.array([len(x) for x in responsible], dtype=np.int64)
    starts = np.r_[0, np.cumsum(counts)]
    flat = np.array([x for lst in responsible for x in lst], dtype=np.int64)
    r_name, r_form = noise.person_names(w.people, flat, rng)
    noise.look_alike_names(w.people, flat, r_name, r_form, w.habits.name_look_alike, rng)
    r_id, r_id_form = noise.person_ids(w.people, flat, rng, 0.6, 0.0, 0.4, w.habits)
    revoking = p["revocation"].to_numpy()
    offence = np.where(
        revoking,
        np.array(SERIOUS_OFFENCES, dtype=object)[rng.integers(3, size=n)],
        np.array(OFFENCES, dtype=object)[rng.integers(len(OFFENCES), size=n)],
    )
    fine = p["fine"].to_numpy()
    lists = [
        [{"姓名": r_name[k], "身份证号": r_id[k]} for k in range(starts[i], starts[i + 1])]
        for i in range(n)
    ]
    frame = table(
        {
            "行政处罚决定书文号": p["decision_no"].to_numpy(),
            "当事人名称": name,
            "统一社会信用代码": noise.usccs(c, company, rng, w.habits.punishment_uscc),
            "法定代表人": np.where(has_rep, rep_name, "").astype(object),
            "违法行为类型": offence,
            "处罚类别": p["category"].to_numpy(),
            "处罚内容": np.array(
                [
                    _content(cat, f)
                    for cat, f in zip(p["category"].tolist(), fine.tolist(), strict=True)
                ],
                dtype=object,
            ),
            "罚款金额（元）": np.array(
                [int(f) if f else None for f in fine.tolist()], dtype=object
            ),
            "处罚决定日期": calendar.mixed(when, rng, (0.5, 0.25, 0.25)),
            "处罚机关": p["agency"].to_numpy(),
            "处罚依据": p["basis"].to_numpy(),
            "直接责任人": pd.Series(lists, dtype=object).to_numpy(),
        }
    )
    order = np.argsort(when.astype(np.int64), kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    rid = p["decision_no"].to_numpy()[order]
    resp = [
        (rid[pos], f"responsible[{j}]", flat[k], r_form[k], r_id_form[k])
        for pos, i in enumerate(order.tolist())
        for j, k in enumerate(range(starts[i], starts[i + 1]))
    ]
    persons = pd.concat(
        [
            mentions(rid, "legal_rep", rep[order], has_rep[order], rep_form[order]),
            pd.DataFrame(resp, columns=["record_id", "slot", "person", "name_form", "id_form"]),
        ],
        ignore_index=True,
    )
    companies = mentions(
        rid,
        "party",
        company[order],
        np.ones(n, dtype=bool),
        name_form[order],
        entity_column="company",
    )
    invalid = _corrupt_uscc(frame, rid, "统一社会信用代码", "party", rng)
    spare = iter(range(900000, 900100))
    breaker = Breaker(
        frame,
        rid,
        ["行政处罚决定书文号"],
        lambda: {"行政处罚决定书文号": f"京市监处〔2020〕{next(spare)}号"},
        rng,
    )
    breaker.line_patch("unparseable_json", cut_json)
    breaker.bad_value("处罚决定日期", BAD_DATE, "unparseable_date")
    breaker.missing_key()
    breaker.duplicate_key()
    spec = {
        "description": "食品安全行政处罚决定（双公示）",
        "agency": "市场监督管理局（行政处罚）",
        "record_key": "行政处罚决定书文号",
        "mentions": {
            "party": {
                "kind": "company",
                "fields": {"name": "当事人名称", "uscc": "统一社会信用代码"},
            },
            "legal_rep": {"kind": "person", "fields": {"name": "法定代表人"}, "required": False},
            "responsible": {
                "kind": "person",
                "each": "直接责任人",
                "fields": {"name": "姓名", "id_number": "身份证号"},
                "required": False,
            },
        },
        "facts": [
            {
                "type": "punishment",
                "party": "party",
                "responsible": "responsible",
                "decision_number": "行政处罚决定书文号",
                "category": "处罚类别",
                "decision_date": "处罚决定日期",
                "agency": "处罚机关",
                "legal_basis": "处罚依据",
                "fine_amount": "罚款金额（元）",
            }
        ],
    }
    return Extract(
        "punishments",
        "extracts/punishments/food_safety_punishments.jsonl",
        "jsonl",
        "utf-8",
        spec,
        frame,
        persons,
        companies,
        invalid,
        breaker.breaks,
    )


def _content(category: str, fine: int) -> str:
    """The decision's operative text: the fine in yuan, then the other measures."""
    rest = [t for t in category.split("；") if t != "罚款"]
    parts = ([f"罚款人民币{fine}元"] if fine else []) + rest
    return "；".join(parts)


def _corrupt_uscc(
    frame: pd.DataFrame, rid: np.ndarray, column: str, slot: str, rng: np.random.Generator
) -> list[dict]:
    rows = np.flatnonzero(frame[column].to_numpy() != "")
    if not rows.size:
        return []
    i = int(rng.choice(rows))
    frame.iat[i, frame.columns.get_loc(column)] = ids.wrong_check(
        frame[column].iat[i], rng, USCC_ALPHABET
    )
    return [{"record_id": rid[i], "slot": slot, "field": "uscc"}]


def _court_name(region: int, intermediate: bool) -> str:
    r = REGIONS[region]
    return f"{r.city}市中级人民法院" if intermediate else f"{r.city}市{r.district}人民法院"


def judgment_defaulters(w: World, rng: np.random.Generator) -> Extract:
    e = w.court
    n = len(e)
    is_firm = (e["party_kind"] == "company").to_numpy()
    party = e["party"].to_numpy()
    published = e["published"].to_numpy(dtype="datetime64[D]")
    c = w.companies
    firm = np.where(is_firm, party, 0)
    person = np.where(is_firm, 0, party)
    c_name, c_form = noise.company_names(c, firm, published, rng)
    p_name, p_form = noise.person_names(w.people, person, rng, noise.PersonNoise(0.03, 0.02, 0.01))
    masked = np.array(
        [ids.masked(x) for x in w.people["id18"].to_numpy()[person].tolist()], dtype=object
    )
    uscc = c["uscc"].to_numpy()[firm]
    show_uscc = (rng.random(n) < 0.2) & pd.notna(uscc)
    org = np.array(
        [f"{o[:8]}-{o[8]}" for o in c["org_code"].to_numpy()[firm].tolist()], dtype=object
    )
    ident = np.where(is_firm, np.where(show_uscc, uscc, org), masked)
    rep = e["rep"].to_numpy()
    has_rep = is_firm & (rep >= 0)
    rep_name, rep_form = noise.person_names(w.people, np.where(has_rep, rep, 0), rng)
    region = e["region"].to_numpy()
    inter = e["intermediate"].to_numpy()
    region_code = np.array([REGIONS[r].code for r in region.tolist()], dtype=object)
    case_no = [
        f"({y}){REGIONS[r].abbr}{rc[2:4] if i else rc[2:]}执{s}号"
        for y, r, rc, i, s in zip(
            e["filed_year"].tolist(),
            region.tolist(),
            region_code.tolist(),
            inter.tolist(),
            e["serial"].tolist(),
            strict=True,
        )
    ]
    frame = table(
        {
            "案号": np.array(case_no, dtype=object),
            "被执行人姓名/名称": np.where(is_firm, c_name, p_name),
            "被执行人类型": np.where(is_firm, "法人", "自然人").astype(object),
            "身份证号码/组织机构代码": ident,
            "法定代表人或负责人姓名": np.where(has_rep, rep_name, "").astype(object),
            "执行法院": np.array(
                [_court_name(r, i) for r, i in zip(region.tolist(), inter.tolist(), strict=True)],
                dtype=object,
            ),
            "省份": np.array([REGIONS[r].province for r in region.tolist()], dtype=object),
            "发布时间": calendar.mixed(published, rng, (0.6, 0.0, 0.4)),
            "移除时间": calendar.iso(e["removed"].to_numpy(dtype="datetime64[D]")),
            "失信被执行人行为具体情形": e["reason"].to_numpy(),
        }
    )
    # the loader cleans key parts (NFKC: full-width brackets become half-width)
    all_ids = np.array(
        [
            f"{clean(a)}|{clean(b)}"
            for a, b in zip(
                frame["案号"].tolist(), frame["被执行人姓名/名称"].tolist(), strict=True
            )
        ],
        dtype=object,
    )
    unique = ~pd.Series(all_ids).duplicated().to_numpy()
    order = np.flatnonzero(unique)[np.argsort(published[unique].astype(np.int64), kind="stable")]
    frame = frame.iloc[order].reset_index(drop=True)
    rid = all_ids[order]
    firm_o, person_o = is_firm[order], ~is_firm[order]
    persons = pd.concat(
        [
            mentions(
                rid,
                "party",
                party[order],
                person_o,
                p_form[order],
                np.full(order.size, "masked_6+4", dtype=object),
            ),
            mentions(rid, "legal_rep", rep[order], has_rep[order], rep_form[order]),
        ],
        ignore_index=True,
    )
    companies = mentions(rid, "party", party[order], firm_o, c_form[order], entity_column="company")
    spare = iter(range(900000, 900100))

    def fresh() -> dict[str, str]:
        return {"案号": f"(2020)京0105执{next(spare)}号"}

    breaker = Breaker(frame, rid, ["案号", "被执行人姓名/名称"], fresh, rng)
    breaker.line_patch("undecodable", undecodable("gbk"), n=1)
    breaker.line_patch("wrong_column_count", truncate_fields())
    breaker.duplicate_key()
    spec = {
        "description": "失信被执行人名单（自然人身份证号已脱敏）",
        "agency": "人民法院",
        "record_key": ["案号", "被执行人姓名/名称"],
        "mentions": {
            "party": {
                "kind_from": "被执行人类型",
                "kinds": {"自然人": "person", "法人": "company", "非法人组织": "company"},
                "fields": {"name": "被执行人姓名/名称", "identifier": "身份证号码/组织机构代码"},
            },
            "legal_rep": {
                "kind": "person",
                "fields": {"name": "法定代表人或负责人姓名"},
                "required": False,
            },
        },
        "facts": [
            {
                "type": "list_entry",
                "list": {"const": "失信被执行人"},
                "party": "party",
                "entered": "发布时间",
                "removed": "移除时间",
                "authority": "执行法院",
                "case_number": "案号",
                "reason": "失信被执行人行为具体情形",
            }
        ],
    }
    return Extract(
        "judgment_defaulters",
        "extracts/court/judgment_defaulters.csv",
        "csv",
        "gbk",
        spec,
        frame,
        persons,
        companies,
        [],
        breaker.breaks,
    )


def serious_violations(w: World, rng: np.random.Generator) -> Extract:
    s = w.serious
    n = len(s)
    company = s["company"].to_numpy()
    listed = s["listed"].to_numpy(dtype="datetime64[D]")
    c = w.companies
    name, name_form = noise.company_names(c, company, listed, rng)
    rep = s["rep"].to_numpy()
    has_rep = rep >= 0
    rep_name, rep_form = noise.person_names(w.people, np.where(has_rep, rep, 0), rng)
    region = c["region"].to_numpy()[company]
    year = calendar.parts(listed)[0]
    keys = np.array(
        [
            f"{REGIONS[r].abbr}市监信列〔{y}〕{100 + k}号"
            for r, y, k in zip(region.tolist(), year.tolist(), s["serial"].tolist(), strict=True)
        ],
        dtype=object,
    )
    removed = calendar.iso(s["removed"].to_numpy(dtype="datetime64[D]"))
    removed = np.where((removed == "") & (rng.random(n) < 0.3), "-", removed).astype(object)
    expires = calendar.iso(s["expires"].to_numpy(dtype="datetime64[D]"))
    expires = np.where(rng.random(n) < 0.1, "", expires).astype(object)
    reason = np.where(
        s["revocation"].to_numpy(),
        "因食品安全违法行为被吊销许可证，列入严重违法失信名单",
        "因食品安全违法行为受到较重行政处罚，列入严重违法失信名单",
    ).astype(object)
    frame = table(
        {
            "列入决定书文号": keys,
            "企业名称": name,
            "统一社会信用代码": noise.usccs(c, company, rng, 0.97),
            "法定代表人": np.where(has_rep, rep_name, "").astype(object),
            "列入日期": calendar.mixed(listed, rng),
            "作出决定机关": s["agency"].to_numpy(),
            "列入严重违法失信名单事由": reason,
            "原处罚决定书文号": s["decision_no"].to_numpy(),
            "移出日期": removed,
            "管理期限至": expires,
        }
    )
    order = np.argsort(listed.astype(np.int64), kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    rid = keys[order]
    persons = mentions(rid, "legal_rep", rep[order], has_rep[order], rep_form[order])
    companies = mentions(
        rid,
        "company",
        company[order],
        np.ones(n, dtype=bool),
        name_form[order],
        entity_column="company",
    )
    spare = iter(range(900000, 900100))
    breaker = Breaker(
        frame,
        rid,
        ["列入决定书文号"],
        lambda: {"列入决定书文号": f"京市监信列〔2020〕{next(spare)}号"},
        rng,
    )
    breaker.bad_value("列入日期", BAD_DATE, "unparseable_date")
    breaker.line_patch("wrong_column_count", truncate_fields())
    spec = {
        "description": "食品安全严重违法失信名单",
        "agency": "市场监督管理局（信用监管）",
        "record_key": "列入决定书文号",
        "mentions": {
            "company": {
                "kind": "company",
                "fields": {"name": "企业名称", "uscc": "统一社会信用代码"},
            },
            "legal_rep": {"kind": "person", "fields": {"name": "法定代表人"}, "required": False},
        },
        "facts": [
            {
                "type": "list_entry",
                "list": {"const": "食品安全严重违法失信名单"},
                "party": "company",
                "entered": "列入日期",
                "removed": "移出日期",
                "expires": "管理期限至",
                "reason": "列入严重违法失信名单事由",
                "authority": "作出决定机关",
                "case_number": "原处罚决定书文号",
            }
        ],
    }
    return Extract(
        "serious_violations",
        "extracts/blacklist/serious_violations.csv",
        "csv",
        "utf-8",
        spec,
        frame,
        persons,
        companies,
        [],
        breaker.breaks,
    )
