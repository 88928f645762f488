"""`generate_world`: build a world, write its extracts, sources.yaml and ground truth.

Layout under the output directory:
  extracts/...        agency files in their own formats and encodings
  sources.yaml        how veil reads them (config/sources.py schema), paths relative
  truth/*.parquet     the ground truth (see world/truth.py)
  world.json          the summary below, without anything time- or path-dependent
The same (companies, seed) gives byte-identical files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from config.progress import Progress, Update, silent
from config.sources import load_sources
from world import (
    extract_enforcement,
    extract_equity,
    extract_permits,
    extract_registry,
    truth,
    writers,
)
from world.build import World, build_world
from world.extract import Assembled, Extract, assemble
from world.habits import Habits

WORLD_STAGES = (
    "people and companies",
    "shareholdings",
    "legal representatives and officers",
    "punishments, listings, licences, filings",
    "look-through ownership and control",
    "art. 135 alerts",
)
EXTRACTS: tuple[tuple[str, Callable[..., Extract]], ...] = (
    ("company_registry", extract_registry.company_registry),
    ("legal_rep_changes", extract_registry.legal_rep_changes),
    ("shareholders", extract_equity.shareholders),
    ("key_personnel", extract_equity.key_personnel),
    ("punishments", extract_enforcement.punishments),
    ("judgment_defaulters", extract_enforcement.judgment_defaulters),
    ("food_licences", extract_permits.food_licences),
    ("customs_filings", extract_permits.customs_filings),
    ("serious_violations", extract_enforcement.serious_violations),
)
STAGES = (
    *WORLD_STAGES,
    *(f"extract {name}" for name, _ in EXTRACTS),
    "sources.yaml",
    "truth tables",
)
LINE_ENDINGS = {"judgment_defaulters": "\r\n"}  # the court's export comes from Windows


@dataclass
class WorldSummary:
    """What was generated and where (JSON-serialisable via as_dict)."""

    out: str
    companies: int
    people: int
    seed: int
    extracts: dict[str, dict] = field(default_factory=dict)
    broken_rows: dict[str, dict[str, int]] = field(default_factory=dict)
    invalid_fields: dict[str, int] = field(default_factory=dict)
    truth: dict[str, int] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)
    near_misses: dict[str, int] = field(default_factory=dict)
    habits: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def generate_world(
    companies: int,
    seed: int,
    out: Path,
    progress: Progress = silent,
    xlsx_max_rows: int = writers.XLSX_MAX_ROWS,
    habits: Habits | None = None,
) -> WorldSummary:
    """Generate the world for (companies, seed) into `out` and summarise it, its agencies
    writing with `habits` (default: world/habits.py's realistic mix)."""
    out = Path(out)
    total = len(STAGES)
    counter = iter(range(total))

    def stage(name: str) -> None:
        progress(Update(stage=name, done=next(counter), total=total, unit="stages"))

    w = build_world(companies, seed, stage)
    w.habits = habits or Habits()
    summary = WorldSummary(str(out), len(w.companies), len(w.people), seed)
    summary.habits = w.habits.model_dump()
    seeds = np.random.SeedSequence([seed, 1]).spawn(len(EXTRACTS))
    specs: dict[str, dict] = {}
    broken, invalid, person_mentions, company_mentions = [], [], [], []
    for (name, make), child in zip(EXTRACTS, seeds, strict=True):
        stage(f"extract {name}")
        rng = np.random.default_rng(child)
        extract = make(w, rng, xlsx_max_rows) if name == "key_personnel" else make(w, rng)
        placed = assemble(extract, rng)
        files, lines = _write(out, extract, placed)
        specs[name] = _spec(extract)
        summary.extracts[name] = {
            "files": files,
            "format": extract.fmt,
            "encoding": extract.encoding,
            "rows": len(placed.frame),
            "accepted_rows": len(extract.frame),
        }
        broken.append(_broken_rows(extract, placed, lines))
        invalid.append(
            pd.DataFrame(extract.invalid, columns=["record_id", "slot", "field"]).assign(
                source=name, reason="invalid_check_digit"
            )
        )
        person_mentions.append(extract.persons.assign(source=name))
        company_mentions.append(extract.companies.assign(source=name))
    stage("sources.yaml")
    _write_sources(out / "sources.yaml", specs)
    stage("truth tables")
    tables = truth.tables(
        w,
        pd.concat(person_mentions, ignore_index=True),
        pd.concat(company_mentions, ignore_index=True),
    )
    tables["broken_rows"] = pd.concat(broken, ignore_index=True)
    tables["invalid_fields"] = pd.concat(invalid, ignore_index=True)[
        ["source", "record_id", "slot", "field", "reason"]
    ]
    for name, frame in tables.items():
        truth.write(out / "truth", name, frame)
    _summarise(summary, w, tables)
    (out / "world.json").write_text(
        json.dumps(
            {k: v for k, v in summary.as_dict().items() if k != "out"},
            ensure_ascii=False,
            indent=2,
            sort_keys=True,
        )
        + "\n",
        encoding="utf-8",
    )
    progress(Update(stage="done", done=total, total=total, unit="stages"))
    return summary


def _write(out: Path, extract: Extract, placed: Assembled) -> tuple[list[str], np.ndarray]:
    """Write one extract; returns its files and, per final row, (file index, line)."""
    n = len(placed.frame)
    if extract.fmt == "xlsx":
        per_file = extract.split_rows or writers.XLSX_MAX_ROWS
        files = []
        for i, lo in enumerate(range(0, max(n, 1), per_file)):
            rel = extract.files.replace("*", f"{i + 1:03d}")
            part = placed.frame.iloc[lo : lo + per_file]
            writers.write_xlsx(out / rel, list(part.columns), _xlsx_columns(part), "主要人员")
            files.append(rel)
        pos = np.arange(n)
        return files, np.stack([pos // per_file, pos % per_file + 2], axis=1)
    path = out / extract.files
    if extract.fmt == "csv":
        writers.write_csv(
            path,
            placed.frame,
            extract.encoding,
            placed.patches,
            LINE_ENDINGS.get(extract.source, "\n"),
        )
        first_line = 2
    elif extract.fmt == "jsonl":
        records = placed.frame.to_dict("records")
        writers.write_jsonl(path, records, placed.patches)
        first_line = 1
    else:
        writers.write_parquet(path, placed.frame, extract_permits.LICENCE_SCHEMA)
        first_line = 1
    return [extract.files], np.stack(
        [np.zeros(n, dtype=np.int64), np.arange(n) + first_line], axis=1
    )


def _xlsx_columns(frame: pd.DataFrame) -> list[writers.XlsxCells]:
    kinds = {"序号": "int", "任职日期": "date_or_text"}
    return [
        writers.XlsxCells(kinds.get(c, "text"), frame[c].to_numpy(dtype=object))
        for c in frame.columns
    ]


def _broken_rows(extract: Extract, placed: Assembled, lines: np.ndarray) -> pd.DataFrame:
    def file_of(pos: int) -> str:
        return extract.files.replace("*", f"{int(lines[pos, 0]) + 1:03d}")

    rows = [
        {
            "source": extract.source,
            "file": file_of(pos),
            "line": int(lines[pos, 1]),
            "record_id": b.record_id,
            "field": b.field,
            "reason": b.reason,
        }
        for pos, b in placed.broken_positions
    ]
    return pd.DataFrame(
        rows, columns=["source", "file", "line", "record_id", "field", "reason"]
    ).sort_values(["file", "line"], ignore_index=True)


def _spec(extract: Extract) -> dict:
    spec = dict(extract.spec)
    head = {k: spec.pop(k) for k in ("description", "agency")}
    entry = {**head, "files": extract.files, "format": extract.fmt, "encoding": extract.encoding}
    if "sheet" in spec:
        entry["sheet"] = spec.pop("sheet")
    return {**entry, **spec}


def _write_sources(path: Path, specs: dict[str, dict]) -> None:
    text = yaml.safe_dump(
        {"version": 1, "sources": specs}, allow_unicode=True, sort_keys=False, width=100
    )
    header = (
        "# Generated by `veil world`: how veil reads this synthetic world's extracts.\n"
        "# Paths are relative to this file.\n"
    )
    path.write_text(header + text, encoding="utf-8")
    load_sources(path)  # the world must satisfy the contract it is tested against


def _summarise(summary: WorldSummary, w: World, tables: dict[str, pd.DataFrame]) -> None:
    by_source: dict[str, Counter] = {}
    for source, reason in tables["broken_rows"][["source", "reason"]].itertuples(index=False):
        by_source.setdefault(source, Counter())[reason] += 1
    summary.broken_rows = {s: dict(sorted(c.items())) for s, c in by_source.items()}
    summary.invalid_fields = dict(Counter(tables["invalid_fields"]["source"]))
    summary.truth = {f"truth/{name}.parquet": len(frame) for name, frame in tables.items()}
    summary.alerts = dict(sorted(Counter(w.alerts["variant"]).items()))
    summary.near_misses = dict(sorted(Counter(w.near_misses["kind"]).items()))
