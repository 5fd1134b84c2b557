"""Validation, construction and masking of the identifiers of credit subjects.

Two identifiers are supported:

* the Unified Social Credit Code (统一社会信用代码, USCC) of organisations, GB 32100-2015,
  whose characters 9–17 are an organisation code carrying its own GB 11714-1997 check;
* the Resident Identity Card number (公民身份号码) of persons, GB 11643-1999, whose check
  character is ISO 7064 MOD 11-2.

Region parts are checked for format only (GB/T 2260): six ASCII digits whose first two form a
province-level code. A full county-level code list is not used on purpose: codes are retired
and renumbered over time, but identifiers issued under old codes stay valid for life.

These functions run once per ingested row, so every table is precomputed at import time.
Error messages never contain an identifier in clear, only its masked form.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar

from xinyong.errors import XinyongError

__all__ = [
    "REGIONS",
    "USCC_ALPHABET",
    "IdentifierType",
    "InvalidIdentifierError",
    "SubjectKind",
    "birth_date_of",
    "is_individual_business",
    "is_male",
    "make_resident_id",
    "make_uscc",
    "mask_identifier",
    "normalize_identifier",
    "organisation_code_check_character",
    "resident_id_check_character",
    "subject_kind_for",
    "uscc_check_character",
    "validate_identifier",
    "validate_resident_id",
    "validate_uscc",
]


class InvalidIdentifierError(XinyongError):
    """An identifier failed validation; ``extensions["reason"]`` says which rule failed.

    Reasons: ``length``, ``alphabet``, ``check_character``, ``organisation_code_check``,
    ``region``, ``birth_date``, ``future_birth_date``, ``unknown_type``.
    """

    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid_identifier"
    title: ClassVar[str] = "Invalid identifier"


class IdentifierType(StrEnum):
    RESIDENT_ID = "resident_id"
    USCC = "uscc"


class SubjectKind(StrEnum):
    PERSON = "person"
    ENTERPRISE = "enterprise"
    OTHER_ORGANISATION = "other_organisation"


# --- tables -------------------------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""GB 32100-2015 code alphabet: digits and 21 letters, without I, O, Z, S and V."""

_USCC_LENGTH = 18
_USCC_VALUE: dict[str, int] = {c: i for i, c in enumerate(USCC_ALPHABET)}
# GB 32100-2015 weights are 3^i mod 31; computing them keeps the table honest.
_USCC_WEIGHTS: tuple[int, ...] = tuple(pow(3, i, 31) for i in range(17))

# GB 11714-1997 values letters by their plain Latin position (A=10 … Z=35), NOT by their index
# in the USCC alphabet: the two differ from J onwards, and real codes such as
# 91310115MA1K3BTP2B only pass with the Latin values.
_ORG_VALUE: dict[str, int] = {c: int(c, 36) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_ORG_WEIGHTS: tuple[int, ...] = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_CHECK: tuple[str, ...] = tuple(
    "X" if r == 10 else "0" if r == 11 else str(r)
    for r in (11 - s for s in range(11))  # indexed by Σ mod 11
)

_RESIDENT_ID_LENGTH = 18
_DIGIT_VALUE: dict[str, int] = {c: int(c) for c in "0123456789"}
# ISO 7064 MOD 11-2 weights are 2^(17-i) mod 11.
_RESIDENT_ID_WEIGHTS: tuple[int, ...] = tuple(pow(2, 17 - i, 11) for i in range(17))
_RESIDENT_ID_CHECK = "10X98765432"
_RESIDENT_ID_LAST = frozenset(_RESIDENT_ID_CHECK)
_MIN_BIRTH_YEAR = 1850

_PROVINCE_CODES = frozenset(
    f"{n:02d}"
    for n in (
        *range(11, 16),
        *range(21, 24),
        *range(31, 38),
        *range(41, 47),
        *range(50, 55),
        *range(61, 66),
        71,
        81,
        82,
    )
)

_MASK_KEEP = 4

REGIONS: tuple[tuple[str, str], ...] = (
    ("110101", "北京市东城区"),
    ("110102", "北京市西城区"),
    ("110105", "北京市朝阳区"),
    ("110108", "北京市海淀区"),
    ("120101", "天津市和平区"),
    ("120104", "天津市南开区"),
    ("130104", "河北省石家庄市桥西区"),
    ("140105", "山西省太原市小店区"),
    ("150102", "内蒙古自治区呼和浩特市新城区"),
    ("210102", "辽宁省沈阳市和平区"),
    ("210202", "辽宁省大连市中山区"),
    ("220102", "吉林省长春市南关区"),
    ("230102", "黑龙江省哈尔滨市道里区"),
    ("310101", "上海市黄浦区"),
    ("310104", "上海市徐汇区"),
    ("310105", "上海市长宁区"),
    ("310115", "上海市浦东新区"),
    ("320102", "江苏省南京市玄武区"),
    ("320106", "江苏省南京市鼓楼区"),
    ("320505", "江苏省苏州市虎丘区"),
    ("330102", "浙江省杭州市上城区"),
    ("330106", "浙江省杭州市西湖区"),
    ("330203", "浙江省宁波市海曙区"),
    ("340102", "安徽省合肥市瑶海区"),
    ("340104", "安徽省合肥市蜀山区"),
    ("350102", "福建省福州市鼓楼区"),
    ("350203", "福建省厦门市思明区"),
    ("360102", "江西省南昌市东湖区"),
    ("360403", "江西省九江市浔阳区"),
    ("360426", "江西省九江市德安县"),
    ("370102", "山东省济南市历下区"),
    ("370202", "山东省青岛市市南区"),
    ("410102", "河南省郑州市中原区"),
    ("410105", "河南省郑州市金水区"),
    ("420102", "湖北省武汉市江岸区"),
    ("420106", "湖北省武汉市武昌区"),
    ("430102", "湖南省长沙市芙蓉区"),
    ("430104", "湖南省长沙市岳麓区"),
    ("440103", "广州市荔湾区"),
    ("440104", "广州市越秀区"),
    ("440106", "广州市天河区"),
    ("440113", "广州市番禺区"),
    ("440303", "深圳市罗湖区"),
    ("440304", "深圳市福田区"),
    ("440305", "深圳市南山区"),
    ("450102", "广西壮族自治区南宁市兴宁区"),
    ("460105", "海南省海口市秀英区"),
    ("460106", "海南省海口市龙华区"),
    ("500103", "重庆市渝中区"),
    ("500112", "重庆市渝北区"),
    ("510104", "四川省成都市锦江区"),
    ("510107", "四川省成都市武侯区"),
    ("520102", "贵州省贵阳市南明区"),
    ("530102", "云南省昆明市五华区"),
    ("540102", "西藏自治区拉萨市城关区"),
    ("610102", "陕西省西安市新城区"),
    ("610113", "陕西省西安市雁塔区"),
    ("620102", "甘肃省兰州市城关区"),
    ("630102", "青海省西宁市城东区"),
    ("640104", "宁夏回族自治区银川市兴庆区"),
    ("650102", "新疆维吾尔自治区乌鲁木齐市天山区"),
)
"""Real GB/T 2260 county-level codes with their zh-CN names, for synthetic data."""


# --- helpers ------------------------------------------------------------------------------


def normalize_identifier(value: str) -> str:
    """Remove all whitespace and upper-case, so that ``x`` becomes ``X``.

    Internal whitespace is removed too: identifiers never contain any, and pasted values are
    often grouped (``3604 2619 ...``) or padded with full-width spaces.
    """
    return "".join(value.split()).upper()


def mask_identifier(value: str) -> str:
    """Keep the first and last four characters and replace the rest by ``*``.

    The result has the input's length. Values of eight characters or fewer are masked
    entirely, since keeping four at each end would reveal them whole.
    """
    n = len(value)
    if n <= 2 * _MASK_KEEP:
        return "*" * n
    return value[:_MASK_KEEP] + "*" * (n - 2 * _MASK_KEEP) + value[-_MASK_KEEP:]


def _fail(label: str, value: str, reason: str, problem: str) -> InvalidIdentifierError:
    return InvalidIdentifierError(f"{label} {mask_identifier(value)}: {problem}", reason=reason)


def _is_ascii_digits(value: str) -> bool:
    # str.isdigit alone also accepts full-width and superscript digits.
    return value.isascii() and value.isdigit()


def _is_region(region: str) -> bool:
    return len(region) == 6 and _is_ascii_digits(region) and region[:2] in _PROVINCE_CODES


# --- USCC (GB 32100-2015) -----------------------------------------------------------------


def _uscc_check_from_values(values: list[int]) -> str:
    total = sum(v * w for v, w in zip(values, _USCC_WEIGHTS, strict=False))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_check_character(first17: str) -> str:
    """Return the GB 32100-2015 check character (18th) of the first 17 USCC characters.

    check = alphabet[(31 − Σ value × 3^i mod 31) mod 31].
    Raises :class:`InvalidIdentifierError` (``length``/``alphabet``) on malformed input.
    """
    if len(first17) != 17:
        raise _fail("USCC prefix", first17, "length", "must be 17 characters")
    try:
        values = [_USCC_VALUE[c] for c in first17]
    except KeyError:
        raise _fail(
            "USCC prefix", first17, "alphabet", "contains a character outside the USCC alphabet"
        ) from None
    return _uscc_check_from_values(values)


def organisation_code_check_character(first8: str) -> str:
    """Return the GB 11714-1997 check character of an 8-character organisation code body.

    Letters are valued by Latin position (A=10 … Z=35); check = 11 − Σ mod 11 with weights
    3 7 9 10 5 8 4 2, where 10 is written ``X`` and 11 is written ``0``.
    Raises :class:`InvalidIdentifierError` (``length``/``alphabet``) on malformed input.
    """
    if len(first8) != 8:
        raise _fail("Organisation code", first8, "length", "must be 8 characters")
    try:
        total = sum(_ORG_VALUE[c] * w for c, w in zip(first8, _ORG_WEIGHTS, strict=True))
    except KeyError:
        raise _fail(
            "Organisation code", first8, "alphabet", "may only contain digits and letters A-Z"
        ) from None
    return _ORG_CHECK[total % 11]


def validate_uscc(value: str) -> str:
    """Validate a Unified Social Credit Code (GB 32100-2015) and return it normalized.

    Checks, in order: length, alphabet, the check character, the region part (characters
    3–8, GB/T 2260 format) and the GB 11714-1997 check of the organisation code (characters
    9–17). The whole-code check runs before the semantic checks because a failing check
    character most often means a typo, which is the most useful thing to report.
    Raises :class:`InvalidIdentifierError`.
    """
    code = normalize_identifier(value)
    if len(code) != _USCC_LENGTH:
        raise _fail("USCC", code, "length", f"must be {_USCC_LENGTH} characters, got {len(code)}")
    values = [_USCC_VALUE.get(c, -1) for c in code]
    if -1 in values:
        position = values.index(-1) + 1
        raise _fail(
            "USCC",
            code,
            "alphabet",
            f"character {position} is not in the USCC alphabet (no I, O, Z, S or V)",
        )
    if _uscc_check_from_values(values) != code[17]:
        raise _fail("USCC", code, "check_character", "check character does not match")
    if not _is_region(code[2:8]):
        raise _fail("USCC", code, "region", "characters 3-8 are not a GB/T 2260 region code")
    if organisation_code_check_character(code[8:16]) != code[16]:
        raise _fail(
            "USCC",
            code,
            "organisation_code_check",
            "organisation code (characters 9-17) fails its GB 11714 check",
        )
    return code


def make_uscc(
    registration_authority: str, organisation_type: str, region: str, organisation_base8: str
) -> str:
    """Build a USCC from its parts, computing both the GB 11714 and the GB 32100 check.

    ``organisation_base8`` is 8 characters from the USCC alphabet (digits and A-Z without
    I, O, Z, S, V). Raises :class:`InvalidIdentifierError` on malformed parts.
    """
    for label, part in (
        ("Registration authority", registration_authority),
        ("Organisation type", organisation_type),
    ):
        if len(part) != 1:
            raise _fail(label, part, "length", "must be 1 character")
        if part not in _USCC_VALUE:
            raise _fail(label, part, "alphabet", "is not in the USCC alphabet")
    if not _is_region(region):
        raise _fail("Region", region, "region", "is not a GB/T 2260 region code")
    if len(organisation_base8) != 8:
        raise _fail("Organisation code", organisation_base8, "length", "must be 8 characters")
    if any(c not in _USCC_VALUE for c in organisation_base8):
        raise _fail(
            "Organisation code", organisation_base8, "alphabet", "is not in the USCC alphabet"
        )
    first17 = (
        registration_authority
        + organisation_type
        + region
        + organisation_base8
        + organisation_code_check_character(organisation_base8)
    )
    return first17 + uscc_check_character(first17)


# --- Resident Identity Card number (GB 11643-1999) ----------------------------------------


def resident_id_check_character(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character of the first 17 digits (GB 11643-1999).

    check = "10X98765432"[Σ digit × weight mod 11], weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2.
    Raises :class:`InvalidIdentifierError` (``length``/``alphabet``) on malformed input.
    """
    if len(first17) != 17:
        raise _fail("Resident ID prefix", first17, "length", "must be 17 digits")
    try:
        total = sum(_DIGIT_VALUE[c] * w for c, w in zip(first17, _RESIDENT_ID_WEIGHTS, strict=True))
    except KeyError:
        raise _fail("Resident ID prefix", first17, "alphabet", "must be digits only") from None
    return _RESIDENT_ID_CHECK[total % 11]


def _parse_birth_date(number: str) -> date | None:
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None
    return born if born.year >= _MIN_BIRTH_YEAR else None


def validate_resident_id(value: str, today: date | None = None) -> str:
    """Validate a Resident Identity Card number (GB 11643-1999) and return it normalized.

    Checks, in order: length, alphabet (17 digits then a digit or ``X``), the ISO 7064
    MOD 11-2 check character, the region (GB/T 2260 format), and the birth date, which must
    be a real date from 1850 on and not after ``today`` (default: the current date).
    Sequence ``000`` is accepted. Raises :class:`InvalidIdentifierError`.
    """
    number = normalize_identifier(value)
    if len(number) != _RESIDENT_ID_LENGTH:
        raise _fail(
            "Resident ID",
            number,
            "length",
            f"must be {_RESIDENT_ID_LENGTH} characters, got {len(number)}",
        )
    if not _is_ascii_digits(number[:17]) or number[17] not in _RESIDENT_ID_LAST:
        raise _fail("Resident ID", number, "alphabet", "must be 17 digits followed by a digit or X")
    if resident_id_check_character(number[:17]) != number[17]:
        raise _fail("Resident ID", number, "check_character", "check character does not match")
    if not _is_region(number[:6]):
        raise _fail("Resident ID", number, "region", "region is not a GB/T 2260 region code")
    born = _parse_birth_date(number)
    if born is None:
        raise _fail("Resident ID", number, "birth_date", "birth date is not a valid date")
    if born > (today if today is not None else date.today()):
        raise _fail("Resident ID", number, "future_birth_date", "birth date is in the future")
    return number


def make_resident_id(region: str, birth_date: date, sequence: int) -> str:
    """Build a Resident Identity Card number, computing its MOD 11-2 check character.

    ``sequence`` is 0..999; odd means male. Raises :class:`InvalidIdentifierError` for a bad
    region or a birth year before 1850, and :class:`ValueError` for a sequence out of range.
    """
    if not _is_region(region):
        raise _fail("Region", region, "region", "is not a GB/T 2260 region code")
    if birth_date.year < _MIN_BIRTH_YEAR:
        raise InvalidIdentifierError(
            f"birth year must be {_MIN_BIRTH_YEAR} or later", reason="birth_date"
        )
    if not 0 <= sequence <= 999:
        raise ValueError("sequence must be between 0 and 999")
    first17 = f"{region}{birth_date:%Y%m%d}{sequence:03d}"
    return first17 + resident_id_check_character(first17)


def _resident_id_structure(resident_id: str) -> str:
    number = normalize_identifier(resident_id)
    if len(number) != _RESIDENT_ID_LENGTH:
        raise _fail("Resident ID", number, "length", f"must be {_RESIDENT_ID_LENGTH} characters")
    if not _is_ascii_digits(number[:17]):
        raise _fail("Resident ID", number, "alphabet", "first 17 characters must be digits")
    return number


def birth_date_of(resident_id: str) -> date:
    """Return the birth date encoded in a Resident ID (characters 7–14, YYYYMMDD).

    Only the structure is checked, not the check character: call
    :func:`validate_resident_id` first on untrusted input.
    """
    number = _resident_id_structure(resident_id)
    born = _parse_birth_date(number)
    if born is None:
        raise _fail("Resident ID", number, "birth_date", "birth date is not a valid date")
    return born


def is_male(resident_id: str) -> bool:
    """Return whether the sequence number (characters 15–17) is odd, which GB 11643 assigns
    to men. Only the structure is checked, not the check character."""
    return _DIGIT_VALUE[_resident_id_structure(resident_id)[16]] % 2 == 1


# --- dispatch -----------------------------------------------------------------------------

_TYPES: dict[str, IdentifierType] = {t.value: t for t in IdentifierType}


def _identifier_type(id_type: IdentifierType | str) -> IdentifierType:
    resolved = _TYPES.get(str(id_type))
    if resolved is None:
        # The rejected value is not echoed: swapped arguments would put an identifier here.
        raise InvalidIdentifierError(
            f"unknown identifier type; expected one of {', '.join(_TYPES)}",
            reason="unknown_type",
        )
    return resolved


def validate_identifier(
    id_type: IdentifierType | str, value: str, today: date | None = None
) -> str:
    """Validate ``value`` as an identifier of ``id_type`` and return it normalized.

    ``today`` only matters for Resident IDs. An unknown type raises
    :class:`InvalidIdentifierError` with reason ``unknown_type``.
    """
    if _identifier_type(id_type) is IdentifierType.USCC:
        return validate_uscc(value)
    return validate_resident_id(value, today)


def subject_kind_for(id_type: IdentifierType, normalized: str) -> SubjectKind:
    """Return the kind of subject an already validated identifier designates.

    Resident IDs designate persons. A USCC whose registration authority (character 1) is
    ``9`` — market regulation, which registers enterprises and individual businesses — is an
    enterprise; other authorities (civil affairs, institutions, …) register other
    organisations.
    """
    if _identifier_type(id_type) is IdentifierType.RESIDENT_ID:
        return SubjectKind.PERSON
    if normalized[:1] == "9":
        return SubjectKind.ENTERPRISE
    return SubjectKind.OTHER_ORGANISATION


def is_individual_business(normalized_uscc: str) -> bool:
    """Whether a validated USCC belongs to an individual business (个体工商户).

    Characters 1-2 are the registration-management code: ``9`` (market regulation) followed
    by organisation type ``2``. Such a business is a person trading under a name that often
    contains the person's own, so its name is treated as personal data.
    """
    return normalized_uscc[:2] == "92"
