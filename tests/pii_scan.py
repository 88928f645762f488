"""Find full resident ID numbers in veil's outputs: files (Parquet string columns, text
files) and the graph's string properties, and masks in an output that add up to one
(`revealed`). Used after the demo, after hostile loads, and on the CLI's outputs."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import neo4j
import pyarrow as pa
import pyarrow.parquet as pq

from loaders import rundir

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


#: An 18-character masked ID inside a text: digits (an X last) and at least one mask
#: character, in the patterns agencies print (6+4, 4+4, 3+4, 1+1, the birth date alone).
_MASK = re.compile(r"(?<![0-9A-Za-z*×●•#])[0-9X*×●•#]{18}(?![0-9A-Za-z*×●•#])")
_HIDDEN = "*×●•#"


def masks_in(text: str) -> list[str]:
    """The 18-character masked IDs in `text`."""
    return [m for m in _MASK.findall(text) if any(c in _HIDDEN for c in m)]


def overlaid(masks: list[str]) -> str:
    """The characters a set of 18-character masks shows together: at each position the
    first mask's character that is not hidden, `*` where every one hides it."""
    return "".join(next((m[i] for m in masks if m[i] not in _HIDDEN), "*") for i in range(18))


def _shown_positions(mask: str) -> tuple[int, ...]:
    return tuple(i for i, c in enumerate(mask) if c not in _HIDDEN)


def revealed(text: str, ids: list[str]) -> list[str]:
    """The resident IDs of `ids` that `text` gives away: written in full, or put together
    from its masks. Every mask that could be an ID's (the characters it shows are the
    ID's) counts toward it, whoever it was printed for: a reader cannot tell either."""
    found = [i for i in ids if i in text]
    masks = sorted(set(masks_in(text)))
    by_pattern: dict[tuple[int, ...], list[str]] = {}
    for mask in masks:
        by_pattern.setdefault(_shown_positions(mask), []).append(mask)
    compatible: dict[str, list[str]] = {}
    for positions, group in by_pattern.items():
        index: dict[str, list[str]] = {}
        for number in ids:
            index.setdefault("".join(number[i] for i in positions), []).append(number)
        for mask in group:
            for number in index.get("".join(mask[i] for i in positions), []):
                compatible.setdefault(number, []).append(mask)
    found += [n for n, group in compatible.items() if overlaid(group) == n]
    return sorted(set(found))


def adding_up(run_dir: Path) -> dict[str, str]:
    """Person entity -> the full ID its mentions' source masks add up to, in a linked run
    directory (where they may: linkage compares them there)."""
    mentions = rundir.table(run_dir, "person_mentions")
    entities = rundir.entities(run_dir, ["source", "record_id", "slot", "entity_id"])
    merged = mentions[["source", "record_id", "slot", "id_display"]].merge(
        entities, on=["source", "record_id", "slot"]
    )
    found = {}
    for entity, masks in merged.dropna(subset=["id_display"]).groupby("entity_id")["id_display"]:
        together = overlaid(sorted({m for m in masks if len(m) == 18}))
        if "*" not in together:
            found[str(entity)] = together
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
