"""The two Splink models, their comparisons and blocking rules, and how they are trained.

Comparisons are written in SQL for this data rather than taken from Splink's string
library, because DuckDB's fuzzy string functions count UTF-8 bytes, not characters (so
张伟/张强 looks closer than 张伟/张玮). Near names are measured by `veil_char_distance`, a
rapidfuzz Levenshtein distance over characters registered on the DuckDB connection.

Persons: name (exact simplified / same sound, which also meets romanised names / one
look-alike character apart (形近字, linkage/shapes.py) / one character apart with the same
surname), resident ID (same full ID / masked form agrees by the characters both show, four
levels / same birth date and sex but another number / conflict), company context (the two
records name a common company entity), and phone and address when the data carries them.
Companies: name (the same registered name, current or former / same brand words, industry
and legal form / the same brand sound with them / a romanised name with the Chinese one's
brand sound, form, region and industry / brand words one character apart), identifiers
(USCC, organisation code or registration number equal / conflict), region, and address.
Term-frequency adjustment on names makes a shared 王伟 count for little and a shared rare
name for much.

Training (linkage/training.py) needs no labels: u from random pairs and exact counts, m by
expectation maximisation in two blocks (same name: learns the identifier and context
levels; same identifier: learns the name levels), so each comparison is estimated where
the other decides the blocking.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from duckdb.func import FunctionNullHandling, PythonUDFType
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cpdist
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.blocking_rule_library import CustomRule
from splink.internals.splink_dataframe import SplinkDataFrame

from config.errors import InputError
from config.settings import environment
from linkage.company_names import company_from_simplified
from linkage.shapes import ArrowArray, look_alike_apart

PERSON = "person"
COMPANY = "company"

UNIQUE_ID = "mention_id"


def _char_distance(left: ArrowArray, right: ArrowArray) -> ArrowArray:
    """Levenshtein distance in characters, null where either side is null."""
    a = left.to_pylist()
    b = right.to_pylist()
    missing = np.array([x is None or y is None for x, y in zip(a, b, strict=True)])
    scores = cpdist(
        ["" if x is None else x for x in a],
        ["" if y is None else y for y in b],
        scorer=Levenshtein.distance,
        dtype=np.int64,
        workers=1,
    )
    return pa.array(scores, type=pa.int64(), mask=missing)


#: The company name level of an equal full registered name, current or former.
REGISTERED_NAME = "exact or former name"

#: The company name level of a romanised name against a Chinese one.
ROMANISED_BRAND = "romanised, same brand sound"

#: Levels of a masked resident ID that agrees with the other mention wherever both show a
#: character, strongest first. Agencies mask in several patterns (6+4 as the courts do,
#: 4+4, 3+4, 1+1, the birth date alone), so the evidence is what the two show in common:
#: the region code and last four (or the birth date and more), part of the region and the
#: last four, the birth date alone, or a few characters. linkage/exact_u.py counts each
#: level's u per pattern.
MASKED_LEVELS = (
    "masked ID agrees: region and last four",
    "masked ID agrees: part of the region and last four",
    "masked ID agrees: birth date",
    "masked ID agrees: a few characters",
)

#: Positions of a resident ID outside its birth date (region code; sequence and check).
OUTSIDE_BIRTH = np.r_[0:6, 14:18]
_HIDDEN = ord("*")


def _visible_matrix(values: list[str | None]) -> np.ndarray:
    """18 positions per value as bytes ('*' where hidden, or for a null or odd value)."""
    rows = [v if v is not None and len(v) == 18 and v.isascii() else "*" * 18 for v in values]
    return np.frombuffer("".join(rows).encode("ascii"), dtype=np.uint8).reshape(-1, 18)


def _id_agree(
    left: ArrowArray, right: ArrowArray, born_l: ArrowArray, born_r: ArrowArray
) -> ArrowArray:
    """How many characters outside the birth date two IDs both show, all agreeing; -1 if
    any shown character or the birth dates (when both are known) disagree; null if either
    shows nothing. The birth date is compared as a whole, not by position, because a full
    ID keeps it as a date beside a display that hides it."""
    a = _visible_matrix(left.to_pylist())[:, OUTSIDE_BIRTH]
    b = _visible_matrix(right.to_pylist())[:, OUTSIDE_BIRTH]
    both = (a != _HIDDEN) & (b != _HIDDEN)
    conflict = (both & (a != b)).any(axis=1)
    differ = pc.not_equal(born_l, born_r).fill_null(False)
    conflict |= differ.to_numpy(zero_copy_only=False)
    agree = np.where(conflict, -1, both.sum(axis=1)).astype(np.int64)
    missing = pc.or_(pc.is_null(left), pc.is_null(right)).to_numpy(zero_copy_only=False)
    return pa.array(agree, type=pa.int64(), mask=missing)


#: DuckDB's memory limit for a linkage connection; past it, joins and sorts spill to the
#: temp directory instead of growing the process (DuckDB's default is 80% of RAM). 2GB
#: keeps a 1M-mention link under 4 GiB, with the features pandas holds besides.


def connect(temp_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with what the models' SQL needs, its memory bounded by
    $VEIL_DUCKDB_MEMORY_LIMIT (default 2GB) and spilling to `temp_dir` (default: a
    directory of this process under the system temp)."""
    con = duckdb.connect()
    con.execute("SET lambda_syntax='ENABLE_SINGLE_ARROW'")
    con.execute("SET preserve_insertion_order=false")
    con.execute("SET memory_limit=?", [environment().duckdb_memory_limit])
    if temp_dir is None:
        # DuckDB creates it on the first spill and removes it when the connection closes.
        temp_dir = Path(tempfile.gettempdir()) / f"veil-duckdb-{os.getpid()}"
    con.execute("SET temp_directory=?", [str(temp_dir)])
    # Arrow functions over VARCHAR columns, null handled by the function itself.
    for name, function, arity, returns in (
        ("veil_char_distance", _char_distance, 2, "BIGINT"),
        ("veil_look_alike_apart", look_alike_apart, 2, "BOOLEAN"),
        ("veil_id_agree", _id_agree, 4, "BIGINT"),
    ):
        con.create_function(
            name,
            function,
            [duckdb.sqltype("VARCHAR")] * arity,
            duckdb.sqltype(returns),
            type=PythonUDFType.ARROW,
            null_handling=FunctionNullHandling.SPECIAL,
        )
    return con


def _level(sql: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"sql_condition": sql, "label_for_charts": label, **extra}


def _null(sql: str) -> dict[str, Any]:
    return _level(sql, "null", is_null_level=True)


ELSE = _level("ELSE", "else")


def _exact(column: str, label: str) -> dict[str, Any]:
    return {
        "output_column_name": column,
        "comparison_levels": [
            _null(f'"{column}_l" IS NULL OR "{column}_r" IS NULL'),
            _level(f'"{column}_l" = "{column}_r"', label),
            ELSE,
        ],
    }


#: The feature whose rare values let a person pair join on less evidence: the name's sound
#: (see _Resolver._thresholds in linkage/run.py).
RARE_KEY = "name_pinyin_key"


def rare_keys(frame: pd.DataFrame, entity_type: str) -> np.ndarray:
    """Per mention, the value whose rarity lets a pair join on less evidence (None where
    it has none). Persons: the name's sound (RARE_KEY). Companies: the brand's sound with
    the legal form and the region, all read: a customs filing's XINGHE FOOD (SHANGHAI) CO.,
    LTD. or a clerk's 兴河 for 星河 agrees with its company there and nowhere else when no
    other identified company of that region and form sounds alike."""
    if entity_type == PERSON:
        return frame[RARE_KEY].to_numpy(dtype=object)
    core, form, region = (
        # pandas-stubs take pd.NA as a replacement only inside a mapping.
        frame[c].astype("string").replace("", pd.NA)  # type: ignore[call-overload]
        for c in ("name_core_pinyin", "name_legal_form", "name_region")
    )
    key: pd.Series[str] = core + "|" + form + "|" + region
    return key.astype(object).where(key.notna(), None).to_numpy(dtype=object)


def rare_brand_sounds(frame: pd.DataFrame, provisional: np.ndarray) -> frozenset[str]:
    """Company brand sounds (rare_keys) that exactly one identified company bears: one
    whose mentions carry a USCC, organisation code or registration number. Counted over
    provisional entities (identifier links and same name), so a company named in forty
    records counts once; by current and former names, so a company renamed from a name
    that sounds so is a second bearer; and a mention without an identifier, which may be
    anyone's slip, bears for no one (a sound no identified company bears is not rare but
    unknown: two such mentions may be two companies)."""
    identified = frame[["uscc", "org_code", "reg_no"]].notna().any(axis=1).to_numpy()
    keys = rare_keys(frame, COMPANY)
    borne = pd.DataFrame({"key": keys[identified], "group": provisional[identified]})
    if "former_canonical" in frame.columns:
        former = frame.loc[identified, ["former_canonical", "name_region"]]
        former = former.assign(group=provisional[identified]).explode("former_canonical")
        former = former.dropna(subset=["former_canonical"])
        read = {n: company_from_simplified(n) for n in former["former_canonical"].unique()}
        names = [read[n] for n in former["former_canonical"]]
        as_named = pd.DataFrame(
            {
                "name_core_pinyin": [n.core_pinyin for n in names],
                "name_legal_form": [n.legal_form for n in names],
                # a former name without its region was the company's in its region
                "name_region": [
                    n.region or r for n, r in zip(names, former["name_region"], strict=True)
                ],
            }
        )
        keys = rare_keys(as_named, COMPANY)
        borne = pd.concat([borne, pd.DataFrame({"key": keys, "group": former["group"].to_numpy()})])
    bearers = borne.dropna().drop_duplicates().groupby("key").size()
    return frozenset(bearers.index[bearers.to_numpy() == 1])


#: Person comparisons that say where two records meet rather than who the person is: a
#: pair agreeing on one of them is corroborated beyond the name and the ID.
PERSON_CONTEXT = ("company_context", "phone", "address")


def person_comparisons(optional: set[str]) -> list[dict[str, Any]]:
    name = {
        "output_column_name": "name",
        "comparison_levels": [
            _null("name_simplified_l IS NULL OR name_simplified_r IS NULL"),
            _level(
                "name_simplified_l = name_simplified_r",
                "exact",
                tf_adjustment_column="name_simplified",
                tf_adjustment_weight=1.0,
            ),
            _level(
                "name_pinyin_key_l = name_pinyin_key_r",
                "same sound",
                tf_adjustment_column="name_pinyin_key",
                tf_adjustment_weight=1.0,
            ),
            # 形近字: a character copied by eye (明 for 朋), see linkage/shapes.py.
            _level(
                "surname_l = surname_r AND NOT is_romanised_l AND NOT is_romanised_r "
                "AND veil_look_alike_apart(given_l, given_r)",
                "one look-alike character apart",
            ),
            _level(
                "surname_l = surname_r AND NOT is_romanised_l AND NOT is_romanised_r "
                "AND veil_char_distance(given_l, given_r) <= 1",
                "one character apart",
            ),
            ELSE,
        ],
    }
    agree = (
        "veil_id_agree(id_visible_l, id_visible_r, "
        "CAST(birth_date_l AS VARCHAR), CAST(birth_date_r AS VARCHAR))"
    )
    masked = "(id_masked_l OR id_masked_r)"
    same_birth = "birth_date_l = birth_date_r"
    identity = {
        "output_column_name": "resident_id",
        "comparison_levels": [
            _null(
                "(id_token_l IS NULL AND id_visible_l IS NULL) "
                "OR (id_token_r IS NULL AND id_visible_r IS NULL) "
                f"OR ({masked} AND {agree} = 0 AND NOT coalesce({same_birth}, false))"
            ),
            _level("id_token_l = id_token_r", "same ID"),
            _level(
                f"{masked} AND ({agree} >= 9 OR ({agree} >= 4 AND {same_birth}))",
                MASKED_LEVELS[0],
            ),
            _level(f"{masked} AND {agree} >= 7", MASKED_LEVELS[1]),
            _level(f"{masked} AND {agree} >= 0 AND {same_birth}", MASKED_LEVELS[2]),
            _level(f"{masked} AND {agree} >= 1", MASKED_LEVELS[3]),
            _level(
                "id_token_l IS NOT NULL AND id_token_r IS NOT NULL "
                "AND birth_date_l = birth_date_r AND sex_l = sex_r",
                "birth date and sex agree",
            ),
            _level("ELSE", "conflict"),
        ],
    }
    context = {
        "output_column_name": "company_context",
        "comparison_levels": [
            _null("len(context_l) = 0 OR len(context_r) = 0"),
            _level("list_has_any(context_l, context_r)", "same company"),
            _level("ELSE", "other companies"),
        ],
    }
    comparisons = [name, identity, context]
    if "phone" in optional:
        comparisons.append(_exact("phone", "same phone"))
    if "address" in optional:
        comparisons.append(_exact("address", "same address"))
    return comparisons


def company_comparisons(optional: set[str]) -> list[dict[str, Any]]:
    name = {
        "output_column_name": "name",
        "comparison_levels": [
            _null("name_canonical_l IS NULL OR name_canonical_r IS NULL"),
            # One level for a registered name, current or former: each was unique within
            # its authority while in use, so both are the same evidence. Apart, "former
            # name" had a small m (most records use the current name) and its pairs fell
            # under the threshold in small runs (49% of key-personnel mentions by a former
            # name split at 20,000 companies, none at 100,000).
            _level(
                "name_canonical_l = name_canonical_r "
                "OR list_contains(former_canonical_l, name_canonical_r) "
                "OR list_contains(former_canonical_r, name_canonical_l) "
                "OR list_has_any(former_canonical_l, former_canonical_r)",
                REGISTERED_NAME,
            ),
            _level(
                "name_core_l = name_core_r "
                "AND coalesce(name_industry_l, '') = coalesce(name_industry_r, '') "
                "AND coalesce(name_legal_form_l, '') = coalesce(name_legal_form_r, '') "
                "AND (name_region_l = name_region_r "
                "OR name_region_l IS NULL OR name_region_r IS NULL)",
                "same brand",
            ),
            # A clerk writing 兴 for 星: the brand as it sounds, with everything else of
            # the name agreeing. Its u is counted (linkage/exact_u.py): brands that sound
            # alike in one region, industry and legal form are rarer than a random pair.
            _level(
                "name_core_pinyin_l = name_core_pinyin_r "
                "AND coalesce(name_industry_l, '') = coalesce(name_industry_r, '') "
                "AND coalesce(name_legal_form_l, '') = coalesce(name_legal_form_r, '') "
                "AND (name_region_l = name_region_r "
                "OR name_region_l IS NULL OR name_region_r IS NULL)",
                "same brand sound",
            ),
            # A name in Latin letters (a customs filing's SHANGHAI XINGHE FOOD CO., LTD.)
            # against a Chinese one: the trade name's pinyin, the form, the region, and an
            # English industry word that stands for the Chinese one (Food: 食品).
            _level(
                "name_is_romanised_l <> name_is_romanised_r "
                "AND name_core_pinyin_l = name_core_pinyin_r "
                "AND coalesce(name_legal_form_l, '') = coalesce(name_legal_form_r, '') "
                "AND (name_region_l = name_region_r "
                "OR name_region_l IS NULL OR name_region_r IS NULL) "
                "AND CASE WHEN name_is_romanised_l "
                "THEN contains(name_industry_latin_r, '|' || coalesce(name_industry_l, '') || '|') "
                "ELSE contains(name_industry_latin_l, '|' || coalesce(name_industry_r, '') || '|') "
                "END",
                ROMANISED_BRAND,
            ),
            _level(
                "coalesce(name_region_l, '') = coalesce(name_region_r, '') "
                "AND name_is_branch_l = name_is_branch_r "
                "AND veil_char_distance(name_core_l, name_core_r) <= 1",
                "brand one character apart",
            ),
            ELSE,
        ],
    }
    both = "({c}_l IS NOT NULL AND {c}_r IS NOT NULL)"
    comparable = " OR ".join(both.format(c=c) for c in ("uscc", "org_code", "reg_no"))
    identifiers = {
        "output_column_name": "identifiers",
        "comparison_levels": [
            _null(f"NOT ({comparable})"),
            _level(
                "uscc_l = uscc_r OR org_code_l = org_code_r OR reg_no_l = reg_no_r",
                "same identifier",
            ),
            _level("ELSE", "conflict"),
        ],
    }
    comparisons = [name, identifiers, _exact("region_code", "same region")]
    if "address" in optional:
        comparisons.append(_exact("address", "same address"))
    return comparisons


#: A name, sound or company brand borne by more mentions than this is not a blocking key
#: on its own: its pairs grow with the square of its mentions (李伟 has 3,329 in the 1M
#: world), and such a name alone does not carry a pair over the review threshold. Its
#: bearers still meet on an ID, a masked ID, a birth date or a common company.
MAX_NAME_BLOCK = 50

#: Blocking keys derived per run: (key, column it caps, columns whose group it counts).
CAPPED_KEYS = {
    PERSON: [
        ("name_block", "name_simplified", ["name_simplified"]),
        ("sound_block", "name_pinyin_key", ["name_pinyin_key"]),
    ],
    COMPANY: [
        ("brand_block", "name_core", ["name_core", "name_legal_form"]),
        ("brand_sound_block", "name_core_pinyin", ["name_core_pinyin", "name_legal_form"]),
        # The same within one region: a brand sound shared across the country outgrows the
        # cap as the run grows (at 100,000 companies a third of the romanised names' sound
        # blocks held more than MAX_NAME_BLOCK mentions, none within their region).
        ("brand_region_block", "name_core", ["name_core", "name_legal_form", "name_region"]),
        (
            "brand_sound_region_block",
            "name_core_pinyin",
            ["name_core_pinyin", "name_legal_form", "name_region"],
        ),
    ],
}


def add_blocking_keys(frame: pd.DataFrame, entity_type: str) -> None:
    """Add (or refresh) CAPPED_KEYS in the frame: the value where at most MAX_NAME_BLOCK
    mentions share its group, else null (a null key meets nothing). In place, because
    Splink retains blocking columns: a row scored later (`veil explain`) must carry them."""
    for key, column, group in CAPPED_KEYS[entity_type]:
        sizes = frame.groupby(group, dropna=True)[column].transform("size")
        frame[key] = frame[column].where(sizes <= MAX_NAME_BLOCK)


def person_blocking() -> list[Any]:
    """Candidate pairs: same name or same sound (for names of at most MAX_NAME_BLOCK
    mentions), same name and birth date, same ID, same masked ID, or a surname that sounds
    the same in a common company: how a typo in a given name is still met, and how a
    customs filing's "ZHANG NA" meets the 张娜 of the same company when the sound is too
    common to block on alone."""
    return [
        block_on("name_block"),
        block_on("sound_block"),
        block_on("name_simplified", "birth_date"),
        block_on("id_token"),
        block_on("id_prefix", "id_suffix"),
        CustomRule(
            "l.surname_pinyin = r.surname_pinyin AND l.id_end = r.id_end "
            "AND (l.id_masked OR r.id_masked)"
        ),
        block_on("context", "surname_pinyin", arrays_to_explode=["context"]),
    ]


def company_blocking() -> list[Any]:
    """Candidate pairs: a canonical or former name in common, an identifier in common, or
    the same brand words, or brand sound, and legal form (for brands of at most
    MAX_NAME_BLOCK mentions, in the country or else in one region)."""
    return [
        block_on("name_canonical"),
        block_on("name_keys", arrays_to_explode=["name_keys"]),
        block_on("uscc"),
        block_on("org_code"),
        block_on("reg_no"),
        block_on("brand_block", "name_legal_form"),
        block_on("brand_sound_block", "name_legal_form"),
        block_on("brand_region_block", "name_legal_form", "name_region"),
        block_on("brand_sound_region_block", "name_legal_form", "name_region"),
    ]


def settings(entity_type: str, optional: set[str]) -> SettingsCreator:
    if entity_type == PERSON:
        comparisons = person_comparisons(optional)
        blocking = person_blocking()
    else:
        comparisons = company_comparisons(optional)
        blocking = company_blocking()
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name=UNIQUE_ID,
        comparisons=[*comparisons],  # list is invariant: list[ComparisonCreator | dict]
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=True,
    )


#: Training blocks: (blocking rule, the comparisons it fixes). Each block teaches the
#: comparisons its rule does not fix: same name teaches identifiers and context, same
#: identifier teaches names.
EM_BLOCKS: dict[str, list[tuple[str, frozenset[str]]]] = {
    PERSON: [
        ("l.name_block = r.name_block", frozenset({"name"})),
        ("l.id_token = r.id_token", frozenset({"resident_id"})),
    ],
    COMPANY: [
        ("l.name_canonical = r.name_canonical", frozenset({"name"})),
        ("l.uscc = r.uscc", frozenset({"identifiers"})),
    ],
}


def optional_fields(frame: pd.DataFrame, entity_type: str, min_coverage: float) -> set[str]:
    """Optional comparisons that the data can support."""
    candidates = ("phone", "address") if entity_type == PERSON else ("address",)
    return {c for c in candidates if len(frame) and frame[c].notna().mean() >= min_coverage}


#: Columns whose term frequencies adjust the exact-name levels.
#: Company names get none: a canonical name (region included) is unique by law within its
#: registration authority, so "how common is this name" is not a question for companies.
TF_COLUMNS = {PERSON: ("name_simplified", "name_pinyin_key"), COMPANY: ()}


def _direct_frequencies(
    frame: pd.DataFrame, column: str, provisional: np.ndarray, counted: np.ndarray | None
) -> tuple[pd.Series, float]:
    """Per value: (entities bearing it, less the one at hand, plus half a bearer) / entities,
    counted over the `counted` mentions' entities only; and the least such value, that of
    a value one entity bears (half a bearer / entities)."""
    pairs = pd.DataFrame({column: frame[column].to_numpy(), "group": provisional})
    known = pairs if counted is None else pairs[counted]
    known = known.dropna().drop_duplicates()
    groups = max(int(known["group"].nunique()), 1)
    values = pairs[column].dropna().unique()
    counts = known.groupby(column).size().reindex(values, fill_value=1)
    return (counts.astype(np.float64) - 0.5) / groups, 0.5 / groups


def _independent_name_frequencies(frame: pd.DataFrame, provisional: np.ndarray) -> pd.Series:
    """Per simplified name: share of entities with its surname x share with its given name.

    A name that few ID-bearing people happen to have can still be common: 王强 may have
    one bearer with an ID in a small extract and thousands in the population. Surname and
    given name are each seen far more often than the pair, so their product is a steadier
    lower bound on how common the name is. Chinese and romanised names are counted apart
    (a romanised surname is pinyin, not a character); `_romanised_name_frequencies` then
    adds what a romanised name's sound is worth.
    """
    names = frame[["name_simplified", "surname", "given", "is_romanised"]].assign(group=provisional)
    names = names.dropna(subset=["name_simplified", "surname", "given"])
    names = names.drop_duplicates(["group", "name_simplified"])
    if names.empty:
        return pd.Series(dtype=np.float64)
    parts = []
    romanised = names["is_romanised"].fillna(False).astype(bool)
    for script in (names[~romanised], names[romanised]):
        if script.empty:
            continue
        surname = script["surname"].value_counts(normalize=True)
        given = script["given"].value_counts(normalize=True)
        distinct = script.drop_duplicates("name_simplified")
        estimate = (
            surname.reindex(distinct["surname"]).to_numpy()
            * given.reindex(distinct["given"]).to_numpy()
        )
        parts.append(pd.Series(estimate, index=distinct["name_simplified"].to_numpy()))
    return pd.concat(parts)


def _sound_frequencies(frame: pd.DataFrame, independent: pd.Series) -> pd.Series:
    """Per pinyin key: how common the sound is, at least the sum of the Chinese names that
    sound like it and at least any romanised spelling of it on its own."""
    sounds = frame[["name_simplified", "name_pinyin_key", "is_romanised"]].dropna(
        subset=["name_simplified", "name_pinyin_key"]
    )
    sounds = sounds.drop_duplicates("name_simplified")
    sounds = sounds.assign(estimate=independent.reindex(sounds["name_simplified"]).to_numpy())
    romanised = sounds["is_romanised"].fillna(False).astype(bool)
    chinese = sounds[~romanised].groupby("name_pinyin_key")["estimate"].sum(min_count=1)
    spelled = sounds[romanised].groupby("name_pinyin_key")["estimate"].max()
    both = pd.concat([chinese, spelled], axis=1)
    return both.max(axis=1)


def _romanised_name_frequencies(frame: pd.DataFrame, sound: pd.Series) -> pd.Series:
    """Per romanised name: at least how common its sound is.

    "WANG BIN" on a customs filing can be 王斌, 王彬 or 汪斌, so it is as common as all of
    them together. Such mentions rarely carry an ID, so the direct count (ID bearers) sees
    almost none of them and would call every romanised name the rarest there is: at a
    million companies that merged 130,000 pairs of different people named by a common
    romanised name alone (docs/PERFORMANCE.md).
    """
    spelled = frame.loc[
        frame["is_romanised"].fillna(False).astype(bool), ["name_simplified", "name_pinyin_key"]
    ].dropna()
    spelled = spelled.drop_duplicates("name_simplified")
    return pd.Series(
        sound.reindex(spelled["name_pinyin_key"]).to_numpy(),
        index=spelled["name_simplified"].to_numpy(),
    )


#: Names borne by more full-ID persons than this are common enough already: their masked
#: namesakes are not looked for (the join grows with the square of the bearers).
MASK_NAMESAKE_MAX_BEARERS = 20


def namesakes_by_mask(frame: pd.DataFrame) -> np.ndarray:
    """Per mention: a masked ID that no full-ID bearer of its name can have (a shown
    character or the birth date differs from each of theirs), so another person of that
    name, to be counted as a bearer in the term frequencies.

    Only full IDs were counted, so a name seen on one full ID looked rare however many
    court-listed or masked people bore it: an ID-less or masked mention of that name then
    joined the one full-ID bearer on little more than the name (most wrong person pairs on
    a world with masks in every pattern, docs/PERFORMANCE.md). Two masks of one person in
    different patterns count twice: an upper bound, on the side of caution."""
    out = np.zeros(len(frame), dtype=bool)
    masked = frame["id_masked"].to_numpy(dtype=bool) & frame["id_visible"].notna().to_numpy()
    full = frame["id_token"].notna().to_numpy()
    if not masked.any() or not full.any():
        return out
    bearers = (
        frame.loc[full, ["name_simplified", "id_token", "id_visible", "birth_date"]]
        .dropna(subset=["name_simplified"])
        .drop_duplicates(["name_simplified", "id_token"])
    )
    sizes = bearers.groupby("name_simplified")["id_token"].transform("size")
    bearers = bearers[sizes.to_numpy() <= MASK_NAMESAKE_MAX_BEARERS]
    masks = frame.loc[masked, ["name_simplified", "id_visible", "birth_date"]].dropna(
        subset=["name_simplified"]
    )
    masks = masks.assign(row=masks.index.to_numpy())
    pairs = masks.merge(bearers, on="name_simplified", suffixes=("_m", "_f"))
    if pairs.empty:
        return out
    a = _visible_matrix(pairs["id_visible_m"].tolist())
    b = _visible_matrix(pairs["id_visible_f"].tolist())
    shown = (a != _HIDDEN) & (b != _HIDDEN)
    differ = (shown & (a != b)).any(axis=1)
    born_m, born_f = pairs["birth_date_m"], pairs["birth_date_f"]
    differ |= (born_m.notna() & born_f.notna() & (born_m != born_f)).to_numpy()
    conflicts = pd.Series(differ).groupby(pairs["row"].to_numpy()).all()
    rows = conflicts.index[conflicts.to_numpy()].to_numpy()
    # pandas-stubs want an Index; get_indexer takes any array-like target.
    out[frame.index.get_indexer(rows)] = True  # type: ignore[arg-type]
    return out


def term_frequencies(
    frame: pd.DataFrame, column: str, provisional: np.ndarray, counted: np.ndarray | None
) -> pd.DataFrame:
    """For each value, the chance that some *other* entity bears it: the u of an exact match.

    Counted over distinct entities, not mentions, because a person named in forty records
    is one person; and only over the `counted` mentions (for people: those with a full
    resident ID), because only there do we know how many different people share a name. A
    mention without an ID can be anyone, so counting it would make the name of a person
    named in ten key-personnel lists look ten times as common as it is. The entity itself is
    not counted (a name borne by one person is rare, not "1 in N"), and half a bearer is
    added for the namesakes the data has not shown. For person names the estimate is at
    least surname share x given-name share (see _independent_name_frequencies); a sound
    (pinyin key) is at least as common as all the names that sound like it together, and a
    romanised name at least as common as its sound.
    Splink uses this in place of the level's u when both sides agree. Column `rare`: the
    value is at the least frequency there is (one bearer at most, and for names a
    population estimate below the half bearer), see Model.rare_sounds.
    """
    direct, least = _direct_frequencies(frame, column, provisional, counted)
    if column in ("name_simplified", "name_pinyin_key"):
        independent = _independent_name_frequencies(frame, provisional)
        sound = _sound_frequencies(frame, independent)
        if column == "name_pinyin_key":
            floor = sound
        else:
            floor = pd.concat([independent, _romanised_name_frequencies(frame, sound)], axis=1).max(
                axis=1
            )
        direct = np.fmax(direct, floor.reindex(direct.index).to_numpy())
    values = direct.to_numpy()
    return pd.DataFrame(
        {column: direct.index, f"tf_{column}": values, "rare": values <= least * (1 + 1e-9)}
    )


def prior(provisional: np.ndarray) -> float:
    """Probability that two random mentions match: the share of mention pairs inside
    provisional groups (identifier links and same name in the same company)."""
    sizes = pd.Series(provisional).value_counts().to_numpy(dtype=np.float64)
    n = float(len(provisional))
    total = n * (n - 1) / 2
    within = float((sizes * (sizes - 1) / 2).sum())
    return min(max(within / total, 1e-9), 0.5) if total else 0.5


#: Key of a saved model's training record (Splink ignores nothing: it is taken out on load).
TRAINING_KEY = "veil_training"


@dataclass
class Model:
    """A linker over one entity type's features, trained or loaded."""

    entity_type: str
    linker: Linker
    con: duckdb.DuckDBPyConnection
    #: How training obtained the parameters (training.TrainingRecord), None when loaded.
    training: Any = None
    #: Values of rare_keys that let two mentions sharing one join on less evidence
    #: (linkage.yaml's rare_name_threshold). Persons: name sounds no other person is known
    #: or estimated to bear (term_frequencies' `rare`); companies: rare_brand_sounds.
    rare_sounds: frozenset[str] = frozenset()

    def save(self, path: Path) -> None:
        """The Splink model, with veil's training record under TRAINING_KEY."""
        path.parent.mkdir(parents=True, exist_ok=True)
        saved = self.as_dict()
        if self.training is not None:
            saved[TRAINING_KEY] = self.training.as_dict()
        path.write_text(json.dumps(saved, ensure_ascii=False, indent=2), encoding="utf-8")

    def as_dict(self) -> dict[str, Any]:
        return self.linker.misc.save_model_to_json()

    def term_frequencies(self) -> pd.DataFrame:
        """The term-frequency tables the model's levels are adjusted by, as one table
        (column, value, tf): what `veil link` saves beside the model for the real-time
        scorer (loaders/rundir.py TERM_FREQUENCY_SCHEMA)."""
        parts = []
        for column in TF_COLUMNS[self.entity_type]:
            rows = self.con.sql(
                f'SELECT "{column}", "tf_{column}" FROM {tf_table_name(self.entity_type, column)}'
            ).fetchall()
            known = [(str(value), float(tf)) for value, tf in rows if value is not None]
            parts.append(pd.DataFrame(known, columns=["value", "tf"]).assign(column=column))
        if not parts:
            return pd.DataFrame({"column": [], "value": [], "tf": []}, dtype=object)
        return pd.concat(parts, ignore_index=True)[["column", "value", "tf"]]

    def comparison_labels(self) -> list[tuple[str, dict[int, str]]]:
        """Per comparison: its output name and the label of each comparison vector value."""
        return [
            (
                comparison.output_column_name,
                {
                    level.comparison_vector_value: level.label_for_charts
                    for level in comparison.comparison_levels
                },
            )
            for comparison in self.linker._settings_obj.comparisons
        ]

    def prior_match_weight(self) -> float:
        """log2 of the prior odds that two random mentions match."""
        p = float(self.linker._settings_obj._probability_two_random_records_match)
        return math.log2(p / (1.0 - p))

    def predict(self, threshold: float) -> pd.DataFrame:
        """Scored candidate pairs at or above `threshold` match probability."""
        return self._scores(self.linker.inference.predict(threshold_match_probability=threshold))

    def predict_incremental(
        self, frame: pd.DataFrame, existing: int, threshold: float
    ) -> pd.DataFrame:
        """Scored pairs that involve a new mention: new against existing, and new against
        new. `frame`'s first `existing` rows are the mentions already resolved; pairs among
        them were scored when they were linked and are not scored again."""
        add_blocking_keys(frame, self.entity_type)
        db_api = self.linker._db_api
        old = db_api.register(frame.iloc[:existing], table_name=f"{self.entity_type}_existing")
        new = db_api.register(frame.iloc[existing:], table_name=f"{self.entity_type}_new")
        inference = self.linker.inference
        parts = [
            self._scores(
                inference.predict_between(
                    old, new, threshold_match_probability=threshold, warning_mode="never"
                )
            ),
            self._scores(
                inference.predict_within(
                    new, threshold_match_probability=threshold, warning_mode="never"
                )
            ),
        ]
        return pd.concat(parts, ignore_index=True)

    def _scores(self, predictions: SplinkDataFrame) -> pd.DataFrame:
        """The columns a link reads from Splink's predictions (ids, weights, levels), taken
        in SQL: the full table repeats every feature of both sides and would cost GiBs."""
        relation = self.con.sql(f"SELECT * FROM {predictions.physical_name}")
        wanted = [
            c
            for c in relation.columns
            if c in (f"{UNIQUE_ID}_l", f"{UNIQUE_ID}_r", "match_weight", "match_probability")
            or c.startswith(("gamma_", "mw_"))
        ]
        columns = ", ".join(f'"{c}"' for c in wanted)
        scores = self.con.sql(f"SELECT {columns} FROM {predictions.physical_name}")
        frame: pd.DataFrame = scores.to_arrow_table().to_pandas()  # duckdb types it Any
        predictions.drop_table_from_database_and_remove_from_cache()
        return frame

    def close(self) -> None:
        """Release the connection and the tables Splink built on it."""
        self.con.close()


def _linker(
    frame: pd.DataFrame,
    entity_type: str,
    settings_source: Any,
    con: duckdb.DuckDBPyConnection,
    name: str,
) -> tuple[Linker, DuckDBAPI]:
    add_blocking_keys(frame, entity_type)
    db_api = DuckDBAPI(connection=con)
    table = db_api.register(frame, table_name=name)
    return Linker(table, settings_source, log_level=logging.ERROR), db_api


def tf_table_name(entity_type: str, column: str) -> str:
    """The name a term-frequency lookup of `column` is registered under on a model's
    connection (the real-time scorer reads it back, linkage/scorer.py)."""
    return f"{entity_type}_tf_{column}"


def _with_tf(
    frame: pd.DataFrame,
    entity_type: str,
    settings_source: Any,
    provisional: np.ndarray,
    con: duckdb.DuckDBPyConnection,
) -> tuple[Linker, frozenset[str]]:
    """The linker with its term-frequency tables, and the rare sounds (see
    `Model.rare_sounds`)."""
    linker, db_api = _linker(frame, entity_type, settings_source, con, f"{entity_type}_mentions")
    counted = None
    if entity_type == PERSON:
        counted = frame["id_token"].notna().to_numpy() | namesakes_by_mask(frame)
    rare: frozenset[str] = frozenset()
    for column in TF_COLUMNS[entity_type]:
        frequencies = term_frequencies(frame, column, provisional, counted)
        if column == RARE_KEY:
            rare = frozenset(frequencies.loc[frequencies["rare"], column])
        table = db_api.register(
            frequencies[[column, f"tf_{column}"]], table_name=tf_table_name(entity_type, column)
        )
        linker.table_management.register_term_frequency_lookup(table, column)
    if entity_type == COMPANY:
        rare = rare_brand_sounds(frame, provisional)
    return linker, rare


def read_saved(path: Path) -> dict[str, Any]:
    """A saved model's Splink settings (its veil training record taken out)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(str(path), f"not a saved Splink model: {err}") from None
    if not isinstance(saved, dict) or "comparisons" not in saved:
        raise InputError(str(path), "not a saved Splink model: no comparisons")
    saved.pop(TRAINING_KEY, None)
    return saved


def load(
    frame: pd.DataFrame,
    entity_type: str,
    path: Path,
    provisional: np.ndarray,
    temp_dir: Path | None = None,
) -> Model:
    """A model saved by `veil model train`, over this run's mentions."""
    saved = read_saved(path)
    # Blocking is how this code searches a run, not something the model learnt: a model
    # saved before the rules changed gets today's (the capped name keys, for one).
    rules = person_blocking() if entity_type == PERSON else company_blocking()
    saved["blocking_rules_to_generate_predictions"] = [
        rule.get_blocking_rule("duckdb").as_dict() for rule in rules
    ]
    con = connect(temp_dir)
    linker, rare = _with_tf(frame, entity_type, saved, provisional, con)
    return Model(entity_type, linker, con, rare_sounds=rare)
