"""Tests of identifier validation (GB 32100-2015, GB 11714-1997, GB 11643-1999)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyong.errors import XinyongError
from xinyong.identity.identifiers import (
    REGIONS,
    USCC_ALPHABET,
    IdentifierType,
    InvalidIdentifierError,
    SubjectKind,
    birth_date_of,
    is_male,
    make_resident_id,
    make_uscc,
    mask_identifier,
    normalize_identifier,
    organisation_code_check_character,
    resident_id_check_character,
    subject_kind_for,
    uscc_check_character,
    validate_identifier,
    validate_resident_id,
    validate_uscc,
)

VALID_USCC = ["91110000600037341L", "91310115MA1K3BTP2B", "9144030071526726XG"]
VALID_RESIDENT_IDS = ["360426199101010071", "44011320141005001X"]
RESIDENT_ID_ALPHABET = "0123456789X"
TODAY = date(2024, 6, 1)


def reason_of(exc_info: pytest.ExceptionInfo[InvalidIdentifierError]) -> object:
    return exc_info.value.extensions["reason"]


# --- error class --------------------------------------------------------------------------


def test_error_is_a_400_problem_with_reason() -> None:
    with pytest.raises(InvalidIdentifierError) as exc_info:
        validate_uscc("91110000600037341N")
    error = exc_info.value
    assert isinstance(error, XinyongError)
    problem = error.to_problem()
    assert problem["status"] == 400
    assert problem["code"] == "invalid_identifier"
    assert problem["title"] == "Invalid identifier"
    assert problem["reason"] == "check_character"


@pytest.mark.parametrize(
    ("id_type", "value"),
    [
        (IdentifierType.USCC, "91110000600037341N"),
        (IdentifierType.USCC, "9111000060003IOZSV"),
        (IdentifierType.USCC, "91110000600037341"),
        (IdentifierType.RESIDENT_ID, "36042619910102009X"),
        (IdentifierType.RESIDENT_ID, "360426199113010079"),
        (IdentifierType.RESIDENT_ID, "3604261991010100711"),
    ],
)
def test_error_messages_never_echo_the_identifier(id_type: IdentifierType, value: str) -> None:
    with pytest.raises(InvalidIdentifierError) as exc_info:
        validate_identifier(id_type, value, today=TODAY)
    assert value not in str(exc_info.value)
    assert value not in str(exc_info.value.to_problem())
    assert mask_identifier(value) in exc_info.value.detail


# --- USCC ---------------------------------------------------------------------------------


def test_uscc_weights_and_check_characters_of_examples() -> None:
    for code in VALID_USCC:
        assert uscc_check_character(code[:17]) == code[17]
        assert organisation_code_check_character(code[8:16]) == code[16]


def test_organisation_code_uses_latin_letter_values() -> None:
    # With USCC-alphabet indices (J=18, K=19, …) instead of Latin positions (J=19, K=20, …)
    # the GB 11714 check of this real code would be 9, not 2.
    assert organisation_code_check_character("MA1K3BTP") == "2"


@pytest.mark.parametrize("code", VALID_USCC)
def test_valid_uscc(code: str) -> None:
    assert validate_uscc(code) == code
    assert validate_identifier(IdentifierType.USCC, code) == code
    assert validate_identifier("uscc", code) == code


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91110000600037341N", "check_character"),
        ("9111000060003IOZSV", "alphabet"),
        ("91110000600037341", "length"),
        ("91110000600037341LL", "length"),
        ("", "length"),
    ],
)
def test_invalid_uscc(code: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifierError) as exc_info:
        validate_uscc(code)
    assert reason_of(exc_info) == reason


def test_uscc_region_must_have_a_province_prefix() -> None:
    # Valid check characters, but province prefix 99 does not exist.
    code = make_uscc("9", "1", "110000", "60003734")
    bad = code[:2] + "99" + code[4:17]
    bad += uscc_check_character(bad)
    with pytest.raises(InvalidIdentifierError) as exc_info:
        validate_uscc(bad)
    assert reason_of(exc_info) == "region"


def test_uscc_region_must_be_digits() -> None:
    bad = "91A10000600037341"
    bad += uscc_check_character(bad)
    with pytest.raises(InvalidIdentifierError) as exc_info:
        validate_uscc(bad)
    assert reason_of(exc_info) == "region"


def test_uscc_organisation_code_check_is_enforced() -> None:
    # Replace the GB 11714 check character (1) by another one and fix the final check, so only
    # the organisation code check can fail.
    bad = "9111000060003734" + "2"
    bad += uscc_check_character(bad)
    with pytest.raises(InvalidIdentifierError) as exc_info:
        validate_uscc(bad)
    assert reason_of(exc_info) == "organisation_code_check"


def test_uscc_is_normalized() -> None:
    assert validate_uscc("  91310115ma1k3btp2b\n") == "91310115MA1K3BTP2B"
    assert validate_uscc("9131 0115 MA1K 3BTP 2B") == "91310115MA1K3BTP2B"


def test_make_uscc_round_trip() -> None:
    assert make_uscc("9", "1", "310115", "MA1K3BTP") == "91310115MA1K3BTP2B"
    assert make_uscc("9", "1", "440300", "71526726") == "9144030071526726XG"
    assert make_uscc("9", "1", "110000", "60003734") == "91110000600037341L"


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        (("9", "1", "310115", "MA1K3BTI"), "alphabet"),
        (("9", "1", "310115", "MA1K3BT"), "length"),
        (("S", "1", "310115", "MA1K3BTP"), "alphabet"),
        (("9", "11", "310115", "MA1K3BTP"), "length"),
        (("9", "1", "990115", "MA1K3BTP"), "region"),
        (("9", "1", "31011", "MA1K3BTP"), "region"),
    ],
)
def test_make_uscc_rejects_bad_parts(parts: tuple[str, str, str, str], reason: str) -> None:
    with pytest.raises(InvalidIdentifierError) as exc_info:
        make_uscc(*parts)
    assert reason_of(exc_info) == reason


def test_check_character_helpers_reject_malformed_input() -> None:
    with pytest.raises(InvalidIdentifierError) as exc_info:
        uscc_check_character("9131")
    assert reason_of(exc_info) == "length"
    with pytest.raises(InvalidIdentifierError) as exc_info:
        uscc_check_character("91310115MA1K3BTPI")
    assert reason_of(exc_info) == "alphabet"
    with pytest.raises(InvalidIdentifierError) as exc_info:
        organisation_code_check_character("MA1K3BT-")
    assert reason_of(exc_info) == "alphabet"
    with pytest.raises(InvalidIdentifierError) as exc_info:
        resident_id_check_character("36042619910101007X")
    assert reason_of(exc_info) == "length"
    with pytest.raises(InvalidIdentifierError) as exc_info:
        resident_id_check_character("3604261991010100X")
    assert reason_of(exc_info) == "alphabet"


# --- Resident ID --------------------------------------------------------------------------


@pytest.mark.parametrize("number", VALID_RESIDENT_IDS)
def test_valid_resident_id(number: str) -> None:
    assert resident_id_check_character(number[:17]) == number[17]
    assert validate_resident_id(number, today=TODAY) == number
    assert validate_identifier(IdentifierType.RESIDENT_ID, number, today=TODAY) == number
    assert validate_identifier("resident_id", number, today=TODAY) == number


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("36042619910102009X", "check_character"),
        ("360426199113010079", "birth_date"),
        ("36042619910101007", "length"),
        ("3604261991010100711", "length"),
        ("3604261991X1010071", "alphabet"),
        ("36042619910101007A", "alphabet"),
        ("３６０４２６１９９１０１０１００７１", "alphabet"),  # full-width digits
    ],
)
def test_invalid_resident_id(number: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifierError) as exc_info:
        validate_resident_id(number, today=TODAY)
    assert reason_of(exc_info) == reason


def test_lower_case_x_is_accepted_and_normalized() -> None:
    assert validate_resident_id("44011320141005001x", today=TODAY) == "44011320141005001X"
    assert normalize_identifier(" 44011320141005001x ") == "44011320141005001X"


def test_future_birth_date_is_rejected() -> None:
    born = date(2024, 6, 2)
    number = make_resident_id("110101", born, 1)
    with pytest.raises(InvalidIdentifierError) as exc_info:
        validate_resident_id(number, today=born - timedelta(days=1))
    assert reason_of(exc_info) == "future_birth_date"
    assert validate_resident_id(number, today=born) == number


def test_future_birth_date_uses_the_current_date_by_default() -> None:
    number = make_resident_id("110101", date.today() + timedelta(days=400), 1)
    with pytest.raises(InvalidIdentifierError) as exc_info:
        validate_resident_id(number)
    assert reason_of(exc_info) == "future_birth_date"


def test_feb_29_only_in_leap_years() -> None:
    first17 = "11010120230229001"
    with pytest.raises(InvalidIdentifierError) as exc_info:
        validate_resident_id(first17 + resident_id_check_character(first17), today=TODAY)
    assert reason_of(exc_info) == "birth_date"
    assert validate_resident_id(make_resident_id("110101", date(2020, 2, 29), 1), today=TODAY)


def test_birth_year_before_1850_is_rejected() -> None:
    first17 = "11010118491231001"
    with pytest.raises(InvalidIdentifierError) as exc_info:
        validate_resident_id(first17 + resident_id_check_character(first17), today=TODAY)
    assert reason_of(exc_info) == "birth_date"
    with pytest.raises(InvalidIdentifierError) as exc_info:
        make_resident_id("110101", date(1849, 12, 31), 1)
    assert reason_of(exc_info) == "birth_date"
    assert validate_resident_id(make_resident_id("110101", date(1850, 1, 1), 1), today=TODAY)


def test_resident_id_region_must_have_a_province_prefix() -> None:
    first17 = "99010119910101007"
    with pytest.raises(InvalidIdentifierError) as exc_info:
        validate_resident_id(first17 + resident_id_check_character(first17), today=TODAY)
    assert reason_of(exc_info) == "region"


def test_sequence_000_is_allowed() -> None:
    number = make_resident_id("360426", date(1991, 1, 1), 0)
    assert number[14:17] == "000"
    assert validate_resident_id(number, today=TODAY) == number
    assert not is_male(number)


def test_make_resident_id_round_trip() -> None:
    assert make_resident_id("360426", date(1991, 1, 1), 7) == "360426199101010071"
    assert make_resident_id("440113", date(2014, 10, 5), 1) == "44011320141005001X"


def test_make_resident_id_rejects_bad_parts() -> None:
    with pytest.raises(InvalidIdentifierError) as exc_info:
        make_resident_id("990101", date(1991, 1, 1), 1)
    assert reason_of(exc_info) == "region"
    with pytest.raises(ValueError, match="sequence"):
        make_resident_id("110101", date(1991, 1, 1), 1000)
    with pytest.raises(ValueError, match="sequence"):
        make_resident_id("110101", date(1991, 1, 1), -1)


def test_birth_date_and_sex() -> None:
    assert birth_date_of("360426199101010071") == date(1991, 1, 1)
    assert birth_date_of("44011320141005001x") == date(2014, 10, 5)
    assert is_male("360426199101010071")  # sequence 007
    assert not is_male(make_resident_id("360426", date(1991, 1, 1), 8))
    with pytest.raises(InvalidIdentifierError) as exc_info:
        birth_date_of("360426199113010079")
    assert reason_of(exc_info) == "birth_date"
    with pytest.raises(InvalidIdentifierError) as exc_info:
        is_male("3604")
    assert reason_of(exc_info) == "length"


# --- dispatch, subject kind, masking ------------------------------------------------------


def test_unknown_type_is_rejected() -> None:
    with pytest.raises(InvalidIdentifierError) as exc_info:
        validate_identifier("passport", "E12345678")
    assert reason_of(exc_info) == "unknown_type"


def test_subject_kind() -> None:
    assert subject_kind_for(IdentifierType.RESIDENT_ID, "360426199101010071") is (
        SubjectKind.PERSON
    )
    assert subject_kind_for(IdentifierType.USCC, "91310115MA1K3BTP2B") is (SubjectKind.ENTERPRISE)
    other = make_uscc("5", "1", "110101", "MA1K3BTP")
    assert subject_kind_for(IdentifierType.USCC, other) is SubjectKind.OTHER_ORGANISATION


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("360426199101010071", "3604**********0071"),
        ("91310115MA1K3BTP2B", "9131**********TP2B"),
        ("123456789", "1234*6789"),
        ("12345678", "********"),
        ("123", "***"),
        ("", ""),
    ],
)
def test_mask_identifier(value: str, masked: str) -> None:
    assert mask_identifier(value) == masked
    assert len(mask_identifier(value)) == len(value)


def test_regions_table() -> None:
    codes = [code for code, _ in REGIONS]
    assert len(codes) == len(set(codes)) >= 50
    assert len({code[:2] for code in codes}) >= 25
    assert ("360426", "江西省九江市德安县") in REGIONS
    assert ("310115", "上海市浦东新区") in REGIONS
    for code, name in REGIONS:
        assert name
        assert validate_resident_id(make_resident_id(code, date(1991, 1, 1), 1), today=TODAY)
        assert validate_uscc(make_uscc("9", "1", code, "MA1K3BTP"))


# --- properties ---------------------------------------------------------------------------

uscc_chars = st.sampled_from(USCC_ALPHABET)
regions = st.sampled_from([code for code, _ in REGIONS])
birth_dates = st.dates(min_value=date(1850, 1, 1), max_value=TODAY)
sequences = st.integers(min_value=0, max_value=999)


@st.composite
def valid_usccs(draw: st.DrawFn) -> str:
    return make_uscc(
        draw(uscc_chars),
        draw(uscc_chars),
        draw(regions),
        "".join(draw(st.lists(uscc_chars, min_size=8, max_size=8))),
    )


@st.composite
def valid_resident_ids(draw: st.DrawFn) -> str:
    return make_resident_id(draw(regions), draw(birth_dates), draw(sequences))


@settings(max_examples=200)
@given(valid_usccs())
def test_generated_uscc_validates(code: str) -> None:
    assert validate_uscc(code) == code
    assert validate_uscc(code.lower()) == code


@settings(max_examples=200)
@given(valid_resident_ids())
def test_generated_resident_id_validates(number: str) -> None:
    assert validate_resident_id(number, today=TODAY) == number
    assert birth_date_of(number).year >= 1850


@settings(max_examples=200)
@given(region=regions, born=birth_dates, sequence=sequences)
def test_resident_id_parts_round_trip(region: str, born: date, sequence: int) -> None:
    number = make_resident_id(region, born, sequence)
    assert birth_date_of(number) == born
    assert is_male(number) == (sequence % 2 == 1)


# The mod-31 check of GB 32100 (prime modulus, all weights 3^i non-zero mod 31, character
# values 0..30 distinct mod 31) and ISO 7064 MOD 11-2 (prime modulus, all weights 2^i non-zero
# mod 11, digit differences ±1..±9 non-zero mod 11) both detect every single substitution,
# so any one-character change must be rejected.


@settings(max_examples=200)
@given(valid_usccs(), st.integers(min_value=0, max_value=17), uscc_chars)
def test_uscc_single_substitution_is_always_rejected(code: str, position: int, new: str) -> None:
    if new == code[position]:
        new = USCC_ALPHABET[(USCC_ALPHABET.index(new) + 1) % len(USCC_ALPHABET)]
    changed = code[:position] + new + code[position + 1 :]
    with pytest.raises(InvalidIdentifierError):
        validate_uscc(changed)


@settings(max_examples=200)
@given(
    valid_resident_ids(),
    st.integers(min_value=0, max_value=17),
    st.sampled_from(RESIDENT_ID_ALPHABET),
)
def test_resident_id_single_substitution_is_always_rejected(
    number: str, position: int, new: str
) -> None:
    if new == number[position]:
        new = RESIDENT_ID_ALPHABET[(RESIDENT_ID_ALPHABET.index(new) + 1) % 11]
    changed = number[:position] + new + number[position + 1 :]
    with pytest.raises(InvalidIdentifierError):
        validate_resident_id(changed, today=TODAY)


@pytest.mark.parametrize("code", VALID_USCC)
def test_every_single_substitution_of_the_uscc_examples_is_rejected(code: str) -> None:
    for position in range(18):
        for new in USCC_ALPHABET.replace(code[position], ""):
            changed = code[:position] + new + code[position + 1 :]
            with pytest.raises(InvalidIdentifierError):
                validate_uscc(changed)


@pytest.mark.parametrize("number", VALID_RESIDENT_IDS)
def test_every_single_substitution_of_the_resident_id_examples_is_rejected(number: str) -> None:
    for position in range(18):
        for new in RESIDENT_ID_ALPHABET.replace(number[position], ""):
            changed = number[:position] + new + number[position + 1 :]
            with pytest.raises(InvalidIdentifierError):
                validate_resident_id(changed, today=TODAY)
