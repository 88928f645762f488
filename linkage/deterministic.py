"""Links that identifiers prove, before any model is asked.

Equal USCC, equal organisation code (the loader fills it from USCC characters 9-17, so a
record carrying only the old 9-character code meets the company's USCC), equal legacy
registration number, equal full resident ID (compared as the loader's HMAC token). These
are must-links in clustering.

An identifier shared by mentions whose names disagree badly is still a link, because the
identifier is the stronger evidence, but it is also reported as a suspected data-entry
error: a clerk who typed the wrong USCC has made two companies one, and a reviewer should
look. Company names are compared on their core (brand) words, and a former name listed by
the registry explains a difference; person names agree when they sound the same.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz import fuzz
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from linkage.features import mention_refs

PERSON_IDENTIFIERS = ("id_token",)
COMPANY_IDENTIFIERS = ("uscc", "org_code", "reg_no")

LINK_COLUMNS = ["left", "right", "identifier"]


def identifier_links(features: pd.DataFrame, identifiers: tuple[str, ...]) -> pd.DataFrame:
    """One link from each mention to the first mention (lowest mention_id) sharing an
    identifier value with it: a star per group is enough for clustering, and keeps the
    link count linear in the group size. Columns: left, right, identifier."""
    parts = []
    for column in identifiers:
        known = features.loc[features[column].notna(), ["mention_id", column]]
        if known.empty:
            continue
        first = known.groupby(column, sort=False)["mention_id"].transform("min")
        star = known.assign(first=first)
        star = star[star["mention_id"] != star["first"]]
        parts.append(
            pd.DataFrame(
                {
                    "left": star["first"].to_numpy(np.int64),
                    "right": star["mention_id"].to_numpy(np.int64),
                    "identifier": column,
                }
            )
        )
    if not parts:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in zip(LINK_COLUMNS, ["int64", "int64", "object"], strict=True)
            }
        )
    links = pd.concat(parts, ignore_index=True)
    links = links.sort_values(["left", "right", "identifier"], kind="stable")
    return links.drop_duplicates(["left", "right"]).reset_index(drop=True)


def _similarity(a: str | None, b: str | None) -> float:
    if not a or not b:
        return 100.0
    return float(fuzz.ratio(a, b))


def suspected_person_errors(
    features: pd.DataFrame, links: pd.DataFrame, min_similarity: float
) -> pd.DataFrame:
    """Deterministic person links whose names neither sound alike nor look alike."""
    left = features.iloc[links["left"].to_numpy()].reset_index(drop=True)
    right = features.iloc[links["right"].to_numpy()].reset_index(drop=True)
    same_sound = left["name_pinyin_key"].eq(right["name_pinyin_key"])
    similarity = pd.Series(
        [
            _similarity(a, b)
            for a, b in zip(left["name_simplified"], right["name_simplified"], strict=True)
        ]
    )
    bad = ~same_sound & (similarity < min_similarity)
    return _report(left[bad], right[bad], links[bad.to_numpy()], similarity[bad], "person")


def suspected_company_errors(
    features: pd.DataFrame, links: pd.DataFrame, min_similarity: float
) -> pd.DataFrame:
    """Deterministic company links whose core names disagree and no former name explains."""
    left = features.iloc[links["left"].to_numpy()].reset_index(drop=True)
    right = features.iloc[links["right"].to_numpy()].reset_index(drop=True)
    similarity = pd.Series(
        [_similarity(a, b) for a, b in zip(left["name_core"], right["name_core"], strict=True)]
    )
    explained = pd.Series(
        [bool(set(a) & set(b)) for a, b in zip(left["name_keys"], right["name_keys"], strict=True)]
    )
    bad = ~explained & (similarity < min_similarity)
    return _report(left[bad], right[bad], links[bad.to_numpy()], similarity[bad], "company")


def _report(
    left: pd.DataFrame,
    right: pd.DataFrame,
    links: pd.DataFrame,
    similarity: pd.Series,
    entity_type: str,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity_type": entity_type,
            "identifier": links["identifier"].to_numpy(),
            "mention_l": mention_refs(left).to_numpy(),
            "mention_r": mention_refs(right).to_numpy(),
            "name_l": left["name"].to_numpy(),
            "name_r": right["name"].to_numpy(),
            "name_similarity": similarity.to_numpy(dtype=np.float64),
        }
    )


def provisional_entities(
    features: pd.DataFrame, links: pd.DataFrame, same: list[list[str]]
) -> np.ndarray:
    """A rough grouping for estimating parameters, never for output: identifier links plus
    mentions equal on every column of one of the `same` key lists. Training needs to know
    roughly which mentions are one entity so that "two random mentions" can mean two
    different entities; it does not need to be right about namesakes."""
    n = len(features)
    left = [links["left"].to_numpy(np.int64)]
    right = [links["right"].to_numpy(np.int64)]
    for columns in same:
        key = features[columns].copy()
        usable = key.notna().all(axis=1)
        for column in columns:
            if key[column].dtype == object:
                usable &= key[column].map(
                    lambda v: not isinstance(v, (list, np.ndarray)) or len(v) > 0
                )
                key[column] = key[column].map(
                    lambda v: "\x1f".join(v) if isinstance(v, (list, np.ndarray)) else v
                )
        ids = features.loc[usable, "mention_id"].to_numpy(np.int64)
        first = (
            pd.Series(ids)
            .groupby([key.loc[usable, c].to_numpy() for c in columns], sort=False)
            .transform("min")
        )
        left.append(first.to_numpy(np.int64))
        right.append(ids)
    rows = np.concatenate(left)
    cols = np.concatenate(right)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)
