"""Tests of the record-type catalog: loading, definition checks and per-row field validation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyong.catalog.schemas import (
    SUBJECT_KINDS,
    Catalog,
    CatalogDefinitionError,
    FieldType,
    RecordType,
    Sensitivity,
    UnknownRecordTypeError,
    normalise_field_key,
)
from xinyong.catalog.service import (
    ENVELOPE_KEYS,
    RecordValidator,
    catalog_document,
    get_catalog,
    load_catalog,
    validator_for,
)
from xinyong.errors import XinyongError
from xinyong.identity.identifiers import SubjectKind

PACKAGED_RECORD_TYPES = {
    "credit_account",
    "tax_credit_grade",
    "tax_arrears",
    "court_judgment",
    "enforcement_case",
    "dishonest_debtor_listing",
    "administrative_licence",
    "administrative_penalty",
    "utility_arrears",
    "social_insurance_status",
    "commendation",
}

GRID_ALL_CODES = ("N1234567DZCG#" * 5)[:60]

# ---------------------------------------------------------------------------------------
# The packaged catalog


def test_packaged_catalog_loads_with_all_record_types() -> None:
    catalog = load_catalog()
    assert set(catalog.record_types) == PACKAGED_RECORD_TYPES
    assert catalog.version == "2026.11.1"
    assert catalog.effective_from == date(2026, 11, 1)
    assert set(catalog.retention_rules) == {
        "negative_information",
        "dishonest_listing",
        "penalty_publicity",
        "account_history",
        "public_record",
    }
    assert {f.name for f in catalog.forbidden_fields} == {
        "religion",
        "genetic_information",
        "fingerprint",
        "blood_type",
        "medical_history",
    }
    for code in PACKAGED_RECORD_TYPES:
        record_type = catalog.record_type(code)
        assert record_type.code == code
        assert record_type.retention_rule in catalog.retention_rules
        assert isinstance(validator_for(record_type, catalog), RecordValidator)


def test_digest_is_sha256_of_the_file_and_stable() -> None:
    content = (files("xinyong.catalog") / "data" / "catalog.toml").read_bytes()
    first, second = load_catalog(), load_catalog()
    assert first.digest == second.digest == hashlib.sha256(content).hexdigest()
    assert first == second


def test_load_from_path_equals_packaged(tmp_path: Path) -> None:
    content = (files("xinyong.catalog") / "data" / "catalog.toml").read_bytes()
    path = tmp_path / "catalog.toml"
    path.write_bytes(content)
    assert load_catalog(path) == load_catalog()


def test_get_catalog_is_cached() -> None:
    assert get_catalog() is get_catalog()


def test_packaged_field_attributes() -> None:
    account = get_catalog().record_type("credit_account")
    assert account.field("account_type").values == ("loan", "credit_card")
    assert account.field("currency").pattern == "^[A-Z]{3}$"
    assert account.field("overdue_months").min == 0
    assert account.field("overdue_months").max == 7
    assert account.field("repayment_grid").type is FieldType.REPAYMENT_GRID
    assert account.field("close_date").not_before == "open_date"
    assert account.field("due_date").not_before == "open_date"
    assert account.field("open_date").not_before is None
    assert account.field_names[0] == "account_type"
    assert get_catalog().record_type("tax_arrears").field("amount").explicit_consent
    with pytest.raises(KeyError, match="no field 'religion'"):
        account.field("religion")


def test_record_type_not_before_pairs() -> None:
    catalog = get_catalog()
    for record_type, later, earlier in [
        ("tax_arrears", "paid_date", "since_date"),
        ("utility_arrears", "paid_date", "since_date"),
        ("dishonest_debtor_listing", "removal_date", "listing_date"),
        ("enforcement_case", "closed_date", "filed_date"),
        ("court_judgment", "effective_date", "judgment_date"),
        ("administrative_penalty", "performed_date", "decision_date"),
    ]:
        assert catalog.record_type(record_type).field(later).not_before == earlier


def test_unknown_record_type() -> None:
    with pytest.raises(UnknownRecordTypeError) as exc_info:
        get_catalog().record_type("horoscope")
    error = exc_info.value
    assert isinstance(error, XinyongError)
    assert error.status == 404
    assert error.code == "unknown_record_type"
    assert error.extensions["record_type"] == "horoscope"


def test_sensitivity_rank_orders_levels() -> None:
    ranks = [level.rank for level in Sensitivity]
    assert ranks == sorted(ranks) == [0, 1, 2, 3]
    assert Sensitivity.HIGHLY_SENSITIVE.rank > Sensitivity.SENSITIVE.rank
    assert Sensitivity.PUBLIC.rank < Sensitivity.INTERNAL.rank


def test_subject_kinds_match_identity_domain() -> None:
    assert frozenset(SubjectKind) == SUBJECT_KINDS


def test_catalog_document_is_json_ready() -> None:
    document = catalog_document(get_catalog())
    assert json.loads(json.dumps(document, ensure_ascii=False)) == document
    assert {rt["code"] for rt in document["record_types"]} == PACKAGED_RECORD_TYPES
    assert document["digest"] == get_catalog().digest


def test_no_packaged_field_is_forbidden_or_an_envelope_key() -> None:
    catalog = get_catalog()
    for record_type in catalog.record_types.values():
        for name in record_type.field_names:
            assert catalog.forbidden_field_for(name) is None
            assert name not in ENVELOPE_KEYS


@pytest.mark.parametrize(
    ("key", "forbidden"),
    [
        ("blood_type", "blood_type"),
        ("血型", "blood_type"),
        ("Blood-Type", "blood_type"),
        ("  BLOOD TYPE ", "blood_type"),
        ("bloodType", "blood_type"),
        ("Blood_Group", "blood_type"),
        ("宗教信仰", "religion"),
        ("Religious-Belief", "religion"),
        ("DNA", "genetic_information"),
        ("finger-print", "fingerprint"),
        ("既往病史", "medical_history"),
        ("Health Condition", "medical_history"),
    ],
)
def test_forbidden_field_matches_names_and_aliases(key: str, forbidden: str) -> None:
    match = get_catalog().forbidden_field_for(key)
    assert match is not None
    assert match.name == forbidden
    assert "Art. 14" in match.source


@pytest.mark.parametrize("key", ["balance", "blood", "type", "", "religion_free_text_x"])
def test_forbidden_field_does_not_match_other_keys(key: str) -> None:
    assert get_catalog().forbidden_field_for(key) is None


def test_normalise_field_key() -> None:
    assert normalise_field_key(" Blood-Type ") == "blood_type"
    assert normalise_field_key("blood  type") == "blood_type"
    assert normalise_field_key("血型") == "血型"


# ---------------------------------------------------------------------------------------
# Definition errors

BASE_TOML = """
[catalog]
version = "test.1"
effective_from = "2026-01-01"
description = "A test catalog."

[[forbidden_fields]]
name = "blood_type"
aliases = ["bloodtype", "血型"]
source = "征信业管理条例 Art. 14"

[[retention_rules]]
code = "public_record"
description = "Kept while valid."

[[record_types]]
code = "thing"
version = 1
name_en = "Thing"
name_zh = "事项"
subject_kinds = ["person", "enterprise"]
negative = false
retention_rule = "public_record"
legal_basis = "test"

  [[record_types.fields]]
  name = "start_date"
  type = "date"
  required = true
  sensitivity = "public"
  label_en = "Start"
  label_zh = "开始"

  [[record_types.fields]]
  name = "end_date"
  type = "date"
  required = false
  sensitivity = "public"
  label_en = "End"
  label_zh = "结束"
"""


def extra_field(name: str = "extra", type: str = "string", **attributes: str) -> str:
    lines = [
        "",
        "  [[record_types.fields]]",
        f'  name = "{name}"',
        f'  type = "{type}"',
        "  required = false",
        '  label_en = "Extra"',
        '  label_zh = "额外"',
    ]
    attributes.setdefault("sensitivity", '"public"')
    lines += [f"  {key} = {value}" for key, value in attributes.items()]
    return "\n".join(lines) + "\n"


def write_catalog(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(content, encoding="utf-8")
    return path


def test_base_test_catalog_is_valid(tmp_path: Path) -> None:
    catalog = load_catalog(write_catalog(tmp_path, BASE_TOML + extra_field()))
    assert set(catalog.record_types) == {"thing"}
    assert catalog.record_type("thing").field_names == ("start_date", "end_date", "extra")


DEFINITION_ERRORS: list[tuple[str, Callable[[str], str], str]] = [
    ("unknown_field_type", lambda t: t + extra_field(type="strng"), "unknown field type 'strng'"),
    (
        "unknown_sensitivity",
        lambda t: t + extra_field(sensitivity='"secret"'),
        "unknown sensitivity 'secret'",
    ),
    ("enum_without_values", lambda t: t + extra_field(type="enum"), "needs 'values'"),
    ("enum_empty_values", lambda t: t + extra_field(type="enum", values="[]"), "'values' must"),
    (
        "enum_values_differing_only_in_case",
        lambda t: t + extra_field(type="enum", values='["a", "A"]'),
        "distinct ignoring letter case",
    ),
    (
        "duplicate_record_type",
        lambda t: t + t[t.index("[[record_types]]") :],
        "duplicate record type 'thing'",
    ),
    (
        "duplicate_field",
        lambda t: t + extra_field(name="start_date", type="date"),
        "duplicate field 'start_date'",
    ),
    (
        "forbidden_field_name",
        lambda t: t + extra_field(name="blood_type"),
        "forbidden field 'blood_type'",
    ),
    (
        "forbidden_field_alias",
        lambda t: t + extra_field(name="bloodtype"),
        "forbidden field 'blood_type'",
    ),
    (
        "forbidden_field_spelling",
        lambda t: t + extra_field(name="blood_type_"),
        "forbidden field 'blood_type'",
    ),
    (
        "undeclared_retention_rule",
        lambda t: t.replace('retention_rule = "public_record"', 'retention_rule = "forever"'),
        "retention rule 'forever' is not declared",
    ),
    (
        "not_before_missing_field",
        lambda t: t.replace('label_zh = "结束"', 'label_zh = "结束"\n  not_before = "begin_date"'),
        "'not_before' must name another date field",
    ),
    (
        "not_before_non_date_field",
        lambda t: (
            t.replace('label_zh = "结束"', 'label_zh = "结束"\n  not_before = "extra"')
            + extra_field()
        ),
        "'not_before' must name another date field",
    ),
    (
        "not_before_itself",
        lambda t: t.replace('label_zh = "结束"', 'label_zh = "结束"\n  not_before = "end_date"'),
        "'not_before' must name another date field",
    ),
    (
        "not_before_on_non_date_field",
        lambda t: t + extra_field(not_before='"start_date"'),
        "'not_before' does not apply to a string field",
    ),
    (
        "unknown_field_key",
        lambda t: t.replace("required = true", "requried = true"),
        "unknown key 'requried' (did you mean 'required'?)",
    ),
    (
        "unknown_record_type_key",
        lambda t: t.replace("negative = false", "negativ = false"),
        "unknown key 'negativ'",
    ),
    ("envelope_key_valid_from", lambda t: t + extra_field(name="valid_from"), "envelope key"),
    ("envelope_key_reason", lambda t: t + extra_field(name="reason"), "envelope key"),
    (
        "attribute_not_applicable",
        lambda t: t + extra_field(type="date", pattern='"x"'),
        "'pattern' does not apply to a date field",
    ),
    (
        "invalid_pattern",
        lambda t: t + extra_field(pattern='"[A-Z"'),
        "not a valid regular expression",
    ),
    ("min_above_max", lambda t: t + extra_field(type="integer", min="5", max="1"), "'min'"),
    ("bad_max_length", lambda t: t + extra_field(max_length="0"), "'max_length'"),
    ("required_not_bool", lambda t: t.replace("required = true", 'required = "yes"'), "'required'"),
    (
        "missing_field_key",
        lambda t: t.replace('  label_en = "Start"\n', ""),
        "missing key 'label_en'",
    ),
    (
        "unknown_subject_kind",
        lambda t: t.replace('["person", "enterprise"]', '["person", "robot"]'),
        "'subject_kinds'",
    ),
    (
        "bad_effective_from",
        lambda t: t.replace('"2026-01-01"', '"2026-13-01"'),
        "'effective_from'",
    ),
    ("unknown_top_level_key", lambda t: t + "\n[extras]\nx = 1\n", "unknown key 'extras'"),
    ("invalid_toml", lambda t: t + "\nthis is not toml\n", "not a valid UTF-8 TOML"),
]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [pytest.param(mutate, message, id=name) for name, mutate, message in DEFINITION_ERRORS],
)
def test_definition_errors(tmp_path: Path, mutate: Callable[[str], str], message: str) -> None:
    path = write_catalog(tmp_path, mutate(BASE_TOML))
    with pytest.raises(CatalogDefinitionError) as exc_info:
        load_catalog(path)
    assert message in exc_info.value.detail
    assert str(path) in exc_info.value.detail
    assert exc_info.value.status == 500
    assert exc_info.value.code == "catalog_definition_error"


def test_missing_file_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogDefinitionError, match="cannot read"):
        load_catalog(tmp_path / "absent.toml")


# ---------------------------------------------------------------------------------------
# Field validation

ALL_TYPES_TOML = (
    BASE_TOML.replace('label_zh = "结束"', 'label_zh = "结束"\n  not_before = "start_date"')
    + extra_field("name", "string", max_length="10")
    + extra_field("code", "string", pattern='"[A-Z]{3}"')
    + extra_field("note", "text", max_length="20")
    + extra_field("count", "integer", min="0", max="7")
    + extra_field("big", "integer")
    + extra_field("amount", "amount", sensitivity='"highly_sensitive"')
    + extra_field("month", "month")
    + extra_field("year", "year")
    + extra_field("recent_year", "year", min="2000", max="2030")
    + extra_field("kind", "enum", values='["loan", "credit_card", "A"]')
    + extra_field("flag", "boolean")
    + extra_field("grid", "repayment_grid")
)


@pytest.fixture(scope="module")
def all_types_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    path = tmp_path_factory.mktemp("catalog") / "catalog.toml"
    path.write_text(ALL_TYPES_TOML, encoding="utf-8")
    return load_catalog(path)


@pytest.fixture(scope="module")
def thing(all_types_catalog: Catalog) -> RecordType:
    return all_types_catalog.record_type("thing")


@pytest.fixture(scope="module")
def validator(thing: RecordType, all_types_catalog: Catalog) -> RecordValidator:
    return validator_for(thing, all_types_catalog)


def check(validator: RecordValidator, field: str, value: object) -> tuple[object, list[str]]:
    clean, errors = validator.validate({"start_date": "2020-01-01", field: value})
    assert all(error.field == field for error in errors), errors
    return clean.get(field), [error.code for error in errors]


VALID: list[tuple[str, object, object]] = [
    ("name", " Alice ", "Alice"),
    ("name", "张三丰", "张三丰"),
    ("name", "ten chars!", "ten chars!"),
    ("code", "CNY", "CNY"),
    ("note", "line one\nline two", "line one\nline two"),
    ("count", "3", 3),
    ("count", " +3 ", 3),
    ("count", "0", 0),
    ("count", 7, 7),
    ("count", 3.0, 3),
    ("big", "-12", -12),
    ("big", 2**63 - 1, 2**63 - 1),
    ("amount", "1000", "1000.00"),
    ("amount", "1234.5", "1234.50"),
    ("amount", "0", "0.00"),
    ("amount", "007.10", "7.10"),
    ("amount", "999999999999999.99", "999999999999999.99"),
    ("amount", 1000, "1000.00"),
    ("amount", 0, "0.00"),
    ("amount", 1234.5, "1234.50"),
    ("amount", 0.1, "0.10"),
    ("amount", 12.34, "12.34"),
    ("amount", -0.0, "0.00"),
    ("start_date", "2024-02-29", "2024-02-29"),
    ("start_date", " 2024-01-31 ", "2024-01-31"),
    ("start_date", "1900-01-01", "1900-01-01"),
    ("start_date", "2200-12-31", "2200-12-31"),
    ("month", "2024-02", "2024-02"),
    ("month", "1900-01", "1900-01"),
    ("year", "2024", 2024),
    ("year", 2024, 2024),
    ("year", 2024.0, 2024),
    ("recent_year", "2030", 2030),
    ("kind", "loan", "loan"),
    ("kind", "LOAN", "loan"),
    ("kind", " Credit_Card ", "credit_card"),
    ("kind", "a", "A"),
    ("flag", "true", True),
    ("flag", "YES", True),
    ("flag", "1", True),
    ("flag", "False", False),
    ("flag", "no", False),
    ("flag", "0", False),
    ("flag", True, True),
    ("flag", False, False),
    ("flag", 1, True),
    ("flag", 0, False),
    ("grid", "N" * 60, "N" * 60),
    ("grid", GRID_ALL_CODES, GRID_ALL_CODES),
    ("grid", GRID_ALL_CODES.lower(), GRID_ALL_CODES),
]


@pytest.mark.parametrize(("field", "value", "expected"), VALID)
def test_valid_values_are_normalised(
    validator: RecordValidator, field: str, value: object, expected: object
) -> None:
    result, codes = check(validator, field, value)
    assert codes == []
    assert result == expected
    assert type(result) is type(expected)


INVALID: list[tuple[str, object, str]] = [
    ("name", 12, "invalid_type"),
    ("name", "eleven char", "too_long"),
    ("name", "two\nlines", "invalid_type"),
    ("note", "nul\x00byte", "invalid_type"),
    ("note", "x" * 21, "too_long"),
    ("code", "cny", "pattern_mismatch"),
    ("code", "CNYX", "pattern_mismatch"),
    ("count", "8", "out_of_range"),
    ("count", -1, "out_of_range"),
    ("count", "-1", "out_of_range"),
    ("count", True, "invalid_type"),
    ("count", 3.5, "invalid_type"),
    ("count", "3.5", "invalid_type"),
    ("count", "1_0", "invalid_type"),
    ("count", "١", "invalid_type"),
    ("count", float("nan"), "invalid_type"),
    ("count", [1], "invalid_type"),
    ("big", 2**63, "out_of_range"),
    ("big", "9" * 30, "out_of_range"),
    ("amount", "1,000", "invalid_amount"),
    ("amount", "12.345", "invalid_amount"),
    ("amount", 12.345, "invalid_amount"),
    ("amount", "-1", "invalid_amount"),
    ("amount", -1, "invalid_amount"),
    ("amount", -0.5, "invalid_amount"),
    ("amount", "NaN", "invalid_amount"),
    ("amount", "Infinity", "invalid_amount"),
    ("amount", float("nan"), "invalid_amount"),
    ("amount", float("inf"), "invalid_amount"),
    ("amount", "1e3", "invalid_amount"),
    ("amount", "1.", "invalid_amount"),
    ("amount", ".5", "invalid_amount"),
    ("amount", "１２", "invalid_amount"),
    ("amount", 1e-05, "invalid_amount"),
    ("amount", "1000000000000000", "out_of_range"),
    ("amount", 10**15, "out_of_range"),
    ("amount", 1e15, "out_of_range"),
    ("amount", 1e300, "out_of_range"),
    ("amount", True, "invalid_type"),
    ("start_date", "2023-02-29", "invalid_date"),
    ("start_date", "2024-13-01", "invalid_date"),
    ("start_date", "2024-00-10", "invalid_date"),
    ("start_date", "20240131", "invalid_date"),
    ("start_date", "2024/01/31", "invalid_date"),
    ("start_date", "2024-1-31", "invalid_date"),
    ("start_date", "2024-01-3a", "invalid_date"),
    ("start_date", "2024-W01-1", "invalid_date"),
    ("start_date", "2024-01-31T00:00", "invalid_date"),
    ("start_date", "1899-12-31", "invalid_date"),
    ("start_date", "2201-01-01", "invalid_date"),
    ("start_date", 20240131, "invalid_type"),
    ("month", "2024-13", "invalid_month"),
    ("month", "2024-00", "invalid_month"),
    ("month", "2024-2", "invalid_month"),
    ("month", "202402", "invalid_month"),
    ("month", "2024-02-01", "invalid_month"),
    ("month", "1899-12", "invalid_month"),
    ("month", 202402, "invalid_type"),
    ("year", "1899", "invalid_year"),
    ("year", "2201", "invalid_year"),
    ("year", "24", "invalid_year"),
    ("year", "２０２４", "invalid_year"),
    ("year", 1800, "invalid_year"),
    ("year", True, "invalid_type"),
    ("recent_year", "1999", "out_of_range"),
    ("kind", "mortgage", "invalid_enum"),
    ("kind", 1, "invalid_type"),
    ("flag", "maybe", "invalid_type"),
    ("flag", 2, "invalid_type"),
    ("flag", 1.0, "invalid_type"),
    ("grid", "N" * 59, "invalid_repayment_grid"),
    ("grid", "N" * 61, "invalid_repayment_grid"),
    ("grid", "N" * 59 + "8", "invalid_repayment_grid"),
    ("grid", "N" * 59 + "X", "invalid_repayment_grid"),
    ("grid", "N" * 29 + " " + "N" * 30, "invalid_repayment_grid"),
    ("grid", 0, "invalid_type"),
]


@pytest.mark.parametrize(("field", "value", "code"), INVALID)
def test_invalid_values_are_reported(
    validator: RecordValidator, field: str, value: object, code: str
) -> None:
    result, codes = check(validator, field, value)
    assert codes == [code]
    assert result is None


@pytest.mark.parametrize("absent", ["", "   ", None])
def test_absent_values(validator: RecordValidator, absent: object) -> None:
    clean, errors = validator.validate({"start_date": absent, "name": absent, "amount": absent})
    assert clean == {}
    assert [(e.field, e.code) for e in errors] == [("start_date", "required")]


def test_invalid_required_field_is_not_also_missing(validator: RecordValidator) -> None:
    _, errors = validator.validate({"start_date": "2024-02-30"})
    assert [(e.field, e.code) for e in errors] == [("start_date", "invalid_date")]


def test_all_errors_of_a_row_are_collected(validator: RecordValidator) -> None:
    clean, errors = validator.validate(
        {
            "name": "x" * 11,
            "code": "cny",
            "count": "9",
            "amount": "1,000",
            "month": "2024-13",
            "year": "99",
            "kind": "other",
            "flag": "perhaps",
            "grid": "N",
            "end_date": "2024-02-30",
            "note": "fine",
            "horoscope": "leo",
            "血型": "",
        }
    )
    assert clean == {"note": "fine"}
    assert sorted((e.field, e.code) for e in errors) == sorted(
        [
            ("name", "too_long"),
            ("code", "pattern_mismatch"),
            ("count", "out_of_range"),
            ("amount", "invalid_amount"),
            ("month", "invalid_month"),
            ("year", "invalid_year"),
            ("kind", "invalid_enum"),
            ("flag", "invalid_type"),
            ("grid", "invalid_repayment_grid"),
            ("end_date", "invalid_date"),
            ("horoscope", "unknown_field"),
            ("血型", "forbidden_field"),
            ("start_date", "required"),
        ]
    )


def test_unknown_field_only_when_it_carries_a_value(validator: RecordValidator) -> None:
    _, errors = validator.validate({"start_date": "2024-01-01", "colour": "", "shape": None})
    assert errors == []
    _, errors = validator.validate({"start_date": "2024-01-01", "colour": "red"})
    assert [(e.field, e.code) for e in errors] == [("colour", "unknown_field")]


@pytest.mark.parametrize("key", ["血型", "Blood-Type", "blood_type", "BloodType"])
@pytest.mark.parametrize("value", ["A", "", None])
def test_forbidden_fields_are_reported_whatever_the_value(
    validator: RecordValidator, key: str, value: object
) -> None:
    clean, errors = validator.validate({"start_date": "2024-01-01", key: value})
    assert clean == {"start_date": "2024-01-01"}
    assert [(e.field, e.code) for e in errors] == [(key, "forbidden_field")]
    assert "Art. 14" in errors[0].message


@pytest.mark.parametrize(
    ("start", "end", "codes"),
    [
        ("2024-05-01", "2024-04-30", ["date_order"]),
        ("2024-05-01", "2024-05-01", []),
        ("2024-05-01", "2025-01-01", []),
        ("", "2024-04-30", ["required"]),
        ("2024-05-01", "", []),
        ("2024-05-01", "2024-02-30", ["invalid_date"]),
    ],
)
def test_date_order(validator: RecordValidator, start: str, end: str, codes: list[str]) -> None:
    _, errors = validator.validate({"start_date": start, "end_date": end})
    assert [e.code for e in errors] == codes
    if codes == ["date_order"]:
        assert errors[0].field == "end_date"
        assert errors[0].message == "end_date must not be earlier than start_date"


def test_messages_never_quote_submitted_values(validator: RecordValidator) -> None:
    secret_amount = "98765.4321"
    secret_text = "SECRET-VALUE-1234"
    _, errors = validator.validate(
        {
            "start_date": "2024-99-99",
            "amount": secret_amount,
            "name": secret_text,
            "code": "QQQQ",
            "kind": secret_text,
            "note": secret_text * 3,
            "count": "31415",
            "grid": secret_text,
            "year": "31415",
        }
    )
    assert len(errors) == 9
    for error in errors:
        for secret in (secret_amount, secret_text, "QQQQ", "31415", "2024-99-99"):
            assert secret not in error.message


def test_output_is_json_serialisable(validator: RecordValidator) -> None:
    clean, errors = validator.validate(
        {
            "start_date": "2024-01-01",
            "end_date": "2024-12-31",
            "name": "n",
            "count": "1",
            "amount": "1.5",
            "month": "2024-01",
            "year": "2024",
            "kind": "loan",
            "flag": "yes",
            "grid": "n" * 60,
        }
    )
    assert errors == []
    assert json.loads(json.dumps(clean)) == clean


@settings(max_examples=200, deadline=None)
@given(cents=st.integers(min_value=0, max_value=10**17 - 1))
def test_amount_strings_round_trip(validator: RecordValidator, cents: int) -> None:
    amount = Decimal(cents).scaleb(-2)
    clean, errors = validator.validate({"start_date": "2024-01-01", "amount": f"{amount:f}"})
    assert errors == []
    assert clean["amount"] == f"{amount:.2f}"
    assert Decimal(str(clean["amount"])) == amount


def test_validator_for_is_cached(thing: RecordType, all_types_catalog: Catalog) -> None:
    assert validator_for(thing, all_types_catalog) is validator_for(thing, all_types_catalog)
    account = get_catalog().record_type("credit_account")
    assert validator_for(account) is validator_for(account)


CREDIT_ACCOUNT_CSV = {
    "account_type": "Loan",
    "loan_kind": "mortgage",
    "currency": "CNY",
    "credit_limit": "500000",
    "balance": "123456.7",
    "overdue_amount": "0",
    "overdue_months": "",
    "open_date": "2019-03-15",
    "due_date": "2039-03-15",
    "close_date": "",
    "guarantee_type": "mortgage",
    "status": "normal",
    "grid_end_month": "2026-10",
    "repayment_grid": "n" * 58 + "1n",
    "info_date": "2026-10-31",
}
CREDIT_ACCOUNT_JSON: dict[str, object] = {
    **CREDIT_ACCOUNT_CSV,
    "account_type": "loan",
    "credit_limit": 500000,
    "balance": 123456.7,
    "overdue_amount": 0,
    "overdue_months": None,
    "close_date": None,
}
CREDIT_ACCOUNT_CLEAN = {
    "account_type": "loan",
    "loan_kind": "mortgage",
    "currency": "CNY",
    "credit_limit": "500000.00",
    "balance": "123456.70",
    "overdue_amount": "0.00",
    "open_date": "2019-03-15",
    "due_date": "2039-03-15",
    "guarantee_type": "mortgage",
    "status": "normal",
    "grid_end_month": "2026-10",
    "repayment_grid": "N" * 58 + "1N",
    "info_date": "2026-10-31",
}


@pytest.mark.parametrize("row", [CREDIT_ACCOUNT_CSV, CREDIT_ACCOUNT_JSON], ids=["csv", "json"])
def test_credit_account_row(row: dict[str, object]) -> None:
    validator = validator_for(get_catalog().record_type("credit_account"))
    assert validator.validate(row) == (CREDIT_ACCOUNT_CLEAN, [])


def test_credit_account_close_before_open() -> None:
    validator = validator_for(get_catalog().record_type("credit_account"))
    _, errors = validator.validate({**CREDIT_ACCOUNT_CSV, "close_date": "2018-01-01"})
    assert [(e.field, e.code) for e in errors] == [("close_date", "date_order")]
