"""Legal representatives over time and the current officers of every ordinary company.

One legal representative at a time; about a quarter of companies changed theirs, and the
change history is what lets a rule ask "who was the legal representative on the day the
licence was revoked". Officers follow common board templates (an executive director
who is also general manager plus a supervisor for small firms; a board for larger ones).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from world.calendar import NAT, REF_DATE, uniform_days
from world.ownership import draw_holders

CHANGE_COUNTS = np.array([0, 1, 2, 3])
CHANGE_WEIGHTS = np.array([0.72, 0.2, 0.06, 0.02])

# Board templates: (title, who) with who "rep" = the current legal representative.
TEMPLATES: tuple[tuple[tuple[str, str], ...], ...] = (
    (("执行董事兼总经理", "rep"), ("监事", "any")),
    (("执行董事兼总经理", "rep"), ("监事", "any"), ("财务负责人", "any")),
    (("执行董事", "rep"), ("经理", "any"), ("监事", "any")),
    (("董事长", "rep"), ("董事", "any"), ("董事", "any"), ("监事", "any"), ("总经理", "any")),
    (
        ("董事长", "rep"),
        ("董事", "any"),
        ("董事", "any"),
        ("监事会主席", "any"),
        ("监事", "any"),
        ("总经理", "any"),
        ("财务负责人", "any"),
    ),
    (("执行董事兼总经理", "any"), ("监事", "any")),
)
TEMPLATE_WEIGHTS = np.array([0.4, 0.2, 0.15, 0.12, 0.05, 0.08])


def legal_rep_tenures(
    targets: np.ndarray,
    established: np.ndarray,
    first_rep: np.ndarray,
    n_people: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Tenures (company, person, valid_from, valid_to) for `targets`; valid_to NaT = current.

    `first_rep[i]` is the founding legal representative of targets[i] (-1: draw one).
    """
    est = established[targets]
    can_change = est < REF_DATE - 400
    k = np.where(can_change, CHANGE_COUNTS[rng.choice(4, size=targets.size, p=CHANGE_WEIGHTS)], 0)
    company = np.repeat(targets, k + 1)
    seq = np.arange(company.size) - np.repeat(np.cumsum(k + 1) - (k + 1), k + 1)
    start = uniform_days(rng, np.repeat(est + 180, k + 1), REF_DATE - 30, company.size)
    first = seq == 0
    start[first] = np.repeat(est, k + 1)[first]
    # founders first; later tenures by date within each company
    order = np.lexsort((start.astype(np.int64), ~first, company))
    company, start, first = company[order], start[order], first[order]
    person = draw_holders(rng, n_people, company.size)
    founders = np.repeat(first_rep, k + 1)[order]
    person = np.where(first & (founders >= 0), founders, person)
    for _ in range(3):  # a change never hands the post to the same person
        same = np.r_[False, (person[1:] == person[:-1]) & ~first[1:]]
        if not same.any():
            break
        person[same] = (
            person[same] + 1 + rng.integers(n_people - 1, size=int(same.sum()))
        ) % n_people
    last = np.r_[company[1:] != company[:-1], True]
    end = np.where(last, NAT, np.r_[start[1:], NAT])
    return pd.DataFrame(
        {"company": company, "person": person, "valid_from": start, "valid_to": end}
    )


def officers(
    targets: np.ndarray,
    established: np.ndarray,
    current_rep: np.ndarray,
    rep_since: np.ndarray,
    n_people: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Current officers (company, person, title, appointed) from board templates."""
    template = rng.choice(len(TEMPLATES), size=targets.size, p=TEMPLATE_WEIGHTS)
    sizes = np.array([len(t) for t in TEMPLATES])[template]
    company_pos = np.repeat(np.arange(targets.size), sizes)
    slot = np.arange(company_pos.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    titles = np.array(
        [[t[0] for t in tpl] + [""] * (7 - len(tpl)) for tpl in TEMPLATES], dtype=object
    )
    whos = np.array(
        [[t[1] for t in tpl] + [""] * (7 - len(tpl)) for tpl in TEMPLATES], dtype=object
    )
    tpl = template[company_pos]
    title = titles[tpl, slot]
    is_rep = (whos[tpl, slot] == "rep") & (rng.random(company_pos.size) < 0.85)
    person = np.where(
        is_rep, current_rep[company_pos], draw_holders(rng, n_people, company_pos.size)
    )
    est = established[targets][company_pos]
    appointed = np.where(
        rng.random(company_pos.size) < 0.6,
        est,
        uniform_days(rng, est, REF_DATE - 30, company_pos.size),
    )
    appointed = np.where(is_rep, np.maximum(rep_since[company_pos], est), appointed)
    frame = pd.DataFrame(
        {"company": targets[company_pos], "person": person, "title": title, "appointed": appointed}
    )
    return frame.drop_duplicates(["company", "person"], ignore_index=True)


def current_reps(tenures: pd.DataFrame, n_companies: int) -> tuple[np.ndarray, np.ndarray]:
    """Current legal representative and since when, per company (-1 / NaT if none)."""
    cur = tenures[tenures["valid_to"].isna()]
    rep = np.full(n_companies, -1, dtype=np.int64)
    since = np.full(n_companies, NAT)
    rep[cur["company"].to_numpy()] = cur["person"].to_numpy()
    since[cur["company"].to_numpy()] = cur["valid_from"].to_numpy(dtype="datetime64[D]")
    return rep, since


def reps_at(tenures: pd.DataFrame, company: np.ndarray, when: np.ndarray) -> np.ndarray:
    """The legal representative of each company on each date (-1 when none)."""
    query = pd.DataFrame(
        {
            "q": np.arange(company.size),
            "company": company,
            "when": np.asarray(when, dtype="datetime64[D]"),
        }
    )
    t = tenures[["company", "person", "valid_from", "valid_to"]]
    m = query.merge(t, on="company", how="left")
    vf = m["valid_from"].to_numpy(dtype="datetime64[D]")
    vt = m["valid_to"].to_numpy(dtype="datetime64[D]")
    w = m["when"].to_numpy(dtype="datetime64[D]")
    hit = (vf <= w) & (np.isnat(vt) | (w < vt))
    m = m[hit]
    out = np.full(company.size, -1, dtype=np.int64)
    out[m["q"].to_numpy()] = m["person"].to_numpy(dtype=np.int64)
    return out
