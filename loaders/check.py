"""`veil sources check`: try a mapping on the first rows of each extract, write nothing.

A stranger writing sources.yaml for extracts veil has never seen needs to know, before a
load of millions of rows, what each mapped column becomes, which columns the mapping
leaves unread, and what veil would have to guess. This reads the first rows of every
file with the same readers, bounds and mapper as `veil load` and reports per source:
the column -> target table, unmapped columns, the rows that would be quarantined (by
reason), the field issues, and the readings taken from evidence or left in doubt.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.settings import id_token_secret
from config.sources import SourceSpec, load_sources
from loaders.bounds import ValueBounds
from loaders.ratios import RatioColumn, hold
from loaders.readers import BadRow, read_rows, xlsx_sheets
from loaders.records import RecordMapper, RowRejected
from loaders.run import duplicate_key, expected_columns, resolve_files
from loaders.vocabulary import load_vocabulary

SAMPLE_ROWS = 200


@dataclass
class SourceCheck:
    """What the first rows of one source's files say about its mapping."""

    name: str
    files: list[str]
    columns: dict[str, list[str]]  # column -> what it becomes ("slot.field", "fact.attr")
    unmapped: list[str]
    rows: int = 0
    accepted: int = 0
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    field_issue_reasons: Counter[str] = field(default_factory=Counter)
    values_inferred: Counter[str] = field(default_factory=Counter)
    values_cleaned: Counter[str] = field(default_factory=Counter)
    doubts: Counter[str] = field(default_factory=Counter)
    ratio_styles: dict[str, str] = field(default_factory=dict)
    passed_over: list[str] = field(default_factory=list)  # sheets `sheet: "*"` did not read

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "columns": self.columns,
            "unmapped": self.unmapped,
            "rows_sampled": self.rows,
            "rows_accepted": self.accepted,
            "quarantine_reasons": dict(self.quarantine_reasons),
            "field_issue_reasons": dict(self.field_issue_reasons),
            "values_inferred": dict(self.values_inferred),
            "values_cleaned": dict(self.values_cleaned),
            "doubts": dict(self.doubts),
            "ratio_styles": self.ratio_styles,
            "sheets_passed_over": self.passed_over,
        }


def column_targets(spec: SourceSpec) -> dict[str, list[str]]:
    """Column -> the mention fields and fact keys it feeds."""
    targets: dict[str, list[str]] = {}
    for column in spec.key_columns:
        targets.setdefault(column, []).append("record key")
    for slot, mention in spec.mentions.items():
        if mention.each:
            targets.setdefault(mention.each, []).append(f"{slot}[]: JSON list of {slot}")
            continue
        for target, column in mention.fields.items():
            targets.setdefault(column, []).append(f"{slot}.{target}")
        if mention.kind_from:
            targets.setdefault(mention.kind_from, []).append(f"{slot}: person or company")
    for i, fact in enumerate(spec.facts):
        for attr, value in fact:
            if attr in ("type", "ratio_scale") or not isinstance(value, str):
                continue
            if attr in {"person", "company", "holder", "party", "responsible"}:
                continue
            targets.setdefault(value, []).append(f"facts[{i}] {fact.type}.{attr}")
    return targets


def check_sources(sources_path: Path, sample: int = SAMPLE_ROWS) -> dict[str, SourceCheck]:
    """Check every source of `sources_path` on its first `sample` rows per file (or sheet)."""
    sources = load_sources(sources_path)
    vocabulary = load_vocabulary()
    base = sources_path.resolve().parent
    secret = id_token_secret()
    report = {}
    for name, spec in sources.sources.items():
        paths = resolve_files(base, name, spec)
        mapper = RecordMapper(
            name,
            spec,
            vocabulary.extended(spec.vocabulary, f"{sources_path} sources.{name}"),
            secret,
            str(sources_path),
        )
        targets = column_targets(spec)
        check = SourceCheck(name, [str(p) for p in paths], targets, [])
        bounds = ValueBounds(spec, sources.limits)
        ratio_columns: dict[tuple[str, str, str], RatioColumn] = {}
        headers: set[str] = set()
        seen: set[str] = set()
        for path in paths:
            sheets, passed_over = (
                xlsx_sheets(path, spec.sheet) if spec.format == "xlsx" else ([None], {})
            )
            check.passed_over.extend(f"{path.name}[{s}]: {why}" for s, why in passed_over.items())
            for sheet in sheets:
                header, rows, _ = read_rows(
                    path, spec.format, spec.encoding, expected_columns(spec), spec.delimiter, sheet
                )
                headers.update(header)
                for i, row in enumerate(rows):
                    if i >= sample:
                        break
                    check.rows += 1
                    if isinstance(row, BadRow):
                        check.quarantine_reasons[row.reason] += 1
                        continue
                    if spec.format == "jsonl":
                        headers.update(row.values)
                    try:
                        too_long = bounds.screen(row.values)
                        if too_long:
                            raise RowRejected(too_long, None)
                        mapped = mapper.map(row.values)
                        if mapped.record_id in seen:
                            raise RowRejected([duplicate_key(spec, row.values)], None)
                        seen.add(mapped.record_id)
                    except RowRejected as rejected:
                        check.quarantine_reasons[rejected.problems[0].reason] += 1
                        continue
                    check.accepted += 1
                    check.field_issue_reasons.update(issue[-1] for issue in mapped.issues)
                    check.values_inferred.update(mapped.inferred)
                    hold(ratio_columns, name, mapped.holdings)
        check.values_cleaned.update(bounds.cleaned)
        for column in ratio_columns.values():
            check.ratio_styles[column.column] = column.style()
            _, inferred, doubts, _ = column.resolve()
            # A sample holds part of each company's holdings: totals are the load's to check.
            check.values_inferred.update(inferred)
            check.doubts.update({k: v for k, v in doubts.items() if "sum_off" not in k})
        check.unmapped = sorted(headers - set(targets))
        report[name] = check
    return report
