"""The sources.yaml schema: how one agency extract becomes mentions and facts.

Adding an agency means adding an entry here in YAML, never code. The schema is strict
(unknown keys are errors) so that a typo in a mapping fails loudly instead of silently
dropping a column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from config.errors import ConfigError
from config.validated import Strict

EntityKind = Literal["person", "company"]

PERSON_FIELDS = frozenset({"name", "identifier", "id_number", "phone", "address"})
COMPANY_FIELDS = frozenset(
    {
        "name",
        "identifier",
        "uscc",
        "org_code",
        "reg_no",
        "former_names",
        "industry_code",
        "established",
        "address",
        "status",
        "registered_capital",
        "ended",  # the day the company was deregistered or its licence revoked
    }
)


class Const(Strict):
    """A fixed value for every row of the extract, e.g. `role: {const: legal_rep}`."""

    const: str


# A value comes from a column (plain string: the column's header) or is a constant.
ValueSpec = str | Const


class MentionSpec(Strict):
    """One slot: a place in a record where a person or a company appears."""

    kind: EntityKind | Literal["infer"] | None = Field(
        None,
        description="person, company, or infer: no column says, so each mention is told by "
        "its name (company words) and identifier shape, and counted as inferred",
    )
    kind_from: str | None = Field(None, description="column whose value decides the kind")
    kinds: dict[str, EntityKind] = Field(default_factory=dict, description="raw value -> kind")
    each: str | None = Field(
        None, description="column holding a JSON list of objects; one mention per item"
    )
    fields: dict[str, str] = Field(description="mention field -> column (or key in each item)")
    required: bool = Field(True, description="a row without this mention is quarantined")

    @model_validator(mode="after")
    def _check(self) -> MentionSpec:
        if (self.kind is None) == (self.kind_from is None):
            raise ValueError("give exactly one of `kind` or `kind_from`")
        if self.kind_from is not None and not self.kinds:
            raise ValueError("`kind_from` needs a `kinds` map from raw values to person/company")
        allowed = {
            "person": PERSON_FIELDS,
            "company": COMPANY_FIELDS,
            "infer": PERSON_FIELDS | COMPANY_FIELDS,
            None: PERSON_FIELDS | COMPANY_FIELDS,
        }[self.kind]
        unknown = sorted(set(self.fields) - allowed)
        if unknown:
            raise ValueError(
                f"unknown mention field(s) {unknown}; expected some of {sorted(allowed)}"
            )
        if "name" not in self.fields and not {"identifier", "id_number", "uscc"} & set(self.fields):
            raise ValueError("a mention needs a `name` field or an identifier field")
        return self

    def possible_kinds(self) -> set[str]:
        if self.kind == "infer":
            return {"person", "company"}
        return {self.kind} if self.kind else set(self.kinds.values())


class RoleFact(Strict):
    type: Literal["role"]
    person: str
    company: str
    role: ValueSpec
    valid_from: str | None = None
    valid_to: str | None = None
    observed_on: str | None = Field(
        None,
        description="date column of a dated record (licence, decision, filing) that shows "
        "the person in the role on that day",
    )


class ShareholdingFact(Strict):
    type: Literal["shareholding"]
    holder: str
    company: str
    ratio: str
    ratio_scale: Literal["auto", "percent", "fraction"] = "auto"
    subscribed_capital: str | None = None
    valid_from: str | None = None
    valid_to: str | None = None


class PunishmentFact(Strict):
    type: Literal["punishment"]
    party: str
    responsible: str | None = None
    decision_number: str
    category: ValueSpec
    decision_date: str
    agency: str | None = None
    legal_basis: str | None = None
    fine_amount: str | None = None


class ListEntryFact(Strict):
    type: Literal["list_entry"]
    list: ValueSpec
    party: str
    entered: str
    removed: str | None = None
    expires: str | None = Field(
        None,
        description="date column where the list's management period ends (管理期限至): "
        "the entry stands until then unless it is removed earlier",
    )
    reason: str | None = None
    authority: str | None = None
    case_number: str | None = None


class LicenceFact(Strict):
    type: Literal["licence"]
    holder: str
    licence_number: str
    valid_from: str | None = None
    valid_to: str | None = None
    status: ValueSpec | None = None
    scope: str | None = None
    issued: str | None = None


Fact = Annotated[
    RoleFact | ShareholdingFact | PunishmentFact | ListEntryFact | LicenceFact,
    Field(discriminator="type"),
]

# Which slot of each fact type must hold which kind of entity.
FACT_SLOT_KINDS: dict[str, dict[str, set[str]]] = {
    "role": {"person": {"person"}, "company": {"company"}},
    "shareholding": {"holder": {"person", "company"}, "company": {"company"}},
    "punishment": {"party": {"person", "company"}, "responsible": {"person"}},
    "list_entry": {"party": {"person", "company"}},
    "licence": {"holder": {"company"}},
}
# Fact values that are read through a vocabulary, and the vocabulary that reads them.
FACT_VOCABULARIES: dict[tuple[str, str], str] = {
    ("role", "role"): "roles",
    ("punishment", "category"): "punishment_categories",
    ("list_entry", "list"): "lists",
    ("licence", "status"): "licence_statuses",
}


class SourceSpec(Strict):
    """One agency extract: where it is, how to read it, and what its columns mean."""

    description: str = ""
    agency: str = ""
    files: str = Field(
        description="glob relative to the sources file's directory, or an absolute glob"
    )
    allow_outside: bool = Field(
        False,
        description="let `files` match files outside the sources file's directory; off, a "
        "glob that reaches outside it (../, an absolute path elsewhere) is refused",
    )
    format: Literal["csv", "xlsx", "jsonl", "parquet"]
    encoding: Literal["utf-8", "gbk", "gb18030", "detect"] = "utf-8"
    delimiter: str = Field(",", description="one character, not a quote or a line break")
    sheet: str | int | list[str | int] | None = Field(
        None,
        description="xlsx only: the sheet to read (name, or index from 0; the first if not "
        'given), a list of sheets, or "*" for every worksheet holding data; several sheets '
        "are read as one source, each row keeping its sheet in its provenance",
    )
    record_key: str | list[str]
    mentions: dict[str, MentionSpec]
    facts: list[Fact] = Field(default_factory=list)
    vocabulary: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1 or value in '"\r\n':
            raise ValueError(
                f"delimiter must be one character other than a quote or a line break, got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _check_sheet(self) -> SourceSpec:
        if self.sheet is None:
            return self
        if self.format != "xlsx":
            raise ValueError(f"sheet: applies to xlsx sources only, this one is {self.format}")
        if isinstance(self.sheet, list):
            if not self.sheet:
                raise ValueError('sheet: an empty list; give sheets, or "*" for every sheet')
            if len(set(self.sheet)) != len(self.sheet):
                raise ValueError(f"sheet: a sheet is listed twice in {self.sheet}")
        return self

    @property
    def key_columns(self) -> list[str]:
        return [self.record_key] if isinstance(self.record_key, str) else list(self.record_key)

    @model_validator(mode="after")
    def _check_facts(self) -> SourceSpec:
        problems = []
        for i, fact in enumerate(self.facts):
            for attr, kinds in FACT_SLOT_KINDS[fact.type].items():
                slot = getattr(fact, attr)
                if slot is None:
                    continue
                if slot not in self.mentions:
                    problems.append(
                        f"facts[{i}] ({fact.type}).{attr}: slot '{slot}' is not among "
                        f"mentions {sorted(self.mentions)}"
                    )
                elif not self.mentions[slot].possible_kinds() <= kinds:
                    problems.append(
                        f"facts[{i}] ({fact.type}).{attr}: slot '{slot}' may be "
                        f"{sorted(self.mentions[slot].possible_kinds())}, expected {sorted(kinds)}"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Limits(Strict):
    """Bounds on one value: longer is not a name or a text but a broken or hostile cell,
    and Neo4j cannot index a property of more than about 8 kB."""

    name_chars: int = Field(1_000, gt=0, description="a column mapped to a mention's name")
    text_chars: int = Field(100_000, gt=0, description="any other value")


class SourcesFile(Strict):
    version: Literal[1] = 1
    limits: Limits = Field(default_factory=Limits)
    sources: dict[str, SourceSpec]


def _format_errors(err: ValidationError) -> list[str]:
    problems = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"] if not str(p).endswith("Fact"))
        problems.append(f"{where or '(top level)'}: {e['msg']}")
    return problems


def parse_sources(data: object, path: str) -> SourcesFile:
    """Validate already-parsed YAML; raise ConfigError naming the file, entry and key."""
    try:
        return SourcesFile.model_validate(data)
    except ValidationError as err:
        raise ConfigError(path, _format_errors(err)) from None


def load_sources(path: Path) -> SourcesFile:
    """Read and validate a sources.yaml."""
    if not path.is_file():
        raise ConfigError(str(path), ["file not found: expected a sources YAML file"])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(str(path), [f"not valid YAML: {err}"]) from None
    return parse_sources(data, str(path))
