"""Several sheets of one workbook read as one source: every row keeps its sheet, every
sheet reconciles, spare sheets are named, and a sheet reference that could mean two
sheets is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from openpyxl import Workbook
from typer.testing import CliRunner

from config.errors import ConfigError, InputError
from loaders.run import load_run
from service.cli import app

SECRET = b"test-secret"
HEADER = ["企业名称", "姓名", "职务", "任职日期"]


def _workbook(path: Path, sheets: dict[str, list[list[object]]]) -> None:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        ws = book.create_sheet(title)
        for row in rows:
            ws.append(row)
    book.save(path)


def _sources(tmp: Path, sheet: object, fmt: str = "xlsx") -> Path:
    spec = {
        "version": 1,
        "sources": {
            "personnel": {
                "files": "personnel.xlsx",
                "format": fmt,
                "sheet": sheet,
                "record_key": ["企业名称", "姓名", "职务"],
                "mentions": {
                    "company": {"kind": "company", "fields": {"name": "企业名称"}},
                    "person": {"kind": "person", "fields": {"name": "姓名"}},
                },
                "facts": [
                    {
                        "type": "role",
                        "person": "person",
                        "company": "company",
                        "role": "职务",
                        "valid_from": "任职日期",
                    }
                ],
            }
        },
    }
    path = tmp / "sources.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def _by_year(tmp: Path) -> None:
    _workbook(
        tmp / "personnel.xlsx",
        {
            "2021": [
                HEADER,
                ["上海星河食品有限公司", "张伟", "监事", "2021-03-05"],
                ["上海星河食品有限公司", "李娜", "经理", "2021-04-01"],
            ],
            "2022": [
                HEADER,
                ["上海星河食品有限公司", "张伟", "监事", "2021-03-05"],  # again: a duplicate
                ["北京明月餐饮有限公司", "王芳", "董事", "不详日期"],  # an unparseable date
                [None, None, None, None],
                ["北京明月餐饮有限公司", "赵六", "监事", "2022-01-09"],
            ],
            "Sheet3": [],
        },
    )


def test_every_sheet_is_one_source_and_each_reconciles(tmp_path: Path) -> None:
    _by_year(tmp_path)
    manifest = load_run(_sources(tmp_path, "*"), tmp_path / "run", secret=SECRET)
    source = manifest["sources"]["personnel"]
    assert (source["rows_read"], source["rows_accepted"], source["rows_quarantined"]) == (
        5,
        3,
        2,
    )
    files = {f["path"]: f for f in source["files"]}
    assert files["personnel.xlsx[2021]"]["rows"] == 2
    assert (files["personnel.xlsx[2022]"]["rows"], files["personnel.xlsx[2022]"]["blank_rows"]) == (
        4,
        1,
    )
    assert files["personnel.xlsx[Sheet3]"]["passed_over"] == "empty sheet"
    assert {f["sha256"] for f in source["files"]} == {files["personnel.xlsx[2021]"]["sha256"]}
    records = pq.read_table(tmp_path / "run" / "records.parquet").to_pylist()
    assert sorted((r["file"], r["line"]) for r in records) == [
        ("personnel.xlsx[2021]", 2),
        ("personnel.xlsx[2021]", 3),
        ("personnel.xlsx[2022]", 5),
    ]
    quarantine = pq.read_table(tmp_path / "run" / "quarantine.parquet").to_pylist()
    assert sorted((q["file"], q["line"], q["reason"]) for q in quarantine) == [
        ("personnel.xlsx[2022]", 2, "duplicate_key"),
        ("personnel.xlsx[2022]", 3, "unparseable_date"),
    ]
    shown = CliRunner().invoke(
        app,
        ["load", str(tmp_path / "sources.yaml"), "--run", str(tmp_path / "run2")],
        env={"VEIL_ID_SECRET": "x", "COLUMNS": "200"},
    )
    assert shown.exit_code == 0, shown.output
    assert "2 sheets read" in shown.output
    assert "passed over personnel.xlsx[Sheet3] (empty sheet)" in shown.output


def test_a_list_of_sheets_reads_those_only_and_a_year_unquoted_is_its_name(
    tmp_path: Path,
) -> None:
    _by_year(tmp_path)
    # YAML reads 2021 unquoted as a number; the workbook has three sheets, so it can
    # only be the sheet named 2021
    manifest = load_run(_sources(tmp_path, [2021]), tmp_path / "run", secret=SECRET)
    source = manifest["sources"]["personnel"]
    assert [f["path"] for f in source["files"]] == ["personnel.xlsx[2021]"]
    assert source["rows_accepted"] == 2


def test_a_sheet_number_that_could_mean_two_sheets_is_refused(tmp_path: Path) -> None:
    _workbook(
        tmp_path / "personnel.xlsx",
        {"1": [HEADER], "2": [HEADER], "3": [HEADER]},
    )
    with pytest.raises(InputError, match=r"sheet 1 is both the index of sheet '2'"):
        load_run(_sources(tmp_path, 1), tmp_path / "run", secret=SECRET)
    with pytest.raises(InputError, match=r"name the same sheet twice"):
        load_run(_sources(tmp_path, [0, "1"]), tmp_path / "run", secret=SECRET)


def test_a_sheet_lacking_the_mapped_columns_is_named(tmp_path: Path) -> None:
    _workbook(
        tmp_path / "personnel.xlsx",
        {
            "在任": [HEADER, ["上海星河食品有限公司", "张伟", "监事", "2021-03-05"]],
            "说明": [["备注"]],
        },
    )
    with pytest.raises(InputError, match=r"personnel\.xlsx\[说明\].*missing column"):
        load_run(_sources(tmp_path, "*"), tmp_path / "run", secret=SECRET)
    assert not (tmp_path / "run" / "manifest.json").exists()


def test_sheet_on_a_csv_source_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "personnel.xlsx").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\.personnel.*xlsx sources only"):
        load_run(_sources(tmp_path, "*", fmt="csv"), tmp_path / "run", secret=SECRET)


def test_sources_check_reads_every_sheet_and_names_the_spare_ones(tmp_path: Path) -> None:
    _by_year(tmp_path)
    result = CliRunner().invoke(app, ["sources", "check", str(_sources(tmp_path, "*")), "--json"])
    assert result.exit_code == 0, result.output
    check = json.loads(result.output)["personnel"]
    assert (check["rows_sampled"], check["rows_accepted"]) == (5, 3)
    assert check["sheets_passed_over"] == ["personnel.xlsx[Sheet3]: empty sheet"]
