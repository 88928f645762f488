"""The art. 135 alerts the world's truth says a rule must raise, computed from the truth.

The rule, as the truth applies it:
- Trigger: a food-safety punishment whose category revokes a licence (吊销许可证, ...),
  decided on t0 against company X.
- Banned: X's legal representative on t0 (the tenure with valid_from <= t0 < valid_to)
  and every directly responsible person named in the decision. Ban window: [t0, t0 + 5
  calendar years); 29 February rolls to 1 March.
- Alert: a banned person holds a role in a food company Y != X (industry code starting
  C13, C14, C15, F51, F52, H62; registry status is not considered) and the role's
  interval overlaps the window: start < ban end and (no end or end > t0).
- Roles: legal_rep (tenures from the registry and the change history); director,
  supervisor, manager (current officers from their appointment date; 执行董事兼总经理
  gives director and manager; 财务负责人 gives none); actual_controller and
  beneficial_owner (present equity, open-ended, starting when the supporting holdings
  were all in place: the latest start along the majority chain, or the latest start
  among all holdings on the person's paths for look-through control and ownership).
- One alert per (person, company, decision, role), with the earliest qualifying start.
Variant: the planted variant when the case was planted, else by role (legal_rep ->
direct_legal_rep, officer roles -> officer, equity roles -> via_holding).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from world.calendar import NAT, add_years
from world.control import equity_starts, majority_chain_starts
from world.industries import LAW_FOOD_CLASSES
from world.scenarios import BAN_YEARS

TITLE_ROLES: dict[str, tuple[str, ...]] = {
    "董事长": ("director",),
    "董事": ("director",),
    "执行董事": ("director",),
    "执行董事兼总经理": ("director", "manager"),
    "监事": ("supervisor",),
    "监事会主席": ("supervisor",),
    "经理": ("manager",),
    "总经理": ("manager",),
    "财务负责人": ("finance_officer",),  # a senior manager of Company Law art. 265
}
ROLE_VARIANT = {
    "legal_rep": "direct_legal_rep",
    "director": "officer",
    "supervisor": "officer",
    "manager": "officer",
    "finance_officer": "officer",
    "actual_controller": "via_holding",
    "beneficial_owner": "via_holding",
}


def bans(punishments: pd.DataFrame) -> pd.DataFrame:
    """(person, trigger, t0, ban_end, trigger_company, basis) for every revocation."""
    rev = punishments[punishments["revocation"]].reset_index().rename(columns={"index": "trigger"})
    rows = []
    for trig, company, t0, rep, responsible in rev[
        ["trigger", "company", "date", "rep", "responsible"]
    ].itertuples(index=False):
        named = set(responsible)
        if rep >= 0:
            rows.append(
                (rep, trig, company, t0, "legal_rep+responsible" if rep in named else "legal_rep")
            )
        rows += [(p, trig, company, t0, "responsible") for p in responsible if p != rep]
    frame = pd.DataFrame(rows, columns=["person", "trigger", "trigger_company", "t0", "basis"])
    frame["t0"] = frame["t0"].to_numpy(dtype="datetime64[D]")
    frame["ban_end"] = add_years(frame["t0"].to_numpy(dtype="datetime64[D]"), BAN_YEARS)
    return frame.drop_duplicates(["person", "trigger"], ignore_index=True)


def roles_of(
    people: np.ndarray,
    tenures: pd.DataFrame,
    officers: pd.DataFrame,
    holdings: pd.DataFrame,
    controllers: pd.DataFrame,
    owners: pd.DataFrame,
) -> pd.DataFrame:
    """Every role of `people`: (person, company, role, start, end)."""
    parts = []
    t = tenures[tenures["person"].isin(people)]
    parts.append(
        pd.DataFrame(
            {
                "person": t["person"],
                "company": t["company"],
                "role": "legal_rep",
                "start": t["valid_from"],
                "end": t["valid_to"],
            }
        )
    )
    o = officers[officers["person"].isin(people)]
    for title, roles in TITLE_ROLES.items():
        sel = o[o["title"] == title]
        for role in roles:
            parts.append(
                pd.DataFrame(
                    {
                        "person": sel["person"],
                        "company": sel["company"],
                        "role": role,
                        "start": sel["appointed"],
                        "end": NAT,
                    }
                )
            )
    reach = equity_starts(people, holdings).set_index(["person", "company"])["start"]
    chain_start = majority_chain_starts(int(controllers["company"].max()) + 1, holdings)
    c = controllers[controllers["person"].isin(people)]
    start = np.where(
        c["basis"] == "majority_chain",
        chain_start[c["company"].to_numpy()],
        reach.reindex(pd.MultiIndex.from_arrays([c["person"], c["company"]])).to_numpy(
            dtype="datetime64[D]"
        ),
    )
    parts.append(
        pd.DataFrame(
            {
                "person": c["person"],
                "company": c["company"],
                "role": "actual_controller",
                "start": start,
                "end": NAT,
            }
        )
    )
    b = owners[owners["person"].isin(people)]
    parts.append(
        pd.DataFrame(
            {
                "person": b["person"],
                "company": b["company"],
                "role": "beneficial_owner",
                "start": reach.reindex(
                    pd.MultiIndex.from_arrays([b["person"], b["company"]])
                ).to_numpy(dtype="datetime64[D]"),
                "end": NAT,
            }
        )
    )
    frame = pd.concat(parts, ignore_index=True)
    for col in ("start", "end"):
        frame[col] = frame[col].to_numpy(dtype="datetime64[D]")
    return frame


def art135_alerts(
    industry: np.ndarray,
    ban: pd.DataFrame,
    roles: pd.DataFrame,
    planted: pd.DataFrame,
    licences: pd.DataFrame,
) -> pd.DataFrame:
    """Join bans with roles under the rule above; label variants.

    In scope: a company of a food class, or one holding a food licence in force at some
    time during the role within the ban (a licence revoked or cancelled counts until the
    day it ends in the world, which the extract does not give: veil counts only its issue
    day, so such alerts may be missed, never invented)."""
    m = ban.merge(roles, on="person")
    food_class = np.array([c.startswith(LAW_FOOD_CLASSES) for c in industry.tolist()], dtype=bool)
    start = m["start"].to_numpy(dtype="datetime64[D]")
    end = m["end"].to_numpy(dtype="datetime64[D]")
    t0 = m["t0"].to_numpy(dtype="datetime64[D]")
    ban_end = m["ban_end"].to_numpy(dtype="datetime64[D]")
    overlaps = (start < ban_end) & (np.isnat(end) | (end > t0))
    keep = (m["company"] != m["trigger_company"]).to_numpy() & overlaps
    in_scope = food_class[m["company"].to_numpy()] | _licensed(m, licences, t0, ban_end)
    m = m[keep & in_scope]
    m = m.sort_values(["person", "company", "trigger", "role", "start"])
    m = m.drop_duplicates(["person", "company", "trigger", "role"], ignore_index=True)
    key = ["person", "company", "trigger", "role"]
    labelled = m.merge(planted[[*key, "variant"]], on=key, how="left")
    labelled["planted"] = labelled["variant"].notna()
    labelled["variant"] = labelled["variant"].fillna(labelled["role"].map(ROLE_VARIANT))
    return labelled[
        [
            "person",
            "company",
            "trigger",
            "trigger_company",
            "t0",
            "ban_end",
            "role",
            "start",
            "variant",
            "planted",
        ]
    ]


def _licensed(
    m: pd.DataFrame, licences: pd.DataFrame, t0: np.ndarray, ban_end: np.ndarray
) -> np.ndarray:
    """Whether each (role, ban) row's company held a licence during role ∩ ban."""
    lo = np.maximum(
        np.where(
            np.isnat(m["start"].to_numpy(dtype="datetime64[D]")),
            t0,
            m["start"].to_numpy(dtype="datetime64[D]"),
        ),
        t0,
    )
    end = m["end"].to_numpy(dtype="datetime64[D]")
    hi = np.where(np.isnat(end), ban_end, np.minimum(end, ban_end))
    rows = pd.DataFrame(
        {"row": np.arange(len(m)), "company": m["company"].to_numpy(), "lo": lo, "hi": hi}
    )
    joined = rows.merge(licences[["company", "issued", "valid_to"]], on="company")
    hit = (joined["issued"].to_numpy(dtype="datetime64[D]") < joined["hi"].to_numpy()) & (
        joined["valid_to"].to_numpy(dtype="datetime64[D]") > joined["lo"].to_numpy()
    )
    out = np.zeros(len(m), dtype=bool)
    out[joined["row"].to_numpy()[hit]] = True
    return out


def check_planted(alerts: pd.DataFrame, planted: pd.DataFrame, near_misses: pd.DataFrame) -> None:
    """Raise if a planted alert is missing or a planted near miss alerts (generator bug)."""
    key = ["person", "company", "trigger", "role"]
    found = planted.merge(alerts[key], on=key, how="left", indicator=True)
    missing = found[found["_merge"] == "left_only"]
    if len(missing):
        raise RuntimeError(f"planted alerts not raised by the rule: {missing.head().to_dict()}")
    starts = found[found["_merge"] == "both"]
    if "start" in alerts and len(starts):
        merged = planted.merge(alerts[[*key, "start"]], on=key)
        off = merged[
            merged["start"].to_numpy(dtype="datetime64[D]")
            != merged["role_start"].to_numpy(dtype="datetime64[D]")
        ]
        if len(off):
            raise RuntimeError(f"planted role starts differ from the rule's: {off.head()}")
    pairs = near_misses.merge(alerts[["person", "company"]], on=["person", "company"])
    if len(pairs):
        raise RuntimeError(f"near misses that alert: {pairs.head().to_dict()}")
