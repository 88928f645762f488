"""`veil sources check` on a good and on broken mappings, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from service.cli import app

HEADER = "编号,企业名称,行业代码,股东名称,出资比例,备注"
ROWS = [
    "G1,甲食品有限公司,1331,张三,0.35",
    "G2,甲食品有限公司,C1331,李四,0.65",
    "G3,乙食品有限公司,F1331,王五,1",
    ",丙有限公司,H6210,赵六,35.00",
]


def _mapping(**changes: object) -> dict:
    source = {
        "files": "shareholders.csv",
        "format": "csv",
        "record_key": "编号",
        "mentions": {
            "company": {
                "kind": "company",
                "fields": {"name": "企业名称", "industry_code": "行业代码"},
            },
            "holder": {"kind": "person", "fields": {"name": "股东名称"}},
        },
        "facts": [
            {"type": "shareholding", "holder": "holder", "company": "company", "ratio": "出资比例"}
        ],
    }
    source.update(changes)
    return {"version": 1, "sources": {"shareholders": source}}


def _write(tmp: Path, mapping: dict) -> Path:
    (tmp / "shareholders.csv").write_text(
        "\n".join([HEADER, *(r + ",x" for r in ROWS)]) + "\n", encoding="utf-8"
    )
    path = tmp / "sources.yaml"
    path.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    return path


def test_a_good_mapping_shows_columns_unmapped_and_doubts(tmp_path: Path) -> None:
    path = _write(tmp_path, _mapping())
    result = CliRunner().invoke(app, ["sources", "check", str(path), "--json"])
    assert result.exit_code == 0, result.output
    check = json.loads(result.output)["shareholders"]
    assert check["columns"]["出资比例"] == ["facts[0] shareholding.ratio"]
    assert check["columns"]["行业代码"] == ["company.industry_code"]
    assert check["unmapped"] == ["备注"]
    assert (check["rows_sampled"], check["rows_accepted"]) == (4, 3)
    assert check["quarantine_reasons"] == {"missing_key": 1}
    assert check["field_issue_reasons"] == {"industry_section_mismatch": 1}
    assert check["values_inferred"] == {
        "industry_section_added:行业代码": 1,
        "ratio_read_by_company_total:出资比例": 1,
    }
    assert check["ratio_styles"] == {"出资比例": "fraction"}
    assert not (tmp_path / "run").exists()
    text = CliRunner().invoke(app, ["sources", "check", str(path)], env={"COLUMNS": "200"})
    assert text.exit_code == 0
    assert "not read by the mapping" in text.output and "read as fraction" in text.output


def test_broken_mappings_name_the_file_and_the_key(tmp_path: Path) -> None:
    runner = CliRunner()
    bad_key = _write(tmp_path, _mapping(delimiter=";;"))
    result = runner.invoke(app, ["sources", "check", str(bad_key)])
    assert result.exit_code == 1
    assert "sources.shareholders.delimiter" in result.output and "Traceback" not in result.output
    missing = _mapping()
    missing["sources"]["shareholders"]["mentions"]["holder"]["fields"]["name"] = "股东"
    result = runner.invoke(app, ["sources", "check", str(_write(tmp_path, missing))])
    assert result.exit_code == 1
    assert "missing column(s) ['股东']" in result.output
    outside = _write(tmp_path, _mapping(files="../elsewhere.csv"))
    (tmp_path.parent / "elsewhere.csv").write_text(HEADER + "\n", encoding="utf-8")
    result = runner.invoke(app, ["sources", "check", str(outside)])
    assert result.exit_code == 1 and "allow_outside" in result.output


def test_kind_infer_tells_each_mention_by_its_shape_and_counts_it(tmp_path: Path) -> None:
    from loaders.identifiers import make_resident_id, make_uscc
    from loaders.run import load_run

    rid = make_resident_id("110101", __import__("datetime").date(1980, 1, 1), 7)
    lines = [
        "编号,当事人,证件号码",
        f"P1,上海某某食品有限公司,{make_uscc('310101', 'MA000001')}",
        f"P2,张三,{rid}",
        "P3,王五,",
        "P4,某某某某某某,",  # neither a company word, an identifier, nor a short name
    ]
    (tmp_path / "p.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = {
        "version": 1,
        "sources": {
            "punishments": {
                "files": "p.csv",
                "format": "csv",
                "record_key": "编号",
                "mentions": {
                    "party": {
                        "kind": "infer",
                        "fields": {"name": "当事人", "identifier": "证件号码"},
                    }
                },
            }
        },
    }
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(mapping, allow_unicode=True))
    manifest = load_run(tmp_path / "sources.yaml", tmp_path / "run", secret=b"x")
    source = manifest["sources"]["punishments"]
    assert source["values_inferred"] == {"kind_inferred:party": 3}
    assert source["quarantine_reasons"] == {"unknown_kind": 1}
    assert manifest["tables"]["company_mentions"] == 1
    assert manifest["tables"]["person_mentions"] == 2


def test_a_role_observed_on_a_licence_is_loaded_with_its_day(tmp_path: Path) -> None:
    from loaders.run import load_run

    lines = [
        "许可证编号,经营者名称,法定代表人（负责人）,发证日期",
        "JY1,甲食品有限公司,张三,2021年3月2日",
    ]
    (tmp_path / "l.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = {
        "version": 1,
        "sources": {
            "licences": {
                "files": "l.csv",
                "format": "csv",
                "record_key": "许可证编号",
                "mentions": {
                    "holder": {"kind": "company", "fields": {"name": "经营者名称"}},
                    "rep": {"kind": "person", "fields": {"name": "法定代表人（负责人）"}},
                },
                "facts": [
                    {
                        "type": "role",
                        "person": "rep",
                        "company": "holder",
                        "role": {"const": "legal_rep"},
                        "observed_on": "发证日期",
                    }
                ],
            }
        },
    }
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(mapping, allow_unicode=True))
    load_run(tmp_path / "sources.yaml", tmp_path / "run", secret=b"x")
    import pyarrow.parquet as pq

    (role,) = pq.read_table(tmp_path / "run" / "roles.parquet").to_pylist()
    assert (role["valid_from"], role["valid_to"], str(role["observed_on"])) == (
        None,
        None,
        "2021-03-02",
    )
