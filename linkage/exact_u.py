"""u counted, not sampled, for the levels that are equalities on values.

u is the chance that two different entities agree at a level. For an equality (same full
name, same ID, same masked ID, same address) it is a count over distinct values: pairs of
different entities bearing the same value, over the pairs that could be compared. Random
sampling of a fixed number of pairs cannot see a collision rarer than one in that number,
so a sampled u is floored at 1/pairs while the prior keeps falling as 1/N: the weights of
rare agreements then stop growing with the data and every fixed threshold drifts with the
size of the run. Counted exactly, u falls as the data grows wherever collisions are rare
(a full company name, unique within its registration authority by law; a full ID) and
stays put where they are common (a 王伟), so a match probability means the same at every
size.

Collisions are counted among entities known to be different: one representative mention
per provisional entity for persons (identifier links and same name in the same company),
one per USCC-bearing identifier-linked company for companies (two USCCs are two
companies, whatever their names; a mention with only an organisation code or a
registration number may be a company already counted under its USCC). Half a colliding
pair is added to every count: an equality never seen among N entities is rarer than 1 in
N(N-1)/2 but not impossible (an agency's typo).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from typing import cast

import numpy as np
import pandas as pd

from linkage.models import MASKED_LEVELS, REGISTERED_NAME, ROMANISED_BRAND

#: Added to every count of agreeing pairs (see the module docstring).
UNSEEN_PAIRS = 0.5


def pairs(n: float) -> float:
    return n * (n - 1) / 2


def agreeing_pairs(frame: pd.DataFrame, columns: list[str]) -> float:
    """Unordered pairs of rows equal (and not null) on every column."""
    known = frame[columns].dropna()
    if known.empty:
        return 0.0
    sizes = known.groupby(columns, sort=False).size().to_numpy(np.float64)
    return float((sizes * (sizes - 1) / 2).sum())


def _present(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].notna()


def _exact(column: str) -> Callable[[pd.DataFrame], tuple[float, float]]:
    def count(frame: pd.DataFrame) -> tuple[float, float]:
        return agreeing_pairs(frame, [column]), pairs(float(_present(frame, column).sum()))

    return count


def _same_sound(frame: pd.DataFrame) -> tuple[float, float]:
    """Same pinyin key, different simplified name."""
    sound = agreeing_pairs(frame, ["name_pinyin_key"])
    both = agreeing_pairs(frame, ["name_pinyin_key", "name_simplified"])
    return sound - both, pairs(float(_present(frame, "name_simplified").sum()))


def _has_id(frame: pd.DataFrame) -> pd.Series:
    return _present(frame, "id_token") | _present(frame, "id_visible")


def _id_comparable(frame: pd.DataFrame) -> float:
    return pairs(float(_has_id(frame).sum()))


def _same_id(frame: pd.DataFrame) -> tuple[float, float]:
    return agreeing_pairs(frame, ["id_token"]), _id_comparable(frame)


#: Positions of a resident ID outside its birth date: region code, sequence, check.
_OUTSIDE_BIRTH = (*range(6), *range(14, 18))


def _shown_outside_birth(visible: str | None) -> str:
    """Which positions outside the birth date a visible ID shows, as '1'/'0' per position."""
    if not isinstance(visible, str) or len(visible) != 18:
        return "0" * len(_OUTSIDE_BIRTH)
    return "".join("0" if visible[i] == "*" else "1" for i in _OUTSIDE_BIRTH)


def masked_level(shown_outside: int, birth_shown: bool) -> int | None:
    """Which of MASKED_LEVELS (linkage/models.py) a mask showing `shown_outside` characters
    outside the birth date (and the birth date or not) reaches against a full ID that
    agrees with it: the same thresholds as the comparison's SQL. None: nothing to compare."""
    if shown_outside >= 9 or (shown_outside >= 4 and birth_shown):
        return 0
    if shown_outside >= 7:
        return 1
    if birth_shown:
        return 2
    if shown_outside >= 1:
        return 3
    return None


def _masked_id(level: int) -> Callable[[pd.DataFrame], tuple[float, float]]:
    """A masked level's pairs: per masking pattern, the pairs with a mask of that pattern
    on one side, times how often two different full IDs agree on the characters the
    pattern shows (and on the birth date, if it shows it).

    Counting the masked pairs directly would count people as their own namesakes: a
    masked mention (a court list, a punishment) and the same person's full ID often sit
    in two provisional entities, since only the mask links them. Two different full IDs
    belong to two different people, so their rate is the one that holds for strangers.
    A mask–mask pair is counted as if one side were a full ID. Without two full IDs to
    learn from, the rate is read from all ID-bearing mentions."""

    def count(frame: pd.DataFrame) -> tuple[float, float]:
        with_id = frame[_has_id(frame)]
        comparable = pairs(float(len(with_id)))
        is_masked = with_id["id_masked"].fillna(False).astype(bool).to_numpy()
        masks, full = with_id[is_masked], with_id[~is_masked]
        reference = full if len(full) >= 2 else with_id
        shown = masks["id_visible"].map(_shown_outside_birth)
        birth = masks["birth_date"].notna()
        partners = float(len(full)) + (len(masks) - 1) / 2
        agreeing = 0.0
        for key, n in pd.DataFrame({"p": shown, "b": birth}).value_counts().items():
            # A value_counts label, typed Hashable by pandas-stubs: here (pattern, born).
            pattern, born = cast("tuple[str, bool]", key)
            if masked_level(pattern.count("1"), bool(born)) != level:
                continue
            positions = [_OUTSIDE_BIRTH[i] for i, c in enumerate(pattern) if c == "1"]
            keys = pd.DataFrame(
                {f"c{i}": reference["id_visible"].str[i] for i in positions}, index=reference.index
            )
            keys = keys.where(keys != "*")
            if born:
                keys["birth"] = reference["birth_date"]
            rate = agreeing_pairs(keys, list(keys.columns)) / max(pairs(float(len(reference))), 1.0)
            agreeing += n * partners * rate
        return agreeing, comparable

    return count


def _same_company(frame: pd.DataFrame) -> tuple[float, float]:
    """Pairs sharing a company entity (a pair sharing two is counted twice: an upper bound,
    and such pairs are rare among different people)."""
    context = frame["context"].map(lambda v: len(v) if v is not None else 0)
    exploded = frame.loc[context > 0, ["context"]].explode("context")
    return agreeing_pairs(exploded, ["context"]), pairs(float((context > 0).sum()))


def _brand_compatible(frame: pd.DataFrame, core: str, industry: str = "name_industry") -> float:
    """Pairs equal on `core` (brand words, or their sound), `industry` and legal form, with
    regions equal or one unknown."""
    group = [core, industry, "name_legal_form"]
    keys = frame[[*group, "name_region"]].copy()
    keys = keys[keys[core].notna()]
    keys[group[1:]] = keys[group[1:]].fillna("")
    sizes = keys.groupby(group, sort=False).size()
    unknown_sizes = keys[keys["name_region"].isna()].groupby(group, sort=False).size()
    unknown = unknown_sizes.reindex(sizes.index, fill_value=0).to_numpy(np.float64)
    n = sizes.to_numpy(np.float64)
    return agreeing_pairs(keys, [*group, "name_region"]) + float(
        (unknown * (n - unknown) + unknown * (unknown - 1) / 2).sum()
    )


def _same_brand(frame: pd.DataFrame) -> tuple[float, float]:
    """Same brand words, industry and legal form, regions equal or one unknown, and not the
    same canonical name (the level above)."""
    compatible = _brand_compatible(frame, "name_core")
    exact = agreeing_pairs(frame, ["name_canonical"])
    return max(compatible - exact, 0.0), pairs(float(_present(frame, "name_canonical").sum()))


def _same_brand_sound(frame: pd.DataFrame) -> tuple[float, float]:
    """The same brand sound with industry, legal form and region as for the same brand,
    and not the same brand (the levels above)."""
    sound = _brand_compatible(frame, "name_core_pinyin")
    brand = _brand_compatible(frame, "name_core")
    return max(sound - brand, 0.0), pairs(float(_present(frame, "name_canonical").sum()))


#: frame.attrs key: the share of a run's company mentions written in Latin letters.
ROMANISED_SHARE = "romanised_share"


def cross_script(share: float) -> float:
    """The share of mention pairs with one name of each script, `share` of the mentions
    being romanised: 2r(1-r)."""
    return 2 * share * (1 - share)


def _romanised_brand(frame: pd.DataFrame) -> tuple[float, float]:
    """A romanised name against a Chinese one: the same brand sound and legal form, regions
    equal or one unknown, and an English industry word standing for both industries.
    Only a pair with one name of each script can reach the level, so its u is the chance
    that a pair of different companies is such a pair (2r(1-r), r the run's share of
    romanised mentions, in frame.attrs) times the chance that two different companies'
    names agree that far, counted among the representatives (a pair whose industries
    share two English words is counted twice: an upper bound). m, learnt by EM among
    identifier-linked pairs, carries the same rarity, so the level's weight is what the
    agreement says where it can be asked. Without the share, u was 2r(1-r) times too
    large: about ten bits too little at 20,000 companies, and no romanised name without a
    USCC reached its company."""
    comparable = pairs(float(_present(frame, "name_canonical").sum()))
    if "name_industry_latin" not in frame.columns:
        return 0.0, comparable
    words = frame["name_industry_latin"].str.strip("|").str.split("|")
    english = frame.assign(name_industry_latin=words).explode("name_industry_latin")
    english = english[english["name_industry_latin"].notna()]
    compatible = _brand_compatible(english, "name_core_pinyin", "name_industry_latin")
    default = frame["name_is_romanised"].mean() if "name_is_romanised" in frame.columns else 0
    share = float(frame.attrs.get(ROMANISED_SHARE, default))
    cross = cross_script(share)
    if cross <= 0:
        return 0.0, comparable
    # u = cross x (agreeing + the unseen half pair) / comparable: the comparable pairs are
    # reported divided by `cross`, so that u_from_counts scales the unseen half too.
    return compatible, comparable / cross


def _former_name(frame: pd.DataFrame) -> tuple[float, float]:
    """One company's former name equal to another's name or former name. A company name is
    unique within its registration authority while in use, so this is as rare as the
    reuse of a name after a rename or deregistration: sampled pairs never see it, and a
    floored u put a punishment or key-personnel record naming a company by its former name
    under the threshold (about half of those mentions split at 20,000 companies)."""
    if "former_canonical" not in frame.columns:
        return 0.0, pairs(float(_present(frame, "name_canonical").sum()))
    former = frame["former_canonical"].map(lambda v: len(v) if v is not None else 0)
    exploded = frame.loc[former > 0, ["name_canonical", "former_canonical"]].explode(
        "former_canonical"
    )
    exploded = exploded[exploded["former_canonical"] != exploded["name_canonical"]]
    old = exploded.drop_duplicates().groupby("former_canonical").size()
    current = frame.groupby("name_canonical").size()
    both = old.index.intersection(current.index)
    agreeing = float((old[both].to_numpy(np.float64) * current[both].to_numpy(np.float64)).sum())
    sizes = old.to_numpy(np.float64)
    agreeing += float((sizes * (sizes - 1) / 2).sum())
    return agreeing, pairs(float(_present(frame, "name_canonical").sum()))


def _registered_name(frame: pd.DataFrame) -> tuple[float, float]:
    """The same name, or one's former name equal to the other's name or former name."""
    same, comparable = _exact("name_canonical")(frame)
    former, _ = _former_name(frame)
    return same + former, comparable


IDENTIFIER_COLUMNS = ("uscc", "org_code", "reg_no")


def _same_identifier(frame: pd.DataFrame) -> tuple[float, float]:
    """Equal on any identifier (inclusion-exclusion over the three), over the pairs with an
    identifier on both sides."""
    columns = list(IDENTIFIER_COLUMNS)
    agree = 0.0
    for size in (1, 2, 3):
        for subset in combinations(columns, size):
            agree += (-1) ** (size + 1) * agreeing_pairs(frame, list(subset))
    present = frame[columns].notna().to_numpy()
    pattern = pd.Series(present @ np.array([1, 2, 4])).value_counts()
    comparable = 0.0
    for a, na in pattern.items():
        for b, nb in pattern.items():
            # pandas-stubs type Series labels as Hashable; these are int bit patterns.
            if a and b and a & b:  # type: ignore[operator]
                comparable += na * (na - 1) / 2 if a == b else na * nb / 2
    return agree, comparable


#: (comparison, level label) -> count of (agreeing pairs, comparable pairs).
COUNTED: dict[str, dict[tuple[str, str], Callable[[pd.DataFrame], tuple[float, float]]]] = {
    "person": {
        ("name", "exact"): _exact("name_simplified"),
        ("name", "same sound"): _same_sound,
        ("resident_id", "same ID"): _same_id,
        **{("resident_id", label): _masked_id(i) for i, label in enumerate(MASKED_LEVELS)},
        ("company_context", "same company"): _same_company,
        ("phone", "same phone"): _exact("phone"),
        ("address", "same address"): _exact("address"),
    },
    "company": {
        ("name", REGISTERED_NAME): _registered_name,
        ("name", "same brand"): _same_brand,
        ("name", "same brand sound"): _same_brand_sound,
        ("name", ROMANISED_BRAND): _romanised_brand,
        ("identifiers", "same identifier"): _same_identifier,
        ("region_code", "same region"): _exact("region_code"),
        ("address", "same address"): _exact("address"),
    },
}


@dataclass
class CountedU:
    comparison: str
    level: str
    agreeing_pairs: float
    comparable_pairs: float
    u: float
    sampled_u: float | None


def counted_u(
    representatives: pd.DataFrame, entity_type: str, levels: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[float, float]]:
    """For each countable level among `levels`: (agreeing pairs, comparable pairs) among the
    representatives (one row per entity known to be different)."""
    counters = COUNTED[entity_type]
    out = {}
    for key in levels:
        if key in counters:
            out[key] = counters[key](representatives)
    return out


def u_from_counts(agreeing: float, comparable: float) -> float | None:
    """The u of a counted level, None when no pair could be compared."""
    if comparable <= 0:
        return None
    return min((agreeing + UNSEEN_PAIRS) / comparable, 1.0)
