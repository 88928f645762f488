"""Identifiers of the world's people and companies, built with the loaders' own generators.

Check characters come from loaders.identifiers (GB 32100, GB 11714, GB 11643) and
python-stdnum (ISO 7064 MOD 11,10 for legacy registration numbers), never by hand, so the
world and the loader cannot disagree on what a valid identifier is.
"""

from __future__ import annotations

import numpy as np
from stdnum.iso7064 import mod_11_10

from loaders.identifiers import make_resident_id, make_uscc, mask_id
from world.calendar import to_date

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
NEW_CODE_FROM = np.datetime64("2015-10-01", "D")  # USCC reform: new codes start "MA"


def org_bodies(rng: np.random.Generator, new: np.ndarray) -> np.ndarray:
    """Unique 8-character organisation-code bodies: digits before the reform, MA... after."""
    n = new.size
    out = np.empty(n, dtype=object)
    old_idx = np.flatnonzero(~new)
    numbers = rng.choice(10**8, size=old_idx.size, replace=False)
    out[old_idx] = [f"{v:08d}" for v in numbers.tolist()]
    new_idx = np.flatnonzero(new)
    codes = rng.choice(len(USCC_ALPHABET) ** 6, size=new_idx.size, replace=False)
    alphabet = USCC_ALPHABET
    bodies = []
    for code in codes.tolist():
        chars = []
        for _ in range(6):
            code, digit = divmod(code, 31)
            chars.append(alphabet[digit])
        bodies.append("MA" + "".join(chars))
    out[new_idx] = bodies
    return out


def usccs(regions: np.ndarray, bodies: np.ndarray) -> np.ndarray:
    return np.array(
        [make_uscc(r, b) for r, b in zip(regions.tolist(), bodies.tolist(), strict=True)],
        dtype=object,
    )


def reg_nos(rng: np.random.Generator, regions: np.ndarray) -> np.ndarray:
    """Legacy 15-digit registration numbers: region, 8 digits, MOD 11,10 check digit."""
    serials = rng.choice(10**8, size=regions.size, replace=False)
    out = []
    for region, serial in zip(regions.tolist(), serials.tolist(), strict=True):
        body = f"{region}{serial:08d}"
        out.append(body + mod_11_10.calc_check_digit(body))
    return np.array(out, dtype=object)


def resident_ids(regions: np.ndarray, births: np.ndarray, sequences: np.ndarray) -> np.ndarray:
    return np.array(
        [
            make_resident_id(r, to_date(b), int(s))
            for r, b, s in zip(regions.tolist(), births, sequences.tolist(), strict=True)
        ],
        dtype=object,
    )


def legacy_id(id18: str) -> str:
    """The pre-1999 15-digit form: no century, no check character."""
    return id18[:6] + id18[8:17]


def masked(id18: str) -> str:
    """The published form: first 6, eight stars, last 4."""
    return mask_id(id18) or ""


def wrong_check(code: str, rng: np.random.Generator, alphabet: str) -> str:
    """The same code with a different (hence wrong) final check character."""
    choices = [c for c in alphabet if c != code[-1]]
    return code[:-1] + choices[int(rng.integers(len(choices)))]
