"""The access log: one row per read of credit data or staff action, never updated."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import Base, utcnow


class AccessEvent(Base):
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
