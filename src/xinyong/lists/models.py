"""List entries, their history, and the persons an organisation's entry binds.

An entry's row holds its current state; every change of it is a :class:`ListEntryEvent`
(append-only), so an entry's whole history can be shown and proved.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import AppendOnly, Base, utcnow


class ListEntry(Base):
    __tablename__ = "list_entries"
    __table_args__ = (
        Index("ix_list_entries_subject", "subject_id", "status"),
        Index("ix_list_entries_status_end", "status", "planned_end_date"),
        # One entry per furnisher record and list: re-submissions update it.
        UniqueConstraint("list_type", "record_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    # active | expired | removed | repaired | escalated
    status: Mapped[str] = mapped_column(String(16))
    ground: Mapped[str] = mapped_column(String(64))
    authority: Mapped[str] = mapped_column(String(200))
    # The public decision behind the entry (a court case number, a decision number).
    reference: Mapped[str | None] = mapped_column(String(200), default=None)
    # record (a furnisher's record) | operator | escalation
    source: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[int | None] = mapped_column(ForeignKey("credit_records.id"), default=None)
    escalated_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("list_entries.id"), default=None
    )
    start_date: Mapped[date]
    # None: until the obligation is performed.
    planned_end_date: Mapped[date | None] = mapped_column(default=None)
    ended_on: Mapped[date | None] = mapped_column(default=None)
    end_reason: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ListEntryEvent(AppendOnly, Base):
    """One change of an entry: created, extended, expired, removed, repaired, escalated."""

    __tablename__ = "list_entry_events"
    __table_args__ = (Index("ix_list_entry_events_entry", "entry_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("list_entries.id"))
    event: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(1000), default=None)
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class EntryBinding(Base):
    """A person an organisation's entry also binds: its legal representative or controller."""

    __tablename__ = "list_entry_bindings"
    __table_args__ = (
        UniqueConstraint("entry_id", "subject_id", "role"),
        Index("ix_list_entry_bindings_subject", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("list_entries.id"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    # legal_representative | actual_controller
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(1000))
