"""Pydantic I/O of the rights domain."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from xinyong.reports.schemas import SubjectSelector


class StatementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_id: int
    text: str = Field(min_length=1, max_length=2000)


class StatementView(BaseModel):
    id: int
    record_id: int
    record_type: str
    text: str
    made_at: datetime
    made_by: str
    withdrawn_at: datetime | None


# --- disputes ---------------------------------------------------------------------------------


class DisputeReason(StrEnum):
    """Why the subject disputes an item (docs/disputes.md, "Reason codes")."""

    NOT_MINE = "not_mine"
    IDENTITY_THEFT = "identity_theft"
    WRONG_AMOUNT = "wrong_amount"
    WRONG_STATUS = "wrong_status"
    WRONG_DATES = "wrong_dates"
    PAID_OR_SETTLED = "paid_or_settled"
    DUPLICATE = "duplicate"
    OUTDATED = "outdated"
    NO_NOTICE_OR_CONSENT = "no_notice_or_consent"
    OTHER = "other"


# zh-CN and English words of each reason code.
DISPUTE_REASONS: dict[DisputeReason, tuple[str, str]] = {
    DisputeReason.NOT_MINE: ("非本人业务", "Not my account or record"),
    DisputeReason.IDENTITY_THEFT: ("身份被冒用", "Opened or used through identity theft"),
    DisputeReason.WRONG_AMOUNT: ("金额有误", "An amount (limit, balance, overdue) is wrong"),
    DisputeReason.WRONG_STATUS: ("状态或还款记录有误", "The status or repayment history is wrong"),
    DisputeReason.WRONG_DATES: ("日期有误", "A date is wrong"),
    DisputeReason.PAID_OR_SETTLED: ("已结清或已履行", "Paid, settled or performed, not shown"),
    DisputeReason.DUPLICATE: ("重复报送", "Reported more than once"),
    DisputeReason.OUTDATED: ("超过保存期限", "Older than the retention period allows"),
    DisputeReason.NO_NOTICE_OR_CONSENT: (
        "未经告知或同意采集",
        "Furnished without the notice or consent the law requires",
    ),
    DisputeReason.OTHER: ("其他", "Other"),
}


class Filer(StrEnum):
    SUBJECT = "subject"
    INSTITUTION = "institution"
    OPERATOR = "operator"


class CaseStatus(StrEnum):
    OPEN = "open"  # filed; a furnisher is not notified yet
    AWAITING_FURNISHER = "awaiting_furnisher"
    RESOLVED = "resolved"
    WITHDRAWN = "withdrawn"


class ItemStatus(StrEnum):
    PENDING = "pending"  # the furnisher is not notified yet
    OPEN = "open"  # the furnisher's verification task is open
    RESOLVED = "resolved"
    WITHDRAWN = "withdrawn"


class Outcome(StrEnum):
    CORRECTED = "corrected"
    CONFIRMED = "confirmed"
    DELETED = "deleted"
    UNRESOLVED = "unresolved"


class AnswerOutcome(StrEnum):
    CORRECTED = "corrected"
    CONFIRMED = "confirmed"
    DELETED = "deleted"


class TaskFilter(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    ALL = "all"


class DisputeFiling(BaseModel):
    """A dispute the subject files in the portal."""

    model_config = ConfigDict(extra="forbid")

    record_ids: list[int] = Field(min_length=1, max_length=20)
    reason_code: DisputeReason
    text: str = Field(min_length=1, max_length=4000, description="What is wrong, and why.")


class DisputeFilingOnBehalf(DisputeFiling):
    """A dispute an operator or institution files on the subject's behalf."""

    subject: SubjectSelector


class InformationAdded(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)


class Withdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


class TaskAnswer(BaseModel):
    """A furnisher's answer to a verification task.

    ``corrected``: either ``fields`` (the record's complete corrected fields, submitted as a
    new version through ingestion for you) or ``version`` (a correction you already
    submitted through ``POST /v1/ingestion/records`` or a batch). ``deleted``: a tombstone
    version is submitted through ingestion. ``confirmed``: the item stands as reported.
    """

    model_config = ConfigDict(extra="forbid")

    outcome: AnswerOutcome
    note: str | None = Field(
        default=None, max_length=2000, description="How the item was verified; the subject sees it."
    )
    fields: dict[str, Any] | None = None
    valid_from: date | None = Field(
        default=None, description="corrected with fields: default the disputed version's."
    )
    valid_to: date | None = None
    version: int | None = Field(default=None, ge=2)

    @model_validator(mode="after")
    def _check(self) -> TaskAnswer:
        correction = (self.fields is not None, self.version is not None)
        if self.outcome is AnswerOutcome.CORRECTED:
            if correction.count(True) != 1:
                raise ValueError("a correction gives either fields or version")
        elif any(correction) or self.valid_from or self.valid_to:
            raise ValueError(f"a {self.outcome.value} answer takes no fields, dates or version")
        return self


class EvidenceView(BaseModel):
    id: int
    filename: str | None
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class TimelineEntry(BaseModel):
    version: int
    occurred_at: datetime
    event: str
    status: CaseStatus
    item_id: int | None
    role: str
    institution_code: str | None
    actor: str | None = Field(description="The key or account that acted; staff see it.")
    reason: str | None
    note: str | None
    details: dict[str, Any]


class DisputeItemView(BaseModel):
    id: int = Field(description="The item's verification task id.")
    record_id: int
    record_type: str
    furnisher_code: str
    disputed_version: int
    status: ItemStatus
    outcome: Outcome | None
    notified_at: datetime | None
    notification_overdue: bool
    resolved_at: datetime | None
    resolved_by: str | None
    resulting_version: int | None
    answer_note: str | None
    written_outcome: dict[str, str] | None


class DisputeSummary(BaseModel):
    id: int
    subject_id: int
    status: CaseStatus
    outcome: str | None
    reason_code: DisputeReason
    filed_by: Filer
    filed_at: datetime
    due_on: date
    items: int
    resolved_on: date | None


class DisputeView(BaseModel):
    id: int
    subject_id: int
    status: CaseStatus
    outcome: str | None
    version: int
    filed_by: Filer
    filed_by_institution_code: str | None
    reason_code: DisputeReason
    text: str
    profile: str
    profile_version: str
    filed_at: datetime
    filed_on: date
    notify_by: date
    original_due_on: date
    due_on: date
    extended_on: date | None
    resolved_at: datetime | None
    resolved_on: date | None
    resolved_on_time: bool | None
    withdrawn_at: datetime | None
    written_outcome: dict[str, str] | None = Field(
        description="The written answer to the subject (zh-CN and en), once resolved."
    )
    items: list[DisputeItemView]
    evidence: list[EvidenceView]
    timeline: list[TimelineEntry]


class VerificationTaskView(BaseModel):
    """A furnisher's task: verify one disputed record and answer by ``due_on``."""

    id: int
    case_id: int
    subject_id: int
    record_id: int
    record_type: str
    record_key: str
    disputed_version: int
    reason_code: DisputeReason
    dispute_text: str
    information: list[str] = Field(description="What the subject added after filing.")
    evidence: list[EvidenceView]
    status: ItemStatus
    outcome: Outcome | None
    notified_at: datetime | None
    due_on: date
    overdue: bool
    resolved_at: datetime | None
    resulting_version: int | None


class DisputeKpis(BaseModel):
    """Service levels of disputes, computed from the cases."""

    as_of: date
    cases_filed: int
    cases_open: int
    open_on_time: int
    open_overdue: int
    resolved: int
    resolved_on_time: int
    resolved_late: int
    withdrawn: int
    items_by_outcome: dict[str, int]
    notification_overdue: int
    median_days_to_resolve: float | None


# --- the holiday calendar ---------------------------------------------------------------------


class CalendarDayView(BaseModel):
    day: date
    kind: str
    name: str | None


class CalendarYearView(BaseModel):
    jurisdiction: str
    year: int
    loaded_at: datetime
    loaded_by: str
    source_sha256: str
    days: list[CalendarDayView]


class CalendarLoadView(BaseModel):
    jurisdiction: str
    year: int
    holidays: int
    working_weekends: int
    replaced: bool
