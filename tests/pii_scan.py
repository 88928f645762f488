"""Find full resident ID numbers in veil's outputs: files (Parquet string columns, text
files) and the graph's string properties. Used after the demo and after hostile loads."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import neo4j
import pyarrow as pa
import pyarrow.parquet as pq

_CANDIDATE = re.compile(r"(?<![0-9])[0-9]{6}((?:19|20)[0-9]{6})[0-9]{3}[0-9Xx](?![0-9])")


def full_ids(text: str) -> list[str]:
    """18-character numbers whose middle is a plausible birth date: resident IDs, valid
    check character or not (a wrong check digit does not make a number less personal)."""
    found = []
    for match in _CANDIDATE.finditer(text):
        birth = match.group(1)
        try:
            date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
        except ValueError:
            continue
        found.append(match.group(0))
    return found


def _strings(column: pa.ChunkedArray) -> list[str]:
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return [v for v in column.to_pylist() if v]
    if pa.types.is_list(kind) or pa.types.is_struct(kind):
        return [json.dumps(v, ensure_ascii=False, default=str) for v in column.to_pylist() if v]
    return []


def scan_files(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, list[str]]:
    """{file: full IDs found} under `root` (directories in `skip` left out: the inputs)."""
    hits: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(path.is_relative_to(s) for s in skip):
            continue
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            texts = [s for name in table.column_names for s in _strings(table[name])]
            texts.append(
                json.dumps(
                    {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
                )
            )
        else:
            texts = [path.read_bytes().decode("utf-8", "ignore")]
        found = [i for text in texts for i in full_ids(text)]
        if found:
            hits[str(path.relative_to(root))] = found[:3]
    return hits


def scan_graph(driver: neo4j.Driver) -> list[str]:
    """Full IDs in any property of any node or relationship."""
    found = []
    for query in (
        "MATCH (n) RETURN properties(n) AS props",
        "MATCH ()-[r]->() RETURN properties(r) AS props",
    ):
        records, _, _ = driver.execute_query(query, routing_=neo4j.RoutingControl.READ)
        for record in records:
            found += full_ids(json.dumps(record["props"], ensure_ascii=False, default=str))
    return found


def private_modes(root: Path, skip: tuple[Path, ...] = ()) -> list[str]:
    """Files not 0600 and directories not 0700 under `root`."""
    wrong = []
    for path in sorted(root.rglob("*")):
        if any(path.is_relative_to(s) for s in skip):
            continue
        mode = path.stat().st_mode & 0o777
        expected = 0o700 if path.is_dir() else 0o600
        if mode != expected:
            wrong.append(f"{path.relative_to(root)} {oct(mode)}")
    return wrong
