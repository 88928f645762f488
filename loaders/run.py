"""`veil load`: every extract named in a sources file into one run directory, nothing lost.

Every row read ends in exactly one place: accepted (its mentions and facts written) or
quarantined (with source, file, line, record key, field, raw value and reason). The
manifest's counts reconcile per source. Tables are written into a staging directory and
moved into place only when every source loaded; the manifest goes last, so a run
directory with a manifest is complete and one without is not.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from pathlib import Path
from queue import Empty
from typing import Any

import pyarrow.parquet as pq

from config.errors import InputError
from config.progress import Progress, Update
from config.settings import id_token_secret
from config.sources import Limits, SourceSpec, load_sources
from loaders import rundir
from loaders.bounds import ValueBounds
from loaders.cells import Problem
from loaders.identifiers import secret_fingerprint
from loaders.ratios import RatioColumn, hold
from loaders.readers import BadRow, read_rows, several_sheets, xlsx_sheets
from loaders.records import MappedRecord, RecordMapper, RowRejected
from loaders.rows import QuarantineRow, Record
from loaders.rundir import FACT_TABLES, LOAD_TABLES, MANIFEST, Staged, TableSink
from loaders.vocabulary import Vocabulary, load_vocabulary

log = logging.getLogger(__name__)


@dataclass
class SourceCounts:
    files: list[dict[str, Any]] = field(default_factory=list)
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    fields_invalidated: int = 0
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    field_issue_reasons: Counter[str] = field(default_factory=Counter)
    values_cleaned: Counter[str] = field(default_factory=Counter)
    values_inferred: Counter[str] = field(default_factory=Counter)
    doubts: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_quarantined": self.rows_quarantined,
            "fields_invalidated": self.fields_invalidated,
            "quarantine_reasons": dict(sorted(self.quarantine_reasons.items())),
            "field_issue_reasons": dict(sorted(self.field_issue_reasons.items())),
            "values_cleaned": dict(sorted(self.values_cleaned.items())),
            "values_inferred": dict(sorted(self.values_inferred.items())),
            "doubts": dict(sorted(self.doubts.items())),
        }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_files(base: Path, name: str, spec: SourceSpec) -> list[Path]:
    """The files of a source's glob: relative to the sources file's folder or absolute,
    and inside that folder unless the source says `allow_outside: true`."""
    pattern = spec.files if Path(spec.files).is_absolute() else str(base / spec.files)
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not files:
        raise InputError(
            pattern,
            f"no file matches the glob of source '{name}'; expected its "
            f"{spec.format} extract there",
        )
    if not spec.allow_outside:
        root = base.resolve()
        outside = [p for p in files if not p.resolve().is_relative_to(root)]
        if outside:
            raise InputError(
                f"sources.{name}.files",
                f"{len(outside)} file(s) matched lie outside {root}; move the extracts "
                "there or set `allow_outside: true` on the source",
            )
    return files


def expected_columns(spec: SourceSpec) -> list[str]:
    """Every column the mapping reads (columns inside `each` lists are item keys, not columns)."""
    cols: list[str] = list(spec.key_columns)
    for mention in spec.mentions.values():
        if mention.each:
            cols.append(mention.each)
        else:
            cols.extend(mention.fields.values())
        if mention.kind_from:
            cols.append(mention.kind_from)
    for fact in spec.facts:
        for attr, value in fact:
            if attr in ("type", "ratio_scale") or value is None:
                continue
            if attr in {"person", "company", "holder", "party", "responsible"}:
                continue
            if isinstance(value, str):
                cols.append(value)
    return list(dict.fromkeys(cols))


# Loads smaller than this run in-process: starting worker processes would cost more.
PARALLEL_MIN_BYTES = 32 << 20


@dataclass(frozen=True)
class SourceJob:
    """Everything one worker needs to load one source into its own part directory."""

    name: str
    spec: SourceSpec
    paths: list[Path]
    base: Path
    vocabulary: Vocabulary
    secret: bytes
    part_dir: Path
    origin: str
    limits: Limits

    def mapper(self) -> RecordMapper:
        return RecordMapper(self.name, self.spec, self.vocabulary, self.secret, self.origin)


def load_run(
    sources_path: Path,
    run_dir: Path,
    progress: Progress | None = None,
    secret: bytes | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Load every source of `sources_path` into `run_dir`; return the manifest.

    Sources are independent, so large loads spread them over worker processes (one per
    core by default); each writes its own part files, merged per table in source order.
    """
    sources = load_sources(sources_path)
    vocabulary = load_vocabulary()
    base = sources_path.resolve().parent
    files = {name: resolve_files(base, name, spec) for name, spec in sources.sources.items()}
    secret = secret if secret is not None else id_token_secret()
    staged = Staged(run_dir, "load")
    jobs = [
        SourceJob(
            name,
            spec,
            files[name],
            base,
            vocabulary.extended(spec.vocabulary, f"{sources_path} sources.{name}"),
            secret,
            staged.scratch / f"part-{i:03d}",
            str(sources_path),
            sources.limits,
        )
        for i, (name, spec) in enumerate(sources.sources.items())
    ]
    for job in jobs:
        job.mapper()  # refuses a bad mapping before anything is read or written
    with staged:
        total = sum(p.stat().st_size for paths in files.values() for p in paths)
        if workers is None:
            workers = min(os.cpu_count() or 1, len(jobs)) if total >= PARALLEL_MIN_BYTES else 1
        log.info("loading %d source(s) into %s with %d worker(s)", len(jobs), run_dir, workers)
        results = (
            _run_parallel(jobs, workers, progress)
            if workers > 1
            else [_run_job(job, progress) for job in jobs]
        )
        counts = {job.name: result for job, result in zip(jobs, results, strict=True)}
        for name, done in counts.items():
            log.info(
                "source %s: %d rows read, %d accepted, %d quarantined, %d fields invalidated",
                name,
                done.rows_read,
                done.rows_accepted,
                done.rows_quarantined,
                done.fields_invalidated,
            )
        tables = _merge_parts([job.part_dir for job in jobs], staged)
        manifest = _manifest(sources_path, run_dir, counts, tables)
        manifest["orphan_staging_removed"] = staged.orphans_removed
        manifest["id_secret_fingerprint"] = secret_fingerprint(secret)
        if rundir.exists(run_dir, "entities"):
            manifest["later_stages"] = (
                "entities.parquet resolves the previous load of this directory: run "
                "`veil link --run` again before `veil graph load` (entity IDs stay stable)"
            )
        staged.path(MANIFEST).write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        staged.publish(last=MANIFEST)
        log.info("loaded %s: %s", run_dir, manifest["totals"])
        return manifest


def _run_job(job: SourceJob, progress: Progress | None) -> SourceCounts:
    job.part_dir.mkdir(parents=True)
    sinks = {name: TableSink(name, job.part_dir) for name in LOAD_TABLES}
    mapper = job.mapper()
    bounds = ValueBounds(job.spec, job.limits)
    counts = _load_source(job.name, job.spec, job.paths, job.base, mapper, bounds, sinks, progress)
    for sink in sinks.values():
        sink.close()
    return counts


_worker_queue: Queue[Update] | None = None


def _init_worker(queue: Queue[Update]) -> None:
    global _worker_queue
    _worker_queue = queue


def _run_job_in_worker(job: SourceJob) -> SourceCounts:
    queue = _worker_queue

    def report(step: Update) -> None:
        if queue is not None:
            queue.put(step)

    return _run_job(job, report)


def _run_parallel(
    jobs: list[SourceJob], workers: int, progress: Progress | None
) -> list[SourceCounts]:
    """Run jobs in spawned workers (no fork of a process that may hold Arrow threads)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    by_size = sorted(jobs, key=lambda j: -sum(p.stat().st_size for p in j.paths))
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(queue,)
    ) as pool:
        futures = {job.name: pool.submit(_run_job_in_worker, job) for job in by_size}
        pending = set(futures.values())
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(queue, progress)
            for future in done:
                future.result()  # re-raise a worker's error now, naming its file
        _drain(queue, progress)
        return [futures[job.name].result() for job in jobs]


def _step(source: str, rows: int, done: int, total: int) -> Update:
    """How far a source's load has got: bytes of its files read, rows among them."""
    return Update(stage=source, done=done, total=total, unit="bytes", rows=rows)


def _drain(queue: Queue[Update], progress: Progress | None) -> None:
    while True:
        try:
            update = queue.get_nowait()
        except Empty:
            return
        if progress:
            progress(update)


def _merge_parts(part_dirs: list[Path], staged: Staged) -> dict[str, int]:
    """One Parquet file per table, sources in their sources.yaml order; row groups copied."""
    counts = {}
    for table in LOAD_TABLES:
        rows = 0
        with staged.writer(table) as out:
            for part in part_dirs:
                piece = pq.ParquetFile(rundir.path(part, table))
                for i in range(piece.num_row_groups):
                    group = piece.read_row_group(i)
                    rows += group.num_rows
                    out.write_table(group)
                piece.close()
        counts[table] = rows
    for part in part_dirs:
        shutil.rmtree(part)
    return counts


def _load_source(
    name: str,
    spec: SourceSpec,
    paths: list[Path],
    base: Path,
    mapper: RecordMapper,
    bounds: ValueBounds,
    sinks: dict[str, TableSink],
    progress: Progress | None,
) -> SourceCounts:
    load = _SourceLoad(name, spec, mapper, bounds, sinks, progress)
    load.total_bytes = sum(p.stat().st_size for p in paths)
    counts = load.counts
    if progress:
        progress(_step(name, 0, 0, load.total_bytes))
    several = several_sheets(spec.sheet)
    for path in paths:
        rel = os.path.relpath(path, base)
        digest = file_sha256(path)
        sheets, passed_over = (
            xlsx_sheets(path, spec.sheet) if spec.format == "xlsx" else ([None], {})
        )
        for sheet in sheets:
            where = f"{rel}[{sheet}]" if several else rel
            entry = load.part(path, where, sheet)
            counts.files.append(
                {"path": where, "sha256": digest, **({"sheet": sheet} if several else {}), **entry}
            )
        for sheet_name, why in passed_over.items():
            counts.files.append(
                {
                    "path": f"{rel}[{sheet_name}]",
                    "sha256": digest,
                    "sheet": sheet_name,
                    "passed_over": why,
                    "rows_read": 0,
                }
            )
        load.done_bytes += path.stat().st_size
    counts.values_cleaned.update(bounds.cleaned)
    for column in load.ratio_columns.values():
        rows, inferred, doubts, issues = column.resolve()
        for row in rows:
            sinks["shareholdings"].add(row)
        for issue in issues:
            sinks["field_issues"].add(issue)
            counts.field_issue_reasons[issue.reason] += 1
        counts.values_inferred.update(inferred)
        counts.doubts.update(doubts)
    if progress:
        progress(_step(name, counts.rows_read, load.total_bytes, load.total_bytes))
    assert counts.rows_read == counts.rows_accepted + counts.rows_quarantined
    return counts


@dataclass
class _SourceLoad:
    """One source's rows on their way to the tables: what is seen across its files and
    sheets (record keys, ratio columns) and its counts."""

    name: str
    spec: SourceSpec
    mapper: RecordMapper
    bounds: ValueBounds
    sinks: dict[str, TableSink]
    progress: Progress | None
    counts: SourceCounts = field(default_factory=SourceCounts)
    seen: set[str] = field(default_factory=set)
    ratio_columns: dict[tuple[str, str, str], RatioColumn] = field(default_factory=dict)
    total_bytes: int = 0
    done_bytes: int = 0

    def part(self, path: Path, where: str, sheet: str | int | None) -> dict[str, int]:
        """Read one file (or one sheet of a workbook); its physical size for the manifest."""
        spec, counts, quarantine = self.spec, self.counts, self.sinks["quarantine"]
        columns = expected_columns(spec)
        _, rows, stats = read_rows(path, spec.format, spec.encoding, columns, spec.delimiter, sheet)
        file_rows = 0
        spanned = 0
        seen_columns: set[str] = set()
        for row in rows:
            file_rows += 1
            spanned += row.span
            counts.rows_read += 1
            if self.progress and counts.rows_read % 20_000 == 0:
                self.progress(_step(self.name, counts.rows_read, self.done_bytes, self.total_bytes))
            if isinstance(row, BadRow):
                quarantine.add(
                    QuarantineRow(
                        source=self.name,
                        file=where,
                        line=row.line,
                        record_id=None,
                        field=None,
                        raw_value=row.raw,
                        reason=row.reason,
                        detail=row.detail,
                    )
                )
                counts.rows_quarantined += 1
                counts.quarantine_reasons[row.reason] += 1
                continue
            if spec.format == "jsonl":
                seen_columns.update(row.values)
            try:
                too_long = self.bounds.screen(row.values)
                if too_long:
                    raise RowRejected(too_long, self.mapper.record_id(row.values))
                mapped = self.mapper.map(row.values)
                if mapped.record_id in self.seen:
                    raise RowRejected([duplicate_key(spec, row.values)], mapped.record_id)
            except RowRejected as rejected:
                for p in rejected.problems:
                    quarantine.add(
                        QuarantineRow(
                            source=self.name,
                            file=where,
                            line=row.line,
                            record_id=rejected.record_id,
                            field=p.field,
                            raw_value=p.raw_value,
                            reason=p.reason,
                            detail=p.detail,
                        )
                    )
                counts.rows_quarantined += 1
                counts.quarantine_reasons[rejected.problems[0].reason] += 1
                continue
            self._accept(mapped, where, row.line)
        if spec.format == "jsonl" and file_rows:
            never = [c for c in columns if c not in seen_columns]
            if never:
                raise InputError(
                    str(path), f"key(s) {never} appear in no record; found {sorted(seen_columns)}"
                )
        if not stats.finished or spanned + stats.blank != stats.units:
            raise AssertionError(
                f"{where}: {stats.units} {stats.unit_name} but {spanned} in rows and "
                f"{stats.blank} blank: a reader lost lines"
            )
        return {
            stats.unit_name: stats.units,
            f"blank_{stats.unit_name}": stats.blank,
            "rows_read": file_rows,
            "rows_spanning_lines": stats.multiline_rows,
        }

    def _accept(self, mapped: MappedRecord, where: str, line: int) -> None:
        counts, sinks = self.counts, self.sinks
        self.seen.add(mapped.record_id)
        counts.rows_accepted += 1
        sinks["records"].add(
            Record(source=self.name, record_id=mapped.record_id, file=where, line=line)
        )
        for person in mapped.persons:
            sinks["person_mentions"].add(person)
        for company in mapped.companies:
            sinks["company_mentions"].add(company)
        for table in FACT_TABLES:
            for fact in mapped.facts.get(table, ()):
                sinks[table].add(fact)
        for issue in mapped.issues:
            sinks["field_issues"].add(issue)
            counts.field_issue_reasons[issue.reason] += 1
        counts.fields_invalidated += len(mapped.issues)
        counts.values_inferred.update(mapped.inferred)
        hold(self.ratio_columns, self.name, mapped.holdings)


def duplicate_key(spec: SourceSpec, values: dict[str, object]) -> Problem:
    column = "|".join(spec.key_columns)
    raw = "|".join(str(values.get(c)) for c in spec.key_columns)
    return Problem(column, raw, "duplicate_key", "record key already seen in this source")


def _manifest(
    sources_path: Path, run_dir: Path, counts: dict[str, SourceCounts], tables: dict[str, int]
) -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "kind": "veil.load",
        "veil_version": version("veil"),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sources_file": str(sources_path.resolve()),
        "sources_sha256": file_sha256(sources_path),
        "run_dir": str(run_dir.resolve()),
        "sources": {name: c.as_dict() for name, c in counts.items()},
        "totals": {
            key: sum(getattr(c, key) for c in counts.values())
            for key in ("rows_read", "rows_accepted", "rows_quarantined", "fields_invalidated")
        },
        "tables": tables,
    }
