"""Shareholding ratios read by evidence: the column's own style, then the company's total.

One extract may write 出资比例 as "0.35", "35.00" and "1" in the same column, "1" meaning
100%. A rule that reads numbers of 1 or more as percentages makes that holder a 1% owner
and changes who controls the company, without a word. Here a source's holdings are read
once the whole column has been seen:

1. **Column style** (`ratio_scale: auto`): values strictly between 1 and 100 can only be
   percentages, values strictly between 0 and 1 look like fractions. A column with only
   the latter is a fraction column ("1" is 100%); with only the former, a percentage
   column ("1" is 1%, "0.5" is 0.5%); with both, a mixed column, where 35.00 is 35% and
   0.35 is 35% or 0.35%.
2. **Company total**: a company's current holdings should sum to about 100%. Where reading
   its open values (its "1"s; in a mixed column also its values below 1), each kind as
   fractions or as percentages, gives that total in exactly one way, the total decides.
3. Whatever is still undecided takes the column's reading and is counted as a doubt; a
   company whose current holdings sum far from 100% is a field issue with the figures.

A company is its USCC where the record gives one, else its name; a record without a USCC
joins the USCC of another record naming the company the same way, and records without
one join each other by name (有限责任公司 and 有限公司 being one legal form). A company
known by a name only may be part of a company whose other holders the extract names
otherwise, so where its total is decided by its open values alone in a column that does
not read them so by itself, the reading is also a doubt (`ratio_read_by_own_total_without_uscc`).

Every reading taken from evidence is counted in the manifest (`values_inferred`), every
doubt in `doubts`; `ratio_scale: percent|fraction` fixes the style but not the total
check, so no setting turns a doubt into silence.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import product

from config.sources import ShareholdingFact
from loaders.fields import normalise_text
from loaders.rows import FieldIssue, Shareholding

# A company's current holdings summing within this of 100% are complete and consistent.
TOTAL_TOLERANCE = 0.02
# Outside this band the sum is reported as a field issue (a partial list, or a misread).
SUM_REPORT_BAND = (0.95, 1.05)


#: A mapped shareholding waiting for its column: (fact, row, reading, (USCC, company name)).
PendingHolding = tuple[
    ShareholdingFact, Shareholding, tuple[float, str] | None, tuple[str | None, str | None]
]


@dataclass(slots=True)
class _Holding:
    row: Shareholding
    number: float
    form: str
    company: tuple[str | None, str | None]  # (USCC, name) as the record gives them
    ratio: float = 0.0  # the reading, decided once the whole column is seen


@dataclass
class RatioColumn:
    """The shareholdings of one source's fact, held until the whole column is seen."""

    source: str
    column: str
    scale: str
    holdings: list[_Holding] = field(default_factory=list)
    other_rows: list[Shareholding] = field(default_factory=list)  # blank: nothing to read

    def add(
        self,
        row: Shareholding,
        reading: tuple[float, str] | None,
        company: tuple[str | None, str | None],
    ) -> None:
        if reading is None:
            self.other_rows.append(row)
        else:
            self.holdings.append(_Holding(row, reading[0], reading[1], company))

    def style(self) -> str:
        """ "fraction", "percent" or "mixed" (see the module docstring)."""
        if self.scale != "auto":
            return self.scale
        forms = Counter(h.form for h in self.holdings)
        below, above = forms["below_one"], forms["above_one"]
        if below and above:
            return "mixed"
        if above:
            return "percent"
        if below:
            return "fraction"
        return "undecided"  # only 0, 1 and explicit percentages

    def _ambiguous(self, h: _Holding, style: str) -> bool:
        """A value whose reading the cell and the column leave open: a "1" (100% or 1%),
        or a value below 1 in a mixed column (a fraction, or under 1%)."""
        if self.scale != "auto":
            return False
        return h.form == "one" or (h.form == "below_one" and style == "mixed")

    def resolve(self) -> tuple[list[Shareholding], Counter[str], Counter[str], list[FieldIssue]]:
        """(rows with their ratios, inferred counts, doubt counts, field issue rows)."""
        style = self.style()
        inferred: Counter[str] = Counter()
        doubts: Counter[str] = Counter()
        for h in self.holdings:
            h.ratio = _default(h, style, doubts, self.column)
        by_company: dict[str, list[_Holding]] = defaultdict(list)
        uscc_of = _usccs_by_name(self.holdings)
        for h in self.holdings:
            if h.row.valid_to is None:
                uscc, name = h.company
                key = _name_key(name)
                uscc = uscc or (uscc_of.get(key) if key is not None else None)
                by_company[f"USCC {uscc}" if uscc else f"name {key or name}"].append(h)
        issues = []
        decided: set[int] = set()
        for company, current in by_company.items():
            unsure = [h for h in current if self._ambiguous(h, style)]
            if unsure and _by_total(current, unsure):
                inferred[f"ratio_read_by_company_total:{self.column}"] += len(unsure)
                decided.update(id(h) for h in unsure)
                if (
                    not company.startswith("USCC ")
                    and len(unsure) == len(current)
                    and style != "fraction"
                ):
                    doubts[f"ratio_read_by_own_total_without_uscc:{self.column}"] += len(unsure)
            total = sum(h.ratio for h in current)
            if not SUM_REPORT_BAND[0] <= total <= SUM_REPORT_BAND[1]:
                doubts[f"holdings_sum_off:{self.column}"] += 1
                first = current[0].row
                issues.append(
                    FieldIssue(
                        source=self.source,
                        record_id=first.record_id,
                        slot=first.company_slot,
                        field=self.column,
                        raw_value=f"current holdings of {company} sum to {total:.1%} over "
                        f"{len(current)} holder(s) (column read as {style})",
                        reason="holdings_sum_off",
                    )
                )
        for h in self.holdings:
            if not self._ambiguous(h, style) or id(h) in decided:
                continue
            if style in ("mixed", "undecided"):
                doubts[f"ratio_{h.form}_undecided:{self.column}"] += 1
            else:
                inferred[f"ratio_one_read_by_column_style:{self.column}"] += 1
        rows = [h.row._replace(ratio=h.ratio) for h in self.holdings] + self.other_rows
        return rows, +inferred, doubts, issues


def hold(
    columns: dict[tuple[str, str, str], RatioColumn], source: str, holdings: list[PendingHolding]
) -> None:
    """Add a mapped record's shareholdings (loaders/records.py `MappedRecord.holdings`) to
    the ratio column of their fact, created on first use."""
    for fact, row, reading, company in holdings:
        key = (fact.ratio, fact.ratio_scale, fact.company)
        if key not in columns:
            columns[key] = RatioColumn(source, fact.ratio, fact.ratio_scale)
        columns[key].add(row, reading, company)


def _name_key(name: str | None) -> str | None:
    """A company name as records may vary it without naming another company."""
    if not name:
        return None
    return normalise_text(name).replace(" ", "").replace("有限责任公司", "有限公司")


def _usccs_by_name(holdings: list[_Holding]) -> dict[str, str]:
    """Name key -> the one USCC records give beside it (a key beside two USCCs: none)."""
    seen: dict[str, set[str]] = defaultdict(set)
    for uscc, name in (h.company for h in holdings):
        key = _name_key(name)
        if uscc and key:
            seen[key].add(uscc)
    return {key: next(iter(usccs)) for key, usccs in seen.items() if len(usccs) == 1}


def _default(h: _Holding, style: str, doubts: Counter[str], column: str) -> float:
    """The reading before company totals: the form where it decides, else the column."""
    if h.form == "percent_sign":
        return round(h.number / 100, 10)
    if h.form == "zero":
        return 0.0
    if h.form == "above_one":
        if style == "fraction":
            doubts[f"ratio_percent_in_fraction_column:{column}"] += 1
        return round(h.number / 100, 10)
    if h.form == "below_one":
        return round(h.number / 100, 10) if style == "percent" else h.number
    # "one"
    return 1.0 if style in ("fraction", "mixed", "undecided") else 0.01


def _by_total(current: list[_Holding], unsure: list[_Holding]) -> bool:
    """Read a company's unsure values the way that makes its current total about 100%, if
    only one way does; False when several or none do (the default reading stands).

    The "1"s and the values below 1 are read as groups, each group all as fractions or
    all as percentages ("0.6" and "1.00" beside "7.00" are 60% and 1%)."""
    ids = {id(h) for h in unsure}
    rest = sum(h.ratio for h in current if id(h) not in ids)
    groups = [[h for h in unsure if h.form == form] for form in ("one", "below_one")]
    groups = [g for g in groups if g]
    fits = []
    for choice in product((1.0, 0.01), repeat=len(groups)):
        total = rest + sum(
            scale * sum(h.number for h in g) for scale, g in zip(choice, groups, strict=True)
        )
        if abs(total - 1.0) <= TOTAL_TOLERANCE:
            fits.append(choice)
    if len(fits) != 1:
        return False
    for scale, group in zip(fits[0], groups, strict=True):
        for h in group:
            h.ratio = h.number if scale == 1.0 else round(h.number / 100, 10)
    return True
