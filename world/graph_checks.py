"""Score the graph's control results against the synthetic world's ground truth.

The graph room never reads the truth, so this check lives beside the generator: after
`graph.load.load_run` and `graph.analysis.run_control(driver, settings, TRUTH_AS_OF)`, it
compares what Neo4j holds (BENEFICIAL_OWNER_OF, CONTROLS, Company.controller_basis) with
truth/beneficial_owners.parquet and truth/controllers.parquet.

Truth speaks of true IDs (C0000001, P0000001), the graph of veil entity IDs. A true entity
maps to the veil entity holding most of its shareholding mentions (the mentions control is
computed from), else most of its mentions; the truth mention tables say which true entity
each (source, record_id, slot) is, entities.parquet which veil entity. Linkage can split a
true entity over several veil entities or merge several into one; such an entity is
"unclean". A company whose figures differ from the truth is put down to "entity
resolution" when it, or any entity upstream of it in the true holdings, or any person the
graph names for it, is unclean; otherwise to "control": a real disagreement of the
arithmetic or rules, which should never happen.

`perfect_entities` writes the truth's own clustering as entities.parquet. The graph
benchmark uses it (and only it) to time loading and control at sizes where linkage is too
slow to run first; it says nothing about linkage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import neo4j
import numpy as np
import pandas as pd

from config.errors import VeilError
from loaders import rundir
from loaders.rundir import Staged, entities_table
from world.calendar import REF_DATE, to_date

KEY = ["source", "record_id", "slot"]
SHARE_TOLERANCE = 1e-6
ENTITY_RESOLUTION = "entity resolution"
CONTROL = "control"
#: The truth's ownership counts every holding ever subscribed; all start before REF_DATE
#: and none ends, so control computed as of REF_DATE is comparable with it.
TRUTH_AS_OF: date = to_date(REF_DATE)
_KINDS = {
    "person": ("person_mentions.parquet", "true_person_id", "P"),
    "company": ("company_mentions.parquet", "true_company_id", "C"),
}


class StaleControl(VeilError):
    """The graph's control results were not computed for the date being scored."""


def perfect_entities(run_dir: Path, world_dir: Path) -> Path:
    """Write RUN_DIR/entities.parquet from the truth: one entity per true entity.

    For the graph benchmark only (graph speed without linkage): entity_id is "P"/"C" + 12
    hex digits of the SHA-256 of the true ID, confidence 1. Returns the file written.
    """
    frames = []
    for kind, (file, true_col, prefix) in _KINDS.items():
        truth = pd.read_parquet(Path(world_dir) / "truth" / file, columns=[*KEY, true_col])
        ids = {
            t: prefix + hashlib.sha256(t.encode()).hexdigest()[:12]
            for t in truth[true_col].unique()
        }
        frames.append(
            truth[KEY].assign(
                run=".", entity_type=kind, entity_id=truth[true_col].map(ids), confidence=1.0
            )
        )
    entities = pd.concat(frames, ignore_index=True)
    with Staged(Path(run_dir), "entities") as staged:
        staged.write("entities", entities_table(entities, Path(run_dir)))
        staged.publish()
    return rundir.path(Path(run_dir), "entities")


def _holding_mentions(run_dir: Path) -> pd.DataFrame:
    """The mention keys the run's shareholdings name (holder and company slots)."""
    h = pd.read_parquet(
        run_dir / "shareholdings.parquet",
        columns=["source", "record_id", "holder_slot", "company_slot"],
    )
    slots = pd.concat([h["holder_slot"], h["company_slot"]], ignore_index=True)
    return pd.DataFrame(
        {
            "source": pd.concat([h["source"], h["source"]], ignore_index=True),
            "record_id": pd.concat([h["record_id"], h["record_id"]], ignore_index=True),
            "slot": slots,
        }
    ).drop_duplicates()


def _mapping(
    entities: pd.DataFrame, truth: pd.DataFrame, true_col: str, holding: pd.DataFrame
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(true -> veil ID, true -> unclean flag, veil -> true ID) for one entity type."""
    joined = truth.merge(entities, on=KEY, how="inner")
    joined = joined.merge(holding.assign(_holding=True), on=KEY, how="left")
    joined["_w"] = np.where(joined["_holding"].notna(), 1_000_000, 1)
    votes = joined.groupby([true_col, "entity_id"], as_index=False)["_w"].sum()
    votes = votes.sort_values([true_col, "_w", "entity_id"], ascending=[True, False, True])
    veil_of = votes.drop_duplicates(true_col).set_index(true_col)["entity_id"]
    pairs = joined[[true_col, "entity_id"]].drop_duplicates()
    split = pairs.groupby(true_col)["entity_id"].nunique() > 1
    impure = pairs.groupby("entity_id")[true_col].nunique() > 1
    merged = pairs[pairs["entity_id"].isin(impure[impure].index)][true_col].unique()
    unclean = split.copy()
    unclean[unclean.index.isin(merged)] = True
    by_veil = votes.sort_values(["entity_id", "_w", true_col], ascending=[True, False, True])
    true_of = by_veil.drop_duplicates("entity_id").set_index("entity_id")[true_col]
    return veil_of, unclean, true_of


def _read(driver: neo4j.Driver, query: str, database: str, columns: list[str]) -> pd.DataFrame:
    records, _, _ = driver.execute_query(
        query, database_=database, routing_=neo4j.RoutingControl.READ
    )
    return pd.DataFrame([r.values() for r in records], columns=columns)


def _graph(driver: neo4j.Driver, database: str) -> tuple[pd.DataFrame, ...]:
    owners = _read(
        driver,
        "MATCH (p:Person)-[r:BENEFICIAL_OWNER_OF]->(c:Company) "
        "RETURN c.entity_id, p.entity_id, r.share",
        database,
        ["company_v", "person_v", "share_graph"],
    )
    controllers = _read(
        driver,
        "MATCH (p:Person)-[r:CONTROLS]->(c:Company) RETURN c.entity_id, p.entity_id, r.basis",
        database,
        ["company_v", "controller_graph", "controls_basis"],
    )
    flags = _read(
        driver,
        "MATCH (c:Company) RETURN c.entity_id, c.controller_basis, c.control_as_of",
        database,
        ["company_v", "basis_graph", "control_as_of"],
    )
    return owners, controllers, flags


def _upstream(holders: dict[str, list[str]], company: str) -> set[str]:
    """The company and every true entity holding it, directly or through companies."""
    seen = {company}
    frontier = [company]
    while frontier:
        for holder in holders.get(frontier.pop(), ()):
            if holder not in seen:
                seen.add(holder)
                frontier.append(holder)
    return seen


def score_control(
    driver: neo4j.Driver,
    run_dir: Path,
    world_dir: Path,
    as_of: date = TRUTH_AS_OF,
    database: str = "neo4j",
) -> dict[str, Any]:
    """Compare the graph's control results (computed as of `as_of`) with the truth.

    Returns {as_of, companies, bo_set_agreement, controller_agreement,
    look_through_pairs (beneficial-owner pairs on either side), look_through_within (on
    both sides, shares within SHARE_TOLERANCE), look_through_agreement,
    look_through_max_difference (over pairs on both sides), mismatches (count),
    mismatch_reasons {reason: count}, mismatch_examples [first 20: true_company,
    veil_company, differs (bo_set / controller / look_through), reason, unclean (unclean
    true IDs upstream, then veil persons the graph names that are no clean person's
    entity, with their majority true ID)], linkage {unclean_companies, unclean_persons},
    unmatched_graph_companies (graph companies that are no true company's entity)}.
    Raises StaleControl when a company's results were computed for another date.
    """
    run_dir, truth_dir = Path(run_dir), Path(world_dir) / "truth"
    entities = pd.read_parquet(run_dir / "entities.parquet")
    if "run" in entities.columns:
        entities = entities[entities["run"] == "."]
    holding = _holding_mentions(run_dir)
    maps = {}
    for kind, (file, true_col, _) in _KINDS.items():
        truth = pd.read_parquet(truth_dir / file, columns=[*KEY, true_col])
        mine = entities.loc[entities["entity_type"] == kind, [*KEY, "entity_id"]]
        maps[kind] = _mapping(mine, truth, true_col, holding)
    company_of, company_unclean, _ = maps["company"]
    person_of, person_unclean, true_person_of = maps["person"]
    unclean = set(company_unclean[company_unclean].index) | set(
        person_unclean[person_unclean].index
    )

    owners_g, controllers_g, flags = _graph(driver, database)
    stale = flags["control_as_of"].notna() & (
        flags["control_as_of"].map(lambda d: d.to_native() if d is not None else None) != as_of
    )
    if flags["basis_graph"].isna().all() or stale.any():
        raise StaleControl(
            f"the graph's control results are not as of {as_of}: run "
            "graph.analysis.run_control with that date first"
        )

    ctrl_t = pd.read_parquet(truth_dir / "controllers.parquet")
    companies = pd.DataFrame({"company": ctrl_t["company_id"]})
    companies["company_v"] = companies["company"].map(company_of)

    # Beneficial-owner pairs on both sides, keyed by (true company, veil person).
    owners_t = pd.read_parquet(truth_dir / "beneficial_owners.parquet")
    owners_t = (
        pd.DataFrame(
            {
                "company": owners_t["company_id"],
                "person_v": owners_t["person_id"].map(person_of),
                "share_truth": owners_t["look_through_share"],
            }
        )
        .groupby(["company", "person_v"], as_index=False)["share_truth"]
        .sum()
    )
    owners_g = companies.merge(owners_g, on="company_v", how="inner")[
        ["company", "person_v", "share_graph"]
    ]
    pairs = owners_t.merge(owners_g, on=["company", "person_v"], how="outer")
    pairs["within"] = (pairs["share_truth"] - pairs["share_graph"]).abs() <= SHARE_TOLERANCE
    pairs["both"] = pairs["share_truth"].notna() & pairs["share_graph"].notna()
    per_company = pairs.groupby("company").agg(
        bo_equal=("both", "all"), shares_equal=("within", "all")
    )
    per_company = per_company.reindex(companies["company"], fill_value=True)

    # Actual controllers: (person, basis) on both sides.
    truth_ctrl = (
        pd.Series(
            ctrl_t["person_id"].map(person_of).fillna("").to_numpy(), index=ctrl_t["company_id"]
        )
        + "|"
        + ctrl_t["basis"].to_numpy()
    )
    graph_ctrl = companies.merge(flags, on="company_v", how="left").merge(
        controllers_g, on="company_v", how="left"
    )
    graph_ctrl = pd.Series(
        (
            graph_ctrl["controller_graph"].fillna("") + "|" + graph_ctrl["basis_graph"].fillna("?")
        ).to_numpy(),
        index=graph_ctrl["company"],
    )
    graph_ctrl = graph_ctrl[~graph_ctrl.index.duplicated()]
    ctrl_equal = truth_ctrl.reindex(companies["company"]) == graph_ctrl.reindex(
        companies["company"]
    )

    result = pd.DataFrame(
        {
            "company": companies["company"].to_numpy(),
            "company_v": companies["company_v"].to_numpy(),
            "bo_set": per_company["bo_equal"].to_numpy(),
            "controller": ctrl_equal.to_numpy(),
            "look_through": per_company["shares_equal"].to_numpy(),
        }
    )
    wrong = result[~(result["bo_set"] & result["controller"] & result["look_through"])]
    examples = _reasons(wrong, truth_dir, unclean, pairs, graph_ctrl, true_person_of)
    reasons: dict[str, int] = {}
    upstream_unclean: set[str] = set()
    for example in examples:
        reasons[example["reason"]] = reasons.get(example["reason"], 0) + 1
        upstream_unclean |= example.pop("_upstream_unclean")
    split = _split_holdings(run_dir, entities, truth_dir, holding, maps, upstream_unclean)
    n = len(result)
    mapped = set(companies["company_v"].dropna())
    return {
        "as_of": as_of.isoformat(),
        "companies": n,
        "bo_set_agreement": float(result["bo_set"].mean()) if n else 1.0,
        "controller_agreement": float(result["controller"].mean()) if n else 1.0,
        "look_through_pairs": len(pairs),
        "look_through_within": int(pairs["within"].sum()),
        "look_through_agreement": float(pairs["within"].mean()) if len(pairs) else 1.0,
        "look_through_max_difference": float(
            (pairs["share_truth"] - pairs["share_graph"]).abs().max() if pairs["both"].any() else 0
        ),
        "mismatches": len(wrong),
        "mismatch_reasons": reasons,
        "mismatch_examples": examples[:20],
        "split_holding_mentions": split,
        "linkage": {
            "unclean_companies": int(company_unclean.sum()),
            "unclean_persons": int(person_unclean.sum()),
        },
        "unmatched_graph_companies": int((~flags["company_v"].isin(mapped)).sum()),
    }


def _reasons(
    wrong: pd.DataFrame,
    truth_dir: Path,
    unclean: set[str],
    pairs: pd.DataFrame,
    graph_ctrl: pd.Series,
    true_person_of: pd.Series,
) -> list[dict[str, Any]]:
    """Why each mismatched company differs: entity resolution when an unclean entity is
    upstream of it in truth, or named for it by the graph; else control."""
    if wrong.empty:
        return []
    holdings = pd.read_parquet(
        truth_dir / "shareholdings.parquet", columns=["company_id", "holder_id"]
    )
    holders = holdings.groupby("company_id")["holder_id"].agg(list).to_dict()
    graph_persons = pairs[pairs["share_graph"].notna()].groupby("company")["person_v"].agg(list)
    out = []
    for row in wrong.itertuples(index=False):
        involved = _upstream(holders, row.company)
        named = list(graph_persons.get(row.company, []))
        named.append(str(graph_ctrl.get(row.company, "|")).split("|")[0])
        bad = sorted(involved & unclean)
        bad += sorted(set(_unclean_named(named, true_person_of, unclean)))
        out.append(
            {
                "true_company": row.company,
                "veil_company": row.company_v,
                "differs": [
                    what
                    for what in ("bo_set", "controller", "look_through")
                    if not getattr(row, what)
                ],
                "reason": ENTITY_RESOLUTION if bad or pd.isna(row.company_v) else CONTROL,
                "unclean": bad[:10],
                "_upstream_unclean": involved & unclean,
            }
        )
    return out


# The identifier each kind's mentions carry, and the loader's column saying whether it is there.
_IDENTIFIER = {
    "person": ("person_mentions", "id_status"),
    "company": ("company_mentions", "uscc_status"),
}


def _split_holdings(
    run_dir: Path,
    entities: pd.DataFrame,
    truth_dir: Path,
    holding: pd.DataFrame,
    maps: dict[str, tuple[pd.Series, pd.Series, pd.Series]],
    involved: set[str],
) -> dict[str, dict[str, int]]:
    """For the unclean holders upstream of mismatched companies: their shareholding mentions
    that linkage put outside their main entity, counted by the status of the identifier on
    the mention (resident ID for persons, USCC for companies). A mention without one, naming
    a holder by a common name only, leaves linkage little to go on; one with a valid ID is
    linkage's own miss."""
    out: dict[str, dict[str, int]] = {}
    for kind, (file, true_col, _) in _KINDS.items():
        truth = pd.read_parquet(truth_dir / file, columns=[*KEY, true_col])
        truth = truth[truth[true_col].isin(involved)]
        table, status = _IDENTIFIER[kind]
        mentions = pd.read_parquet(run_dir / f"{table}.parquet", columns=[*KEY, status])
        rows = (
            truth.merge(holding, on=KEY)
            .merge(entities[[*KEY, "entity_id"]], on=KEY)
            .merge(mentions, on=KEY, how="left")
        )
        main = rows[true_col].map(maps[kind][0])
        split = rows[rows["entity_id"] != main]
        out[kind] = {str(k): int(v) for k, v in split[status].fillna("none").value_counts().items()}
    return out


def _unclean_named(veil_ids: Iterable[str], true_of: pd.Series, unclean: set[str]) -> list[str]:
    """Veil persons the graph names that are no clean true person's entity."""
    out = []
    for veil in veil_ids:
        if not veil:
            continue
        true = true_of.get(veil)
        if true is None or true in unclean:
            out.append(f"{veil} ({true or 'no true person'})")
    return out


def format_control_scores(scores: dict[str, Any]) -> str:
    """A few lines for the demo and the benchmark."""
    lines = [
        f"control vs truth as of {scores['as_of']}: {scores['companies']:,} companies",
        f"  beneficial-owner sets equal: {scores['bo_set_agreement']:.4%}",
        f"  actual controller (person + basis) equal: {scores['controller_agreement']:.4%}",
        f"  look-through shares within {SHARE_TOLERANCE:g}: {scores['look_through_within']:,}"
        f" of {scores['look_through_pairs']:,} beneficial-owner pairs "
        f"({scores['look_through_agreement']:.4%}; largest difference "
        f"{scores['look_through_max_difference']:.1e})",
    ]
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(scores["mismatch_reasons"].items()))
    lines.append(f"  companies differing: {scores['mismatches']:,} ({reasons or 'none'})")
    split = scores.get("split_holding_mentions", {})
    for kind, counts in split.items():
        if counts:
            by = ", ".join(f"{status} {n:,}" for status, n in sorted(counts.items()))
            lines.append(f"  {kind} holding mentions split off their entity, by identifier: {by}")
    linkage = scores["linkage"]
    lines.append(
        f"  linkage: {linkage['unclean_companies']:,} true companies and "
        f"{linkage['unclean_persons']:,} true persons split or merged"
    )
    return "\n".join(lines)
