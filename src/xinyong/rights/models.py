"""Subjects' rights over their credit file: statements on items (征信业管理条例 Art. 16),
disputes with their verification tasks, evidence and timeline (Art. 25; FCRA §1681i), the
holiday calendar their working-day deadlines are counted in, and credit repair applications
with their evidence files and timeline."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import AppendOnly, Base, utcnow


class SubjectStatement(Base):
    """A subject's own statement about one record; it stays with the record in reports.

    The text is personal data and is stored encrypted. A withdrawn statement keeps its row
    (``withdrawn_at``) so reports as of earlier dates still show it.
    """

    __tablename__ = "subject_statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("credit_records.id"), index=True)
    text_ct: Mapped[bytes] = mapped_column(LargeBinary)
    # subject (through the portal) | operator (on the subject's behalf)
    made_by: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)


# --- the holiday calendar ---------------------------------------------------------------------


class HolidayCalendar(Base):
    """One loaded year of a jurisdiction's holiday calendar (who loaded it, from what)."""

    __tablename__ = "holiday_calendars"
    __table_args__ = (UniqueConstraint("jurisdiction", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction: Mapped[str] = mapped_column(String(8))
    year: Mapped[int]
    days: Mapped[int]
    source_sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    loaded_by: Mapped[str] = mapped_column(String(200))


class HolidayCalendarDay(Base):
    """A day that differs from the Monday-to-Friday week: a holiday, or a weekend day that
    is a working day (a make-up working day, 调休)."""

    __tablename__ = "holiday_calendar_days"
    __table_args__ = (UniqueConstraint("jurisdiction", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("holiday_calendars.id"), index=True)
    jurisdiction: Mapped[str] = mapped_column(String(8))
    day: Mapped[date]
    # holiday | working_weekend
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(100), default=None)


# --- disputes ---------------------------------------------------------------------------------


class DisputeCase(Base):
    """A subject's dispute of one or more items of its credit file.

    The row holds the case's current state; every change is a :class:`DisputeEvent`
    (append-only) that bumps ``version``. The rules in force at filing (from the
    jurisdiction profile) are kept with the case in ``rules``: a case runs to its end under
    them even if the profile changes.
    """

    __tablename__ = "dispute_cases"
    __table_args__ = (
        Index("ix_dispute_cases_subject", "subject_id", "id"),
        Index("ix_dispute_cases_status_due", "status", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    # open | awaiting_furnisher | resolved | withdrawn
    status: Mapped[str] = mapped_column(String(24))
    # corrected | confirmed | deleted | unresolved | mixed (items ended differently)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    version: Mapped[int] = mapped_column(default=1)
    # subject | institution | operator
    filed_by: Mapped[str] = mapped_column(String(16))
    filed_by_institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institutions.id"), default=None
    )
    filed_by_label: Mapped[str] = mapped_column(String(200))
    reason_code: Mapped[str] = mapped_column(String(32))
    # The subject's account of what is wrong: personal data, encrypted.
    text_ct: Mapped[bytes] = mapped_column(LargeBinary)
    profile: Mapped[str] = mapped_column(String(8))
    profile_version: Mapped[str] = mapped_column(String(32))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The day the dispute was received, in the profile's time zone: periods count from it.
    filed_on: Mapped[date]
    notify_by: Mapped[date]
    original_due_on: Mapped[date]
    due_on: Mapped[date]
    extended_on: Mapped[date | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_on: Mapped[date | None] = mapped_column(default=None)
    resolved_on_time: Mapped[bool | None] = mapped_column(default=None)
    # The written answer to the subject (JSON {"zh-CN": …, "en": …}), encrypted.
    written_outcome_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)


class DisputeItem(Base):
    """One disputed record of a case, and the furnisher's verification task for it."""

    __tablename__ = "dispute_items"
    __table_args__ = (
        Index("ix_dispute_items_case", "case_id"),
        Index("ix_dispute_items_furnisher_status", "furnisher_id", "status"),
        Index("ix_dispute_items_record", "record_id"),
        # Set while the item is open, NULL once it ends: at most one open dispute per record
        # on both backends (NULLs never collide).
        UniqueConstraint("open_record_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("dispute_cases.id"))
    record_id: Mapped[int] = mapped_column(ForeignKey("credit_records.id"))
    open_record_id: Mapped[int | None] = mapped_column(
        ForeignKey("credit_records.id"), default=None
    )
    furnisher_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    # The record's version when the dispute was filed.
    disputed_version: Mapped[int]
    # pending (furnisher not yet notified) | open (awaiting its answer) | resolved | withdrawn
    status: Mapped[str] = mapped_column(String(16))
    # corrected | confirmed | deleted | unresolved
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    notified_at: Mapped[datetime | None] = mapped_column(default=None)
    notification_overdue_at: Mapped[datetime | None] = mapped_column(default=None)
    # furnisher (answered) | deadline (the profile's outcome applied) | operator
    resolved_by: Mapped[str | None] = mapped_column(String(16), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    # The record version the outcome wrote (a correction or a tombstone).
    resulting_version: Mapped[int | None] = mapped_column(default=None)
    # The furnisher's explanation, encrypted.
    answer_note_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    written_outcome_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)


class EvidenceFile:
    """The columns of an evidence file (PDF, PNG or JPEG), encrypted in the database.

    Shared by dispute and repair evidence (:mod:`xinyong.rights.evidence` checks, stores and
    reads them). ``sha256`` is of the plaintext: the subject can prove which file it gave.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    filename_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    content_ct: Mapped[bytes] = mapped_column(LargeBinary)
    # The role that uploaded it: subject | operator | querier
    uploaded_by: Mapped[str] = mapped_column(String(16))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class DisputeEvidence(EvidenceFile, Base):
    """A file supporting a dispute."""

    __tablename__ = "dispute_evidence"
    __table_args__ = (Index("ix_dispute_evidence_case", "case_id"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("dispute_cases.id"))


class DisputeEvent(AppendOnly, Base):
    """One change of a case: who (role, actor), when, what, why. The case's timeline."""

    __tablename__ = "dispute_events"
    __table_args__ = (Index("ix_dispute_events_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("dispute_cases.id"))
    # The case's version this event made.
    case_version: Mapped[int]
    item_id: Mapped[int | None] = mapped_column(ForeignKey("dispute_items.id"), default=None)
    event: Mapped[str] = mapped_column(String(32))
    # The case's status after the event.
    status: Mapped[str] = mapped_column(String(24))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    role: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), default=None)
    reason: Mapped[str | None] = mapped_column(String(500), default=None)
    # Free text that came with the change (information added, a furnisher's note): encrypted.
    note_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # Ids, codes and dates only.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# --- credit repair ----------------------------------------------------------------------------


class RepairCase(Base):
    """A subject's application to repair (信用修复) one list entry or one published penalty.

    The row holds the current state; every change is a :class:`RepairEvent` (append-only)
    that bumps ``version``. The repair rules in force on the filing day are kept in
    ``rules``; ``conditions`` is the latest automatic check (ids, codes and dates only).
    """

    __tablename__ = "repair_cases"
    __table_args__ = (
        Index("ix_repair_cases_subject", "subject_id", "id"),
        Index("ix_repair_cases_status", "status"),
        Index("ix_repair_cases_record", "record_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    # penalty | list_entry
    target_kind: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[int | None] = mapped_column(ForeignKey("credit_records.id"), default=None)
    list_entry_id: Mapped[int | None] = mapped_column(ForeignKey("list_entries.id"), default=None)
    # submitted | acknowledged | approved | rejected | appealed
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(default=1)
    # subject | operator
    filed_by: Mapped[str] = mapped_column(String(16))
    # The signed credit commitment and the references to evidence of performance given with
    # the application (text): personal data, encrypted. The evidence files are
    # :class:`RepairEvidence` rows.
    commitment_ct: Mapped[bytes] = mapped_column(LargeBinary)
    evidence_ct: Mapped[bytes] = mapped_column(LargeBinary)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    profile: Mapped[str] = mapped_column(String(8))
    profile_version: Mapped[str] = mapped_column(String(32))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    filed_on: Mapped[date]
    acknowledge_by: Mapped[date]
    acknowledged_on: Mapped[date | None] = mapped_column(default=None)
    decide_by: Mapped[date | None] = mapped_column(default=None)
    decided_on: Mapped[date | None] = mapped_column(default=None)
    # approved | rejected (the latest decision)
    decision: Mapped[str | None] = mapped_column(String(16), default=None)
    decision_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    appeals_used: Mapped[int] = mapped_column(default=0)
    acknowledgement_overdue_at: Mapped[datetime | None] = mapped_column(default=None)
    decision_overdue_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set on approval: from then the item is no longer published nor shared.
    repaired_at: Mapped[datetime | None] = mapped_column(default=None)


class RepairEvent(AppendOnly, Base):
    """One change of a repair case: who, when, what, why."""

    __tablename__ = "repair_events"
    __table_args__ = (Index("ix_repair_events_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("repair_cases.id"))
    case_version: Mapped[int]
    event: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    role: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(500), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RepairEvidence(EvidenceFile, Base):
    """A file showing that the obligations are performed (a payment receipt, a court's
    certificate…), uploaded to a repair case while it is open."""

    __tablename__ = "repair_evidence"
    __table_args__ = (Index("ix_repair_evidence_case", "case_id"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("repair_cases.id"))
