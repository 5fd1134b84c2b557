"""Loading the record-type catalog and validating record fields against it.

:func:`load_catalog` turns the TOML definition into a :class:`~.schemas.Catalog` and refuses
any definition it cannot trust (typos, forbidden data, dangling references).
:class:`RecordValidator` checks and normalises the type fields of one submitted row; it runs
once per ingested row, so all per-field work that does not depend on the value is done once,
when the validator is built.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from xinyong.catalog.schemas import (
    GRID_CODES,
    GRID_LENGTH,
    SUBJECT_KINDS,
    Catalog,
    CatalogDefinitionError,
    FieldError,
    FieldSpec,
    FieldType,
    ForbiddenField,
    RecordType,
    RetentionRule,
    Sensitivity,
    UnknownRecordTypeError,
    compact_field_key,
)

__all__ = [
    "ENVELOPE_KEYS",
    "MAX_YEAR",
    "MIN_YEAR",
    "CatalogDefinitionError",
    "FieldError",
    "RecordValidator",
    "UnknownRecordTypeError",
    "catalog_document",
    "get_catalog",
    "load_catalog",
    "validator_for",
]

# Keys every record carries besides its type's fields (docs/catalog.md). Ingestion validates
# them; a catalog field must not reuse one of these names.
# In the order batch files list them (CSV headers, synthetic files).
ENVELOPE_FIELDS: Final[tuple[str, ...]] = (
    "record_type",
    "record_key",
    "subject_id_type",
    "subject_identifier",
    "subject_name",
    "subject_name_en",
    "valid_from",
    "valid_to",
    "action",
    "reason",
)
ENVELOPE_KEYS: Final[frozenset[str]] = frozenset(ENVELOPE_FIELDS)

# Plausibility bounds for dates, months and years in credit records.
MIN_YEAR: Final = 1900
MAX_YEAR: Final = 2200

# At most 15 integer digits, so every amount fits NUMERIC(17, 2) and stays exact downstream.
_AMOUNT_LIMIT: Final = Decimal(10) ** 15
_CENT: Final = Decimal("0.01")
# Integers must fit BIGINT and Parquet int64 columns.
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")


# ---------------------------------------------------------------------------------------
# Loading


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and check a catalog definition; the packaged catalog when ``path`` is ``None``.

    Raises :class:`CatalogDefinitionError` if the file cannot be read or parsed, or if the
    definition is wrong in any way: unknown keys, types or sensitivities, enums without values,
    duplicate codes or field names, fields named like forbidden information (征信业管理条例
    Art. 14) or like envelope keys, undeclared retention rules, or a ``not_before`` that does
    not name another date field of the same record type.
    """
    if path is None:
        source = "packaged catalog"
        content = (files("xinyong.catalog") / "data" / "catalog.toml").read_bytes()
    else:
        source = str(path)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CatalogDefinitionError(
                f"{source}: cannot read the catalog: {exc.strerror}"
            ) from exc
    try:
        document = tomllib.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogDefinitionError(f"{source}: not a valid UTF-8 TOML file: {exc}") from exc
    return _CatalogReader(source).read(document, hashlib.sha256(content).hexdigest())


@functools.cache
def get_catalog() -> Catalog:
    """Return the packaged catalog, loaded once per process."""
    return load_catalog()


def catalog_document(catalog: Catalog) -> dict[str, Any]:
    """Return ``catalog`` as a JSON-ready document, for the API and for export.

    Record types and fields keep their catalog order; field attributes that do not apply are
    ``null``.
    """
    return {
        "version": catalog.version,
        "effective_from": catalog.effective_from.isoformat(),
        "description": catalog.description,
        "digest": catalog.digest,
        "record_types": [
            {
                "code": record_type.code,
                "version": record_type.version,
                "name_en": record_type.name_en,
                "name_zh": record_type.name_zh,
                "subject_kinds": list(record_type.subject_kinds),
                "negative": record_type.negative,
                "retention_rule": record_type.retention_rule,
                "legal_basis": record_type.legal_basis,
                "fields": [
                    {
                        "name": spec.name,
                        "type": str(spec.type),
                        "required": spec.required,
                        "sensitivity": str(spec.sensitivity),
                        "label_en": spec.label_en,
                        "label_zh": spec.label_zh,
                        "values": list(spec.values) if spec.values is not None else None,
                        "pattern": spec.pattern,
                        "min": spec.min,
                        "max": spec.max,
                        "max_length": spec.max_length,
                        "explicit_consent": spec.explicit_consent,
                        "not_before": spec.not_before,
                    }
                    for spec in record_type.fields
                ],
            }
            for record_type in catalog.record_types.values()
        ],
        "forbidden_fields": [
            {"name": forbidden.name, "aliases": list(forbidden.aliases), "source": forbidden.source}
            for forbidden in catalog.forbidden_fields
        ],
        "retention_rules": [
            {"code": rule.code, "description": rule.description}
            for rule in catalog.retention_rules.values()
        ],
    }


_TOP_LEVEL_KEYS = frozenset({"catalog", "forbidden_fields", "record_types", "retention_rules"})
_CATALOG_KEYS = frozenset({"version", "effective_from", "description"})
_FORBIDDEN_KEYS = frozenset({"name", "aliases", "source"})
_RETENTION_KEYS = frozenset({"code", "description"})
_RECORD_TYPE_KEYS = frozenset(
    {
        "code",
        "version",
        "name_en",
        "name_zh",
        "subject_kinds",
        "negative",
        "retention_rule",
        "legal_basis",
        "fields",
    }
)
_FIELD_COMMON_KEYS = frozenset(
    {"name", "type", "required", "sensitivity", "label_en", "label_zh", "explicit_consent"}
)
_FIELD_OPTIONAL_KEYS = frozenset({"explicit_consent"})
# Which type-specific attributes make sense for which field types.
_FIELD_TYPE_KEYS: Mapping[str, frozenset[FieldType]] = MappingProxyType(
    {
        "values": frozenset({FieldType.ENUM}),
        "pattern": frozenset({FieldType.STRING, FieldType.TEXT}),
        "max_length": frozenset({FieldType.STRING, FieldType.TEXT}),
        "min": frozenset({FieldType.INTEGER, FieldType.YEAR}),
        "max": frozenset({FieldType.INTEGER, FieldType.YEAR}),
        "not_before": frozenset({FieldType.DATE}),
    }
)
_FIELD_KEYS = _FIELD_COMMON_KEYS | _FIELD_TYPE_KEYS.keys()


class _CatalogReader:
    """Builds a :class:`Catalog` from a parsed TOML document, failing on the first problem."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> CatalogDefinitionError:
        return CatalogDefinitionError(f"{self.source}: {where}: {problem}")

    # Typed accessors: TOML is loosely typed, the catalog is not.

    def table(self, value: object, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be a table")
        return value

    def tables(self, value: object, where: str) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise self.fail(where, "must be an array of tables")
        return [self.table(item, f"{where}[{i}]") for i, item in enumerate(value)]

    def check_keys(
        self,
        table: Mapping[str, object],
        allowed: frozenset[str],
        where: str,
        optional: Iterable[str] = (),
    ) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.fail(where, f"unknown key {key!r}{hint}")
        missing = sorted(allowed - set(optional) - table.keys())
        if missing:
            raise self.fail(where, f"missing key {missing[0]!r}")

    def string(self, table: Mapping[str, object], key: str, where: str) -> str:
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"{key!r} must be a non-empty string")
        return value

    def identifier(self, table: Mapping[str, object], key: str, where: str) -> str:
        value = self.string(table, key, where)
        if _IDENTIFIER.fullmatch(value) is None:
            raise self.fail(where, f"{key!r} must be a lower-case identifier like 'open_date'")
        return value

    def boolean(self, table: Mapping[str, object], key: str, where: str) -> bool:
        value = table[key]
        if not isinstance(value, bool):
            raise self.fail(where, f"{key!r} must be true or false")
        return value

    def integer(self, table: Mapping[str, object], key: str, where: str) -> int:
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"{key!r} must be an integer")
        return value

    def strings(self, table: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
        value = table[key]
        if not isinstance(value, list) or not all(
            isinstance(item, str) and item.strip() for item in value
        ):
            raise self.fail(where, f"{key!r} must be a list of non-empty strings")
        return tuple(value)

    # The document.

    def read(self, document: Mapping[str, object], digest: str) -> Catalog:
        self.check_keys(document, _TOP_LEVEL_KEYS, "top level")
        header = self.table(document["catalog"], "[catalog]")
        self.check_keys(header, _CATALOG_KEYS, "[catalog]")

        forbidden_fields = tuple(
            self.forbidden_field(table, f"forbidden_fields[{i}]")
            for i, table in enumerate(self.tables(document["forbidden_fields"], "forbidden_fields"))
        )
        forbidden_index: dict[str, ForbiddenField] = {}
        for forbidden in forbidden_fields:
            for spelling in (forbidden.name, *forbidden.aliases):
                other = forbidden_index.setdefault(compact_field_key(spelling), forbidden)
                if other is not forbidden:
                    raise self.fail(
                        f"forbidden field {forbidden.name!r}",
                        f"{spelling!r} is already listed under {other.name!r}",
                    )

        retention_rules: dict[str, RetentionRule] = {}
        for i, table in enumerate(self.tables(document["retention_rules"], "retention_rules")):
            where = f"retention_rules[{i}]"
            self.check_keys(table, _RETENTION_KEYS, where)
            rule = RetentionRule(
                code=self.identifier(table, "code", where),
                description=self.string(table, "description", where),
            )
            if rule.code in retention_rules:
                raise self.fail(where, f"duplicate retention rule {rule.code!r}")
            retention_rules[rule.code] = rule

        record_types: dict[str, RecordType] = {}
        for i, table in enumerate(self.tables(document["record_types"], "record_types")):
            record_type = self.record_type(table, i, retention_rules, forbidden_index)
            if record_type.code in record_types:
                raise self.fail(f"record_types[{i}]", f"duplicate record type {record_type.code!r}")
            record_types[record_type.code] = record_type

        return Catalog(
            version=self.string(header, "version", "[catalog]"),
            effective_from=self.effective_from(header["effective_from"]),
            description=self.string(header, "description", "[catalog]"),
            record_types=MappingProxyType(record_types),
            forbidden_fields=forbidden_fields,
            retention_rules=MappingProxyType(retention_rules),
            digest=digest,
        )

    def effective_from(self, value: object) -> date:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str) and len(value) == 10 and value[4] == value[7] == "-":
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail("[catalog]", "'effective_from' must be a date YYYY-MM-DD")

    def forbidden_field(self, table: dict[str, Any], where: str) -> ForbiddenField:
        self.check_keys(table, _FORBIDDEN_KEYS, where, optional=("aliases",))
        return ForbiddenField(
            name=self.string(table, "name", where),
            aliases=self.strings(table, "aliases", where) if "aliases" in table else (),
            source=self.string(table, "source", where),
        )

    def record_type(
        self,
        table: dict[str, Any],
        index: int,
        retention_rules: Mapping[str, RetentionRule],
        forbidden_index: Mapping[str, ForbiddenField],
    ) -> RecordType:
        where = f"record_types[{index}]"
        self.check_keys(table, _RECORD_TYPE_KEYS, where)
        code = self.identifier(table, "code", where)
        where = f"record type {code!r}"

        version = self.integer(table, "version", where)
        if version < 1:
            raise self.fail(where, "'version' must be at least 1")
        subject_kinds = self.strings(table, "subject_kinds", where)
        unknown_kinds = sorted(set(subject_kinds) - SUBJECT_KINDS)
        if not subject_kinds or unknown_kinds or len(set(subject_kinds)) != len(subject_kinds):
            raise self.fail(
                where,
                "'subject_kinds' must list distinct kinds among "
                + ", ".join(sorted(SUBJECT_KINDS)),
            )
        retention_rule = self.string(table, "retention_rule", where)
        if retention_rule not in retention_rules:
            raise self.fail(
                where,
                f"retention rule {retention_rule!r} is not declared in [[retention_rules]]",
            )

        fields: list[FieldSpec] = []
        names: set[str] = set()
        for i, field_table in enumerate(self.tables(table["fields"], f"{where}, fields")):
            spec = self.field(field_table, where, i, forbidden_index)
            if spec.name in names:
                raise self.fail(where, f"duplicate field {spec.name!r}")
            names.add(spec.name)
            fields.append(spec)
        if not fields:
            raise self.fail(where, "defines no fields")

        by_name = {spec.name: spec for spec in fields}
        for spec in fields:
            if spec.not_before is None:
                continue
            other = by_name.get(spec.not_before)
            if other is None or other is spec or other.type is not FieldType.DATE:
                raise self.fail(
                    f"{where}, field {spec.name!r}",
                    f"'not_before' must name another date field of {code!r}, "
                    f"not {spec.not_before!r}",
                )

        return RecordType(
            code=code,
            version=version,
            name_en=self.string(table, "name_en", where),
            name_zh=self.string(table, "name_zh", where),
            subject_kinds=subject_kinds,
            negative=self.boolean(table, "negative", where),
            retention_rule=retention_rule,
            legal_basis=self.string(table, "legal_basis", where),
            fields=tuple(fields),
        )

    def field(
        self,
        table: dict[str, Any],
        record_where: str,
        index: int,
        forbidden_index: Mapping[str, ForbiddenField],
    ) -> FieldSpec:
        where = f"{record_where}, fields[{index}]"
        self.check_keys(
            table, _FIELD_KEYS, where, optional=_FIELD_OPTIONAL_KEYS | _FIELD_TYPE_KEYS.keys()
        )
        name = self.identifier(table, "name", where)
        where = f"{record_where}, field {name!r}"

        # The catalog must never itself define information ingestion has to reject
        # (征信业管理条例 Art. 14).
        forbidden = forbidden_index.get(compact_field_key(name))
        if forbidden is not None:
            raise self.fail(
                where,
                f"the name is that of the forbidden field {forbidden.name!r} ({forbidden.source})",
            )
        if name in ENVELOPE_KEYS:
            raise self.fail(where, "the name is an envelope key every record already carries")

        raw_type = table["type"]
        try:
            field_type = FieldType(raw_type)
        except ValueError:
            raise self.fail(
                where, f"unknown field type {raw_type!r}; expected one of {_choices(FieldType)}"
            ) from None
        raw_sensitivity = table["sensitivity"]
        try:
            sensitivity = Sensitivity(raw_sensitivity)
        except ValueError:
            raise self.fail(
                where,
                f"unknown sensitivity {raw_sensitivity!r}; expected one of {_choices(Sensitivity)}",
            ) from None
        for key, types in _FIELD_TYPE_KEYS.items():
            if key in table and field_type not in types:
                raise self.fail(where, f"{key!r} does not apply to a {field_type} field")

        values: tuple[str, ...] | None = None
        if field_type is FieldType.ENUM:
            if "values" not in table:
                raise self.fail(where, "an enum field needs 'values'")
            values = self.strings(table, "values", where)
            folded = {value.casefold() for value in values}
            if not values or len(folded) != len(values):
                raise self.fail(
                    where, "'values' must be a non-empty list, distinct ignoring letter case"
                )

        pattern: str | None = None
        if "pattern" in table:
            pattern = self.string(table, "pattern", where)
            try:
                re.compile(pattern)
            except re.error as exc:
                raise self.fail(
                    where, f"'pattern' is not a valid regular expression: {exc}"
                ) from exc

        max_length: int | None = None
        if "max_length" in table:
            max_length = self.integer(table, "max_length", where)
            if max_length < 1:
                raise self.fail(where, "'max_length' must be at least 1")

        minimum = self.integer(table, "min", where) if "min" in table else None
        maximum = self.integer(table, "max", where) if "max" in table else None
        if minimum is not None and maximum is not None and minimum > maximum:
            raise self.fail(where, "'min' is greater than 'max'")

        return FieldSpec(
            name=name,
            type=field_type,
            required=self.boolean(table, "required", where),
            sensitivity=sensitivity,
            label_en=self.string(table, "label_en", where),
            label_zh=self.string(table, "label_zh", where),
            values=values,
            pattern=pattern,
            min=minimum,
            max=maximum,
            max_length=max_length,
            explicit_consent=(
                self.boolean(table, "explicit_consent", where)
                if "explicit_consent" in table
                else False
            ),
            not_before=(
                self.identifier(table, "not_before", where) if "not_before" in table else None
            ),
        )


def _choices(enum: Iterable[object]) -> str:
    return ", ".join(str(member) for member in enum)


# ---------------------------------------------------------------------------------------
# Validating record fields


class _Invalid(Exception):
    """Raised by a field parser; only ever on the error path, so its cost does not matter."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Returned by a parser for a value that is blank after stripping: treated as absent.
_ABSENT: Final = object()

_Parser = Callable[[object], object]

_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_AMOUNT_TEXT = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")
_GRID_TEXT = re.compile(
    "[" + re.escape("".join(sorted(GRID_CODES))) + "]{" + str(GRID_LENGTH) + "}"
)
# A single-line string may hold no control characters; text may hold tabs and line breaks.
_STRING_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BOOLEAN_WORDS: Final[Mapping[str, bool]] = MappingProxyType(
    {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
)


def _string_parser(spec: FieldSpec) -> _Parser:
    name = spec.name
    max_length = spec.max_length
    fullmatch = re.compile(spec.pattern).fullmatch if spec.pattern is not None else None
    if spec.type is FieldType.TEXT:
        control = _TEXT_CONTROL.search
        control_message = f"{name} must not contain control characters"
    else:
        control = _STRING_CONTROL.search
        control_message = f"{name} must be a single line without control characters"

    def parse(value: object) -> object:
        if not isinstance(value, str):
            raise _Invalid("invalid_type", f"{name} must be a string")
        text = value.strip()
        if not text:
            return _ABSENT
        if max_length is not None and len(text) > max_length:
            raise _Invalid("too_long", f"{name} must be at most {max_length} characters")
        if control(text) is not None:
            raise _Invalid("invalid_type", control_message)
        if fullmatch is not None and fullmatch(text) is None:
            raise _Invalid("pattern_mismatch", f"{name} must match {spec.pattern}")
        return text

    return parse


def _range_message(name: str, minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{name} must be between {minimum} and {maximum}"
    if minimum is not None:
        return f"{name} must be at least {minimum}"
    if maximum is not None:
        return f"{name} must be at most {maximum}"
    return f"{name} must fit in a 64-bit integer"


def _integer_parser(spec: FieldSpec) -> _Parser:
    name = spec.name
    low = spec.min if spec.min is not None else _INT64_MIN
    high = spec.max if spec.max is not None else _INT64_MAX
    type_message = f"{name} must be a whole number"
    range_message = _range_message(name, spec.min, spec.max)

    def parse(value: object) -> object:
        number: int
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return _ABSENT
            if not (text.isascii() and text.isdigit()) and _INTEGER_TEXT.fullmatch(text) is None:
                raise _Invalid("invalid_type", type_message)
            if len(text) > 20:  # beyond 64 bits; spares int() a huge conversion
                raise _Invalid("out_of_range", range_message)
            number = int(text)
        elif isinstance(value, bool):
            raise _Invalid("invalid_type", type_message)
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        else:
            raise _Invalid("invalid_type", type_message)
        if number < low or number > high:
            raise _Invalid("out_of_range", range_message)
        return number

    return parse


def _year_parser(spec: FieldSpec) -> _Parser:
    name = spec.name
    low = spec.min if spec.min is not None else MIN_YEAR
    high = spec.max if spec.max is not None else MAX_YEAR
    year_message = f"{name} must be a year YYYY between {MIN_YEAR} and {MAX_YEAR}"
    range_message = _range_message(name, spec.min, spec.max)

    def parse(value: object) -> object:
        year: int
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return _ABSENT
            if len(text) != 4 or not text.isascii() or not text.isdigit():
                raise _Invalid("invalid_year", year_message)
            year = int(text)
        elif isinstance(value, bool):
            raise _Invalid("invalid_type", year_message)
        elif isinstance(value, int):
            year = value
        elif isinstance(value, float) and value.is_integer():
            year = int(value)
        else:
            raise _Invalid("invalid_type", year_message)
        if year < MIN_YEAR or year > MAX_YEAR:
            raise _Invalid("invalid_year", year_message)
        if year < low or year > high:
            raise _Invalid("out_of_range", range_message)
        return year

    return parse


def _date_parser(spec: FieldSpec) -> _Parser:
    message = f"{spec.name} must be a calendar date YYYY-MM-DD between {MIN_YEAR} and {MAX_YEAR}"
    fromisoformat = date.fromisoformat

    def parse(value: object) -> object:
        if not isinstance(value, str):
            raise _Invalid("invalid_type", message)
        text = value.strip()
        if not text:
            return _ABSENT
        # The shape check keeps fromisoformat to the one form we accept (it also reads
        # "20240131" and week dates); fromisoformat then rejects non-digits and 2023-02-29.
        if len(text) != 10 or text[4] != "-" or text[7] != "-" or not text.isascii():
            raise _Invalid("invalid_date", message)
        try:
            year = fromisoformat(text).year
        except ValueError:
            raise _Invalid("invalid_date", message) from None
        if year < MIN_YEAR or year > MAX_YEAR:
            raise _Invalid("invalid_date", message)
        return text

    return parse


def _month_parser(spec: FieldSpec) -> _Parser:
    message = f"{spec.name} must be a month YYYY-MM between {MIN_YEAR} and {MAX_YEAR}"
    fromisoformat = date.fromisoformat

    def parse(value: object) -> object:
        if not isinstance(value, str):
            raise _Invalid("invalid_type", message)
        text = value.strip()
        if not text:
            return _ABSENT
        if len(text) != 7 or text[4] != "-" or not text.isascii():
            raise _Invalid("invalid_month", message)
        try:
            year = fromisoformat(text + "-01").year
        except ValueError:
            raise _Invalid("invalid_month", message) from None
        if year < MIN_YEAR or year > MAX_YEAR:
            raise _Invalid("invalid_month", message)
        return text

    return parse


def _amount_parser(spec: FieldSpec) -> _Parser:
    name = spec.name
    format_message = (
        f"{name} must be a non-negative decimal amount with at most two decimal places "
        "and no thousands separators, e.g. 1234.50"
    )
    range_message = f"{name} must be less than 10^15"

    def from_decimal(amount: Decimal) -> str:
        # All arithmetic is decimal: a float would turn 0.1 into 0.1000000000000000055...
        if not amount.is_finite() or amount < 0:
            raise _Invalid("invalid_amount", format_message)
        if amount >= _AMOUNT_LIMIT:
            raise _Invalid("out_of_range", range_message)
        cents = amount.quantize(_CENT)
        if cents != amount:
            raise _Invalid("invalid_amount", format_message)
        # With exponent -2, str() never switches to scientific notation; zero may be "-0.00".
        return str(cents) if cents else "0.00"

    def parse(value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return _ABSENT
            if _AMOUNT_TEXT.fullmatch(text) is None:
                raise _Invalid("invalid_amount", format_message)
            # The pattern already rules out signs, exponents, NaN and a third decimal place.
            amount = Decimal(text)
            if amount >= _AMOUNT_LIMIT:
                raise _Invalid("out_of_range", range_message)
            return str(amount.quantize(_CENT))
        if isinstance(value, bool):
            raise _Invalid("invalid_type", format_message)
        if isinstance(value, int):
            if value < 0:
                raise _Invalid("invalid_amount", format_message)
            if value >= 10**15:
                raise _Invalid("out_of_range", range_message)
            return f"{value}.00"
        if isinstance(value, float):
            if not math.isfinite(value):
                raise _Invalid("invalid_amount", format_message)
            # repr() is the shortest string that round-trips: the number the sender wrote.
            return from_decimal(Decimal(repr(value)))
        raise _Invalid("invalid_type", format_message)

    return parse


def _enum_parser(spec: FieldSpec) -> _Parser:
    values = spec.values or ()
    exact = {value: value for value in values}
    folded = {value.casefold(): value for value in values}
    message = f"{spec.name} must be one of: {', '.join(values)}"

    def parse(value: object) -> object:
        if not isinstance(value, str):
            raise _Invalid("invalid_type", message)
        canonical = exact.get(value)
        if canonical is not None:
            return canonical
        text = value.strip()
        if not text:
            return _ABSENT
        canonical = folded.get(text.casefold())
        if canonical is None:
            raise _Invalid("invalid_enum", message)
        return canonical

    return parse


def _boolean_parser(spec: FieldSpec) -> _Parser:
    message = f"{spec.name} must be true or false (also accepted: 1/0, yes/no)"

    def parse(value: object) -> object:
        if value is True or value is False:
            return value
        if isinstance(value, str):
            text = value.strip().lower()
            if not text:
                return _ABSENT
            result = _BOOLEAN_WORDS.get(text)
            if result is None:
                raise _Invalid("invalid_type", message)
            return result
        if isinstance(value, int) and value in (0, 1):
            return value == 1
        raise _Invalid("invalid_type", message)

    return parse


def _repayment_grid_parser(spec: FieldSpec) -> _Parser:
    name = spec.name
    length_message = f"{name} must hold exactly {GRID_LENGTH} monthly codes"
    codes_message = (
        f"{name} may contain only the codes N (normal), 1-7 (months overdue), "
        "D (paid by guarantor), Z (settled with assets), C (closed), G (terminated), # (unknown)"
    )
    fullmatch = _GRID_TEXT.fullmatch

    def parse(value: object) -> object:
        if not isinstance(value, str):
            raise _Invalid("invalid_type", length_message)
        grid = value.strip().upper()
        if not grid:
            return _ABSENT
        if fullmatch(grid) is None:
            if len(grid) != GRID_LENGTH:
                raise _Invalid("invalid_repayment_grid", length_message)
            raise _Invalid("invalid_repayment_grid", codes_message)
        return grid

    return parse


_PARSER_FACTORIES: Mapping[FieldType, Callable[[FieldSpec], _Parser]] = MappingProxyType(
    {
        FieldType.STRING: _string_parser,
        FieldType.TEXT: _string_parser,
        FieldType.INTEGER: _integer_parser,
        FieldType.AMOUNT: _amount_parser,
        FieldType.DATE: _date_parser,
        FieldType.MONTH: _month_parser,
        FieldType.YEAR: _year_parser,
        FieldType.ENUM: _enum_parser,
        FieldType.BOOLEAN: _boolean_parser,
        FieldType.REPAYMENT_GRID: _repayment_grid_parser,
    }
)


class RecordValidator:
    """Checks and normalises the type fields of rows of one record type.

    Build it through :func:`validator_for`, which caches one per record type.
    """

    __slots__ = ("_catalog", "_date_orders", "_parsers", "_required", "record_type")

    def __init__(self, record_type: RecordType, catalog: Catalog) -> None:
        self.record_type = record_type
        self._catalog = catalog
        self._parsers: dict[str, _Parser] = {
            spec.name: _PARSER_FACTORIES[spec.type](spec) for spec in record_type.fields
        }
        self._required = tuple(spec.name for spec in record_type.fields if spec.required)
        self._date_orders = tuple(
            (
                spec.name,
                spec.not_before,
                f"{spec.name} must not be earlier than {spec.not_before}",
            )
            for spec in record_type.fields
            if spec.not_before is not None
        )

    def validate(self, raw: Mapping[str, object]) -> tuple[dict[str, object], list[FieldError]]:
        """Check one row's type fields; return the normalised present fields and all errors.

        ``raw`` holds the fields without the envelope keys, either from CSV (every value a
        ``str``, ``""`` meaning absent) or from JSON (``str``, ``int``, ``float``, ``bool`` or
        ``None``, ``None`` meaning absent); blank strings are absent too. The result holds
        only present, valid fields in canonical JSON-ready form: dates ``YYYY-MM-DD``, months
        ``YYYY-MM``, years and integers as ``int``, amounts as strings with two decimals,
        enums in their catalog spelling, grids upper-case.

        A key naming forbidden information (征信业管理条例 Art. 14) is a ``forbidden_field``
        error whatever its value; ingestion then rejects the whole row. Other unknown keys are
        ``unknown_field`` errors only when they carry a value.
        """
        parsers = self._parsers
        clean: dict[str, object] = {}
        errors: list[FieldError] = []
        for key, value in raw.items():
            parse = parsers.get(key)
            if parse is None:
                self._reject_key(key, value, errors)
                continue
            if value is None or value == "":
                continue
            try:
                result = parse(value)
            except _Invalid as exc:
                errors.append(FieldError(key, exc.code, exc.message))
                continue
            if result is not _ABSENT:
                clean[key] = result

        for name in self._required:
            if name not in clean and not any(error.field == name for error in errors):
                errors.append(FieldError(name, "required", f"{name} is required"))

        for later, earlier, message in self._date_orders:
            later_value = clean.get(later)
            earlier_value = clean.get(earlier)
            # Canonical ISO dates order correctly as strings.
            if (
                isinstance(later_value, str)
                and isinstance(earlier_value, str)
                and later_value < earlier_value
            ):
                errors.append(FieldError(later, "date_order", message))
        return clean, errors

    def _reject_key(self, key: str, value: object, errors: list[FieldError]) -> None:
        forbidden = self._catalog.forbidden_field_for(key)
        if forbidden is not None:
            errors.append(
                FieldError(
                    key,
                    "forbidden_field",
                    f"{key} is {forbidden.name.replace('_', ' ')}, information that must "
                    f"never be collected ({forbidden.source})",
                )
            )
        elif not (value is None or value == ""):
            errors.append(
                FieldError(
                    key,
                    "unknown_field",
                    f"{key} is not a field of record type {self.record_type.code}",
                )
            )


def validator_for(record_type: RecordType, catalog: Catalog | None = None) -> RecordValidator:
    """Return the cached validator of ``record_type``.

    ``catalog`` supplies the forbidden fields; by default the packaged catalog.
    """
    return _cached_validator(record_type, catalog if catalog is not None else get_catalog())


@functools.cache
def _cached_validator(record_type: RecordType, catalog: Catalog) -> RecordValidator:
    return RecordValidator(record_type, catalog)
