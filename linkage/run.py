"""`veil link` and `veil model train`: mentions of a run directory -> entities and links.

Companies are resolved first, because a person's strongest evidence after an ID number is
the company they appear in: person mentions then carry the company entities of their
record as context. For each entity type: deterministic links (identifiers), Splink scores
for candidate pairs, then constrained clustering (reviewers' "different", two different
identifiers and two resident IDs, full or masked, disagreeing in a character both show
forbid a merge), then entity IDs kept stable against the previous result.

Outputs, written to staging and moved into place together (docs/ARCHITECTURE.md has the
schemas): entities.parquet, links.parquet, suspects.parquet, link_report.json, and the
models used under models/ (a copy, so a run records exactly what decided it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from config.errors import InputError, StageFailure, VeilError
from config.linkage import EntityLinkage, LinkageConfig, load_linkage_config
from config.settings import veil_home
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
from linkage.features import KEY, company_context, company_features, mention_refs, person_features
from linkage.judgements import effective_judgements, judgement_constraints, read_judgements

#: Called with (stage, entity_type) as each stage starts.
Progress = Callable[[str, str], None]

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

#: Parquet metadata key of entities.parquet: {run: sha256 of its manifest.json}.
INPUTS_KEY = b"veil.inputs"

ENTITY_SCHEMA = pa.schema(
    [
        ("run", pa.string()),
        ("source", pa.string()),
        ("record_id", pa.string()),
        ("slot", pa.string()),
        ("entity_type", pa.string()),
        ("entity_id", pa.string()),
        ("confidence", pa.float64()),
    ]
)

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

#: Where a failed stage's traceback is written, in the run directory.
ERROR_LOG = "link_error.log"

#: Model pairs turned into links.parquet rows at a time (bounds the rows' memory).
LINK_CHUNK = 500_000

LEVEL_TYPE = pa.list_(
    pa.struct([("comparison", pa.string()), ("level", pa.string()), ("match_weight", pa.float64())])
)

LINK_SCHEMA = pa.schema(
    [
        ("entity_type", pa.string()),
        ("mention_l", pa.string()),
        ("mention_r", pa.string()),
        ("entity_id_l", pa.string()),
        ("entity_id_r", pa.string()),
        ("evidence", pa.string()),
        ("match_weight", pa.float64()),
        ("match_probability", pa.float64()),
        ("levels", LEVEL_TYPE),
        ("merged", pa.bool_()),
    ]
)


def default_models_dir() -> Path:
    return veil_home() / "models"


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


@dataclass
class LinkSummary:
    run_dir: str
    base: str | None
    person: EntityResult
    company: EntityResult
    judgements: int
    warnings: list[str]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def provisional_grouping(
    features: pd.DataFrame, entity_type: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """The identifier links of these mentions, and the provisional entities training and
    the term-frequency tables count (see deterministic.provisional_entities)."""
    links = identifier_links(features, IDENTIFIERS[entity_type])
    return links, provisional_entities(features, links, PROVISIONAL[entity_type])


def _stage(progress: Progress | None, stage: str, entity_type: str) -> None:
    if progress is not None:
        progress(stage, entity_type)


class _Resolver:
    """Resolves one entity type's mentions; keeps what the outputs need."""

    def __init__(
        self,
        entity_type: str,
        features: pd.DataFrame,
        policy: EntityLinkage,
        config: LinkageConfig,
        work: Path,
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
        self.progress = progress
        self.seconds: dict[str, float] = {}
        self.training: training.TrainingRecord | None = None
        self.links, self.provisional = provisional_grouping(features, entity_type)

    def _timed(self, stage: str, fn: Callable[[], Any]) -> Any:
        """Run a stage; a failure inside a library becomes a StageFailure that says what to
        do, with the traceback in the run directory's ERROR_LOG."""
        _stage(self.progress, stage, self.entity_type)
        started = time.perf_counter()
        try:
            result = fn()
        except VeilError:
            raise
        except Exception as err:
            log = self.work.parent / ERROR_LOG
            log.write_text(
                f"{self.entity_type}: {stage}\n{traceback.format_exc()}", encoding="utf-8"
            )
            raise StageFailure(
                stage,
                self.entity_type,
                f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
                STAGE_HINTS.get(stage, DEFAULT_HINT),
                str(log),
            ) from err
        self.seconds[stage] = round(time.perf_counter() - started, 3)
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

    def write_links(self, writer: pq.ParquetWriter) -> None:
        """Write this entity type's links.parquet rows (identifier, judgement and model
        evidence), then drop the scored pairs: at 1M mentions they and their rows are GiBs."""
        _stage(self.progress, "link rows", self.entity_type)
        refs = pa.array(_tagged_refs(self.features), pa.string())
        ids = pa.array(self.entity_ids, pa.string())

        def pairs(
            left: np.ndarray,
            right: np.ndarray,
            evidence: str | np.ndarray,
            scores: pd.DataFrame | None = None,
            merged: np.ndarray | None = None,
        ) -> None:
            """Rows for these mention pairs; `scores` and `merged` (the model's pairs): their
            weights, levels and whether clustering accepted them, else those of certainty."""
            if self.existing:
                # A wave reports the evidence it added; the base's links stay in the base.
                keep = (left >= self.existing) | (right >= self.existing)
                left, right = left[keep], right[keep]
                evidence = evidence if isinstance(evidence, str) else evidence[keep]
                scores = None if scores is None else scores[keep]
                merged = None if merged is None else merged[keep]
            for start in range(0, len(left), LINK_CHUNK):
                part = slice(start, start + LINK_CHUNK)
                n = len(left[part])
                at_l, at_r = pa.array(left[part]), pa.array(right[part])
                id_l, id_r = ids.take(at_l), ids.take(at_r)
                chunk = None if scores is None else scores.iloc[part]
                values = {
                    "entity_type": pa.repeat(pa.scalar(self.entity_type), n),
                    "mention_l": refs.take(at_l),
                    "mention_r": refs.take(at_r),
                    "entity_id_l": id_l,
                    "entity_id_r": id_r,
                    "evidence": (
                        pa.repeat(pa.scalar(evidence), n)
                        if isinstance(evidence, str)
                        else evidence[part]
                    ),
                    "match_weight": np.full(n, np.nan)
                    if chunk is None
                    else chunk["match_weight"].to_numpy(np.float64),
                    "match_probability": np.ones(n)
                    if chunk is None
                    else chunk["match_probability"].to_numpy(np.float64),
                    "levels": _no_levels(n) if chunk is None else _levels(chunk, self.comparisons),
                    "merged": pc.equal(id_l, id_r) if merged is None else merged[part],
                }
                writer.write_table(pa.table(values, schema=LINK_SCHEMA))

        if len(self.links):
            pairs(
                self.links["left"].to_numpy(np.int64),
                self.links["right"].to_numpy(np.int64),
                ("identifier:" + self.links["identifier"]).to_numpy(dtype=object),
            )
        if len(self.judged_same.left):
            pairs(
                np.asarray(self.judged_same.left, dtype=np.int64),
                np.asarray(self.judged_same.right, dtype=np.int64),
                "judgement:same",
            )
        if len(self.pairs):
            pairs(
                self.pairs["mention_id_l"].to_numpy(np.int64),
                self.pairs["mention_id_r"].to_numpy(np.int64),
                "model",
                scores=self.pairs,
                merged=np.asarray(self.clustering.accepted, dtype=bool),
            )
        del self.pairs

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


def _tagged_refs(features: pd.DataFrame) -> pd.Series:
    """Mention references for output: `source:record_id:slot`, prefixed `run/` for rows of
    another run."""
    refs = mention_refs(features)
    run = features["run"].astype(str)
    return refs.where(run == ".", run + "/" + refs)


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


def _no_levels(n: int) -> pa.Array:
    """n empty level lists (evidence other than the model's)."""
    return pa.ListArray.from_arrays(
        pa.array(np.zeros(n + 1, dtype=np.int32)),
        pa.array([], LEVEL_TYPE.value_type),
        type=LEVEL_TYPE,
    )


def _levels(pairs: pd.DataFrame, comparisons: list[tuple[str, dict[int, str]]]) -> pa.Array:
    """Per pair, each comparison's level label and match weight (term frequency included),
    built column-wise in Arrow: a dict per pair and comparison costs seconds and GiBs."""
    n, k = len(pairs), len(comparisons)
    if not k:
        return _no_levels(n)
    names, labels, weights = [], [], []
    for name, level_labels in comparisons:
        codes, inverse = np.unique(pairs[f"gamma_{name}"].to_numpy(np.int64), return_inverse=True)
        text = pa.array([level_labels.get(int(g), str(g)) for g in codes], pa.string())
        weight = pairs[f"mw_{name}"].to_numpy(np.float64)
        if f"mw_tf_adj_{name}" in pairs.columns:
            weight = weight + pairs[f"mw_tf_adj_{name}"].fillna(0).to_numpy(np.float64)
        names.append(pa.repeat(pa.scalar(name), n))
        labels.append(text.take(pa.array(inverse.reshape(-1))))
        weights.append(weight)
    # Row-major: pair i's comparisons are items i*k .. i*k + k-1.
    order = pa.array((np.arange(k) * n + np.arange(n)[:, None]).ravel())
    items = pa.StructArray.from_arrays(
        [
            pa.concat_arrays(names).take(order),
            pa.concat_arrays(labels).take(order),
            pa.array(np.stack(weights, axis=1).ravel(), pa.float64()),
        ],
        fields=list(LEVEL_TYPE.value_type),
    )
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, items, type=LEVEL_TYPE)


def _relative(path: Path, out_dir: Path) -> str:
    """How `out_dir`'s tables name the run directory `path`: "." for itself."""
    path, out_dir = path.resolve(), out_dir.resolve()
    return "." if path == out_dir else os.path.relpath(path, out_dir)


def _entities_of(run_dir: Path, out_dir: Path) -> pd.DataFrame | None:
    """A run's entities.parquet with `run` re-expressed relative to `out_dir` (None when the
    run is not linked yet). Tables written before the `run` column name their own run."""
    path = run_dir / "entities.parquet"
    if not path.is_file():
        return None
    entities = pq.read_table(path).to_pandas()
    runs = entities["run"] if "run" in entities.columns else pd.Series(".", index=entities.index)
    resolved = {r: (run_dir / r).resolve() for r in runs.unique()}
    # Once per run, not per row: resolving paths row by row took seconds per relink.
    entities["run_path"] = runs.map({r: str(p) for r, p in resolved.items()})
    entities["run"] = runs.map({r: _relative(p, out_dir) for r, p in resolved.items()})
    return entities


def _previous(entities: pd.DataFrame | None, entity_type: str) -> pd.DataFrame | None:
    if entities is None:
        return None
    mine = entities[entities["entity_type"] == entity_type].reset_index(drop=True)
    return identity_keys(mine).assign(entity_id=mine["entity_id"].to_numpy())


def _model_path(models_dir: Path | None, entity_type: str) -> Path | None:
    return None if models_dir is None else models_dir / f"{entity_type}.json"


def _features(entity_type: str, run_dir: Path) -> pd.DataFrame:
    return person_features(run_dir) if entity_type == models.PERSON else company_features(run_dir)


def _combined_features(
    entity_type: str, out_dir: Path, base: pd.DataFrame | None
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The features of `out_dir`'s own mentions, after (in a wave) those of every run the
    base's entities came from, with the base's entity IDs for the latter."""
    own = _features(entity_type, out_dir).assign(run=".")
    if base is None:
        return own, None
    mine = base[base["entity_type"] == entity_type]
    frames = []
    for run_path in sorted(mine["run_path"].unique()):
        frame = _features(entity_type, Path(run_path)).assign(
            run=_relative(Path(run_path), out_dir)
        )
        frames.append(frame)
    old = pd.concat(frames, ignore_index=True)
    ids = old[["run", *KEY]].merge(mine[["run", *KEY, "entity_id"]], how="left", on=["run", *KEY])
    if ids["entity_id"].isna().any():
        missing = ids[ids["entity_id"].isna()].iloc[0]
        raise InputError(
            str(missing["run"]),
            f"mention {missing['source']}:{missing['record_id']}:{missing['slot']} has no "
            "entity in the base's entities.parquet: re-link the base run first",
        )
    combined = pd.concat([old, own], ignore_index=True)
    combined["mention_id"] = np.arange(len(combined), dtype=np.int64)
    existing = np.concatenate(
        [ids["entity_id"].to_numpy(dtype=object), np.full(len(own), None, dtype=object)]
    )
    return combined, existing


def link_run(
    run_dir: Path,
    *,
    wave: Path | None = None,
    models_dir: Path | None = None,
    judgements: Path | None = None,
    config: LinkageConfig | None = None,
    progress: Progress | None = None,
) -> LinkSummary:
    """Resolve a run's mentions into entities; write the outputs into the run directory.

    Saved models in `models_dir` are used when present (default: <veil home>/models);
    otherwise each model is trained on this run and a copy saved with the outputs.

    With `wave`, RUN_DIR is a linked base and `wave` a newly loaded run: the wave's mentions
    are scored against the base's and among themselves (old pairs are not scored again),
    the base's entities are kept together and keep their IDs, and the outputs, covering
    every mention so far, go to the wave's directory (the base is not touched). The base's
    models are used unless `models_dir` holds saved ones.
    """
    started = time.perf_counter()
    config = config or load_linkage_config()
    models_dir = default_models_dir() if models_dir is None else models_dir
    out_dir = run_dir if wave is None else wave
    base = None
    if wave is not None:
        base = _entities_of(run_dir, wave)
        if base is None:
            raise InputError(
                str(run_dir / "entities.parquet"),
                "a wave is linked against a linked base: run `veil link --run` on it first",
            )
    paths = [judgements] if judgements else [out_dir / "judgements.jsonl"]
    if wave is not None:
        paths.insert(0, run_dir / "judgements.jsonl")
    verdicts = effective_judgements(
        pd.concat([read_judgements(p) for p in paths], ignore_index=True)
    )
    (out_dir / ERROR_LOG).unlink(missing_ok=True)
    staging = out_dir / ".link-staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    warnings: list[str] = []
    try:
        previous = base if base is not None else _entities_of(out_dir, out_dir)
        fallback = None if wave is None else run_dir / "models"
        resolved = _resolve_all(
            out_dir,
            base,
            previous,
            (models_dir, fallback),
            verdicts,
            config,
            staging,
            progress,
            warnings,
        )
        _write(out_dir, staging, resolved)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    person, company = resolved["person"], resolved["company"]
    summary = LinkSummary(
        run_dir=str(out_dir),
        base=None if wave is None else str(run_dir),
        person=person.result(person.model_source, len(person.suspect_rows)),
        company=company.result(company.model_source, len(company.suspect_rows)),
        judgements=len(verdicts),
        warnings=sorted(set(warnings)),
        seconds=round(time.perf_counter() - started, 3),
    )
    (out_dir / "link_report.json").write_text(
        json.dumps(summary.as_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return summary


def _saved_model(models: tuple[Path, Path | None], entity_type: str) -> Path | None:
    for directory in models:
        path = _model_path(directory, entity_type)
        if path is not None and path.is_file():
            return path
    return None


def _resolve_all(
    out_dir: Path,
    base: pd.DataFrame | None,
    previous: pd.DataFrame | None,
    model_dirs: tuple[Path, Path | None],
    verdicts: pd.DataFrame,
    config: LinkageConfig,
    staging: Path,
    progress: Progress | None,
    warnings: list[str],
) -> dict[str, _Resolver]:
    _stage(progress, "standardise", models.COMPANY)
    companies, existing = _combined_features(models.COMPANY, out_dir, base)
    company = _Resolver(
        models.COMPANY, companies, config.company, config, staging, progress, existing
    )
    del companies
    with pq.ParquetWriter(staging / "links.parquet", LINK_SCHEMA) as links:
        model, company.model_source = company.model(
            _saved_model(model_dirs, models.COMPANY),
            _model_path(out_dir / "models", models.COMPANY),
        )
        model.save(staging / "models" / "company.json")
        company_warnings: list[str] = []
        company.resolve(model, verdicts, _previous(previous, models.COMPANY), company_warnings)
        company.write_links(links)
        company.suspect_rows = company.suspects()
        company.release()

        _stage(progress, "standardise", models.PERSON)
        persons, existing = _combined_features(models.PERSON, out_dir, base)
        persons["context"] = company_context(persons, company.features, company.entity_ids)
        person = _Resolver(
            models.PERSON, persons, config.person, config, staging, progress, existing
        )
        del persons
        model, person.model_source = person.model(
            _saved_model(model_dirs, models.PERSON), _model_path(out_dir / "models", models.PERSON)
        )
        model.save(staging / "models" / "person.json")
        person_warnings: list[str] = []
        person.resolve(model, verdicts, _previous(previous, models.PERSON), person_warnings)
        person.write_links(links)
        person.suspect_rows = person.suspects()
        person.release()
    # A judgement names persons or companies: it is unknown only if neither knows it.
    warnings.extend(w for w in person_warnings if w in set(company_warnings))
    for resolver in (company, person):
        line = (
            None if resolver.training is None else resolver.training.summary(resolver.entity_type)
        )
        if line:
            warnings.append(line)
    return {"person": person, "company": company}


def _write(run_dir: Path, staging: Path, resolved: dict[str, _Resolver]) -> None:
    """The tables besides links.parquet (written as each entity type finished), then all
    moved into place."""
    entities = pd.concat([r.entities() for r in resolved.values()], ignore_index=True)
    suspects = pd.concat([r.suspect_rows for r in resolved.values()], ignore_index=True)
    changes = pd.concat(
        [r.changes.assign(entity_type=r.entity_type) for r in resolved.values()],
        ignore_index=True,
    )
    pq.write_table(entities_table(entities, run_dir), staging / "entities.parquet")
    pq.write_table(
        pa.Table.from_pandas(suspects, preserve_index=False), staging / "suspects.parquet"
    )
    pq.write_table(
        pa.Table.from_pandas(changes, preserve_index=False), staging / "entity_changes.parquet"
    )
    target_models = run_dir / "models"
    shutil.rmtree(target_models, ignore_errors=True)
    (staging / "models").rename(target_models)
    for name in ("links", "suspects", "entity_changes", "entities"):
        (staging / f"{name}.parquet").replace(run_dir / f"{name}.parquet")


def train_models(
    run_dir: Path,
    models_dir: Path | None = None,
    *,
    config: LinkageConfig | None = None,
    progress: Progress | None = None,
) -> dict[str, str]:
    """Train both models on a run's mentions and save them for later runs to reuse.

    The person model's company-context comparison needs company entities, so companies are
    trained and resolved first (without reviewer judgements: training does not need them).
    """
    config = config or load_linkage_config()
    models_dir = default_models_dir() if models_dir is None else models_dir
    staging = run_dir / ".train-staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        companies = company_features(run_dir)
        company = _Resolver(models.COMPANY, companies, config.company, config, staging, progress)
        model, _ = company.model(None, _model_path(models_dir, models.COMPANY))
        model.save(staging / "company.json")
        company.resolve(model, read_judgements(staging / "no-judgements.jsonl"), None, [])
        persons = person_features(run_dir)
        persons["context"] = company_context(persons, companies, company.entity_ids)
        person = _Resolver(models.PERSON, persons, config.person, config, staging, progress)
        model, _ = person.model(None, _model_path(models_dir, models.PERSON))
        model.save(staging / "person.json")
        model.close()
        models_dir.mkdir(parents=True, exist_ok=True)
        saved = {}
        for entity_type in (models.COMPANY, models.PERSON):
            target = models_dir / f"{entity_type}.json"
            (staging / f"{entity_type}.json").replace(target)
            saved[entity_type] = str(target)
        return saved
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def entities_table(entities: pd.DataFrame, run_dir: Path) -> pa.Table:
    """`entities` as stored in `run_dir`: ENTITY_SCHEMA, stamped with the digest of each
    run's manifest they resolve (see `stale_entities`)."""
    table = pa.Table.from_pandas(entities[ENTITY_SCHEMA.names], ENTITY_SCHEMA, preserve_index=False)
    inputs = {
        run: hashlib.sha256((run_dir / run / "manifest.json").read_bytes()).hexdigest()
        for run in sorted(entities["run"].unique())
    }
    return table.replace_schema_metadata({INPUTS_KEY: json.dumps(inputs)})


def stale_entities(run_dir: Path) -> str | None:
    """Why entities.parquet does not resolve the run's current load, or None if it does.

    Linking stamps the entities with the digest of every manifest it resolved; a later
    `veil load` into the same directory (or into a base run) changes a manifest, and the
    old entities would leave the new mentions unresolved.
    """
    path = run_dir / "entities.parquet"
    metadata = pq.read_schema(path).metadata or {}
    if INPUTS_KEY not in metadata:
        return "it carries no record of the load it resolved (linked by an older veil)"
    stamped = json.loads(metadata[INPUTS_KEY])
    for run, digest in sorted(stamped.items()):
        manifest = run_dir / run / "manifest.json"
        if not manifest.is_file():
            return f"{manifest} is gone"
        if hashlib.sha256(manifest.read_bytes()).hexdigest() != digest:
            return f"{run_dir / run} was loaded again after it was linked"
    return None


def read_entities(run_dir: Path) -> pd.DataFrame:
    path = run_dir / "entities.parquet"
    if not path.is_file():
        raise InputError(str(path), "no entities table: run `veil link --run` first")
    return pq.read_table(path).to_pandas()
