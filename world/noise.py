"""How a record writes a person or company it mentions: names and identifiers with the
variants real clerks produce, each tagged so the truth can say which form was used.

Only a small share of mentions is varied, so the per-item Python work touches a subset;
everything else is vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from world import ids, names
from world.habits import Habits, draw, mask


@dataclass(frozen=True)
class PersonNoise:
    traditional: float = 0.02
    homophone: float = 0.01
    typo: float = 0.005


@dataclass(frozen=True)
class CompanyNoise:
    bracketed: float = 0.05
    bracketed_halfwidth: float = 0.02
    legal_form: float = 0.04
    traditional: float = 0.01
    homophone: float = 0.01  # one brand character swapped for a same-sound one


REGISTRY_PERSON = PersonNoise(0.005, 0.003, 0.002)
QUIET_COMPANY = CompanyNoise(0.01, 0.005, 0.01, 0.0, 0.005)


def person_names(
    people: pd.DataFrame,
    idx: np.ndarray,
    rng: np.random.Generator,
    noise: PersonNoise = PersonNoise(),
    forced: dict[int, str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Names as written for people `idx`, and the form of each (canonical, traditional,
    homophone, typo). `forced` maps a position in idx to a form that must be used."""
    surname = people["surname"].to_numpy()[idx]
    given = people["given"].to_numpy()[idx]
    sex = people["sex"].to_numpy()[idx]
    written = surname + given
    form = np.full(idx.size, "canonical", dtype=object)
    u = rng.random(idx.size)
    cuts = np.cumsum([noise.traditional, noise.homophone, noise.typo])
    choice = np.searchsorted(cuts, u, side="right")  # 0,1,2 varied; 3 canonical
    wanted = {
        i: ("traditional", "homophone", "typo")[c]
        for i, c in zip(
            np.flatnonzero(choice < 3).tolist(), choice[choice < 3].tolist(), strict=True
        )
    }
    wanted.update(forced or {})
    for i in sorted(wanted):
        kind = wanted[i]
        text = None
        if kind == "traditional":
            text = names.traditional(written[i])
        elif kind == "homophone":
            g = names.homophone(given[i], rng)
            text = None if g is None else surname[i] + g
        elif kind == "typo":
            text = surname[i] + names.typo(given[i], sex[i], rng)
        if text is not None and text != written[i]:
            written[i], form[i] = text, kind
    return written, form


def look_alike_names(
    people: pd.DataFrame,
    idx: np.ndarray,
    written: np.ndarray,
    form: np.ndarray,
    share: float,
    rng: np.random.Generator,
) -> None:
    """In place: a `share` of the names written canonically get one given-name character
    swapped for a look-alike (形近字), form "look_alike", where the name has one."""
    if share <= 0:
        return
    given = people["given"].to_numpy()[idx]
    surname = people["surname"].to_numpy()[idx]
    for i in np.flatnonzero((rng.random(idx.size) < share) & (form == "canonical")).tolist():
        swapped = names.look_alike(given[i], rng)
        if swapped is not None:
            written[i], form[i] = surname[i] + swapped, "look_alike"


def person_pinyin(people: pd.DataFrame, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Romanised names (customs filings)."""
    surname = people["surname"].to_numpy()[idx]
    given = people["given"].to_numpy()[idx]
    return np.array(
        [
            names.pinyin_name(s, g, rng)
            for s, g in zip(surname.tolist(), given.tolist(), strict=True)
        ],
        dtype=object,
    )


def person_ids(
    people: pd.DataFrame,
    idx: np.ndarray,
    rng: np.random.Generator,
    full: float,
    legacy: float,
    masked: float,
    habits: Habits | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Resident IDs as written (the rest of the share is left blank) and their forms:
    full, legacy15, masked_<pattern> (see world/habits.py), missing."""
    id18 = people["id18"].to_numpy()[idx]
    u = rng.random(idx.size)
    form = np.where(
        u < full,
        "full",
        np.where(
            u < full + legacy, "legacy15", np.where(u < full + legacy + masked, "masked", "missing")
        ),
    ).astype(object)
    # 15-digit IDs were issued until 1999: whoever was born later has only the 18-digit one.
    born = people["birth"].to_numpy(dtype="datetime64[D]")[idx]
    form[(form == "legacy15") & (born >= np.datetime64("1999-01-01"))] = "full"
    out = np.where(form == "full", id18, "").astype(object)
    for i in np.flatnonzero(form == "legacy15").tolist():
        out[i] = ids.legacy_id(id18[i])
    masked_at = np.flatnonzero(form == "masked")
    if masked_at.size and habits is not None:
        patterns = draw(habits.mask_patterns, masked_at.size, rng)
        characters = draw(habits.mask_characters, masked_at.size, rng)
    else:
        patterns = np.full(masked_at.size, "6+4", dtype=object)
        characters = np.full(masked_at.size, "*", dtype=object)
    for i, pattern, character in zip(
        masked_at.tolist(), patterns.tolist(), characters.tolist(), strict=True
    ):
        out[i] = mask(id18[i], pattern, character)
        form[i] = f"masked_{pattern}"
    return out, form


def names_at(
    companies: pd.DataFrame, idx: np.ndarray, when: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The name each company bore on `when` (None: today), and whether it is a former one."""
    current = companies["name"].to_numpy()[idx]
    if when is None:
        return current.copy(), np.zeros(idx.size, dtype=bool)
    w = np.asarray(when, dtype="datetime64[D]")
    r1 = companies["renamed1"].to_numpy(dtype="datetime64[D]")[idx]
    r2 = companies["renamed2"].to_numpy(dtype="datetime64[D]")[idx]
    before1 = ~np.isnat(r1) & (w < r1)
    before2 = ~np.isnat(r2) & (w < r2)
    out = np.where(before1, companies["former1"].to_numpy()[idx], current)
    out = np.where(before2, companies["former2"].to_numpy()[idx], out)
    return out.astype(object), before1


def company_names(
    companies: pd.DataFrame,
    idx: np.ndarray,
    when: np.ndarray | None,
    rng: np.random.Generator,
    noise: CompanyNoise = CompanyNoise(),
) -> tuple[np.ndarray, np.ndarray]:
    """Company names as written on `when`, and the form (canonical, former, bracketed,
    bracketed_halfwidth, legal_form, traditional, homophone)."""
    written, former = names_at(companies, idx, when)
    form = np.where(former, "former", "canonical").astype(object)
    cuts = np.cumsum(
        [
            noise.bracketed,
            noise.bracketed_halfwidth,
            noise.legal_form,
            noise.traditional,
            noise.homophone,
        ]
    )
    choice = np.searchsorted(cuts, rng.random(idx.size), side="right")
    city = companies["city"].to_numpy()[idx]
    brand_text = companies["brand"].to_numpy()[idx]
    word = companies["word"].to_numpy()[idx]
    legal = companies["form"].to_numpy()[idx]
    for i in np.flatnonzero((choice < 5) & ~former).tolist():
        kind = choice[i]
        if kind == 0:
            text = names.bracketed(city[i], brand_text[i], word[i], legal[i])
            label = "bracketed"
        elif kind == 1:
            text = names.bracketed(city[i], brand_text[i], word[i], legal[i], full_width=False)
            label = "bracketed_halfwidth"
        elif kind == 2:
            text = names.company_name(city[i], brand_text[i], word[i], names.swap_form(legal[i]))
            label = "legal_form"
        elif kind == 3:
            text = names.traditional(written[i])
            label = "traditional"
        else:
            sound = names.brand_homophone(brand_text[i], rng)
            text = (
                written[i]
                if sound is None
                else names.company_name(city[i], sound, word[i], legal[i])
            )
            label = "homophone"
        if text != written[i]:
            written[i], form[i] = text, label
    return written, form


def usccs(
    companies: pd.DataFrame, idx: np.ndarray, rng: np.random.Generator, present: float
) -> np.ndarray:
    """USCCs as written: blank for a share of records and for companies without one."""
    code = companies["uscc"].to_numpy()[idx]
    keep = (rng.random(idx.size) < present) & pd.notna(code)
    return np.where(keep, code, "").astype(object)
