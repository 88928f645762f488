"""The alert answers, typed once for the CLI, the exports and the HTTP API: an alert as the
store keeps it (`Alert`, its list form `AlertSummary`), the evidence document
alerts/evidence.py builds (`AlertEvidence`) and each step of its review history
(`ReviewEntry`).

The models read what the store wrote; they compute nothing. They forbid fields they do not
name, so an evidence field added in evidence.py without its model here fails the tests
that read alerts back, rather than vanishing from every answer. Keys that clash with
Python or with a type name (`from`, `date`, `list`) are aliases: the JSON keeps the
stored names.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: What a reviewer may set, in the order an alert usually moves through them.
Status = Literal["new", "acknowledged", "confirmed", "dismissed"]
STATUSES: tuple[Status, ...] = ("new", "acknowledged", "confirmed", "dismissed")


class _Answer(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        serialize_by_alias=True,
        validate_by_name=True,
        validate_by_alias=True,
    )


# -- the evidence document ----------------------------------------------------------------


class EvidenceRule(_Answer):
    """The rule that raised the alert, with the law it applies."""

    id: str
    title: str
    legal_basis: str
    severity: str


class EvidenceCompany(_Answer):
    """A company as the evidence names it; `in_register` is false only for a triggering
    company no registry record joins (a doubt on the alert)."""

    entity_id: str
    name: str | None = None
    uscc: str | None = None
    industry_code: str | None = None
    region_code: str | None = None
    in_register: bool | None = None


class EvidenceTrigger(_Answer):
    """The record that opened the restriction: a punishment decision or a list entry."""

    kind: Literal["punishment", "list_entry"]
    key: str
    source: str
    record_id: str
    reference: str | None = Field(None, description="decision or case number")
    day: dt.date = Field(alias="date", description="decided or entered")
    company: EvidenceCompany | None = Field(None, description="the company it is against")
    categories: list[str] | None = None
    category_raw: str | None = None
    legal_basis: str | None = None
    agency: str | None = None
    list_name: str | None = Field(None, alias="list")
    list_raw: str | None = None
    reason: str | None = None
    authority: str | None = None
    removed: dt.date | None = None
    expires: dt.date | None = Field(None, description="the end of the management period")


class EvidencePerson(_Answer):
    """The person the alert is about; identity numbers only masked."""

    entity_id: str
    name: str | None = None
    names: list[str] = []
    id_masks: list[str] = []


class EvidenceTie(_Answer):
    """How the trigger reaches the person: as legal representative, officer, responsible
    person named on the decision, party, or by control (share and holding paths)."""

    how: str
    records: list[str]
    slot: str | None = None
    named_on_record: bool | None = None
    role: str | None = None
    tenure: list[dt.date | None] | None = Field(None, description="[start, end] of the role")
    as_of: dt.date | None = None
    share: float | None = None
    basis: str | None = None
    chain: list[str] | None = None
    paths: list[str] | None = None
    cycles_contribute: bool | None = None


class Mention(_Answer):
    """One mention of the person on a record (source:record_id:slot), its ID masked."""

    mention: str
    name: str | None = None
    id: str | None = Field(None, description="the masked resident ID shown on the record")


class LinkLevel(_Answer):
    """A comparison level of a model link and the match weight it gave."""

    comparison: str
    level: str
    match_weight: float


class IdentityLink(_Answer):
    """One merge link on the chain joining the old record's mention to the new one's."""

    from_: Mention = Field(alias="from")
    to: Mention
    evidence: str = Field(description="identifier:..., judgement:same or model")
    match_probability: float
    levels: list[LinkLevel] = []


class EvidenceIdentity(_Answer):
    """Why the person on the old record is the person on the new one."""

    old_mentions: list[Mention]
    new_mentions: list[Mention]
    ids_contradict: bool
    path: list[IdentityLink] | None = None
    weakest_probability: float | None = None
    note: str | None = None


class InScope(_Answer):
    """Why the target company is in the rule's scope: by industry, by licence, or every
    company."""

    by: str
    industry_code: str | None = None
    licence_number: str | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None


class ControlPath(_Answer):
    """How the person controls the target company: look-through share, basis, the chain
    and the holding paths in words."""

    look_through_share: float
    basis: str | None = None
    chain: list[str] = []
    paths: list[str] = []
    cycles_contribute: bool


class ObservedInOffice(_Answer):
    first: dt.date
    last: dt.date


class EvidenceTarget(_Answer):
    """The role or control that the rule restricts, where and when the person holds it."""

    company: EvidenceCompany | None
    role: str
    start: dt.date | None = None
    start_inferred: bool = False
    start_no_earlier_than: dt.date | None = None
    end: dt.date | None = None
    end_by_company: bool = False
    observed_in_office: ObservedInOffice | None = None
    company_ended_undated: bool = False
    began_before_trigger: bool | None = None
    records: list[str] = []
    in_scope: InScope | None = None
    control: ControlPath | None = None


class EvidenceWindow(_Answer):
    """The period the restriction runs: [start, end); no end is open."""

    start: dt.date
    end: dt.date | None = None
    period: str


class AlertEvidence(_Answer):
    """Everything an inspector needs to act on an alert: rule and legal basis, the
    triggering record, how it reaches the person, the identity links, the target role or
    control path, the window, and any doubt."""

    rule: EvidenceRule
    trigger: EvidenceTrigger
    person: EvidencePerson
    ties: list[EvidenceTie]
    identity: EvidenceIdentity
    target: EvidenceTarget
    window: EvidenceWindow
    doubts: list[str] = []


# -- the alert and its history ------------------------------------------------------------


class ReviewEntry(_Answer):
    """One step of an alert's history: a review, or the sweep reopening, withdrawing or
    raising it again (reviewer `veil`; a withdrawal sets no status)."""

    at: dt.datetime
    status: Status | None = None
    reviewer: str
    reason: str = ""


class AlertSummary(_Answer):
    """An alert's flat fields: what a list shows and the CSV export writes."""

    id: str
    rule: str
    severity: str
    status: Status
    active: bool
    person_id: str
    person_name: str | None = None
    role: str
    company_id: str
    company_name: str | None = None
    company_uscc: str | None = None
    region_code: str | None = None
    industry_code: str | None = None
    role_start: dt.date | None = None
    role_end: dt.date | None = None
    began_before_trigger: bool | None = None
    trigger_key: str | None = None
    trigger_kind: str | None = None
    trigger_reference: str | None = None
    trigger_date: dt.date | None = None
    window_start: dt.date | None = None
    window_end: dt.date | None = None
    match_probability: float | None = None
    doubtful: bool = False
    first_sweep: str | None = None
    last_sweep: str | None = None
    reopened_sweep: str | None = None
    withdrawn_sweep: str | None = None
    raised_at: dt.datetime | None = None
    updated_at: dt.datetime | None = Field(None, description="when the alert last changed")
    reviewer: str | None = None
    reviewed_at: dt.datetime | None = None
    reason: str | None = None


class Alert(AlertSummary):
    """An alert in full: its evidence, the digest a dismissal holds to, and its history."""

    evidence: AlertEvidence
    evidence_digest: str | None = None
    reviewed_digest: str | None = None
    history: list[ReviewEntry] = []


class AlertPage(_Answer):
    """One page of a filtered alert list and how many alerts the filters match in all."""

    total: int
    page: int
    per_page: int
    alerts: list[AlertSummary]
