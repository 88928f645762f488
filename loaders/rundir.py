"""The run directory: every table's file name, schema and version, its readers, and the one
staged writer that puts files into it.

A run directory is the contract between rooms (docs/ARCHITECTURE.md draws its tables, and
tests/test_rundir.py checks the drawing against `TABLES`): `veil load` writes the mention
and fact tables and the manifest, `veil link` adds entities, links, suspects,
entity_changes and company_name_keys. Rooms downstream read them through `table`,
`entities` and `manifest` here, never through another room's orchestrator, and write them
only through `Staged`, so a directory never holds half of a stage's output.

Each Parquet file carries its table's name and version (`veil.table` metadata, e.g.
`entities/1`); a reader refuses a table written in another version instead of misreading
it. A table without the stamp was written before versions were recorded, in version 1.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from config.errors import InputError
from loaders.identifiers import secret_fingerprint
from loaders.rows import (
    CompanyMention,
    FieldIssue,
    Licence,
    ListEntry,
    PersonMention,
    Punishment,
    QuarantineRow,
    Record,
    Role,
    Shareholding,
    arrow_schema,
)

if TYPE_CHECKING:  # pyarrow-stubs names read_table's filter tuples only in a stub module
    from pyarrow._stubs_typing import FilterTuple

MANIFEST = "manifest.json"
LINK_REPORT = "link_report.json"
JUDGEMENTS = "judgements.jsonl"
#: The Splink models that decided a linked run (a directory of <entity_type>.json).
MODELS = "models"
#: Where a failed linkage stage's traceback is written.
LINK_ERROR_LOG = "link_error.log"

#: Parquet metadata key naming a table and its version: b"entities/1".
TABLE_KEY = b"veil.table"
#: Parquet metadata key of entities.parquet: {run: sha256 of its manifest.json}.
INPUTS_KEY = b"veil.inputs"

LOAD = "veil load"
LINK = "veil link"

LEVEL_TYPE = pa.list_(
    pa.struct([("comparison", pa.string()), ("level", pa.string()), ("match_weight", pa.float64())])
)


@dataclass(frozen=True)
class Table:
    """One Parquet table of a run directory."""

    name: str
    schema: pa.Schema
    written_by: str
    version: int = 1
    #: The subdirectory of the run directory holding the file ("" for the run directory).
    directory: str = ""

    @property
    def file(self) -> str:
        return f"{self.directory}/{self.name}.parquet" if self.directory else f"{self.name}.parquet"

    @property
    def stamp(self) -> str:
        return f"{self.name}/{self.version}"

    def stamped_schema(self) -> pa.Schema:
        return self.schema.with_metadata({TABLE_KEY: self.stamp.encode()})


_s: pa.DataType = pa.string()

#: Tables `veil load` writes, in writing order; the row type of each is in loaders/rows.py.
LOAD_TABLES = {
    "records": Record,
    "person_mentions": PersonMention,
    "company_mentions": CompanyMention,
    "roles": Role,
    "shareholdings": Shareholding,
    "punishments": Punishment,
    "list_entries": ListEntry,
    "licences": Licence,
    "quarantine": QuarantineRow,
    "field_issues": FieldIssue,
}

#: The load tables that tie a record's mentions together.
FACT_TABLES = ("roles", "shareholdings", "punishments", "list_entries", "licences")

_LINK_SCHEMAS = {
    "entities": pa.schema(
        [
            ("run", _s),
            ("source", _s),
            ("record_id", _s),
            ("slot", _s),
            ("entity_type", _s),
            ("entity_id", _s),
            ("confidence", pa.float64()),
        ]
    ),
    "links": pa.schema(
        [
            ("entity_type", _s),
            ("mention_l", _s),
            ("mention_r", _s),
            ("entity_id_l", _s),
            ("entity_id_r", _s),
            ("evidence", _s),
            ("match_weight", pa.float64()),
            ("match_probability", pa.float64()),
            ("levels", LEVEL_TYPE),
            ("merged", pa.bool_()),
        ]
    ),
    "suspects": pa.schema(
        [
            ("entity_type", _s),
            ("identifier", _s),
            ("mention_l", _s),
            ("mention_r", _s),
            ("name_l", _s),
            ("name_r", _s),
            ("name_similarity", pa.float64()),
        ]
    ),
    # What finds each company entity by name (linkage/name_keys.py).
    "company_name_keys": pa.schema(
        [
            ("entity_id", _s),
            ("keys", pa.list_(_s)),
            ("sounds", pa.list_(_s)),
            ("forms", pa.list_(_s)),
        ]
    ),
    # from_ids is list<string> even when every list is empty.
    "entity_changes": pa.schema(
        [
            ("entity_id", _s),
            ("change", _s),
            ("from_ids", pa.list_(_s)),
            ("mentions", pa.int64()),
            ("new_mentions", pa.int64()),
            ("entity_type", _s),
        ]
    ),
}

#: Per entity type, the term frequencies its model's exact-name levels were adjusted by
#: (linkage/models.py, term_frequencies): the chance that another entity bears the value.
#: Saved beside the model so the real-time scorer needs no DuckDB (linkage/scorer.py).
TERM_FREQUENCY_SCHEMA = pa.schema([("column", _s), ("value", _s), ("tf", pa.float64())])


def term_frequency_table(entity_type: str) -> str:
    """The name of `entity_type`'s term-frequency table (in the run's models/)."""
    return f"{entity_type}_term_frequencies"


TABLES: dict[str, Table] = {
    **{name: Table(name, arrow_schema(row), LOAD) for name, row in LOAD_TABLES.items()},
    **{name: Table(name, schema, LINK) for name, schema in _LINK_SCHEMAS.items()},
    **{
        name: Table(name, TERM_FREQUENCY_SCHEMA, LINK, directory=MODELS)
        for name in (term_frequency_table("person"), term_frequency_table("company"))
    },
}


def path(run_dir: Path, name: str) -> Path:
    """The file of table `name` in `run_dir`."""
    return Path(run_dir) / TABLES[name].file


def _missing(run_dir: Path, table: Table) -> InputError:
    if table.written_by == LOAD:
        why = f"is {run_dir} a run directory written by `veil load`?"
    else:
        why = f"run `veil link --run {run_dir}` first"
    return InputError(str(Path(run_dir) / table.file), f"no {table.name} table: {why}")


def _check_version(file: Path, table: Table, metadata: dict[bytes, bytes] | None) -> None:
    found = (metadata or {}).get(TABLE_KEY)
    if found is not None and found.decode() != table.stamp:
        again = "load the extracts again" if table.written_by == LOAD else "link the run again"
        raise InputError(
            str(file),
            f"holds table {found.decode()}, this veil reads {table.stamp}: {again} "
            f"with `{table.written_by}` of this version",
        )


def exists(run_dir: Path, name: str) -> bool:
    return path(run_dir, name).is_file()


def arrow(
    run_dir: Path,
    name: str,
    columns: list[str] | None = None,
    *,
    filters: list[FilterTuple] | None = None,
    present_only: bool = False,
) -> pa.Table:
    """Table `name` of `run_dir` as Arrow, `columns` only (with `present_only`, those of
    them the file has: a table written before a column was added lacks it)."""
    table = TABLES[name]
    file = Path(run_dir) / table.file
    if not file.is_file():
        raise _missing(run_dir, table)
    schema = pq.read_schema(file)
    _check_version(file, table, schema.metadata)
    if columns is not None and present_only:
        columns = [c for c in columns if c in schema.names]
    return pq.read_table(file, columns=columns, filters=filters)


def table(
    run_dir: Path, name: str, columns: list[str] | None = None, **options: Any
) -> pd.DataFrame:
    """Table `name` of `run_dir` as pandas (see `arrow` for the options)."""
    return arrow(run_dir, name, columns, **options).to_pandas()


def entities(run_dir: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """The run's entities: which entity each mention is (written by `veil link`)."""
    return table(run_dir, "entities", columns)


def manifest(run_dir: Path) -> dict[str, Any]:
    """What `veil load` read and wrote: its counts reconcile every row read."""
    file = Path(run_dir) / MANIFEST
    if not file.is_file():
        raise InputError(str(file), "no manifest: the run directory was not (completely) loaded")
    result: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    return result


def check_id_secret(run_dir: Path, secret: bytes, then: str) -> bool:
    """Refuse a run loaded with another ID-token secret than `secret`: its tokens (and the
    record keys keyed with them) would never equal this process's, and nothing would match,
    silently. `then` says what to do instead. False when the run records no secret (loaded
    before veil recorded it): the caller warns, as it cannot tell."""
    recorded = manifest(run_dir).get("id_secret_fingerprint")
    if recorded is None:
        return False
    if recorded != secret_fingerprint(secret):
        raise InputError(
            str(Path(run_dir) / MANIFEST),
            "the run was loaded with another ID-token secret (VEIL_ID_SECRET, else "
            "VEIL_HOME/id_secret) than this process holds: its ID tokens would never "
            f"match; {then}",
        )
    return True


def manifest_digest(run_dir: Path) -> str:
    return hashlib.sha256((Path(run_dir) / MANIFEST).read_bytes()).hexdigest()


def entities_table(data: pa.Table | pd.DataFrame, run_dir: Path) -> pa.Table:
    """Entities as `run_dir` stores them: in their schema, stamped with the digest of each
    run's manifest they resolve (see `stale_entities`)."""
    table = conform("entities", data)
    # the schema's run column is a string: to_pylist is typed with None for any column
    runs = sorted(set(cast(list[str], table.column("run").to_pylist())))
    inputs = {run: manifest_digest(Path(run_dir) / run) for run in runs}
    metadata = dict(table.schema.metadata or {})
    metadata[INPUTS_KEY] = json.dumps(inputs).encode()
    return table.replace_schema_metadata(metadata)


def stale_entities(run_dir: Path) -> str | None:
    """Why entities.parquet does not resolve the run's current load, or None if it does.

    Linking stamps the entities with the digest of every manifest it resolved; a later
    `veil load` into the same directory (or into a base run) changes a manifest, and the
    old entities would leave the new mentions unresolved.
    """
    metadata = pq.read_schema(path(run_dir, "entities")).metadata or {}
    if INPUTS_KEY not in metadata:
        return "it carries no record of the load it resolved (linked by an older veil)"
    stamped = json.loads(metadata[INPUTS_KEY])
    for run, digest in sorted(stamped.items()):
        file = Path(run_dir) / run / MANIFEST
        if not file.is_file():
            return f"{file} is gone"
        if manifest_digest(Path(run_dir) / run) != digest:
            return f"{Path(run_dir) / run} was loaded again after it was linked"
    return None


def remove_orphan_staging(directory: Path) -> list[str]:
    """Remove staging directories left by stages that were killed (their process is gone).

    A staging directory is never part of a run: files reach the run only by being moved
    out of it once complete, so removing an orphan loses nothing.
    """
    removed = []
    for found in sorted(Path(directory).glob(".staging-*")):
        pid = found.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid() or not _pid_alive(int(pid)):
            shutil.rmtree(found, ignore_errors=True)
            removed.append(found.name)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Staged:
    """One stage's files, written beside their directory and moved into it together.

    `with Staged(run_dir, "link") as staged:` gives a staging directory inside `run_dir`
    (named after the stage and this process, so a killed stage's leftovers are recognised
    and removed by the next one); `staged.write`/`staged.writer` write stamped tables into
    it, `staged.publish(last=...)` moves everything into place but `staged.scratch` (work
    files: DuckDB's spill, a loader's parts), and leaving the block removes what is left.
    The `last` file is removed first and moved in last, so a directory holding it holds the
    whole stage.
    """

    def __init__(self, directory: Path, stage: str) -> None:
        self.target = Path(directory)
        self.dir = self.target / f".staging-{stage}-{os.getpid()}"
        self.orphans_removed: list[str] = []

    def __enter__(self) -> Staged:
        self.target.mkdir(parents=True, exist_ok=True)
        self.orphans_removed = remove_orphan_staging(self.target)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.scratch.mkdir(parents=True)
        return self

    def __exit__(self, *_: object) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def scratch(self) -> Path:
        """A directory for work files that are never published."""
        return self.dir / ".scratch"

    def path(self, name: str) -> Path:
        """Where file (or directory) `name` is staged: a table's name or a file name."""
        return self.dir / (TABLES[name].file if name in TABLES else name)

    def _table_path(self, name: str) -> Path:
        """Where table `name` is staged, its subdirectory made."""
        target = self.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def writer(self, name: str) -> pq.ParquetWriter:
        """A streaming writer of table `name` (close it, e.g. `with staged.writer(...)`)."""
        return pq.ParquetWriter(
            self._table_path(name), TABLES[name].stamped_schema(), compression="zstd"
        )

    def write(self, name: str, data: pa.Table | pd.DataFrame) -> None:
        """Table `name` whole, in its schema (a frame's columns are taken by name)."""
        pq.write_table(conform(name, data), self._table_path(name), compression="zstd")

    def publish(self, last: str | None = None) -> None:
        """Move every staged file into the directory (a staged directory replaces the one
        there), `last` last."""
        last_name = None if last is None else self.path(last).name
        if last_name is not None:
            (self.target / last_name).unlink(missing_ok=True)
        staged = sorted(p for p in self.dir.iterdir() if p.name not in (last_name, ".scratch"))
        for item in staged:
            target = self.target / item.name
            if item.is_dir():
                shutil.rmtree(target, ignore_errors=True)
                item.rename(target)
            else:
                os.replace(item, target)
        if last_name is not None:
            os.replace(self.dir / last_name, self.target / last_name)


def conform(name: str, data: pa.Table | pd.DataFrame) -> pa.Table:
    """`data` in table `name`'s stamped schema; other metadata (a stamp of inputs) kept."""
    table = TABLES[name]
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(
            data[table.schema.names], schema=table.schema, preserve_index=False
        )
    metadata = dict(data.schema.metadata or {})
    data = data.select(table.schema.names).cast(table.schema)
    metadata[TABLE_KEY] = table.stamp.encode()
    return data.replace_schema_metadata(metadata)


class TableSink:
    """Collects rows of one load table and streams them to Parquet in row groups.

    Rows are the named row types of loaders/rows.py; buffering column-wise keeps a
    million-row load within a few hundred MB instead of materialising every table at once.
    """

    def __init__(self, name: str, directory: Path, flush_rows: int = 200_000):
        self.table = TABLES[name]
        self.path = Path(directory) / self.table.file
        self.flush_rows = flush_rows
        self.rows: list[tuple[Any, ...]] = []
        self._writer: pq.ParquetWriter | None = None

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        schema = self.table.stamped_schema()
        columns = list(zip(*self.rows, strict=True))
        data = pa.Table.from_arrays(
            [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)],
            schema=schema,
        )
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, schema, compression="zstd")
        self._writer.write_table(data)
        self.rows = []

    def close(self) -> None:
        self.flush()
        if self._writer is None:
            schema = self.table.stamped_schema()
            pq.write_table(schema.empty_table(), self.path, compression="zstd")
        else:
            self._writer.close()
