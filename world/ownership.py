"""Who holds whom: random shareholdings plus the structures control analysis must survive.

Random holdings respect holding levels (a company is only held by companies of a higher
level), so they never form cycles. Planted on top: majority chains six companies deep,
split paths (one person reaching a company through two holding companies) and
cross-holding cycles (A holds 40% of B, B holds 30% of A). Shares are integer basis
points summing to 10,000 per company, so ratios print exactly.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from world.calendar import REF_DATE, uniform_days
from world.industries import HOLDING_CODE
from world.population import MAX_LEVEL

HOLDER_COUNTS = np.array([1, 2, 3, 4])
HOLDER_COUNT_WEIGHTS = np.array([0.35, 0.35, 0.2, 0.1])
COMPANY_HOLDER_SHARE = {0: 0.18, "holding": 0.4}
CHAIN_LENGTH = MAX_LEVEL + 1  # companies in a planted chain, holding levels 5..1 plus one


@dataclass
class Structures:
    """Planted control structures, as company indices."""

    chains: np.ndarray  # (n, 6): top holding company first, operating company last
    splits: np.ndarray  # (n, 3): holding company 1, holding company 2, target
    cycles: np.ndarray  # (n, 2): A, B with A holding B and B holding A


def structure_counts(n_companies: int) -> tuple[int, int, int]:
    return (max(2, n_companies // 2000), max(2, n_companies // 1000), max(2, n_companies // 1000))


def plan_structures(companies: pd.DataFrame, rng: np.random.Generator) -> Structures:
    """Reserve ordinary operating companies for planted structures (sets their levels)."""
    n_chain, n_split, n_cycle = structure_counts(len(companies))
    pool = np.flatnonzero(companies["level"].to_numpy() == 0)
    need = CHAIN_LENGTH * n_chain + 3 * n_split + 2 * n_cycle
    picked = rng.choice(pool, size=need, replace=False)
    chains = picked[: CHAIN_LENGTH * n_chain].reshape(n_chain, CHAIN_LENGTH)
    rest = picked[CHAIN_LENGTH * n_chain :]
    splits = rest[: 3 * n_split].reshape(n_split, 3)
    cycles = rest[3 * n_split :].reshape(n_cycle, 2)
    level = companies["level"].to_numpy().copy()
    industry = companies["industry"].to_numpy().copy()
    for depth in range(CHAIN_LENGTH - 1):
        level[chains[:, depth]] = MAX_LEVEL - depth
        industry[chains[:, depth]] = HOLDING_CODE
    level[splits[:, :2].ravel()] = 1
    industry[splits[:, :2].ravel()] = HOLDING_CODE
    companies["level"] = level
    companies["industry"] = industry
    return Structures(chains, splits, cycles)


def draw_holders(rng: np.random.Generator, n_people: int, k: int) -> np.ndarray:
    """People for roles: a fifth from a busy few who turn up everywhere."""
    busy = max(1, n_people // 25)
    everyone = rng.integers(n_people, size=k)
    few = rng.integers(busy, size=k)
    return np.where(rng.random(k) < 0.2, few, everyone)


def random_holdings(
    companies: pd.DataFrame, targets: np.ndarray, n_people: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Holders and basis-point shares for `targets`, with company holders of higher level."""
    level = companies["level"].to_numpy()
    k = HOLDER_COUNTS[rng.choice(len(HOLDER_COUNTS), size=targets.size, p=HOLDER_COUNT_WEIGHTS)]
    company = np.repeat(targets, k)
    lvl = level[company]
    q = np.where(lvl == 0, COMPANY_HOLDER_SHARE[0], COMPANY_HOLDER_SHARE["holding"])
    by_level = np.argsort(level, kind="stable")
    sorted_levels = level[by_level]
    first_above = np.searchsorted(sorted_levels, lvl, side="right")
    has_higher = first_above < level.size
    is_company = (rng.random(company.size) < q) & has_higher
    pos = first_above + np.floor(rng.random(company.size) * (level.size - first_above)).astype(
        np.int64
    )
    holder_company = by_level[np.minimum(pos, level.size - 1)]
    holder = np.where(is_company, holder_company, draw_holders(rng, n_people, company.size))
    frame = pd.DataFrame(
        {
            "company": company,
            "holder_kind": np.where(is_company, "company", "person"),
            "holder": holder,
        }
    )
    frame = frame.drop_duplicates(["company", "holder_kind", "holder"], ignore_index=True)
    frame["bp"] = _shares(rng, frame["company"].to_numpy())
    return frame


def _shares(rng: np.random.Generator, company: np.ndarray) -> np.ndarray:
    """Basis points per row summing to 10,000 per company (rows grouped by company)."""
    starts = np.flatnonzero(np.r_[True, company[1:] != company[:-1]])
    group = np.cumsum(np.r_[True, company[1:] != company[:-1]]) - 1
    g = rng.gamma(1.2, size=company.size)
    share = g / np.bincount(group, weights=g)[group]
    coarse = (rng.random(starts.size) < 0.8)[group]
    bp = np.where(coarse, np.floor(share * 100) * 100, np.floor(share * 10000)).astype(np.int64)
    bp = np.maximum(bp, np.where(coarse, 100, 1))
    residual = 10000 - np.bincount(group, weights=bp).astype(np.int64)
    order = np.lexsort((-bp, group))
    largest = order[np.r_[True, group[order][1:] != group[order][:-1]]]
    bp[largest] += residual
    return bp


def planted_holdings(s: Structures, n_people: int, rng: np.random.Generator) -> pd.DataFrame:
    """Holdings for the planted chains, split paths and cycles."""
    rows: list[tuple[int, str, int, int]] = []
    people = iter(
        draw_holders(rng, n_people, 12 * (len(s.chains) + len(s.splits) + len(s.cycles))).tolist()
    )
    for chain in s.chains.tolist():
        rows += [(chain[0], "person", next(people), 7000), (chain[0], "person", next(people), 3000)]
        for upper, lower in itertools.pairwise(chain):
            share = int(rng.choice([5100, 6000, 7000, 8000, 9000]))
            rows += [
                (lower, "company", upper, share),
                (lower, "person", next(people), 10000 - share),
            ]
    for h1, h2, target in s.splits.tolist():
        p = next(people)
        rows += [
            (h1, "person", p, 6000),
            (h1, "person", next(people), 4000),
            (h2, "person", p, 7000),
            (h2, "person", next(people), 3000),
            (target, "company", h1, 3000),
            (target, "company", h2, 2500),
            (target, "person", next(people), 2500),
            (target, "person", next(people), 2000),
        ]
    for a, b in s.cycles.tolist():
        x = int(rng.choice([3000, 4000, 4500]))  # A's share of B
        y = int(rng.choice([2000, 3000]))  # B's share of A
        rows += [
            (b, "company", a, x),
            (b, "person", next(people), 10000 - x),
            (a, "company", b, y),
            (a, "person", next(people), 8000 - y),
            (a, "person", next(people), 2000),
        ]
    frame = pd.DataFrame(rows, columns=["company", "holder_kind", "holder", "bp"])
    # the same person drawn twice for one company holds the sum
    keys = ["company", "holder_kind", "holder"]
    return frame.groupby(keys, as_index=False, sort=False)["bp"].sum()


def subscription_dates(
    frame: pd.DataFrame, established: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """When each holding began: the company's founding, or the holder company's if later;
    some person holders bought in later."""
    company = frame["company"].to_numpy()
    start = established[company]
    is_company = (frame["holder_kind"] == "company").to_numpy()
    holder_est = established[np.where(is_company, frame["holder"].to_numpy(), 0)]
    start = np.where(is_company, np.maximum(start, holder_est), start)
    later = ~is_company & (rng.random(len(frame)) < 0.15)
    bought = uniform_days(rng, start + 30, REF_DATE - 30, len(frame))
    return np.where(later, np.maximum(start, bought), start)
