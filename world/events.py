"""What agencies record about the world: punishments, court listings, licences, customs
filings and the serious-violation list, as entity-level tables (extracts render them).

Each event points at true companies and people by index; the legal representative an
event names is the one in office on the event's date, so records written before a
change name the earlier person, as real ones do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from world.calendar import NAT, REF_DATE, add_years, day, parts, uniform_days
from world.industries import food_mask
from world.ownership import draw_holders
from world.regions import REGIONS
from world.roles import reps_at

CATEGORIES = (
    "警告",
    "罚款",
    "罚款；没收违法所得",
    "警告；罚款",
    "没收违法所得、没收非法财物",
    "责令停产停业",
    "吊销许可证",
    "罚款；吊销许可证",
)
CATEGORY_WEIGHTS = (0.25, 0.33, 0.2, 0.08, 0.04, 0.06, 0.025, 0.015)
REVOKING = frozenset({"吊销许可证", "吊销食品经营许可证", "吊销食品生产许可证", "罚款；吊销许可证"})
BASIS = {
    "revocation": "《中华人民共和国食品安全法》第一百二十四条第一款",
    "warning": "《中华人民共和国食品安全法》第一百二十六条第一款",
    "other": (
        "《中华人民共和国食品安全法》第一百二十五条第一款",
        "《中华人民共和国食品安全法》第一百二十二条第一款",
        "《中华人民共和国食品安全法》第一百三十二条",
    ),
}
COURT_REASONS = (
    "有履行能力而拒不履行生效法律文书确定义务",
    "违反财产报告制度",
    "违反限制消费令",
    "以虚假诉讼、虚假仲裁或者以隐匿、转移财产等方法规避执行",
)


def is_revocation(category: str) -> bool:
    return category in REVOKING


def _agency(region: int, district_level: bool) -> str:
    r = REGIONS[region]
    if district_level:
        return f"{r.city}市{r.district}市场监督管理局"
    return f"{r.city}市市场监督管理局"


def _decision_prefix(region: int, district_level: bool) -> str:
    r = REGIONS[region]
    return f"{r.district[0]}市监处" if district_level else f"{r.abbr}市监处"


def punishments(
    companies: pd.DataFrame,
    tenures: pd.DataFrame,
    officers: pd.DataFrame,
    planted: pd.DataFrame,
    n_ordinary: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Ordinary food-safety punishments plus the planted ones, with decision numbers."""
    est = companies["established"].to_numpy(dtype="datetime64[D]")
    food = food_mask(companies["industry"].to_numpy())
    ordinary = np.arange(len(companies)) < n_ordinary
    eligible = np.flatnonzero(food & ordinary & (est < REF_DATE - 365))
    chosen = eligible[rng.random(eligible.size) < 0.06]
    chosen = np.concatenate([chosen, chosen[rng.random(chosen.size) < 0.1]])
    chosen.sort(kind="stable")
    when = uniform_days(rng, np.maximum(est[chosen] + 180, day("2014-01-01")), REF_DATE - 10)
    category = np.array(CATEGORIES, dtype=object)[
        rng.choice(len(CATEGORIES), size=chosen.size, p=CATEGORY_WEIGHTS)
    ]
    rep = reps_at(tenures, chosen, when)
    staff = officers.groupby("company")["person"].first()
    manager = staff.reindex(chosen).fillna(-1).to_numpy(dtype=np.int64)
    revoke = np.array([is_revocation(c) for c in category.tolist()], dtype=bool)
    named = revoke | (rng.random(chosen.size) < 0.3)
    both = rng.random(chosen.size) < 0.4
    responsible = [
        ([r] if r >= 0 else []) + ([m] if (b or r < 0) and m >= 0 and m != r else []) if nm else []
        for r, m, nm, b in zip(
            rep.tolist(), manager.tolist(), named.tolist(), both.tolist(), strict=True
        )
    ]
    frame = pd.DataFrame(
        {
            "company": chosen,
            "date": when,
            "category": category,
            "responsible": responsible,
            "origin": "ordinary",
        }
    )
    if len(planted):
        frame = pd.concat([frame, planted], ignore_index=True)
    return _decorate(frame, companies, tenures, rng)


def _decorate(
    frame: pd.DataFrame, companies: pd.DataFrame, tenures: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Decision numbers, agencies, legal bases, fines and the legal rep at decision time."""
    n = len(frame)
    region = companies["region"].to_numpy()[frame["company"].to_numpy()]
    district = rng.random(n) < 0.6
    when = frame["date"].to_numpy(dtype="datetime64[D]")
    year = parts(when)[0]
    serial = 100 + rng.permutation(n)
    frame["decision_no"] = [
        f"{_decision_prefix(r, d)}〔{y}〕{s}号"
        for r, d, y, s in zip(
            region.tolist(), district.tolist(), year.tolist(), serial.tolist(), strict=True
        )
    ]
    frame["agency"] = [
        _agency(r, d) for r, d in zip(region.tolist(), district.tolist(), strict=True)
    ]
    basis = []
    for cat, pick in zip(frame["category"].tolist(), rng.integers(3, size=n).tolist(), strict=True):
        if is_revocation(cat):
            basis.append(BASIS["revocation"])
        elif cat == "警告":
            basis.append(BASIS["warning"])
        else:
            basis.append(BASIS["other"][pick])
    frame["basis"] = basis
    fined = np.array(["罚款" in c for c in frame["category"].tolist()], dtype=bool)
    amount = rng.integers(5, 200, size=n) * 1000
    frame["fine"] = np.where(fined, amount, 0)
    frame["rep"] = reps_at(tenures, frame["company"].to_numpy(), when)
    frame["revocation"] = [is_revocation(c) for c in frame["category"].tolist()]
    return frame


def court_entries(
    companies: pd.DataFrame, n_people: int, tenures: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Judgment defaulters: some people, some companies (a few with a co-defendant)."""
    n_c = len(companies)
    people = np.unique(draw_holders(rng, n_people, max(3, n_people // 120)))
    firms = np.flatnonzero(rng.random(n_c) < 0.015)
    est = companies["established"].to_numpy(dtype="datetime64[D]")
    party_kind = np.r_[
        np.full(people.size, "person", dtype=object), np.full(firms.size, "company", dtype=object)
    ]
    party = np.r_[people, firms]
    low = np.r_[
        np.full(people.size, day("2014-01-01")), np.maximum(est[firms] + 365, day("2014-01-01"))
    ]
    published = uniform_days(rng, low, REF_DATE - 10)
    case = np.arange(party.size)
    joint = np.flatnonzero((party_kind == "company") & (rng.random(party.size) < 0.1))
    party_kind = np.r_[party_kind, np.full(joint.size, "person", dtype=object)]
    party = np.r_[party, draw_holders(rng, n_people, joint.size)]
    published = np.r_[published, published[joint]]
    case = np.r_[case, case[joint]]
    frame = pd.DataFrame(
        {"case": case, "party_kind": party_kind, "party": party, "published": published}
    )
    frame = frame.drop_duplicates(["case", "party_kind", "party"], ignore_index=True)
    n = len(frame)
    removed = frame["published"].to_numpy(dtype="datetime64[D]") + rng.integers(
        180, 1100, size=n
    ).astype("timedelta64[D]")
    frame["removed"] = np.where((rng.random(n) < 0.4) & (removed < REF_DATE), removed, NAT)
    home = rng.choice(len(REGIONS), size=int(frame["case"].max()) + 1 if n else 0)
    is_firm = (frame["party_kind"] == "company").to_numpy()
    firm_region = companies["region"].to_numpy()[np.where(is_firm, frame["party"], 0)]
    case_region = (
        pd.Series(np.where(is_firm, firm_region, home[frame["case"]]))
        .groupby(frame["case"])
        .transform("first")
        .to_numpy()
    )
    frame["region"] = case_region
    filed = parts(frame["published"].to_numpy(dtype="datetime64[D]"))[0] - rng.integers(
        0, 2, size=n
    )
    frame["filed_year"] = pd.Series(filed).groupby(frame["case"]).transform("min").to_numpy()
    frame["serial"] = (1000 + rng.permutation(int(frame["case"].max()) + 1 if n else 0))[
        frame["case"]
    ]
    frame["reason"] = np.array(COURT_REASONS, dtype=object)[
        rng.integers(len(COURT_REASONS), size=n)
    ]
    frame["intermediate"] = (
        pd.Series(rng.random(n) < 0.2).groupby(frame["case"]).transform("first").to_numpy()
    )
    reps = reps_at(
        tenures,
        np.where(is_firm, frame["party"], -1),
        frame["published"].to_numpy(dtype="datetime64[D]"),
    )
    frame["rep"] = np.where(is_firm, reps, -1)
    return frame


def licences(
    companies: pd.DataFrame, punished: pd.DataFrame, tenures: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Food business/production licences: the current one, often the expired one before
    it, and for a revoked company the licence that was revoked."""
    est = companies["established"].to_numpy(dtype="datetime64[D]")
    food = food_mask(companies["industry"].to_numpy())
    revoked = punished[punished["revocation"]].drop_duplicates("company")
    revoked_on = pd.Series(
        revoked["date"].to_numpy(dtype="datetime64[D]"), index=revoked["company"].to_numpy()
    )
    holders = np.flatnonzero(food)
    first = est[holders] + rng.integers(20, 200, size=holders.size).astype("timedelta64[D]")
    cut = revoked_on.reindex(holders).to_numpy(dtype="datetime64[D]")
    end_of_life = np.where(np.isnat(cut), REF_DATE, cut)
    cycles = np.maximum((end_of_life - first).astype(np.int64) // 1826, 0)
    current = add_years(first, 5 * cycles)
    late = (current > end_of_life) & (cycles > 0)
    cycles = np.where(late, cycles - 1, cycles)
    current = add_years(first, 5 * cycles)
    ok = current <= end_of_life
    previous = add_years(current, -5)
    with_previous = ok & (cycles > 0) & (rng.random(holders.size) < 0.6)
    rows = []
    for sel, issued, status in ((ok, current, None), (with_previous, previous, "past")):
        idx = np.flatnonzero(sel)
        st = np.empty(idx.size, dtype=object)
        if status == "past":
            st[:] = np.where(rng.random(idx.size) < 0.7, "已过期", "注销")
        else:
            st[:] = np.where(np.isnat(cut[idx]), "有效", "吊销")
        rows.append(
            pd.DataFrame(
                {
                    "company": holders[idx],
                    "issued": issued[idx],
                    "valid_to": add_years(issued[idx], 5),
                    "status": st,
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    frame = frame[frame["issued"] < REF_DATE].reset_index(drop=True)
    frame["rep"] = reps_at(
        tenures, frame["company"].to_numpy(), frame["issued"].to_numpy(dtype="datetime64[D]")
    )
    frame["serial"] = rng.permutation(len(frame))
    return frame


def customs_filings(
    companies: pd.DataFrame,
    n_ordinary: int,
    planted: pd.DataFrame,
    tenures: pd.DataFrame,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Import/export filings of some operating companies (plus planted ones)."""
    est = companies["established"].to_numpy(dtype="datetime64[D]")
    level = companies["level"].to_numpy()
    pick = np.flatnonzero(
        (np.arange(len(companies)) < n_ordinary)
        & (level == 0)
        & (rng.random(len(companies)) < 0.05)
    )
    filed = uniform_days(rng, est[pick] + 30, REF_DATE - 10)
    frame = pd.DataFrame({"company": pick, "filed": filed})
    if len(planted):
        frame = pd.concat([frame, planted], ignore_index=True)
    frame = frame.drop_duplicates("company", ignore_index=True)
    frame["rep"] = reps_at(
        tenures, frame["company"].to_numpy(), frame["filed"].to_numpy(dtype="datetime64[D]")
    )
    frame["serial"] = rng.permutation(len(frame))
    return frame


def serious_violations(
    punished: pd.DataFrame, tenures: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Every revocation puts the company on the list; a few heavy fines do too."""
    fines = punished["fine"].to_numpy() >= 100000
    take = punished["revocation"].to_numpy() | (fines & (rng.random(len(punished)) < 0.2))
    src = punished[take].drop_duplicates("company")
    n = len(src)
    listed = src["date"].to_numpy(dtype="datetime64[D]") + rng.integers(10, 60, size=n).astype(
        "timedelta64[D]"
    )
    listed = np.minimum(listed, REF_DATE - 1)
    removed = listed + rng.integers(365, 1000, size=n).astype("timedelta64[D]")
    removed = np.where((rng.random(n) < 0.3) & (removed < REF_DATE), removed, NAT)
    # the management period (管理期限): three years from listing unless removed earlier
    expires = (pd.DatetimeIndex(listed) + pd.DateOffset(years=3)).to_numpy(dtype="datetime64[D]")
    frame = pd.DataFrame(
        {
            "company": src["company"].to_numpy(),
            "listed": listed,
            "removed": removed,
            "expires": expires,
            "agency": src["agency"].to_numpy(),
            "revocation": src["revocation"].to_numpy(),
            "decision_no": src["decision_no"].to_numpy(),
        }
    )
    frame["rep"] = reps_at(tenures, frame["company"].to_numpy(), listed)
    frame["serial"] = rng.permutation(n)
    return frame
