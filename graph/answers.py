"""The answers graph.queries gives, as typed models: the CLI renders them, the HTTP API
returns them, and OpenAPI documents them from the field descriptions here.

Fields that hold an identifier carry a `Sensitive` marker in their annotation, so the
service can decide in one place, per caller, what to show of each (the graph knows what a
value is; it does not know who asks). A model's JSON (`model_dump(mode="json")`) is what
`--json` prints: dates as ISO text.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class Sensitive(StrEnum):
    """What kind of identifier a field holds."""

    #: A resident ID's masked display (`110101********123X`, `******19900101****`).
    ID_MASK = "id_mask"
    #: An agency's record key: whatever the extract keyed its rows by, which may embed a
    #: registration number, a customs code or, in someone else's extract, an ID number.
    RECORD_ID = "record_id"


def _listed(value: Any) -> Any:
    """A list property Neo4j left unset (an empty list after a bulk import) is empty."""
    return [] if value is None else value


Texts = Annotated[list[str], BeforeValidator(_listed)]
Day = Annotated[date | None, Field(description="YYYY-MM-DD; null when unknown")]
EntityId = Annotated[str, Field(description="veil entity ID: C or P + 12 hex digits")]
Ratio = Annotated[float | None, Field(description="fraction of the capital, 0..1")]
RecordId = Annotated[
    str | None,
    Sensitive.RECORD_ID,
    Field(
        description="the source's record key; it may embed an identifier, so a caller "
        "that may not see identifiers gets null"
    ),
]
RecordIds = Annotated[
    Texts,
    Sensitive.RECORD_ID,
    Field(
        description="the record keys behind it, one per source entry; empty for a caller "
        "that may not see identifiers"
    ),
]


class Answer(BaseModel):
    """An answer: immutable, and only the fields it declares."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Company(Answer):
    """A company entity as the graph holds it."""

    entity_id: EntityId
    name: str = Field(description="the name most of its records agree on")
    uscc: str | None = Field(description="Unified Social Credit Code (public)")
    names: Texts = Field(description="every name its records give it")
    former_names: Texts = Field(description="former names (曾用名)")
    industry_code: str | None = Field(description="GB/T 4754-2017 industry code")
    region_code: str | None = Field(description="6-digit administrative division code")
    established: Day
    status: str | None = Field(description="registry status as written (存续, 注销, ...)")
    registered_capital: float | None = Field(description="registered capital in 万元")
    controller_basis: str | None = Field(
        description="how `veil graph control` found its actual controller"
    )
    control_as_of: Day = Field(description="the day `veil graph control` computed for")
    no_identifiable_controller: bool | None = Field(
        description="`veil graph control` found nobody who controls it"
    )


class Person(Answer):
    """A person entity: never a full resident ID, never a birth date (a 6+4 mask and the
    birth date side by side are the whole number)."""

    entity_id: EntityId
    name: str = Field(description="the name most of its records agree on")
    names: Texts = Field(description="every name its records give the person")
    id_masks: Annotated[
        Texts,
        Sensitive.ID_MASK,
        Field(description="masked resident IDs its records show (110101********123X)"),
    ]
    sex: str | None = Field(description="M or F, as the ID states")
    birth_year: int | None = Field(description="the year of birth, as the ID states")


class RoleTenure(Person):
    """A person in a role at the company, with the tenure's dates."""

    role: str = Field(description="legal_rep, or the canonical officer role (director, ...)")
    valid_from: Day = Field(description="first day in the role; null when unknown")
    valid_to: Day = Field(description="first day no longer in it; null while in office")
    sources: Texts = Field(description="the sources that state the tenure")
    record_ids: RecordIds


class Shareholder(Answer):
    """A direct holding in the company on the day asked."""

    entity_id: EntityId
    name: str | None
    kind: Literal["person", "company"]
    ratio: Ratio
    subscribed_capital: float | None = Field(description="subscribed capital in 万元")
    valid_from: Day
    source: str
    record_id: RecordId


class Node(Answer):
    """A person or company on a path or chain."""

    entity_id: EntityId
    name: str | None


class HoldingPath(Answer):
    """One simple ownership path from a person to the company: the figures behind a share."""

    nodes: list[Node] = Field(description="the person, the companies between, the company")
    ratios: list[float] = Field(
        description="per edge: the share nodes[i] holds in nodes[i + 1] (one fewer than nodes)"
    )
    share: float = Field(description="the product of the ratios")


class BeneficialOwner(Answer):
    """A natural person with at least the beneficial-owner threshold of look-through equity."""

    entity_id: EntityId
    name: str | None
    look_through_share: float = Field(description="summed over every ownership path")
    cycles_contribute: bool = Field(description="circular holdings add beyond the paths")
    paths: list[HoldingPath] = Field(description="largest first, at most control.max_paths")


class Controller(Answer):
    """The actual controller (实际控制人) and how it was found."""

    basis: Literal["majority_chain", "look_through"] = Field(
        description="majority_chain: more than half at every link up to a person; "
        "look_through: the single largest look-through holder at or above the threshold"
    )
    entity_id: EntityId
    name: str | None
    look_through_share: float | None
    chain: list[Node] = Field(description="the majority chain, from the company up to the person")
    cycles_contribute: bool
    paths: list[HoldingPath]


class NoController(Answer):
    """Nobody controls the company by holdings: why not."""

    basis: Literal["none"]
    note: str


ActualController = Annotated[Controller | NoController, Field(discriminator="basis")]


class Punishment(Answer):
    """An administrative punishment on, or naming, an entity of the answer."""

    on: EntityId = Field(description="the entity it is on or names")
    on_name: str | None
    via: str = Field(description="party, responsible, or the slot that names the person")
    decision_number: str | None = Field(description="行政处罚决定书文号 (public)")
    decision_date: Day
    categories: Texts = Field(description="canonical punishment categories")
    agency: str | None
    legal_basis: str | None
    source: str
    record_id: RecordId


class ListEntry(Answer):
    """An entry on a list (judgment defaulters, serious violations) of an entity of the answer."""

    on: EntityId = Field(description="the entity it lists or names")
    on_name: str | None
    via: str = Field(description="party, or the slot that names the person")
    list: str = Field(description="the canonical list: judgment_defaulter, serious_violation")
    entered: Day
    removed: Day
    expires: Day = Field(description="the management period's end (管理期限至)")
    listed_on_date: bool = Field(description="still listed on the day asked")
    reason: str | None
    authority: str | None
    case_number: str | None = Field(description="the decision's or case's number (public)")
    source: str
    record_id: RecordId


class ControlAnswer(Answer):
    """Who controls a company on a day (`veil controls`)."""

    company: Company
    as_of: date = Field(description="the day answered for")
    legal_representatives: list[RoleTenure] = Field(description="in office on as_of")
    officers: list[RoleTenure] = Field(description="in office on as_of")
    shareholders: list[Shareholder] = Field(description="direct holdings in force, largest first")
    beneficial_owners: list[BeneficialOwner]
    actual_controller: ActualController
    punishments: list[Punishment] = Field(
        description="decided by as_of, on the company and every person above"
    )
    list_entries: list[ListEntry] = Field(
        description="entered by as_of, on the company and every person above"
    )


class FootprintPerson(Person):
    """The person a footprint is about."""

    sources: Texts = Field(description="the sources that mention the person")


class FootprintRole(Answer):
    """A role the person holds or held at a company."""

    entity_id: EntityId
    name: str | None
    uscc: str | None
    role: str
    valid_from: Day
    valid_to: Day
    sources: Texts
    record_ids: RecordIds


class FootprintHolding(Answer):
    """A direct holding of the person in a company, at any time."""

    entity_id: EntityId
    name: str | None
    uscc: str | None
    ratio: Ratio
    valid_from: Day
    valid_to: Day
    source: str
    record_id: RecordId


class ControlRelation(Answer):
    """A company the person controls or beneficially owns, as `veil graph control` found."""

    entity_id: EntityId
    name: str | None
    relation: Literal["CONTROLS", "BENEFICIAL_OWNER_OF"]
    share: float | None = Field(description="look-through share")
    basis: str | None = Field(description="the controller's basis (CONTROLS only)")
    as_of: Day = Field(description="the day the control run computed for")
    paths: Texts = Field(description="the holding paths, as `P… -0.6-> C… = 0.6` text")


class IndirectCompany(Answer):
    """A company the person reaches through holding companies."""

    entity_id: EntityId
    name: str | None
    hops: int = Field(description="holdings from the person to the company")


class Footprint(Answer):
    """Every company a person is or was tied to (`veil footprint`)."""

    person: FootprintPerson
    roles: list[FootprintRole]
    holdings: list[FootprintHolding]
    control: list[ControlRelation]
    indirect: list[IndirectCompany]
    punishments: list[Punishment] = Field(
        description="on the person and on every company of the footprint"
    )
    list_entries: list[ListEntry] = Field(
        description="on the person and on every company of the footprint"
    )


class RelatedParty(Answer):
    """A related company that carries punishments or list entries."""

    entity_id: EntityId
    name: str | None
    distance: int = Field(description="relationships from the company")
    path: list[str] = Field(description="entity IDs from the company to this one")
    punishments: list[Punishment]
    list_entries: list[ListEntry]


class RelatedPartyRisk(Answer):
    """Punishments and list entries around a company (`veil risk`)."""

    company: EntityId
    hops: int = Field(description="relationships followed, over holdings and control")
    related_companies: int = Field(description="companies within reach")
    related: list[RelatedParty] = Field(description="those with punishments or list entries")


class CompanyHit(Answer):
    """A company a search found, and how."""

    match: Literal["code", "name", "sound", "partial"] = Field(
        description="code: its USCC or entity ID; name: a form of one of its names or "
        "former names (simplified or traditional, bracketed region, romanised); sound: its "
        "trade name sounds the same (in the query's region, when it names one); partial: "
        "the query is part of one of its names"
    )
    company: Company


class CompanySearch(Answer):
    """Companies found by a name or code, exact matches first (`GET /companies?q=`)."""

    total: int = Field(description="companies found (within the caller's scope)")
    page: int = Field(description="this page, from 1")
    per_page: int
    hits: list[CompanyHit] = Field(description="by match (code, name, sound, partial), then name")
