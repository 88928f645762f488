"""How the agencies of a world write what it holds: the habits `veil world --habits` sets.

Each habit is a mix with a realistic default, so tests and benchmarks meet it without
asking. A habits file is YAML with any of the keys below; an unknown key, an unknown
value or shares that do not sum to 1 is a ConfigError naming the file and the key.

    mask_patterns: {"6+4": 0.5, "4+4": 0.2, birth: 0.15, "3+4": 0.1, "1+1": 0.05}
    mask_characters: {"*": 0.9, "×": 0.05, "●": 0.05}
    ratio_forms: {"35%": 0.5, "0.35": 0.25, "35.00": 0.25}
    industry_without_letter: 0.05
    blank_start: 0.03
    punishment_uscc: 0.95
    key_personnel_ids: {none: 1.0}
    customs_romanised_names: 0.1
    shareholder_ids: {full: 0.9, legacy15: 0.03, none: 0.07}
    name_look_alike: 0.02

`ratio_forms` is drawn per company (one clerk files a company's holders), so the column
mixes styles and its bare numbers can be read two ways: the fraction style writes a whole
holding as "1" and the percentage style writes 1% as "1.00" and 0.5% as "0.50"; only the
company's total tells them apart. `industry_without_letter` is the share of registry
rows whose GB/T 4754 code lacks its section letter ("1331" for C1331);
`blank_start` the share of key-personnel rows with a blank 任职日期; `punishment_uscc` the
share of punishment decisions that print the party's USCC (the others name it only);
`key_personnel_ids` how key-personnel rows identify the person: by name only ("none",
as the public disclosure does and today's default), by a full resident ID ("full") or a
masked one ("masked", in the agencies' masking mix), as an agency's internal extract of
主要人员 with its 证件号码 column does; `customs_romanised_names` the share of customs
filings that name the company in Latin letters (SHANGHAI XINGHE FOOD CO., LTD.);
`shareholder_ids` how a natural-person shareholder's ID is written (15-digit "legacy15"
only for people born before 1999, who were issued one); `name_look_alike` the share of
key-personnel rows and of people named on punishment decisions (copied by hand) whose
name has one character swapped for a look-alike (形近字: 明 for 朋, 己 for 已).

The court's list of judgment defaulters always masks 6+4 with '*', as it publishes; the
habits apply to the masked IDs of the other agencies (punishment decisions today).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from config.validated import load_validated

MaskPattern = Literal["6+4", "4+4", "3+4", "1+1", "birth"]
MaskCharacter = Literal["*", "×", "●", "#"]
RatioForm = Literal["35%", "0.35", "35.00"]
IdForm = Literal["none", "full", "masked"]
HolderIdForm = Literal["none", "full", "legacy15", "masked"]


def _mix(shares: dict[str, float]) -> dict[str, float]:
    if not shares:
        raise ValueError("needs at least one entry")
    if any(v < 0 for v in shares.values()):
        raise ValueError("shares must not be negative")
    if not math.isclose(sum(shares.values()), 1.0, abs_tol=1e-9):
        raise ValueError(f"shares must sum to 1, not {sum(shares.values()):g}")
    return shares


class Habits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mask_patterns: dict[MaskPattern, float] = Field(
        default_factory=lambda: {"6+4": 0.5, "4+4": 0.2, "birth": 0.15, "3+4": 0.1, "1+1": 0.05}
    )
    mask_characters: dict[MaskCharacter, float] = Field(
        default_factory=lambda: {"*": 0.9, "×": 0.05, "●": 0.05}
    )

    ratio_forms: dict[RatioForm, float] = Field(
        default_factory=lambda: {"35%": 0.5, "0.35": 0.25, "35.00": 0.25}
    )
    industry_without_letter: float = Field(0.05, ge=0, le=1)
    blank_start: float = Field(0.03, ge=0, le=1)
    punishment_uscc: float = Field(0.95, ge=0, le=1)
    key_personnel_ids: dict[IdForm, float] = Field(default_factory=lambda: {"none": 1.0})
    customs_romanised_names: float = Field(0.1, ge=0, le=1)
    shareholder_ids: dict[HolderIdForm, float] = Field(
        default_factory=lambda: {"full": 0.9, "legacy15": 0.03, "none": 0.07}
    )
    name_look_alike: float = Field(0.02, ge=0, le=1)

    _check_patterns = field_validator("mask_patterns")(_mix)
    _check_characters = field_validator("mask_characters")(_mix)
    _check_ratios = field_validator("ratio_forms")(_mix)
    _check_key_personnel_ids = field_validator("key_personnel_ids")(_mix)
    _check_shareholder_ids = field_validator("shareholder_ids")(_mix)

    def key_personnel_carry_ids(self) -> bool:
        return self.key_personnel_ids.get("none", 0.0) < 1.0


def load_habits(path: Path) -> Habits:
    return load_validated(path, Habits, "world habits")


def mask(id18: str, pattern: MaskPattern, character: str = "*") -> str:
    """An 18-character ID as an agency masking in `pattern` prints it."""
    shown = {
        "6+4": (6, 4),
        "4+4": (4, 4),
        "3+4": (3, 4),
        "1+1": (1, 1),
    }
    if pattern == "birth":
        return character * 6 + id18[6:14] + character * 4
    head, tail = shown[pattern]
    return id18[:head] + character * (18 - head - tail) + id18[-tail:]


def draw(mix: dict[str, float], n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` values drawn from a mix (in the mix's order, so a seed gives the same draws)."""
    keys = list(mix)
    return np.asarray(keys, dtype=object)[rng.choice(len(keys), size=n, p=list(mix.values()))]
