"""Clustering: greedy constrained agglomeration and stable entity IDs across runs."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.clusters import Edges, cluster
from linkage.entity_ids import stable_entity_ids
from loaders.rundir import TABLES, conform


def edges(*triples: tuple[int, int, float]) -> Edges:
    if not triples:
        return Edges.empty()
    left, right, prob = zip(*triples, strict=True)
    return Edges(np.array(left), np.array(right), np.array(prob))


# -- cluster ------------------------------------------------------------------------------


def test_threshold_is_inclusive_and_labels_are_smallest_member() -> None:
    result = cluster(5, edges((3, 4, 0.8), (1, 2, 0.79), (4, 0, 0.9)), 0.8)
    assert result.labels.tolist() == [0, 1, 2, 0, 0]
    assert result.accepted.tolist() == [True, False, True]
    assert result.refused == {"cannot_link": 0, "exclusive_key": 0, "partial_key": 0}
    assert result.n_clusters == 3


def test_each_edge_may_carry_its_own_threshold() -> None:
    """A pair sharing a rare name joins at a lower probability than the rest (linkage.yaml's
    rare_name_threshold): 0.6 passes its own 0.5 but not another edge's 0.8."""
    scored = edges((0, 1, 0.6), (2, 3, 0.6), (3, 4, 0.85))
    result = cluster(5, scored, np.array([0.5, 0.8, 0.8]))
    assert result.labels.tolist() == [0, 0, 2, 3, 3]
    assert result.accepted.tolist() == [True, False, True]


def test_accepted_includes_edges_inside_a_cluster_that_did_not_merge() -> None:
    result = cluster(3, edges((0, 1, 0.9), (1, 2, 0.9), (0, 2, 0.85), (0, 2, 0.1)), 0.5)
    assert result.accepted.tolist() == [True, True, True, False]


def test_cannot_link_stops_a_chain() -> None:
    # A-B 0.99, B-C 0.98, A and C judged different: C stays out.
    result = cluster(3, edges((0, 1, 0.99), (1, 2, 0.98)), 0.5, cannot_link=([0], [2]))
    assert result.labels.tolist() == [0, 0, 2]
    assert result.refused == {"cannot_link": 1, "exclusive_key": 0, "partial_key": 0}
    assert result.refused_total == 1
    assert result.accepted.tolist() == [True, False]


def test_stronger_edge_wins_the_contested_node() -> None:
    # B-C is stronger than A-B, so B goes with C and A is the one left out.
    result = cluster(3, edges((0, 1, 0.98), (1, 2, 0.99)), 0.5, cannot_link=([2], [0]))
    assert result.labels.tolist() == [0, 1, 1]


def test_exclusive_key_refuses_two_tokens_through_a_keyless_node() -> None:
    key = np.array(["tok-x", None, "tok-y", np.nan, ""], dtype=object)
    result = cluster(
        5, edges((0, 1, 0.9), (1, 2, 0.95), (3, 4, 0.9), (2, 3, 0.6)), 0.5, exclusive_key=key
    )
    assert result.labels.tolist() == [0, 1, 1, 1, 1]  # None, NaN and "" carry no key
    assert result.refused == {"cannot_link": 0, "exclusive_key": 1, "partial_key": 0}


def test_same_key_merges() -> None:
    key = np.array(["k", None, "k"], dtype=object)
    result = cluster(3, edges((0, 1, 0.9), (1, 2, 0.8)), 0.5, exclusive_key=key)
    assert result.labels.tolist() == [0, 0, 0]


def test_must_link_applies_below_threshold_and_without_edges() -> None:
    result = cluster(4, edges((2, 3, 0.2)), 0.5, must_link=Edges.certain([3], [1]))
    assert result.labels.tolist() == [0, 1, 2, 1]
    assert result.confidence.tolist() == [1.0, 1.0, 1.0, 1.0]


def test_must_link_against_cannot_link_is_skipped_and_reported() -> None:
    must = Edges.certain([0, 1], [1, 2])
    result = cluster(3, Edges.empty(), 0.5, must_link=must, cannot_link=([0], [2]))
    # (0,1) first in (low, high) order; (1,2) would put 0 and 2 together.
    assert result.labels.tolist() == [0, 0, 2]
    assert result.conflicts == [(1, 2, "cannot_link")]

    direct = cluster(
        2, Edges.empty(), 0.5, must_link=Edges.certain([1], [0]), cannot_link=([0], [1])
    )
    assert direct.labels.tolist() == [0, 1]
    assert direct.conflicts == [(0, 1, "cannot_link")]


def test_must_link_across_two_keys_is_applied_and_reported() -> None:
    key = np.array(["x", "y", "x", "z"], dtype=object)
    result = cluster(
        4,
        edges((0, 2, 0.9), (1, 3, 0.95)),
        0.5,
        must_link=Edges.certain([0], [1]),
        exclusive_key=key,
    )
    # 0 and 1 are joined despite x != y; x may join it again, z may not.
    assert result.labels.tolist() == [0, 0, 0, 3]
    assert result.conflicts == [(0, 1, "exclusive_key")]
    assert result.refused == {"cannot_link": 0, "exclusive_key": 1, "partial_key": 0}


def test_two_multi_key_clusters_merge_only_when_one_holds_the_others_keys() -> None:
    key = np.array(["x", "y", "x", "y", "z", "w"], dtype=object)
    must = Edges.certain([0, 2, 4], [1, 3, 5])  # {x,y}, {x,y}, {z,w}
    result = cluster(6, edges((1, 2, 0.9), (3, 4, 0.8)), 0.5, must_link=must, exclusive_key=key)
    assert result.labels.tolist() == [0, 0, 0, 0, 4, 4]
    assert result.refused["exclusive_key"] == 1


def test_masked_id_disagreeing_with_the_clusters_id_is_refused() -> None:
    # The demo's 刘洋: a registry mention with a full ID (token + its mask), a key-personnel
    # mention without ID, a punishment mention whose masked ID shows another region and
    # other last four. The ID-less bridge takes the first edge; the masked one stays out.
    token = np.array(["tok-a", None, None, None], dtype=object)
    shown = np.array(
        ["340104********3595", None, "440305********5872", "340104********3595"], dtype=object
    )
    result = cluster(
        4,
        edges((0, 1, 0.9), (1, 2, 0.58), (1, 3, 0.55)),
        0.5,
        exclusive_key=token,
        partial_key=shown,
    )
    assert result.labels.tolist() == [0, 0, 2, 0]
    assert result.refused == {"cannot_link": 0, "exclusive_key": 0, "partial_key": 1}
    assert result.accepted.tolist() == [True, False, True]


def test_partial_keys_agree_on_the_positions_both_show() -> None:
    # One differing visible character is enough; a hidden one never disagrees.
    shown = np.array(["1234**", "1234*6", "12*4*7", "1*****", "9*****", ""], dtype=object)
    result = cluster(
        6,
        edges((0, 1, 0.99), (0, 2, 0.98), (2, 3, 0.97), (3, 4, 0.96), (4, 5, 0.95)),
        0.5,
        partial_key=shown,
    )
    # 0+1 agree; 2 shows 7 where 1 shows 6; 3 agrees with 2 (and with 0+1) but has merged
    # with 2 first; 4 shows 9 where 3 shows 1; "" is no key and joins 4.
    assert result.labels.tolist() == [0, 0, 2, 2, 4, 4]
    assert result.refused["partial_key"] == 2


def test_agreeing_masks_are_no_link() -> None:
    # Two mentions showing the same mask are not one person by that alone.
    shown = np.array(["110101********123X", "110101********123X"], dtype=object)
    assert cluster(2, Edges.empty(), 0.5, partial_key=shown).labels.tolist() == [0, 1]
    below = cluster(2, edges((0, 1, 0.4)), 0.5, partial_key=shown)
    assert below.labels.tolist() == [0, 1]


def test_uncontested_components_with_agreeing_masks_merge_whole() -> None:
    # No two keys disagree in the component: the bulk (connected components) path.
    shown = np.array(["12**", None, "1*3*", "**34"], dtype=object)
    result = cluster(4, edges((0, 1, 0.6), (1, 2, 0.7), (2, 3, 0.8)), 0.5, partial_key=shown)
    assert result.labels.tolist() == [0, 0, 0, 0]
    assert result.refused_total == 0


def test_must_link_across_disagreeing_masks_is_applied_and_reported() -> None:
    # A reviewer's "same" joins 0 and 1 (first character 1 and 2); 2 shows nothing new at
    # any position and may join; 3 shows a 3 at the first position and may not.
    shown = np.array(["1a", "2b", "1b", "3a"], dtype=object)
    result = cluster(
        4,
        edges((0, 2, 0.9), (1, 3, 0.95)),
        0.5,
        must_link=Edges.certain([1], [0]),
        partial_key=shown,
    )
    assert result.labels.tolist() == [0, 0, 0, 3]
    assert result.conflicts == [(0, 1, "partial_key")]
    assert result.refused == {"cannot_link": 0, "exclusive_key": 0, "partial_key": 1}


def test_partial_key_refusal_counts_after_exclusive_key() -> None:
    # Two tokens that also show different masks: one refusal, under exclusive_key.
    result = cluster(
        2,
        edges((0, 1, 0.9)),
        0.5,
        exclusive_key=np.array(["t1", "t2"], dtype=object),
        partial_key=np.array(["11**", "22**"], dtype=object),
    )
    assert result.labels.tolist() == [0, 1]
    assert result.refused == {"cannot_link": 0, "exclusive_key": 1, "partial_key": 0}


def test_confidence_is_the_best_accepted_edge_of_each_node() -> None:
    result = cluster(
        6,
        edges((0, 1, 0.9), (1, 2, 0.7), (0, 2, 0.6), (3, 4, 0.4), (2, 5, 0.65)),
        0.5,
        cannot_link=([5], [0]),
    )
    assert result.labels.tolist() == [0, 0, 0, 3, 4, 5]
    assert result.confidence.tolist() == pytest.approx([0.9, 0.9, 0.7, 1.0, 1.0, 1.0])


def test_shuffled_input_gives_identical_result() -> None:
    rng = np.random.default_rng(7)
    n, m = 400, 1500
    left, right = rng.integers(0, n, m), rng.integers(0, n, m)
    prob = rng.choice([0.55, 0.7, 0.9, 0.99, 0.3], m)  # many ties
    key = np.where(rng.random(n) < 0.3, rng.integers(0, 40, n).astype(str), None)
    mask = np.array(["".join(p) for p in rng.choice(list("12*"), (n, 3))], dtype=object)
    mask[rng.random(n) < 0.5] = None
    cannot = rng.integers(0, n, (2, 60))
    cannot = cannot[:, cannot[0] != cannot[1]]
    must = rng.integers(0, n, (2, 30))
    base = cluster(
        n,
        Edges(left, right, prob),
        0.5,
        must_link=Edges.certain(must[0], must[1]),
        cannot_link=(cannot[0], cannot[1]),
        exclusive_key=key,
        partial_key=mask,
    )
    assert base.refused_total > 0 and base.refused["partial_key"] > 0
    perm = rng.permutation(m)
    swap = rng.random(m) < 0.5
    sl = np.where(swap, right, left)[perm]
    sr = np.where(swap, left, right)[perm]
    mperm = rng.permutation(must.shape[1])
    shuffled = cluster(
        n,
        Edges(sl, sr, prob[perm]),
        0.5,
        must_link=Edges.certain(must[1][mperm], must[0][mperm]),
        cannot_link=(cannot[1][::-1], cannot[0][::-1]),
        exclusive_key=key,
        partial_key=mask,
    )
    assert np.array_equal(base.labels, shuffled.labels)
    assert np.array_equal(base.accepted[perm], shuffled.accepted)
    assert np.array_equal(base.confidence, shuffled.confidence)
    assert base.refused == shuffled.refused


def _reference(n, left, right, prob, threshold, must, cannot, key, partial) -> list[int]:
    """The definition, written as plainly as possible: sets of members, no shortcuts."""
    member = {i: {i} for i in range(n)}
    where = list(range(n))
    bad = {frozenset(p) for p in cannot}

    def violates(a: set[int], b: set[int], check_keys: bool) -> bool:
        if any(frozenset((x, y)) in bad for x in a for y in b):
            return True
        if not check_keys:
            return False
        ka = {key[x] for x in a if key[x] is not None}
        kb = {key[x] for x in b if key[x] is not None}
        if not (ka <= kb or kb <= ka):
            return True
        for at in range(2):
            pa = {partial[x][at] for x in a if partial[x] and partial[x][at] != "*"}
            pb = {partial[x][at] for x in b if partial[x] and partial[x][at] != "*"}
            if not (pa <= pb or pb <= pa):
                return True
        return False

    def merge(x: int, y: int, check_keys: bool) -> None:
        a, b = where[x], where[y]
        if a == b or violates(member[a], member[b], check_keys):
            return
        for z in member[b]:
            where[z] = a
        member[a] |= member.pop(b)

    for x, y in sorted((min(p), max(p)) for p in must):
        merge(x, y, check_keys=False)
    order = sorted((-p, min(a, b), max(a, b)) for a, b, p in zip(left, right, prob, strict=True))
    for p, a, b in order:
        if -p >= threshold:
            merge(a, b, check_keys=True)
    return [min(member[where[i]]) for i in range(n)]


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(st.data())
def test_matches_the_plain_definition(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 14))
    node = st.integers(0, n - 1)
    triples = data.draw(
        st.lists(st.tuples(node, node, st.sampled_from([0.2, 0.6, 0.8, 0.95])), max_size=30)
    )
    must = data.draw(st.lists(st.tuples(node, node), max_size=3))
    cannot = [p for p in data.draw(st.lists(st.tuples(node, node), max_size=4)) if p[0] != p[1]]
    key = data.draw(st.lists(st.sampled_from([None, "a", "b", "c"]), min_size=n, max_size=n))
    masks = [None, "", "**", "1*", "2*", "*1", "*2", "11", "12", "21"]
    partial = data.draw(st.lists(st.sampled_from(masks), min_size=n, max_size=n))
    result = cluster(
        n,
        edges(*triples),
        0.5,
        must_link=Edges.certain([p[0] for p in must], [p[1] for p in must]),
        cannot_link=(np.array([p[0] for p in cannot], int), np.array([p[1] for p in cannot], int)),
        exclusive_key=np.array(key, dtype=object),
        partial_key=np.array(partial, dtype=object),
    )
    left = [t[0] for t in triples]
    right = [t[1] for t in triples]
    prob = [t[2] for t in triples]
    expected = _reference(n, left, right, prob, 0.5, must, cannot, key, partial)
    assert result.labels.tolist() == expected


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="outside"):
        cluster(2, edges((0, 2, 0.9)), 0.5)
    with pytest.raises(ValueError, match="itself"):
        cluster(2, Edges.empty(), 0.5, cannot_link=([1], [1]))
    with pytest.raises(ValueError, match="length"):
        Edges(np.array([0]), np.array([1, 2]), np.array([0.5]))
    with pytest.raises(ValueError, match="exclusive_key"):
        cluster(2, Edges.empty(), 0.5, exclusive_key=np.array(["a"], dtype=object))
    with pytest.raises(ValueError, match="partial_key has 1"):
        cluster(2, Edges.empty(), 0.5, partial_key=np.array(["a*"], dtype=object))
    with pytest.raises(ValueError, match="differ in length"):
        cluster(2, Edges.empty(), 0.5, partial_key=np.array(["a*", "a**"], dtype=object))


def test_empty() -> None:
    result = cluster(0, Edges.empty(), 0.5)
    assert result.labels.size == 0 and result.confidence.size == 0


@pytest.mark.slow
def test_million_nodes_three_million_edges() -> None:
    """Not a benchmark, a guard against the pathological: the worst case (random edges,
    one giant contested component full of conflicting keys) must finish in seconds."""
    rng = np.random.default_rng(1)
    n, m = 1_000_000, 3_000_000
    scored = Edges(rng.integers(0, n, m), rng.integers(0, n, m), rng.random(m))
    key = np.where(rng.random(n) < 0.3, rng.integers(0, 200_000, n).astype(str), None)
    digits = rng.integers(0, 10, (n, 10)).astype(str)
    masked = np.array(["".join(r[:6]) + "********" + "".join(r[6:]) for r in digits], object)
    masked[rng.random(n) < 0.6] = None
    cannot = rng.integers(0, n, (2, 20_000))
    cannot = cannot[:, cannot[0] != cannot[1]]
    must = rng.integers(0, n, (2, 50_000))
    start = time.perf_counter()
    result = cluster(
        n,
        scored,
        0.5,
        must_link=Edges.certain(must[0], must[1]),
        cannot_link=(cannot[0], cannot[1]),
        exclusive_key=key,
        partial_key=masked,
    )
    print(f"\n1M nodes / 3M edges clustered in {time.perf_counter() - start:.1f} s")
    assert result.labels.shape == (n,)
    assert result.refused["exclusive_key"] > 0 and result.refused["partial_key"] > 0


# -- stable entity IDs --------------------------------------------------------------------


def keys_of(*refs: str) -> pd.DataFrame:
    rows = [r.split(":") for r in refs]
    return pd.DataFrame(rows, columns=["source", "record_id", "slot"])


def hash_id(prefix: str, ref: str, length: int = 12) -> str:
    digest = hashlib.sha256(ref.replace(":", "\x1f").encode()).hexdigest()
    return prefix + digest[:length]


def grouped(*groups: list[int]) -> np.ndarray:
    """Labels from groups of node indices."""
    labels = np.empty(sum(len(g) for g in groups), dtype=np.int64)
    for g in groups:
        labels[g] = min(g)
    return labels


def previous_of(keys: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    return keys.assign(entity_id=ids)


def change_rows(changes: pd.DataFrame) -> dict[str, tuple]:
    return {
        r.entity_id: (r.change, list(r.from_ids), r.mentions, r.new_mentions)
        for r in changes.itertuples()
    }


def test_fresh_ids_hash_the_smallest_mention_and_repeat() -> None:
    keys = keys_of("reg:2:holder", "reg:10:holder", "courts:9:person[1]", "reg:3:holder")
    labels = grouped([0, 1], [2], [3])
    ids, changes = stable_entity_ids(keys, labels, "P")
    # "reg:10" < "reg:2" as strings.
    assert ids.tolist() == [
        hash_id("P", "reg:10:holder"),
        hash_id("P", "reg:10:holder"),
        hash_id("P", "courts:9:person[1]"),
        hash_id("P", "reg:3:holder"),
    ]
    again, changes_again = stable_entity_ids(keys, labels, "P")
    assert again.tolist() == ids.tolist()
    pd.testing.assert_frame_equal(changes, changes_again)
    assert set(changes["change"]) == {"created"}
    assert changes["mentions"].tolist() == changes["new_mentions"].tolist()
    # Row order of the input does not matter.
    perm = [3, 1, 2, 0]
    shuffled, _ = stable_entity_ids(
        keys.iloc[perm].reset_index(drop=True), grouped([1, 3], [2], [0]), "P"
    )
    assert shuffled.tolist() == ids[perm].tolist()


def test_changes_table_fits_the_arrow_schema() -> None:
    keys = keys_of("a:1:s", "a:2:s")
    ids, changes = stable_entity_ids(keys, grouped([0], [1]), "C")
    table = conform("entity_changes", changes.assign(entity_type="company"))
    assert table.schema.remove_metadata() == TABLES["entity_changes"].schema
    _, later = stable_entity_ids(keys, grouped([0, 1]), "C", previous_of(keys, ids))
    table = conform("entity_changes", later.assign(entity_type="company"))
    assert table.column("from_ids").to_pylist() == [sorted(ids.tolist()), [max(ids)]]


def test_unchanged_and_extended_keep_their_ids() -> None:
    keys = keys_of("a:1:s", "a:2:s", "a:3:s")
    ids, _ = stable_entity_ids(keys, grouped([0, 1], [2]), "P")
    prev = previous_of(keys, ids)
    more = keys_of("a:1:s", "a:2:s", "a:3:s", "b:9:s")
    new_ids, changes = stable_entity_ids(more, grouped([0, 1, 3], [2]), "P", prev)
    assert new_ids.tolist() == [ids[0], ids[0], ids[2], ids[0]]
    assert change_rows(changes) == {
        ids[0]: ("extended", [ids[0]], 3, 1),
        ids[2]: ("unchanged", [ids[2]], 1, 0),
    }


def test_created_alongside_previous() -> None:
    keys = keys_of("a:1:s")
    ids, _ = stable_entity_ids(keys, grouped([0]), "P")
    more = keys_of("a:1:s", "b:1:s", "b:2:s")
    new_ids, changes = stable_entity_ids(more, grouped([0], [1, 2]), "P", previous_of(keys, ids))
    fresh = hash_id("P", "b:1:s")
    assert new_ids.tolist() == [ids[0], fresh, fresh]
    assert change_rows(changes)[fresh] == ("created", [], 2, 2)


def test_merge_keeps_the_bigger_old_id_and_retires_the_other() -> None:
    keys = keys_of("a:1:s", "a:2:s", "a:3:s", "a:4:s", "a:5:s")
    ids, _ = stable_entity_ids(keys, grouped([0, 1], [2, 3, 4]), "P")
    small, big = ids[0], ids[2]
    new_ids, changes = stable_entity_ids(
        keys, grouped([0, 1, 2, 3, 4]), "P", previous_of(keys, ids)
    )
    assert set(new_ids) == {big}
    assert change_rows(changes) == {
        big: ("merged", sorted([small, big]), 5, 0),
        small: ("retired", [small], 0, 0),
    }


def test_merge_tie_keeps_the_smallest_id() -> None:
    keys = keys_of("a:1:s", "a:2:s", "a:3:s", "a:4:s")
    ids, _ = stable_entity_ids(keys, grouped([0, 1], [2, 3]), "P")
    new_ids, changes = stable_entity_ids(keys, grouped([0, 1, 2, 3]), "P", previous_of(keys, ids))
    assert set(new_ids) == {min(ids)}
    assert change_rows(changes)[max(ids)][0] == "retired"


def test_split_the_biggest_part_keeps_the_id() -> None:
    keys = keys_of("a:1:s", "a:2:s", "a:3:s", "a:4:s", "b:1:s")
    ids, _ = stable_entity_ids(keys.iloc[:4], grouped([0, 1, 2, 3]), "P")
    old = ids[0]
    # The old entity splits 1 / 3; the small part also gains a new mention.
    new_ids, changes = stable_entity_ids(
        keys, grouped([0, 4], [1, 2, 3]), "P", previous_of(keys.iloc[:4], ids)
    )
    # The old ID was a:1:s's hash, so the part holding a:1:s needs a 13th character.
    assert old == hash_id("P", "a:1:s")
    fresh = hash_id("P", "a:1:s", 13)
    assert new_ids.tolist() == [fresh, old, old, old, fresh]
    assert change_rows(changes) == {
        old: ("split", [old], 3, 0),
        fresh: ("split", [old], 2, 1),
    }


def test_split_tie_goes_to_the_smaller_label() -> None:
    keys = keys_of("a:1:s", "a:2:s", "a:3:s", "a:4:s")
    ids, _ = stable_entity_ids(keys, grouped([0, 1, 2, 3]), "P")
    new_ids, _ = stable_entity_ids(keys, grouped([1, 3], [0, 2]), "P", previous_of(keys, ids))
    assert new_ids[0] == ids[0] and new_ids[1] != ids[0]


def test_merged_beats_split() -> None:
    # Old X = {1,2,3}, old Y = {4}. New: {1,2} keeps X; {3,4} holds part of X and all of Y.
    keys = keys_of("a:1:s", "a:2:s", "a:3:s", "a:4:s")
    ids, _ = stable_entity_ids(keys, grouped([0, 1, 2], [3]), "P")
    x, y = ids[0], ids[3]
    new_ids, changes = stable_entity_ids(keys, grouped([0, 1], [2, 3]), "P", previous_of(keys, ids))
    # Y was awarded to {3,4} (its only holder); X was not (it holds 1 of 3).
    assert new_ids.tolist() == [x, x, y, y]
    assert change_rows(changes) == {
        x: ("split", [x], 2, 0),
        y: ("merged", sorted([x, y]), 2, 0),
    }


def test_vanished_mentions_are_ignored_and_empty_entities_retired() -> None:
    keys = keys_of("a:1:s", "a:2:s", "a:3:s")
    ids, _ = stable_entity_ids(keys, grouped([0, 1], [2]), "P")
    now = keys.iloc[:1]
    new_ids, changes = stable_entity_ids(now, grouped([0]), "P", previous_of(keys, ids))
    assert new_ids.tolist() == [ids[0]]
    assert change_rows(changes) == {
        ids[0]: ("unchanged", [ids[0]], 1, 0),
        ids[2]: ("retired", [ids[2]], 0, 0),
    }


def test_fresh_id_grows_past_a_collision_with_a_previous_id() -> None:
    keys = keys_of("a:1:s", "b:1:s")
    would_be = hash_id("P", "b:1:s")
    # The previous run gave a:1:s an ID equal to what b:1:s would now get.
    prev = previous_of(keys.iloc[:1], np.array([would_be], dtype=object))
    new_ids, changes = stable_entity_ids(keys, grouped([0], [1]), "P", prev)
    assert new_ids[0] == would_be
    assert new_ids[1] == hash_id("P", "b:1:s", 13)
    assert change_rows(changes)[new_ids[1]] == ("created", [], 1, 1)


def test_a_retired_id_is_never_reissued() -> None:
    # {a:1, b:1} was named after b:1. Now a:1 joins c's bigger entity, which wins the tie
    # for the old ID over b:1 (smaller label) but keeps c's ID (more shared): the old ID is
    # retired, and b:1's fresh hash, equal to it, grows instead of resurrecting it.
    keys = keys_of("a:1:s", "b:1:s", "c:1:s", "c:2:s")
    ab = hash_id("P", "b:1:s")
    prev_ids = np.array([ab, ab, "P-old-c", "P-old-c"], dtype=object)
    new_ids, changes = stable_entity_ids(
        keys, grouped([0, 2, 3], [1]), "P", previous_of(keys, prev_ids)
    )
    fresh = hash_id("P", "b:1:s", 13)
    assert new_ids.tolist() == ["P-old-c", fresh, "P-old-c", "P-old-c"]
    assert change_rows(changes) == {
        "P-old-c": ("merged", sorted([ab, "P-old-c"]), 3, 0),
        fresh: ("split", [ab], 1, 0),
        ab: ("retired", [ab], 0, 0),
    }


def test_ids_reject_duplicate_mentions_and_misaligned_labels() -> None:
    with pytest.raises(ValueError, match="more than once"):
        stable_entity_ids(keys_of("a:1:s", "a:1:s"), grouped([0], [1]), "P")
    with pytest.raises(ValueError, match="labels"):
        stable_entity_ids(keys_of("a:1:s"), grouped([0], [1]), "P")
    keys = keys_of("a:1:s")
    prev = pd.concat([previous_of(keys, np.array(["X"])), previous_of(keys, np.array(["Y"]))])
    with pytest.raises(ValueError, match="more than once"):
        stable_entity_ids(keys, grouped([0]), "P", prev)
