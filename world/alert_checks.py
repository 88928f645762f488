"""Score the graph's art. 135 alerts against the synthetic world's true alerts and near misses.

The truth (world/alerts.py) says which (person, food company, revocation decision, role)
must alert, labelled by variant (direct legal rep, via holding company, officer, name
variant, or an ordinary case by role), and plants near misses that must not: a non-food
company, a role after the ban ended, a namesake, a warning-only punishment.

veil's alerts speak of veil entity IDs; each is mapped to the true entity most of its
mentions belong to (world.graph_checks' mapping), the triggering record by its decision
number, and graph officer roles to the truth's (chairman, executive director -> director).
An alert is correct when its mapped key is a true alert. A near miss alerts when any alert
of the rule names its company and its decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from alerts.answers import AlertSummary
from world.graph_checks import _KINDS, KEY, _holding_mentions, _mapping

RULE = "food_art135"
TRUTH_ROLE = {
    "legal_rep": "legal_rep",
    "chairman": "director",
    "vice_chairman": "director",
    "executive_director": "director",
    "director": "director",
    "supervisor": "supervisor",
    "manager": "manager",
    "actual_controller": "actual_controller",
    "beneficial_owner": "beneficial_owner",
}
ALERT_KEY = ["person", "company", "decision_number", "role"]


def _true_of(run_dir: Path, world_dir: Path) -> dict[str, pd.Series]:
    entities = pd.read_parquet(run_dir / "entities.parquet")
    if "run" in entities.columns:
        entities = entities[entities["run"] == "."]
    holding = _holding_mentions(run_dir)
    out = {}
    for kind, (file, true_col, _) in _KINDS.items():
        truth = pd.read_parquet(world_dir / "truth" / file, columns=[*KEY, true_col])
        mine = entities.loc[entities["entity_type"] == kind, [*KEY, "entity_id"]]
        out[kind] = _mapping(mine, truth, true_col, holding)[2]
    return out


def score_alerts(alerts: Sequence[AlertSummary], run_dir: Path, world_dir: Path) -> dict[str, Any]:
    """Recall per variant, precision, alerts per near-miss kind, and the alerts flagged
    doubtful (with the precision of the others), for `alerts` (as alerts.store.list_alerts
    returns them) of the art. 135 rule."""
    run_dir, world_dir = Path(run_dir), Path(world_dir)
    true_of = _true_of(run_dir, world_dir)
    mine = pd.DataFrame(
        [
            {
                "alert": a.id,
                "person": true_of["person"].get(a.person_id),
                "company": true_of["company"].get(a.company_id),
                "decision_number": a.trigger_reference,
                "role": TRUTH_ROLE.get(a.role, a.role),
                "doubtful": a.doubtful,
            }
            for a in alerts
            if a.rule == RULE
        ],
        columns=["alert", *ALERT_KEY, "doubtful"],
    )
    truth = pd.read_parquet(world_dir / "truth" / "alerts_art135.parquet").rename(
        columns={"person_id": "person", "company_id": "company"}
    )
    distinct = mine.drop_duplicates(ALERT_KEY)
    found = truth.merge(distinct[ALERT_KEY].assign(found=True), on=ALERT_KEY, how="left")
    found["found"] = found["found"].fillna(False).astype(bool)
    correct = distinct.merge(truth[ALERT_KEY].assign(true=True), on=ALERT_KEY, how="left")
    correct["true"] = correct["true"].fillna(False).astype(bool)

    variants = {
        variant: {"true": len(g), "found": int(g["found"].sum()), "recall": _ratio(g["found"])}
        for variant, g in found.groupby("variant")
    }
    near = pd.read_parquet(world_dir / "truth" / "near_misses.parquet")
    alerted = set(zip(mine["company"], mine["decision_number"], strict=True))
    near_kinds = {
        kind: {
            "cases": len(g),
            "alerted": int(
                sum(
                    (c, d) in alerted
                    for c, d in zip(g["company_id"], g["decision_number"], strict=True)
                )
            ),
        }
        for kind, g in near.groupby("kind")
    }
    false = correct[~correct["true"]]
    doubtful = correct["doubtful"].astype(bool)
    return {
        "true_alerts": len(truth),
        "veil_alerts": len(mine),
        "recall": _ratio(found["found"]),
        "precision": _ratio(correct["true"]),
        "doubtful": {
            "alerts": int(doubtful.sum()),
            "true": int(correct.loc[doubtful, "true"].sum()),
            "precision_of_the_rest": _ratio(correct.loc[~doubtful, "true"]),
        },
        "variants": variants,
        "near_misses": near_kinds,
        "missed_examples": found.loc[~found["found"], [*ALERT_KEY, "variant"]]
        .head(10)
        .astype(str)
        .to_dict("records"),
        "false_examples": false[["alert", *ALERT_KEY]].head(10).astype(str).to_dict("records"),
    }


def _ratio(flags: pd.Series) -> float:
    return float(flags.mean()) if len(flags) else 1.0


def format_alert_scores(scores: dict[str, Any]) -> str:
    lines = [
        f"art. 135 alerts: {scores['veil_alerts']} raised, {scores['true_alerts']} true; "
        f"recall {scores['recall']:.3f}, precision {scores['precision']:.3f}",
        f"  flagged doubtful: {scores['doubtful']['alerts']} ({scores['doubtful']['true']} true); "
        f"precision of the rest {scores['doubtful']['precision_of_the_rest']:.3f}",
        "  variant             true  found  recall",
    ]
    for variant, v in sorted(scores["variants"].items()):
        lines.append(f"  {variant:<18} {v['true']:>5} {v['found']:>6}  {v['recall']:.3f}")
    lines.append("  near miss           cases  alerted")
    for kind, v in sorted(scores["near_misses"].items()):
        lines.append(f"  {kind:<18} {v['cases']:>6} {v['alerted']:>8}")
    return "\n".join(lines)
