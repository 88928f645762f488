"""Chinese person and company names, and the ways records get them wrong.

Namesakes are the main hazard of person linkage, so names follow a realistic surname
distribution and draw often from a small pool of very common given names (王伟, 张伟,
李娜 are shared by many people). Variants are those seen in real extracts: traditional
characters, same-sound characters, one-character typos and romanised pinyin in either
order; for companies: bracketed region, legal-form synonyms, half-width brackets.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import opencc
from pypinyin import lazy_pinyin

# Surnames with approximate shares (percent) of the population.
SURNAMES: dict[str, float] = {
    "李": 7.19,
    "王": 7.12,
    "张": 6.83,
    "刘": 5.38,
    "陈": 4.62,
    "杨": 3.06,
    "黄": 2.35,
    "赵": 2.29,
    "吴": 2.0,
    "周": 1.87,
    "徐": 1.68,
    "孙": 1.54,
    "马": 1.45,
    "朱": 1.33,
    "胡": 1.31,
    "郭": 1.16,
    "何": 1.15,
    "高": 1.0,
    "林": 0.99,
    "罗": 0.94,
    "郑": 0.82,
    "梁": 0.81,
    "谢": 0.72,
    "宋": 0.7,
    "唐": 0.68,
    "许": 0.63,
    "韩": 0.6,
    "冯": 0.59,
    "邓": 0.58,
    "曹": 0.56,
    "彭": 0.55,
    "曾": 0.53,
    "肖": 0.51,
    "田": 0.49,
    "董": 0.48,
    "袁": 0.47,
    "潘": 0.46,
    "于": 0.45,
    "蒋": 0.44,
    "蔡": 0.43,
    "余": 0.42,
    "杜": 0.41,
    "叶": 0.4,
    "程": 0.39,
    "苏": 0.38,
    "魏": 0.37,
    "吕": 0.36,
    "丁": 0.35,
    "任": 0.34,
    "沈": 0.33,
    "姚": 0.32,
    "卢": 0.31,
    "姜": 0.3,
    "崔": 0.29,
    "钟": 0.28,
    "谭": 0.27,
    "陆": 0.26,
    "汪": 0.25,
    "范": 0.24,
    "金": 0.23,
    "石": 0.22,
    "廖": 0.21,
    "贾": 0.2,
    "夏": 0.19,
    "韦": 0.18,
    "付": 0.17,
    "方": 0.16,
    "白": 0.15,
    "邹": 0.14,
    "孟": 0.13,
    "熊": 0.12,
    "秦": 0.11,
    "邱": 0.1,
    "江": 0.1,
    "尹": 0.1,
    "薛": 0.1,
    "段": 0.1,
    "雷": 0.1,
    "侯": 0.1,
    "龙": 0.1,
    "史": 0.1,
    "陶": 0.1,
    "贺": 0.1,
    "顾": 0.1,
    "毛": 0.1,
    "郝": 0.1,
    "龚": 0.1,
    "邵": 0.1,
    "万": 0.1,
    "钱": 0.1,
    "严": 0.1,
    "武": 0.1,
    "戴": 0.1,
}

# Very common given names with relative weights; most namesakes come from these.
COMMON_GIVEN: dict[str, dict[str, float]] = {
    "M": {
        "伟": 10,
        "强": 4,
        "磊": 4,
        "军": 4,
        "勇": 4,
        "杰": 4,
        "涛": 3.5,
        "明": 3,
        "超": 3,
        "刚": 2.5,
        "平": 2.5,
        "辉": 2.5,
        "斌": 2,
        "波": 2,
        "鹏": 2,
        "建华": 2,
        "建国": 2,
        "志强": 1.5,
        "国强": 1.5,
        "海": 1.5,
    },
    "F": {
        "芳": 8,
        "娜": 7,
        "敏": 6,
        "静": 6,
        "丽": 5,
        "秀英": 5,
        "艳": 4.5,
        "娟": 4,
        "霞": 3.5,
        "燕": 3.5,
        "玲": 3,
        "桂英": 3,
        "丹": 2.5,
        "萍": 2.5,
        "红": 2.5,
        "婷": 2,
        "雪": 2,
        "琳": 1.5,
        "秀兰": 2,
        "玉兰": 1.5,
    },
}
#: Characters a clerk copying by eye mistakes for one another (形近字), written down here
#: from common lists of look-alikes, not from any rule linkage uses: some share a part
#: (明/朋, 江/红), some are single shapes a stroke apart (己/已, 未/末, 天/夫).
LOOK_ALIKE_PAIRS = (  # none of them also sounds alike: that is a homophone
    "明朋",
    "江红",
    "林材",
    "海梅",
    "洁浩",
    "玉王",
    "春泰",
    "宇字",
    "军车",
    "华毕",
    "英荚",
    "芳苦",
    "静睁",
    "波坡",
    "梅悔",
    "宏宠",
    "兰半",
    "平乎",
    "文丈",
    "力刀",
    "永水",
    "天夫",
    "士土",
    "良艮",
    "金全",
    "民氏",
    "成戍",
    "斌武",
    "晴睛",
    "云元",
    "凡凤",
    "功巧",
    "己已",
    "未末",
    "清倩",
    "冰凝",
    "雪雷",
    "晨震",
    "欢欣",
    "杰杏",
    "丽丙",
    "敏繁",
    "红纪",
)
LOOK_ALIKE: dict[str, str] = {}
for _pair in LOOK_ALIKE_PAIRS:
    LOOK_ALIKE.setdefault(_pair[0], _pair[1])
    LOOK_ALIKE.setdefault(_pair[1], _pair[0])


def look_alike(given: str, rng: np.random.Generator) -> str | None:
    """The given name with one character swapped for a look-alike, if it has one."""
    spots = [i for i, ch in enumerate(given) if ch in LOOK_ALIKE]
    if not spots:
        return None
    i = spots[int(rng.integers(len(spots)))]
    return given[:i] + LOOK_ALIKE[given[i]] + given[i + 1 :]


COMMON_SHARE = 0.42  # share of people whose given name comes from COMMON_GIVEN

GIVEN_CHARS: dict[str, str] = {
    "M": "伟刚勇毅俊峰强军平保东文辉力明永健世广志义兴良海山仁波宁贵福生龙元全国胜学祥才"
    "发武新利清飞彬富顺信杰涛昌成康星光天达安岩中茂进林有坚和彪博诚先敬震振壮会思群"
    "豪心邦承乐绍功松善厚庆磊民友裕河哲江超浩亮政谦奇之翰朗伯宏言鸣朋斌梁栋维启克伦"
    "翔旭鹏泽晨辰士建家致树炎德行时泰盛宇",
    "F": "秀娟英华慧巧美娜静淑惠珠翠雅芝玉萍红娥玲芬芳燕彩春菊兰凤洁梅琳素云莲真环雪荣"
    "爱妹霞香月莺媛艳瑞凡佳嘉琼勤珍贞莉桂娣叶璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾"
    "颖露瑶怡婵雁蓓仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨韵园艺咏卿聪澜纯毓悦昭冰爽茗羽希"
    "欣滢筠柔竹凝晓欢枫芸菲寒伊亚宜可舒影荔丽阳妮宝贝",
}

# The 50 most common full names (with sex); each is planted on several people.
TOP_NAMES: tuple[tuple[str, str], ...] = (
    ("王伟", "M"),
    ("张伟", "M"),
    ("王芳", "F"),
    ("李伟", "M"),
    ("李娜", "F"),
    ("张敏", "F"),
    ("李静", "F"),
    ("王静", "F"),
    ("刘伟", "M"),
    ("王秀英", "F"),
    ("张丽", "F"),
    ("李秀英", "F"),
    ("王丽", "F"),
    ("张静", "F"),
    ("张秀英", "F"),
    ("李强", "M"),
    ("王敏", "F"),
    ("李敏", "F"),
    ("王磊", "M"),
    ("刘洋", "M"),
    ("王艳", "F"),
    ("王勇", "M"),
    ("李军", "M"),
    ("张勇", "M"),
    ("李杰", "M"),
    ("张杰", "M"),
    ("张磊", "M"),
    ("王强", "M"),
    ("李娟", "F"),
    ("王军", "M"),
    ("张艳", "F"),
    ("张涛", "M"),
    ("王涛", "M"),
    ("李艳", "F"),
    ("王超", "M"),
    ("李明", "M"),
    ("李勇", "M"),
    ("王娟", "F"),
    ("刘杰", "M"),
    ("刘敏", "F"),
    ("李霞", "F"),
    ("李丽", "F"),
    ("张军", "M"),
    ("王杰", "M"),
    ("张强", "M"),
    ("王秀兰", "F"),
    ("王刚", "M"),
    ("王平", "M"),
    ("刘芳", "F"),
    ("张燕", "F"),
)
TOP_NAME_MIN_PEOPLE = 3

# Same-sound groups (toneless pinyin equal): a clerk hearing the name may write any of them.
HOMOPHONES: tuple[str, ...] = (
    "伟玮炜维",
    "丽莉俐立",
    "静婧靖",
    "军君钧",
    "华桦骅",
    "明铭鸣",
    "杰洁捷",
    "强蔷",
    "磊垒",
    "敏珉",
    "娜纳",
    "涛韬滔",
    "勇永咏",
    "艳燕彦",
    "霞侠",
    "平萍苹",
    "刚钢纲",
    "红虹宏鸿",
    "英瑛莹",
    "斌彬滨",
    "峰锋丰枫",
    "辉晖徽",
    "健建剑",
    "玲灵",
    "琳林",
    "兰岚澜",
    "梅媚玫",
    "婷亭庭",
    "俊骏峻",
    "浩昊皓",
    "宇羽雨语",
    "鹏朋",
    "超潮",
    "欣新馨鑫",
    "佳嘉家",
    "文雯",
    "晓小",
    "秀绣",
    "桂贵",
    "娟鹃",
    "东冬",
    "龙隆",
    "志智治",
    "云芸韵",
    "芳方",
    "波博",
    "丹单",
    "国帼",
    "倩茜",
    "瑶遥",
)
HOMOPHONE_OF: dict[str, str] = {}
for _group in HOMOPHONES:
    for _ch in _group:
        HOMOPHONE_OF.setdefault(_ch, _group)

PINYIN_OVERRIDES = {"曾": "zeng", "覃": "qin", "单": "shan", "万": "wan"}

_S2T = opencc.OpenCC("s2t.json")


@cache
def traditional(text: str) -> str:
    """Traditional-character form (OpenCC s2t)."""
    return _S2T.convert(text)


def homophone(given: str, rng: np.random.Generator) -> str | None:
    """The given name with one character swapped for a same-sound one, if any exists."""
    spots = [i for i, ch in enumerate(given) if len(HOMOPHONE_OF.get(ch, "")) > 1]
    if not spots:
        return None
    i = spots[int(rng.integers(len(spots)))]
    others = [c for c in HOMOPHONE_OF[given[i]] if c != given[i]]
    return given[:i] + others[int(rng.integers(len(others)))] + given[i + 1 :]


def typo(given: str, sex: str, rng: np.random.Generator) -> str:
    """The given name with one character replaced by an unrelated one."""
    pool = GIVEN_CHARS[sex]
    i = int(rng.integers(len(given)))
    while True:
        ch = pool[int(rng.integers(len(pool)))]
        if ch != given[i] and HOMOPHONE_OF.get(ch) != HOMOPHONE_OF.get(given[i], "?"):
            return given[:i] + ch + given[i + 1 :]


@cache
def _syllable(ch: str) -> str:
    text = PINYIN_OVERRIDES.get(ch) or lazy_pinyin(ch)[0]
    if text.startswith(("lv", "nv")):
        text = text[0] + "yu" + text[2:]
    return text


def pinyin_forms(surname: str, given: str) -> tuple[str, ...]:
    """Romanisations seen on customs and foreign-trade filings."""
    sur = _syllable(surname)
    syl = [_syllable(c) for c in given]
    joined = "".join(syl)
    return (
        f"{sur.upper()} {joined.upper()}",
        f"{joined.capitalize()} {sur.capitalize()}",
        f"{sur.upper()} {' '.join(syl).upper()}",
        f"{sur.capitalize()} {joined.capitalize()}",
    )


def pinyin_name(surname: str, given: str, rng: np.random.Generator) -> str:
    forms = pinyin_forms(surname, given)
    weights = np.array([0.5, 0.25, 0.1, 0.15])
    return forms[int(rng.choice(len(forms), p=weights))]


# -- drawing names --------------------------------------------------------------------


def _weights(table: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    keys = np.array(list(table), dtype=object)
    w = np.array(list(table.values()), dtype=float)
    return keys, w / w.sum()


def draw_surnames(rng: np.random.Generator, n: int) -> np.ndarray:
    keys, w = _weights(SURNAMES)
    return keys[rng.choice(len(keys), size=n, p=w)]


def draw_given(rng: np.random.Generator, sex: np.ndarray) -> np.ndarray:
    """Given names: common ones for COMMON_SHARE of people, else one or two pool characters."""
    n = sex.size
    out = np.empty(n, dtype=object)
    common = rng.random(n) < COMMON_SHARE
    for s in ("M", "F"):
        mine = sex == s
        idx = np.flatnonzero(mine & common)
        keys, w = _weights(COMMON_GIVEN[s])
        out[idx] = keys[rng.choice(len(keys), size=idx.size, p=w)]
        idx = np.flatnonzero(mine & ~common)
        pool = np.array(list(GIVEN_CHARS[s]), dtype=object)
        first = pool[rng.integers(len(pool), size=idx.size)]
        second = pool[rng.integers(len(pool), size=idx.size)]
        two = rng.random(idx.size) < 0.7
        out[idx] = np.where(two, first + second, first)
    return out


def plant_top_names(
    rng: np.random.Generator,
    surname: np.ndarray,
    given: np.ndarray,
    sex: np.ndarray,
    eligible: np.ndarray,
) -> None:
    """Give each of TOP_NAMES to at least TOP_NAME_MIN_PEOPLE of the eligible people.

    In place. A realistic distribution alone leaves small worlds without enough namesakes;
    the linkage must face them at every size.
    """
    full = surname + given
    taken = np.zeros(surname.size, dtype=bool)
    for name, _ in TOP_NAMES:
        taken |= full == name
    for name, s in TOP_NAMES:
        have = int(np.count_nonzero(full == name))
        need = TOP_NAME_MIN_PEOPLE - have
        if need <= 0:
            continue
        pool = np.flatnonzero(eligible & (sex == s) & ~taken)
        chosen = rng.choice(pool, size=need, replace=False)
        surname[chosen] = name[0]
        given[chosen] = name[1:]
        taken[chosen] = True
        full[chosen] = name


# -- company names ------------------------------------------------------------------

BRAND_CHARS = (
    "星河华丰泰盛鑫源恒通达信诚嘉禾瑞祥宏远金鼎天成新茂隆昌永汇德佳美康乐福润泽辉煌"
    "宇阳光明海峰云龙凤安和平顺利兴旺富贵荣瑞益众联创博雅晟昊锦绣聚盈万科中联东方南"
    "北西海天地人和正大同心合力启航领先卓越精英优品臻味鲜香甜百味珍馐"
)
LEGAL_FORMS = ("有限公司", "有限责任公司", "股份有限公司")
LEGAL_FORM_WEIGHTS = (0.7, 0.25, 0.05)
_BRAND = "".join(dict.fromkeys(BRAND_CHARS))  # each character once


@cache
def _brand_sounds() -> dict[str, str]:
    """Brand characters that share a sound with another brand character: 星/兴, 鑫/信/新."""
    groups: dict[str, str] = {}
    for ch in _BRAND:
        groups[_syllable(ch)] = groups.get(_syllable(ch), "") + ch
    return {ch: group for group in groups.values() if len(group) > 1 for ch in group}


def brand_homophone(brand_text: str, rng: np.random.Generator) -> str | None:
    """The brand with one character swapped for a same-sound one (a clerk writing 兴 for
    星), if any has one."""
    sounds = _brand_sounds()
    spots = [i for i, ch in enumerate(brand_text) if ch in sounds]
    if not spots:
        return None
    i = spots[int(rng.integers(len(spots)))]
    others = [c for c in sounds[brand_text[i]] if c != brand_text[i]]
    return brand_text[:i] + others[int(rng.integers(len(others)))] + brand_text[i + 1 :]


def brand(code: int, width: int) -> str:
    """The `code`-th brand of `width` characters (its digits in base len(_BRAND))."""
    chars = []
    for _ in range(width):
        code, digit = divmod(code, len(_BRAND))
        chars.append(_BRAND[digit])
    return "".join(chars)


def brand_space(width: int) -> int:
    return len(_BRAND) ** width


def company_name(city: str, brand_text: str, word: str, form: str) -> str:
    return f"{city}{brand_text}{word}{form}"


def bracketed(city: str, brand_text: str, word: str, form: str, full_width: bool = True) -> str:
    """The bracketed-region form: 星河食品（上海）有限公司."""
    left, right = ("（", "）") if full_width else ("(", ")")
    return f"{brand_text}{word}{left}{city}{right}{form}"


def swap_form(form: str) -> str:
    """有限公司 and 有限责任公司 are written for one another; 股份有限公司 is not."""
    return {"有限公司": "有限责任公司", "有限责任公司": "有限公司"}.get(form, form)


# -- company names in Latin letters (customs filings) ------------------------------------

#: English for the world's industry words as foreign-trade filings write them.
INDUSTRY_ENGLISH: dict[str, tuple[str, ...]] = {
    "食品": ("Food", "Foodstuff"),
    "淀粉制品": ("Starch Products",),
    "烘焙食品": ("Bakery",),
    "面业": ("Noodle",),
    "乳业": ("Dairy",),
    "乳制品": ("Dairy Products",),
    "酒业": ("Liquor", "Wine"),
    "酿酒": ("Brewery", "Winery"),
    "饮品": ("Beverage",),
    "饮料": ("Beverage", "Drinks"),
    "食品贸易": ("Food Trading",),
    "粮油贸易": ("Grain and Oil Trading",),
    "冷冻食品": ("Frozen Food",),
    "超市": ("Supermarket",),
    "商贸": ("Commerce and Trade", "Trading"),
    "粮油": ("Grain and Oil",),
    "食品商行": ("Food",),
    "茶业": ("Tea",),
    "酒类销售": ("Liquor",),
    "餐饮管理": ("Catering Management",),
    "餐饮": ("Catering",),
    "快餐": ("Fast Food",),
    "餐饮配送": ("Catering",),
    "钢铁": ("Steel",),
    "金属材料": ("Metal Materials",),
    "制药": ("Pharmaceutical",),
    "医药": ("Medicine", "Pharmaceutical"),
    "软件": ("Software",),
    "信息技术": ("Information Technology",),
    "置业": ("Real Estate", "Property"),
    "房地产开发": ("Real Estate Development",),
    "科技": ("Technology", "Science and Technology"),
    "技术开发": ("Technology Development",),
    "投资管理": ("Investment Management",),
    "投资控股": ("Investment Holding",),
    "实业": ("Industrial",),
}
#: How a legal form is written in English (股份有限公司 also as plain "Co., Ltd.").
FORM_ENGLISH: dict[str, tuple[str, ...]] = {
    "有限公司": ("Co., Ltd.", "Company Limited", "Co., Ltd"),
    "有限责任公司": ("Co., Ltd.", "Company Limited", "Co., Ltd"),
    "股份有限公司": ("Co., Ltd.", "Joint Stock Co., Ltd.", "Company Limited by Shares"),
}


def romanised_company(
    city: str, brand_text: str, word: str, form: str, rng: np.random.Generator
) -> str:
    """A company name as a customs or foreign-trade filing writes it in Latin letters:
    SHANGHAI XINGHE FOOD CO., LTD. / Xinghe Food (Shanghai) Co., Ltd. / Shanghai Xing He
    Food Co., Ltd."""
    syllables = lazy_pinyin(brand_text)  # read as a phrase: 长乐 changle
    brand_latin = (
        "".join(syllables).capitalize()
        if rng.random() < 0.8
        else " ".join(s.capitalize() for s in syllables)
    )
    place = "".join(lazy_pinyin(city)).capitalize()
    industry = INDUSTRY_ENGLISH.get(word, ("Trading",))
    english = industry[int(rng.integers(len(industry)))]
    forms = FORM_ENGLISH.get(form, ("Co., Ltd.",))
    legal = forms[int(rng.integers(len(forms)))]
    text = (
        f"{brand_latin} {english} ({place}) {legal}"
        if rng.random() < 0.25
        else f"{place} {brand_latin} {english} {legal}"
    )
    return text.upper() if rng.random() < 0.6 else text
