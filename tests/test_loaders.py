"""The loaders on real files in real encodings: what is accepted, what is quarantined, why."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from openpyxl import Workbook
from typer.testing import CliRunner

from config.errors import ConfigError, InputError
from config.sources import load_sources
from loaders.identifiers import make_resident_id, make_uscc
from loaders.run import load_run
from service.cli import app

SECRET = b"test-secret"
USCC_A = make_uscc("310101", "MA1FL0A1")
USCC_B = make_uscc("440300", "MA5DXX12")
ID_ZHANG = make_resident_id("110101", date(1980, 5, 17), 123)
ID_LI = make_resident_id("310104", date(1975, 1, 2), 42)


def _bad_check(code: str) -> str:
    last = code[-1]
    return code[:-1] + ("1" if last != "1" else "2")


SOURCES = {
    "version": 1,
    "sources": {
        "registry": {
            "files": "registry*.csv",
            "format": "csv",
            "encoding": "utf-8",
            "record_key": "记录编号",
            "mentions": {
                "company": {
                    "kind": "company",
                    "fields": {
                        "name": "企业名称",
                        "uscc": "统一社会信用代码",
                        "former_names": "曾用名",
                        "industry_code": "行业代码",
                        "established": "成立日期",
                    },
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
                    "valid_from": "成立日期",
                }
            ],
        },
        "shareholders": {
            "files": "shareholders.csv",
            "format": "csv",
            "encoding": "gb18030",
            "record_key": "编号",
            "mentions": {
                "company": {"kind": "company", "fields": {"name": "企业名称"}},
                "shareholder": {
                    "kind_from": "股东类型",
                    "kinds": {"自然人股东": "person", "企业法人": "company"},
                    "fields": {"name": "股东名称", "identifier": "证照号码"},
                },
            },
            "facts": [
                {
                    "type": "shareholding",
                    "holder": "shareholder",
                    "company": "company",
                    "ratio": "持股比例",
                }
            ],
        },
        "punishments": {
            "files": "punishments.jsonl",
            "format": "jsonl",
            "record_key": "决定书文号",
            "mentions": {
                "party": {"kind": "company", "fields": {"name": "当事人", "uscc": "信用代码"}},
                "responsible": {
                    "kind": "person",
                    "each": "直接责任人",
                    "required": False,
                    "fields": {"name": "姓名", "id_number": "身份证号"},
                },
            },
            "facts": [
                {
                    "type": "punishment",
                    "party": "party",
                    "responsible": "responsible",
                    "decision_number": "决定书文号",
                    "category": "处罚类别",
                    "decision_date": "处罚日期",
                }
            ],
        },
        "defaulters": {
            "files": "defaulters.csv",
            "format": "csv",
            "encoding": "gbk",
            "record_key": "案号",
            "mentions": {
                "party": {
                    "kind": "person",
                    "fields": {"name": "被执行人", "id_number": "身份证号码"},
                }
            },
            "facts": [
                {
                    "type": "list_entry",
                    "list": {"const": "失信被执行人"},
                    "party": "party",
                    "entered": "发布时间",
                    "removed": "移出日期",
                    "expires": "管理期限至",
                }
            ],
        },
        "personnel": {
            "files": "personnel.xlsx",
            "format": "xlsx",
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
        },
    },
}


def _write_csv(path: Path, rows: list[str], encoding: str) -> None:
    path.write_bytes(("\n".join(rows) + "\n").encode(encoding))


def _world(tmp: Path) -> Path:
    """A small set of extracts, one per format, with a few deliberately broken rows."""
    tmp.mkdir(parents=True, exist_ok=True)
    _write_csv(
        tmp / "registry.csv",
        [
            "记录编号,企业名称,统一社会信用代码,曾用名,行业代码,成立日期,法定代表人,身份证号",
            f"R1,上海星河食品有限公司,{USCC_A},星河食品（上海）有限公司;上海星河商贸有限公司,C1391,2019-03-05,张伟,{ID_ZHANG}",
            f"R2,深圳蓝海贸易有限公司,{_bad_check(USCC_B)},,F5221,2019年3月5日,李娜,{_bad_check(ID_LI)}",
            "R3,北京某某餐饮有限公司,,,H6210,43529,,",
            f",无名公司,{USCC_B},,,2020/1/2,王芳,",
            f"R1,重复公司,{USCC_B},,,2020/1/2,王芳,",
            "R4,日期坏公司,,,,2019-13-45,赵六,",
            "R5,截断的行",
        ],
        "utf-8",
    )
    _write_csv(
        tmp / "shareholders.csv",
        [
            "编号,企业名称,股东名称,股东类型,证照号码,持股比例",
            f"S1,上海星河食品有限公司,张伟,自然人股东,{ID_ZHANG},35%",
            f"S2,上海星河食品有限公司,深圳蓝海贸易有限公司,企业法人,{USCC_B},0.65",
            "S3,深圳蓝海贸易有限公司,李娜,自然人股东,,150%",
            "S4,深圳蓝海贸易有限公司,王五,自然人股东,,abc%",
        ],
        "gb18030",
    )
    records = [
        {
            "决定书文号": "沪市监处〔2021〕1号",
            "当事人": "上海星河食品有限公司",
            "信用代码": USCC_A,
            "处罚类别": "罚款；没收违法所得",
            "处罚日期": "2021/6/1",
            "直接责任人": [
                {"姓名": "張偉", "身份证号": ID_ZHANG},
                {"姓名": "李娜", "身份证号": ""},
            ],
        },
        {
            "决定书文号": "沪市监处〔2021〕2号",
            "当事人": "上海星河食品有限公司",
            "信用代码": USCC_A,
            "处罚类别": "吊销许可证",
            "处罚日期": "2021年7月1日",
            "直接责任人": [],
        },
    ]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    lines.append(lines[0][: len(lines[0]) // 2])
    (tmp / "punishments.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    masked = ID_LI[:6] + "********" + ID_LI[-4:]
    good = [
        "案号,被执行人,身份证号码,发布时间,移出日期,管理期限至",
        f"(2020)沪0101执1号,李娜,{masked},2020-01-02,,2023年1月2日",
        "(2020)沪0101执2号,王芳,,2020-02-03,2021-02-03,2019-02-03",
    ]
    body = ("\n".join(good) + "\n").encode("gbk")
    body += "(2020)沪0101执3号,".encode("gbk") + b"\xff\xfe" + ",,2020-03-04,,\n".encode("gbk")
    (tmp / "defaulters.csv").write_bytes(body)
    book = Workbook()
    ws = book.active
    ws.append(["企业名称", "姓名", "职务", "任职日期"])
    ws.append(["上海星河食品有限公司", "张伟", "执行董事兼总经理", date(2019, 3, 5)])
    ws.append(["上海星河食品有限公司", "赵六", "监事", "2019-03-05"])
    ws.append(["上海星河食品有限公司", "钱七", "吉祥物", 43529])
    book.save(tmp / "personnel.xlsx")
    path = tmp / "sources.yaml"
    path.write_text(yaml.safe_dump(SOURCES, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def loaded(tmp_path: Path) -> tuple[Path, dict]:
    sources = _world(tmp_path / "in")
    run = tmp_path / "run"
    return run, load_run(sources, run, secret=SECRET)


def _table(run: Path, name: str) -> list[dict]:
    return pq.read_table(run / f"{name}.parquet").to_pylist()


def test_manifest_counts_reconcile_per_source(loaded):
    run, manifest = loaded
    expected = {  # read, accepted, quarantined, fields invalidated
        "registry": (7, 3, 4, 2),
        "shareholders": (4, 2, 2, 0),
        "punishments": (3, 2, 1, 0),
        "defaulters": (3, 2, 1, 1),  # a management period ending before its entry
        "personnel": (3, 3, 0, 1),
    }
    for name, (read, ok, bad, invalid) in expected.items():
        c = manifest["sources"][name]
        assert (
            c["rows_read"],
            c["rows_accepted"],
            c["rows_quarantined"],
            c["fields_invalidated"],
        ) == (read, ok, bad, invalid), name
        assert c["rows_read"] == c["rows_accepted"] + c["rows_quarantined"]
        assert all(len(f["sha256"]) == 64 for f in c["files"])
    on_disk = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk["sources"] == manifest["sources"]


def test_quarantine_reasons_are_exact(loaded):
    run, _ = loaded
    got = {(q["source"], q["line"], q["reason"], q["field"]) for q in _table(run, "quarantine")}
    assert got == {
        ("registry", 5, "missing_key", "记录编号"),
        ("registry", 6, "duplicate_key", "记录编号"),
        ("registry", 7, "unparseable_date", "成立日期"),
        ("registry", 8, "wrong_column_count", None),
        ("shareholders", 4, "ratio_out_of_range", "持股比例"),
        ("shareholders", 5, "unparseable_ratio", "持股比例"),
        ("punishments", 3, "unparseable_json", None),
        ("defaulters", 4, "undecodable", None),
    }


def test_invalid_identifiers_keep_the_row_and_are_marked(loaded):
    run, _ = loaded
    issues = {
        (i["source"], i["record_id"], i["slot"], i["field"], i["reason"])
        for i in _table(run, "field_issues")
    }
    assert ("registry", "R2", "company", "uscc", "invalid_check_digit") in issues
    assert ("registry", "R2", "legal_rep", "id_number", "invalid_check_digit") in issues
    companies = {
        c["record_id"]: c for c in _table(run, "company_mentions") if c["source"] == "registry"
    }
    assert companies["R2"]["uscc_status"] == "invalid" and companies["R2"]["uscc"] is None
    assert companies["R1"]["uscc"] == USCC_A
    assert companies["R1"]["org_code"] == USCC_A[8:17]
    assert companies["R1"]["former_names"] == ["星河食品(上海)有限公司", "上海星河商贸有限公司"]
    assert companies["R3"]["established"] == date(2019, 3, 5)  # Excel serial 43529


def test_no_full_resident_id_is_written_anywhere(loaded):
    run, _ = loaded
    blob = b"".join(p.read_bytes() for p in run.iterdir())
    text = "".join(str(pq.read_table(p).to_pylist()) for p in run.glob("*.parquet"))
    for full in (ID_ZHANG, ID_LI, _bad_check(ID_LI)):
        assert full not in text
        assert full.encode() not in blob
    persons = {(p["source"], p["record_id"], p["slot"]): p for p in _table(run, "person_mentions")}
    zhang = persons[("registry", "R1", "legal_rep")]
    assert zhang["id_status"] == "valid" and len(zhang["id_token"]) == 64
    assert zhang["birth_date"] == date(1980, 5, 17) and zhang["sex"] == "M"
    assert (
        persons[("punishments", "沪市监处〔2021〕1号", "responsible[0]")]["id_token"]
        == zhang["id_token"]
    )
    li = persons[("defaulters", "(2020)沪0101执1号", "party")]
    assert li["id_status"] == "masked" and li["id_token"] is None
    assert (li["id_prefix"], li["id_suffix"]) == (ID_LI[:6], ID_LI[-4:])


def test_facts_link_the_slots_of_their_record(loaded):
    run, _ = loaded
    holdings = {
        (h["record_id"], h["holder_kind"]): h["ratio"] for h in _table(run, "shareholdings")
    }
    assert holdings == {("S1", "person"): 0.35, ("S2", "company"): 0.65}
    punishments = {p["decision_number"]: p for p in _table(run, "punishments")}
    first = punishments["沪市监处〔2021〕1号"]
    assert first["categories"] == ["fine", "confiscation"]
    assert first["responsible_slots"] == ["responsible[0]", "responsible[1]"]
    assert punishments["沪市监处〔2021〕2号"]["categories"] == ["licence_revocation"]
    assert punishments["沪市监处〔2021〕2号"]["decision_date"] == date(2021, 7, 1)
    roles = {
        (r["record_id"], r["role"]) for r in _table(run, "roles") if r["source"] == "personnel"
    }
    assert roles == {
        ("上海星河食品有限公司|张伟|执行董事兼总经理", "executive_director"),
        ("上海星河食品有限公司|张伟|执行董事兼总经理", "manager"),
        ("上海星河食品有限公司|赵六|监事", "supervisor"),
        ("上海星河食品有限公司|钱七|吉祥物", "other"),
    }
    unknown = [i for i in _table(run, "field_issues") if i["reason"] == "unknown_term"]
    assert [(i["source"], i["raw_value"]) for i in unknown] == [("personnel", "吉祥物")]
    entries = {e["record_id"]: e for e in _table(run, "list_entries")}
    assert entries["(2020)沪0101执1号"]["list"] == "judgment_defaulter"
    assert entries["(2020)沪0101执2号"]["removed"] == date(2021, 2, 3)
    assert entries["(2020)沪0101执1号"]["expires"] == date(2023, 1, 2)
    # 管理期限至 before 发布时间: a typo; the entry is kept, standing until removed, and
    # the doubt is a field issue rather than a silent end to the listing
    assert entries["(2020)沪0101执2号"]["expires"] is None
    expired = [i for i in _table(run, "field_issues") if i["field"] == "expires"]
    assert [(i["record_id"], i["raw_value"], i["reason"]) for i in expired] == [
        ("(2020)沪0101执2号", "2019-02-03", "expires_not_after_entered")
    ]


def test_missing_key_column_fails_and_writes_nothing(tmp_path: Path):
    sources = _world(tmp_path / "in")
    run = tmp_path / "run"
    load_run(sources, run, secret=SECRET)
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    text = (sources.parent / "shareholders.csv").read_bytes().decode("gb18030")
    (sources.parent / "shareholders.csv").write_bytes(
        text.replace("持股比例", "比例", 1).encode("gb18030")
    )
    with pytest.raises(InputError) as err:
        load_run(sources, run, secret=SECRET)
    assert "shareholders.csv" in str(err.value) and "持股比例" in str(err.value)
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before


def test_wrong_encoding_missing_file_and_empty_file_are_clear_errors(tmp_path: Path):
    sources = _world(tmp_path / "in")
    registry = sources.parent / "registry.csv"
    registry.write_bytes(registry.read_bytes().decode("utf-8").encode("gbk"))
    with pytest.raises(InputError, match=r"registry\.csv.*(decode as utf-8|encoding)"):
        load_run(sources, tmp_path / "run1", secret=SECRET)
    assert not (tmp_path / "run1" / "manifest.json").exists()
    registry.unlink()
    with pytest.raises(InputError, match=r"registry\*\.csv.*no file matches"):
        load_run(sources, tmp_path / "run2", secret=SECRET)
    registry.write_bytes(b"")
    with pytest.raises(InputError, match=r"registry\.csv.*empty"):
        load_run(sources, tmp_path / "run3", secret=SECRET)


def test_utf8_file_declared_gbk_is_refused(tmp_path: Path):
    sources = _world(tmp_path / "in")
    defaulters = sources.parent / "defaulters.csv"
    defaulters.write_text(
        "案号,被执行人,身份证号码,发布时间,移出日期\n1,李娜,,2020-01-02,\n", encoding="utf-8"
    )
    with pytest.raises(InputError, match=r"defaulters\.csv.*UTF-8"):
        load_run(sources, tmp_path / "run", secret=SECRET)


def test_cli_exits_non_zero_with_the_file_named(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("VEIL_ID_SECRET", "cli-test")
    sources = _world(tmp_path / "in")
    (sources.parent / "punishments.jsonl").unlink()
    result = CliRunner().invoke(app, ["load", str(sources), "--run", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "punishments.jsonl" in result.output
    ok = _world(tmp_path / "again")
    result = CliRunner().invoke(app, ["load", str(ok), "--run", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["totals"]["rows_read"] == 20


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda s: s["sources"]["registry"].pop("format"), "sources.registry.format"),
        (
            lambda s: s["sources"]["registry"].update(encoding="latin-1"),
            "sources.registry.encoding",
        ),
        (lambda s: s["sources"]["shareholders"]["facts"][0].update(holder="owner"), "'owner'"),
        (
            lambda s: s["sources"]["defaulters"]["mentions"]["party"]["fields"].update(colour="x"),
            "sources.defaulters.mentions.party",
        ),
        (lambda s: s["sources"]["registry"].update(extra_key=1), "sources.registry.extra_key"),
    ],
)
def test_malformed_sources_name_file_entry_and_key(tmp_path: Path, mutate, expected: str):
    data = json.loads(json.dumps(SOURCES))
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_sources(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_unknown_constant_term_is_refused_before_reading(tmp_path: Path):
    sources = _world(tmp_path / "in")
    data = yaml.safe_load(sources.read_text(encoding="utf-8"))
    data["sources"]["defaulters"]["facts"][0]["list"] = {"const": "黑名单X"}
    sources.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\.defaulters\.facts\[0\]\.list: unknown term"):
        load_run(sources, tmp_path / "run", secret=SECRET)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("source", ["defaulters", "registry", "shareholders"])
def test_detected_encoding_reads_gbk_gb18030_and_utf8_alike(tmp_path: Path, source: str):
    sources = _world(tmp_path / "in")
    declared = load_run(sources, tmp_path / "declared", secret=SECRET)
    data = yaml.safe_load(sources.read_text(encoding="utf-8"))
    data["sources"][source]["encoding"] = "detect"
    sources.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    detected = load_run(sources, tmp_path / "detected", secret=SECRET)
    assert detected["sources"][source] == declared["sources"][source]


def test_xlsx_sheet_by_name_and_a_missing_sheet(tmp_path: Path):
    sources = _world(tmp_path / "in")
    data = yaml.safe_load(sources.read_text(encoding="utf-8"))
    data["sources"]["personnel"]["sheet"] = "Sheet"
    sources.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert (
        load_run(sources, tmp_path / "ok", secret=SECRET)["sources"]["personnel"]["rows_accepted"]
        == 3
    )
    data["sources"]["personnel"]["sheet"] = "主要人员"
    sources.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InputError, match=r"personnel\.xlsx: sheet '主要人员' absent"):
        load_run(sources, tmp_path / "bad", secret=SECRET)
