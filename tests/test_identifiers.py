"""Identifiers: real company codes, synthetic resident IDs, masks, tokens and generators.

Company codes below are the published codes of large companies (public record). Resident
IDs are synthetic (made with make_resident_id) or the example printed in GB 11643 itself.
"""

from __future__ import annotations

import hmac
import re
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric, uscc
from stdnum.iso7064 import mod_11_10

from loaders.identifiers import (
    RESIDENT_ID_HINT,
    _uscc_check_char,
    classify_company_identifier,
    display_mask,
    gb11714_check_char,
    keyed_resident_ids,
    make_resident_id,
    make_uscc,
    mask_id,
    masked_resident_ids,
    parse_org_code,
    parse_reg_no,
    parse_resident_id,
    parse_uscc,
)
from world.habits import mask

SECRET = b"test-secret"
OTHER_SECRET = b"another-secret"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

REAL_USCCS = [
    "91330100716105852F",  # Alibaba (China) Co., Ltd.
    "9144030071526726XG",  # Shenzhen Tencent Computer Systems: org code ends in X
    "914403001922038216",  # Huawei Technologies
    "91110108551385082Q",  # Beijing Xiaomi Technology
    "91110000710925462X",  # PetroChina
    "12440600MB2C07549J",  # a public institution (1 2 = institutions' registry), MB... body
]
# Legacy 15-digit registration numbers as printed on pre-2015 licences.
REAL_REG_NOS = ["110108012660422", "330100400015575", "440301103097413"]
GB11643_EXAMPLE = "11010519491231002X"  # the worked example in GB 11643-1999


# -- USCC ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", REAL_USCCS)
def test_real_usccs_are_valid(code: str) -> None:
    parsed = parse_uscc(code)
    assert parsed.status == "valid"
    assert parsed.reason is None
    assert parsed.value == code
    assert parsed.org_code == code[8:17]
    assert parsed.region_code == code[2:8]
    assert parsed.org_code_valid is True  # chars 9-17 of a real USCC pass GB 11714
    assert uscc.is_valid(code)


@pytest.mark.parametrize(
    "raw",
    [
        " 9144030071526726xg ",
        "9144 0300 7152 6726 XG",
        "9144-0300-71526726-XG",
        "９１４４０３００７１５２６７２６ＸＧ",
        "\ufeff9144030071526726XG",
    ],
)
def test_uscc_normalisation(raw: str) -> None:
    parsed = parse_uscc(raw)
    assert (parsed.status, parsed.value) == ("valid", "9144030071526726XG")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("9144030071526726XA", "invalid_check_digit"),  # wrong check character
        ("91110108551385082R", "invalid_check_digit"),
        ("91350203M0001QKT19", "invalid_check_digit"),  # real Xiamen pre-2016 code, see docs
        ("9144030071526726X", "invalid_length"),
        ("9144030071526726XGG", "invalid_length"),
        ("91110108551385082", "invalid_length"),
        ("9111010855138508IQ", "invalid_format"),  # I, O, Z, S, V are not in the alphabet
        ("9111010855138508OQ", "invalid_format"),
        ("9111010855138508ZQ", "invalid_format"),
        ("9111010855138508SQ", "invalid_format"),
        ("9111010855138508VQ", "invalid_format"),
        ("911A0108551385082Q", "invalid_format"),  # region code must be digits
        ("91110108551385082?", "invalid_format"),
    ],
)
def test_invalid_usccs(raw: str, reason: str) -> None:
    parsed = parse_uscc(raw)
    assert (parsed.status, parsed.reason) == ("invalid", reason)
    assert parsed.value is None and parsed.org_code is None
    assert parsed.normalised == raw.upper()


@pytest.mark.parametrize("blank", [None, "", "  ", "-", "无", "NULL", "N/A", float("nan")])
def test_missing_identifiers(blank: object) -> None:
    assert parse_uscc(blank).status == "missing"
    assert parse_org_code(blank).status == "missing"
    assert parse_reg_no(blank).status == "missing"
    assert classify_company_identifier(blank) == "missing"
    assert parse_resident_id(blank, SECRET).status == "missing"
    assert mask_id(blank) is None


def test_uscc_with_letter_registration_authority() -> None:
    # GB 32100 allows letters in position 1 (N: agricultural registry, Y: other), which
    # stdnum's validate() rejects; we accept them and check the same check character.
    code = make_uscc("330100", "MA2C0754", registration_authority="N", entity_type="2")
    assert parse_uscc(code).status == "valid"
    assert not uscc.is_valid(code)
    assert uscc.calc_check_digit(code) == code[17]


def test_uscc_embedded_org_code_failing_gb11714_is_flagged_not_invalid() -> None:
    body = "91110108" + "55138508" + "3"  # org code check should be 2
    code = body + uscc.calc_check_digit(body)
    parsed = parse_uscc(code)
    assert parsed.status == "valid"
    assert parsed.org_code == "551385083"
    assert parsed.org_code_valid is False


@given(st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17))
def test_uscc_check_char_matches_stdnum(body: str) -> None:
    assert _uscc_check_char(body) == uscc.calc_check_digit(body)


@given(
    region=st.text(alphabet="0123456789", min_size=6, max_size=6),
    org=st.text(alphabet=USCC_ALPHABET, min_size=8, max_size=8),
    authority=st.sampled_from("123456789ANY"),
    entity=st.sampled_from("1239"),
)
def test_make_uscc_round_trips(region: str, org: str, authority: str, entity: str) -> None:
    code = make_uscc(region, org, authority, entity)
    parsed = parse_uscc(code)
    assert parsed.status == "valid"
    assert parsed.org_code == code[8:17]
    assert parsed.org_code[:8] == org
    assert parsed.org_code_valid is True
    assert parsed.region_code == region
    assert parse_org_code(parsed.org_code).status == "valid"
    assert uscc.calc_check_digit(code) == code[17]


@pytest.mark.parametrize(
    "bad",
    [("11010", "55138508"), ("110108", "5513850"), ("110108", "5513850I"), ("11010A", "55138508")],
)
def test_make_uscc_rejects_bad_parts(bad: tuple[str, str]) -> None:
    with pytest.raises(ValueError):
        make_uscc(*bad)


# -- organisation code --------------------------------------------------------------------


@pytest.mark.parametrize("code", REAL_USCCS)
def test_org_codes_inside_real_usccs(code: str) -> None:
    org = code[8:17]
    assert parse_org_code(org).value == org
    printed = f"{org[:8]}-{org[8]}"
    assert parse_org_code(printed).value == org
    assert classify_company_identifier(printed) == "org_code"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("71526726-1", "invalid_check_digit"),
        ("55138508-3", "invalid_check_digit"),
        ("71526726", "invalid_length"),
        ("715267261X", "invalid_length"),
        ("7152672$-X", "invalid_format"),
        ("71526726-A", "invalid_format"),
    ],
)
def test_invalid_org_codes(raw: str, reason: str) -> None:
    parsed = parse_org_code(raw)
    assert (parsed.status, parsed.reason, parsed.value) == ("invalid", reason, None)


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=8, max_size=8))
def test_gb11714_matches_the_weighted_sum(body: str) -> None:
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    values = [int(c) if c.isdigit() else ord(c) - 55 for c in body]
    total = sum(w * v for w, v in zip(weights, values, strict=True))
    check = 11 - total % 11
    assert gb11714_check_char(body) == {10: "X", 11: "0"}.get(check, str(check))
    assert parse_org_code(body + gb11714_check_char(body)).status == "valid"


# -- registration number ------------------------------------------------------------------


@pytest.mark.parametrize("code", REAL_REG_NOS)
def test_real_reg_nos(code: str) -> None:
    parsed = parse_reg_no(code)
    assert (parsed.status, parsed.value) == ("valid", code)
    assert classify_company_identifier(code) == "reg_no"


def test_reg_no_bad_check_digit() -> None:
    code = REAL_REG_NOS[0][:-1] + str((int(REAL_REG_NOS[0][-1]) + 1) % 10)
    parsed = parse_reg_no(code)
    assert (parsed.status, parsed.reason, parsed.normalised) == (
        "invalid",
        "invalid_check_digit",
        code,
    )


@pytest.mark.parametrize(
    ("raw", "reason"), [("3100001001234", "invalid_length"), ("11010801266042A", "invalid_format")]
)
def test_reg_no_shape(raw: str, reason: str) -> None:
    assert parse_reg_no(raw).reason == reason


@given(st.text(alphabet="0123456789", min_size=14, max_size=14))
def test_reg_no_check_digit_from_stdnum(body: str) -> None:
    assert parse_reg_no(body + mod_11_10.calc_check_digit(body)).status == "valid"


# -- classification -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("91110108551385082Q", "uscc"),
        ("9111 0108 5513 8508 2Q", "uscc"),
        ("55138508-2", "org_code"),
        ("551385082", "org_code"),
        ("71526726X", "org_code"),
        ("110108012660422", "reg_no"),
        ("星河食品", "unknown"),
        ("12345", "unknown"),
        ("551385082A", "unknown"),
        ("", "missing"),
        (None, "missing"),
    ],
)
def test_classify_company_identifier(raw: str | None, kind: str) -> None:
    assert classify_company_identifier(raw) == kind


# -- resident ID --------------------------------------------------------------------------


def test_gb11643_example_is_valid() -> None:
    parsed = parse_resident_id(GB11643_EXAMPLE, SECRET)
    assert parsed.status == "valid" and parsed.kind == "18" and parsed.reason is None
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "F"  # sequence 002 is even
    assert parsed.region_code == "110105"
    assert parsed.display == "110105********002X"
    assert (parsed.visible_prefix, parsed.visible_suffix) == ("110105", "002X")
    assert parsed.token == hmac.new(SECRET, GB11643_EXAMPLE.encode(), "sha256").hexdigest()


def test_lower_case_check_char_and_spaces() -> None:
    assert (
        parse_resident_id(" 110105 19491231 002x ", SECRET).token
        == parse_resident_id(GB11643_EXAMPLE, SECRET).token
    )


def test_15_digit_id_is_upgraded() -> None:
    parsed = parse_resident_id("110105491231002", SECRET)
    assert (parsed.status, parsed.kind) == ("valid", "15_upgraded")
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.token == parse_resident_id(GB11643_EXAMPLE, SECRET).token
    assert parsed.display == "110105********002X"


def test_token_is_stable_per_secret() -> None:
    person = make_resident_id("320102", date(1985, 7, 14), 371)
    first = parse_resident_id(person, SECRET).token
    assert first == parse_resident_id(person, SECRET).token
    assert first != parse_resident_id(person, OTHER_SECRET).token
    assert len(first) == 64 and int(first, 16) >= 0
    assert (
        parse_resident_id(person, OTHER_SECRET).token
        == hmac.new(OTHER_SECRET, person.encode(), "sha256").hexdigest()
    )


def test_bad_check_digit() -> None:
    wrong = GB11643_EXAMPLE[:-1] + "1"
    parsed = parse_resident_id(wrong, SECRET)
    assert (parsed.status, parsed.reason, parsed.token) == ("invalid", "invalid_check_digit", None)
    assert parsed.display == "110105********0021"
    assert parsed.birth_date is None and parsed.sex is None


@pytest.mark.parametrize("birth", ["20190230", "19901301", "19900000", "18790101", "29990101"])
def test_impossible_birth_date(birth: str) -> None:
    body = "110101" + birth + "123"
    code = body + ric.calc_check_digit(body + "0")  # right check digit, wrong date
    parsed = parse_resident_id(code, SECRET)
    assert (parsed.status, parsed.reason, parsed.token) == ("invalid", "invalid_birth_date", None)


def test_15_digit_with_impossible_date() -> None:
    assert parse_resident_id("110101900230123", SECRET).reason == "invalid_birth_date"


def test_birthplace_is_information_not_validity() -> None:
    # 110103 (Chongwen, merged away in 2010): stdnum rejects a 2015 birth there on
    # birthplace; its check digit and date are right, so for us it is valid.
    code = make_resident_id("110103", date(2015, 6, 1), 124)
    assert not ric.is_valid(code)
    assert parse_resident_id(code, SECRET).status == "valid"
    # 110199 is not a county at all; stdnum even fails with a KeyError on it.
    assert (
        parse_resident_id(make_resident_id("110199", date(1990, 1, 1), 5), SECRET).status == "valid"
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("11010519491231002", "invalid_length"),
        ("1101051949123100211", "invalid_length"),
        ("11010519491231002A", "invalid_format"),
        ("1101051949123100X2", "invalid_format"),
        ("91110108551385082Q", "invalid_format"),
        ("张三", "invalid_length"),
    ],
)
def test_invalid_resident_id_shapes(raw: str, reason: str) -> None:
    parsed = parse_resident_id(raw, SECRET)
    assert (parsed.status, parsed.reason, parsed.token) == ("invalid", reason, None)


MASKED_CASES = [
    # raw, display, prefix, suffix, birth date, region
    ("110101********123X", "110101********123X", "110101", "123X", None, "110101"),
    ("1101011990****123X", "1101011990****123X", "1101011990", "123X", None, "110101"),
    ("110101****0101123X", "110101****0101123X", "110101", "0101123X", None, "110101"),
    (
        "11010119900101****",
        "11010119900101****",
        "11010119900101",
        None,
        date(1990, 1, 1),
        "110101",
    ),
    ("110101××××××××123X", "110101********123X", "110101", "123X", None, "110101"),
    ("110101XXXXXXXX123X", "110101********123X", "110101", "123X", None, "110101"),
    ("110101xxxxxxxx1234", "110101********1234", "110101", "1234", None, "110101"),
    (
        "11010119900101XXXX",
        "11010119900101****",
        "11010119900101",
        None,
        date(1990, 1, 1),
        "110101",
    ),
    ("11010119900101***X", "11010119900101***X", "11010119900101", "X", date(1990, 1, 1), "110101"),
    (
        "１１０１０１＊＊＊＊＊＊＊＊１２３Ｘ",
        "110101********123X",
        "110101",
        "123X",
        None,
        "110101",
    ),
    ("110101****123X", "110101****123X", "110101", "123X", None, "110101"),
    ("**************123X", "**************123X", None, "123X", None, None),
    ("1101**********123X", "1101**********123X", "1101", "123X", None, None),
    ("110101*****0123", "110101*****0123", "110101", "0123", None, "110101"),
    ("110101900101***", "110101900101***", "110101900101", None, date(1990, 1, 1), "110101"),
    # Other agencies' patterns: birth date alone, 4+4, 3+4, 1+1, other mask characters.
    ("******19900101****", "******19900101****", None, None, date(1990, 1, 1), None),
    ("●●●●●●19900101●●●●", "******19900101****", None, None, date(1990, 1, 1), None),
    ("110***********123X", "110***********123X", "110", "123X", None, None),
    ("1****************X", "1****************X", "1", "X", None, None),
    ("1101##########123X", "1101**********123X", "1101", "123X", None, None),
]


@pytest.mark.parametrize(("raw", "display", "prefix", "suffix", "born", "region"), MASKED_CASES)
def test_masked_ids(
    raw: str,
    display: str,
    prefix: str | None,
    suffix: str | None,
    born: date | None,
    region: str | None,
) -> None:
    parsed = parse_resident_id(raw, SECRET)
    assert (parsed.status, parsed.kind, parsed.reason) == ("masked", "masked", None)
    assert parsed.token is None  # never a key
    assert parsed.display == display
    assert (parsed.visible_prefix, parsed.visible_suffix) == (prefix, suffix)
    assert parsed.birth_date == born
    assert parsed.region_code == region
    assert parsed.sex is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("11010119901301****", "invalid_birth_date"),
        ("******19901301****", "invalid_birth_date"),
        ("110101******AB123X", "invalid_format"),
        ("110101**********123X", "invalid_length"),
    ],
)
def test_bad_masked_ids(raw: str, reason: str) -> None:
    parsed = parse_resident_id(raw, SECRET)
    assert (parsed.status, parsed.reason, parsed.token) == ("invalid", reason, None)


def test_fully_masked_id_is_missing() -> None:
    assert parse_resident_id("******************", SECRET).status == "missing"
    assert parse_resident_id("XXXXXXXXXXXXXXXXXX", SECRET).status == "missing"


def test_single_x_inside_a_code_is_not_a_mask() -> None:
    # A USCC with an X in its body must not be mistaken for a masked ID.
    assert parse_resident_id("9144030071526726X1", SECRET).status == "invalid"


@given(
    region=st.text(alphabet="0123456789", min_size=6, max_size=6),
    born=st.dates(min_value=date(1900, 1, 1), max_value=date.today()),
    sequence=st.integers(min_value=0, max_value=999),
)
def test_make_resident_id_round_trips(region: str, born: date, sequence: int) -> None:
    code = make_resident_id(region, born, sequence)
    assert len(code) == 18
    assert code[-1] == ric.calc_check_digit(code)
    parsed = parse_resident_id(code, SECRET)
    assert (parsed.status, parsed.kind) == ("valid", "18")
    assert parsed.birth_date == born
    assert parsed.sex == ("M" if sequence % 2 else "F")
    assert parsed.region_code == region
    assert parsed.display == code[:6] + "********" + code[-4:]
    assert code[6:14] not in parsed.display  # the birth date never shows in the display
    if born.year < 2000:  # 15-digit form of the same person shares the token
        old = code[:6] + code[8:17]
        assert parse_resident_id(old, SECRET).token == parsed.token


def test_make_resident_id_rejects_bad_parts() -> None:
    with pytest.raises(ValueError):
        make_resident_id("11010", date(1990, 1, 1), 1)
    with pytest.raises(ValueError):
        make_resident_id("110101", date(1990, 1, 1), 1000)


# -- masking ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (GB11643_EXAMPLE, "110105********002X"),
        ("110105491231002", "110105********1002"),
        ("110101********123X", "110101********123X"),
        ("11010119900101****", "110101************"),
        ("1101051949", "**********"),
        ("abc", "***"),
        (" 110105 19491231 002X ", "110105********002X"),
    ],
)
def test_mask_id(raw: str, expected: str) -> None:
    assert mask_id(raw) == expected


@given(st.text(max_size=40))
def test_mask_id_never_reveals_the_middle(raw: str) -> None:
    shown = mask_id(raw)
    if shown is None:
        return
    visible = [c for c in shown if c != "*"]
    assert len(visible) <= 10
    if len(shown) >= 14:
        assert shown[6:-4] == "********"


@given(st.text(max_size=25), st.binary(min_size=1, max_size=16))
def test_parsers_never_raise(raw: str, secret: bytes) -> None:
    for parser in (parse_uscc, parse_org_code, parse_reg_no, classify_company_identifier):
        parser(raw)
    parsed = parse_resident_id(raw, secret)
    assert parsed.status in ("valid", "invalid", "masked", "missing")
    if parsed.status != "valid":
        assert parsed.token is None
    if parsed.status == "invalid":
        assert parsed.reason in (
            "invalid_length",
            "invalid_format",
            "invalid_check_digit",
            "invalid_birth_date",
        )
        assert parsed.display is None or len(parsed.display.replace("*", "")) <= 10


def test_results_are_frozen() -> None:
    parsed = parse_uscc(REAL_USCCS[0])
    with pytest.raises(AttributeError):
        parsed.status = "invalid"  # type: ignore[misc]
    assert not hasattr(parsed, "__dict__")


def test_valid_display_never_contains_middle_digits() -> None:
    person = make_resident_id("440305", date(1978, 11, 23), 458)
    parsed = parse_resident_id(person, SECRET)
    assert "19781123" not in (parsed.display or "")
    assert parsed.display == person[:6] + "********" + person[-4:]
    for field in ("display", "visible_prefix", "visible_suffix", "region_code"):
        assert person[6:14] not in (getattr(parsed, field) or "")


def test_days_around_today() -> None:
    today = date.today()
    assert parse_resident_id(make_resident_id("110101", today, 1), SECRET).status == "valid"
    tomorrow = make_resident_id("110101", today + timedelta(days=1), 1)
    assert parse_resident_id(tomorrow, SECRET).reason == "invalid_birth_date"


# -- what leaves the run directory ------------------------------------------------------

PERSON = make_resident_id("110101", date(1980, 5, 17), 123)


@pytest.mark.parametrize(
    ("mask", "shown"),
    [
        ("******19800517****", "******1980********"),  # a punishment's birth-date mask
        (PERSON[:6] + "*" * 8 + PERSON[-4:], PERSON[:6] + "*" * 8 + PERSON[-4:]),  # 6+4
        ("1101" + "*" * 10 + "123X", "1101" + "*" * 10 + "123X"),
        ("11010119800517**3X", "1101011980******3X"),  # a mask showing nearly everything
        ("******800517***", "******80*******"),  # a 15-character (old ID) birth mask
        ("110101********", "110101********"),  # no place for a birth date: as it is
    ],
)
def test_a_display_mask_hides_the_birth_month_and_day(mask: str, shown: str) -> None:
    assert display_mask(mask) == shown


def test_no_two_display_masks_add_up_to_the_number() -> None:
    shown = [display_mask(mask(PERSON, p)) for p in ("6+4", "4+4", "3+4", "1+1", "birth")]
    together = "".join(next((m[i] for m in shown if m[i] != "*"), "*") for i in range(18))
    assert together == PERSON[:10] + "****" + PERSON[14:]


def test_resident_ids_inside_text_are_masked_and_nothing_else() -> None:
    old = "110101800517123"  # a 15-digit ID of before 1999
    text = f"{PERSON}|{old}|1101050052934574|91310115MA1FL0001X|110101199913451234"
    assert masked_resident_ids(text) == (
        f"{PERSON[:6]}********{PERSON[-4:]}|110101********7123|1101050052934574|"
        "91310115MA1FL0001X|110101199913451234"  # no real birth date in it: not an ID
    )


def test_masks_inside_text_are_shown_as_display_masks() -> None:
    text = "身份证号××××××19800517××××，另见******19800517****|110101********123X|" + "X" * 18
    assert masked_resident_ids(text) == (
        "身份证号××××××1980****××××，另见******1980********|110101********123X|"
        "XXXXXXXXXXXXXXXXXX"  # no digit: not a mask
    )


def test_keyed_resident_ids_give_the_id_token() -> None:
    token = parse_resident_id(PERSON, SECRET).token
    assert keyed_resident_ids(f"{PERSON}|2021-3", SECRET) == f"{token}|2021-3"
    old = "110105491231002"  # keys as its 18-character form does
    assert keyed_resident_ids(old, SECRET) == parse_resident_id(GB11643_EXAMPLE, SECRET).token
    other = make_resident_id("110101", date(1980, 5, 18), 123)
    assert keyed_resident_ids(other, SECRET) != keyed_resident_ids(PERSON, SECRET)
    assert keyed_resident_ids(PERSON, OTHER_SECRET) != keyed_resident_ids(PERSON, SECRET)
    kept = "沪市监处〔2021〕1号|91310115MA1FL0001X|110101199913451234"
    assert keyed_resident_ids(kept, SECRET) == kept


def test_a_resident_id_that_passes_the_uscc_check_is_still_masked() -> None:
    """One resident ID in 31 has a valid USCC check character by chance."""
    number = "110101198005251233"
    assert parse_resident_id(number, SECRET).status == "valid"
    assert parse_uscc(number).status == "valid"
    assert masked_resident_ids(number) == "110101********1233"
    assert keyed_resident_ids(number, SECRET) == parse_resident_id(number, SECRET).token


@pytest.mark.parametrize(
    "text",
    [PERSON, "******19800517****", "110101800517123", "××××××19800517××××", "XXXXXX19800517XXXX"],
)
def test_whatever_masked_resident_ids_changes_the_hint_finds(text: str) -> None:
    assert masked_resident_ids(text) != text
    assert re.search(RESIDENT_ID_HINT, text)
