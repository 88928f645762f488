"""Cell parsers: real-world spellings of blanks, dates, shares, amounts and term lists."""

from __future__ import annotations

import contextlib
import math
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.errors import VeilError
from loaders.fields import (
    PLACEHOLDERS,
    FieldParseError,
    clean,
    normalise_text,
    parse_date,
    parse_json_list,
    parse_number,
    ratio_form,
    split_terms,
)
from loaders.ratios import RatioColumn
from loaders.rows import Shareholding

# -- normalise_text / clean ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("星河食品（上海）有限公司", "星河食品(上海)有限公司"),
        ("ＡＢＣ　１２３", "ABC 123"),  # full-width letters, digits and ideographic space
        ("\ufeff上海\u200b星河\u200d食品", "上海星河食品"),  # BOM and zero-width characters
        ("  张\t\t三 \n 李四  ", "张 三 李四"),
        ("臺灣", "臺灣"),  # traditional characters are linkage's business, not ours
        ("plain ascii", "plain ascii"),
    ],
)
def test_normalise_text(raw: str, expected: str) -> None:
    assert normalise_text(raw) == expected


@given(st.text())
def test_normalise_text_is_idempotent(text: str) -> None:
    once = normalise_text(text)
    assert normalise_text(once) == once
    assert once == once.strip()
    assert "  " not in once


@pytest.mark.parametrize(
    "blank",
    [
        None,
        "",
        "   ",
        "\u3000",
        float("nan"),
        np.nan,
        np.float32("nan"),
        pd.NA,
        pd.NaT,
        "-",
        "--",
        "—",
        "——",
        "－",
        "/",
        "无",
        "暂无",
        "null",
        "NULL",
        "None",
        "N/A",
        "nan",
        "NaN",
        "<NA>",
        "#N/A",
        " 无 ",
        Decimal("NaN"),
    ],
)
def test_clean_blanks(blank: object) -> None:
    assert clean(blank) is None


@pytest.mark.parametrize("placeholder", sorted(PLACEHOLDERS))
def test_every_documented_placeholder_is_blank(placeholder: str) -> None:
    assert clean(placeholder) is None
    assert clean(placeholder.upper()) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  星河食品（上海） ", "星河食品(上海)"),
        ("无锡星河食品", "无锡星河食品"),  # 无 inside a name is not a placeholder
        ("-5", "-5"),
        ("0", "0"),
        (42, "42"),
        (np.int64(42), "42"),
        (110108000000016.0, "110108000000016"),  # pandas upcast of an id column with blanks
        (35.5, "35.5"),
        (date(2019, 3, 5), "2019-03-05"),
        (datetime(2019, 3, 5, 10, 0), "2019-03-05 10:00:00"),
        (pd.Timestamp("2019-03-05"), "2019-03-05 00:00:00"),
        ("长期", "长期"),
    ],
)
def test_clean_values(raw: object, expected: str) -> None:
    assert clean(raw) == expected


# -- parse_date ---------------------------------------------------------------------------

MARCH_5 = date(2019, 3, 5)


@pytest.mark.parametrize(
    "raw",
    [
        "2019-03-05",
        "2019/3/5",
        "2019.3.5",
        "2019-3-5",
        "2019/03/05",
        "20190305",
        "2019年3月5日",
        "2019年03月05日",
        "2019 年 3 月 5 日",
        "２０１９年０３月０５日",
        "２０１９－０３－０５",
        "2019-03-05 00:00:00",
        "2019-03-05T10:00:00",
        "2019-03-05 10:00",
        "2019-03-05T10:00:00.123+08:00",
        "2019-03-05T10:00:00Z",
        "2019/3/5 0:00:00",
        "2019年3月5日 10:30",
        "二〇一九年三月五日",
        "二零一九年三月五日",
        " 2019-03-05 ",
        43529,
        43529.0,
        43529.75,
        "43529",
        "43529.0",
        20190305,
        20190305.0,
        np.int64(43529),
        Decimal("43529"),
        MARCH_5,
        datetime(2019, 3, 5, 23, 59),
        pd.Timestamp("2019-03-05 10:00"),
        np.datetime64("2019-03-05"),
    ],
)
def test_parse_date_forms(raw: object) -> None:
    assert parse_date(raw) == MARCH_5


def test_parse_date_chinese_numerals_with_tens() -> None:
    assert parse_date("二〇二〇年十二月三十一日") == date(2020, 12, 31)
    assert parse_date("二〇二〇年十月十日") == date(2020, 10, 10)


@pytest.mark.parametrize("blank", [None, "", "  ", "-", "无", float("nan"), pd.NaT, pd.NA])
def test_parse_date_blank(blank: object) -> None:
    assert parse_date(blank) is None


@pytest.mark.parametrize(
    "raw",
    [
        "2019-02-30",
        "2019-13-01",
        "2019-00-10",
        "20190230",
        "2019年2月30日",
        "2018-02-29",
        "二〇一九年二月三十日",
        "二〇一九年十十月一日",
        "2019-03",
        "05/03/2019",
        "2019-03/05",
        "yesterday",
        "长期",
        "1234",
        1234,
        123456,
        -43529,
        10000,
        99999,
        "99999",
        3.5,
        True,
        float("inf"),
        "2019-03-05 25:00:00x",
    ],
)
def test_parse_date_rejects(raw: object) -> None:
    with pytest.raises(FieldParseError) as err:
        parse_date(raw)
    assert err.value.reason == "unparseable_date"


def test_excel_serial_bounds() -> None:
    assert parse_date(18264) == date(1950, 1, 1)
    assert parse_date(73415) == date(2100, 12, 31)
    for outside in (18263, 73416):
        with pytest.raises(FieldParseError):
            parse_date(outside)


def test_leap_day() -> None:
    assert parse_date("2020-02-29") == date(2020, 2, 29)
    assert parse_date(43890) == date(2020, 2, 29)  # Excel's serial for 2020-02-29


@given(st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 12, 31)))
def test_parse_date_round_trips_every_form(d: date) -> None:
    serial = (d - date(1899, 12, 30)).days
    forms = [
        d.isoformat(),
        f"{d.year}/{d.month}/{d.day}",
        f"{d.year}.{d.month}.{d.day}",
        d.strftime("%Y%m%d"),
        f"{d.year}年{d.month}月{d.day}日",
        serial,
        str(serial),
        f"{d.isoformat()} 00:00:00",
        f"{d.isoformat()}T12:30:00",
    ]
    assert {parse_date(f) for f in forms} == {d}


def test_field_parse_error_carries_reason() -> None:
    err = FieldParseError("unparseable_date", "'x' is not a date")
    assert isinstance(err, ValueError)
    assert isinstance(err, VeilError)
    assert (err.reason, err.detail) == ("unparseable_date", "'x' is not a date")
    assert str(err) == "unparseable_date: 'x' is not a date"
    assert FieldParseError("unparseable_json").detail == ""


def _read_alone(text: str) -> float:
    """One share read in a column of its own (loaders/ratios.py)."""
    column = RatioColumn("s", "比例", "auto")
    row = Shareholding("s", "r", "holder", "person", "company", None, None, None, None)
    column.add(row, ratio_form(text), (None, "C"))
    rows, _, _, _ = column.resolve()
    assert rows[0].ratio is not None
    return rows[0].ratio


# -- ratio_form ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("35%", (35.0, "percent_sign")),
        ("35.00%", (35.0, "percent_sign")),
        ("35 %", (35.0, "percent_sign")),
        ("３５％", (35.0, "percent_sign")),
        ("0.35", (0.35, "below_one")),
        ("35.00", (35.0, "above_one")),
        (35, (35.0, "above_one")),
        (np.float64(0.35), (0.35, "below_one")),
        ("1", (1.0, "one")),
        ("1.00", (1.0, "one")),
        (1, (1.0, "one")),
        ("100", (100.0, "above_one")),
        ("0", (0.0, "zero")),
        ("0.00", (0.0, "zero")),
        (".5", (0.5, "below_one")),
        (Decimal("12.5"), (12.5, "above_one")),
    ],
)
def test_ratio_form(raw: object, expected: tuple[float, str]) -> None:
    assert ratio_form(raw) == expected


@pytest.mark.parametrize("raw", ["101", "-1", "abc", "35%%"])
def test_ratio_form_refuses(raw: str) -> None:
    with pytest.raises(FieldParseError):
        ratio_form(raw)


@pytest.mark.parametrize("blank", [None, "", "-", "无", float("nan"), pd.NA])
def test_ratio_form_blank(blank: object) -> None:
    assert ratio_form(blank) is None


@pytest.mark.parametrize("raw", ["150%", "101", "-5%", "-0.1", 150, float("inf")])
def test_ratio_form_out_of_range(raw: object) -> None:
    with pytest.raises(FieldParseError) as err:
        ratio_form(raw)
    assert err.value.reason == "ratio_out_of_range"


@pytest.mark.parametrize("raw", ["三成", "35%%", "1/3", "abc", "35.5.5", True, [35], "35 % 40"])
def test_ratio_form_unparseable(raw: object) -> None:
    with pytest.raises(FieldParseError) as err:
        ratio_form(raw)
    assert err.value.reason == "unparseable_ratio"


@given(st.decimals(min_value=0, max_value=100, places=4))
def test_percent_text_reads_exactly(x: Decimal) -> None:
    assert _read_alone(f"{x}%") == pytest.approx(float(x) / 100, abs=1e-12)
    assert _read_alone(f"{x}%") == round(float(x) / 100, 10)


@given(st.integers(min_value=0, max_value=100))
def test_whole_percent_is_exact(n: int) -> None:
    assert _read_alone(f"{n}%") == n / 100
    assert _read_alone(f"{n}.00%") == n / 100


# -- parse_number -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,000.50", 1000.5),
        ("100万元", 100.0),
        ("100万", 100.0),
        ("100元", 100.0),
        ("100.5 万元", 100.5),
        ("人民币100万元", 100.0),
        ("100万元人民币", 100.0),
        ("¥1,234", 1234.0),
        ("￥１，２３４．５", 1234.5),
        ("１００万元", 100.0),
        ("-5", -5.0),
        ("1.5E+06", 1.5e6),
        ("0", 0.0),
        (100, 100.0),
        (12.5, 12.5),
        (Decimal("7.25"), 7.25),
        (np.int64(3), 3.0),
        ("50万美元", 50.0),
        ("3亿元", 3.0),
    ],
)
def test_parse_number(raw: object, expected: float) -> None:
    assert parse_number(raw) == expected


@pytest.mark.parametrize("blank", [None, "", " ", "-", "暂无", float("nan"), pd.NA])
def test_parse_number_blank(blank: object) -> None:
    assert parse_number(blank) is None


@pytest.mark.parametrize("raw", ["一百万", "1,00", "100万元整数", "abc", "1.2.3", True, {}])
def test_parse_number_unparseable(raw: object) -> None:
    with pytest.raises(FieldParseError) as err:
        parse_number(raw)
    assert err.value.reason == "unparseable_number"


# -- parse_json_list ----------------------------------------------------------------------

HOLDERS = [{"name": "张三", "ratio": "35%"}, {"name": "星河食品(上海)有限公司", "ratio": "65%"}]


@pytest.mark.parametrize(
    "raw",
    [
        HOLDERS,
        tuple(HOLDERS),
        np.array(HOLDERS, dtype=object),
        '[{"name": "张三", "ratio": "35%"}, {"name": "星河食品(上海)有限公司", "ratio": "65%"}]',
        '\ufeff [{"name": "张三", "ratio": "35%"},'
        ' {"name": "星河食品(上海)有限公司", "ratio": "65%"}] ',
    ],
)
def test_parse_json_list(raw: object) -> None:
    assert parse_json_list(raw) == HOLDERS


@pytest.mark.parametrize("blank", [None, "", "  ", "[]", [], "null", "-", float("nan"), pd.NA])
def test_parse_json_list_blank(blank: object) -> None:
    assert parse_json_list(blank) == []


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "张三"}',
        "[1, 2]",
        '["张三"]',
        "[{'name': '张三'}]",
        "张三",
        "[{",
        42,
        [{"a": 1}, "b"],
        {"name": "张三"},
    ],
)
def test_parse_json_list_unparseable(raw: object) -> None:
    with pytest.raises(FieldParseError) as err:
        parse_json_list(raw)
    assert err.value.reason == "unparseable_json"


def test_parse_json_list_error_does_not_quote_the_cell() -> None:
    with pytest.raises(FieldParseError) as err:
        parse_json_list('[{"id": "110101199003071233"')
    assert "110101199003071233" not in str(err.value)


# -- split_terms --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("罚款；没收违法所得", ["罚款", "没收违法所得"]),
        ("警告,罚款", ["警告", "罚款"]),
        ("警告，罚款", ["警告", "罚款"]),
        ("罚款、没收违法所得", ["罚款", "没收违法所得"]),
        ("罚款/警告", ["罚款", "警告"]),
        ("罚款／警告", ["罚款", "警告"]),
        (" 罚款 ;; 警告 ；、 吊销许可证 ", ["罚款", "警告", "吊销许可证"]),
        ("罚款", ["罚款"]),
        ("", []),
        (None, []),
    ],
)
def test_split_terms(raw: str | None, expected: list[str]) -> None:
    assert split_terms(raw) == expected


# -- robustness ---------------------------------------------------------------------------


@given(st.one_of(st.text(), st.integers(), st.floats(), st.none()))
def test_parsers_raise_only_field_parse_error(value: object) -> None:
    for parser in (parse_date, ratio_form, parse_number, parse_json_list):
        with contextlib.suppress(FieldParseError):
            parser(value)
    cleaned = clean(value)
    assert cleaned is None or (cleaned and cleaned == cleaned.strip())
    if isinstance(value, float) and math.isnan(value):
        assert cleaned is None


def test_date_serials_cover_a_century_without_gaps() -> None:
    start = date(1950, 1, 1)
    for days in range(0, 365 * 150, 997):
        d = start + timedelta(days=days)
        if d <= date(2100, 12, 31):
            assert parse_date((d - date(1899, 12, 30)).days) == d
