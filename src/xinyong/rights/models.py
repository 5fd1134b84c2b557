"""Statements a subject attaches to items of its credit file (征信业管理条例 Art. 16)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import Base, utcnow


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
