"""GB/T 4754-2017 industry codes (国民经济行业分类): section letter + 2-4 digits.

Registries write the code as "C1331", some extracts drop the section letter ("1331").
The standard fixes which section each division (the first two digits) belongs to, so
the letter is added from the division, and the addition is counted as an inferred
reading. A code whose letter disagrees with its division, or that has no valid shape,
is a field issue: industry-scoped rules (art. 135) must not read it as anything.

The check is structural (shape, division 01-97 and its section): veil does not ship the
full list of 1,380 classes, so an unassigned class inside a valid division passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Divisions (大类) of each section (门类), GB/T 4754-2017.
SECTION_DIVISIONS = {
    "A": range(1, 6),
    "B": range(6, 13),
    "C": range(13, 44),
    "D": range(44, 47),
    "E": range(47, 51),
    "F": range(51, 53),
    "G": range(53, 61),
    "H": range(61, 63),
    "I": range(63, 66),
    "J": range(66, 70),
    "K": range(70, 71),
    "L": range(71, 73),
    "M": range(73, 76),
    "N": range(76, 80),
    "O": range(80, 83),
    "P": range(83, 84),
    "Q": range(84, 86),
    "R": range(86, 91),
    "S": range(91, 97),
    "T": range(97, 98),
}
SECTION_OF = {d: s for s, divisions in SECTION_DIVISIONS.items() for d in divisions}
_SHAPE = re.compile(r"([A-T])?([0-9]{2,4})?")
_NOISE = str.maketrans("", "", " .-·/")


@dataclass(frozen=True, slots=True)
class IndustryCode:
    """The code as veil stores it, or None; `inferred` / `problem` say why if read."""

    value: str | None
    inferred: str | None = None
    problem: str | None = None


def normalise_industry(raw: str | None) -> IndustryCode:
    """Read one industry code cell (already cleaned of blanks and placeholders)."""
    if raw is None:
        return IndustryCode(None)
    text = raw.upper().translate(_NOISE)
    m = _SHAPE.fullmatch(text)
    if not text or m is None:
        return IndustryCode(None, problem="unknown_industry_code")
    section, digits = m.group(1), m.group(2)
    if digits is None:
        return IndustryCode(section)
    division = int(digits[:2])
    if division not in SECTION_OF:
        return IndustryCode(None, problem="unknown_industry_code")
    if section is None:
        return IndustryCode(SECTION_OF[division] + digits, inferred="industry_section_added")
    if SECTION_OF[division] != section:
        return IndustryCode(None, problem="industry_section_mismatch")
    return IndustryCode(section + digits)
