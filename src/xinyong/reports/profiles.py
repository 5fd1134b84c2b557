"""Jurisdiction profiles: the legal rules a report is made under, as data.

A profile (``data/profiles/<code>.toml``) says which purposes exist and who may use them,
when a query needs the subject's consent, how long items stay in a report, how many free
reports a subject gets, and the time limits and outcome of disputes. The platform runs
under one profile (``XINYONG_PROFILE``); every report names the profile and version it was
made under.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from xinyong.catalog.service import get_catalog
from xinyong.errors import ConfigurationError, NotFoundError
from xinyong.institutions.schemas import KNOWN_PURPOSES, Role


class ProfileDefinitionError(ConfigurationError):
    code = "profile_definition_error"
    title = "Jurisdiction profile definition error"


class UnknownProfileError(NotFoundError):
    code = "unknown_profile"
    title = "Unknown jurisdiction profile"


class ConsentRule(StrEnum):
    REQUIRED = "required"
    NOT_REQUIRED = "not_required"


class EvidenceKind(StrEnum):
    """How a consent is evidenced."""

    DOCUMENT_HASH = "document_hash"  # SHA-256 of the signed authorisation document
    SIGNED_STATEMENT = "signed_statement"  # the text the subject signed (kept encrypted)
    SUBJECT_PORTAL = "subject_portal"  # granted by the subject itself while signed in


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PurposeRule(_Strict):
    code: str
    name_en: str
    name_zh: str
    roles: tuple[Role, ...] = Field(min_length=1)
    consent: ConsentRule
    # "existing_customer": no consent needed when the institution itself furnishes a
    # current credit account of the subject.
    exemption: Literal["existing_customer"] | None = None
    requires_reference: bool = False
    # A served query for this purpose is a hard inquiry: the subject applied for credit or a
    # guarantee. Scores count hard inquiries; the subject's own and account-review queries
    # are soft and never lower a score.
    hard_inquiry: bool = False
    evidence_kinds: tuple[EvidenceKind, ...] = tuple(EvidenceKind)
    legal_basis: str

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh-CN" else self.name_en


class RetentionRule(_Strict):
    # None: kept while valid (public records).
    years: int | None = Field(default=None, ge=1, le=100)
    source: str


class ReportRules(_Strict):
    free_reports_per_year: int = Field(ge=0)
    free_reports_period: Literal["calendar_year", "rolling_12_months"]
    free_reports_source: str
    consent_max_days: int = Field(ge=1)
    public_enterprise_record_types: tuple[str, ...]


class DayType(StrEnum):
    """How a period's days are counted."""

    CALENDAR = "calendar"
    # Working days: Monday to Friday, minus the holidays and plus the make-up working
    # weekends (调休) of the holiday calendar the operator loads.
    WORKING = "working"


class DeadlineOutcome(StrEnum):
    """What happens to a disputed item the furnisher has not answered for by the deadline."""

    # The item cannot be verified and is deleted (FCRA §1681i(a)(5)(A)).
    DELETE = "delete"
    # The item stays, recorded as unresolved with the dispute text kept alongside
    # (征信业管理条例 Art. 25).
    UNRESOLVED = "unresolved"


class PeriodRule(_Strict):
    """A legal time limit: so many days from the day something was received."""

    days: int = Field(ge=1, le=366)
    day_type: DayType
    # True: the day of receipt is the period's first day ("the 30-day period beginning on
    # the date on which the agency receives the notice", FCRA); False: counting starts the
    # next day (民法典 Art. 201).
    counts_first_day: bool = False
    # A period of calendar days whose last day is not a working day ends on the next
    # working day (民法典 Art. 203).
    last_day_rolls_forward: bool = False
    source: str


class DisputeRules(_Strict):
    """The dispute rules in force from ``effective_from``."""

    effective_from: date
    # The holiday calendar working days are counted in (a jurisdiction code the operator
    # loads calendars for: `xinyong calendar load`).
    calendar: str = Field(pattern=r"^[a-z]{2,8}$")
    answer: PeriodRule
    # Added to the answer deadline, once, when the subject adds information before it.
    extension_on_new_information: PeriodRule | None = None
    furnisher_notice: PeriodRule
    outcome_at_deadline: DeadlineOutcome
    outcome_source: str


class RepairRules(_Strict):
    """Credit-repair (信用修复) rules in force from ``effective_from`` (RULES.md 12-13).

    Penalties' minimum publicity periods by severity are not repeated here: they are the
    lists' ``[publicity.penalties]`` data (xinyong.lists.definitions).
    """

    effective_from: date
    calendar: str = Field(pattern=r"^[a-z]{2,8}$")
    # Acknowledged (受理) within this period of the application's receipt.
    acknowledgement: PeriodRule
    # Decided within this period of the acknowledgement (or an appeal's receipt).
    decision: PeriodRule
    # List types whose entries may be repaired; court lists are removed by the courts.
    repairable_list_types: tuple[str, ...]
    court_list_types: tuple[str, ...] = ()
    court_list_source: str
    conditions_source: str
    # A rejection may be appealed this many times (a second decision by an operator).
    appeals: int = Field(default=1, ge=0, le=3)
    appeal_source: str
    free: bool = True
    free_source: str


class ProfileHeader(_Strict):
    code: str = Field(pattern=r"^[a-z]{2,8}$")
    version: str
    effective_from: date
    name_en: str
    name_zh: str
    timezone: str
    legal_basis: str


class JurisdictionProfile(_Strict):
    profile: ProfileHeader
    reports: ReportRules
    retention: dict[str, RetentionRule]
    purposes: tuple[PurposeRule, ...]
    # Dispute rules by effective date (the newest in force on a filing day applies).
    disputes: tuple[DisputeRules, ...] = Field(min_length=1)
    # Credit-repair rules by effective date; none where repair does not apply (us).
    repair: tuple[RepairRules, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> JurisdictionProfile:
        codes = [purpose.code for purpose in self.purposes]
        if len(set(codes)) != len(codes):
            raise ValueError("purpose codes must be unique")
        unknown = sorted(set(codes) - set(KNOWN_PURPOSES))
        if unknown:
            raise ValueError(f"unknown purposes {unknown}; known: {list(KNOWN_PURPOSES)}")
        catalog = get_catalog()
        missing = sorted(set(catalog.retention_rules) - set(self.retention))
        if missing:
            raise ValueError(f"no retention period for catalog rules {missing}")
        extra = sorted(set(self.retention) - set(catalog.retention_rules))
        if extra:
            raise ValueError(f"retention rules {extra} are not in the catalog")
        types = set(catalog.record_types)
        stray = sorted(set(self.reports.public_enterprise_record_types) - types)
        if stray:
            raise ValueError(f"public_enterprise_record_types names unknown types {stray}")
        try:
            ZoneInfo(self.profile.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {self.profile.timezone!r}") from exc
        starts = [rules.effective_from for rules in self.disputes]
        if starts != sorted(set(starts)):
            raise ValueError("dispute rules must have distinct effective_from dates, oldest first")
        starts = [rules.effective_from for rules in self.repair]
        if starts != sorted(set(starts)):
            raise ValueError("repair rules must have distinct effective_from dates, oldest first")
        return self

    @property
    def code(self) -> str:
        return self.profile.code

    @property
    def version(self) -> str:
        return self.profile.version

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.profile.timezone)

    @property
    def hard_inquiry_purposes(self) -> tuple[str, ...]:
        return tuple(purpose.code for purpose in self.purposes if purpose.hard_inquiry)

    def purpose(self, code: str) -> PurposeRule | None:
        for purpose in self.purposes:
            if purpose.code == code:
                return purpose
        return None

    def dispute_rules(self, day: date) -> DisputeRules:
        """The dispute rules in force on ``day``."""
        in_force = [rules for rules in self.disputes if rules.effective_from <= day]
        if not in_force:
            raise ProfileDefinitionError(
                f"profile {self.code} {self.version} has no dispute rules in force on "
                f"{day.isoformat()}"
            )
        return in_force[-1]

    def repair_rules(self, day: date) -> RepairRules | None:
        """The credit-repair rules in force on ``day``; None where repair does not apply."""
        in_force = [rules for rules in self.repair if rules.effective_from <= day]
        return in_force[-1] if in_force else None

    def end_of_day(self, day: date) -> datetime:
        """The first instant after ``day`` in the profile's timezone, in UTC (exclusive)."""
        return datetime.combine(day + timedelta(days=1), time(), self.zone).astimezone(UTC)

    def today(self, now: datetime | None = None) -> date:
        return (now or datetime.now(UTC)).astimezone(self.zone).date()


def _parse(content: bytes, source: str) -> JurisdictionProfile:
    try:
        data = tomllib.loads(content.decode("utf-8"))
        return JurisdictionProfile.model_validate(data)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ProfileDefinitionError(f"{source}: {exc}") from exc


def profile_codes() -> list[str]:
    """The codes of the packaged profiles."""
    folder = files("xinyong.reports") / "data" / "profiles"
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


@cache
def get_profile(code: str) -> JurisdictionProfile:
    """A packaged profile by code, loaded once per process."""
    if code not in profile_codes():
        raise UnknownProfileError(
            f"no jurisdiction profile {code!r}; available: {', '.join(profile_codes())}"
        )
    entry = files("xinyong.reports") / "data" / "profiles" / f"{code}.toml"
    profile = _parse(entry.read_bytes(), f"profile {code}")
    if profile.code != code:
        raise ProfileDefinitionError(f"profile file {code}.toml declares code {profile.code!r}")
    return profile


def load_profile(path: Path) -> JurisdictionProfile:
    """A profile from a file (for checking a new or changed profile before deploying it)."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ProfileDefinitionError(f"cannot read {path}: {exc.strerror}") from exc
    return _parse(content, str(path))
