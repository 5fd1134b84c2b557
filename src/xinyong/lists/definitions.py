"""List types, measures, memoranda and score-tier incentives, as data (``data/lists.toml``).

A memorandum links list types to measures, each with the body that applies it, its legal
basis (the measure's) and whom it also binds when the listed subject is an organisation
(RULES.md 16-20). The file is checked when it is loaded: every reference resolves, every
list and measure cites a legal basis, and ground codes are unique.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from functools import cache
from importlib.resources import files
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from xinyong.errors import ConfigurationError, NotFoundError


class ListDefinitionError(ConfigurationError):
    code = "list_definition_error"
    title = "List definition error"


class UnknownListTypeError(NotFoundError):
    code = "unknown_list_type"
    title = "Unknown list type"


class UnknownMeasureError(NotFoundError):
    code = "unknown_measure"
    title = "Unknown measure"


class BindingRole(StrEnum):
    """Whom an entry of an organisation also binds (RULES.md 19)."""

    LEGAL_REPRESENTATIVE = "legal_representative"
    ACTUAL_CONTROLLER = "actual_controller"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ground(_Strict):
    code: str
    name_zh: str
    name_en: str
    # The entry lasts until the obligation is performed, not for the list's term.
    until_performance: bool = False


class ListType(_Strict):
    code: str
    name_zh: str
    name_en: str
    polarity: Literal["negative", "positive"]
    subject_kinds: tuple[str, ...] = Field(min_length=1)
    authority: str
    legal_basis: str = Field(min_length=1)
    source_record_type: str | None = None
    term_months: int | None = Field(default=None, ge=1)
    extension_months: tuple[int, int] | None = None
    public_persons: bool = False
    escalates_to: str | None = None
    escalate_after_months: int | None = Field(default=None, ge=1)
    grounds: tuple[Ground, ...] = Field(min_length=1)

    def ground(self, code: str) -> Ground | None:
        for ground in self.grounds:
            if ground.code == code:
                return ground
        return None

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh-CN" else self.name_en


class Measure(_Strict):
    code: str
    kind: Literal["restriction", "incentive"]
    category: str
    name_zh: str
    name_en: str
    legal_basis: str = Field(min_length=1)


class MemorandumMeasure(_Strict):
    measure: str
    applying_body: str
    binds: tuple[BindingRole, ...] = ()


class Memorandum(_Strict):
    code: str
    title_zh: str
    title_en: str
    source: str = Field(min_length=1)
    list_types: tuple[str, ...] = Field(min_length=1)
    measures: tuple[MemorandumMeasure, ...] = Field(min_length=1)


class ScoreIncentive(_Strict):
    measure: str
    segment: Literal["person", "enterprise"]
    min_score: float
    max_age_days: int = Field(ge=1)
    applying_body: str
    legal_basis: str = Field(min_length=1)


class PenaltySeverityPublicity(_Strict):
    """How long a penalty of one severity class is published (RULES.md 12, 14).

    ``months`` is the period this platform publishes for, within the class's range
    ``min_months``-``max_months``; 0 (allowed when the minimum is 0) means not published.
    The minimum is when repair may first be asked.
    """

    severity: str = Field(min_length=1)
    min_months: int = Field(ge=0)
    max_months: int = Field(ge=1)
    months: int = Field(ge=0)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _within_range(self) -> PenaltySeverityPublicity:
        if not self.min_months <= self.months <= self.max_months:
            raise ValueError(
                f"penalty publicity of {self.severity}: months must lie within "
                f"{self.min_months}-{self.max_months}"
            )
        return self


class PenaltyPublicity(_Strict):
    record_type: str = Field(min_length=1)
    # The field the period is counted from.
    period_from: str = Field(min_length=1)
    # Penalty types never published on their own (SAMR Order 45: warnings).
    unpublished_penalty_types: tuple[str, ...] = ()
    unpublished_source: str = Field(min_length=1)
    severities: tuple[PenaltySeverityPublicity, ...] = Field(min_length=1)
    legal_basis: str = Field(min_length=1)

    def for_severity(self, severity: object) -> PenaltySeverityPublicity | None:
        for rule in self.severities:
            if rule.severity == severity:
                return rule
        return None


class LicencePublicity(_Strict):
    record_type: str = Field(min_length=1)
    # Licences are public while their status is one of these and they have not run out.
    published_statuses: tuple[str, ...] = Field(min_length=1)
    legal_basis: str = Field(min_length=1)


class ListEntryPublicity(_Strict):
    # Active entries only: organisations' on every list, persons' only on lists whose
    # ``public_persons`` is set, masked.
    legal_basis: str = Field(min_length=1)


class Publicity(_Strict):
    """What the public API discloses, and for how long (docs/lists.md, Public disclosure)."""

    penalties: PenaltyPublicity
    licences: LicencePublicity
    list_entries: ListEntryPublicity

    @model_validator(mode="after")
    def _severities_unique(self) -> Publicity:
        codes = [rule.severity for rule in self.penalties.severities]
        if len(set(codes)) != len(codes):
            raise ValueError("penalty publicity severities must be unique")
        return self


class _Header(_Strict):
    version: str
    effective_from: date


class ListDefinitions(_Strict):
    lists: _Header
    list_types: tuple[ListType, ...]
    measures: tuple[Measure, ...]
    memoranda: tuple[Memorandum, ...]
    score_incentives: tuple[ScoreIncentive, ...] = ()
    publicity: Publicity

    @model_validator(mode="after")
    def _references_resolve(self) -> ListDefinitions:
        types = {list_type.code for list_type in self.list_types}
        measures = {measure.code: measure for measure in self.measures}
        if len(types) != len(self.list_types) or len(measures) != len(self.measures):
            raise ValueError("list type and measure codes must be unique")
        for list_type in self.list_types:
            codes = [ground.code for ground in list_type.grounds]
            if len(set(codes)) != len(codes):
                raise ValueError(f"{list_type.code}: ground codes must be unique")
            if list_type.escalates_to is not None and list_type.escalates_to not in types:
                raise ValueError(f"{list_type.code} escalates to unknown {list_type.escalates_to}")
            if (list_type.escalates_to is None) != (list_type.escalate_after_months is None):
                raise ValueError(f"{list_type.code}: escalates_to needs escalate_after_months")
        for memo in self.memoranda:
            for code in memo.list_types:
                if code not in types:
                    raise ValueError(f"memorandum {memo.code} names unknown list type {code}")
            for item in memo.measures:
                if item.measure not in measures:
                    raise ValueError(f"memorandum {memo.code} names unknown measure {item.measure}")
        for incentive in self.score_incentives:
            measure = measures.get(incentive.measure)
            if measure is None or measure.kind != "incentive":
                raise ValueError(f"score incentive {incentive.measure} is not an incentive measure")
        return self

    @property
    def version(self) -> str:
        return self.lists.version

    def list_type(self, code: str) -> ListType:
        for list_type in self.list_types:
            if list_type.code == code:
                return list_type
        raise UnknownListTypeError(
            f"no list type {code!r}; known: {', '.join(t.code for t in self.list_types)}",
            list_type=code,
        )

    def measure(self, code: str) -> Measure:
        for measure in self.measures:
            if measure.code == code:
                return measure
        raise UnknownMeasureError(
            f"no measure {code!r}; known: {', '.join(m.code for m in self.measures)}",
            measure=code,
        )

    def by_source_record_type(self) -> Mapping[str, ListType]:
        return {
            t.source_record_type: t for t in self.list_types if t.source_record_type is not None
        }


@cache
def get_definitions() -> ListDefinitions:
    """The packaged list definitions, loaded and checked once per process."""
    raw = (files("xinyong.lists") / "data" / "lists.toml").read_bytes()
    try:
        return ListDefinitions.model_validate(tomllib.loads(raw.decode("utf-8")))
    except (tomllib.TOMLDecodeError, ValidationError, UnicodeDecodeError) as exc:
        raise ListDefinitionError(f"lists.toml is not valid: {exc}") from exc
