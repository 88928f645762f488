"""GB/T 4754-2017 industry codes: the section letter added from the division, and codes
that cannot be read are field issues counted in the manifest."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from loaders.identifiers import make_uscc
from loaders.industry import normalise_industry
from loaders.run import load_run


@pytest.mark.parametrize(
    ("raw", "value", "inferred", "problem"),
    [
        ("C1331", "C1331", None, None),
        ("c1331", "C1331", None, None),
        ("1331", "C1331", "industry_section_added", None),
        ("5211", "F5211", "industry_section_added", None),
        ("6210", "H6210", "industry_section_added", None),
        ("0111", "A0111", "industry_section_added", None),
        ("13.31", "C1331", "industry_section_added", None),
        ("C13", "C13", None, None),
        ("F", "F", None, None),
        ("F1331", None, None, "industry_section_mismatch"),
        ("9900", None, None, "unknown_industry_code"),
        ("食品", None, None, "unknown_industry_code"),
        ("C133111", None, None, "unknown_industry_code"),
        (None, None, None, None),
    ],
)
def test_codes_by_the_standard(raw, value, inferred, problem) -> None:
    code = normalise_industry(raw)
    assert (code.value, code.inferred, code.problem) == (value, inferred, problem)


def test_a_load_adds_letters_and_counts_them(tmp_path: Path) -> None:
    rows = [
        ("R1", "甲食品有限公司", "C1331"),
        ("R2", "乙食品有限公司", "1331"),
        ("R3", "丙餐饮有限公司", "6210"),
        ("R4", "丁五金有限公司", "F1331"),
    ]
    lines = ["记录编号,企业名称,统一社会信用代码,行业代码"]
    for i, (key, name, code) in enumerate(rows):
        lines.append(f"{key},{name},{make_uscc('310101', f'MA{i:06d}')},{code}")
    (tmp_path / "registry.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = {
        "version": 1,
        "sources": {
            "registry": {
                "files": "registry.csv",
                "format": "csv",
                "record_key": "记录编号",
                "mentions": {
                    "company": {
                        "kind": "company",
                        "fields": {
                            "name": "企业名称",
                            "uscc": "统一社会信用代码",
                            "industry_code": "行业代码",
                        },
                    }
                },
            }
        },
    }
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(mapping, allow_unicode=True))
    manifest = load_run(tmp_path / "sources.yaml", tmp_path / "run", secret=b"x")
    source = manifest["sources"]["registry"]
    assert source["values_inferred"] == {"industry_section_added:行业代码": 2}
    assert source["field_issue_reasons"] == {"industry_section_mismatch": 1}
    companies = pq.read_table(tmp_path / "run" / "company_mentions.parquet").to_pylist()
    assert [c["industry_code"] for c in companies] == ["C1331", "C1331", "H6210", None]
