"""Map one raw row of an extract to mentions and facts, or to the problems that stop it.

A row either maps completely or not at all: any problem that makes the row unusable
(missing key, unparseable date or ratio, a required mention absent) rejects the row with
every problem found, and the caller quarantines it whole. A bad identifier is not such a
problem: the mention keeps its name and the identifier is marked invalid with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from config.errors import ConfigError
from config.sources import (
    FACT_VOCABULARIES,
    Const,
    LicenceFact,
    ListEntryFact,
    MentionSpec,
    PunishmentFact,
    RoleFact,
    ShareholdingFact,
    SourceSpec,
    ValueSpec,
)
from loaders.cells import Cells, Problem, shown
from loaders.fields import clean, normalise_text, split_terms
from loaders.identifiers import (
    classify_company_identifier,
    parse_org_code,
    parse_reg_no,
    parse_resident_id,
    parse_uscc,
)
from loaders.industry import normalise_industry
from loaders.ratios import PendingHolding
from loaders.rows import (
    CompanyMention,
    FieldIssue,
    Licence,
    ListEntry,
    PersonMention,
    Punishment,
    Role,
    Shareholding,
    resident_id_fields,
)
from loaders.vocabulary import OTHER, Vocabulary

ID_FIELDS = frozenset({"id_number", "identifier", "uscc", "org_code", "reg_no"})
NAME_SEPARATORS = re.compile(r"[;；,，、|]")
COMPANY_HINT = re.compile(r"(公司|集团|厂|合作社|合伙|中心|商行|店|部|所|院|会)$|\(|（")
Made = tuple[str, str]  # (mention slot, kind)


@dataclass(slots=True)
class MappedRecord:
    record_id: str
    persons: list[PersonMention] = field(default_factory=list)
    companies: list[CompanyMention] = field(default_factory=list)
    facts: dict[str, list[Role | Punishment | ListEntry | Licence]] = field(default_factory=dict)
    issues: list[FieldIssue] = field(default_factory=list)
    inferred: list[str] = field(default_factory=list)  # readings taken from evidence
    # Shareholdings wait for their column (loaders/ratios.py): (fact, row, reading, company)
    holdings: list[PendingHolding] = field(default_factory=list)

    def fact(self, table: str, row: Role | Punishment | ListEntry | Licence) -> None:
        self.facts.setdefault(table, []).append(row)


def _company_key(out: MappedRecord, slot: str) -> tuple[str | None, str | None]:
    """Which company a holding is in, within one source: (USCC, name)."""
    for mention in out.companies:
        if mention[2] == slot:
            return mention[6], mention[3]
    return None, slot


class RowRejected(Exception):
    def __init__(self, problems: list[Problem], record_id: str | None):
        self.problems = problems
        self.record_id = record_id


class RecordMapper:
    """Maps rows of one source; holds the source's spec, vocabulary and token secret."""

    def __init__(
        self,
        name: str,
        spec: SourceSpec,
        vocabulary: Vocabulary,
        secret: bytes,
        origin: str = "sources.yaml",
    ):
        self.name = name
        self.origin = origin
        self.spec = spec
        self.vocabulary = vocabulary
        self.secret = secret
        self.kind_maps = {
            slot: {normalise_text(k).replace(" ", ""): v for k, v in m.kinds.items()}
            for slot, m in spec.mentions.items()
        }
        self._check_constants()
        self._facts: dict[
            str, Callable[[Any, Cells, dict[str, list[Made]], MappedRecord], None]
        ] = {
            "role": self._role,
            "shareholding": self._shareholding,
            "punishment": self._punishment,
            "list_entry": self._list_entry,
            "licence": self._licence,
        }

    def _check_constants(self) -> None:
        """A constant term must be one the vocabulary knows, or every row would carry it."""
        problems = []
        for i, fact in enumerate(self.spec.facts):
            for (fact_type, attr), kind in FACT_VOCABULARIES.items():
                value = getattr(fact, attr, None) if fact.type == fact_type else None
                if isinstance(value, Const) and self.vocabulary.lookup(kind, value.const) is None:
                    known = sorted(self.vocabulary.canonical_values(kind))
                    problems.append(
                        f"sources.{self.name}.facts[{i}].{attr}: unknown term "
                        f"{value.const!r}; expected one of {known}"
                    )
        if problems:
            raise ConfigError(self.origin, problems)

    # -- the whole row -------------------------------------------------------------
    def record_id(self, values: dict[str, object]) -> str:
        parts = []
        for column in self.spec.key_columns:
            part = clean(values.get(column))
            if part is None:
                problem = Problem(column, None, "missing_key", "record key is blank")
                raise RowRejected([problem], None)
            parts.append(part)
        return "|".join(parts)

    def map(self, values: dict[str, object]) -> MappedRecord:
        """Map a row; raises RowRejected with every problem found."""
        out = MappedRecord(self.record_id(values))
        cells = Cells(values, [])
        slots = {
            slot: self._mentions(slot, spec, cells, out)
            for slot, spec in self.spec.mentions.items()
        }
        for fact in self.spec.facts:
            self._facts[fact.type](fact, cells, slots, out)
        if cells.problems:
            raise RowRejected(cells.problems, out.record_id)
        return out

    # -- mentions ------------------------------------------------------------------
    def _mentions(
        self, slot: str, spec: MentionSpec, cells: Cells, out: MappedRecord
    ) -> list[Made]:
        if spec.each is None:
            made = [self._mention(slot, spec, cells, cells, out)]
        else:
            made = [
                self._mention(f"{slot}[{i}]", spec, Cells(item, cells.problems), cells, out)
                for i, item in enumerate(cells.items(spec.each))
            ]
        produced = [m for m in made if m]
        if spec.required and not produced:
            column = spec.each or spec.fields.get("name") or next(iter(spec.fields.values()))
            cells.problem(
                column,
                None,
                "missing_value",
                f"required mention '{slot}' has no name or identifier",
            )
        return produced

    def _mention(
        self, slot: str, spec: MentionSpec, item: Cells, row: Cells, out: MappedRecord
    ) -> Made | None:
        text = {f: item.text(column) for f, column in spec.fields.items()}
        if all(v is None for v in text.values()):
            return None
        kind: str | None = spec.kind if spec.kind in ("person", "company") else None
        if kind is None:
            kind = self._kind(slot, spec, item if spec.each else row, text, out)
        if kind == "person":
            out.persons.append(self._person(slot, spec, item, text, out))
        elif kind == "company":
            out.companies.append(self._company(slot, spec, item, text, out))
        else:
            return None
        return slot, kind

    def _kind(
        self,
        slot: str,
        spec: MentionSpec,
        cells: Cells,
        text: dict[str, str | None],
        out: MappedRecord,
    ) -> str | None:
        """Person or company from the kind column; inferred from the data if unclear (the
        inference is counted in the manifest)."""
        value = cells.text(spec.kind_from)
        if value is not None:
            found = self.kind_maps[slot.split("[", 1)[0]].get(value.replace(" ", ""))
            if found:
                return found
        kind = self._kind_by_shape(text, value)
        if kind is not None:
            out.inferred.append(f"kind_inferred:{slot.split('[', 1)[0]}")
            return kind
        cells.problem(
            spec.kind_from,
            value,
            "unknown_kind",
            f"cannot tell whether '{slot}' is a person or a company",
        )
        return None

    def _kind_by_shape(self, text: dict[str, str | None], value: str | None) -> str | None:
        name = text.get("name")
        if name and COMPANY_HINT.search(name):
            return "company"
        ident = text.get("identifier") or text.get("id_number") or text.get("uscc")
        if ident:
            # An 18-digit resident ID has a USCC's shape: the check characters decide.
            person = parse_resident_id(ident, self.secret).status in ("valid", "masked")
            company = parse_uscc(ident).status == "valid"
            if person != company:
                return "person" if person else "company"
            if classify_company_identifier(ident) in ("org_code", "reg_no"):
                return "company"
        if name and len(name) <= 4 and value is None:
            return "person"
        return None

    def _issue(
        self, out: MappedRecord, slot: str, field_name: str, raw: object, reason: str | None
    ) -> None:
        out.issues.append(
            FieldIssue(
                source=self.name,
                record_id=out.record_id,
                slot=slot,
                field=field_name,
                raw_value=shown(raw, is_id=field_name in ID_FIELDS),
                # every caller passes a reason; an identifier marked invalid always has one
                reason=reason or "invalid",
            )
        )

    def _person(
        self,
        slot: str,
        spec: MentionSpec,
        item: Cells,
        text: dict[str, str | None],
        out: MappedRecord,
    ) -> PersonMention:
        id_field = "id_number" if "id_number" in spec.fields else "identifier"
        rid = parse_resident_id(text.get(id_field), self.secret)
        if rid.status == "invalid":
            self._issue(out, slot, "id_number", item.raw(spec.fields[id_field]), rid.reason)
        name_raw = item.raw(spec.fields.get("name"))
        return PersonMention(
            source=self.name,
            record_id=out.record_id,
            slot=slot,
            name=text.get("name"),
            name_raw=None if name_raw is None else str(name_raw),
            **resident_id_fields(rid),
            birth_date=rid.birth_date,
            sex=rid.sex,
            region_code=rid.region_code,
            phone=text.get("phone"),
            address=text.get("address"),
        )

    def _company(
        self,
        slot: str,
        spec: MentionSpec,
        item: Cells,
        text: dict[str, str | None],
        out: MappedRecord,
    ) -> CompanyMention:
        ids: dict[str, str] = {}
        for f in ("uscc", "org_code", "reg_no", "identifier"):
            value = text.get(f)
            if value is None:
                continue
            shape = classify_company_identifier(value)
            target = f if f != "identifier" and shape in ("unknown", f) else shape
            ids.setdefault("uscc" if target == "unknown" else target, value)
        uscc = parse_uscc(ids.get("uscc"))
        org = parse_org_code(ids.get("org_code"))
        reg = parse_reg_no(ids.get("reg_no"))
        for field_name, parsed in (("uscc", uscc), ("org_code", org), ("reg_no", reg)):
            if parsed.status == "invalid":
                self._issue(out, slot, field_name, ids.get(field_name), parsed.reason)
        org_value, org_status = org.value, org.status
        if uscc.status == "valid" and org.status == "missing":
            org_value, org_status = uscc.org_code, "valid"
        former = text.get("former_names")
        former_names = (
            [normalise_text(n) for n in NAME_SEPARATORS.split(former) if n.strip()]
            if former
            else []
        )
        industry = normalise_industry(text.get("industry_code"))
        if industry.problem:
            self._issue(
                out,
                slot,
                "industry_code",
                item.raw(spec.fields.get("industry_code")),
                industry.problem,
            )
        if industry.inferred:
            out.inferred.append(f"{industry.inferred}:{spec.fields['industry_code']}")
        name_raw = item.raw(spec.fields.get("name"))
        return CompanyMention(
            source=self.name,
            record_id=out.record_id,
            slot=slot,
            name=text.get("name"),
            name_raw=None if name_raw is None else str(name_raw),
            former_names=former_names,
            uscc=uscc.value,
            uscc_status=uscc.status,
            org_code=org_value,
            org_code_status=org_status,
            reg_no=reg.value,
            reg_no_status=reg.status,
            region_code=uscc.region_code,
            industry_code=industry.value,
            established=item.date(spec.fields.get("established")),
            address=text.get("address"),
            status=text.get("status"),
            registered_capital=item.number(spec.fields.get("registered_capital")),
            ended=item.date(spec.fields.get("ended")),
        )

    # -- vocabulary-backed values ------------------------------------------------------
    def _terms(
        self,
        kind: str,
        spec: ValueSpec | None,
        cells: Cells,
        out: MappedRecord,
        slot: str,
        required: bool = True,
    ) -> tuple[tuple[str, ...], str | None]:
        """Canonical terms for a vocabulary-backed value, and the raw text it came from.

        Compound cells (罚款；没收违法所得, 董事兼总经理) map part by part; a term the
        vocabulary does not know becomes `other` and is reported as a field issue.
        """
        if spec is None:
            return (), None
        if isinstance(spec, Const):
            return self.vocabulary.lookup(kind, spec.const) or (), spec.const
        raw = cells.text(spec, required=required)
        if raw is None:
            return (), None
        found = self.vocabulary.lookup(kind, raw)
        for parts in (split_terms(raw), raw.split("兼")):
            if found is None and len(parts) > 1:
                terms = [self.vocabulary.lookup(kind, p) for p in parts]
                if all(terms):
                    found = tuple(dict.fromkeys(t for p in terms for t in p or ()))
        if found is None:
            self._issue(out, slot, spec, raw, "unknown_term")
            found = (OTHER,)
        return found, raw

    # -- facts: one method per fact type ---------------------------------------------------
    @staticmethod
    def _one(slots: dict[str, list[Made]], slot: str | None) -> Made | None:
        made = slots.get(slot) if slot else None
        return made[0] if made else None

    def _role(
        self, fact: RoleFact, cells: Cells, slots: dict[str, list[Made]], out: MappedRecord
    ) -> None:
        roles, raw = self._terms("roles", fact.role, cells, out, fact.person)
        start, end = cells.date(fact.valid_from), cells.date(fact.valid_to)
        seen = cells.date(fact.observed_on)
        person, company = self._one(slots, fact.person), self._one(slots, fact.company)
        if person and company:
            for role in roles:
                out.fact(
                    "roles",
                    Role(
                        source=self.name,
                        record_id=out.record_id,
                        person_slot=person[0],
                        company_slot=company[0],
                        role=role,
                        role_raw=raw,
                        valid_from=start,
                        valid_to=end,
                        observed_on=seen,
                    ),
                )

    def _shareholding(
        self, fact: ShareholdingFact, cells: Cells, slots: dict[str, list[Made]], out: MappedRecord
    ) -> None:
        reading = cells.ratio_reading(fact.ratio)
        capital = cells.number(fact.subscribed_capital)
        start, end = cells.date(fact.valid_from), cells.date(fact.valid_to)
        holder, company = self._one(slots, fact.holder), self._one(slots, fact.company)
        if holder and company:
            row = Shareholding(
                source=self.name,
                record_id=out.record_id,
                holder_slot=holder[0],
                holder_kind=holder[1],
                company_slot=company[0],
                ratio=None,  # read with the whole column (loaders/ratios.py)
                subscribed_capital=capital,
                valid_from=start,
                valid_to=end,
            )
            out.holdings.append((fact, row, reading, _company_key(out, company[0])))

    def _punishment(
        self, fact: PunishmentFact, cells: Cells, slots: dict[str, list[Made]], out: MappedRecord
    ) -> None:
        number = cells.text(fact.decision_number, required=True)
        categories, raw = self._terms(
            "punishment_categories", fact.category, cells, out, fact.party
        )
        decided = cells.date(fact.decision_date, required=True)
        fine = cells.number(fact.fine_amount)
        responsible = [s for s, _ in slots.get(fact.responsible, [])] if fact.responsible else []
        party = self._one(slots, fact.party)
        if party:
            out.fact(
                "punishments",
                Punishment(
                    source=self.name,
                    record_id=out.record_id,
                    decision_number=number,
                    party_slot=party[0],
                    party_kind=party[1],
                    responsible_slots=responsible,
                    categories=list(categories),
                    category_raw=raw,
                    decision_date=decided,
                    agency=cells.text(fact.agency),
                    legal_basis=cells.text(fact.legal_basis),
                    fine_amount=fine,
                ),
            )

    def _list_entry(
        self, fact: ListEntryFact, cells: Cells, slots: dict[str, list[Made]], out: MappedRecord
    ) -> None:
        lists, raw = self._terms("lists", fact.list, cells, out, fact.party)
        entered = cells.date(fact.entered, required=True)
        removed = cells.date(fact.removed)
        expires = cells.date(fact.expires)
        if expires is not None and entered is not None and expires <= entered:
            # A management period that ends before it starts is a typo, not a reason to
            # drop a ban: the entry is kept, standing until removed, and the doubt counted.
            self._issue(
                out, fact.party, "expires", cells.raw(fact.expires), "expires_not_after_entered"
            )
            expires = None
        reason, authority = cells.text(fact.reason), cells.text(fact.authority)
        case_number = cells.text(fact.case_number)
        party = self._one(slots, fact.party)
        if party:
            for name in lists:
                out.fact(
                    "list_entries",
                    ListEntry(
                        source=self.name,
                        record_id=out.record_id,
                        list=name,
                        list_raw=raw,
                        party_slot=party[0],
                        party_kind=party[1],
                        entered=entered,
                        removed=removed,
                        expires=expires,
                        reason=reason,
                        authority=authority,
                        case_number=case_number,
                    ),
                )

    def _licence(
        self, fact: LicenceFact, cells: Cells, slots: dict[str, list[Made]], out: MappedRecord
    ) -> None:
        number = cells.text(fact.licence_number, required=True)
        start, end = cells.date(fact.valid_from), cells.date(fact.valid_to)
        issued = cells.date(fact.issued)
        terms, raw = self._terms(
            "licence_statuses", fact.status, cells, out, fact.holder, required=False
        )
        holder = self._one(slots, fact.holder)
        if holder:
            out.fact(
                "licences",
                Licence(
                    source=self.name,
                    record_id=out.record_id,
                    licence_number=number,
                    holder_slot=holder[0],
                    valid_from=start,
                    valid_to=end,
                    status=terms[0] if terms else None,
                    status_raw=raw,
                    scope=cells.text(fact.scope),
                    issued=issued,
                ),
            )
