"""Feature frames of any size, drawn from fixed distributions, for scale tests.

The world generator takes minutes at 200,000 companies; a scale test needs only the
linkage features, with the property that matters: the same habits at every size (names
drawn from one surname and given-name distribution, so a name's frequency does not depend
on the size; company names unique within a region, as the law requires). Probe mentions
are appended last, identical at every size, so that the same pairs can be scored in
worlds of different sizes.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from linkage.names import standardise_person_name

REGIONS = ["上海", "北京", "广州", "深圳", "杭州", "成都", "武汉", "南京"]
REGION_CODES = ["310101", "110105", "440104", "440305", "330106", "510104", "420106", "320102"]
INDUSTRIES = ["食品", "餐饮", "贸易", "科技"]
BRAND_CHARS = list("星河月光海天山水金玉华美新安泰和丰盛福德康宁瑞祥兴隆鸿运嘉诚信达永昌恒远")
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
GIVEN = [a + b for a in "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超" for b in "华平红英玲兰霞峰斌鹏辉"]


def _brand(i: np.ndarray) -> np.ndarray:
    """A two- or three-character brand per index; repeats across regions and industries."""
    n = len(BRAND_CHARS)
    chars = np.array(BRAND_CHARS)
    return np.char.add(np.char.add(chars[i % n], chars[(i // n) % n]), chars[(i // n**2) % n])


def companies(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Company mentions of `n` companies (registry row with USCC, region and address; a food
    licence for half; two key-personnel rows naming the company only), and the company of
    each mention."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n)
    region = ids % len(REGIONS)
    industry = (ids // len(REGIONS)) % len(INDUSTRIES)
    brand = _brand(rng.permutation(len(BRAND_CHARS) ** 3)[: n // (len(REGIONS) * 4) + 1])
    core = brand[ids // (len(REGIONS) * len(INDUSTRIES))]
    regions = np.array(REGIONS)[region]
    canonical = np.char.add(
        np.char.add(np.char.add(regions, core), np.array(INDUSTRIES)[industry]), "有限公司"
    )
    uscc = np.array([f"9131{i:014d}" for i in ids])
    base = pd.DataFrame(
        {
            "company": ids,
            "name": canonical,
            "name_canonical": canonical,
            "name_region": regions,
            "name_core": core,
            "name_industry": np.array(INDUSTRIES)[industry],
            "name_legal_form": "有限公司",
            "name_core_pinyin": core,
            "name_is_branch": False,
            "name_is_romanised": False,
            "name_industry_latin": "||",
            "uscc": uscc,
            "org_code": np.array([u[8:17] for u in uscc]),
            "reg_no": None,
            "region_code": np.array(REGION_CODES)[region],
            "address": np.char.add(np.char.add(regions, "路"), ids.astype(str)),
        }
    )
    registry = base.assign(source="company_registry", slot="company")
    licences = base[rng.random(n) < 0.5].assign(source="food_licences", slot="licensee")
    personnel = pd.concat(
        [base.assign(source="key_personnel", slot=f"company[{k}]") for k in range(2)]
    )
    for column in ("uscc", "org_code", "region_code", "address"):
        personnel[column] = None
    frame = pd.concat([registry, licences, personnel], ignore_index=True)
    frame["record_id"] = frame["source"] + "-" + frame.index.astype(str)
    frame["former_canonical"] = [[] for _ in range(len(frame))]
    frame["name_keys"] = [[c] for c in frame["name_canonical"]]
    return frame, frame.pop("company").to_numpy()


def _names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    surname_weights = 1 / np.arange(1, len(SURNAMES) + 1)
    given_weights = 1 / np.arange(1, len(GIVEN) + 1) ** 0.7
    surname = rng.choice(SURNAMES, size=n, p=surname_weights / surname_weights.sum())
    given = rng.choice(GIVEN, size=n, p=given_weights / given_weights.sum())
    return surname, given


def persons(n_companies: int, seed: int) -> pd.DataFrame:
    """Person mentions: per company a legal representative (registry row, full ID; for six
    in ten also a shareholder row with the ID) and two officers (key-personnel rows, name
    and company only); one in twenty legal representatives also in a punishment with a
    masked ID (first 6 + last 4)."""
    rng = np.random.default_rng(seed + 1)
    people = n_companies * 3
    surname, given = _names(rng, people)
    region = rng.integers(0, len(REGION_CODES), size=people)
    prefix = np.array(REGION_CODES)[region]
    suffix = np.array([f"{x:04d}" for x in rng.integers(0, 10_000, size=people)])
    company = np.repeat(np.arange(n_companies), 3)
    role = np.tile(np.arange(3), n_companies)
    base = pd.DataFrame(
        {
            "person": np.arange(people),
            "surname": surname,
            "given": given,
            "id_prefix": prefix,
            "id_suffix": suffix,
            "context": [[f"C{c}"] for c in company],
            "role": role,
        }
    )
    reps = base[base["role"] == 0]
    registry = reps.assign(source="company_registry", slot="legal_rep", masked=False)
    officers = base[base["role"] > 0].assign(source="key_personnel", slot="officer", masked=None)
    holders = reps[rng.random(len(reps)) < 0.6].assign(
        source="shareholders", slot="holder", masked=False
    )
    punished = reps[rng.random(len(reps)) < 0.05].assign(
        source="punishments", slot="responsible[0]", masked=True, context=None
    )
    frame = pd.concat([registry, holders, officers, punished], ignore_index=True)
    return finish_persons(frame)


def finish_persons(frame: pd.DataFrame) -> pd.DataFrame:
    """The feature columns from (person, surname, given, id_prefix, id_suffix, context,
    source, slot, masked: True masked ID, False full ID, None no ID, and optionally name:
    a name as written, romanised or not, in place of surname + given)."""
    frame = frame.reset_index(drop=True)
    has_id = frame["masked"].notna()
    full = frame["masked"].eq(False)
    written = frame["surname"] + frame["given"]
    if "name" in frame.columns:
        written = frame["name"].fillna(written)
    frame["name"] = written
    parsed = {n: standardise_person_name(n) for n in written.unique()}
    for column, field in (
        ("name_simplified", "simplified"),
        ("name_pinyin_key", "pinyin_key"),
        ("surname", "surname"),
        ("given", "given"),
        ("surname_pinyin", "surname_pinyin"),
        ("is_romanised", "is_romanised"),
    ):
        frame[column] = [getattr(parsed[n], field) for n in written]
    frame["id_token"] = np.where(full, "tok" + frame["person"].astype(str), None)
    frame["id_prefix"] = frame["id_prefix"].where(has_id, None)
    frame["id_suffix"] = frame["id_suffix"].where(has_id, None)
    frame["id_masked"] = frame["masked"].eq(True)
    frame["id_visible"] = np.where(
        has_id, frame["id_prefix"].fillna("") + "********" + frame["id_suffix"].fillna(""), None
    )
    frame["id_end"] = frame["id_suffix"].where(frame["id_suffix"].str.len() == 4, None)
    frame["birth_date"] = np.where(full, date(1980, 1, 1), None)
    frame["sex"] = np.where(full, "M", None)
    frame["phone"] = None
    frame["address"] = None
    frame["context"] = [c if isinstance(c, list) else [] for c in frame["context"]]
    frame["record_id"] = frame["source"] + "-" + frame.index.astype(str)
    return frame.drop(columns=["role", "masked"])


def number(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    frame["mention_id"] = np.arange(len(frame), dtype=np.int64)
    return frame
