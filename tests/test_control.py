"""Control arithmetic: hand-computed cases, and properties against a dense numpy solve."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.control.controllers import actual_controllers, control_analysis
from graph.control.holdings import HoldingsError
from graph.control.look_through import EPS, beneficial_owners, look_through
from graph.control.one_company import company_control
from graph.control.paths import PathFinder, holding_paths

Row = tuple[str, str, str, float]


def holdings(*rows: Row) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["holder", "holder_kind", "company", "ratio"])


def share(ownership: pd.DataFrame, company: str, person: str) -> float:
    """Look-through share of person in company, 0 when absent."""
    hit = ownership[(ownership["company"] == company) & (ownership["person"] == person)]
    assert len(hit) <= 1
    return float(hit["look_through_share"].sum())


def controller(frame: pd.DataFrame, company: str) -> dict:
    return frame.set_index("company").loc[company].to_dict()


# -- hand cases ---------------------------------------------------------------------------------

# A holds 40% of B, B holds 30% of A; X holds 60% of A, Y 60% of B.
CYCLE = holdings(
    ("A", "company", "B", 0.4),
    ("B", "company", "A", 0.3),
    ("X", "person", "A", 0.6),
    ("Y", "person", "B", 0.6),
)


def test_cycle_matches_closed_form() -> None:
    # (I - A)^-1 = [[1, 0.4], [0.3, 1]] / (1 - 0.4 * 0.3), so with P = [[0.6, 0], [0, 0.6]]:
    result = look_through(CYCLE)
    own = result.ownership
    assert share(own, "A", "X") == pytest.approx(0.6 / 0.88, abs=1e-12)  # 15/22
    assert share(own, "B", "X") == pytest.approx(0.24 / 0.88, abs=1e-12)  # 3/11
    assert share(own, "A", "Y") == pytest.approx(0.18 / 0.88, abs=1e-12)
    assert share(own, "B", "Y") == pytest.approx(0.6 / 0.88, abs=1e-12)
    assert result.converged and result.residual < 1e-12 and result.divergent == []
    assert list(own.columns) == ["company", "person", "look_through_share"]
    assert own[["company", "person"]].values.tolist() == [
        ["A", "X"],
        ["A", "Y"],
        ["B", "X"],
        ["B", "Y"],
    ]


def test_cycle_beneficial_owners_and_paths() -> None:
    result = control_analysis(["A", "B"], CYCLE)
    owners = set(map(tuple, result.beneficial_owners[["company", "person"]].values.tolist()))
    assert owners == {("A", "X"), ("B", "X"), ("B", "Y")}  # X in B: 3/11 >= 25%, Y in A: 20%
    paths, cycles_contribute = holding_paths(CYCLE, "X", "B")
    assert [p.nodes for p in paths] == [["X", "A", "B"]]
    assert paths[0].share == pytest.approx(0.24)
    assert cycles_contribute  # 3/11 = 0.2727 > 0.24: the loop A -> B -> A adds to the figure
    downstream = pd.concat([CYCLE, holdings(("A", "company", "C", 0.5))], ignore_index=True)
    paths, cycles_contribute = holding_paths(downstream, "Y", "C")
    assert [p.nodes for p in paths] == [["Y", "B", "A", "C"]]  # never round the loop
    assert cycles_contribute


def test_split_paths_add() -> None:
    world = holdings(
        ("P", "person", "H1", 0.6),
        ("P", "person", "H2", 0.6),
        ("H1", "company", "C", 0.3),
        ("H2", "company", "C", 0.2),
        ("Q", "person", "C", 0.5),
    )
    own = look_through(world).ownership
    assert share(own, "C", "P") == pytest.approx(0.18 + 0.12, abs=1e-15)
    assert ("C", "P") in set(map(tuple, beneficial_owners(own)[["company", "person"]].values))
    paths, cycles_contribute = holding_paths(world, "P", "C")
    assert [p.nodes for p in paths] == [["P", "H1", "C"], ["P", "H2", "C"]]
    assert [p.share for p in paths] == pytest.approx([0.18, 0.12])
    assert not cycles_contribute


def test_threshold_reached_along_two_paths_despite_rounding() -> None:
    # 0.3 * 0.75 + 0.1 * 0.25 is 0.25 exactly on paper but 0.24999999999999997 in floats.
    world = holdings(
        ("P", "person", "H1", 0.3),
        ("P", "person", "H2", 0.1),
        ("H1", "company", "C", 0.75),
        ("H2", "company", "C", 0.25),
    )
    own = look_through(world).ownership
    assert share(own, "C", "P") == pytest.approx(0.25, abs=1e-15)
    owners = beneficial_owners(own)
    assert owners.loc[owners["company"] == "C", "person"].tolist() == ["P"]
    near = pd.DataFrame(
        {"company": ["C", "D"], "person": ["P", "P"], "look_through_share": [0.25 - 5e-10, 0.2499]}
    )
    assert beneficial_owners(near)["company"].tolist() == ["C"]


def test_six_level_chain() -> None:
    ratios = [0.9, 0.8, 0.7, 0.6, 0.55, 0.51]
    names = ["P", "C1", "C2", "C3", "C4", "C5", "C6"]
    world = holdings(
        *[
            (holder, "person" if holder == "P" else "company", held, ratio)
            for holder, held, ratio in zip(names[:-1], names[1:], ratios, strict=True)
        ]
    )
    result = control_analysis(["C6", "C3"], world)
    assert share(result.look_through.ownership, "C6", "P") == pytest.approx(math.prod(ratios))
    row = controller(result.controllers, "C6")
    assert row["basis"] == "majority_chain" and row["person"] == "P"
    assert row["chain"] == ["C6", "C5", "C4", "C3", "C2", "C1", "P"]
    assert row["look_through_share"] == pytest.approx(math.prod(ratios))
    assert controller(result.controllers, "C3")["chain"] == ["C3", "C2", "C1", "P"]
    paths, cycles_contribute = holding_paths(world, "P", "C6")
    assert [p.nodes for p in paths] == [names] and not cycles_contribute
    assert holding_paths(world, "P", "C6", max_depth=5) == ([], False)


def test_no_controller_among_small_holders() -> None:
    world = holdings(*[(f"P{i}", "person", "C", 0.24) for i in range(4)])
    result = control_analysis(["C"], world)
    assert result.beneficial_owners.empty
    row = controller(result.controllers, "C")
    assert row["basis"] == "none" and row["person"] is None and row["chain"] == []
    assert math.isnan(row["look_through_share"])


def test_tie_for_largest_names_nobody() -> None:
    world = holdings(
        ("P", "person", "C", 0.3), ("Q", "person", "C", 0.3), ("R", "person", "C", 0.4)
    )
    assert controller(control_analysis(["C"], world).controllers, "C")["person"] == "R"
    tied = holdings(("P", "person", "C", 0.35), ("Q", "person", "C", 0.35))
    result = control_analysis(["C"], tied)
    assert controller(result.controllers, "C")["basis"] == "none"
    assert sorted(result.beneficial_owners["person"]) == ["P", "Q"]  # both still owners


def test_exactly_half_breaks_majority_chain() -> None:
    world = holdings(
        ("P", "person", "H", 1.0),
        ("H", "company", "T", 0.5),
        ("Q", "person", "T", 0.3),
        ("R", "person", "T", 0.2),
    )
    controllers = control_analysis(["T", "H"], world).controllers
    row = controller(controllers, "T")
    assert row["basis"] == "look_through" and row["person"] == "P" and row["chain"] == []
    assert row["look_through_share"] == pytest.approx(0.5)
    assert controller(controllers, "H")["chain"] == ["H", "P"]
    nudged = world.assign(ratio=world["ratio"].replace(0.5, 0.5 + 2 * EPS))
    assert controller(control_analysis(["T"], nudged).controllers, "T")["chain"] == ["T", "H", "P"]


def test_majority_cycle_ends_nowhere() -> None:
    world = holdings(
        ("A", "company", "B", 0.6),
        ("B", "company", "A", 0.6),
        ("X", "person", "A", 0.4),
    )
    result = control_analysis(["A", "B"], world)
    own = result.look_through.ownership
    assert share(own, "A", "X") == pytest.approx(0.4 / 0.64)
    assert share(own, "B", "X") == pytest.approx(0.24 / 0.64)
    for company in ("A", "B"):
        row = controller(result.controllers, company)
        assert row["basis"] == "look_through" and row["person"] == "X" and row["chain"] == []


def test_unknown_company_and_empty_holdings() -> None:
    result = control_analysis(["nobody"], holdings())
    assert result.look_through.ownership.empty and result.look_through.iterations == 0
    assert controller(result.controllers, "nobody")["basis"] == "none"


def test_divergent_cycle_is_reported_not_solved() -> None:
    world = holdings(
        ("A", "company", "B", 1.0),
        ("B", "company", "A", 1.0),
        ("X", "person", "A", 0.2),  # A is held 120%: bad data
        ("B", "company", "C", 0.5),
        ("Z", "person", "C", 0.5),
        ("W", "person", "D", 1.0),
    )
    result = look_through(world)
    assert result.divergent == ["A", "B"] and result.affected == ["C"]
    assert result.converged
    assert set(result.ownership["company"]) == {"C", "D"}
    assert share(result.ownership, "C", "Z") == pytest.approx(0.5)
    assert holding_paths(world, "X", "C")[1]


def test_gain_not_column_sums_decides_divergence() -> None:
    # Column sums 1.0 and 0.3, yet the loop gain is sqrt(0.3): the solve converges.
    lopsided = holdings(
        ("A", "company", "B", 1.0), ("B", "company", "A", 0.3), ("X", "person", "A", 0.7)
    )
    result = look_through(lopsided)
    assert result.divergent == [] and result.converged
    assert share(result.ownership, "B", "X") == pytest.approx(0.7 / 0.7)
    # Column sums 0.5, 1.1 and 1.0 straddle 1 in both worlds: only the gain tells them apart.
    # Loops A-C-A (0.6) and A-B-C-A (0.25): 0.6 / r^2 + 0.25 / r^3 = 1 has its root r < 1.
    straddling = holdings(
        ("A", "company", "B", 0.5),
        ("B", "company", "C", 0.5),
        ("A", "company", "C", 0.6),
        ("C", "company", "A", 1.0),
        ("X", "person", "B", 0.4),
    )
    result = look_through(straddling)
    assert result.divergent == [] and result.converged
    # With A-B at 0.9 and B-C at 0.6 the loops weigh 0.6 + 0.54 > 1: gain above 1.
    over = straddling.assign(ratio=[0.9, 0.6, 0.6, 1.0, 0.1])
    assert look_through(over).divergent == ["A", "B", "C"]


def test_self_holding_is_a_cycle() -> None:
    world = holdings(("A", "company", "A", 0.2), ("X", "person", "A", 0.8))
    assert share(look_through(world).ownership, "A", "X") == pytest.approx(1.0)
    assert look_through(holdings(("A", "company", "A", 1.0))).divergent == ["A"]


def test_bad_rows_raise() -> None:
    duplicated = holdings(("P", "person", "C", 0.2), ("P", "person", "C", 0.3))
    with pytest.raises(ValueError, match=r"\('P', 'C'\)"):
        look_through(duplicated)
    with pytest.raises(HoldingsError, match="ratio"):
        look_through(holdings(("P", "person", "C", 1.5)))
    with pytest.raises(HoldingsError, match="both as person and as company"):
        look_through(holdings(("P", "person", "C", 0.5), ("C", "person", "D", 0.5)))


# -- properties against a dense solve -----------------------------------------------------------


@st.composite
def worlds(draw: st.DrawFn, acyclic: bool = False) -> pd.DataFrame:
    """Up to 8 companies and 5 persons; each company's holders total at most 100%."""
    n_companies = draw(st.integers(1, 8))
    n_persons = draw(st.integers(1, 5))
    companies = [f"C{i}" for i in range(n_companies)]
    persons = [f"P{i}" for i in range(n_persons)]
    rows: list[Row] = []
    for index, company in enumerate(companies):
        owners = companies[:index] if acyclic else companies
        candidates = [(p, "person") for p in persons] + [(c, "company") for c in owners]
        chosen = draw(st.lists(st.sampled_from(candidates), max_size=4, unique=True))
        weights = [draw(st.floats(0.01, 1.0)) for _ in chosen]
        total = draw(st.one_of(st.just(1.0), st.floats(0.0, 1.0)))
        rows += [
            (holder, kind, company, total * weight / sum(weights))
            for (holder, kind), weight in zip(chosen, weights, strict=True)
        ]
    return holdings(*rows)


def dense(world: pd.DataFrame, divergent: list[str]) -> tuple[pd.DataFrame, float]:
    """L = P (I - A)^-1 by numpy.linalg.solve, divergent companies left out; and rho(A)."""
    companies = sorted(
        (set(world["company"]) | set(world.loc[world["holder_kind"] == "company", "holder"]))
        - set(divergent)
    )
    persons = sorted(set(world.loc[world["holder_kind"] == "person", "holder"]))
    at = {c: i for i, c in enumerate(companies)}
    who = {p: i for i, p in enumerate(persons)}
    a = np.zeros((len(companies), len(companies)))
    p = np.zeros((len(persons), len(companies)))
    for holder, kind, company, ratio in world.itertuples(index=False):
        if company in at and kind == "person":
            p[who[holder], at[company]] = ratio
        elif company in at and holder in at:
            a[at[holder], at[company]] = ratio
    gain = float(max(abs(np.linalg.eigvals(a)), default=0.0))
    solved = np.linalg.solve((np.eye(len(companies)) - a).T, p.T).T
    frame = pd.DataFrame(
        [
            (company, person, solved[who[person], at[company]])
            for company in companies
            for person in persons
        ],
        columns=["company", "person", "look_through_share"],
    )
    return frame, gain


def check_divergent(world: pd.DataFrame, divergent: list[str]) -> None:
    """Every reported company sits in a strongly connected block of gain >= 1 - EPS."""
    names = sorted(set(world["company"]) | set(world["holder"]))
    at = {c: i for i, c in enumerate(names)}
    a = np.zeros((len(names), len(names)))
    for holder, kind, company, ratio in world.itertuples(index=False):
        if kind == "company":
            a[at[holder], at[company]] = ratio
    reach = np.linalg.matrix_power(np.eye(len(names)) + (a > 0), len(names)) > 0
    for company in divergent:
        i = at[company]
        block = [j for j in range(len(names)) if reach[i, j] and reach[j, i]]
        assert max(abs(np.linalg.eigvals(a[np.ix_(block, block)]))) >= 1 - 1e-6


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow
@FAST
@given(worlds())
def test_look_through_matches_dense_solve(world: pd.DataFrame) -> None:
    result = look_through(world)
    check_divergent(world, result.divergent)
    expected, gain = dense(world, result.divergent)
    assert gain < 1 - EPS  # what stays in the solve can converge
    if gain < 0.99:  # slower loops need more steps than a test should wait for
        assert result.converged
    if result.converged:
        merged = expected.merge(result.ownership, on=["company", "person"], how="outer")
        merged = merged.fillna(0.0)
        error = 1e-9 + result.residual * gain / (1 - gain)
        diff = (merged["look_through_share_x"] - merged["look_through_share_y"]).abs()
        assert (diff <= error).all()
    assert (result.ownership["look_through_share"] > 0).all()
    assert result.ownership.equals(
        result.ownership.sort_values(["company", "person"]).reset_index(drop=True)
    )


@pytest.mark.slow
@FAST
@given(worlds())
def test_beneficial_owners_match_dense_filter(world: pd.DataFrame) -> None:
    result = look_through(world)
    expected, gain = dense(world, result.divergent)
    if gain >= 0.99:
        return
    values = expected["look_through_share"]
    clear = (values - (0.25 - EPS)).abs() > 1e-10  # no verdict at the edge of float noise
    owners = beneficial_owners(result.ownership)
    got = set(map(tuple, owners[["company", "person"]].values.tolist()))
    want = set(map(tuple, expected.loc[values >= 0.25 - EPS, ["company", "person"]].values))
    edge = set(map(tuple, expected.loc[~clear, ["company", "person"]].values.tolist()))
    assert got - edge == want - edge


@pytest.mark.slow
@FAST
@given(worlds(acyclic=True))
def test_acyclic_paths_add_up_to_look_through(world: pd.DataFrame) -> None:
    own = look_through(world).ownership
    finder = PathFinder(world)  # one finder for every pair, as the batch job uses it
    for company, person, value in own.sample(frac=1, random_state=0).itertuples(index=False):
        paths, cycles_contribute = finder.paths(person, company, max_paths=10_000)
        assert not cycles_contribute
        assert sum(p.share for p in paths) == pytest.approx(value, abs=1e-9)
        assert [p.share for p in paths] == sorted((p.share for p in paths), reverse=True)
        for path in paths:
            assert path.nodes[0] == person and path.nodes[-1] == company
            assert len(set(path.nodes)) == len(path.nodes)
            assert path.share == pytest.approx(math.prod(path.ratios))


@pytest.mark.slow
@FAST
@given(worlds())
def test_controllers_follow_the_rules(world: pd.DataFrame) -> None:
    companies = sorted(set(world["company"]))
    result = control_analysis(companies, world)
    frame = result.controllers
    assert frame["company"].tolist() == companies
    majority = world[world["ratio"] > 0.5 + EPS].set_index("company")["holder"].to_dict()
    kinds = dict(zip(world["holder"], world["holder_kind"], strict=False))
    for company, person, basis, _, chain in frame.itertuples(index=False):
        walk, node = [company], company
        while node in majority and majority[node] not in walk:
            node = majority[node]
            walk.append(node)
        if kinds.get(walk[-1]) == "person":
            assert (basis, person, chain) == ("majority_chain", walk[-1], walk)
        else:
            assert basis in ("look_through", "none") and chain == []
            top = result.look_through.ownership
            top = top[top["company"] == company].sort_values("look_through_share")
            shares = top["look_through_share"].tolist()
            unique_top = bool(shares) and shares[-1] >= 0.25 - EPS
            unique_top = unique_top and (len(shares) < 2 or shares[-2] < shares[-1] - EPS)
            assert (basis == "look_through") == unique_top
            if unique_top:
                assert person == top["person"].iloc[-1]


def test_actual_controllers_takes_given_ownership() -> None:
    world = holdings(("P", "person", "C", 0.3), ("Q", "person", "C", 0.3))
    ownership = pd.DataFrame(
        {"company": ["C", "C"], "person": ["P", "Q"], "look_through_share": [0.4, 0.3]}
    )
    row = controller(actual_controllers(["C"], world, ownership), "C")
    assert (row["person"], row["look_through_share"]) == ("P", 0.4)


@pytest.mark.slow
@FAST
@given(worlds())
def test_one_company_agrees_with_the_batch(world: pd.DataFrame) -> None:
    """company_control (the interactive fast path) gives the batch figures for each company."""
    companies = sorted(set(world["company"]))
    batch = control_analysis(companies, world)
    rows = list(world.itertuples(index=False, name=None))
    for company, person, basis, value, chain in batch.controllers.itertuples(index=False):
        one = company_control(company, rows)
        own = batch.look_through.ownership
        own = own[own["company"] == company]
        assert one.ownership.keys() == set(own["person"])
        for who, figure in zip(own["person"], own["look_through_share"], strict=True):
            assert one.ownership[who] == pytest.approx(figure, abs=1e-12)
        owners = batch.beneficial_owners
        assert [p for p, _ in one.beneficial_owners] == sorted(
            owners.loc[owners["company"] == company, "person"]
        )
        assert (one.person, one.basis, one.chain) == (person, basis, chain)
        if person is not None:
            assert one.share == pytest.approx(value, abs=1e-12)


BAD_HOLDINGS = [
    [("P", "persn", "C", 0.5), ("Q", "human", "C", 0.1)],
    [("P", "person", "C", 1.5), ("Q", "person", "C", -0.1), ("R", "person", "C", math.nan)],
    [("P", "person", "C", "half")],
    [("P", "person", "C", 0.3), ("Q", "person", "C", 0.1), ("P", "person", "C", 0.2)] * 2,
    [
        ("B", "person", "C", 0.5),
        ("A", "person", "C", 0.2),
        ("C", "company", "B", 0.1),
        ("D", "company", "A", 0.1),
    ],
    [(f"P{i}", "person", "C", 2.0) for i in range(7)],
]


@pytest.mark.parametrize("rows", BAD_HOLDINGS)
def test_rows_and_frames_meet_one_rule(rows: list[tuple]) -> None:
    """The one-company path and the batch path reject the same holdings, word for word."""
    with pytest.raises(HoldingsError) as from_frame:
        look_through(holdings(*rows))
    for one_company in (lambda: company_control("C", rows), lambda: PathFinder(rows)):
        with pytest.raises(HoldingsError) as from_rows:
            one_company()
        assert str(from_rows.value) == str(from_frame.value)


def test_one_company_checks_its_rows() -> None:
    with pytest.raises(HoldingsError, match="consolidate"):
        company_control("C", [("P", "person", "C", 0.3), ("P", "person", "C", 0.2)])
    with pytest.raises(HoldingsError, match=r"\[0, 1\]"):
        company_control("C", [("P", "person", "C", 1.5)])
    with pytest.raises(HoldingsError, match="both as person and as company"):
        company_control("C", [("P", "person", "C", 0.5), ("P", "company", "D", 0.5)])
