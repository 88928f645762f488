"""Person names, and the Chinese text primitives company names share: simplify and pinyin.

Clerks write one person's name in many ways: traditional characters (張偉), a same-sound
character (张玮), with stray spaces or full-width letters, or romanised in either order
("ZHANG WEI", "Wei Zhang"). Standardisation maps all of them onto a few comparable keys;
it never decides identity. In particular `pinyin_key` deliberately merges every same-sound
name (张伟, 张玮, 章伟 and "Wei Zhang" all give "wei zhang"): it is a blocking key and a
comparison level, and thousands of distinct people share each value.

Pinyin comes from a character table filled lazily from pypinyin's character dictionary
(first reading, tones dropped), with surname readings for the surname: 单 is shan, 曾 zeng.
Calling pypinyin once per distinct name was measured at about 12 s for 1M names, against
about 2 s for a character table, which differs from phrase readings on about 0.01% of
names; the table is deterministic and reads a character the same wherever it occurs.
ü is written "yu" (lyu, nyu), as passports and customs filings romanise it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, cast

from loaders.fields import normalise_text

__all__ = [
    "COMPOUND_SURNAMES",
    "SURNAME_READINGS",
    "PersonName",
    "char_syllable",
    "person_from_simplified",
    "pinyin_syllables",
    "simplify",
    "simplify_many",
    "simplify_name",
    "standardise_person_name",
]

# -- traditional -> simplified -----------------------------------------------------------

_CONVERTER: Any = None
_CHUNK = 20_000  # names per OpenCC call in simplify_many


def _opencc() -> Any:
    """The OpenCC t2s converter, created once on first use (it loads dictionaries)."""
    global _CONVERTER
    if _CONVERTER is None:
        import opencc

        _CONVERTER = opencc.OpenCC("t2s.json")
    return _CONVERTER


def simplify(text: str) -> str:
    """NFKC (full-width to half-width), whitespace collapsed, traditional -> simplified."""
    text = normalise_text(text)
    if text.isascii():
        return text
    return cast(str, _opencc().convert(text))  # OpenCC is untyped; convert() returns str


def simplify_many(texts: list[str]) -> list[str]:
    """simplify() over many texts, with one OpenCC call per chunk instead of one per text.

    normalise_text turns every newline into a space, so a newline-joined chunk splits back
    into exactly the inputs; OpenCC phrases never span a newline, so results equal simplify().
    """
    normal = [normalise_text(t) for t in texts]
    out: list[str] = []
    convert = _opencc().convert
    for start in range(0, len(normal), _CHUNK):
        chunk = normal[start : start + _CHUNK]
        if all(t.isascii() for t in chunk):
            out.extend(chunk)
            continue
        converted = convert("\n".join(chunk)).split("\n")
        if len(converted) != len(chunk):  # defensive: fall back to one call per text
            converted = [convert(t) for t in chunk]
        out.extend(converted)
    return out


# Characters kept as written in names although OpenCC maps them alone: 乾 (qian) is a
# simplified character too, and common in given names; alone OpenCC makes it 干 (gan).
_KEEP_IN_NAMES = frozenset("乾")
_NAME_CHAR: dict[str, str] = {}


def simplify_name(text: str) -> str:
    """simplify() for person names: character by character, never by phrase.

    OpenCC's phrase rules read a name as words: 沈靜 (the surname 沈) becomes 沉静. One
    character at a time, a name converts the same wherever it appears.
    """
    text = normalise_text(text)
    if text.isascii():
        return text
    out = []
    for ch in text:
        simple = _NAME_CHAR.get(ch)
        if simple is None:
            simple = ch if ch.isascii() or ch in _KEEP_IN_NAMES else _opencc().convert(ch)
            _NAME_CHAR[ch] = simple
        out.append(simple)
    return "".join(out)


# -- pinyin ------------------------------------------------------------------------------

# Readings a character takes as a surname where pypinyin's first reading differs.
SURNAME_READINGS: dict[str, str] = {
    "单": "shan", "曾": "zeng", "解": "xie", "仇": "qiu", "区": "ou", "查": "zha", "朴": "piao",
    "盖": "ge", "覃": "qin", "乐": "yue", "缪": "miao", "秘": "bi", "种": "chong", "员": "yun",
    "繁": "po", "翟": "zhai", "召": "shao", "宓": "fu", "都": "du", "句": "gou", "能": "nai",
    "长": "chang", "卜": "bu", "便": "pian", "祭": "zhai", "藏": "zang", "隗": "wei", "折": "she",
    "重": "chong",
}  # fmt: skip

# Two-character surnames, with readings where the character table would be wrong.
COMPOUND_SURNAMES: dict[str, str | None] = {
    "欧阳": None, "司马": None, "诸葛": None, "上官": None, "东方": None, "皇甫": None,
    "尉迟": "yu chi", "公孙": None, "慕容": None, "令狐": None, "长孙": "zhang sun",
    "宇文": None, "司徒": None, "夏侯": None, "轩辕": None, "端木": None, "百里": None,
    "呼延": None, "东郭": None, "南宫": None, "西门": None, "闻人": None, "申屠": None,
    "太史": None, "公羊": None, "赫连": None, "钟离": None, "宗政": None, "濮阳": None,
    "淳于": None, "公冶": None, "仲孙": None, "司空": None, "亓官": None, "司寇": None,
    "子车": None, "颛孙": None, "巫马": None, "公西": None, "漆雕": None, "乐正": "yue zheng",
    "壤驷": None, "公良": None, "拓跋": None, "夹谷": "jia gu", "宰父": None, "谷梁": None,
    "段干": None, "第五": None, "梁丘": None, "左丘": None, "东门": None, "羊舌": None,
    "微生": None, "万俟": "mo qi", "单于": "chan yu", "澹台": "tan tai", "独孤": None,
    "闾丘": None,
}  # fmt: skip

# Common single surnames, most frequent first (2020 census order, approximately). The rank
# weights which token of a romanised name is the surname ("Wei Zhang": zhang, not wei).
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许邓冯韩曹曾彭肖蔡潘田董袁于余叶蒋"
    "杜苏魏程吕丁沈任姚卢钟姜崔谭廖范汪陆金石戴贾韦夏邱方侯邹熊孟秦白毛江闫薛尹付段雷黎史"
    "龙钱贺陶顾龚郝邵万覃武严洪赖莫孔汤向常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟申"
    "殷詹欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳"
    "管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷"
    "晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻"
    "苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花"
    "权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄"
    "邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干"
    "但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由"
)

# Syllables pypinyin knows that never occur in romanised names (interjections, "biang").
_NOT_NAME_SYLLABLES = frozenset({"m", "n", "ng", "hm", "hng", "r", "biang", "yo", "lo", "eh"})
_TYPED_U = re.compile(r"(?<=[ln])v")
_U_SYLLABLES = frozenset({"lyu", "nyu", "lyue", "nyue"})
_TONE_MARKS = re.compile("[\u0300\u0301\u0304\u030c]")
_CHAR_SYLLABLE: dict[str, str] = {}


def _toneless(reading: str) -> str:
    """zhāng -> zhang, lǜ -> lyu: tone marks dropped, ü written yu."""
    text = _TONE_MARKS.sub("", unicodedata.normalize("NFD", reading))
    return unicodedata.normalize("NFC", text).replace("ü", "yu").replace("v", "yu")


@cache
def _pinyin_dict() -> dict[int, str]:
    from pypinyin.pinyin_dict import pinyin_dict

    return pinyin_dict


def char_syllable(ch: str) -> str:
    """Tone-less pinyin of one character (its most common reading), "" if it has none."""
    syllable = _CHAR_SYLLABLE.get(ch)
    if syllable is None:
        readings = _pinyin_dict().get(ord(ch))
        syllable = _toneless(readings.split(",")[0]) if readings else ""
        _CHAR_SYLLABLE[ch] = syllable
    return syllable


def pinyin_syllables(text: str) -> list[str]:
    """Syllables of a text: one per Chinese character; other runs (letters, digits) lowercased
    and kept whole, so "ABC食品" gives ["abc", "shi", "pin"]."""
    out: list[str] = []
    other = ""
    for ch in text:
        syllable = char_syllable(ch)
        if syllable:
            if other:
                out.append(other.lower())
                other = ""
            out.append(syllable)
        elif ch.isalnum():
            other += ch
        elif other:
            out.append(other.lower())
            other = ""
    if other:
        out.append(other.lower())
    return out


def _polyphonic(ch: str) -> bool:
    readings = _pinyin_dict().get(ord(ch))
    return readings is not None and "," in readings


@cache
def _phrases() -> dict[str, Any]:
    from pypinyin.phrases_dict import phrases_dict

    return phrases_dict


def _in_a_phrase(text: str) -> bool:
    """Whether some run of two or more characters of `text` is in pypinyin's phrase table
    (only there can a phrase reading differ from the characters' own)."""
    phrases = _phrases()
    n = len(text)
    return any(text[i:j] in phrases for i in range(n - 1) for j in range(i + 2, min(n, i + 6) + 1))


@lru_cache(maxsize=1 << 18)
def word_pinyin(text: str) -> str:
    """The pinyin of a word, syllables run together: read as a phrase where a character
    has several readings and pypinyin knows a phrase in it (重庆 chongqing, 长乐 changle,
    not zhongqing, zhangle: how a filing in Latin letters writes them), else character by
    character (the fast path: segmenting costs ~90 us a word)."""
    if not any(_polyphonic(ch) for ch in text) or not _in_a_phrase(text):
        return "".join(pinyin_syllables(text))
    from pypinyin import lazy_pinyin

    out = []
    for piece in lazy_pinyin(text, errors="default"):
        if piece.isascii() and piece.isalpha() and _toneless(piece) in _valid_syllables():
            out.append(_toneless(piece))
        else:
            out.extend(pinyin_syllables(piece))
    return "".join(out)


@cache
def _valid_syllables() -> frozenset[str]:
    found = set()
    for readings in _pinyin_dict().values():
        for reading in readings.split(","):
            syllable = _toneless(reading)
            if syllable.isascii() and syllable.isalpha():
                found.add(syllable)
    return frozenset(found - _NOT_NAME_SYLLABLES)


@cache
def _surname_weights() -> dict[str, float]:
    """Romanised surname (syllables joined, "zhang", "ouyang") -> frequency weight (1/rank)."""
    weights: dict[str, float] = {}
    for rank, ch in enumerate(dict.fromkeys(SURNAMES), start=1):
        key = SURNAME_READINGS.get(ch) or char_syllable(ch)
        weights[key] = weights.get(key, 0.0) + 1.0 / rank
    for compound in COMPOUND_SURNAMES:
        key = "".join(_surname_pinyin(compound))
        weights[key] = weights.get(key, 0.0) + 1e-3
    return weights


def _surname_pinyin(surname: str) -> list[str]:
    """Syllables of a surname with surname readings (单 shan, 尉迟 yu chi)."""
    if len(surname) == 2 and surname in COMPOUND_SURNAMES:
        reading = COMPOUND_SURNAMES[surname]
        if reading:
            return reading.split()
        return [SURNAME_READINGS.get(c) or char_syllable(c) or c for c in surname]
    if len(surname) == 1:
        return [SURNAME_READINGS.get(surname) or char_syllable(surname) or surname]
    return pinyin_syllables(surname)


@lru_cache(maxsize=200_000)
def _split_syllables(word: str) -> tuple[str, ...]:
    """A run of letters split into pinyin syllables ("jianhua" -> jian hua), or kept whole.

    Fewest syllables wins; ties go to the split with fewest syllables starting with a
    vowel (pinyin writes "fang'an" with an apostrophe and reads "fangan" as fan gan), then
    with fewest ü syllables ("binyu" is bin yu, not bi nyu).
    """
    respelt = _TYPED_U.sub("yu", word) if "v" in word else word  # "lv", "nv": ü typed as v
    if respelt != word:
        pieces = _split_syllables(respelt)
        if len(pieces) > 1 or pieces[0] in _valid_syllables():
            return pieces
    valid = _valid_syllables()
    n = len(word)
    # best[end]: (syllables, vowel-initial syllables, ü syllables, start of the last one)
    best: list[tuple[int, int, int, int] | None] = [None] * (n + 1)
    best[0] = (0, 0, 0, -1)
    for end in range(1, n + 1):
        for start in range(max(0, end - 6), end):
            prev = best[start]
            piece = word[start:end]
            if prev is None or piece not in valid:
                continue
            cost = (
                prev[0] + 1,
                prev[1] + (start > 0 and piece[0] in "aoe"),
                prev[2] + (piece in _U_SYLLABLES),
                start,
            )
            current = best[end]
            if current is None or cost[:3] < current[:3]:
                best[end] = cost
    if best[n] is None:
        return (word,)
    syllables: list[str] = []
    end = n
    while end > 0:
        start = best[end][3]  # type: ignore[index]
        syllables.append(word[start:end])
        end = start
    return tuple(reversed(syllables))


# -- person names ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonName:
    """A person's name in comparable forms.

    simplified: simplified characters without spaces or punctuation (the middle dot of
        minority and foreign names is dropped, as clerks often omit it); for a romanised
        name the lowercase tokens as written, single-spaced.
    pinyin: tone-less syllables, space-joined, surname first ("zhang wei"; also for "Wei
        Zhang" once the surname is recognised).
    pinyin_key: the syllables sorted: order-independent, merges all same-sound names.
        For blocking and comparison levels only, never as an identity.
    surname, given: characters, or for a romanised name the pinyin ("zhang", "jianhua").
    surname_pinyin: the surname's syllables ("ou yang"), comparable across scripts.
    initials: first letter of each syllable of `pinyin` ("zw").
    """

    simplified: str
    is_romanised: bool
    pinyin: str
    pinyin_key: str
    surname: str
    given: str
    surname_pinyin: str
    initials: str


_EMPTY_PERSON = PersonName("", False, "", "", "", "", "", "")
_NOT_WORD = re.compile(r"[\W_]+")
# Middle dots and dashes between the parts of a minority or foreign name (阿不都·热合曼).
_NAME_PARTS = re.compile(r"[·•・‧∙⋅.\-‐‑–—]+")
_LATIN_TOKENS = re.compile(r"[a-z]+")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")


def _name(
    simplified: str,
    romanised: bool,
    sur: list[str],
    giv: list[str],
    surname: str,
    given: str,
    syllables: list[str] | None = None,
) -> PersonName:
    syllables = sur + giv if syllables is None else syllables
    return PersonName(
        simplified=simplified,
        is_romanised=romanised,
        pinyin=" ".join(syllables),
        pinyin_key=" ".join(sorted(syllables)),
        surname=surname,
        given=given,
        surname_pinyin=" ".join(sur),
        initials="".join(s[0] for s in syllables),
    )


def _han_name(compact: str) -> PersonName:
    """A Chinese name: compound surname if it starts with one, else the first character."""
    n = 2 if len(compact) >= 3 and compact[:2] in COMPOUND_SURNAMES else 1
    surname, given = compact[:n], compact[n:]
    return _name(compact, False, _surname_pinyin(surname), pinyin_syllables(given), surname, given)


def _dotted_name(compact: str, parts: list[str]) -> PersonName:
    """A minority or foreign name (买买提·艾力, 约翰·史密斯): pinyin in written order, no
    surname readings; the last part is the family (or father's) name, as documents file it."""
    surname = parts[-1]
    return _name(
        compact,
        False,
        pinyin_syllables(surname),
        [],
        surname,
        "".join(parts[:-1]),
        syllables=pinyin_syllables(compact),
    )


def _romanised_name(simplified: str, sur: list[str], giv: list[str]) -> PersonName:
    return _name(simplified, True, sur, giv, "".join(sur), "".join(giv))


def _syllables_of(text: str) -> list[str]:
    """Lowercase letter runs of a romanised text, each split into syllables."""
    return [s for run in _LATIN_TOKENS.findall(text.casefold()) for s in _split_syllables(run)]


@cache
def _compound_keys() -> frozenset[str]:
    return frozenset("".join(_surname_pinyin(c)) for c in COMPOUND_SURNAMES)


def _surname_index(tokens: list[list[str]], all_caps: list[bool]) -> int:
    """Which of several romanised tokens is the surname: 0 (Chinese order) or the last.

    Evidence in order: the only all-capitals end token ("ZHANG Wei", "Wei ZHANG"); the only
    end token that is a known surname; all-capitals text, which follows Chinese order on
    Chinese documents ("ZHANG WEI"); else the more frequent surname ("Wei Zhang": zhang).
    """
    last = len(tokens) - 1
    if sum(all_caps) == 1 and all_caps[0] != all_caps[last]:
        return 0 if all_caps[0] else last
    weights = _surname_weights()
    first_w = weights.get("".join(tokens[0]), 0.0) if len(tokens[0]) <= 2 else 0.0
    last_w = weights.get("".join(tokens[last]), 0.0) if len(tokens[last]) <= 2 else 0.0
    if last_w and not first_w:
        return last
    if not last_w or all(all_caps):
        return 0
    return 0 if first_w >= last_w else last


def _romanised(text: str) -> PersonName:
    """A name in Latin letters: find the surname, split the rest into syllables."""
    simplified = " ".join(_LATIN_TOKENS.findall(text.casefold()))
    surname_part, comma, given_part = text.partition(",")
    if comma and _syllables_of(surname_part) and _syllables_of(given_part):
        # "Zhang, Wei": the part before the comma is the surname, by convention.
        return _romanised_name(simplified, _syllables_of(surname_part), _syllables_of(given_part))
    words = [w for w in re.split(r"[\s,]+", text) if any(c.isalpha() for c in w)]
    tokens = [_syllables_of(w) for w in words]
    if len(tokens) == 1:  # "ZHANGWEI", "OUYANGNANA"
        syllables = tokens[0]
        n = 2 if len(syllables) > 2 and "".join(syllables[:2]) in _compound_keys() else 1
        return _romanised_name(simplified, syllables[:n], syllables[n:])
    caps = [w.isupper() and sum(c.isalpha() for c in w) > 1 for w in words]
    i = _surname_index(tokens, caps)
    rest = tokens[1:] if i == 0 else tokens[:-1]
    return _romanised_name(simplified, tokens[i], [s for t in rest for s in t])


def _deaccent(text: str) -> str:
    """Tone marks off Latin letters ("Zhāng" -> "Zhang"); ü becomes yu as in passports."""
    text = text.replace("ü", "yu").replace("Ü", "YU")
    if text.isascii():
        return text
    bare = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare)


def person_from_simplified(text: str) -> PersonName:
    """standardise_person_name on text already passed through simplify_name()."""
    if not _HAN.search(text):
        latin = _deaccent(text)
        if (
            latin.isascii()
            and any(c.isalpha() for c in latin)
            and not any(c.isdigit() for c in latin)
        ):
            return _romanised(latin)
    compact = _NOT_WORD.sub("", text).lower()
    if not compact:
        return _EMPTY_PERSON
    if _NAME_PARTS.search(text):
        parts = [p for p in (_NOT_WORD.sub("", x) for x in _NAME_PARTS.split(text)) if p]
        if len(parts) > 1 and all(len(p) >= 2 for p in parts):
            return _dotted_name(compact, parts)
    return _han_name(compact)


def standardise_person_name(raw: str) -> PersonName:
    """Standardise one person name (see PersonName for the fields and what they are for)."""
    return person_from_simplified(simplify_name(raw))
