"""links.parquet rows: every pair that was evidence (identifiers, reviewers' "same", the
model's scored pairs with their comparison levels and match weights), written per entity
type as it finishes, in chunks, so that a million mentions' pairs never sit in memory as
rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.features import mention_refs
from linkage.resolver import Resolver, announce
from loaders.rundir import LEVEL_TYPE, TABLES

#: Model pairs turned into links.parquet rows at a time (bounds the rows' memory).
LINK_CHUNK = 500_000


def write_links(resolver: Resolver, writer: pq.ParquetWriter) -> None:
    """Write `resolver`'s links.parquet rows (identifier, judgement and model
    evidence), then drop the scored pairs: at 1M mentions they and their rows are GiBs."""
    announce(resolver.progress, "link rows", resolver.entity_type)
    refs = pa.array(_tagged_refs(resolver.features), pa.string())
    ids = pa.array(resolver.entity_ids, pa.string())

    def pairs(
        left: np.ndarray,
        right: np.ndarray,
        evidence: str | np.ndarray,
        scores: pd.DataFrame | None = None,
        merged: np.ndarray | None = None,
    ) -> None:
        """Rows for these mention pairs; `scores` and `merged` (the model's pairs): their
        weights, levels and whether clustering accepted them, else those of certainty."""
        if resolver.existing:
            # A wave reports the evidence it added; the base's links stay in the base.
            keep = (left >= resolver.existing) | (right >= resolver.existing)
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
                "entity_type": pa.repeat(pa.scalar(resolver.entity_type), n),
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
                "levels": _no_levels(n) if chunk is None else _levels(chunk, resolver.comparisons),
                "merged": pc.equal(id_l, id_r) if merged is None else merged[part],
            }
            # pyarrow-stubs: pa.table's mapping takes Arrow arrays and sequences, not numpy
            # arrays, which it converts like pa.array does.
            writer.write_table(pa.table(values, schema=TABLES["links"].schema))  # type: ignore[arg-type]

    if len(resolver.links):
        pairs(
            resolver.links["left"].to_numpy(np.int64),
            resolver.links["right"].to_numpy(np.int64),
            ("identifier:" + resolver.links["identifier"]).to_numpy(dtype=object),
        )
    if len(resolver.judged_same.left):
        pairs(
            np.asarray(resolver.judged_same.left, dtype=np.int64),
            np.asarray(resolver.judged_same.right, dtype=np.int64),
            "judgement:same",
        )
    if len(resolver.pairs):
        pairs(
            resolver.pairs["mention_id_l"].to_numpy(np.int64),
            resolver.pairs["mention_id_r"].to_numpy(np.int64),
            "model",
            scores=resolver.pairs,
            merged=np.asarray(resolver.clustering.accepted, dtype=bool),
        )
    del resolver.pairs


def _tagged_refs(features: pd.DataFrame) -> pd.Series:
    """Mention references for output: `source:record_id:slot`, prefixed `run/` for rows of
    another run."""
    refs = mention_refs(features)
    run = features["run"].astype(str)
    return refs.where(run == ".", run + "/" + refs)


def _no_levels(n: int) -> pa.Array[Any]:
    """n empty level lists (evidence other than the model's)."""
    return pa.ListArray.from_arrays(
        pa.array(np.zeros(n + 1, dtype=np.int32), pa.int32()),
        pa.array([], LEVEL_TYPE.value_type),
        type=LEVEL_TYPE,
    )


def _levels(pairs: pd.DataFrame, comparisons: list[tuple[str, dict[int, str]]]) -> pa.Array[Any]:
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
        labels.append(text.take(inverse.reshape(-1)))
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
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32), pa.int32())
    return pa.ListArray.from_arrays(offsets, items, type=LEVEL_TYPE)
