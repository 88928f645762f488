"""Hostile and broken extracts: every physical line accounted for, nothing crashes, no
full identifier kept, nothing read from outside the mapping's folder."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pii_scan import scan_files

from config.errors import ConfigError, InputError
from loaders.identifiers import make_resident_id, make_uscc
from loaders.run import load_run

SECRET = b"hostile"
HEADER = "记录编号,企业名称,统一社会信用代码,法定代表人,身份证号\n"
FULL_ID = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")


def _mapping(**extra: object) -> dict:
    source = {
        "files": "registry.csv",
        "format": "csv",
        "record_key": "记录编号",
        "mentions": {
            "company": {
                "kind": "company",
                "fields": {"name": "企业名称", "uscc": "统一社会信用代码"},
            },
            "legal_rep": {
                "kind": "person",
                "required": False,
                "fields": {"name": "法定代表人", "id_number": "身份证号"},
            },
        },
        "facts": [
            {
                "type": "role",
                "person": "legal_rep",
                "company": "company",
                "role": {"const": "legal_rep"},
            }
        ],
    }
    source.update(extra)
    return {"version": 1, "sources": {"registry": source}}


def _row(i: int) -> str:
    uscc = make_uscc("310101", f"MA{i:06d}")
    rid = make_resident_id("110101", date(1980, 1, 1 + i % 28), i % 999)
    return f"R{i:04d},上海第{i}食品有限公司,{uscc},张{i},{rid}"


def _write(tmp: Path, body: bytes, mapping: dict | None = None) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "registry.csv").write_bytes(body)
    path = tmp / "sources.yaml"
    path.write_text(yaml.safe_dump(mapping or _mapping(), allow_unicode=True), encoding="utf-8")
    return path


def _load(tmp: Path, body: bytes, mapping: dict | None = None) -> tuple[dict, list[dict]]:
    manifest = load_run(_write(tmp, body, mapping), tmp / "run", secret=SECRET)
    quarantine = pq.read_table(tmp / "run" / "quarantine.parquet").to_pylist()
    return manifest, quarantine


def _reconciles(manifest: dict, physical_lines: int) -> dict:
    source = manifest["sources"]["registry"]
    assert source["rows_read"] == source["rows_accepted"] + source["rows_quarantined"]
    (file,) = source["files"]
    assert file["lines"] == physical_lines
    return file


def test_unbalanced_quote_costs_one_row_and_reading_resumes(tmp_path: Path) -> None:
    rows = [_row(i) for i in range(1, 310)]
    rows[99] = rows[99].replace("上海第100", '"上海第100')  # line 101 with the header
    body = (HEADER + "\n".join(rows) + "\n").encode()
    manifest, quarantine = _load(tmp_path, body)
    file = _reconciles(manifest, 309)
    assert file["rows_read"] == 309
    source = manifest["sources"]["registry"]
    assert source["rows_accepted"] == 308
    assert [(q["line"], q["reason"]) for q in quarantine] == [(101, "unbalanced_quote")]
    assert "R0100" in quarantine[0]["raw_value"]


def test_a_quoted_value_over_two_lines_is_one_row(tmp_path: Path) -> None:
    rows = [_row(1), _row(2).replace("上海第2食品", '"上海第2\n食品'), _row(3)]
    rows[1] = rows[1].replace("有限公司,", '有限公司",', 1)
    manifest, quarantine = _load(tmp_path, (HEADER + "\n".join(rows) + "\n").encode())
    file = _reconciles(manifest, 4)
    assert quarantine == []
    assert file["rows_read"] == 3 and file["rows_spanning_lines"] == 1


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_reads_the_same(tmp_path: Path, ending: bytes) -> None:
    body = ending.join(
        line.encode("gbk") for line in [HEADER.strip()] + [_row(i) for i in range(1, 6)]
    )
    mapping = _mapping(encoding="gbk")
    manifest, quarantine = _load(tmp_path, body + ending, mapping)
    _reconciles(manifest, 5)
    assert manifest["sources"]["registry"]["rows_accepted"] == 5 and quarantine == []


@pytest.mark.parametrize("delimiter", [";;", "", '"', "\n"])
def test_delimiter_must_be_one_plain_character(tmp_path: Path, delimiter: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_run(_write(tmp_path, HEADER.encode(), _mapping(delimiter=delimiter)), tmp_path / "run")
    assert "sources.registry.delimiter" in str(err.value)
    assert "one character" in str(err.value)


def test_tab_delimiter_reads(tmp_path: Path) -> None:
    body = "\n".join(line.replace(",", "\t") for line in [HEADER.strip(), _row(1), _row(2)]) + "\n"
    manifest, _ = _load(tmp_path, body.encode(), _mapping(delimiter="\t"))
    assert manifest["sources"]["registry"]["rows_accepted"] == 2


def test_huge_name_is_quarantined_and_control_characters_removed(tmp_path: Path) -> None:
    rows = [
        _row(1),
        _row(2).replace("上海第2食品", "上" * 20_000),
        _row(3).replace("张3", "张\x00\x1b[2J3"),
    ]
    manifest, quarantine = _load(tmp_path, (HEADER + "\n".join(rows) + "\n").encode())
    _reconciles(manifest, 3)
    assert [(q["line"], q["field"], q["reason"]) for q in quarantine] == [
        (3, "企业名称", "value_too_long")
    ]
    assert len(quarantine[0]["raw_value"]) <= 500
    assert manifest["sources"]["registry"]["values_cleaned"] == {
        "control_characters_removed:法定代表人": 1
    }
    persons = pq.read_table(tmp_path / "run" / "person_mentions.parquet").to_pylist()
    assert "张[2J3" in {p["name"] for p in persons}
    assert not any("\x00" in (p["name_raw"] or "") for p in persons)


def test_name_bound_is_configurable(tmp_path: Path) -> None:
    mapping = _mapping()
    mapping["limits"] = {"name_chars": 5}
    _, quarantine = _load(tmp_path, (HEADER + _row(1) + "\n").encode(), mapping)
    assert {q["reason"] for q in quarantine} == {"value_too_long"}
    mapping["limits"] = {"name_chars": "many"}
    with pytest.raises(ConfigError, match=r"limits\.name_chars"):
        load_run(_write(tmp_path, HEADER.encode(), mapping), tmp_path / "run2")


def test_quarantine_never_keeps_a_full_resident_id(tmp_path: Path) -> None:
    rows = [_row(i) + ",extra,columns" for i in range(1, 11)]  # all ten rows broken
    rows.append(_row(11).replace("张11", '"张11'))
    manifest, quarantine = _load(tmp_path, (HEADER + "\n".join(rows) + "\n").encode())
    _reconciles(manifest, 11)
    assert len(quarantine) == 11
    for q in quarantine:
        assert not FULL_ID.search(q["raw_value"] or ""), q["raw_value"]
        assert "********" in q["raw_value"]
    assert scan_files(tmp_path / "run") == {}


def test_files_outside_the_mapping_folder_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "registry.csv").write_text(HEADER + _row(1) + "\n", encoding="utf-8")
    inside = tmp_path / "mapping"
    for files in ("../elsewhere/registry.csv", str(outside / "registry.csv")):
        path = _write(inside, b"", _mapping(files=files))
        with pytest.raises(InputError) as err:
            load_run(path, tmp_path / "run", secret=SECRET)
        assert "allow_outside" in str(err.value)
        assert "张1" not in str(err.value)
    path = _write(inside, b"", _mapping(files=str(outside / "registry.csv"), allow_outside=True))
    assert load_run(path, tmp_path / "run", secret=SECRET)["totals"]["rows_accepted"] == 1


def test_deep_json_is_quarantined(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    deep = "[" * 100_000 + "]" * 100_000
    lines = [json.dumps({"记录编号": "R1", "企业名称": "甲公司"}, ensure_ascii=False), deep, ""]
    (tmp_path / "registry.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = _mapping(files="registry.jsonl", format="jsonl")
    mapping["sources"]["registry"]["mentions"]["company"]["fields"] = {"name": "企业名称"}
    del mapping["sources"]["registry"]["mentions"]["legal_rep"]
    mapping["sources"]["registry"]["facts"] = []
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    manifest = load_run(path, tmp_path / "run", secret=SECRET)
    source = manifest["sources"]["registry"]
    assert source["files"][0]["lines"] == 3 and source["files"][0]["blank_lines"] == 1
    assert source["rows_accepted"] == 1 and source["quarantine_reasons"] == {"unparseable_json": 1}


HOSTILE_CELLS = st.sampled_from(
    [
        '"',
        '""',
        '"a"b',
        "=cmd|' /C calc'!A0",
        "[/]",
        "[bold]x[/bold]",
        ":x:",
        "\x00",
        "\r",
        "\t",
        "𠀀𠀁",  # CJK extension B
        "𪚥" * 3,
        ",",
        "\\",
        "",
    ]
)


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    lines=st.lists(
        st.one_of(
            st.binary(max_size=60),
            st.lists(st.one_of(HOSTILE_CELLS, st.text(max_size=8)), min_size=1, max_size=7).map(
                lambda cells: ",".join(cells).encode("utf-8", "surrogatepass")
            ),
            st.integers(1, 500).map(lambda i: _row(i).encode()),
        ),
        max_size=25,
    ),
    ending=st.sampled_from([b"\n", b"\r\n"]),
)
def test_any_bytes_are_accepted_or_quarantined_line_by_line(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], ending: bytes
) -> None:
    tmp = tmp_path_factory.mktemp("random")
    lines = [line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines]
    body = HEADER.strip().encode() + ending + ending.join(lines) + (ending if lines else b"")
    try:
        manifest, quarantine = _load(tmp, body)
    except InputError as err:  # whole-file refusals: too many undecodable lines
        assert "encoding" in str(err)
        return
    source = manifest["sources"]["registry"]
    (file,) = source["files"]
    assert file["lines"] == len(lines)
    assert source["rows_read"] == source["rows_accepted"] + source["rows_quarantined"]
    assert source["rows_quarantined"] == len({(q["line"]) for q in quarantine})
    for q in quarantine:
        assert not FULL_ID.search(q["raw_value"] or "")


#: The least an alert holds (alerts/answers.py), for exports of hostile names.
_ALERT = {
    "rule": "food_art135",
    "severity": "ban",
    "status": "new",
    "active": True,
    "person_id": "P1",
    "role": "legal_rep",
    "company_id": "C1",
}
_EVIDENCE = {
    "rule": {"id": "food_art135", "title": "t", "legal_basis": "b", "severity": "ban"},
    "trigger": {
        "kind": "punishment",
        "key": "k",
        "source": "s",
        "record_id": "r",
        "date": "2020-05-01",
    },
    "person": {"entity_id": "P1"},
    "ties": [],
    "identity": {"old_mentions": [], "new_mentions": [], "ids_contradict": False},
    "target": {"company": None, "role": "legal_rep"},
    "window": {"start": "2020-05-01", "end": "2025-05-01", "period": "5 years"},
}


def test_alert_csv_export_neutralises_formulas_and_jsonl_keeps_them(tmp_path: Path) -> None:
    import csv

    from alerts.answers import Alert
    from alerts.store import export

    names = ["=cmd|' /C calc'!A0", "+SUM(1)有限公司", "-2+3", "@SUM(A1)", "\t=1", "正常有限公司"]
    alerts = [
        Alert.model_validate(
            {
                **_ALERT,
                "id": f"A{i}",
                "company_name": name,
                "person_name": "[/]",
                "evidence": _EVIDENCE,
            }
        )
        for i, name in enumerate(names)
    ]
    export(alerts, tmp_path / "a.csv")
    export(alerts, tmp_path / "a.jsonl")
    with (tmp_path / "a.csv").open(encoding="utf-8-sig", newline="") as f:
        cells = [row["company_name"] for row in csv.DictReader(f)]
    assert cells == ["'" + n for n in names[:-1]] + ["正常有限公司"]
    exact = [json.loads(line)["company_name"] for line in (tmp_path / "a.jsonl").open()]
    assert exact == names
