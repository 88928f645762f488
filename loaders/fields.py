"""Cell-level parsers the loader runs on every row: text, blanks, dates, ratios, numbers, lists.

They are pure functions on one raw cell. Anything that cannot be used raises
FieldParseError with a stable `reason` code, which the loader writes into quarantine, so the
codes are part of the contract. Hot paths avoid allocation: regexes are compiled once and
ASCII input skips Unicode normalisation.
"""

from __future__ import annotations

import json
import math
import numbers
import re
import unicodedata
from datetime import date, datetime, timedelta
from typing import Any, SupportsFloat, cast

from config.errors import VeilError

__all__ = [
    "PLACEHOLDERS",
    "FieldParseError",
    "clean",
    "normalise_text",
    "parse_date",
    "parse_json_list",
    "parse_number",
    "ratio_form",
    "split_terms",
]


class FieldParseError(VeilError, ValueError):
    """A value that cannot be used; `reason` is a stable machine code written into quarantine."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# -- text -------------------------------------------------------------------------------

# Zero-width characters, direction marks, word joiner, BOM and soft hyphen: invisible, but
# they break equality. A regex search is ~7x cheaper than str.translate on CJK text.
_INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff\u00ad]")


def normalise_text(value: str) -> str:
    """NFKC (full-width to half-width), drop invisible characters, collapse whitespace.

    Traditional/simplified conversion is deliberately not done here: it changes meaning
    for some names and belongs to linkage, which keeps both forms.
    """
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value)  # returns at once if already NFKC
        if _INVISIBLE.search(value):
            value = _INVISIBLE.sub("", value)
    return " ".join(value.split())


#: Cell contents that mean "nothing here" in Chinese extracts, compared case-insensitively
#: after normalise_text. Any run made only of dashes and slashes ("-", "--", "—", "——",
#: "/", "-/-") also counts. Deliberately *not* included: "0", "不详", "未知", "长期" (they can
#: carry meaning, e.g. "长期" is an open-ended licence term the caller must handle).
PLACEHOLDERS = frozenset(
    {"无", "暂无", "空", "null", "none", "n/a", "na", "nan", "nat", "<na>", "#n/a"}
)
_PLACEHOLDER_MAX = max(map(len, PLACEHOLDERS))
_DASHES = "-—–―‐‒/"


def _is_placeholder(text: str) -> bool:
    return len(text) <= _PLACEHOLDER_MAX and (
        text.casefold() in PLACEHOLDERS or not text.strip(_DASHES)
    )


def _to_text(value: object) -> str | None:
    """Text of a non-str cell, or None when it is a missing-value marker (NaN, NA, NaT)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return None
        # pandas turns an integer column with blanks into float: 110108000000016.0 is an id.
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        if value != value:  # pandas NaT is a datetime subclass
            return None
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return normalise_text(str(value))
    if isinstance(value, bytes | bytearray):
        return normalise_text(bytes(value).decode("utf-8", errors="replace"))
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, numbers.Integral):  # numpy integers
        return str(int(value))
    if isinstance(value, numbers.Real):  # numpy floats
        return _to_text(float(value))
    return normalise_text(str(value))


def clean(value: object) -> str | None:
    """The cleaned text of a raw cell, or None when blank, missing or a placeholder.

    Blank means None, NaN, pandas NA/NaT, empty or whitespace-only text, or one of
    PLACEHOLDERS / a run of dashes. Integral floats print without ".0" because pandas
    upcasts integer columns that have blanks; dates print as ISO 8601.
    """
    if value is None:
        return None
    if type(value) is str:
        text: str | None = normalise_text(value)
    else:
        text = _to_text(value)
        if text is None:
            return None
    if not text or _is_placeholder(text):
        return None
    return text


# -- dates ------------------------------------------------------------------------------

_TIME = r"(?:[ T]\d{1,2}:\d{1,2}(?::\d{1,2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
_DATE_SEP = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})" + _TIME, re.ASCII)
_DATE_CN = re.compile(
    r"(\d{4})\s?年\s?(\d{1,2})\s?月\s?(\d{1,2})\s?[日号]?"
    r"(?:\s?\d{1,2}(?::|时|点)\d{1,2}(?:(?::|分)\d{1,2}秒?)?分?)?",
    re.ASCII,
)
_DATE_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})", re.ASCII)
_SERIAL_TEXT = re.compile(r"\d{5}(?:\.\d+)?", re.ASCII)
_DATE_HANZI = re.compile(
    r"([〇○零一二三四五六七八九]{4})年([一二三四五六七八九十]{1,3})月"
    r"([一二三四五六七八九十]{1,3})日"
)

_EXCEL_EPOCH = date(1899, 12, 30)  # 1900 date system, with Lotus' 1900-02-29 absorbed
_SERIAL_MIN = (date(1950, 1, 1) - _EXCEL_EPOCH).days  # 18264
_SERIAL_MAX = (date(2100, 12, 31) - _EXCEL_EPOCH).days  # 73415
_HANZI_DIGIT = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "○": 0}


def _hanzi_number(text: str) -> int:
    """1-31 written in Chinese numerals (十五, 二十, 三十一)."""
    tens, ten, units = text.partition("十")
    try:
        if not ten:
            return _HANZI_DIGIT[text] if len(text) == 1 else -1
        return (_HANZI_DIGIT[tens] if tens else 1) * 10 + (_HANZI_DIGIT[units] if units else 0)
    except KeyError:  # 十十, 二二十: not a number
        return -1


def _from_serial(serial: float, text: object) -> date:
    if not _SERIAL_MIN <= serial < _SERIAL_MAX + 1:
        raise FieldParseError("unparseable_date", f"number {text!r} is not a date")
    return _EXCEL_EPOCH + timedelta(days=int(serial))


def _from_number(value: float, text: object) -> date:
    """Numbers: yyyymmdd written as a number, or an Excel serial for 1950..2100."""
    if value != value:
        raise FieldParseError("unparseable_date", "NaN")
    if 19000101 <= value <= 21001231 and float(value).is_integer():
        v = int(value)
        return _make_date(v // 10000, v // 100 % 100, v % 100, text)
    return _from_serial(value, text)


def _make_date(year: int, month: int, day: int, text: object) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise FieldParseError(
            "unparseable_date", f"{str(text)[:40]!r} is not a real date"
        ) from None


def parse_date(value: object) -> date | None:
    """A calendar date from the many ways extracts write one; None for a blank cell.

    Accepts date/datetime objects, y-m-d with '-', '/' or '.', yyyymmdd, 2019年3月5日
    (also in Chinese numerals, as court documents write it), an optional trailing time,
    and Excel serials (1950..2100) as numbers or numeric text. Impossible dates and any
    other bare number raise FieldParseError("unparseable_date").
    """
    if value is None:
        return None
    if type(value) is str:
        text: str | None = normalise_text(value)
        if not text or _is_placeholder(text):
            return None
    elif isinstance(value, datetime):
        return None if value != value else value.date()
    elif isinstance(value, date):
        return value
    elif isinstance(value, bool):
        raise FieldParseError("unparseable_date", f"{value!r} is not a date")
    elif isinstance(value, numbers.Real):
        return None if value != value else _from_number(float(value), value)
    else:
        text = clean(value)
        if text is None:
            return None
    m = _DATE_SEP.fullmatch(text) or _DATE_CN.fullmatch(text)
    if m is not None:
        return _make_date(
            int(m[1]),
            int(m[3] if m.re is _DATE_SEP else m[2]),
            int(m[4] if m.re is _DATE_SEP else m[3]),
            text,
        )
    m = _DATE_COMPACT.fullmatch(text)
    if m is not None:
        return _make_date(int(m[1]), int(m[2]), int(m[3]), text)
    if _SERIAL_TEXT.fullmatch(text):
        return _from_serial(float(text), text)
    m = _DATE_HANZI.fullmatch(text)
    if m is not None:
        year = int("".join(str(_HANZI_DIGIT[c]) for c in m[1]))
        return _make_date(year, _hanzi_number(m[2]), _hanzi_number(m[3]), text)
    raise FieldParseError("unparseable_date", f"{text[:40]!r} is not a date")


# -- numbers and ratios -----------------------------------------------------------------

_RATIO = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s?(%)?", re.ASCII)
_NUMBER = re.compile(
    r"(?:人民币|RMB|CNY|¥)?\s?"
    r"([+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?|[+-]?\.\d+)"
    r"\s?(?:[万亿]?(?:元|美元|港元|港币|欧元|日元)?(?:人民币)?)",
)


def _real(value: object, reason: str) -> float | None:
    """A non-text cell as a float (None for NaN/NA); raises `reason` for anything else."""
    if isinstance(value, bool):
        raise FieldParseError(reason, f"{value!r} is not a number")
    if isinstance(value, numbers.Real):
        number = float(value)
        return None if number != number else number
    if clean(value) is None:
        return None
    try:
        # Decimal and friends; float() itself is the check (TypeError below)
        number = float(cast(SupportsFloat, value))
    except (TypeError, ValueError):
        raise FieldParseError(reason, f"{type(value).__name__} is not a number") from None
    return None if number != number else number


RatioForm = str  # "percent_sign", "below_one", "one", "above_one", "zero"


def ratio_form(value: object) -> tuple[float, RatioForm] | None:
    """A share cell as written: (the number, its form), None for a blank cell.

    The form is what the cell alone says: "35%" is a percentage; 35.00 can only be one
    (a fraction is at most 1); 0.35 looks like a fraction but is 0.35% in a percentage
    column; 1 is 100% as a fraction and 1% as a percentage. loaders/ratios.py reads the
    last two by the column and by the company's other holdings.
    """
    percent = False
    number: float | None
    if type(value) is str:
        text = normalise_text(value)
        if not text or _is_placeholder(text):
            return None
        m = _RATIO.fullmatch(text)
        if m is None:
            raise FieldParseError("unparseable_ratio", f"{text[:40]!r} is not a share")
        number = float(m[1])
        percent = m[2] is not None
    else:
        number = _real(value, "unparseable_ratio")
        if number is None:
            return None
    if percent:
        form = "percent_sign"
    elif number == 0:
        form = "zero"
    elif number == 1:
        form = "one"
    elif 0 < number < 1:
        form = "below_one"
    else:
        form = "above_one"
    if number < 0 or number > 100:
        raise FieldParseError("ratio_out_of_range", f"{value!r} is outside 0-100%")
    return number, form


def parse_number(value: object) -> float | None:
    """A number as written, with thousands separators, currency and 万/元 units stripped.

    "100万元" gives 100.0, not 1,000,000: the unit is the column's business (registered
    capital is conventionally in 万元), and rescaling here would hide that choice.
    """
    if type(value) is not str:
        number = _real(value, "unparseable_number")
        if number is not None and math.isinf(number):
            raise FieldParseError("unparseable_number", "infinite")
        return number
    text = normalise_text(value)
    if not text or _is_placeholder(text):
        return None
    m = _NUMBER.fullmatch(text)
    if m is None:
        raise FieldParseError("unparseable_number", f"{text[:40]!r} is not a number")
    return float(m[1].replace(",", ""))


# -- compound cells ---------------------------------------------------------------------


def parse_json_list(value: object) -> list[dict[str, Any]]:
    """A list of objects, given as a list (JSONL, Parquet) or as JSON text (CSV); blank -> [].

    Raises FieldParseError("unparseable_json") when the cell is not a list of objects. The
    detail never quotes the cell: these lists carry names and identity numbers.
    """
    if isinstance(value, str):
        text = value.strip().lstrip("\ufeff")
        if not text or _is_placeholder(normalise_text(text)):
            return []
        try:
            data = json.loads(text)
        except ValueError as err:
            raise FieldParseError("unparseable_json", f"invalid JSON: {err}") from None
    elif isinstance(value, list | tuple):
        data = value
    elif value is None:
        return []
    elif hasattr(value, "tolist") and not isinstance(value, numbers.Number):
        data = value.tolist()  # numpy array from a Parquet list column
    elif clean(value) is None:
        return []
    else:
        raise FieldParseError("unparseable_json", f"{type(value).__name__} is not a list")
    if data is None:
        return []
    if not isinstance(data, list | tuple):
        raise FieldParseError("unparseable_json", f"JSON {type(data).__name__} is not a list")
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise FieldParseError(
                "unparseable_json", f"item {i} is {type(item).__name__}, not an object"
            )
    return list(data)


_TERM_SEPARATORS = re.compile(r"[;,、/\s]+")


def split_terms(value: str | None) -> list[str]:
    """Parts of a compound term cell ("罚款；没收违法所得", "警告,罚款", "罚款、警告").

    Splits on ; , 、 / and whitespace (full-width forms too), dropping empties. Some
    vocabulary entries contain 、 themselves, so the caller looks the whole cell up first
    and only falls back to the parts.
    """
    if not value:
        return []
    return [part for part in _TERM_SEPARATORS.split(normalise_text(value)) if part]
