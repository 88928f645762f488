"""Name standardisation: the variants clerks write must meet, distinct names must not."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from config.errors import ConfigError
from linkage.company_names import TERMS_PATH, load_company_terms
from linkage.names import simplify_many, simplify_name
from linkage.standardise import (
    COMPANY_COLUMNS,
    PERSON_COLUMNS,
    CompanyName,
    PersonName,
    simplify,
    standardise_company_mentions,
    standardise_company_name,
    standardise_former_names,
    standardise_person_mentions,
    standardise_person_name,
)

# -- simplify ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("張偉", "张伟"),
        ("陳", "陈"),
        ("臺灣貿易有限公司", "台湾贸易有限公司"),
        ("ＡＢＣ　食品", "ABC 食品"),  # full-width letters and ideographic space
        ("星河食品（上海）有限公司", "星河食品(上海)有限公司"),
        ("  张\t三  ", "张 三"),
        ("", ""),
    ],
)
def test_simplify(raw: str, expected: str) -> None:
    assert simplify(raw) == expected


def test_person_names_are_simplified_by_character_not_by_phrase() -> None:
    # As a phrase OpenCC reads 沈靜 as "calm" and writes 沉静; the surname 沈 must stay.
    assert simplify("沈靜") == "沉静"
    assert simplify_name("沈靜") == "沈静"
    assert standardise_person_name("沈靜").simplified == "沈静"
    assert standardise_person_name("王乾").pinyin == "wang qian"


# -- person names -----------------------------------------------------------------------


def test_traditional_and_simplified_meet() -> None:
    assert standardise_person_name("張偉") == standardise_person_name("张伟")
    assert standardise_person_name("陳靜").simplified == "陈静"


def test_same_sound_names_share_the_pinyin_key_but_not_the_characters() -> None:
    names = [standardise_person_name(n) for n in ("张伟", "张玮", "章伟")]
    assert {n.pinyin_key for n in names} == {"wei zhang"}
    assert {n.pinyin for n in names} == {"zhang wei"}
    assert len({n.simplified for n in names}) == 3
    assert {n.initials for n in names} == {"zw"}


@pytest.mark.parametrize(
    "raw",
    [
        "ZHANG WEI",
        "Wei Zhang",
        "zhang  wei",
        "ZHANG Wei",
        "Wei ZHANG",
        "Zhang, Wei",
        "ＺＨＡＮＧ　ＷＥＩ",
        "ZHANGWEI",
        "Zhāng Wěi",
    ],
)
def test_romanised_names_in_either_order(raw: str) -> None:
    name = standardise_person_name(raw)
    assert name.is_romanised
    assert name.pinyin_key == "wei zhang"
    assert name.pinyin == "zhang wei"
    assert (name.surname, name.given, name.surname_pinyin) == ("zhang", "wei", "zhang")
    assert name.initials == "zw"


def test_romanised_and_chinese_meet_on_pinyin() -> None:
    chinese = standardise_person_name("张建华")
    for raw in ("ZHANG JIANHUA", "Jianhua Zhang", "ZHANG JIAN HUA", "Zhang Jian-Hua"):
        name = standardise_person_name(raw)
        assert (name.pinyin, name.pinyin_key) == (chinese.pinyin, chinese.pinyin_key), raw
        assert (name.surname, name.given) == ("zhang", "jianhua"), raw
        assert name.surname_pinyin == chinese.surname_pinyin == "zhang"
    assert not chinese.is_romanised
    assert (chinese.surname, chinese.given) == ("张", "建华")


def test_romanised_u_is_written_yu() -> None:
    keys = {standardise_person_name(n).pinyin_key for n in ("吕布", "LYU BU", "LV BU", "Lü Bu")}
    assert keys == {"bu lyu"}
    assert standardise_person_name("ZHANG BINYU").pinyin == "zhang bin yu"


@pytest.mark.parametrize(
    ("raw", "surname", "given", "surname_pinyin"),
    [
        ("欧阳娜娜", "欧阳", "娜娜", "ou yang"),
        ("司马光", "司马", "光", "si ma"),
        ("诸葛亮", "诸葛", "亮", "zhu ge"),
        ("上官婉儿", "上官", "婉儿", "shang guan"),
        ("尉迟恭", "尉迟", "恭", "yu chi"),
        ("长孙无忌", "长孙", "无忌", "zhang sun"),
        ("万俟卨", "万俟", "卨", "mo qi"),
        ("皇甫嵩", "皇甫", "嵩", "huang fu"),
        ("欧阳", "欧", "阳", "ou"),  # two characters: a surname and a given name
    ],
)
def test_compound_surnames(raw: str, surname: str, given: str, surname_pinyin: str) -> None:
    name = standardise_person_name(raw)
    assert (name.surname, name.given, name.surname_pinyin) == (surname, given, surname_pinyin)


def test_romanised_compound_surname() -> None:
    for raw in ("Ouyang Nana", "NANA OUYANG", "OUYANGNANA"):
        name = standardise_person_name(raw)
        assert (name.surname, name.pinyin) == ("ouyang", "ou yang na na"), raw


@pytest.mark.parametrize(
    ("raw", "pinyin"),
    [
        ("单雄信", "shan xiong xin"),
        ("曾国藩", "zeng guo fan"),
        ("解缙", "xie jin"),
        ("仇英", "qiu ying"),
        ("区志明", "ou zhi ming"),
        ("查良镛", "zha liang yong"),
        ("朴树", "piao shu"),
        ("覃明", "qin ming"),
        ("翟丽", "zhai li"),
        ("孙单", "sun dan"),  # 单 as a given name keeps its common reading
    ],
)
def test_surname_readings(raw: str, pinyin: str) -> None:
    assert standardise_person_name(raw).pinyin == pinyin


def test_full_width_and_spaced_chinese_names() -> None:
    assert standardise_person_name("张　伟") == standardise_person_name("张伟")
    assert standardise_person_name(" 张 伟 ").simplified == "张伟"


@pytest.mark.parametrize("dot", ["·", "・", "･", "•", ".", "．", "‧"])
def test_minority_names_with_any_middle_dot(dot: str) -> None:
    name = standardise_person_name(f"阿不都{dot}热合曼")
    assert name.simplified == "阿不都热合曼"
    assert (name.surname, name.given) == ("热合曼", "阿不都")
    assert name.pinyin == "a bu dou re he man"
    undotted = standardise_person_name("阿不都热合曼")
    assert undotted.simplified == name.simplified
    assert undotted.pinyin_key == name.pinyin_key


@pytest.mark.parametrize("raw", ["", "   ", "·", "--"])
def test_blank_person_names(raw: str) -> None:
    assert standardise_person_name(raw) == PersonName("", False, "", "", "", "", "", "")


# -- company names ----------------------------------------------------------------------

XINGHE = ["上海星河食品有限公司", "星河食品（上海）有限公司", "星河食品(上海)有限公司",
          "上海星河食品有限责任公司", "上海市星河食品有限公司", "星河食品【上海】有限公司",
          "上海 星河 食品 有限公司", "上海星河食品有限公司（自然人独资）"]  # fmt: skip


def test_bracketed_regions_and_legal_forms_meet() -> None:
    names = [standardise_company_name(n) for n in XINGHE]
    assert {n.canonical for n in names} == {"上海星河食品有限公司"}
    assert {(n.region, n.core, n.industry, n.legal_form) for n in names} == {
        ("上海", "星河", "食品", "有限公司")
    }
    assert {n.core_pinyin for n in names} == {"xinghe"}
    assert standardise_company_name(XINGHE[1]).simplified == "上海星河食品有限公司"
    assert not any(n.is_branch for n in names)


@pytest.mark.parametrize(
    ("raw", "legal_form"),
    [
        ("星河食品有限公司", "有限公司"),
        ("星河食品有限责任公司", "有限公司"),
        ("星河食品一人有限责任公司", "有限公司"),
        ("星河食品有限公司（法人独资）", "有限公司"),
        ("星河食品有限公司(外商独资)", "有限公司"),
        ("星河食品股份有限公司", "股份有限公司"),
        ("星河食品股份公司", "股份有限公司"),
        ("星河集团有限公司", "集团有限公司"),
        ("星河（集团）有限公司", "集团有限公司"),
        ("星河集团有限责任公司", "集团有限公司"),
        ("星河投资合伙企业（有限合伙）", "合伙企业(有限合伙)"),
        ("星河投资中心(有限合伙)", "合伙企业(有限合伙)"),
        ("星河投资合伙企业（普通合伙）", "合伙企业(普通合伙)"),
        ("星河食品店", "店"),
        ("星河食品商店", "店"),
        ("星河食品厂", "厂"),
        ("星河食品经营部", "经营部"),
        ("星河食品商行", "商行"),
        ("星河食品", ""),
    ],
)
def test_legal_forms(raw: str, legal_form: str) -> None:
    assert standardise_company_name(raw).legal_form == legal_form


def test_distinct_legal_forms_are_not_merged() -> None:
    canon = {
        standardise_company_name(f"上海星河食品{form}").canonical
        for form in ("有限公司", "股份有限公司", "集团有限公司", "店", "厂")
    }
    assert len(canon) == 5


@pytest.mark.parametrize(
    "branch",
    ["上海星河食品有限公司北京分公司", "星河食品（上海）有限公司北京分公司",
     "上海星河食品有限公司中山路分店", "上海星河食品有限公司工会委员会"],
)  # fmt: skip
def test_a_branch_never_meets_its_parent(branch: str) -> None:
    parent = standardise_company_name("上海星河食品有限公司")
    name = standardise_company_name(branch)
    assert name.is_branch
    assert name.canonical != parent.canonical
    assert name.parent_canonical == parent.canonical
    assert (name.region, name.core, name.industry) == ("上海", "星河", "食品")


def test_branch_forms_and_branch_variants() -> None:
    a = standardise_company_name("上海星河食品有限公司北京分公司")
    b = standardise_company_name("星河食品（上海）有限责任公司北京分公司")
    assert a.legal_form == b.legal_form == "分公司"
    assert a.canonical == b.canonical == "上海星河食品有限公司北京分公司"
    other = standardise_company_name("上海星河食品有限公司杭州分公司")
    assert other.canonical != a.canonical
    assert standardise_company_name("上海星河食品有限公司工会委员会").legal_form == "分支机构"


def test_company_without_region() -> None:
    name = standardise_company_name("星河餐饮管理有限公司")
    assert (name.region, name.core, name.industry, name.legal_form) == (
        "",
        "星河",
        "餐饮管理",
        "有限公司",
    )


@pytest.mark.parametrize(
    ("raw", "region", "canonical"),
    [
        ("浙江省杭州市星河科技有限公司", "杭州", "杭州星河科技有限公司"),
        ("杭州星河科技有限公司", "杭州", "杭州星河科技有限公司"),
        ("星河科技（浙江杭州）有限公司", "杭州", "杭州星河科技有限公司"),
        ("杭州市西湖区星河科技有限公司", "杭州西湖区", "杭州西湖区星河科技有限公司"),
        ("上海市浦东新区星河科技有限公司", "上海浦东新区", "上海浦东新区星河科技有限公司"),
        ("北京星河科技有限公司", "北京", "北京星河科技有限公司"),
        ("深圳市星河科技有限公司", "深圳", "深圳星河科技有限公司"),
        ("义乌市星河科技有限公司", "义乌", "义乌星河科技有限公司"),
        ("吉林省吉林市星河科技有限公司", "吉林", "吉林星河科技有限公司"),
        ("星河科技（中国）有限公司", "中国", "中国星河科技有限公司"),
    ],
)
def test_regions(raw: str, region: str, canonical: str) -> None:
    name = standardise_company_name(raw)
    assert (name.region, name.core, name.canonical) == (region, "星河", canonical)


def test_a_bare_place_name_before_only_an_industry_word_is_the_trade_name() -> None:
    name = standardise_company_name("朝阳食品有限公司")
    assert (name.region, name.core, name.industry) == ("", "朝阳", "食品")
    # The place name kept in the core when the region is bracketed: variants still meet.
    a = standardise_company_name("东方星河食品（上海）有限公司")
    b = standardise_company_name("上海东方星河食品有限公司")
    assert a.canonical == b.canonical
    assert (a.region, a.core) == (b.region, b.core) == ("上海", "东方星河")


@pytest.mark.parametrize(
    "raw",
    [
        "SHANGHAI XINGHE FOOD CO., LTD.",
        "Xinghe Foodstuff (Shanghai) Co., Ltd",
        "Shanghai Xing He Food Company Limited",
        "shanghai city xinghe food co ltd",
    ],
)
def test_romanised_company_names_meet_the_chinese_name_on_sound(raw: str) -> None:
    chinese = standardise_company_name("上海星河食品有限公司")
    latin = standardise_company_name(raw)
    assert latin.is_romanised and not chinese.is_romanised
    assert (latin.region, latin.core_pinyin, latin.legal_form) == (
        chinese.region,
        chinese.core_pinyin,
        chinese.legal_form,
    )
    assert latin.industry in chinese.industry_latin and latin.canonical.startswith("@")


def test_romanised_company_names_read_places_and_forms_with_care() -> None:
    # 重庆 and 长乐 are read as words (chongqing, changle), as a filing writes them.
    chinese = standardise_company_name("重庆长乐餐饮管理股份有限公司")
    latin = standardise_company_name("CHONGQING CHANGLE CATERING MANAGEMENT JOINT STOCK CO., LTD.")
    assert (chinese.region, chinese.core_pinyin) == ("重庆", "changle")
    assert (latin.region, latin.core_pinyin, latin.legal_form) == (
        "重庆",
        "changle",
        "股份有限公司",
    )
    # 山西 and 陕西 are both "shanxi": the region is unknown, not guessed, and kept in the
    # canonical as written.
    shanxi = standardise_company_name("Shanxi Huaxin Trading Co., Ltd.")
    assert shanxi.region == "" and shanxi.core_pinyin == "huaxin" and "shanxi" in shanxi.canonical
    # A place name before industry words only is the trade name, as in Chinese.
    assert standardise_company_name("Changchun Food Co., Ltd.").core_pinyin == "changchun"
    # Different industries keep different canonicals.
    food = standardise_company_name("Shanghai Xinghe Food Co., Ltd.")
    tech = standardise_company_name("Shanghai Xinghe Technology Co., Ltd.")
    assert food.canonical != tech.canonical and food.core_pinyin == tech.core_pinyin


def test_traditional_company_names() -> None:
    name = standardise_company_name("臺灣星河貿易有限公司")
    assert (name.region, name.core, name.industry) == ("台湾", "星河", "贸易")
    assert name.canonical == standardise_company_name("台湾星河贸易有限责任公司").canonical


def test_industry_is_the_longest_match() -> None:
    assert standardise_company_name("北京星河食品贸易有限公司").industry == "食品贸易"
    assert standardise_company_name("北京星河餐饮服务有限公司").industry == "餐饮服务"
    assert standardise_company_name("北京星河企业管理有限公司").industry == "企业管理"


def test_former_names_are_kept_standardised_and_deduplicated() -> None:
    former = standardise_former_names(
        ["北京成德光软件有限公司", "北京成德光软件有限责任公司", "", "星河软件（北京）有限公司"]
    )
    assert [f.canonical for f in former] == ["北京成德光软件有限公司", "北京星河软件有限公司"]
    assert all(isinstance(f, CompanyName) for f in former)
    assert standardise_former_names([]) == []


def test_blank_company_name() -> None:
    assert standardise_company_name("").canonical == ""
    assert standardise_company_name("（）").canonical == ""


# -- the terms file ---------------------------------------------------------------------


def test_terms_file_is_valid() -> None:
    terms = load_company_terms()
    assert "有限公司" in terms.legal_forms
    assert terms.regions["上海市"].short == "上海"


def test_bad_terms_file_names_the_keys(tmp_path: Path) -> None:
    data = yaml.safe_load(TERMS_PATH.read_text(encoding="utf-8"))
    data["industry_words"].append(" 食品 ")
    data["regions"]["浙江省"]["cities"]["杭州"]["population"] = 1
    path = tmp_path / "terms.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_company_terms(path)
    assert err.value.path == str(path)
    text = "\n".join(err.value.problems)
    assert "industry_words" in text
    assert "regions.浙江省.cities.杭州.population" in text


def test_terms_variant_under_two_forms_is_rejected(tmp_path: Path) -> None:
    data = yaml.safe_load(TERMS_PATH.read_text(encoding="utf-8"))
    data["legal_forms"]["股份有限公司"].append("有限责任公司")
    path = tmp_path / "terms.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError, match="有限责任公司"):
        load_company_terms(path)
    with pytest.raises(ConfigError, match="not found"):
        load_company_terms(tmp_path / "missing.yaml")


# -- batch ------------------------------------------------------------------------------

PERSON_SAMPLE = ["张伟", None, "張偉", "ZHANG WEI", "Wei Zhang", "张伟", "欧阳娜娜", "", "单雄信",
                 "阿不都·热合曼", None, "张玮"]  # fmt: skip
COMPANY_SAMPLE = [*XINGHE, None, "上海星河食品有限公司北京分公司", "", "臺灣星河貿易有限公司"]


def _persons(names: list[str | None]) -> pa.Table:
    n = len(names)
    return pa.table(
        {
            "source": ["s"] * n,
            "record_id": [str(i) for i in range(n)],
            "slot": ["person"] * n,
            "name": pa.array(names, pa.string()),
            "sex": pa.array(["M"] * n),
        }
    )


def _person_row(name: PersonName) -> dict[str, object]:
    return {column: getattr(name, attr) for column, (attr, _) in PERSON_COLUMNS.items()}


def _company_row(name: CompanyName) -> dict[str, object]:
    return {column: getattr(name, attr) for column, (attr, _) in COMPANY_COLUMNS.items()}


def test_person_batch_agrees_with_scalar_and_keeps_rows() -> None:
    table = _persons(PERSON_SAMPLE)
    out = standardise_person_mentions(table)
    assert out.num_rows == table.num_rows
    assert out.column_names == [*table.column_names, *PERSON_COLUMNS]
    assert out.select(table.column_names).equals(table)  # other columns pass through
    rows = out.to_pylist()
    for raw, row in zip(PERSON_SAMPLE, rows, strict=True):
        if raw is None:
            assert all(row[c] is None for c in PERSON_COLUMNS)
        else:
            assert {c: row[c] for c in PERSON_COLUMNS} == _person_row(standardise_person_name(raw))


def test_person_batch_handles_chunks_empty_tables_and_reruns() -> None:
    table = pa.concat_tables([_persons(PERSON_SAMPLE[:5]), _persons(PERSON_SAMPLE[5:])])
    assert table.column("name").num_chunks == 2
    out = standardise_person_mentions(table)
    assert out.column("name_pinyin_key").to_pylist()[0] == "wei zhang"
    again = standardise_person_mentions(out)
    assert again.column_names == out.column_names
    assert again.equals(out)
    empty = standardise_person_mentions(_persons([]))
    assert empty.num_rows == 0 and "name_pinyin_key" in empty.column_names
    with pytest.raises(ValueError, match="name"):
        standardise_person_mentions(pa.table({"x": [1]}))


def _companies(names: list[str | None], former: list[list[str | None] | None]) -> pa.Table:
    return pa.table(
        {
            "record_id": [str(i) for i in range(len(names))],
            "name": pa.array(names, pa.string()),
            "former_names": pa.array(former, pa.list_(pa.string())),
        }
    )


def test_company_batch_agrees_with_scalar_and_keeps_rows() -> None:
    former: list[list[str | None] | None] = [[] for _ in COMPANY_SAMPLE]
    former[0] = ["北京成德光软件有限公司", "北京成德光软件有限责任公司", None]
    former[1] = None
    former[3] = ["上海星河食品有限公司"]
    table = _companies(COMPANY_SAMPLE, former)
    out = standardise_company_mentions(table)
    assert out.num_rows == table.num_rows
    assert out.select(table.column_names).equals(table)
    for raw, row in zip(COMPANY_SAMPLE, out.to_pylist(), strict=True):
        if raw is None:
            assert all(row[c] is None for c in COMPANY_COLUMNS)
        else:
            assert {c: row[c] for c in COMPANY_COLUMNS} == _company_row(
                standardise_company_name(raw)
            )
    canon = out.column("former_canonical").to_pylist()
    assert canon[0] == ["北京成德光软件有限公司"]
    assert canon[1] is None
    assert canon[2] == []
    assert canon[3] == ["上海星河食品有限公司"]
    assert out.column("former_canonical").type == pa.list_(pa.string())


def test_company_batch_without_former_names_column() -> None:
    out = standardise_company_mentions(pa.table({"name": ["上海星河食品有限公司", None]}))
    assert out.column("name_canonical").to_pylist() == ["上海星河食品有限公司", None]
    assert out.column("former_canonical").to_pylist() == [None, None]


def test_company_batch_on_a_sliced_former_names_column() -> None:
    table = _companies(
        ["甲", "乙", "丙"], [["上海星河食品有限公司"], None, ["星河食品（上海）有限公司"]]
    )
    out = standardise_company_mentions(table.slice(1))
    assert out.column("former_canonical").to_pylist() == [None, ["上海星河食品有限公司"]]


# -- properties -------------------------------------------------------------------------

NAME_ALPHABET = "张伟玮章王芳李娜張偉陳靜沈单曾欧阳司马 ·・.-,ZHANGWEIzhangwei　ＡＢü"
COMPANY_ALPHABET = (
    "上海市星河食品有限责任公司（）()【】臺灣貿易北京分集团股份合伙企业店 ·浦东新区杭州"
)
names = st.text(alphabet=NAME_ALPHABET, max_size=12)
company_names = st.text(alphabet=COMPANY_ALPHABET, max_size=24)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), names), max_size=20))
def test_person_batch_matches_scalar_on_anything(values: list[str | None]) -> None:
    out = standardise_person_mentions(_persons(values)).to_pylist()
    for raw, row in zip(values, out, strict=True):
        if raw is not None:
            assert {c: row[c] for c in PERSON_COLUMNS} == _person_row(standardise_person_name(raw))


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), company_names), max_size=20))
def test_company_batch_matches_scalar_on_anything(values: list[str | None]) -> None:
    out = standardise_company_mentions(_companies(values, [[v] for v in values])).to_pylist()
    for raw, row in zip(values, out, strict=True):
        if raw is not None:
            name = standardise_company_name(raw)
            assert {c: row[c] for c in COMPANY_COLUMNS} == _company_row(name)
            assert row["former_canonical"] == ([name.canonical] if name.canonical else [])


@settings(max_examples=200, deadline=None)
@given(st.lists(company_names, max_size=30))
def test_simplify_many_matches_simplify(values: list[str]) -> None:
    assert simplify_many(values) == [simplify(v) for v in values]


@settings(max_examples=300, deadline=None)
@given(company_names)
def test_branch_never_shares_its_parents_canonical(core: str) -> None:
    parent = standardise_company_name(f"{core}星河食品有限公司")
    branch = standardise_company_name(f"{core}星河食品有限公司北京分公司")
    assert branch.canonical != parent.canonical
    assert branch.is_branch


@settings(max_examples=300, deadline=None)
@given(names)
def test_person_pinyin_key_is_the_sorted_pinyin(raw: str) -> None:
    name = standardise_person_name(raw)
    assert name.pinyin_key == " ".join(sorted(name.pinyin.split()))
    assert name.initials == "".join(s[0] for s in name.pinyin.split())
