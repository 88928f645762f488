"""Map one raw row of an extract to mentions and facts, or to the problems that stop it.

A row either maps completely or not at all: any problem that makes the row unusable
(missing key, unparseable date or ratio, a required mention absent) returns problems
and no output, so the caller quarantines the row whole. A bad identifier is not such a
problem: the mention keeps its name and the identifier is marked invalid with a reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from config.sources import Const, MentionSpec, SourceSpec, ValueSpec
from loaders.fields import (
    FieldParseError,
    clean,
    normalise_text,
    parse_date,
    parse_json_list,
    parse_number,
    parse_ratio,
    split_terms,
)
from loaders.identifiers import (
    classify_company_identifier,
    mask_id,
    parse_org_code,
    parse_reg_no,
    parse_resident_id,
    parse_uscc,
)
from loaders.vocabulary import OTHER, Vocabulary

ID_FIELDS = frozenset({"id_number", "identifier", "uscc", "org_code", "reg_no"})
NAME_SEPARATORS = re.compile(r"[;；,，、|]")
# Words that mean "no end date" in validity columns (a licence valid 长期).
OPEN_ENDED = frozenset({"长期", "长期有效", "永久", "永久有效", "无固定期限"})
COMPANY_HINT = re.compile(r"(公司|集团|厂|合作社|合伙|中心|商行|店|部|所|院|会)$|\(|（")


@dataclass(slots=True)
class Problem:
    """Why a row cannot be used; becomes one quarantine row."""

    field: str | None
    raw_value: str | None
    reason: str
    detail: str = ""


@dataclass(slots=True)
class MappedRecord:
    record_id: str
    persons: list[tuple] = field(default_factory=list)
    companies: list[tuple] = field(default_factory=list)
    facts: dict[str, list[tuple]] = field(default_factory=dict)
    issues: list[tuple] = field(default_factory=list)


class RowRejected(Exception):
    def __init__(self, problems: list[Problem], record_id: str | None):
        self.problems = problems
        self.record_id = record_id


def _raw_text(value: object, column: str | None = None, is_id: bool = False) -> str | None:
    """A raw value as it may be shown in quarantine: identity numbers only masked."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return mask_id(text) if is_id else text[:500]


class RecordMapper:
    """Maps rows of one source; holds the source's spec, vocabulary and token secret."""

    def __init__(self, name: str, spec: SourceSpec, vocabulary: Vocabulary, secret: bytes):
        self.name = name
        self.spec = spec
        self.vocabulary = vocabulary
        self.secret = secret
        self.key_columns = spec.key_columns
        self.kind_maps = {
            slot: {normalise_text(k).replace(" ", ""): v for k, v in m.kinds.items()}
            for slot, m in spec.mentions.items()
        }

    # -- record key --------------------------------------------------------------
    def record_id(self, values: dict[str, object]) -> str:
        parts = []
        for column in self.key_columns:
            part = clean(values.get(column))
            if part is None:
                raise RowRejected(
                    [
                        Problem(
                            column,
                            _raw_text(values.get(column)),
                            "missing_key",
                            "record key is blank",
                        )
                    ],
                    None,
                )
            parts.append(part)
        return "|".join(parts)

    # -- the whole row -------------------------------------------------------------
    def map(self, values: dict[str, object]) -> MappedRecord:
        """Map a row; raises RowRejected with every problem found."""
        record_id = self.record_id(values)
        out = MappedRecord(record_id)
        problems: list[Problem] = []
        slots: dict[str, list[tuple[str, str]]] = {}  # slot -> [(mention slot, kind)]
        for slot, mention in self.spec.mentions.items():
            slots[slot] = self._mentions(slot, mention, values, out, problems)
        for fact in self.spec.facts:
            self._fact(fact, values, slots, out, problems)
        if problems:
            raise RowRejected(problems, record_id)
        return out

    # -- mentions ------------------------------------------------------------------
    def _mentions(
        self,
        slot: str,
        spec: MentionSpec,
        values: dict[str, object],
        out: MappedRecord,
        problems: list[Problem],
    ) -> list[tuple[str, str]]:
        if spec.each is None:
            made = self._mention(slot, spec, values, values, out, problems)
            produced = [made] if made else []
        else:
            try:
                items = parse_json_list(values.get(spec.each))
            except FieldParseError as err:
                problems.append(
                    Problem(spec.each, _raw_text(values.get(spec.each)), err.reason, err.detail)
                )
                return []
            produced = []
            for i, item in enumerate(items):
                made = self._mention(f"{slot}[{i}]", spec, item, values, out, problems)
                if made:
                    produced.append(made)
        if spec.required and not produced:
            column = spec.each or spec.fields.get("name") or next(iter(spec.fields.values()))
            problems.append(
                Problem(
                    column,
                    None,
                    "missing_value",
                    f"required mention '{slot}' has no name or identifier",
                )
            )
        return produced

    def _mention(
        self,
        slot: str,
        spec: MentionSpec,
        item: dict[str, object],
        row: dict[str, object],
        out: MappedRecord,
        problems: list[Problem],
    ) -> tuple[str, str] | None:
        raw = {f: item.get(col) for f, col in spec.fields.items()}
        text = {f: clean(v) for f, v in raw.items()}
        if all(v is None for v in text.values()):
            return None
        kind = spec.kind or self._kind(slot, spec, item if spec.each else row, text, problems)
        if kind is None:
            return None
        if kind == "person":
            out.persons.append(self._person(slot, raw, text, out))
        else:
            out.companies.append(self._company(slot, raw, text, spec, out, problems))
        return slot, kind

    def _kind(
        self,
        slot: str,
        spec: MentionSpec,
        values: dict[str, object],
        text: dict[str, str | None],
        problems: list[Problem],
    ) -> str | None:
        """Decide person or company from the kind column; infer from the data if unclear."""
        base = slot.split("[", 1)[0]
        value = clean(values.get(spec.kind_from)) if spec.kind_from else None
        if value is not None:
            found = self.kind_maps[base].get(value.replace(" ", ""))
            if found:
                return found
        name = text.get("name")
        if name and COMPANY_HINT.search(name):
            return "company"
        ident = text.get("identifier") or text.get("id_number") or text.get("uscc")
        if ident:
            shape = classify_company_identifier(ident)
            if shape in ("uscc", "org_code"):
                return "company"
            if parse_resident_id(ident, self.secret).status in ("valid", "masked"):
                return "person"
            if shape == "reg_no":
                return "company"
        if name and len(name) <= 4 and value is None:
            return "person"
        problems.append(
            Problem(
                spec.kind_from,
                _raw_text(value),
                "unknown_kind",
                f"cannot tell whether '{slot}' is a person or a company",
            )
        )
        return None

    def _issue(
        self, out: MappedRecord, slot: str, field_name: str, raw: object, reason: str | None
    ) -> None:
        out.issues.append(
            (
                self.name,
                out.record_id,
                slot,
                field_name,
                _raw_text(raw, is_id=field_name in ID_FIELDS),
                reason,
            )
        )

    def _person(
        self, slot: str, raw: dict[str, object], text: dict[str, str | None], out: MappedRecord
    ) -> tuple:
        name = text.get("name")
        id_field = "id_number" if "id_number" in raw else "identifier"
        rid = parse_resident_id(text.get(id_field), self.secret)
        if rid.status == "invalid":
            self._issue(out, slot, "id_number", raw.get(id_field), rid.reason)
        name_raw = raw.get("name")
        return (
            self.name,
            out.record_id,
            slot,
            name,
            None if name_raw is None else str(name_raw),
            rid.status,
            rid.kind,
            rid.token,
            rid.display,
            rid.visible_prefix,
            rid.visible_suffix,
            rid.birth_date,
            rid.sex,
            rid.region_code,
            text.get("phone"),
            text.get("address"),
        )

    def _company(
        self,
        slot: str,
        raw: dict[str, object],
        text: dict[str, str | None],
        spec: MentionSpec,
        out: MappedRecord,
        problems: list[Problem],
    ) -> tuple:
        ids: dict[str, str] = {}
        for f in ("uscc", "org_code", "reg_no", "identifier"):
            value = text.get(f)
            if value is None:
                continue
            shape = classify_company_identifier(value)
            target = f if f != "identifier" and shape in ("unknown", f) else shape
            if target == "unknown":
                target = "uscc"
            ids.setdefault(target, value)
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
        established = self._date(spec.fields.get("established"), raw.get("established"), problems)
        capital = self._number(
            spec.fields.get("registered_capital"), raw.get("registered_capital"), problems
        )
        industry = text.get("industry_code")
        name_raw = raw.get("name")
        return (
            self.name,
            out.record_id,
            slot,
            text.get("name"),
            None if name_raw is None else str(name_raw),
            former_names,
            uscc.value,
            uscc.status,
            org_value,
            org_status,
            reg.value,
            reg.status,
            uscc.region_code,
            industry.upper() if industry else None,
            established,
            text.get("address"),
            text.get("status"),
            capital,
        )

    # -- field parsers that turn failures into problems ------------------------------
    @staticmethod
    def _date(column: str | None, value: object, problems: list[Problem]) -> date | None:
        if column is None:
            return None
        try:
            return parse_date(value)
        except FieldParseError as err:
            problems.append(Problem(column, _raw_text(value), err.reason, err.detail))
            return None

    @staticmethod
    def _number(column: str | None, value: object, problems: list[Problem]) -> float | None:
        if column is None:
            return None
        try:
            return parse_number(value)
        except FieldParseError as err:
            problems.append(Problem(column, _raw_text(value), err.reason, err.detail))
            return None

    def _row_date(
        self,
        values: dict[str, object],
        column: str | None,
        problems: list[Problem],
        required: bool = False,
    ) -> date | None:
        if column is None or clean(values.get(column)) in OPEN_ENDED:
            return None
        parsed = self._date(column, values.get(column), problems)
        if required and parsed is None and clean(values.get(column)) is None:
            problems.append(Problem(column, None, "missing_value", "required date is blank"))
        return parsed

    @staticmethod
    def _required_text(
        values: dict[str, object], column: str, problems: list[Problem]
    ) -> str | None:
        text = clean(values.get(column))
        if text is None:
            problems.append(Problem(column, None, "missing_value", "required value is blank"))
        return text

    def _terms(
        self,
        kind: str,
        spec: ValueSpec | None,
        values: dict[str, object],
        out: MappedRecord,
        slot: str,
        problems: list[Problem],
        split: bool,
        required: bool = True,
    ) -> tuple[tuple[str, ...], str | None]:
        """Canonical terms for a vocabulary-backed value, and the raw text it came from."""
        if spec is None:
            return (), None
        if isinstance(spec, Const):
            return (self.vocabulary.lookup(kind, spec.const) or (spec.const,)), spec.const
        raw = clean(values.get(spec))
        if raw is None:
            if required:
                problems.append(
                    Problem(spec, None, "missing_value", f"required {kind} term is blank")
                )
            return (), None
        found = self.vocabulary.lookup(kind, raw)
        if found is None and split:
            parts = [self.vocabulary.lookup(kind, p) for p in split_terms(raw)]
            if parts and all(parts):
                found = tuple(dict.fromkeys(t for p in parts for t in p))
        if found is None and kind == "roles" and "兼" in raw:
            parts = [self.vocabulary.lookup(kind, p) for p in raw.split("兼")]
            if all(parts):
                found = tuple(dict.fromkeys(t for p in parts for t in p))
        if found is None:
            self._issue(out, slot, spec, raw, "unknown_term")
            found = (OTHER,)
        return found, raw

    # -- facts ----------------------------------------------------------------------
    def _fact(
        self,
        fact,
        values: dict[str, object],
        slots: dict[str, list[tuple[str, str]]],
        out: MappedRecord,
        problems: list[Problem],
    ) -> None:
        def one(slot_name: str | None) -> tuple[str, str] | None:
            made = slots.get(slot_name) if slot_name else None
            return made[0] if made else None

        table = {
            "role": "roles",
            "shareholding": "shareholdings",
            "punishment": "punishments",
            "list_entry": "list_entries",
            "licence": "licences",
        }[fact.type]
        rows = out.facts.setdefault(table, [])
        src, rid = self.name, out.record_id
        if fact.type == "role":
            person, company = one(fact.person), one(fact.company)
            roles, raw = self._terms("roles", fact.role, values, out, fact.person, problems, False)
            start = self._row_date(values, fact.valid_from, problems)
            end = self._row_date(values, fact.valid_to, problems)
            if person and company:
                rows.extend((src, rid, person[0], company[0], r, raw, start, end) for r in roles)
        elif fact.type == "shareholding":
            holder, company = one(fact.holder), one(fact.company)
            ratio = None
            try:
                ratio = parse_ratio(values.get(fact.ratio), fact.ratio_scale)
            except FieldParseError as err:
                problems.append(
                    Problem(fact.ratio, _raw_text(values.get(fact.ratio)), err.reason, err.detail)
                )
            capital = self._number(
                fact.subscribed_capital,
                values.get(fact.subscribed_capital) if fact.subscribed_capital else None,
                problems,
            )
            start = self._row_date(values, fact.valid_from, problems)
            end = self._row_date(values, fact.valid_to, problems)
            if holder and company:
                rows.append(
                    (src, rid, holder[0], holder[1], company[0], ratio, capital, start, end)
                )
        elif fact.type == "punishment":
            party = one(fact.party)
            number = self._required_text(values, fact.decision_number, problems)
            categories, raw = self._terms(
                "punishment_categories", fact.category, values, out, fact.party, problems, True
            )
            decided = self._row_date(values, fact.decision_date, problems, required=True)
            fine = self._number(
                fact.fine_amount,
                values.get(fact.fine_amount) if fact.fine_amount else None,
                problems,
            )
            responsible = (
                [s for s, _ in slots.get(fact.responsible, [])] if fact.responsible else []
            )
            if party:
                rows.append(
                    (
                        src,
                        rid,
                        number,
                        party[0],
                        party[1],
                        responsible,
                        list(categories),
                        raw,
                        decided,
                        clean(values.get(fact.agency)) if fact.agency else None,
                        clean(values.get(fact.legal_basis)) if fact.legal_basis else None,
                        fine,
                    )
                )
        elif fact.type == "list_entry":
            party = one(fact.party)
            lists, raw = self._terms("lists", fact.list, values, out, fact.party, problems, False)
            entered = self._row_date(values, fact.entered, problems, required=True)
            removed = self._row_date(values, fact.removed, problems)
            if party:
                rows.extend(
                    (
                        src,
                        rid,
                        name,
                        raw,
                        party[0],
                        party[1],
                        entered,
                        removed,
                        *(
                            clean(values.get(c)) if c else None
                            for c in (fact.reason, fact.authority, fact.case_number)
                        ),
                    )
                    for name in lists
                )
        elif fact.type == "licence":
            holder = one(fact.holder)
            number = self._required_text(values, fact.licence_number, problems)
            start = self._row_date(values, fact.valid_from, problems)
            end = self._row_date(values, fact.valid_to, problems)
            issued = self._row_date(values, fact.issued, problems)
            status = (None, None)
            if fact.status is not None:
                terms, raw = self._terms(
                    "licence_statuses",
                    fact.status,
                    values,
                    out,
                    fact.holder,
                    problems,
                    False,
                    required=False,
                )
                status = (terms[0] if terms else None, raw)
            if holder:
                rows.append(
                    (
                        src,
                        rid,
                        number,
                        holder[0],
                        start,
                        end,
                        *status,
                        clean(values.get(fact.scope)) if fact.scope else None,
                        issued,
                    )
                )
