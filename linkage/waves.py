"""Waves: a newly loaded run linked against a linked base.

The base's mentions keep their entities (and IDs); the wave's mentions are scored against
them and among themselves. Every table names a mention's run directory relative to the
output run ("." for its own rows), so a wave's outputs can be read from anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from config.errors import InputError
from linkage import models
from linkage.features import KEY, company_features, person_features
from linkage.resolver import identity_keys
from loaders import rundir


def relative(path: Path, out_dir: Path) -> str:
    """How `out_dir`'s tables name the run directory `path`: "." for itself."""
    path, out_dir = path.resolve(), out_dir.resolve()
    return "." if path == out_dir else os.path.relpath(path, out_dir)


def linked_entities(run_dir: Path, out_dir: Path) -> pd.DataFrame | None:
    """A run's entities with `run` re-expressed relative to `out_dir` (None when the run is
    not linked yet). Tables written before the `run` column name their own run."""
    if not rundir.exists(run_dir, "entities"):
        return None
    entities = rundir.entities(run_dir)
    runs = entities["run"] if "run" in entities.columns else pd.Series(".", index=entities.index)
    resolved = {r: (run_dir / r).resolve() for r in runs.unique()}
    # Once per run, not per row: resolving paths row by row took seconds per relink.
    entities["run_path"] = runs.map({r: str(p) for r, p in resolved.items()})
    entities["run"] = runs.map({r: relative(p, out_dir) for r, p in resolved.items()})
    return entities


def previous_ids(entities: pd.DataFrame | None, entity_type: str) -> pd.DataFrame | None:
    """The identity keys and entity IDs of `entity_type` before this linkage."""
    if entities is None:
        return None
    mine = entities[entities["entity_type"] == entity_type].reset_index(drop=True)
    return identity_keys(mine).assign(entity_id=mine["entity_id"].to_numpy())


def features(entity_type: str, run_dir: Path) -> pd.DataFrame:
    return person_features(run_dir) if entity_type == models.PERSON else company_features(run_dir)


def combined_features(
    entity_type: str, out_dir: Path, base: pd.DataFrame | None
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The features of `out_dir`'s own mentions, after (in a wave) those of every run the
    base's entities came from, with the base's entity IDs for the latter."""
    own = features(entity_type, out_dir).assign(run=".")
    if base is None:
        return own, None
    mine = base[base["entity_type"] == entity_type]
    frames = []
    for run_path in sorted(mine["run_path"].unique()):
        frame = features(entity_type, Path(run_path)).assign(run=relative(Path(run_path), out_dir))
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


def resolved_features(entity_type: str, run_dir: Path) -> pd.DataFrame:
    """The features of every `entity_type` mention a linked run's entities resolve (a
    wave's: those of every run so far), with `run` and `entity_id`: the run as linkage
    left it, for scoring newcomers against it (linkage/screen.py)."""
    entities = linked_entities(run_dir, run_dir)
    if entities is None:
        raise InputError(
            str(rundir.path(run_dir, "entities")), "the run is not linked: `veil link --run` it"
        )
    mine = entities[entities["entity_type"] == entity_type]
    runs = mine[["run", "run_path"]].drop_duplicates().itertuples(index=False, name=None)
    frames = [features(entity_type, Path(path)).assign(run=run) for run, path in sorted(runs)]
    if not frames:
        return features(entity_type, run_dir).assign(run=".", entity_id=None).iloc[:0]
    combined = pd.concat(frames, ignore_index=True).merge(
        mine[["run", *KEY, "entity_id"]], on=["run", *KEY], how="inner"
    )
    combined["mention_id"] = np.arange(len(combined), dtype=np.int64)
    return combined
