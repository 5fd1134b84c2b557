"""Pydantic I/O of the lists domain: entries, their history, bindings and check decisions."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from xinyong.lists.definitions import BindingRole
from xinyong.reports.schemas import SubjectSelector


class EntryStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REMOVED = "removed"
    REPAIRED = "repaired"
    ESCALATED = "escalated"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EntryCreate(_In):
    """An entry an operator makes, with the decision behind it and a reason."""

    subject: SubjectSelector
    list_type: str = Field(min_length=1, max_length=64)
    ground: str = Field(min_length=1, max_length=64)
    authority: str = Field(min_length=1, max_length=200)
    reference: str | None = Field(default=None, max_length=200)
    start_date: date | None = Field(default=None, description="Default: today.")
    planned_end_date: date | None = Field(
        default=None, description="Default: the list's term from the start (or none)."
    )
    reason: str = Field(min_length=1, max_length=1000)


class EntryExtend(_In):
    months: int = Field(ge=1, le=120)
    reason: str = Field(min_length=1, max_length=1000)


class EntryEnd(_In):
    status: Literal["removed", "repaired"]
    reason: str = Field(min_length=1, max_length=1000)
    on: date | None = Field(default=None, description="Default: today.")


class BindingCreate(_In):
    subject: SubjectSelector
    role: BindingRole
    reason: str = Field(min_length=1, max_length=1000)


class ListEntryView(BaseModel):
    id: int
    list_type: str
    polarity: Literal["negative", "positive"]
    subject_id: int
    status: EntryStatus = Field(description="As of today: an entry past its term is expired.")
    ground: str
    authority: str
    reference: str | None
    source: str
    record_id: int | None
    start_date: date
    planned_end_date: date | None = Field(description="None: until the obligation is performed.")
    ended_on: date | None
    end_reason: str | None


class ListEntryEventView(BaseModel):
    id: int
    event: str
    status: EntryStatus
    occurred_at: datetime
    actor: str
    role: str
    reason: str | None
    details: dict[str, object]


class BindingView(BaseModel):
    id: int
    entry_id: int
    subject_id: int
    role: BindingRole
    created_at: datetime
    created_by: str


class ListEntryDetail(ListEntryView):
    events: list[ListEntryEventView]
    bindings: list[BindingView]


class CheckRequest(_In):
    subject: SubjectSelector
    measure: str | None = Field(
        default=None, max_length=64, description="One measure; leave out for all that apply."
    )
    operator_user: str | None = Field(default=None, max_length=100)


class EntryRef(BaseModel):
    entry_id: int
    list_type: str
    list_name_zh: str
    list_name_en: str
    ground: str
    authority: str
    reference: str | None
    start_date: date
    planned_end_date: date | None
    # Set when the entry is an organisation's and binds this subject in that role.
    bound_as: BindingRole | None = None
    listed_subject_id: int


class ScoreTier(BaseModel):
    """An incentive earned by score: the tier, never the score itself."""

    min_score: float
    scored_on: date
    model_name: str
    model_version: int


class AppliedMeasure(BaseModel):
    measure: str
    kind: Literal["restriction", "incentive"]
    name_zh: str
    name_en: str
    legal_basis: str
    applying_body: str
    memorandum: str | None
    memorandum_source: str | None
    entries: list[EntryRef]
    score_tier: ScoreTier | None = None
    until: date | None = Field(
        description="When the last entry behind it ends; None while an entry lasts until "
        "performance."
    )


class CheckDecision(BaseModel):
    check: Literal["restriction", "eligibility"]
    subject_id: int
    as_of: date
    measure: str | None
    # restriction: may the subject be served (under the measure)? eligibility: is it eligible?
    allowed: bool
    measures: list[AppliedMeasure]
    # Eligibility only: active negative entries that bar every incentive.
    blocking_entries: list[EntryRef] = Field(default_factory=list)
    definitions_version: str
    query_record_id: int | None = None
