"""The in-memory form of the record-type catalog.

Everything here is immutable: a loaded :class:`Catalog` is shared by every request and every
ingestion worker, and its :attr:`Catalog.digest` pins exactly which definition a record was
validated against.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from types import MappingProxyType

from xinyong.errors import NotFoundError, XinyongError

__all__ = [
    "GRID_CODES",
    "GRID_LENGTH",
    "SUBJECT_KINDS",
    "Catalog",
    "CatalogDefinitionError",
    "FieldError",
    "FieldSpec",
    "FieldType",
    "ForbiddenField",
    "RecordType",
    "RetentionRule",
    "Sensitivity",
    "UnknownRecordTypeError",
    "compact_field_key",
    "normalise_field_key",
]

# PBoC second-generation credit report repayment grid (RULES.md 28): 60 months, oldest first.
# N normal, 1-7 months overdue, D paid by guarantor, Z settled with assets, C closed,
# G terminated, # unknown.
GRID_LENGTH = 60
GRID_CODES: frozenset[str] = frozenset("N1234567DZCG#")

# The subject kinds of the identity domain (docs ARCHITECTURE.md, "identity").
SUBJECT_KINDS: frozenset[str] = frozenset({"person", "enterprise", "other_organisation"})


class CatalogDefinitionError(XinyongError):
    """The catalog file itself is wrong: an operator error, never a furnisher's."""

    status = 500
    code = "catalog_definition_error"
    title = "Catalog definition error"


class UnknownRecordTypeError(NotFoundError):
    """A record type code that the catalog does not define."""

    code = "unknown_record_type"
    title = "Unknown record type"


class Sensitivity(StrEnum):
    """How sensitive a field is; drives encryption at rest and masking by role."""

    PUBLIC = "public"
    INTERNAL = "internal"
    SENSITIVE = "sensitive"
    HIGHLY_SENSITIVE = "highly_sensitive"

    @property
    def rank(self) -> int:
        """Position in the order public < internal < sensitive < highly_sensitive (0-3).

        StrEnum members compare as strings, so compare ``a.rank >= b.rank``, never ``a >= b``.
        """
        return _SENSITIVITY_RANK[self]


_SENSITIVITY_RANK: Mapping[Sensitivity, int] = MappingProxyType(
    {level: i for i, level in enumerate(Sensitivity)}
)


class FieldType(StrEnum):
    """The value types a catalog field can have."""

    STRING = "string"
    TEXT = "text"
    INTEGER = "integer"
    AMOUNT = "amount"
    DATE = "date"
    MONTH = "month"
    YEAR = "year"
    ENUM = "enum"
    BOOLEAN = "boolean"
    REPAYMENT_GRID = "repayment_grid"


_KEY_SEPARATORS = re.compile(r"[\s_\-]+")


def normalise_field_key(key: str) -> str:
    """Return the form under which field keys are compared with forbidden names.

    Strips, lower-cases and turns runs of spaces, hyphens and underscores into one ``_``, so
    ``" Blood-Type "`` and ``"blood  type"`` both become ``"blood_type"``.
    """
    return _KEY_SEPARATORS.sub("_", key.strip().lower()).strip("_")


def compact_field_key(key: str) -> str:
    """Return :func:`normalise_field_key` without any separators: the form forbidden names match.

    Ignoring separators altogether means camelCase (``bloodGroup``) and run-together spellings
    cannot slip a forbidden field past ingestion.
    """
    return normalise_field_key(key).replace("_", "")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FieldSpec:
    """One field of a record type."""

    name: str
    type: FieldType
    required: bool
    sensitivity: Sensitivity
    label_en: str
    label_zh: str
    values: tuple[str, ...] | None = None
    pattern: str | None = None
    min: int | None = None
    max: int | None = None
    max_length: int | None = None
    # Needs the subject's explicit written consent (征信业管理条例 Art. 14).
    explicit_consent: bool = False
    # Name of a date field of the same record type this one must not precede.
    not_before: str | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RecordType:
    """A category of credit record and the fields its records carry."""

    code: str
    version: int
    name_en: str
    name_zh: str
    subject_kinds: tuple[str, ...]
    negative: bool
    retention_rule: str
    legal_basis: str
    fields: tuple[FieldSpec, ...]
    _by_name: Mapping[str, FieldSpec] = dataclasses.field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", MappingProxyType({f.name: f for f in self.fields}))

    def __hash__(self) -> int:
        # Record types key the validator cache; hashing every nested field spec on each lookup
        # would cost more than validating a row. Equal record types share code and version.
        return hash((self.code, self.version))

    @property
    def field_names(self) -> tuple[str, ...]:
        """The field names in catalog order."""
        return tuple(self._by_name)

    def field(self, name: str) -> FieldSpec:
        """Return the field called ``name``; raise :class:`KeyError` if there is none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"record type {self.code!r} has no field {name!r}") from None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ForbiddenField:
    """Information the platform must never collect (征信业管理条例 Art. 14)."""

    name: str
    aliases: tuple[str, ...]
    source: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RetentionRule:
    """A named retention rule; the periods live in the jurisdiction profiles."""

    code: str
    description: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Catalog:
    """One version of the record-type catalog."""

    version: str
    effective_from: date
    description: str
    record_types: Mapping[str, RecordType]
    forbidden_fields: tuple[ForbiddenField, ...]
    retention_rules: Mapping[str, RetentionRule]
    # SHA-256 (hex) of the catalog file's bytes.
    digest: str
    _forbidden_index: Mapping[str, ForbiddenField] = dataclasses.field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        index: dict[str, ForbiddenField] = {}
        for forbidden in self.forbidden_fields:
            for spelling in (forbidden.name, *forbidden.aliases):
                index.setdefault(compact_field_key(spelling), forbidden)
        object.__setattr__(self, "_forbidden_index", MappingProxyType(index))

    def __hash__(self) -> int:
        return hash(self.digest)

    def record_type(self, code: str) -> RecordType:
        """Return the record type ``code``; raise :class:`UnknownRecordTypeError` if undefined."""
        try:
            return self.record_types[code]
        except KeyError:
            raise UnknownRecordTypeError(
                f"unknown record type {code!r} in catalog {self.version}",
                record_type=code,
                catalog_version=self.version,
            ) from None

    def forbidden_field_for(self, key: str) -> ForbiddenField | None:
        """Return the forbidden field that ``key`` names, or ``None``.

        Matches the name or any alias case-insensitively, ignoring surrounding whitespace and
        treating spaces, hyphens and underscores alike (see :func:`normalise_field_key`); the
        separators are ignored altogether, so ``bloodType`` is caught as well.
        """
        return self._forbidden_index.get(compact_field_key(key))


@dataclasses.dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field of a submitted record.

    ``message`` is English and never quotes the submitted value: values may be sensitive, and
    error reports travel further (logs, rejection files) than the data itself.
    """

    field: str
    code: str
    message: str
