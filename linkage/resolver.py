"""One entity type's mentions resolved: a model scores candidate pairs, constrained
clustering joins them, entity IDs stay stable against the previous result.

linkage/run.py drives two of these (companies first: their entities are the persons'
context) and writes what they keep; linkage/link_rows.py turns their evidence into
links.parquet rows.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from config.errors import StageFailure, VeilError
from config.linkage import EntityLinkage, LinkageConfig
from config.progress import Progress, Update
from linkage import models, training
from linkage.clusters import Edges, cluster
from linkage.deterministic import (
    COMPANY_IDENTIFIERS,
    PERSON_IDENTIFIERS,
    identifier_links,
    provisional_entities,
    suspected_company_errors,
    suspected_person_errors,
)
from linkage.entity_ids import stable_entity_ids
from linkage.features import KEY
from linkage.judgements import judgement_constraints

log = logging.getLogger(__name__)


PREFIX = {models.PERSON: "P", models.COMPANY: "C"}
IDENTIFIERS = {models.PERSON: PERSON_IDENTIFIERS, models.COMPANY: COMPANY_IDENTIFIERS}
EXCLUSIVE = {models.PERSON: "id_token", models.COMPANY: "uscc"}
#: Feature holding a partial key (see clusters.cluster): what a person's ID shows.
PARTIAL = {models.PERSON: "id_visible", models.COMPANY: None}
#: Mentions equal on these are one provisional entity while training (see
#: deterministic.provisional_entities): same name in the same company; same company name.
PROVISIONAL = {
    models.PERSON: [["name_simplified", "context"]],
    models.COMPANY: [["name_canonical"]],
}

#: What to do when a stage fails inside Splink or DuckDB.
STAGE_HINTS = {
    "train": (
        "reuse saved models with `veil link --run RUN --models DIR` (DIR from `veil model "
        "train` on an earlier run), or run `veil model train --run RUN` to inspect training alone"
    ),
    "load model": (
        "the saved model does not fit this run's features: retrain with `veil model train "
        "--run RUN --models DIR`, or link without --models to train on this run"
    ),
    "predict": (
        "if memory ran out, lower VEIL_DUCKDB_MEMORY_LIMIT or free the machine; otherwise "
        "retrain with `veil model train --run RUN` and link with --models"
    ),
}
STAGE_HINTS["predict new"] = STAGE_HINTS["predict"]
DEFAULT_HINT = "rerun with the same inputs; if it fails again, report the log below"


@dataclass
class EntityResult:
    entity_type: str
    mentions: int
    entities: int
    deterministic_links: int
    scored_pairs: int
    merging_pairs: int
    model: str
    refused_merges: dict[str, int]
    #: Scored pairs that reached rare_name_threshold but not the match_threshold they
    #: needed (a common name with nothing shared but the name and a weak ID; a brand
    #: sound two identified companies bear): left apart and written to links.parquet for
    #: a reviewer.
    held_back: int
    judgement_conflicts: int
    suspects: int
    changes: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)
    #: How the model was trained (training.TrainingRecord), when it was trained on this run.
    training: dict[str, Any] | None = None


def provisional_grouping(
    features: pd.DataFrame, entity_type: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """The identifier links of these mentions, and the provisional entities training and
    the term-frequency tables count (see deterministic.provisional_entities)."""
    links = identifier_links(features, IDENTIFIERS[entity_type])
    return links, provisional_entities(features, links, PROVISIONAL[entity_type])


def announce(progress: Progress | None, name: str, entity_type: str) -> None:
    """Tell `progress` (and the log) that stage `name` of `entity_type` starts."""
    log.info("%s: %s", entity_type, name)
    if progress is not None:
        progress(Update(stage=name, subject=entity_type))


class Resolver:
    """Resolves one entity type's mentions; keeps what the outputs need."""

    #: Set by linkage.run once the model is trained or read, and the suspects found.
    model_source: str
    suspect_rows: pd.DataFrame

    def __init__(
        self,
        entity_type: str,
        features: pd.DataFrame,
        policy: EntityLinkage,
        config: LinkageConfig,
        work: Path,
        error_log: Path,
        progress: Progress | None,
        existing_ids: np.ndarray | None = None,
    ) -> None:
        """`features` may hold mentions already resolved (a wave's base) in its first rows,
        with their entity IDs in `existing_ids` (None for the new rows), and a `run` column
        (the run directory of each row, relative to the output; "." for the output's own)."""
        self.entity_type = entity_type
        if "run" not in features.columns:
            features = features.assign(run=".")
        self.features = features
        self.existing_ids = existing_ids
        self.existing = 0 if existing_ids is None else int(pd.notna(existing_ids).sum())
        self.policy = policy
        self.config = config
        self.work = work
        self.error_log = error_log
        self.progress = progress
        self.seconds: dict[str, float] = {}
        self.training: training.TrainingRecord | None = None
        self.links, self.provisional = provisional_grouping(features, entity_type)

    def _timed(self, stage: str, fn: Callable[[], Any]) -> Any:
        """Run a stage; a failure inside a library becomes a StageFailure that says what to
        do, with the traceback in `error_log`."""
        announce(self.progress, stage, self.entity_type)
        started = time.perf_counter()
        try:
            result = fn()
        except VeilError:
            raise
        except Exception as err:
            self.error_log.write_text(
                f"{self.entity_type}: {stage}\n{traceback.format_exc()}", encoding="utf-8"
            )
            raise StageFailure(
                stage,
                self.entity_type,
                f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
                STAGE_HINTS.get(stage, DEFAULT_HINT),
                str(self.error_log),
            ) from err
        self.seconds[stage] = round(time.perf_counter() - started, 3)
        log.debug("%s: %s took %.1f s", self.entity_type, stage, self.seconds[stage])
        return result

    def model(self, saved: Path | None, previous: Path | None = None) -> tuple[models.Model, str]:
        """The saved model when there is one, else one trained on this run (`previous`, a
        model saved earlier, fills what this run's data cannot teach)."""
        temp = self.work / "duckdb"
        if saved is not None and saved.is_file():
            model = self._timed(
                "load model",
                lambda: models.load(self.features, self.entity_type, saved, self.provisional, temp),
            )
            return model, str(saved)
        model = self._timed(
            "train",
            lambda: training.train(
                self.features,
                self.entity_type,
                self.config.training,
                self.provisional,
                temp,
                previous,
            ),
        )
        self.training = model.training
        return model, "trained on this run"

    def resolve(
        self,
        model: models.Model,
        judgements: pd.DataFrame,
        previous: pd.DataFrame | None,
        warnings: list[str],
    ) -> None:
        """Score candidate pairs, cluster, assign entity IDs; `model` is closed once scored."""
        threshold = self.policy.review_threshold
        rare_sounds = model.rare_sounds
        if self.existing:
            self.pairs = self._timed(
                "predict new",
                lambda: model.predict_incremental(self.features, self.existing, threshold),
            )
        else:
            self.pairs = self._timed("predict", lambda: model.predict(threshold))
        self.comparisons = model.comparison_labels()
        # Scoring is done: DuckDB's buffers are most of the process; free them before
        # clustering, as the next entity type's model will want them.
        model.close()
        keys = identity_keys(self.features)
        must, cannot, missing = judgement_constraints(
            _judgements_for_runs(judgements, self.features["run"].unique()), keys
        )
        warnings.extend(missing)
        fixed = [_membership_links(self.existing_ids), self.links]
        must_link = Edges(
            np.concatenate([f["left"].to_numpy(np.int64) for f in fixed] + [must.left]),
            np.concatenate([f["right"].to_numpy(np.int64) for f in fixed] + [must.right]),
            np.concatenate([np.ones(sum(len(f) for f in fixed)), must.probability]),
        )
        self.judged_same = must
        scored = Edges(
            self.pairs["mention_id_l"].to_numpy(np.int64),
            self.pairs["mention_id_r"].to_numpy(np.int64),
            self.pairs["match_probability"].to_numpy(np.float64),
        )
        thresholds = self._thresholds(rare_sounds)
        lowest = self.policy.lowest_threshold
        self.held_back = int(
            ((scored.probability >= lowest) & (scored.probability < thresholds)).sum()
        )
        exclusive = self.features[EXCLUSIVE[self.entity_type]].to_numpy(dtype=object)
        partial_column = PARTIAL[self.entity_type]
        partial = (
            None if partial_column is None else self.features[partial_column].to_numpy(dtype=object)
        )
        self.clustering = self._timed(
            "cluster",
            lambda: cluster(
                len(self.features),
                scored,
                thresholds,
                must_link=must_link,
                cannot_link=cannot,
                exclusive_key=exclusive,
                partial_key=partial,
            ),
        )
        self.entity_ids, self.changes = stable_entity_ids(
            keys, self.clustering.labels, PREFIX[self.entity_type], previous
        )
        self.scored_pairs = len(self.pairs)

    def _thresholds(self, rare_sounds: frozenset[str]) -> np.ndarray:
        """Per scored pair, the probability it must reach to join (linkage.yaml):
        rare_name_threshold where both mentions bear one rare sound (models.rare_keys:
        a person's name, a company's brand with its form and region) or, for persons,
        the two records meet in a company (or share a phone or address); else
        match_threshold.

        The sound, not the characters: 杨玮 is a rare way to write the common 杨伟
        (yang wei), and a clerk's homophone slip makes two 杨伟 into two 杨玮 that agree
        on a "rare" name (a banned person's record joined an innocent namesake that way).
        A romanised name meets its characters there too."""
        match = np.full(len(self.pairs), self.policy.match_threshold)
        if self.policy.rare_name_threshold is None:
            return match
        lower = np.zeros(len(self.pairs), dtype=bool)
        if rare_sounds:
            keys = models.rare_keys(self.features, self.entity_type)
            left = keys[self.pairs["mention_id_l"].to_numpy(np.int64)]
            right = keys[self.pairs["mention_id_r"].to_numpy(np.int64)]
            lower |= (left == right) & pd.Series(left).isin(rare_sounds).to_numpy()
        for comparison in models.PERSON_CONTEXT:
            if f"mw_{comparison}" in self.pairs:
                lower |= self.pairs[f"mw_{comparison}"].to_numpy(np.float64) > 0
        return np.where(lower, self.policy.rare_name_threshold, match)

    def entities(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "run": self.features["run"].to_numpy(),
                **{c: self.features[c].to_numpy() for c in KEY},
                "entity_type": self.entity_type,
                "entity_id": self.entity_ids,
                "confidence": self.clustering.confidence,
            }
        )

    def release(self) -> None:
        """Keep only what entities.parquet and the person context still read of the
        features: the rest is most of the stage's memory."""
        self.features = self.features[["run", *KEY]]

    def suspects(self) -> pd.DataFrame:
        if self.existing:
            keep = (self.links["left"] >= self.existing) | (self.links["right"] >= self.existing)
            links = self.links[keep.to_numpy()]
        else:
            links = self.links
        if self.entity_type == models.PERSON:
            return suspected_person_errors(
                self.features, links, self.policy.suspect_name_similarity
            )
        return suspected_company_errors(self.features, links, self.policy.suspect_name_similarity)

    def result(self, model_source: str, suspects: int) -> EntityResult:
        changes = self.changes["change"].value_counts().to_dict() if len(self.changes) else {}
        return EntityResult(
            entity_type=self.entity_type,
            mentions=len(self.features),
            entities=int(pd.Series(self.entity_ids).nunique()),
            deterministic_links=len(self.links),
            scored_pairs=self.scored_pairs,
            merging_pairs=int(self.clustering.accepted.sum()),
            model=model_source,
            refused_merges={k: int(v) for k, v in self.clustering.refused.items()},
            held_back=self.held_back,
            judgement_conflicts=len(self.clustering.conflicts),
            suspects=suspects,
            changes={str(k): int(v) for k, v in changes.items()},
            seconds=self.seconds,
            training=None if self.training is None else self.training.as_dict(),
        )


def identity_keys(features: pd.DataFrame) -> pd.DataFrame:
    """Mention keys unique across runs: a base run's rows carry their run in the source
    ("../base\x1fregistry"), the output run's own rows are plain, so a run linked alone
    and the same run's new rows in a wave hash to the same fresh IDs."""
    run = features["run"].astype(str)
    source = features["source"].where(run == ".", run + "\x1f" + features["source"])
    return pd.DataFrame(
        {"source": source, "record_id": features["record_id"], "slot": features["slot"]}
    )


def _judgements_for_runs(judgements: pd.DataFrame, runs: np.ndarray) -> pd.DataFrame:
    """A judgement names mentions by source:record_id:slot; in a wave the same reference may
    name a row of each run, and the judgement holds for all of them."""
    tags = [str(r) for r in runs if str(r) != "."]
    if not tags or judgements.empty:
        return judgements
    copies = []
    for a_tag in ["", *tags]:
        for b_tag in ["", *tags]:
            copy = judgements.copy()
            if a_tag:
                copy["a_source"] = a_tag + "\x1f" + copy["a_source"]
            if b_tag:
                copy["b_source"] = b_tag + "\x1f" + copy["b_source"]
            copies.append(copy)
    return pd.concat(copies, ignore_index=True)


def _membership_links(existing_ids: np.ndarray | None) -> pd.DataFrame:
    """Must-links that keep each existing entity together: a star from its first row."""
    if existing_ids is None:
        return pd.DataFrame({"left": pd.Series(dtype=np.int64), "right": pd.Series(dtype=np.int64)})
    ids = pd.Series(existing_ids)
    known = ids[ids.notna()]
    first = pd.Series(known.index, index=known.index).groupby(known.to_numpy()).transform("min")
    star = first[first.index != first.to_numpy()]
    return pd.DataFrame({"left": star.to_numpy(np.int64), "right": star.index.to_numpy(np.int64)})
