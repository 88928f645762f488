"""Screening at the licence counter: an application's persons against a linked run.

A clerk types an application (the company by name or USCC; its legal representative,
officers and shareholders, each with a name and an ID number or the masked ID the
document shows) and must learn, before the licence is granted, whether any of them is a
person veil knows, and how sure that is. Food Safety Law art. 135 bars the banned from
*applying*: this is where a ban should bite first.

The Screener is built once from a linked run directory: the person model `veil link`
saved there with its term frequencies (linkage/scorer.py, no DuckDB), the person mentions'
features exactly as linkage computed them for linking (linkage/features.py, company
context included) with their entity IDs, and in-memory indexes on the keys of the person
model's blocking rules (models.person_blocking: name and sound for names borne by at most
MAX_NAME_BLOCK mentions, name with birth date, ID token, a masked ID's visible ends,
surname sound with the last four where a mask is involved, surname sound within a
company). An applicant becomes a feature row as a mention does (a person_mentions row from
the loader's ID parser, then linkage.features' person_feature_row: the batch's features for
one row, without Arrow's fixed cost per call), meets the mentions the blocking rules would
have paired it with (an application's keys hashed in one call), and each pair is scored by
the saved model. Per entity the best mention counts; entities at or above linkage.yaml's
`screening.candidate_threshold` are shown, strongest first, with the comparison levels
behind the score. A candidate at or above `screening.match_threshold`, or sharing the
applicant's full resident ID (an identifier link, as linkage makes one), is `strong`:
presented as the applicant. Below it a candidate is a lead, and a ban on it is marked as
resting on a weak match.

Resident IDs: the applicant's full ID becomes the loader's HMAC token (the secret the run
was loaded with must be this process's); answers show only masks, as the graph does
(graph/facts.py): with the birth month and day hidden (`display_mask`), and no resident ID
inside a mention's record key (`masked_resident_ids`). The bans' records come from the
graph in that form, and are looked up so.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.errors import InputError
from config.linkage import ScreeningPolicy
from config.settings import id_token_secret
from linkage import models
from linkage.features import KEY, company_context, person_feature_row
from linkage.scorer import PairScore, PairScorer
from linkage.standardise import standardise_company_name
from linkage.waves import resolved_features
from loaders import rundir
from loaders.identifiers import (
    ResidentId,
    display_mask,
    masked_resident_ids,
    parse_resident_id,
    parse_uscc,
)
from loaders.industry import normalise_industry
from loaders.rows import PersonMention, resident_id_fields

log = logging.getLogger(__name__)

# -- the application as the clerk types it ----------------------------------------------------

#: Only to judge an ID's shape and check character while validating a request; the token
#: the screener compares is made with the run's secret.
_CHECK_ONLY = b"shape-check"

_ID_PROBLEMS = {
    "invalid_length": "a resident ID has 18 characters (or 15 digits, before 1999)",
    "invalid_format": "a resident ID is 17 digits and a digit or X; a masked one shows "
    "digits and * where the document hides them (3101**********1234)",
    "invalid_check_digit": "the last character is not the ID's check character: a digit "
    "was mistyped",
    "invalid_birth_date": "the birth date inside the ID (characters 7-14) is no real day",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Applicant(_Strict):
    """A person named in the application, as the clerk typed them."""

    role: Literal["legal_rep", "officer", "shareholder"] = Field(
        description="legal representative, an officer (director, supervisor, manager...) "
        "or a natural-person shareholder"
    )
    name: str = Field(min_length=1, max_length=100, description="as on the ID document")
    id_number: str | None = Field(
        None,
        max_length=40,
        description="the resident ID (18 characters, or 15 digits), or masked as the "
        "document shows it: 3101**********1234, ******19900101****",
    )
    birth_date: date | None = Field(None, description="when the ID does not show it")
    sex: Literal["M", "F"] | None = None
    phone: str | None = Field(None, max_length=40)
    address: str | None = Field(None, max_length=200)

    @field_validator("id_number")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        if not value:
            return None
        rid = parse_resident_id(value, _CHECK_ONLY)
        if rid.status == "invalid":
            problem = _ID_PROBLEMS.get(rid.reason or "", "not a resident ID")
            raise ValueError(f"{problem} (got {rid.display or 'a short value'})")
        if rid.status == "missing":
            raise ValueError("the ID shows no character: leave it out, or type what it shows")
        return value

    @model_validator(mode="after")
    def _agrees(self) -> Applicant:
        if self.id_number is None:
            return self
        rid = parse_resident_id(self.id_number, _CHECK_ONLY)
        if self.birth_date and rid.birth_date and self.birth_date != rid.birth_date:
            raise ValueError("birth_date is not the birth date the ID number shows")
        if self.sex and rid.sex and self.sex != rid.sex:
            raise ValueError("sex is not the sex the ID number's sequence shows")
        return self


class ScreenRequest(_Strict):
    """A licence application: the company and the persons behind it."""

    company_name: str | None = Field(None, min_length=1, max_length=200)
    uscc: str | None = Field(None, description="the company's Unified Social Credit Code")
    region_code: str | None = Field(
        None,
        pattern=r"^[0-9]{6}$",
        description="the 6-digit division code of the company's seat, for a company not "
        "yet registered (a registered company's own region counts)",
    )
    industry_code: str | None = Field(
        None, description="GB/T 4754 code of the business applied for (F5221, H62, 5221)"
    )
    as_of: date | None = Field(None, description="the day of the application; default today")
    persons: list[Applicant] = Field(min_length=1, max_length=50)

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, value: str | None) -> str | None:
        if not value:
            return None
        parsed = parse_uscc(value)
        if parsed.status != "valid":
            raise ValueError(
                "not a valid USCC: 18 characters (digits and capitals but I, O, S, V, Z), "
                "the last the GB 32100 check character"
                + (" (the check character does not agree)" if parsed.reason else "")
            )
        return parsed.value

    @field_validator("industry_code")
    @classmethod
    def _industry(cls, value: str | None) -> str | None:
        if not value:
            return None
        code = normalise_industry(value).value
        if code is None:
            raise ValueError("not a GB/T 4754 industry code (a section letter and digits: H62)")
        return code

    @model_validator(mode="after")
    def _company(self) -> ScreenRequest:
        if self.company_name is None and self.uscc is None:
            raise ValueError("give the company's name or its USCC (or both)")
        return self

    def region(self) -> str | None:
        """The region the clerk gives, else the one inside the USCC (characters 3-8)."""
        return self.region_code or (self.uscc[2:8] if self.uscc else None)


# -- the answer -------------------------------------------------------------------------------


class Level(BaseModel):
    """One comparison's level for the pair and its match weight (term frequency included)."""

    comparison: str
    level: str
    match_weight: float


class Candidate(BaseModel):
    """An entity the applicant may be: its best mention, and the score behind it."""

    entity_id: str
    name: str | None = Field(description="the best mention's name as its record wrote it")
    id_masked: str | None = Field(description="what that mention shows of its ID (masked)")
    mention: str = Field(description="source:record_id:slot (run/... for a wave's base)")
    match_probability: float
    match_weight: float
    evidence: Literal["identifier:id_token", "model"] = Field(
        description="identifier:id_token when the mention has the applicant's full ID"
    )
    strong: bool = Field(
        description="presented as the applicant: the full ID agrees, or the probability "
        "reaches linkage.yaml's screening.match_threshold"
    )
    levels: list[Level]


class PersonCandidates(BaseModel):
    """One applicant and the entities they may be, strongest first."""

    role: str
    name: str
    id_masked: str | None = Field(description="the ID as typed, masked")
    candidates: list[Candidate]
    scored_mentions: int = Field(description="mentions the blocking rules met and scored")


MatchedBy = Literal["uscc", "name", "former_name"]


class CompanyMatch(BaseModel):
    """A company entity of the run the application names."""

    entity_id: str
    name: str | None
    uscc: str | None
    matched_by: MatchedBy


class RecordMatch(BaseModel):
    """The applicant scored against a mention of the candidate on a given record (the
    record a ban rests on): whether the applicant is the person that record names."""

    mention: str
    name: str | None
    id_masked: str | None
    match_probability: float
    resident_id: str = Field(
        description="the resident_id comparison's level ('conflict': "
        "the IDs cannot be one person's)"
    )


class Screening(BaseModel):
    """What the linked run says about an application's company and persons."""

    company: CompanyMatch | None = Field(description="the registered company, if it exists")
    company_candidates: list[CompanyMatch] = Field(
        description="several companies bear the name: the USCC decides (none is context)"
    )
    persons: list[PersonCandidates]
    candidate_threshold: float = Field(description="linkage.yaml screening.candidate_threshold")
    match_threshold: float = Field(description="linkage.yaml screening.match_threshold")


def applicant_mention(i: int, person: Applicant, rid: ResidentId) -> PersonMention:
    """The application's `i`th person as a person_mentions row, its ID as the loader's
    parser read it (`rid`, with the run's secret)."""
    return PersonMention(
        source="application",
        record_id="screen",
        slot=f"persons[{i}]",
        name=person.name,
        name_raw=person.name,
        **resident_id_fields(rid),
        birth_date=rid.birth_date or person.birth_date,
        sex=rid.sex or person.sex,
        region_code=rid.region_code,
        phone=person.phone,
        address=person.address,
    )


@dataclass(frozen=True)
class Screened:
    """An application screened: the answer, and each applicant's feature row (to score
    them against more mentions, Screener.on_records)."""

    answer: Screening
    rows: list[dict[str, Any]]


# -- the screener ----------------------------------------------------------------------------

#: The features the person model's levels read (linkage/level_conditions.py).
SCORED = (
    "name_simplified",
    "name_pinyin_key",
    "surname",
    "given",
    "is_romanised",
    "id_token",
    "id_visible",
    "id_masked",
    "birth_date",
    "sex",
    "context",
    "phone",
    "address",
)

#: models.person_blocking() as lookups: (the run's key columns, the applicant's columns
#: for them, whether one side must carry a masked ID). The name and sound keys are capped
#: on the run's side (models.add_blocking_keys); the company context's rule is apart.
BLOCKS: tuple[tuple[tuple[str, ...], tuple[str, ...], bool], ...] = (
    (("name_block",), ("name_simplified",), False),
    (("sound_block",), ("name_pinyin_key",), False),
    (("name_simplified", "birth_date"), ("name_simplified", "birth_date"), False),
    (("id_token",), ("id_token",), False),
    (("id_prefix", "id_suffix"), ("id_prefix", "id_suffix"), False),
    (("surname_pinyin", "id_end"), ("surname_pinyin", "id_end"), True),
)
#: The context rule: a company entity of the record and the surname's sound.
CONTEXT_BLOCK = ("context", "surname_pinyin")

_SEPARATOR = "\x1f"
_NO_ROWS = np.zeros(0, dtype=np.int64)


def _hash(keys: np.ndarray) -> np.ndarray:
    """64-bit hashes of string keys (pandas' hash, the same in every process)."""
    return pd.util.hash_array(keys.astype(object), categorize=False)


class _Index:
    """Mentions by one blocking key: sorted 64-bit hashes of the keys and the row of each,
    16 bytes a mention and no Python object per key. A collision only adds a pair to
    score."""

    def __init__(self, keys: np.ndarray, rows: np.ndarray) -> None:
        present = pd.notna(keys)
        hashes = _hash(keys[present])
        order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[order]
        self.rows = rows[present][order].astype(np.int64)

    def rows_of_hash(self, wanted: np.uint64) -> np.ndarray:
        """The rows of the key whose _hash is `wanted` (hash a request's keys at once:
        pandas' hash costs the same for one key as for twenty). A numpy integer: a Python
        int below 2**63 is taken for an int64, and every uint64 hash compared as a float64
        (a millisecond at 700,000 mentions)."""
        lo = int(self.hashes.searchsorted(wanted, side="left"))
        hi = int(self.hashes.searchsorted(wanted, side="right"))
        return self.rows[lo:hi]


def _joined(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The columns' values joined into one key per row, None where any is null."""
    key = frame[columns[0]].astype("string")
    for column in columns[1:]:
        key = key + _SEPARATOR + frame[column].astype("string")
    return key.astype(object).where(key.notna(), None).to_numpy(dtype=object)


def _key(row: dict[str, Any], columns: Sequence[str]) -> str | None:
    values = [row.get(c) for c in columns]
    if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in values):
        return None
    return _SEPARATOR.join(str(v) for v in values)


def _shared(values: np.ndarray) -> list[Any]:
    """An object column as a list whose equal strings are one object (names, dates and
    sources repeat across mentions: memory for each distinct value once). A list, not an
    array: the same 8 bytes a value, and faster to read one value at a time (a
    candidate's row)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    known = np.empty(len(uniques) + 1, dtype=object)
    known[:-1] = np.asarray(uniques, dtype=object)  # the last stays None, for a null
    shared: list[Any] = known[np.where(codes < 0, len(uniques), codes)].tolist()
    return shared


@dataclass(frozen=True)
class _CompanyIndex:
    """Company entities by USCC, canonical name and former canonical name."""

    by_uscc: dict[str, str]
    by_name: dict[str, list[str]]
    by_former: dict[str, list[str]]
    shown: dict[str, tuple[str | None, str | None]]  # entity -> (name, USCC)

    @classmethod
    def of(cls, companies: pd.DataFrame) -> _CompanyIndex:
        # A registry mention (one with a USCC) names its company best.
        ranked = companies.assign(has_uscc=companies["uscc"].notna()).sort_values(
            ["has_uscc", "mention_id"], ascending=[False, True], kind="stable"
        )
        first = ranked.drop_duplicates("entity_id")
        shown = {
            e: (n, u)
            for e, n, u in zip(first["entity_id"], first["name"], first["uscc"], strict=True)
        }
        with_uscc = companies.dropna(subset=["uscc"]).drop_duplicates("uscc")
        by_uscc = dict(zip(with_uscc["uscc"], with_uscc["entity_id"], strict=True))
        named = companies.dropna(subset=["name_canonical"])
        by_name = named.groupby("name_canonical")["entity_id"].unique()
        former = companies[["former_canonical", "entity_id"]].explode("former_canonical")
        by_former = former.dropna().groupby("former_canonical")["entity_id"].unique()
        return cls(
            by_uscc,
            {str(k): sorted(v) for k, v in by_name.items()},
            {str(k): sorted(v) for k, v in by_former.items()},
            shown,
        )

    def match(self, entity_id: str, matched_by: MatchedBy) -> CompanyMatch:
        name, uscc = self.shown.get(entity_id, (None, None))
        return CompanyMatch(entity_id=entity_id, name=name, uscc=uscc, matched_by=matched_by)


@dataclass
class _Indexed:
    """What a screener keeps of a run's person mentions: per mention the scored features
    and what an answer shows, and the indexes; compact and picklable."""

    companies: _CompanyIndex
    columns: dict[str, list[Any]]
    shown: dict[str, list[Any]]
    masked: np.ndarray
    blocks: list[_Index]
    context: _Index
    records: _Index

    @property
    def mentions(self) -> int:
        return len(self.masked)


def index_run(run_dir: Path) -> _Indexed:
    """The person mentions of a linked run as linkage computed them (features, company
    context), with their entities, indexed on the blocking keys; and the company index."""
    companies = resolved_features(models.COMPANY, run_dir)
    company_index = _CompanyIndex.of(companies)
    persons = resolved_features(models.PERSON, run_dir)
    persons["context"] = company_context(
        persons, companies, companies["entity_id"].to_numpy(dtype=object)
    )
    del companies
    models.add_blocking_keys(persons, models.PERSON)
    rows = np.arange(len(persons), dtype=np.int64)
    exploded = persons[["context", "surname_pinyin"]].assign(row=rows).explode("context")
    entity_ids = {e: e for e in persons["entity_id"]} | {e: e for e in exploded["context"].dropna()}
    columns = {c: _shared(persons[c].to_numpy(dtype=object)) for c in SCORED if c != "context"}
    columns["context"] = [[entity_ids[e] for e in c] for c in persons["context"]]
    return _Indexed(
        companies=company_index,
        columns=columns,
        shown={
            c: _shared(persons[c].to_numpy(dtype=object))
            for c in ("entity_id", "name", "run", *KEY)
        },
        masked=persons["id_masked"].to_numpy(dtype=bool),
        blocks=[_Index(_joined(persons, run_cols), rows) for run_cols, _, _ in BLOCKS],
        context=_Index(_joined(exploded, CONTEXT_BLOCK), exploded["row"].to_numpy()),
        records=_Index(_joined(_with_shown_record_ids(persons), ["source", "record_id"]), rows),
    )


def _with_shown_record_ids(persons: pd.DataFrame) -> pd.DataFrame:
    """source and record_id, the record key as the graph shows it (`masked_resident_ids`),
    so the records of a ban read from the graph find their mentions."""
    frame = persons[["source", "record_id"]].copy()
    ids = frame["record_id"].astype("string")
    holding = ids.str.contains(r"[0-9]{15}", regex=True).fillna(False).to_numpy(dtype=bool)
    frame.loc[holding, "record_id"] = [masked_resident_ids(v) for v in ids[holding].tolist()]
    return frame


def _shown_mask(visible: str | None) -> str | None:
    """A mention's ID as an answer shows it (`display_mask`)."""
    return None if visible is None else display_mask(visible)


def _check_secret(run_dir: Path, secret: bytes) -> None:
    """Refuse a run loaded with another ID-token secret than this process holds: the full
    IDs typed at the counter would get other tokens than the run's, and never match."""
    then = "serve with the secret it was loaded with, or load it again"
    if not rundir.check_id_secret(run_dir, secret, then):
        log.warning(
            "%s records no ID-token secret (loaded before veil recorded it): full IDs match "
            "only if this server holds the secret it was loaded with",
            run_dir,
        )


class Screener:
    """Screens applications against one linked run (see the module docstring)."""

    def __init__(
        self,
        run_dir: Path,
        policy: ScreeningPolicy,
        secret: bytes | None = None,
        *,
        in_child: bool = True,
    ) -> None:
        """Everything read and indexed once; refuses a run that is not linked, whose
        entities are stale, or whose models or term frequencies are missing.

        `in_child`: index the run in a child process, of which only the compact result
        comes back. Building it takes three to four times its size in pandas and Arrow
        intermediates, and a serving process would keep that memory, fragmented, for
        good (at 20,000 companies: 600 MiB against 230 MiB)."""
        started = time.perf_counter()
        self.run_dir = Path(run_dir)
        self.policy = policy
        self.secret = id_token_secret() if secret is None else secret
        if not rundir.exists(self.run_dir, "entities"):
            raise InputError(str(self.run_dir), "not linked: run `veil link --run` on it first")
        stale = rundir.stale_entities(self.run_dir)
        if stale:
            raise InputError(str(self.run_dir), f"its entities are stale ({stale}): link it again")
        _check_secret(self.run_dir, self.secret)
        self.scorer = PairScorer.from_run(self.run_dir, models.PERSON)
        if in_child:
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
                self.indexed = child.submit(index_run, self.run_dir).result()
        else:
            self.indexed = index_run(self.run_dir)
        self.mentions = self.indexed.mentions
        self.seconds = round(time.perf_counter() - started, 3)
        log.info(
            "screener over %s: %d person mentions, built in %.1f s",
            self.run_dir,
            self.mentions,
            self.seconds,
        )

    # -- one application -------------------------------------------------------------------

    def screen(self, request: ScreenRequest) -> Screened:
        company, others = self._company(request)
        context = [company.entity_id] if company is not None else []
        applicants = self._applicants(request.persons, context)
        rows = [row for row, _ in applicants]
        candidates = self._candidate_rows(rows)
        answer = Screening(
            company=company,
            company_candidates=others,
            persons=[
                self._person(person, row, shown, found)
                for person, (row, shown), found in zip(
                    request.persons, applicants, candidates, strict=True
                )
            ],
            candidate_threshold=self.policy.candidate_threshold,
            match_threshold=self.policy.match_threshold,
        )
        return Screened(answer, rows)

    def on_records(
        self, row: dict[str, Any], entity_id: str, records: Sequence[str]
    ) -> list[RecordMatch]:
        """The applicant (`row`, from Screened.rows) scored against the mentions of entity
        `entity_id` on these records (source:record_id), best first."""
        out = []
        parts = (masked_resident_ids(record).partition(":") for record in records)
        keys = [f"{source}{_SEPARATOR}{record_id}" for source, _, record_id in parts]
        for wanted in _hash(np.array(keys, dtype=object)):
            for i in self.indexed.records.rows_of_hash(wanted).tolist():
                if self.indexed.shown["entity_id"][i] != entity_id:
                    continue
                score = self.scorer.score(row, self._row(i))
                identity = next(
                    (c.level for c in score.comparisons if c.comparison == "resident_id"), "null"
                )
                out.append(
                    RecordMatch(
                        mention=self._mention(i),
                        name=self.indexed.shown["name"][i],
                        id_masked=_shown_mask(self.indexed.columns["id_visible"][i]),
                        match_probability=score.match_probability,
                        resident_id=identity,
                    )
                )
        return sorted(out, key=lambda m: (-m.match_probability, m.mention))

    def _company(self, request: ScreenRequest) -> tuple[CompanyMatch | None, list[CompanyMatch]]:
        """By USCC, else by the standardised name (current, then former): one entity is
        the company; several are candidates for the clerk to tell apart."""
        index = self.indexed.companies
        if request.uscc and request.uscc in index.by_uscc:
            return index.match(index.by_uscc[request.uscc], "uscc"), []
        if not request.company_name:
            return None, []
        canonical = standardise_company_name(request.company_name).canonical
        tables: tuple[tuple[dict[str, list[str]], MatchedBy], ...] = (
            (index.by_name, "name"),
            (index.by_former, "former_name"),
        )
        for table, how in tables:
            found = table.get(canonical, []) if canonical else []
            if len(found) == 1:
                return index.match(found[0], how), []
            if found:
                return None, [index.match(e, how) for e in found]
        return None, []

    def _applicants(
        self, persons: list[Applicant], context: list[str]
    ) -> list[tuple[dict[str, Any], str | None]]:
        """The applicants' feature rows, built as linkage builds a run's: a person_mentions
        row from the loader's ID parser, then its features (linkage.features'
        person_feature_row, which equals the run's batch); and each one's ID as shown."""
        rows = []
        for i, person in enumerate(persons):
            rid = parse_resident_id(person.id_number, self.secret)
            mention = applicant_mention(i, person, rid)
            row = person_feature_row(mention._asdict())
            if row["name_simplified"] is None:
                raise InputError(
                    f"persons[{i}].name", "no name left once standardised: type the name"
                )
            row["context"] = list(context)
            rows.append((row, rid.display))
        return rows

    def _candidate_rows(self, rows: list[dict[str, Any]]) -> list[np.ndarray]:
        """Per applicant, the run's mentions the person model's blocking rules pair them
        with; every key of the application hashed in one call."""
        keys: list[str] = []
        lookups: list[tuple[int, _Index, bool]] = []  # applicant, index, masked ones only
        for applicant, row in enumerate(rows):
            for index, (_, mine, needs_mask) in zip(self.indexed.blocks, BLOCKS, strict=True):
                key = _key(row, mine)
                if key is not None:
                    keys.append(key)
                    lookups.append((applicant, index, needs_mask and not row.get("id_masked")))
            surname = row.get("surname_pinyin")
            if surname is not None:
                for company in row.get("context") or ():
                    keys.append(f"{company}{_SEPARATOR}{surname}")
                    lookups.append((applicant, self.indexed.context, False))
        found: list[list[np.ndarray]] = [[] for _ in rows]
        hashes = _hash(np.array(keys, dtype=object))
        for (applicant, index, masked_only), wanted in zip(lookups, hashes, strict=True):
            hits = index.rows_of_hash(wanted)
            found[applicant].append(hits[self.indexed.masked[hits]] if masked_only else hits)
        return [np.unique(np.concatenate(f)) if f else _NO_ROWS for f in found]

    def _row(self, i: int) -> dict[str, Any]:
        return {c: values[i] for c, values in self.indexed.columns.items()}

    def _mention(self, i: int) -> str:
        """source:record_id:slot, after the run's directory for a wave's base; a resident ID
        in the record key masked."""
        shown = self.indexed.shown
        ref = f"{shown['source'][i]}:{shown['record_id'][i]}:{shown['slot'][i]}"
        return masked_resident_ids(ref if shown["run"][i] == "." else f"{shown['run'][i]}/{ref}")

    def _person(
        self,
        applicant: Applicant,
        row: dict[str, Any],
        shown_id: str | None,
        candidates: np.ndarray,
    ) -> PersonCandidates:
        best: dict[str, tuple[PairScore, int]] = {}
        for i in candidates.tolist():
            score = self.scorer.score(row, self._row(i))
            entity = str(self.indexed.shown["entity_id"][i])
            if entity not in best or score.match_weight > best[entity][0].match_weight:
                best[entity] = (score, i)
        token = row.get("id_token")
        shown = []
        for entity, (score, i) in best.items():
            same_id = token is not None and self.indexed.columns["id_token"][i] == token
            if score.match_probability < self.policy.candidate_threshold and not same_id:
                continue
            shown.append(
                Candidate(
                    entity_id=entity,
                    name=self.indexed.shown["name"][i],
                    id_masked=_shown_mask(self.indexed.columns["id_visible"][i]),
                    mention=self._mention(i),
                    match_probability=score.match_probability,
                    match_weight=score.match_weight,
                    evidence="identifier:id_token" if same_id else "model",
                    strong=same_id or score.match_probability >= self.policy.match_threshold,
                    levels=[
                        Level(comparison=c.comparison, level=c.level, match_weight=c.match_weight)
                        for c in score.comparisons
                    ],
                )
            )
        shown.sort(key=lambda c: (not c.strong, -c.match_weight, c.entity_id))
        return PersonCandidates(
            role=applicant.role,
            name=applicant.name,
            id_masked=_shown_mask(shown_id),
            candidates=shown[: self.policy.max_candidates],
            scored_mentions=len(candidates),
        )
