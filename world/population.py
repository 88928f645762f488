"""The true people and companies of the world, before anything is written about them.

People get realistic names (with planted namesakes), birth dates and resident IDs;
companies get a region, an industry, a founding date, unique names (some renamed, with
their former names kept), identifiers (old companies may lack a USCC and carry a
legacy registration number) and the registry's descriptive fields.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from world import ids, names
from world.calendar import REF_DATE, day, uniform_days
from world.industries import BY_CODE, HOLDING_CODE, operating_codes
from world.regions import BIRTH_REGION_CODES, REGIONS, ROADS, column, region_weights

HOLDING_SHARE = 0.12
LEVEL_WEIGHTS = np.array([0.45, 0.25, 0.15, 0.1, 0.05])  # holding levels 1..5
MAX_LEVEL = 5
CAPITALS = np.array([3, 10, 30, 50, 100, 200, 300, 500, 1000, 2000, 5000, 10000])
STATUSES = ("存续", "在业", "注销", "吊销，未注销")
STATUS_WEIGHTS = (0.85, 0.06, 0.06, 0.03)


def as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as plain object arrays: the generator indexes them millions of times,
    and pandas' Arrow-backed strings would convert on every access."""
    for col in frame.columns:
        if pd.api.types.is_string_dtype(frame[col].dtype) and frame[col].dtype != object:
            frame[col] = frame[col].astype(object)
    return frame


# -- people ---------------------------------------------------------------------------


def draw_people(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Sex, birth, birthplace and name of `n` people (IDs come later, see finish_people)."""
    sex = np.where(rng.random(n) < 0.5, "M", "F").astype(object)
    birth = uniform_days(rng, day("1950-01-01"), day("2000-12-31"), n)
    region = np.array(BIRTH_REGION_CODES, dtype=object)[
        rng.integers(len(BIRTH_REGION_CODES), size=n)
    ]
    surname = names.draw_surnames(rng, n)
    given = names.draw_given(rng, sex)
    return pd.DataFrame(
        {"sex": sex, "birth": birth, "birth_region": region, "surname": surname, "given": given}
    )


def finish_people(people: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Add full names, unique resident IDs (sequence parity follows sex) and person IDs."""
    n = len(people)
    male = (people["sex"] == "M").to_numpy()
    seq = 2 * rng.integers(0, 500, size=n) + male
    key = pd.DataFrame(
        {"r": people["birth_region"].to_numpy(), "b": people["birth"].to_numpy(), "s": seq}
    )
    dup = key.duplicated().to_numpy()
    while dup.any():
        idx = np.flatnonzero(dup)
        seq[idx] = 2 * rng.integers(0, 500, size=idx.size) + male[idx]
        key["s"] = seq
        dup = key.duplicated().to_numpy()
    out = people.copy()
    out["name"] = out["surname"] + out["given"]
    out["id18"] = ids.resident_ids(
        out["birth_region"].to_numpy(), out["birth"].to_numpy(dtype="datetime64[D]"), seq
    )
    out["person_id"] = [f"P{i:07d}" for i in range(1, n + 1)]
    return as_objects(out)


# -- companies ------------------------------------------------------------------------


def draw_companies(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Region, holding level, industry and founding date of `n` ordinary companies."""
    region = rng.choice(len(REGIONS), size=n, p=region_weights())
    holding = rng.random(n) < HOLDING_SHARE
    level = np.where(holding, 1 + rng.choice(MAX_LEVEL, size=n, p=LEVEL_WEIGHTS), 0)
    codes, weights = operating_codes()
    industry = codes[rng.choice(len(codes), size=n, p=weights)]
    industry[holding] = HOLDING_CODE
    founded = uniform_days(rng, day("1996-01-01"), REF_DATE - 120, n)
    early = uniform_days(rng, day("1994-01-01"), day("2016-12-31"), n)
    founded = np.where(holding, np.minimum(founded, early), founded)
    return pd.DataFrame(
        {
            "region": region,
            "level": level,
            "industry": industry,
            "established": founded,
            "origin": "ordinary",
        }
    )


def _unique_brands(rng: np.random.Generator, cities: np.ndarray) -> np.ndarray:
    """One brand per entry, unique within its city (names start with the city): two
    characters where the city has room, else three, redrawn until no two entries clash."""
    n = cities.size
    b2, b3 = names.brand_space(2), names.brand_space(3)
    per_city = np.bincount(cities)[cities]
    use2 = rng.random(n) < np.minimum(0.8, 0.5 * b2 / np.maximum(per_city, 1))
    code = np.where(use2, rng.integers(b2, size=n), b2 + rng.integers(b3, size=n))
    key = pd.Series(cities.astype(np.int64) * (b2 + b3) + code)
    dup = key.duplicated().to_numpy()
    while dup.any():
        idx = np.flatnonzero(dup)
        code[idx] = b2 + rng.integers(b3, size=idx.size)
        key.iloc[idx] = cities[idx].astype(np.int64) * (b2 + b3) + code[idx]
        dup = key.duplicated().to_numpy()
    return np.array(
        [names.brand(c, 2) if c < b2 else names.brand(c - b2, 3) for c in code.tolist()],
        dtype=object,
    )


def finish_companies(companies: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Names (with renames), identifiers, capital, address and status for every company."""
    n = len(companies)
    out = companies.reset_index(drop=True).copy()
    region = out["region"].to_numpy()
    # current and former brands are drawn together so no name is reused by a rename
    city_number = pd.factorize(column("city"))[0][region]
    brands = _unique_brands(rng, np.concatenate([city_number, city_number]))
    cur_brand, old_brand = brands[:n], brands[n:]
    city = column("city")[region]
    word_choice = rng.random(n) < 0.75
    words = np.array(
        [
            BY_CODE[c].words[0] if w else BY_CODE[c].words[-1]
            for c, w in zip(out["industry"].tolist(), word_choice.tolist(), strict=True)
        ],
        dtype=object,
    )
    form = np.array(names.LEGAL_FORMS, dtype=object)[
        rng.choice(len(names.LEGAL_FORMS), size=n, p=names.LEGAL_FORM_WEIGHTS)
    ]
    out["city"], out["brand"], out["word"], out["form"] = city, cur_brand, words, form
    out["name"] = city + cur_brand + words + form
    out["region_code"] = column("code")[region]
    _renames(out, rng, old_brand)
    _identifiers(out, rng)
    out["capital"] = CAPITALS[rng.integers(3, len(CAPITALS), size=n)]
    small = (out["level"].to_numpy() == 0) & (rng.random(n) < 0.5)
    out.loc[small, "capital"] = CAPITALS[rng.integers(0, 7, size=int(small.sum()))]
    out["address"] = _addresses(rng, region)
    status = np.array(STATUSES, dtype=object)[rng.choice(len(STATUSES), size=n, p=STATUS_WEIGHTS)]
    status[out["origin"].to_numpy() != "ordinary"] = "存续"
    status[~out["has_uscc"].to_numpy()] = "注销"
    out["status"] = status
    out["company_id"] = [f"C{i:07d}" for i in range(1, n + 1)]
    return as_objects(out)


def _renames(out: pd.DataFrame, rng: np.random.Generator, old_brand: np.ndarray) -> None:
    """About 5% of older ordinary companies were renamed, a fifth of them twice."""
    n = len(out)
    est = out["established"].to_numpy(dtype="datetime64[D]")
    eligible = (est < REF_DATE - 3 * 365) & (out["origin"].to_numpy() == "ordinary")
    renamed = eligible & (rng.random(n) < 0.05)
    twice = renamed & (est < REF_DATE - 6 * 365) & (rng.random(n) < 0.2)
    r1 = uniform_days(rng, est + 730, REF_DATE - 90, n)
    r2 = uniform_days(rng, est + 180, r1 - 365, n)
    nat = np.datetime64("NaT", "D")
    out["renamed1"] = np.where(renamed, r1, nat)
    out["renamed2"] = np.where(twice, r2, nat)
    former1 = out["city"] + old_brand + out["word"] + out["form"]
    # the older former name keeps the brand but an older legal form
    former2 = out["city"] + old_brand + out["word"] + [names.swap_form(f) for f in out["form"]]
    out["former1"] = np.where(renamed, former1, None)
    out["former2"] = np.where(twice & (former2 != former1), former2, None)
    out.loc[out["former2"].isna(), "renamed2"] = nat


def _identifiers(out: pd.DataFrame, rng: np.random.Generator) -> None:
    """Organisation code for all, USCC for all but old dissolved ones, legacy reg. numbers."""
    n = len(out)
    est = out["established"].to_numpy(dtype="datetime64[D]")
    new = est >= ids.NEW_CODE_FROM
    bodies = ids.org_bodies(rng, new)
    old = est < day("2014-01-01")
    ordinary = out["origin"].to_numpy() == "ordinary"
    no_uscc = old & ordinary & (out["level"].to_numpy() == 0) & (rng.random(n) < 0.04)
    uscc = ids.usccs(out["region_code"].to_numpy(), bodies)
    out["org_code"] = [u[8:17] for u in uscc.tolist()]
    out["uscc"] = np.where(no_uscc, None, uscc)
    out["has_uscc"] = ~no_uscc
    reg = ids.reg_nos(rng, out["region_code"].to_numpy())
    show_reg = no_uscc | (~new & (rng.random(n) < 0.3))
    out["reg_no"] = np.where(~new, reg, None)
    out["registry_reg_no"] = show_reg & ~new


def _addresses(rng: np.random.Generator, region: np.ndarray) -> np.ndarray:
    n = region.size
    regions = [REGIONS[i] for i in range(len(REGIONS))]
    prefix = np.array(
        [
            r.province + r.district if r.municipality else f"{r.province}{r.city}市{r.district}"
            for r in regions
        ],
        dtype=object,
    )
    road = np.array(ROADS, dtype=object)[rng.integers(len(ROADS), size=n)]
    number = rng.integers(1, 999, size=n)
    room = rng.integers(101, 2999, size=n)
    with_room = rng.random(n) < 0.4
    tail = np.array(
        [
            f"{a}号{b}室" if w else f"{a}号"
            for a, b, w in zip(number.tolist(), room.tolist(), with_room.tolist(), strict=True)
        ],
        dtype=object,
    )
    return prefix[region] + road + tail
