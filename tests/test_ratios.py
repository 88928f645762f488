"""Shareholding ratios read by the column's style and the company's total, with every
inference and doubt counted (loaders/ratios.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from loaders.fields import ratio_form
from loaders.ratios import RatioColumn
from loaders.rows import Shareholding
from loaders.run import load_run


def _holding(record_id: str, ended: date | None) -> Shareholding:
    """A person's holding of a company, its ratio not read yet."""
    return Shareholding(
        source="shareholders",
        record_id=record_id,
        holder_slot="holder",
        holder_kind="person",
        company_slot="company",
        ratio=None,
        subscribed_capital=None,
        valid_from=None,
        valid_to=ended,
    )


def _read(
    holdings: list[tuple[str, str] | tuple[str, str, date]], scale: str = "auto"
) -> tuple[dict[tuple[str, int], float], dict, dict, list]:
    """(company, i) -> ratio for holdings given as (company, text[, ended on])."""
    column = RatioColumn("shareholders", "出资比例", scale)
    for i, holding in enumerate(holdings):
        company, text = holding[0], holding[1]
        ended = holding[2] if len(holding) > 2 else None
        row = _holding(f"R{i}", ended)
        column.add(row, ratio_form(text), (None, company))
    rows, inferred, doubts, issues = column.resolve()
    ratios = {}
    for row in rows:
        i = int(row.record_id[1:])
        ratios[(holdings[i][0], i)] = row.ratio
    return ratios, dict(inferred), dict(doubts), issues


def test_a_fraction_column_reads_one_as_whole() -> None:
    ratios, inferred, doubts, _ = _read([("A", "0.35"), ("A", "0.65"), ("B", "1"), ("C", "1")])
    assert ratios == {("A", 0): 0.35, ("A", 1): 0.65, ("B", 2): 1.0, ("C", 3): 1.0}
    assert inferred == {"ratio_read_by_company_total:出资比例": 2}
    assert doubts == {}


def test_a_percent_column_reads_one_as_one_percent_by_the_total() -> None:
    ratios, inferred, doubts, _ = _read([("A", "35.00"), ("A", "65.00"), ("B", "1"), ("B", "99")])
    assert ratios[("B", 2)] == 0.01
    assert inferred == {"ratio_read_by_company_total:出资比例": 1}
    assert doubts == {}


def test_a_company_can_mix_fractions_and_percentages() -> None:
    """7.00, 0.6, 1.00, 0.32 (a world's company): 7% + 60% + 1% + 32%."""
    ratios, inferred, doubts, _ = _read([("A", "7.00"), ("A", "0.6"), ("A", "1.00"), ("A", "0.32")])
    assert list(ratios.values()) == [0.07, 0.6, 0.01, 0.32]
    assert inferred == {"ratio_read_by_company_total:出资比例": 3} and doubts == {}


def test_a_mixed_column_as_an_agency_wrote_it() -> None:
    """ "0.35", "35.00" and "1" in one column, "1" meaning 100%."""
    ratios, inferred, doubts, issues = _read(
        [
            ("A", "0.35"),
            ("A", "65.00"),
            ("B", "1"),  # sole holder: 100%
            ("C", "0.5"),
            ("C", "0.5"),
            ("D", "1.00"),  # 1% beside 99%
            ("D", "99.00"),
        ]
    )
    assert ratios == {
        ("A", 0): 0.35,
        ("A", 1): 0.65,
        ("B", 2): 1.0,
        ("C", 3): 0.5,
        ("C", 4): 0.5,
        ("D", 5): 0.01,
        ("D", 6): 0.99,
    }
    assert inferred == {"ratio_read_by_company_total:出资比例": 5}
    # B and C are known by name alone and decided by their own values only: a company
    # whose other holders the extract names otherwise would read them wrongly
    assert doubts == {"ratio_read_by_own_total_without_uscc:出资比例": 3} and issues == []


def test_what_the_total_cannot_decide_is_a_doubt_and_a_field_issue() -> None:
    ratios, inferred, doubts, issues = _read(
        [
            ("A", "0.35"),
            ("A", "35.00"),
            ("E", "0.5"),
            ("E", "1"),
            ("E", "20.00"),
            ("F", "1", date(2020, 1, 1)),
        ]
    )
    # Undecided values keep the mixed column's default: fractions, "1" as 100%.
    assert list(ratios.values()) == [0.35, 0.35, 0.5, 1.0, 0.2, 1.0]
    assert doubts == {
        "ratio_below_one_undecided:出资比例": 2,  # A's and E's
        "ratio_one_undecided:出资比例": 2,  # E's, and F's ended holding
        "holdings_sum_off:出资比例": 2,  # A: 70%, E: 170%
    }
    assert inferred == {}
    assert sorted(i[-1] for i in issues) == ["holdings_sum_off"] * 2
    assert any("sum to 170.0% over 3 holder(s)" in i[4] for i in issues)


def test_a_configured_scale_is_kept_and_still_checked() -> None:
    ratios, inferred, doubts, _ = _read([("A", "1"), ("B", "0.35")], scale="percent")
    assert ratios == {("A", 0): 0.01, ("B", 1): 0.0035}
    assert inferred == {}
    assert doubts == {"holdings_sum_off:出资比例": 2}
    _, _, doubts, _ = _read([("A", "35"), ("A", "0.65")], scale="fraction")
    assert doubts == {"ratio_percent_in_fraction_column:出资比例": 1}


def test_a_load_reads_a_mixed_column_and_counts_it_in_the_manifest(tmp_path: Path) -> None:
    lines = [
        "编号,企业名称,股东名称,出资比例",
        "G1,甲有限公司,张三,0.35",
        "G2,甲有限公司,李四,65.00",
        "G3,乙有限公司,王五,1",
        "G4,丙有限公司,赵六,0.5",
        "G5,丙有限公司,钱七,1",
        "G6,丙有限公司,孙八,20.00",
    ]
    (tmp_path / "shareholders.csv").write_text("\n".join(lines) + "\n", encoding="gbk")
    mapping = {
        "version": 1,
        "sources": {
            "shareholders": {
                "files": "shareholders.csv",
                "format": "csv",
                "encoding": "gbk",
                "record_key": "编号",
                "mentions": {
                    "company": {"kind": "company", "fields": {"name": "企业名称"}},
                    "holder": {"kind": "person", "fields": {"name": "股东名称"}},
                },
                "facts": [
                    {
                        "type": "shareholding",
                        "holder": "holder",
                        "company": "company",
                        "ratio": "出资比例",
                    }
                ],
            }
        },
    }
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(mapping, allow_unicode=True))
    manifest = load_run(tmp_path / "sources.yaml", tmp_path / "run", secret=b"x")
    source = manifest["sources"]["shareholders"]
    assert source["values_inferred"] == {"ratio_read_by_company_total:出资比例": 2}
    assert source["doubts"] == {
        "holdings_sum_off:出资比例": 1,
        "ratio_below_one_undecided:出资比例": 1,
        "ratio_one_undecided:出资比例": 1,
        "ratio_read_by_own_total_without_uscc:出资比例": 1,  # 乙's lone "1"
    }
    assert source["field_issue_reasons"] == {"holdings_sum_off": 1}
    holdings = pq.read_table(tmp_path / "run" / "shareholdings.parquet").to_pylist()
    assert {h["record_id"]: h["ratio"] for h in holdings} == {
        "G1": 0.35,
        "G2": 0.65,
        "G3": 1.0,
        "G4": 0.5,
        "G5": 1.0,
        "G6": 0.2,
    }
    issues = pq.read_table(tmp_path / "run" / "field_issues.parquet").to_pylist()
    assert "丙有限公司 sum to 170.0%" in issues[0]["raw_value"]


def _read_with_usccs(holdings: list[tuple[str | None, str, str]]) -> tuple[list[float], dict, dict]:
    """Ratios, inferred and doubt counts for holdings given as (USCC, company name, text)."""
    column = RatioColumn("shareholders", "出资比例", "auto")
    for i, (uscc, name, text) in enumerate(holdings):
        row = _holding(f"R{i}", None)
        column.add(row, ratio_form(text), (uscc, name))
    rows, inferred, doubts, _ = column.resolve()
    by_id = {row.record_id: row.ratio for row in rows}
    return [by_id[f"R{i}"] for i in range(len(holdings))], dict(inferred), dict(doubts)


def test_a_record_without_uscc_joins_its_company_by_name() -> None:
    """A world's company: 91.00 and 8.00 with the USCC, 1.00 without it and with 有限责任公司
    for 有限公司. Apart, the 1.00 alone summed to 100% as a whole holding; with its company
    it is 1%."""
    ratios, inferred, doubts = _read_with_usccs(
        [
            ("U1", "上海星河食品有限公司", "91.00"),
            ("U1", "上海星河食品有限公司", "8.00"),
            (None, "上海星河食品有限责任公司", "1.00"),
            ("U2", "北京明月餐饮有限公司", "0.35"),
            ("U2", "北京明月餐饮有限公司", "0.65"),
        ]
    )
    assert ratios == [0.91, 0.08, 0.01, 0.35, 0.65]
    assert inferred == {"ratio_read_by_company_total:出资比例": 3}
    assert doubts == {}
    # An old company without a USCC on any record: the names alone join its holders
    ratios, _, doubts = _read_with_usccs(
        [
            (None, "北京博大置业有限公司", "91.00"),
            (None, "北京博大置业有限责任公司", "1.00"),
            (None, "北京博大置业有限公司", "8.00"),
            ("U2", "北京明月餐饮有限公司", "0.35"),
            ("U2", "北京明月餐饮有限公司", "0.65"),
        ]
    )
    assert ratios == [0.91, 0.01, 0.08, 0.35, 0.65] and doubts == {}


def test_a_company_known_by_name_alone_decided_by_its_own_values_is_a_doubt() -> None:
    """A lone "1.00" under a name no USCC record uses, in a mixed column: 100% by its own
    total, but its company's other holders may be under another name."""
    ratios, inferred, doubts = _read_with_usccs(
        [
            (None, "广州晨光贸易有限公司", "1.00"),
            ("U2", "北京明月餐饮有限公司", "0.35"),
            ("U2", "北京明月餐饮有限公司", "65.00"),
        ]
    )
    assert ratios == [1.0, 0.35, 0.65]
    assert doubts == {"ratio_read_by_own_total_without_uscc:出资比例": 1}
    assert inferred == {"ratio_read_by_company_total:出资比例": 2}
