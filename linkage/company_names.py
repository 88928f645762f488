"""Company names split into region, trade name, industry word and legal form.

Registries write one company's name in several ways: 上海星河食品有限公司, 星河食品（上海）
有限公司, 上海市星河食品有限责任公司, in traditional characters, with full-width brackets. All
of them give the same `canonical` (region + core + industry + normalised legal form), the key
deterministic comparisons use. `canonical` is a concatenation, so a name whose parts are
split wrongly (a trade name that looks like a place) still gets the same canonical as its
variants; the parts serve fuzzier comparisons (same-sound trade names, same region).

The words (legal forms, industry words, regions) are data: config/company_name_terms.yaml,
validated on first use.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from config.errors import ConfigError
from config.settings import CONFIG_DIR
from config.validated import Strict
from linkage.names import simplify, word_pinyin

__all__ = [
    "TERMS_PATH",
    "CompanyName",
    "CompanyTerms",
    "SearchKeys",
    "company_from_simplified",
    "load_company_terms",
    "search_keys",
    "standardise_company_name",
    "standardise_former_names",
]

TERMS_PATH = CONFIG_DIR / "company_name_terms.yaml"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is ~7x faster


# -- the terms file ----------------------------------------------------------------------


def _words(values: list[str]) -> list[str]:
    bad = [v for v in values if not isinstance(v, str) or not v.strip() or v != v.strip()]
    if bad:
        raise ValueError(f"entries must be non-empty words without spaces around: {bad}")
    return values


class _City(Strict):
    names: list[str] = Field(min_length=1)
    bare: bool = True
    counties: list[str] = Field(default_factory=list)

    _check = field_validator("names", "counties")(_words)


class _Province(Strict):
    short: str = Field(min_length=2)
    counties: list[str] = Field(default_factory=list)
    cities: dict[str, _City] = Field(default_factory=dict)

    _check = field_validator("counties")(_words)


class _Qualifiers(Strict):
    owners: list[str] = Field(min_length=1)
    kinds: list[str] = Field(min_length=1)
    exact: list[str] = Field(default_factory=list)

    _check = field_validator("owners", "kinds", "exact")(_words)


def _latin_words(values: list[str]) -> list[str]:
    for value in values:
        if not re.fullmatch(r"[a-z]+( [a-z]+)*", value):
            raise ValueError(f"{value!r} is not lower-case words separated by single spaces")
    return values


class _Romanised(Strict):
    legal_forms: dict[str, list[str]] = Field(min_length=1)
    industry_words: dict[str, list[str]] = Field(default_factory=dict)
    region_words: list[str] = Field(default_factory=list)

    _check = field_validator("region_words")(_latin_words)

    @field_validator("legal_forms")
    @classmethod
    def _variants(cls, table: dict[str, list[str]]) -> dict[str, list[str]]:
        for variants in table.values():
            _latin_words(variants)
        return table

    @field_validator("industry_words")
    @classmethod
    def _industries(cls, table: dict[str, list[str]]) -> dict[str, list[str]]:
        _latin_words(list(table))
        for words in table.values():
            _words(words)
        return table


class CompanyTerms(Strict):
    """The schema of company_name_terms.yaml (see the file for what each part means)."""

    version: Literal[1] = 1
    legal_forms: dict[str, list[str]]
    sole_trader_forms: dict[str, list[str]]
    branch_forms: dict[str, list[str]]
    parent_forms: list[str] = Field(min_length=1)
    partnership_qualifiers: dict[str, str]
    ownership_qualifiers: _Qualifiers
    industry_words: list[str] = Field(min_length=1)
    national: list[str] = Field(default_factory=list)
    regions: dict[str, _Province] = Field(min_length=1)
    romanised: _Romanised | None = None

    _check = field_validator("parent_forms", "industry_words", "national")(_words)

    @field_validator("legal_forms", "sole_trader_forms", "branch_forms")
    @classmethod
    def _variants(cls, table: dict[str, list[str]]) -> dict[str, list[str]]:
        for variants in table.values():
            _words(variants)
        return table


def load_company_terms(path: Path = TERMS_PATH) -> CompanyTerms:
    """Read and validate a company-terms file; ConfigError names the file and the keys."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except FileNotFoundError:
        raise ConfigError(str(path), ["file not found"]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(str(path), [f"not valid YAML: {err}"]) from None
    try:
        terms = CompanyTerms.model_validate(data)
    except ValidationError as err:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in err.errors()
        ]
        raise ConfigError(str(path), problems) from None
    clashes = _clashing_variants(terms)
    if clashes:
        raise ConfigError(str(path), clashes)
    return terms


def _clashing_variants(terms: CompanyTerms) -> list[str]:
    """A variant written under two normalised forms would make the result order-dependent."""
    seen: dict[str, str] = {}
    problems = []
    for section in ("legal_forms", "sole_trader_forms", "branch_forms"):
        for form, variants in getattr(terms, section).items():
            for variant in [form, *variants]:
                if seen.get(variant, form) != form:
                    problems.append(
                        f"{section}.{form}: {variant!r} is already listed under {seen[variant]!r}"
                    )
                seen[variant] = form
    return problems


# -- lookup tables built from the terms --------------------------------------------------

_BRANCH = "branch"
_NATIONAL, _PROVINCE, _CITY, _COUNTY = range(4)


@dataclass(frozen=True, slots=True)
class _Unit:
    level: int
    norm: str  # how the region is written in `region` and `canonical`
    province: str
    city: str | None


@dataclass(frozen=True, slots=True)
class _Tables:
    forms: dict[str, tuple[str, str]]  # variant -> (normalised, kind)
    form_lengths: dict[str, tuple[int, ...]]  # last character -> lengths, longest first
    parent_split: re.Pattern[str]
    partnership: dict[str, str]
    owners: tuple[str, ...]
    kinds: tuple[str, ...]
    exact_qualifiers: frozenset[str]
    industry: frozenset[str]
    industry_lengths: dict[str, tuple[int, ...]]  # last character -> lengths, longest first
    regions: dict[str, tuple[tuple[_Unit, bool], ...]]  # surface -> ((unit, bare form), ...)
    region_lengths: dict[str, tuple[int, ...]]  # first two characters -> lengths, longest first
    latin_forms: dict[tuple[str, ...], str]  # romanised form's words -> normalised form
    latin_industry: frozenset[tuple[str, ...]]
    latin_of_industry: dict[str, tuple[str, ...]]  # Chinese industry word -> English ones
    latin_region_words: frozenset[tuple[str, ...]]
    latin_regions: dict[str, str]  # pinyin of a short form -> its norm ("" if shared)


def _county_norm(name: str) -> str:
    """County-level cities drop 市 (义乌市 -> 义乌); districts and counties keep 区/县/旗."""
    return name[:-1] if name.endswith("市") and len(name) >= 3 else name


def _build(terms: CompanyTerms) -> _Tables:
    forms: dict[str, tuple[str, str]] = {}
    for kind, table in (
        ("company", terms.legal_forms),
        ("sole_trader", terms.sole_trader_forms),
        (_BRANCH, terms.branch_forms),
    ):
        for form, variants in table.items():
            for variant in [form, *variants]:
                forms[simplify(variant)] = (form, kind)
    parents = sorted({simplify(f) for f in terms.parent_forms}, key=len, reverse=True)
    parent_split = re.compile(f"(.+?(?:{'|'.join(map(re.escape, parents))}))(.+)")

    surfaces: dict[str, list[tuple[_Unit, bool]]] = {}

    def add(surface: str, unit: _Unit, bare: bool) -> None:
        entry = surfaces.setdefault(simplify(surface), [])
        if (unit, bare) not in entry:
            entry.append((unit, bare))

    for name in terms.national:
        add(name, _Unit(_NATIONAL, name, "", None), False)
    for province, p in terms.regions.items():
        unit = _Unit(_PROVINCE, p.short, province, None)
        add(province, unit, False)
        add(p.short, unit, True)
        for county in p.counties:
            add(county, _Unit(_COUNTY, _county_norm(county), province, None), False)
        for short, c in p.cities.items():
            unit = _Unit(_CITY, short, province, short)
            for full in c.names:
                add(full, unit, False)
            if c.bare:
                add(short, unit, True)
            for county in c.counties:
                add(county, _Unit(_COUNTY, _county_norm(county), province, short), False)
    lengths: dict[str, set[int]] = {}
    for surface in surfaces:
        if len(surface) >= 2:
            lengths.setdefault(surface[:2], set()).add(len(surface))
    industry = frozenset(simplify(w) for w in terms.industry_words)
    q = terms.ownership_qualifiers
    latin = terms.romanised
    latin_regions: dict[str, str] = {}
    for surface, units in surfaces.items():
        for unit, bare in units:
            if bare and unit.level in (_PROVINCE, _CITY):
                key = word_pinyin(surface)
                seen = latin_regions.setdefault(key, unit.norm)
                if seen != unit.norm:
                    latin_regions[key] = ""  # 山西 / 陕西 both "shanxi": unknown
    return _Tables(
        forms=forms,
        form_lengths=_lengths_by_last(forms),
        parent_split=parent_split,
        partnership={simplify(k): v for k, v in terms.partnership_qualifiers.items()},
        owners=tuple(q.owners),
        kinds=tuple(q.kinds),
        exact_qualifiers=frozenset(q.exact),
        industry=industry,
        industry_lengths=_lengths_by_last(industry),
        regions={k: tuple(v) for k, v in surfaces.items()},
        region_lengths={k: tuple(sorted(v, reverse=True)) for k, v in lengths.items()},
        latin_forms={
            tuple(v.split()): form
            for form, variants in (latin.legal_forms.items() if latin else ())
            for v in variants
        },
        latin_industry=frozenset(tuple(w.split()) for w in (latin.industry_words if latin else ())),
        latin_of_industry=_latin_of_industry(latin),
        latin_region_words=frozenset(
            tuple(w.split()) for w in (latin.region_words if latin else ())
        ),
        latin_regions=latin_regions,
    )


def _latin_of_industry(latin: _Romanised | None) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for english, words in latin.industry_words.items() if latin else ():
        for word in words:
            out.setdefault(simplify(word), []).append(english)
    return {word: tuple(english) for word, english in out.items()}


def _lengths_by_last(words: Iterable[str]) -> dict[str, tuple[int, ...]]:
    """Last character -> lengths of the words ending in it, longest first: a name's ending
    is looked up only at lengths that can match."""
    lengths: dict[str, set[int]] = {}
    for word in words:
        lengths.setdefault(word[-1], set()).add(len(word))
    return {k: tuple(sorted(v, reverse=True)) for k, v in lengths.items()}


@cache
def _tables() -> _Tables:
    return _build(load_company_terms())


# -- parsing -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompanyName:
    """A company name in comparable parts.

    simplified: simplified, half-width, without spaces and punctuation, a bracketed region
        moved to the front (星河食品（上海）有限公司 -> 上海星河食品有限公司); the legal form as
        written.
    canonical: region + core + industry + legal_form (for a branch: its parent's canonical,
        the branch's own words and its form). Equal for the variants of one name.
    region: normalised: short forms (上海市 -> 上海), a province dropped before its city
        (浙江省杭州市 -> 杭州), districts and counties with their suffix (上海浦东新区).
    core: the trade name (字号), e.g. 星河.
    industry: the industry word, e.g. 食品, 餐饮管理 ("" if none is recognised).
    legal_form: normalised form: 有限公司 (also for 有限责任公司 and 有限公司（自然人独资）),
        股份有限公司, 合伙企业(有限合伙), a sole trader's 店/厂/经营部/商行, a branch's 分公司 ...
    core_pinyin: the pinyin of `core`, its syllables run together (星河 -> xinghe), to
        compare same-sound trade names and a romanised name with its Chinese one.
    is_romanised: written in Latin letters ("SHANGHAI XINGHE FOOD CO., LTD."): region,
        trade name and form read from the words (see `romanised` in the terms file),
        industry its English words, canonical marked with a leading "@" so it never
        equals a Chinese one.
    industry_latin: the English industry words that stand for a Chinese name's industry
        ("" where it has none), to compare it with a romanised name's.
    is_branch: a branch (分公司, 分店, or any name going on after its parent's form).
    parent_canonical: a branch's parent's canonical ("" if not a branch or not named).
    """

    simplified: str
    canonical: str
    region: str
    core: str
    industry: str
    legal_form: str
    core_pinyin: str
    is_branch: bool
    parent_canonical: str
    is_romanised: bool = False
    industry_latin: tuple[str, ...] = ()

    @property
    def industry_latin_key(self) -> str:
        """industry_latin as one string, each word between bars ("|food|foods|"; "||" for
        a name without an industry word, "" for none known), cheaper to compare in SQL
        than a list."""
        return "|" + "|".join(self.industry_latin) + "|" if self.industry_latin else ""


_EMPTY_COMPANY = CompanyName("", "", "", "", "", "", "", False, "")
_BRACKETS = str.maketrans("[{【〔〖〈《「『]}】〕〗〉》」』", "(" * 9 + ")" * 9)
_NOT_NAME = re.compile(r"[^\w()]+")
_BRACKETED = re.compile(r"\(([^()]*)\)")


def _clean(text: str) -> str:
    """Brackets unified to ( ), everything but word characters and brackets dropped."""
    return _NOT_NAME.sub("", text.translate(_BRACKETS)).lower()


def _region_chain(t: _Tables, text: str, start: int = 0) -> list[tuple[_Unit, int, bool]]:
    """Regions written one after another from `start`, each inside the one before
    (province, city, district): [(unit, end, bare form), ...]."""
    chain: list[tuple[_Unit, int, bool]] = []
    pos = start
    while pos < len(text) - 1:
        prev = chain[-1][0] if chain else None
        found = None
        for length in t.region_lengths.get(text[pos : pos + 2], ()):
            if pos + length > len(text):
                continue
            for unit, bare in t.regions.get(text[pos : pos + length], ()):
                if _inside(prev, unit):
                    found = (unit, pos + length, bare)
                    break
            if found:
                break
        if found is None:
            break
        chain.append(found)
        pos = found[1]
    return chain


def _inside(prev: _Unit | None, unit: _Unit) -> bool:
    if prev is None:
        return True
    if prev.level == _NATIONAL:
        return unit.level in (_PROVINCE, _CITY)
    if prev.level == _PROVINCE:
        return unit.province == prev.province and (
            unit.level == _CITY or (unit.level == _COUNTY and unit.city is None)
        )
    if prev.level == _CITY:
        return unit.level == _COUNTY and unit.city == prev.city and unit.province == prev.province
    return False


def _region_text(units: list[_Unit]) -> str:
    """Normalised region: a city makes the province (and country) before it redundant."""
    if len(units) == 1:
        return units[0].norm
    levels = [u.level for u in units]  # increasing: each unit lies inside the one before
    for keep_from in (_CITY, _PROVINCE):
        if keep_from in levels:
            units = units[levels.index(keep_from) :]
            break
    return "".join(u.norm for u in units)


def _industry(t: _Tables, text: str) -> str:
    for length in t.industry_lengths.get(text[-1:], ()):
        if length <= len(text) and text[-length:] in t.industry:
            return text[-length:]
    return ""


def _end_form(t: _Tables, text: str, whole: bool = False) -> tuple[str, str, str]:
    """(text before the form, normalised form, kind) for the longest form ending `text`;
    the form may be all of `text` only if `whole` (a branch's own words: 分公司)."""
    for length in t.form_lengths.get(text[-1:], ()):
        if length < len(text) or (whole and length == len(text)):
            hit = t.forms.get(text[-length:])
            if hit is not None:
                return text[:-length], hit[0], hit[1]
    return text, "", ""


def _is_ownership_note(t: _Tables, note: str) -> bool:
    return note in t.exact_qualifiers or (
        any(o in note for o in t.owners) and any(k in note for k in t.kinds)
    )


def _parse(
    t: _Tables, text: str, bracket_region: list[_Unit], partnership: str, simplified: str
) -> CompanyName:
    """Split a name without brackets (bracketed parts already taken out) into its parts."""
    head = text[:-2]
    if "公司" in head or "企业" in head or "合作社" in head:  # perhaps a parent's form inside
        m = t.parent_split.fullmatch(text)
        if m is not None:
            parent = _parse(t, m[1], bracket_region, partnership, "")
            stem, form, kind = _end_form(t, m[2], whole=True)
            if kind not in (_BRANCH, "sole_trader"):
                stem, form = m[2], "分支机构"
            return CompanyName(
                simplified=simplified,
                canonical=parent.canonical + stem + form,
                region=parent.region,
                core=parent.core,
                industry=parent.industry,
                legal_form=form,
                core_pinyin=parent.core_pinyin,
                is_branch=True,
                parent_canonical=parent.canonical,
                industry_latin=parent.industry_latin,
            )
    rest, form, kind = _end_form(t, text)
    if partnership:  # 星河投资合伙企业（有限合伙）, 星河投资中心（有限合伙）
        if form != "合伙企业":
            rest = text
        form, kind = partnership, "company"
    region = ""
    if bracket_region:
        region = _region_text(bracket_region)
        chain = _region_chain(t, rest)
        if chain and _region_text([u for u, _, _ in chain]) == region and chain[-1][1] < len(rest):
            rest = rest[chain[-1][1] :]
    else:
        chain = _region_chain(t, rest)
        while chain:
            _, end, bare = chain[-1]
            after = rest[end:]
            # A bare place name followed by nothing but an industry word is the trade name
            # (朝阳食品有限公司): undo it. The canonical is the same either way.
            if after and not (bare and _industry(t, after) == after):
                break
            chain.pop()
        if chain:
            region = _region_text([u for u, _, _ in chain])
            rest = rest[chain[-1][1] :]
    industry = _industry(t, rest)
    core = rest[: len(rest) - len(industry)]
    return CompanyName(
        simplified=simplified,
        canonical=region + core + industry + form,
        region=region,
        core=core,
        industry=industry,
        legal_form=form,
        core_pinyin=word_pinyin(core),
        is_branch=kind == _BRANCH,
        parent_canonical="",
        industry_latin=t.latin_of_industry.get(industry, ()) if industry else ("",),
    )


_LATIN_WORD = re.compile(r"[a-z0-9]+")


def _is_latin(text: str) -> bool:
    """Written in Latin letters: no Chinese character, and at least one letter."""
    return text.isascii() and any(c.isalpha() for c in text)


def _latin_region(t: _Tables, words: list[str]) -> tuple[str, str, int] | None:
    """(region norm, or "" when the pinyin is shared; the pinyin; words used) for a
    region at the start of `words` (one to three words, run together) with its admin
    words after."""
    for k in (3, 2, 1):
        key = "".join(words[:k])
        if k <= len(words) and key in t.latin_regions:
            used = k
            for extra in (2, 1):
                if tuple(words[used : used + extra]) in t.latin_region_words:
                    used += extra
                    break
            return t.latin_regions[key], key, used
    return None


def _longest_suffix(words: list[str], table: Container[tuple[str, ...]]) -> int:
    """How many of the last words form the longest entry of `table` (0: none), leaving
    at least one word before it."""
    for k in range(min(len(words) - 1, 6), 0, -1):
        if tuple(words[-k:]) in table:
            return k
    return 0


def _romanised(t: _Tables, text: str) -> CompanyName:
    """A company name in Latin letters, read into the same parts as a Chinese one."""
    lowered = text.lower().replace("&", " and ")
    found: tuple[str, str, int] | None = None
    bracket = _BRACKETED.search(lowered)
    if bracket is not None:
        inside = _LATIN_WORD.findall(bracket[1])
        found = _latin_region(t, inside)
        if found is not None and found[2] == len(inside):
            lowered = lowered[: bracket.start()] + " " + lowered[bracket.end() :]
        else:
            found = None
    words = _LATIN_WORD.findall(lowered)
    if not words:
        return _EMPTY_COMPANY
    simplified = " ".join(words)
    k = _longest_suffix(words, t.latin_forms)
    form = t.latin_forms[tuple(words[-k:])] if k else ""
    rest = words[: len(words) - k]
    if found is None:
        leading = _latin_region(t, rest)
        # A place name followed by industry words only is the trade name (Changchun Food).
        if leading is not None and leading[2] < len(rest):
            after = rest[leading[2] :]
            if _longest_suffix(["", *after], t.latin_industry) < len(after):
                found, rest = leading, after
    k = _longest_suffix(rest, t.latin_industry)
    core_pinyin = "".join(rest[: len(rest) - k])
    industry = " ".join(rest[len(rest) - k :])
    region, region_key = (found[0], found[0] or found[1]) if found else ("", "")
    return CompanyName(
        simplified=simplified,
        canonical="@" + " ".join(w for w in (region_key, core_pinyin, industry, form) if w),
        region=region,
        core=core_pinyin,
        industry=industry,
        legal_form=form,
        core_pinyin=core_pinyin,
        is_branch=False,
        parent_canonical="",
        is_romanised=True,
    )


def company_from_simplified(text: str) -> CompanyName:
    """standardise_company_name on text already passed through simplify()."""
    t = _tables()
    if _is_latin(text):
        return _romanised(t, text)
    text = _clean(text)
    bracket_region: list[_Unit] = []
    region_written = ""
    partnership = ""
    written: list[str] = []  # for `simplified`: a bracketed region moves to the front
    parsed: list[str] = []  # for parsing: ownership notes and partnership types taken out
    pos = 0
    for m in _BRACKETED.finditer(text) if "(" in text else ():
        between = _unbracket(text[pos : m.start()])
        written.append(between)
        parsed.append(between)
        pos = m.end()
        note = m[1]
        chain = [] if bracket_region or not note else _region_chain(t, note)
        if chain and chain[-1][1] == len(note):
            bracket_region = [u for u, _, _ in chain]
            region_written = note
        elif note == "集团":  # 星河（集团）有限公司 is 星河集团有限公司
            written.append(note)
            parsed.append(note)
        elif note in t.partnership:
            partnership = t.partnership[note]
            written.append(m[0])
        elif note:
            written.append(m[0])
            if not _is_ownership_note(t, note):
                parsed.append(m[0])
    written.append(_unbracket(text[pos:]))
    parsed.append(_unbracket(text[pos:]))
    bare = "".join(parsed)
    if not bare:
        return _EMPTY_COMPANY
    return _parse(t, bare, bracket_region, partnership, region_written + "".join(written))


def _unbracket(text: str) -> str:
    """Drop unbalanced brackets left between balanced ones."""
    return text.replace("(", "").replace(")", "") if "(" in text or ")" in text else text


def standardise_company_name(raw: str) -> CompanyName:
    """Standardise one company name (see CompanyName for the fields)."""
    return company_from_simplified(simplify(raw))


def standardise_former_names(names: list[str]) -> list[CompanyName]:
    """Former names (曾用名), standardised, blanks dropped, one per canonical, order kept."""
    out: list[CompanyName] = []
    seen: set[str] = set()
    for raw in names:
        if not raw:
            continue
        name = standardise_company_name(raw)
        if name.canonical and name.canonical not in seen:
            seen.add(name.canonical)
            out.append(name)
    return out


@dataclass(frozen=True, slots=True)
class SearchKeys:
    """What finds a company by one of its names, the same for every form of that name
    (simplified or traditional, bracketed region, 上海市 or 上海, a form's variants).

    key: the canonical form: an equal key is an exact match (a romanised name's starts
        with "@", so it meets only romanised forms).
    sound: the trade name's pinyin (xinghe): a same-sound or romanised form of the name.
    regional_sound: the region and the trade name's pinyin (上海 xinghe), "" when the
        name shows no region or trade name: the same, narrowed to one region.
    form: the simplified name: a query that is part of it is a partial match.
    """

    key: str
    sound: str
    regional_sound: str
    form: str


def search_keys(name: CompanyName) -> SearchKeys:
    """The search keys of a standardised name (see SearchKeys)."""
    sound = name.core_pinyin
    regional = f"{name.region} {sound}" if name.region and sound else ""
    return SearchKeys(name.canonical, sound, regional, name.simplified)
