"""Benchmark name standardisation: rows per second for person and company mentions.

    .venv/bin/python bench/standardise.py --rows 1000000
    .venv/bin/python bench/standardise.py --run bench/out/run-100000-7

Synthetic names are drawn like the world generator's (realistic surnames, a few very common
given names, popular companies mentioned in many extracts) with its variants: traditional
characters, same-sound characters, romanised pinyin, full-width text; bracketed regions,
legal-form synonyms, former names. Each table is standardised once, cold (the pinyin and
OpenCC tables and the company terms load inside the timing). With --run, the run
directory's own person_mentions and company_mentions are timed instead. Prints a table
and one JSON line per table for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from linkage.standardise import standardise_company_mentions, standardise_person_mentions
from world import names as wn
from world.industries import INDUSTRIES
from world.regions import REGIONS

FULL_WIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)} | {" ": "\u3000"})


def _popularity(rng: np.random.Generator, distinct: int, rows: int) -> np.ndarray:
    """Row -> entity index: a few entities are mentioned very often, most a few times."""
    weights = 1.0 / np.arange(1, distinct + 1) ** 0.6
    return rng.choice(distinct, size=rows, p=weights / weights.sum())


def person_table(rows: int, people: int, seed: int) -> pa.Table:
    """person_mentions-like rows: name variants of `people` people."""
    rng = np.random.default_rng(seed)
    sex = np.where(rng.random(people) < 0.5, "M", "F").astype(object)
    surname = wn.draw_surnames(rng, people)
    given = wn.draw_given(rng, sex)
    who = _popularity(rng, people, rows)
    variant = rng.random(rows)
    names = np.empty(rows, dtype=object)
    for row, (p, v) in enumerate(zip(who.tolist(), variant.tolist(), strict=True)):
        sur, giv = surname[p], given[p]
        if v < 0.015:
            names[row] = wn.traditional(sur + giv)
        elif v < 0.025:
            names[row] = wn.pinyin_name(sur, giv, rng)
        elif v < 0.03:
            names[row] = sur + (wn.homophone(giv, rng) or giv)
        elif v < 0.035:
            names[row] = f"{sur} {giv}".translate(FULL_WIDTH)
        elif v < 0.036:
            names[row] = None
        else:
            names[row] = sur + giv
    return _mentions(names, {})


def company_table(rows: int, companies: int, seed: int) -> pa.Table:
    """company_mentions-like rows: name variants of `companies` companies, former names."""
    rng = np.random.default_rng(seed + 1)
    city_w = np.array([r.weight for r in REGIONS], dtype=float)
    city = rng.choice(len(REGIONS), size=companies, p=city_w / city_w.sum())
    ind_w = np.array([max(i.weight, 1) for i in INDUSTRIES], dtype=float)
    industry = rng.choice(len(INDUSTRIES), size=companies, p=ind_w / ind_w.sum())
    word_pick = rng.integers(0, 2, size=companies)
    width = rng.choice([2, 3], size=companies)
    codes = rng.choice(wn.brand_space(3), size=companies, replace=False)
    form_pick = rng.choice(len(wn.LEGAL_FORMS), size=companies, p=wn.LEGAL_FORM_WEIGHTS)
    who = _popularity(rng, companies, rows)
    variant = rng.random(rows)
    has_former = rng.random(rows) < 0.01
    names = np.empty(rows, dtype=object)
    former: list[list[str] | None] = []
    for row, (c, v) in enumerate(zip(who.tolist(), variant.tolist(), strict=True)):
        place = REGIONS[city[c]].city
        brand = wn.brand(int(codes[c]), int(width[c]))
        words = INDUSTRIES[industry[c]].words
        word = words[int(word_pick[c]) % len(words)]
        form = wn.LEGAL_FORMS[form_pick[c]]
        if v < 0.02:
            names[row] = wn.bracketed(place, brand, word, form)
        elif v < 0.03:
            names[row] = wn.bracketed(place, brand, word, form, full_width=False)
        elif v < 0.05:
            names[row] = wn.company_name(place, brand, word, wn.swap_form(form))
        elif v < 0.055:
            names[row] = wn.traditional(wn.company_name(place, brand, word, form))
        elif v < 0.06:
            names[row] = (
                wn.company_name(place, brand, word, form)
                + f"{REGIONS[c % len(REGIONS)].city}分公司"
            )
        elif v < 0.061:
            names[row] = None
        else:
            names[row] = wn.company_name(place, brand, word, form)
        if has_former[row]:
            old = wn.brand(int(codes[(c + 1) % companies]), int(width[c]))
            former.append([wn.company_name(place, old, word, form)])
        else:
            former.append(None if v < 0.5 else [])
    return _mentions(names, {"former_names": pa.array(former, pa.list_(pa.string()))})


def _mentions(names: np.ndarray, extra: dict[str, pa.Array]) -> pa.Table:
    rows = len(names)
    return pa.table(
        {
            "source": pa.array(["bench"] * rows),
            "record_id": pa.array([str(i) for i in range(rows)]),
            "slot": pa.array(["name"] * rows),
            "name": pa.array(names.tolist(), pa.string()),
            **extra,
        }
    )


def _time(label: str, fn: Callable[[pa.Table], pa.Table], table: pa.Table) -> dict:
    distinct = len(table.column("name").unique())
    started = time.perf_counter()
    out = fn(table)
    seconds = time.perf_counter() - started
    assert out.num_rows == table.num_rows
    rows = table.num_rows
    print(f"{label:<10}{rows:>12,}{distinct:>12,}{seconds:>10.2f}{rows / seconds:>14,.0f}")
    return {
        "bench": f"standardise_{label}",
        "rows": rows,
        "distinct_names": distinct,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=400_000, help="distinct people drawn")
    parser.add_argument("--companies", type=int, default=200_000, help="distinct companies")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--run", type=Path, default=None, help="time a run directory's tables")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.run is not None:
        persons = pq.read_table(args.run / "person_mentions.parquet")
        companies = pq.read_table(args.run / "company_mentions.parquet")
    else:
        persons = person_table(args.rows, args.people, args.seed)
        companies = company_table(args.rows, args.companies, args.seed)
    print(f"input ready in {time.perf_counter() - started:.1f} s")
    print(f"{'table':<10}{'rows':>12}{'distinct':>12}{'seconds':>10}{'rows/s':>14}")
    results = [
        _time("persons", standardise_person_mentions, persons),
        _time("companies", standardise_company_mentions, companies),
    ]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mib:,.0f} MiB")
    for result in results:
        print(json.dumps(result | {"peak_rss_mib": round(peak_mib)}))


if __name__ == "__main__":
    main()
