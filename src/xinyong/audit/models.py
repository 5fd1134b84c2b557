"""The access log (every read of credit data) and the audit trail (every staff action).

Both are append-only: the application can add rows but never change or delete them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import AppendOnly, Base, utcnow


class AccessEvent(AppendOnly, Base):
    __tablename__ = "access_events"
    __table_args__ = (Index("ix_access_events_subject", "subject_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(64))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), default=None)
    role: Mapped[str] = mapped_column(String(16))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), default=None)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id"), default=None)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("credit_records.id"), default=None)
    # Non-identifying context only (counts, flags); never identifiers or record contents.
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AuditEntry(AppendOnly, Base):
    """One action by platform staff: who did what to which object, when and why."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    # e.g. institution.create, api_key.issue, subject_account.enrol, consent.revoke
    action: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), default=None)
    # "cli" for the local operator, else the key's label.
    actor: Mapped[str] = mapped_column(String(200))
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(1000), default=None)
    # Non-identifying context only, as for access events.
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
