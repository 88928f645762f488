"""Company and person identifiers: parse, judge, tokenise, mask, and generate.

Parsers never raise on a bad identifier: the row keeps its name and the result says why the
identifier is unusable (`status`, `reason`), which the loader records. Check characters come
from python-stdnum where it is fast enough; where it is not (USCC, see _uscc_check_char) the
same arithmetic is done with a faster route and tested against stdnum. stdnum has no
GB 11714 organisation-code check, no 15-digit or masked resident ID: those are ours.

Privacy: a full resident ID leaves this module only as an HMAC token; every other output
(display, mask_id) shows at most what the source itself showed. What leaves the run
directory (the graph, alert evidence, the CLI and the API) shows less still: `display_mask`
hides a mask's birth month and day, `masked_resident_ids` masks any resident ID inside a
text, and `keyed_resident_ids` gives text that names a resident ID a stable stand-in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from stdnum.cn import ric
from stdnum.iso7064 import mod_11_10

from loaders.fields import PLACEHOLDERS, clean

__all__ = [
    "RESIDENT_ID_HINT",
    "OrgCode",
    "Reason",
    "RegNo",
    "ResidentId",
    "Status",
    "Uscc",
    "classify_company_identifier",
    "display_mask",
    "gb11714_check_char",
    "keyed_resident_ids",
    "make_resident_id",
    "make_uscc",
    "mask_id",
    "mask_ids_in_text",
    "masked_resident_ids",
    "parse_org_code",
    "parse_reg_no",
    "parse_resident_id",
    "parse_uscc",
    "secret_fingerprint",
]

_PLACEHOLDER_MAX = max(map(len, PLACEHOLDERS))

Status = Literal["valid", "invalid", "masked", "missing"]
Reason = Literal["invalid_length", "invalid_format", "invalid_check_digit", "invalid_birth_date"]
CompanyIdKind = Literal["uscc", "org_code", "reg_no", "unknown", "missing"]


@dataclass(frozen=True, slots=True)
class Uscc:
    """A Unified Social Credit Code (GB 32100-2015).

    `org_code_valid` says whether chars 9-17 pass GB 11714; it is information only (see
    parse_uscc). `normalised` is the cleaned input even when invalid: company codes are
    public, and a reviewer needs to see what was there.
    """

    status: Status
    reason: Reason | None = None
    value: str | None = None
    org_code: str | None = None
    region_code: str | None = None
    org_code_valid: bool | None = None
    normalised: str | None = None


@dataclass(frozen=True, slots=True)
class OrgCode:
    """A legacy organisation code (GB 11714), 8 body characters and a check character."""

    status: Status
    reason: Reason | None = None
    value: str | None = None
    normalised: str | None = None


@dataclass(frozen=True, slots=True)
class RegNo:
    """A legacy 15-digit business registration number (ISO 7064 MOD 11,10 check)."""

    status: Status
    reason: Reason | None = None
    value: str | None = None
    normalised: str | None = None


@dataclass(frozen=True, slots=True)
class ResidentId:
    """A resident identity number (GB 11643-1999) reduced to what may be stored.

    `token` (valid only) is the sole form of a full ID; `display` never shows more than
    the source did; `visible_prefix`/`visible_suffix` are the partial evidence of a mask.
    """

    status: Status
    reason: Reason | None = None
    kind: Literal["18", "15_upgraded", "masked"] | None = None
    token: str | None = None
    display: str | None = None
    visible_prefix: str | None = None
    visible_suffix: str | None = None
    birth_date: date | None = None
    sex: Literal["M", "F"] | None = None
    region_code: str | None = None


# -- normalisation ----------------------------------------------------------------------

# Dash look-alikes people type inside codes (ASCII '-' and whitespace are handled apart).
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"))


def _normalise(raw: object) -> str | None:
    """Cleaned, upper-cased code text without spaces or hyphens; None when the cell is blank."""
    if type(raw) is str and raw.isascii():  # the common case, ~4x faster than clean()
        code = "".join(raw.upper().split())
        if "-" in code:
            code = code.replace("-", "")
        if len(code) <= _PLACEHOLDER_MAX and clean(code) is None:
            return None
        return code
    text = clean(raw)
    if text is None:
        return None
    return text.upper().translate(_DASHES).replace("-", "").replace(" ", "") or None


# -- GB 11714 organisation code ---------------------------------------------------------

_ORG_SHAPE = re.compile(r"[0-9A-Z]{8}[0-9X]", re.ASCII)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def gb11714_check_char(body8: str) -> str:
    """GB 11714 check character of 8 body characters (digits, A-Z valued ord - 55).

    The weights 3,7,9,10,5,8,4,2 are 2**(8-i) mod 11, so the weighted sum is 2 * body read
    in base 35 (35 = 2 mod 11), which int() computes in C; only 'Z' (35) needs the loop.
    """
    if "Z" in body8:
        total = sum(w * int(c, 36) for w, c in zip(_ORG_WEIGHTS, body8, strict=True))
    else:
        total = 2 * int(body8, 35)
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def _org_code_ok(code9: str) -> bool:
    return gb11714_check_char(code9[:8]) == code9[8]


# -- USCC -------------------------------------------------------------------------------

# The GB 32100 alphabet (no I, O, Z, S, V), the same as stdnum.cn.uscc's.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# Positions 1-2 (registration authority, entity type) may be letters: GB 32100 lists
# A (military), N (agriculture: rural collectives, N2...), Y (other). stdnum's validate()
# wants 8 leading digits and would reject those, so the shape is checked here.
_USCC_SHAPE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}", re.ASCII)
# Each alphabet character rewritten as the base-34 digit of its value (J=18 -> 'I', ...);
# anything else becomes '~', which int() rejects.
_TO_BASE34 = bytes(
    ord("0123456789ABCDEFGHIJKLMNOPQRSTU"[_USCC_ALPHABET.index(chr(b))])
    if chr(b) in _USCC_ALPHABET
    else ord("~")
    for b in range(256)
)


def _uscc_check_char(body17: str) -> str:
    """The GB 32100 check character; the same result as stdnum.cn.uscc.calc_check_digit.

    stdnum weights position i by 3**i mod 31. Since 34 = 3 (mod 31), that weighted sum is
    the reversed body read in base 34, which int() does in C: about 20x stdnum's speed
    (its compact() pass costs ~10 us a call), needed for multi-million-row loads and the
    synthetic-world generator. tests/test_identifiers.py checks equality with stdnum.
    Raises ValueError for a character outside the alphabet.
    """
    return _USCC_ALPHABET[-int(body17.encode("ascii").translate(_TO_BASE34)[::-1], 34) % 31]


_USCC_MISSING = Uscc("missing")


def parse_uscc(raw: object) -> Uscc:
    """Judge a USCC on length, alphabet and the GB 32100 check character.

    The embedded organisation code (chars 9-17) is checked against GB 11714 but does not
    decide validity: stdnum does not test it either, the USCC's own check character already
    protects the whole code, and registries issue codes outside the textbook rules (some
    Xiamen codes issued before 2016 do not even pass the USCC check). Linkage may still use
    `org_code` to join legacy records; `org_code_valid` lets it weigh that.
    """
    code = _normalise(raw)
    if code is None:
        return _USCC_MISSING
    if len(code) != 18:
        return Uscc("invalid", "invalid_length", normalised=code)
    if _USCC_SHAPE.fullmatch(code) is None:
        return Uscc("invalid", "invalid_format", normalised=code)
    if _uscc_check_char(code[:17]) != code[17]:
        return Uscc("invalid", "invalid_check_digit", normalised=code)
    org = code[8:17]
    return Uscc("valid", None, code, org, code[2:8], _org_code_ok(org), code)


def make_uscc(
    region_code: str, org_body8: str, registration_authority: str = "9", entity_type: str = "1"
) -> str:
    """A valid USCC with correct GB 11714 and GB 32100 check characters (for synthetic data)."""
    body = registration_authority + entity_type + region_code + org_body8
    if len(body) != 16 or not region_code.isdigit():
        raise ValueError(f"cannot build a USCC from {body!r}")
    body += gb11714_check_char(org_body8)
    try:
        return body + _uscc_check_char(body)
    except ValueError:
        raise ValueError(f"{body!r} has characters outside the USCC alphabet") from None


# -- organisation code, registration number, shape ------------------------------------

_ORG_MISSING = OrgCode("missing")
_REG_MISSING = RegNo("missing")
_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def parse_org_code(raw: object) -> OrgCode:
    """Judge a legacy organisation code, printed "12345678-9" or "123456789"."""
    code = _normalise(raw)
    if code is None:
        return _ORG_MISSING
    if len(code) != 9:
        return OrgCode("invalid", "invalid_length", normalised=code)
    if _ORG_SHAPE.fullmatch(code) is None:
        return OrgCode("invalid", "invalid_format", normalised=code)
    if not _org_code_ok(code):
        return OrgCode("invalid", "invalid_check_digit", normalised=code)
    return OrgCode("valid", None, code, code)


def parse_reg_no(raw: object) -> RegNo:
    """Judge a legacy 15-digit registration number (check digit: ISO 7064 MOD 11,10).

    Older 13-digit numbers have no check digit and come back invalid_length.
    """
    code = _normalise(raw)
    if code is None:
        return _REG_MISSING
    if len(code) != 15:
        return RegNo("invalid", "invalid_length", normalised=code)
    if _DIGITS.fullmatch(code) is None:
        return RegNo("invalid", "invalid_format", normalised=code)
    if mod_11_10.checksum(code) != 1:
        return RegNo("invalid", "invalid_check_digit", normalised=code)
    return RegNo("valid", None, code, code)


def classify_company_identifier(raw: object) -> CompanyIdKind:
    """Which company identifier a cell holds, by shape alone (no check characters)."""
    code = _normalise(raw)
    if code is None:
        return "missing"
    n = len(code)
    if n == 18 and code.isascii() and code.isalnum():
        return "uscc"
    if n == 9 and _ORG_SHAPE.fullmatch(code):
        return "org_code"
    if n == 15 and _DIGITS.fullmatch(code):
        return "reg_no"
    return "unknown"


# -- resident ID ------------------------------------------------------------------------

_RID18 = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)
_RID15 = re.compile(r"[0-9]{15}", re.ASCII)
# Mask characters seen in published lists. 'X' masks only as a run of two or more: a
# single X is a check character (or a USCC letter), even right after a mask.
_MASK = re.compile(r"[*×●•#]|X{2,}")
_X_RUN = re.compile(r"X{2,}")
_MASK_TO_STAR = str.maketrans("×●•#", "****")
# prefix digits, a masked middle (which may show digits), suffix digits and check char
_MASKED_SHAPE = re.compile(r"([0-9]*)\*(?:[0-9*]*\*)?([0-9]*X?)", re.ASCII)
_NOT_SHOWN = date.min  # sentinel: the mask hides the birth date
_STARS = "********"
_EARLIEST_BIRTH = date(1880, 1, 1)
_TODAY = date.today()  # upper bound for a birth date; fixed per process, which is enough
_RID_MISSING = ResidentId("missing")


def _as_stars(match: re.Match[str]) -> str:
    return "*" * len(match[0])


def _birth_date(yyyymmdd: str) -> date | None:
    """The birth date if it is a real day between 1880 and today (input: 8 ASCII digits)."""
    try:
        born = date.fromisoformat(yyyymmdd)  # Python 3.11+ reads the basic form, in C
    except ValueError:
        return None
    return born if _EARLIEST_BIRTH <= born <= _TODAY else None


_HMAC_BASES: dict[bytes, hmac.HMAC] = {}


def _token(id18: str, secret: bytes) -> str:
    """HMAC-SHA256 of the ID under `secret`, from a keyed state prepared once per secret.

    Copying the prepared state skips re-deriving the key pads each call (~2x faster than
    hmac.digest here); the result is the standard HMAC, as the tests check.
    """
    base = _HMAC_BASES.get(secret)
    if base is None:
        if len(_HMAC_BASES) >= 8:
            _HMAC_BASES.clear()
        base = _HMAC_BASES[secret] = hmac.new(secret, digestmod=hashlib.sha256)
    mac = base.copy()
    mac.update(id18.encode("ascii"))
    return mac.hexdigest()


def secret_fingerprint(secret: bytes) -> str:
    """What a run records of the ID-token secret it was loaded with (never the secret: an
    HMAC of a fixed label under it), so a later stage can tell it holds the same one: a
    different secret gives every ID another token, and nothing would match, silently."""
    return hmac.new(secret, b"veil: id-token secret fingerprint", hashlib.sha256).hexdigest()[:16]


def _valid_resident_id(
    id18: str, secret: bytes, kind: Literal["18", "15_upgraded"], born: date
) -> ResidentId:
    return ResidentId(
        "valid",
        None,
        kind,
        _token(id18, secret),
        id18[:6] + _STARS + id18[14:],
        id18[:6],
        id18[14:],
        born,
        "M" if int(id18[16]) % 2 else "F",
        id18[:6],
    )


def _masked_resident_id(code: str) -> ResidentId:
    """Partial evidence from a masked ID: visible ends, and the birth date if shown."""
    code = _X_RUN.sub(_as_stars, code.translate(_MASK_TO_STAR))
    if not code.strip("*"):
        return _RID_MISSING  # fully masked: no evidence at all
    if len(code) > 18:
        return ResidentId("invalid", "invalid_length", display=mask_id(code))
    m = _MASKED_SHAPE.fullmatch(code)
    if m is None:
        return ResidentId("invalid", "invalid_format", display=mask_id(code))
    prefix, suffix = m[1], m[2]
    # The birth date wherever the mask shows all of it, not only after a shown region:
    # some agencies print "******19900101****".
    if len(code) == 18 and code[6:14].isdigit():
        born = _birth_date(code[6:14])
    elif len(code) == 15 and code[6:12].isdigit():
        born = _birth_date("19" + code[6:12])
    else:
        born = _NOT_SHOWN
    if born is None:
        return ResidentId("invalid", "invalid_birth_date", display=mask_id(code))
    return ResidentId(
        "masked",
        None,
        "masked",
        None,
        code,
        prefix or None,
        suffix or None,
        None if born is _NOT_SHOWN else born,
        None,
        prefix[:6] if len(prefix) >= 6 else None,
    )


def parse_resident_id(raw: object, secret: bytes) -> ResidentId:
    """Judge a resident ID and reduce it to a token and masked evidence.

    Valid = 18 characters (17 digits + digit or X), the GB 11643 check character
    (stdnum.cn.ric.calc_check_digit) and a real birth date between 1880 and today. The
    birthplace code is *not* judged: stdnum's validate() rejects codes missing from its
    region table, yet real IDs keep abolished county codes (NOTES.md: 64% of plausible IDs
    fail it). 15-digit IDs are upgraded (century 19, computed check) to kind "15_upgraded",
    so both forms of one person share a token. Masked IDs are partial evidence, never keys.
    """
    code = _normalise(raw)
    if code is None:
        return _RID_MISSING
    if _RID18.fullmatch(code):
        if ric.calc_check_digit(code) != code[17]:
            return ResidentId("invalid", "invalid_check_digit", display=mask_id(code))
        born = _birth_date(code[6:14])
        if born is None:
            return ResidentId("invalid", "invalid_birth_date", display=mask_id(code))
        return _valid_resident_id(code, secret, "18", born)
    if _RID15.fullmatch(code):
        body = code[:6] + "19" + code[6:]
        born = _birth_date(body[6:14])
        if born is None:
            return ResidentId("invalid", "invalid_birth_date", display=mask_id(code))
        return _valid_resident_id(
            body + ric.calc_check_digit(body + "0"), secret, "15_upgraded", born
        )
    if _MASK.search(code):
        return _masked_resident_id(code)
    reason: Reason = "invalid_length" if len(code) not in (15, 18) else "invalid_format"
    return ResidentId("invalid", reason, display=mask_id(code))


def mask_id(raw: object) -> str | None:
    """The display form of any ID-like cell: at most the first 6 and last 4 characters.

    Shorter than 14 characters, nothing is shown (only as many '*'), so a short or
    truncated value can never be read back in full from a quarantine table.
    """
    code = _normalise(raw)
    if code is None:
        return None
    code = code.translate(_MASK_TO_STAR)
    if len(code) < 14:
        return "*" * len(code)
    return code[:6] + _STARS + code[-4:]


# A run of 15 or more digits (full-width too, an X last): what a resident ID looks like
# inside free text such as a broken raw line; longer runs may hide one, so they count.
_ID_IN_TEXT = re.compile(
    r"(?<![0-9０-９])([0-9０-９]{6})([0-9０-９]{8,}[0-9０-９Xx])(?![0-9０-９])"
)


def mask_ids_in_text(text: str) -> str:
    """`text` with every ID-like number masked to its first 6 and last 4 characters.

    Used on raw lines kept for quarantine, where a resident ID may sit in any column;
    an 18-digit USCC or other long number is masked too, which costs nothing there.
    """
    return _ID_IN_TEXT.sub(lambda m: m.group(1) + _STARS + m.group(2)[-4:], text)


# -- what leaves the run directory --------------------------------------------------------

#: Where each length of mask shows the birth month and day.
_MONTH_DAY = {18: slice(10, 14), 15: slice(8, 12)}


def display_mask(mask: str) -> str:
    """A source's masked ID as veil shows it outside the run directory: the birth month and
    day hidden, the rest as the source showed it.

    One person's masks come from lists that hide different characters (a court's
    `110101********123X`, a punishment's `******19900101****`): side by side they are the
    whole number. Every list hides the month and day here, so no set of them adds up to
    it; the year stays, as a Person's `birth_year` does. Linkage still compares the source
    masks, inside the run directory.
    """
    hidden = _MONTH_DAY.get(len(mask))
    if hidden is None:
        return mask
    return mask[: hidden.start] + "*" * (hidden.stop - hidden.start) + mask[hidden.stop :]


#: An 18-character resident ID (or a 15-digit old one) inside a longer text.
_RESIDENT_ID = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9Xx])")
#: A masked ID inside a text: 18 or 15 digits and mask characters, at least one of each
#: ('X' masks only as a run of two, as `_MASK` reads it).
_MASK_CHARS = "0-9Xx*×●•#"
_MASK_IN_TEXT = re.compile(
    rf"(?<![{_MASK_CHARS}])(?:[{_MASK_CHARS}]{{18}}|[{_MASK_CHARS}]{{15}})(?![{_MASK_CHARS}])"
)
_MASKING = re.compile(r"[*×●•#]|[Xx]{2,}")
#: What any text `masked_resident_ids` changes contains (a run of 15 digits, a mask
#: character): a first look over whole columns, in Arrow (graph/facts.py).
RESIDENT_ID_HINT = r"[0-9]{15}|[*×●•#]|[Xx]{2}"
_HINT = re.compile(RESIDENT_ID_HINT)


def masked_resident_ids(text: str) -> str:
    """`text` with every resident ID in it masked to its first 6 and last 4 characters and
    every masked ID in it shown as `display_mask` shows it.

    A resident ID: a number shaped like one whose birth date is a real day from 1880 on,
    check character right or not (a wrong one does not make it less personal); a valid
    USCC stays. For agency record keys and free text on their way out of the run directory
    (the graph, alert evidence, answers), where an ID may sit anywhere.
    """
    if not _HINT.search(text):  # most texts: one scan instead of two substitutions
        return text
    text = _RESIDENT_ID.sub(_masked_number, text)
    return _MASK_IN_TEXT.sub(_displayed_mask, text)


def keyed_resident_ids(text: str, secret: bytes) -> str:
    """`text` with every resident ID in it (as `masked_resident_ids` finds them) replaced by
    its HMAC token under `secret`: the token `parse_resident_id` gives a valid ID, so a
    record keyed by a person's ID keys as that person's `id_token`. Unique and stable like
    the text itself, and the number cannot be read back from it without the secret."""

    def token(match: re.Match[str]) -> str:
        number = match.group(0)
        if not _is_resident_id(number):
            return number
        return parse_resident_id(number, secret).token or _token(number.upper(), secret)

    return _RESIDENT_ID.sub(token, text)


def _masked_number(match: re.Match[str]) -> str:
    number = match.group(0)
    if not _is_resident_id(number):
        return number
    return mask_id(number) or ""


def _displayed_mask(match: re.Match[str]) -> str:
    shown = match.group(0)
    if not _MASKING.search(shown) or not any(c.isdigit() for c in shown):
        return shown
    return display_mask(shown)


def _is_resident_id(number: str) -> bool:
    """A 15- or 18-digit number with a real birth date from 1880 on. An all-digit USCC can
    look like one: a number whose GB 32100 check holds stays a USCC, unless the GB 11643
    check holds too (one ID in 31 passes the USCC check by chance; a USCC that also passes
    both, masked, costs only the sight of a public code)."""
    digits = number[6:14] if len(number) == 18 else "19" + number[6:12]
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return False
    if born.year < 1880:
        return False
    if len(number) == 18 and ric.calc_check_digit(number) == number[17].upper():
        return True
    return parse_uscc(number).status != "valid"


def make_resident_id(region6: str, birth: date, sequence: int) -> str:
    """A resident ID with the right GB 11643 check character (for synthetic data)."""
    if len(region6) != 6 or not 0 <= sequence <= 999:
        raise ValueError(f"bad region {region6!r} or sequence {sequence!r}")
    body = f"{region6}{birth.year:04d}{birth.month:02d}{birth.day:02d}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")
