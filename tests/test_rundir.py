"""The run directory's one store (loaders/rundir.py): docs/ARCHITECTURE.md draws the same
tables as the code writes, a table of another version is refused, and a stage's files
reach the directory all together or not at all."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from config.errors import InputError
from loaders import rundir
from loaders.rows import Shareholding, arrow_schema
from loaders.rundir import TABLE_KEY, TABLES, Staged

ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "ARCHITECTURE.md"
#: How the drawing names an Arrow type in a column's parenthesis.
DRAWN_TYPES = {"int64": pa.int64(), "float": pa.float64(), "list<string>": pa.list_(pa.string())}


def _top_level(text: str) -> str:
    """`text` without its parenthesised remarks (which may hold commas themselves)."""
    out, depth = [], 0
    for char in text:
        depth += char == "("
        if depth == 0:
            out.append(char)
        depth -= char == ")" and depth > 0
    return "".join(out)


def _drawn_tables() -> dict[str, str]:
    """Table name -> the cell of ARCHITECTURE.md listing its columns."""
    drawn = {}
    rows = [line for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines()]
    for line in rows:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`(\w+)`", cells[0]) if cells else None
        if name and name.group(1) in TABLES:
            table = TABLES[name.group(1)]
            drawn[table.name] = cells[1] if table.written_by == rundir.LOAD else cells[2]
    return drawn


def test_the_architecture_draws_every_table_with_the_columns_the_code_writes() -> None:
    drawn = _drawn_tables()
    assert set(drawn) == set(TABLES)
    for name, cell in drawn.items():
        columns = [re.match(r"\s*(\w*)", c)[1] for c in _top_level(cell).split(",")]
        assert columns == TABLES[name].schema.names, name
        for stated in re.finditer(r"(\w+) \(([^),]+)[),]", cell):
            column, kind = stated.groups()
            if kind in DRAWN_TYPES:
                assert TABLES[name].schema.field(column).type == DRAWN_TYPES[kind], column


def test_a_row_type_gives_its_table_schema() -> None:
    schema = arrow_schema(Shareholding)
    assert schema.names == list(Shareholding._fields)
    assert schema.field("ratio").type == pa.float64()
    assert schema.field("valid_to").type == pa.date32()
    assert TABLES["punishments"].schema.field("categories").type == pa.list_(pa.string())


def test_a_table_of_another_version_is_refused_and_named(tmp_path: Path) -> None:
    table = TABLES["suspects"]
    other = table.schema.empty_table().replace_schema_metadata({TABLE_KEY: b"suspects/2"})
    pq.write_table(other, tmp_path / table.file)
    with pytest.raises(InputError) as refused:
        rundir.table(tmp_path, "suspects")
    message = str(refused.value)
    assert "suspects/2" in message and "suspects/1" in message and "veil link" in message


def test_a_missing_table_says_which_command_writes_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="veil load"):
        rundir.table(tmp_path, "roles")
    with pytest.raises(InputError, match="veil link --run"):
        rundir.entities(tmp_path)


def test_a_stage_that_fails_leaves_the_directory_as_it_was(tmp_path: Path) -> None:
    before = pd.DataFrame({"entity_id": ["C1"], "change": ["created"], "from_ids": [[]]})
    before = before.assign(mentions=1, new_mentions=1, entity_type="company")
    with Staged(tmp_path, "link") as staged:
        staged.write("entity_changes", before)
        staged.publish()
    with pytest.raises(RuntimeError), Staged(tmp_path, "link") as staged:
        staged.write("entity_changes", before.assign(change="merged"))
        raise RuntimeError("the stage failed before publishing")
    assert rundir.table(tmp_path, "entity_changes")["change"].tolist() == ["created"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entity_changes.parquet"]
    written = pq.read_schema(rundir.path(tmp_path, "entity_changes"))
    assert written.metadata[TABLE_KEY] == b"entity_changes/1"
    assert written.field("from_ids").type == pa.list_(pa.string())  # though every list is empty


def test_the_last_file_goes_in_last_and_scratch_never(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("old", encoding="utf-8")
    with Staged(tmp_path, "load") as staged:
        (staged.scratch / "part-000").mkdir()
        staged.path("manifest.json").write_text("new", encoding="utf-8")
        staged.write("records", TABLES["records"].schema.empty_table())
        staged.publish(last="manifest.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "records.parquet"]
    assert (tmp_path / "manifest.json").read_text(encoding="utf-8") == "new"


def test_a_killed_stage_is_cleaned_up_by_the_next_and_a_live_one_is_not(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    orphan = tmp_path / f".staging-link-{dead.stdout.strip()}"
    (orphan / "models").mkdir(parents=True)
    alive = tmp_path / f".staging-load-{os.getppid()}"
    alive.mkdir()
    with Staged(tmp_path, "link") as staged:
        assert staged.orphans_removed == [orphan.name]
    assert not orphan.exists() and alive.exists()


def test_entities_keep_the_stamp_of_their_inputs_through_the_writer(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")
    entities = pd.DataFrame(
        {"run": ["."], "source": ["registry"], "record_id": ["R1"], "slot": ["company"]}
    ).assign(entity_type="company", entity_id="C1", confidence=1.0)
    with Staged(tmp_path, "link") as staged:
        staged.write("entities", rundir.entities_table(entities, tmp_path))
        staged.publish(last="entities")
    assert rundir.stale_entities(tmp_path) is None
    (tmp_path / "manifest.json").write_text('{"again": true}', encoding="utf-8")
    assert "loaded again" in (rundir.stale_entities(tmp_path) or "")
