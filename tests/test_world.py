"""The synthetic world: deterministic, valid against the sources contract, and true to itself.

The truth is what every other room is scored against, so it is checked here from several
sides: control arithmetic against hand numbers and brute-force path sums, planted cases
against the extracts that must show them, and every planted broken row against the bytes
of its file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from pypinyin import lazy_pinyin
from shared_world import WORLD_COMPANIES as COMPANIES
from shared_world import WORLD_SEED as SEED
from shared_world import WORLD_XLSX_ROWS as XLSX_ROWS

from config.sources import load_sources
from loaders.fields import ratio_form
from loaders.identifiers import parse_resident_id, parse_uscc
from world import control, names
from world.build import World, build_world
from world.extract import BAD_DATE, BAD_RATIO, RATIO_TOO_HIGH
from world.extract_equity import ratio_text
from world.generate import generate_world
from world.industries import is_food
from world.scenarios import ALERT_VARIANTS, NEAR_MISS_KINDS

# world_dir: the session's world (conftest.py), generated with COMPANIES, SEED, XLSX_ROWS.


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(COMPANIES, SEED)


def truth(world_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(world_dir / "truth" / f"{name}.parquet")


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# -- determinism and contract ------------------------------------------------------------


@pytest.mark.slow
def test_same_seed_gives_the_same_bytes(world_dir: Path, tmp_path: Path) -> None:
    # Generates on purpose: the session's world against a second one of the same seed
    # (and a third of the next), byte for byte.
    generate_world(COMPANIES, SEED, tmp_path / "again", xlsx_max_rows=XLSX_ROWS)
    assert digests(world_dir) == digests(tmp_path / "again")
    generate_world(COMPANIES, SEED + 1, tmp_path / "other", xlsx_max_rows=XLSX_ROWS)
    other = digests(tmp_path / "other")
    assert (
        other["extracts/registry/company_registry.csv"]
        != digests(world_dir)["extracts/registry/company_registry.csv"]
    )


def test_sources_yaml_validates_and_every_glob_matches(world_dir: Path) -> None:
    sources = load_sources(world_dir / "sources.yaml")
    assert len(sources.sources) == 9
    for name, spec in sources.sources.items():
        assert sorted(world_dir.glob(spec.files)), name
    assert len(list(world_dir.glob(sources.sources["key_personnel"].files))) > 1  # split


def test_summary_is_json_without_paths(world_dir: Path) -> None:
    summary = json.loads((world_dir / "world.json").read_text(encoding="utf-8"))
    assert summary["companies"] == COMPANIES and "out" not in summary
    assert set(summary["alerts"]) == set(ALERT_VARIANTS)


# -- control arithmetic ------------------------------------------------------------------


def holdings(rows: list[tuple[int, str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["company", "holder_kind", "holder", "share"])


def test_cross_holding_cycle_matches_hand_numbers() -> None:
    # A=0 holds 40% of B=1; B holds 30% of A. Persons: 0 (50% of A), 1 (20% of A), 2 (60% of B).
    h = holdings(
        [
            (1, "company", 0, 0.4),
            (0, "company", 1, 0.3),
            (0, "person", 0, 0.5),
            (0, "person", 1, 0.2),
            (1, "person", 2, 0.6),
        ]
    )
    a, p = control.matrices(2, 3, h)
    lt = control.look_through(a, p).toarray()
    # L_A = P_A + 0.3 L_B and L_B = P_B + 0.4 L_A, so L_A = (P_A + 0.3 P_B) / 0.88.
    expected = np.array(
        [
            [0.5 / 0.88, 0.4 * 0.5 / 0.88],
            [0.2 / 0.88, 0.4 * 0.2 / 0.88],
            [0.3 * 0.6 / 0.88, 0.6 / 0.88],
        ]
    )
    np.testing.assert_allclose(lt, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lt.sum(axis=0), [1.0, 1.0], atol=1e-12)
    owned = control.ownership_table(control.look_through(a, p))
    ctrl = control.controllers(2, h.assign(subscribed=np.datetime64("2020-01-01")), owned)
    assert ctrl["basis"].tolist() == ["look_through", "majority_chain"]
    assert ctrl["person"].tolist() == [0, 2]


def test_look_through_equals_path_sums_on_the_acyclic_part(world: World) -> None:
    h = world.holdings
    cyclic = set(world.structures.cycles.ravel().tolist())
    acyclic = h[~(h["company"].isin(cyclic) & (h["holder_kind"] == "company"))]
    a, p = control.matrices(len(world.companies), len(world.people), acyclic)
    lt = control.look_through(a, p).todok()
    brute = control.path_sum_look_through(acyclic)
    assert len(brute) == lt.nnz
    worst = max(abs(lt[person, company] - share) for (person, company), share in brute.items())
    assert worst < 1e-12
    with pytest.raises(ValueError, match="cycle"):
        control.path_sum_look_through(h)


def test_look_through_solves_the_linear_system_with_cycles(world: World) -> None:
    a, p = control.matrices(len(world.companies), len(world.people), world.holdings)
    lt = control.look_through(a, p)
    assert abs(lt - (p + lt @ a)).max() < 1e-12
    cycles = world.structures.cycles
    assert cycles.size and all(a[x, y] > 0 and a[y, x] > 0 for x, y in cycles.tolist())


def test_truth_ownership_recomputes_from_truth_holdings(world_dir: Path) -> None:
    sh = truth(world_dir, "shareholdings")
    companies = truth(world_dir, "companies")["true_company_id"]
    persons = truth(world_dir, "persons")["true_person_id"]
    c_index = pd.Series(np.arange(len(companies)), index=companies)
    p_index = pd.Series(np.arange(len(persons)), index=persons)
    is_person = sh["holder_kind"] == "person"
    h = pd.DataFrame(
        {
            "company": c_index[sh["company_id"]].to_numpy(),
            "holder_kind": sh["holder_kind"],
            "holder": np.where(
                is_person,
                p_index.reindex(sh["holder_id"]).fillna(-1),
                c_index.reindex(sh["holder_id"]).fillna(-1),
            ).astype(int),
            "share": sh["share"],
        }
    )
    a, p = control.matrices(len(companies), len(persons), h)
    recomputed = control.ownership_table(control.look_through(a, p))
    own = truth(world_dir, "ownership")
    assert len(own) == len(recomputed)
    np.testing.assert_allclose(
        own["look_through_share"], recomputed["look_through_share"], atol=1e-12
    )


def test_beneficial_owners_and_controllers_follow_ownership(world_dir: Path) -> None:
    own = truth(world_dir, "ownership")
    bo = truth(world_dir, "beneficial_owners")
    expected = own[own["look_through_share"] >= 0.25 - control.EPS]
    assert sorted(map(tuple, bo[["company_id", "person_id"]].to_numpy())) == sorted(
        map(tuple, expected[["company_id", "person_id"]].to_numpy())
    )
    ctrl = truth(world_dir, "controllers").set_index("company_id")
    sh = truth(world_dir, "shareholdings")
    major = sh[sh["share"] > 0.5].set_index("company_id")
    top = own.sort_values("look_through_share", ascending=False).groupby("company_id")
    for company, row in ctrl.iterrows():
        chain, seen = company, set()
        while chain in major.index and chain not in seen:
            seen.add(chain)
            holder = major.loc[chain]
            if holder["holder_kind"] == "person":
                chain = holder["holder_id"]
                break
            chain = holder["holder_id"]
        if row["basis"] == "majority_chain":
            assert chain == row["person_id"]
            continue
        assert not str(chain).startswith("P")
        shares = (
            top.get_group(company)["look_through_share"].to_numpy()
            if company in top.groups
            else np.array([0.0])
        )
        if row["basis"] == "look_through":
            assert shares[0] >= 0.25 - control.EPS and row["look_through_share"] == shares[0]
            assert len(shares) == 1 or shares[0] - shares[1] > control.EPS
        else:
            assert pd.isna(row["person_id"])
            assert shares[0] < 0.25 - control.EPS or (
                len(shares) > 1 and shares[0] - shares[1] <= control.EPS
            )


def test_planted_structures_chain_six_deep_and_split_paths(world: World) -> None:
    ctrl = world.controllers.set_index("company")
    owned = world.ownership.set_index(["company", "person"])["look_through_share"]
    h = world.holdings
    for chain in world.structures.chains.tolist():
        top_person = h[(h["company"] == chain[0]) & (h["bp"] == 7000)]["holder"].iloc[0]
        assert ctrl.loc[chain[-1], "basis"] == "majority_chain"
        assert ctrl.loc[chain[-1], "person"] == top_person
    for h1, h2, target in world.structures.splits.tolist():
        both = set(h[(h["company"] == h1) & (h["holder_kind"] == "person")]["holder"]) & set(
            h[(h["company"] == h2) & (h["holder_kind"] == "person")]["holder"]
        )
        person = both.pop()
        assert owned[(target, person)] >= 0.6 * 0.3 + 0.7 * 0.25 - 1e-12


# -- art. 135 truth ----------------------------------------------------------------------


def test_every_variant_and_near_miss_kind_is_planted(world_dir: Path) -> None:
    alerts = truth(world_dir, "alerts_art135")
    near = truth(world_dir, "near_misses")
    assert set(alerts[alerts["planted"]]["variant"]) == set(ALERT_VARIANTS)
    assert set(near["kind"]) == set(NEAR_MISS_KINDS)
    pairs = set(map(tuple, alerts[["person_id", "company_id"]].to_numpy()))
    assert not pairs & set(map(tuple, near[["person_id", "company_id"]].to_numpy()))


def test_alerts_and_near_misses_obey_the_rule(world_dir: Path) -> None:
    alerts = truth(world_dir, "alerts_art135")
    companies = truth(world_dir, "companies").set_index("true_company_id")
    assert companies.loc[alerts["company_id"], "is_food"].all()
    assert (alerts["role_start"] < alerts["ban_end"]).all()
    assert (alerts["company_id"] != alerts["trigger_company_id"]).all()
    near = truth(world_dir, "near_misses").set_index("kind")
    bans = truth(world_dir, "bans")
    assert not companies.loc[near.loc[["non_food"], "company_id"], "is_food"].any()
    after = near.loc[["after_ban"]]
    ends = bans.set_index(["person_id", "decision_number"])["ban_end"]
    assert (
        after["role_start"].to_numpy()
        >= ends[list(zip(after["person_id"], after["decision_number"], strict=True))].to_numpy()
    ).all()
    persons = truth(world_dir, "persons").set_index("true_person_id")
    for row in near.loc[["namesake"]].itertuples():
        banned = bans[bans["decision_number"] == row.decision_number]["person_id"]
        same = persons.loc[banned, "name"] == persons.loc[row.person_id, "name"]
        assert same.any() and row.person_id not in set(banned)
    punished = truth(world_dir, "punishments").set_index("decision_number")
    assert (punished.loc[near.loc[["warning_only"], "decision_number"], "category"] == "警告").all()


def _record_pairs(
    world_dir: Path, source: str, person_slot: str, company_slot: str
) -> set[tuple[str, str]]:
    pm = truth(world_dir, "person_mentions")
    cm = truth(world_dir, "company_mentions")
    p = pm[(pm["source"] == source) & (pm["slot"] == person_slot)]
    c = cm[(cm["source"] == source) & (cm["slot"] == company_slot)]
    both = p.merge(c, on="record_id")
    return set(zip(both["true_person_id"], both["true_company_id"], strict=True))


def test_planted_alert_roles_appear_in_the_extracts(world_dir: Path) -> None:
    alerts = truth(world_dir, "alerts_art135")
    planted = alerts[alerts["planted"]]
    reps = _record_pairs(world_dir, "company_registry", "legal_rep", "company") | _record_pairs(
        world_dir, "legal_rep_changes", "new_rep", "company"
    )
    officers = _record_pairs(world_dir, "key_personnel", "person", "company")
    sh = truth(world_dir, "shareholdings")
    held = set(zip(sh["holder_id"], sh["company_id"], strict=True))
    pm = truth(world_dir, "person_mentions")
    for row in planted.itertuples():
        pair = (row.person_id, row.company_id)
        if row.role == "legal_rep":
            assert pair in reps
        elif row.variant == "officer":
            assert pair in officers
        else:  # via a holding company: a chain of filed holdings from the person down
            frontier, reached = {row.person_id}, set()
            while frontier:
                step = {c for h, c in held if h in frontier} - reached
                reached |= step
                frontier = step
            assert row.company_id in reached
    variants = planted[planted["variant"] == "name_variant"]
    registry = pm[(pm["source"] == "company_registry") & (pm["slot"] == "legal_rep")]
    forms = set(registry[registry["true_person_id"].isin(variants["person_id"])]["name_form"])
    assert forms & {"traditional", "homophone"}
    customs = pm[pm["source"] == "customs_filings"]
    assert set(variants["person_id"]) <= set(customs["true_person_id"])


def test_registry_rep_is_the_last_change(world_dir: Path) -> None:
    pm = truth(world_dir, "person_mentions")
    cm = truth(world_dir, "company_mentions")
    roles = truth(world_dir, "roles")
    current = roles[(roles["role"] == "legal_rep") & roles["valid_to"].isna()]
    current = dict(zip(current["company_id"], current["person_id"], strict=True))
    reg = pm[(pm["source"] == "company_registry") & (pm["slot"] == "legal_rep")].merge(
        cm[(cm["source"] == "company_registry")], on="record_id"
    )
    assert all(
        current[c] == p for c, p in zip(reg["true_company_id"], reg["true_person_id"], strict=True)
    )


# -- names -------------------------------------------------------------------------------


def test_most_common_names_are_shared_by_several_people(world_dir: Path) -> None:
    persons = truth(world_dir, "persons")
    counts = persons["name"].value_counts()
    assert (counts.iloc[:50] >= names.TOP_NAME_MIN_PEOPLE).all()
    assert counts["王伟"] >= names.TOP_NAME_MIN_PEOPLE


def test_name_variants_are_what_they_claim(world_dir: Path) -> None:
    rng = np.random.default_rng(0)
    for group in names.HOMOPHONES:
        assert len({lazy_pinyin(c)[0] for c in group}) == 1, group
    variant = names.homophone("伟", rng)
    assert variant in ("玮", "炜", "维")
    assert names.traditional("张伟") == "張偉"
    # a clerk's same-sound character in a company's brand: 兴 for 星, 禾/和/合 for 河
    assert names.brand_homophone("星河", rng) in {"兴河", "星禾", "星和", "星合"}
    assert names.brand_homophone("甜", rng) == "天"
    assert names.pinyin_forms("张", "伟")[:2] == ("ZHANG WEI", "Wei Zhang")
    forms = set(truth(world_dir, "person_mentions")["name_form"])
    assert {"canonical", "traditional", "homophone", "pinyin"} <= forms
    company_forms = set(truth(world_dir, "company_mentions")["name_form"])
    assert {"canonical", "former", "bracketed", "legal_form", "homophone"} <= company_forms


@pytest.mark.parametrize("style", ["35%", "0.35", "35.00"])
def test_ratio_forms_read_back_exactly_in_their_style(style: str) -> None:
    bp = np.array([1, 37, 99, 100, 2500, 3333, 5000, 9999, 10000])
    texts = ratio_text(bp, np.full(bp.size, style, dtype=object))
    readings = [ratio_form(t) for t in texts]
    fraction = style == "0.35"
    read = [n if fraction else round(n / 100, 10) for n, _ in readings]
    assert read == (bp / 10000).tolist()
    # The readings that only the column or the company's total can decide
    # (loaders/ratios.py): a whole holding written "1", 1% written "1.00", 0.5% as "0.50"
    forms = dict(zip(bp.tolist(), (f for _, f in readings), strict=True))
    if fraction:
        assert forms[10000] == "one" and forms[5000] == "below_one"
    elif style == "35.00":
        assert forms[100] == "one" and forms[37] == "below_one"


# -- planted damage ----------------------------------------------------------------------


def _physical_rows(world_dir: Path, spec) -> list[tuple[str, int, dict | None, int]]:
    """Every data row of a source in file order: (file, line, values or None, width)."""
    out: list[tuple[str, int, dict | None, int]] = []
    for path in sorted(world_dir.glob(spec.files)):
        rel = str(path.relative_to(world_dir))
        if spec.format == "csv":
            lines = path.read_bytes().replace(b"\r\n", b"\n").split(b"\n")[:-1]
            header = lines[0].decode(spec.encoding).split(",")
            for number, raw in enumerate(lines[1:], start=2):
                try:
                    fields = raw.decode(spec.encoding).split(",")
                except UnicodeDecodeError:
                    out.append((rel, number, None, 0))
                    continue
                out.append((rel, number, dict(zip(header, fields, strict=False)), len(fields)))
        elif spec.format == "jsonl":
            for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    out.append((rel, number, json.loads(text), 0))
                except json.JSONDecodeError:
                    out.append((rel, number, None, 0))
        elif spec.format == "xlsx":
            rows = list(load_workbook(path, read_only=True)[spec.sheet].iter_rows(values_only=True))
            out += [
                (rel, number, dict(zip(rows[0], r, strict=True)), 0)
                for number, r in enumerate(rows[1:], start=2)
            ]
        else:
            frame = pd.read_parquet(path)
            out += [(rel, number, r, 0) for number, r in enumerate(frame.to_dict("records"), 1)]
    return out


def test_broken_rows_are_broken_in_the_files(world_dir: Path) -> None:
    broken = truth(world_dir, "broken_rows")
    sources = load_sources(world_dir / "sources.yaml").sources
    assert set(broken["reason"]) == {
        "missing_key",
        "duplicate_key",
        "wrong_column_count",
        "undecodable",
        "unparseable_json",
        "unparseable_date",
        "unparseable_ratio",
        "ratio_out_of_range",
        "missing_value",
    }
    blank = (None, "")
    planted_values = {
        "unparseable_date": BAD_DATE,
        "unparseable_ratio": BAD_RATIO,
        "ratio_out_of_range": RATIO_TOO_HIGH,
    }
    for source, rows in broken.groupby("source"):
        spec = sources[source]
        key = spec.key_columns
        physical = _physical_rows(world_dir, spec)
        where = {(f, line): i for i, (f, line, _, _) in enumerate(physical)}
        width = len(physical[0][2]) if spec.format == "csv" else 0
        for row in rows.itertuples():
            i = where[(row.file, row.line)]
            values, fields = physical[i][2], physical[i][3]
            if row.reason in ("undecodable", "unparseable_json"):
                assert values is None
            elif row.reason == "wrong_column_count":
                assert fields != width
            elif row.reason == "missing_key":
                assert all(values.get(k) in blank for k in key)
            elif row.reason == "duplicate_key":
                earlier = {tuple(v[k] for k in key) for _, _, v, _ in physical[:i] if v}
                assert tuple(values[k] for k in key) in earlier
            elif row.reason == "missing_value":
                assert values[row.field] in blank
            else:
                assert values[row.field] == planted_values[row.reason]


def test_invalid_fields_fail_only_their_check_character(world_dir: Path) -> None:
    invalid = truth(world_dir, "invalid_fields")
    assert set(invalid["field"]) == {"uscc", "id_number"}
    registry = pd.read_csv(
        world_dir / "extracts/registry/company_registry.csv", dtype=str, keep_default_na=False
    ).drop_duplicates("主体身份代码")
    rows = registry.set_index("主体身份代码")
    mine = invalid[invalid["source"] == "company_registry"]
    for row in mine.itertuples():
        if row.field == "uscc":
            parsed = parse_uscc(rows.loc[row.record_id, "统一社会信用代码"])
        else:
            parsed = parse_resident_id(rows.loc[row.record_id, "法定代表人证件号码"], b"k")
        assert parsed.status == "invalid" and parsed.reason == "invalid_check_digit"
    mentions = truth(world_dir, "company_mentions")
    assert set(mine["record_id"]) <= set(
        mentions[mentions["source"] == "company_registry"]["record_id"]
    )


def test_industries_of_food_rule() -> None:
    assert all(is_food(c) for c in ("C1391", "C1441", "C1512", "F5221", "F5124", "H6210"))
    assert not any(is_food(c) for c in ("C3130", "I6510", "K7010", "L7212", "C2710"))
