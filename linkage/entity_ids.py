"""Stable entity IDs: names for the clusters `linkage.clusters.cluster` finds, and what changed.

A fresh ID is a hash of the cluster's smallest mention key, so the same input gives the same
IDs on a first run; on later runs (new waves, re-loads) old IDs follow their mentions, and a
`changes` table says what happened to each entity (created, merged, split, extended,
unchanged, retired).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["KEY_COLUMNS", "stable_entity_ids"]

#: Columns naming a mention, in every frame these functions take.
KEY_COLUMNS = ["source", "record_id", "slot"]

#: Separator of the mention key hashed into entity IDs (never occurs in the key parts).
_SEP = "\x1f"
#: Hex characters of a fresh entity ID (48 bits); longer only on a collision.
_ID_HEX = 12


def _mention_keys(frame: pd.DataFrame, what: str) -> pa.Array[Any]:
    """Per row, source, record_id and slot joined by U+001F: the string hashed into IDs.

    Arrow, not Python strings: sorting and looking up a million keys is a C++ job.
    """
    missing = [c for c in KEY_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {KEY_COLUMNS}; missing {missing}")
    parts = [_strings(frame[c]) for c in KEY_COLUMNS]
    sep = pa.scalar(_SEP, pa.large_string())
    # pyarrow-stubs want all arguments arrays or all scalars; the function mixes them.
    keys: pa.Array[Any] = pc.binary_join_element_wise(*parts, sep)  # type: ignore[call-overload]
    return keys


def _strings(column: pd.Series) -> pa.Array[Any]:
    return pa.Array.from_pandas(column.astype(str)).cast(pa.large_string())


def _sorted_unique(keys: pa.Array[Any], what: str) -> tuple[np.ndarray, pa.Array[Any]]:
    """The sort order of the keys and the sorted keys; ValueError naming a duplicate."""
    order = pc.array_sort_indices(keys).to_numpy()
    ordered = keys.take(pa.array(order))
    if len(ordered) > 1:
        same = pc.equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1)).to_numpy(
            zero_copy_only=False
        )
        if same.any():
            dup = ordered[int(np.flatnonzero(same)[0])].as_py().replace(_SEP, ":")
            raise ValueError(f"{what} name mention {dup} more than once")
    return order, ordered


def stable_entity_ids(
    keys: pd.DataFrame,
    labels: np.ndarray,
    prefix: str,
    previous: pd.DataFrame | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Entity ID per node, and what changed since `previous` (the columns of the run
    directory's entity_changes table but entity_type: loaders/rundir.py).

    A fresh ID is prefix + the first 12 hex characters of sha256 of the cluster's smallest
    mention key (longer where that collides with a previous ID or another fresh one), so a
    re-run of the same input gives the same IDs.

    With `previous` (source, record_id, slot, entity_id of the last run), IDs follow
    mentions: an old ID is awarded to the cluster holding most of its (still existing)
    mentions, ties to the smaller label; a cluster awarded several old IDs keeps the one
    it shares most mentions with, ties to the smallest ID, and the others are retired; a
    cluster awarded none gets a fresh ID, never one used before (not even a retired one,
    so an ID always means one entity's history).

    Change per entity, first rule that applies (created, then merged > split > extended >
    unchanged): created (no previous mention), merged (mentions of >= 2 old entities),
    split (part of one old entity whose mentions now lie in >= 2 clusters, whether or not
    this cluster kept the ID), extended (all of one old entity plus new mentions),
    unchanged (exactly one old entity's mentions). Old IDs no one keeps get a "retired"
    row (from_ids [the ID], mentions 0); so do old entities whose mentions all vanished.
    from_ids lists the old IDs whose mentions the entity holds, sorted.
    """
    labels = np.asarray(labels, dtype=np.int64).ravel()
    if len(keys) != len(labels):
        raise ValueError(f"{len(keys)} mention keys but {len(labels)} labels")
    mkeys = _mention_keys(keys, "keys")
    order, ordered = _sorted_unique(mkeys, "keys")
    # Clusters are numbered by label, ascending: "the smaller label" is the smaller number.
    _, cl = np.unique(labels, return_inverse=True)
    cl = cl.astype(np.int64).ravel()
    size = np.bincount(cl)
    n_clusters = size.size
    # The smallest key per cluster: the smallest rank in the keys' sorted order.
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    best = np.full(n_clusters, len(order), dtype=np.int64)
    np.minimum.at(best, cl, rank)
    smallest = ordered.take(pa.array(best, pa.int64())).to_numpy(zero_copy_only=False)

    if previous is None:
        ids = np.asarray(_fresh_ids(prefix, smallest, set()), dtype=object)
        changes = _changes_frame(
            ids,
            np.full(n_clusters, "created", dtype=object),
            [[] for _ in range(n_clusters)],
            size,
            size,
        )
        return ids[cl], _sorted_changes(changes)

    old_ids, old = _previous_ids(previous, mkeys)
    has_old = old >= 0
    new_mentions = np.bincount(cl[~has_old], minlength=n_clusters)
    # (cluster, old entity, shared mentions), one row per pair that shares any.
    n_old = max(old_ids.size, 1)
    pair, shared = np.unique(cl[has_old] * n_old + old[has_old], return_counts=True)
    p_cluster, p_old = pair // n_old, pair % n_old
    # Award each old ID to its biggest holder, ties to the smaller label; old IDs are
    # coded in sorted order, so the smaller code is the lexicographically smaller ID.
    order = np.lexsort((p_cluster, -shared, p_old))
    award = order[_firsts(p_old[order])]
    # A cluster awarded several keeps the one it shares most with, ties to the smallest ID.
    order = award[np.lexsort((p_old[award], -shared[award], p_cluster[award]))]
    kept = order[_firsts(p_cluster[order])]

    ids = np.empty(n_clusters, dtype=object)
    ids[p_cluster[kept]] = old_ids[p_old[kept]]
    need = np.ones(n_clusters, dtype=bool)
    need[p_cluster[kept]] = False
    fresh = _fresh_ids(prefix, smallest[need], set(old_ids.tolist()))
    ids[need] = np.asarray(fresh, dtype=object)

    changes = _classify(p_cluster, p_old, old_ids, ids, size, new_mentions)
    retired_mask = np.ones(old_ids.size, dtype=bool)
    retired_mask[p_old[kept]] = False
    retired = old_ids[retired_mask]
    if retired.size:
        none = np.zeros(retired.size, dtype=np.int64)
        retired_rows = _changes_frame(
            retired,
            np.full(retired.size, "retired", dtype=object),
            [[r] for r in retired.tolist()],
            none,
            none,
        )
        changes = pd.concat([changes, retired_rows], ignore_index=True)
    return ids[cl], _sorted_changes(changes)


def _firsts(sorted_groups: np.ndarray) -> np.ndarray:
    """Positions where a new group starts in an array sorted by group."""
    if sorted_groups.size == 0:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])


def _previous_ids(previous: pd.DataFrame, mkeys: pa.Array[Any]) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct previous IDs, and per current mention its old ID's code (-1: new)."""
    missing = [c for c in [*KEY_COLUMNS, "entity_id"] if c not in previous.columns]
    if missing:
        raise ValueError(f"previous entity IDs need column(s) {missing}")
    previous = previous[previous["entity_id"].notna()]
    prev_keys = _mention_keys(previous, "previous")
    _sorted_unique(prev_keys, "previous entity IDs")
    encoded = _strings(previous["entity_id"]).dictionary_encode()
    distinct = encoded.dictionary
    by_name = pc.array_sort_indices(distinct).to_numpy()
    code_of = np.empty(len(distinct), dtype=np.int64)
    code_of[by_name] = np.arange(len(distinct), dtype=np.int64)
    codes = code_of[encoded.indices.to_numpy()]
    position = pc.index_in(mkeys, value_set=prev_keys).fill_null(-1).to_numpy()
    old = np.full(len(mkeys), -1, dtype=np.int64)
    hit = position >= 0
    old[hit] = codes[position[hit]]
    old_ids = distinct.take(pa.array(by_name)).to_numpy(zero_copy_only=False)
    return np.asarray(old_ids, dtype=object), old


def _classify(
    p_cluster: np.ndarray,
    p_old: np.ndarray,
    old_ids: np.ndarray,
    ids: np.ndarray,
    size: np.ndarray,
    new_mentions: np.ndarray,
) -> pd.DataFrame:
    """One changes row per current cluster (see stable_entity_ids for the precedence)."""
    n_clusters = size.size
    n_old = np.bincount(p_cluster, minlength=n_clusters)
    holders = np.bincount(p_old, minlength=old_ids.size)
    spread = np.zeros(n_clusters, dtype=bool)
    spread[p_cluster[holders[p_old] > 1]] = True
    change = np.select(
        [n_old == 0, n_old >= 2, spread, new_mentions > 0],
        ["created", "merged", "split", "extended"],
        default="unchanged",
    ).astype(object)
    from_ids: list[list[str]] = [[] for _ in range(n_clusters)]
    names = old_ids[p_old].tolist()
    for c, name in zip(p_cluster.tolist(), names, strict=True):  # sorted by cluster, old
        from_ids[c].append(name)
    return _changes_frame(ids, change, from_ids, size, new_mentions)


def _changes_frame(
    ids: np.ndarray,
    change: np.ndarray,
    from_ids: list[list[str]],
    mentions: np.ndarray,
    new_mentions: np.ndarray,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity_id": pd.Series(ids, dtype=object),
            "change": pd.Series(change, dtype=object),
            "from_ids": pd.Series(from_ids, dtype=object),
            "mentions": np.asarray(mentions, dtype=np.int64),
            "new_mentions": np.asarray(new_mentions, dtype=np.int64),
        }
    )


def _sorted_changes(changes: pd.DataFrame) -> pd.DataFrame:
    """Rows by entity_id, so two runs over the same input give identical tables."""
    ids = pa.array(changes["entity_id"].to_numpy(dtype=object), pa.large_string())
    order = pc.array_sort_indices(ids).to_numpy()
    return changes.iloc[order].reset_index(drop=True)


def _fresh_ids(prefix: str, smallest: np.ndarray, taken: set[str]) -> list[str]:
    """prefix + sha256 hex of each smallest mention key, 12 characters unless that collides.

    An ID colliding with a taken (previous) ID or with another fresh ID grows one hex
    character at a time until unique; the rule looks at all IDs at once, so the result
    does not depend on cluster order.
    """
    digests = [hashlib.sha256(k.encode("utf-8")).hexdigest() for k in smallest]
    length = [_ID_HEX] * len(digests)
    ids = [prefix + d[:_ID_HEX] for d in digests]
    pending: Sequence[int] = range(len(ids))
    while True:
        counts: dict[str, int] = {}
        for id_ in ids:
            counts[id_] = counts.get(id_, 0) + 1
        clash = [i for i in pending if counts[ids[i]] > 1 or ids[i] in taken]
        if not clash:
            return ids
        for i in clash:
            if length[i] >= len(digests[i]):
                raise ValueError(f"cannot make a unique entity ID for {smallest[i]!r}")
            length[i] += 1
            ids[i] = prefix + digests[i][: length[i]]
        pending = clash
