"""A data subject's account and its login sessions.

An account is bound to exactly one subject. An operator creates it after checking the
subject's identity and hands over a one-time enrolment code; the subject then sets a
password (stored as an Argon2id hash). Only hashes of codes and session tokens are stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import Base, utcnow


class SubjectAccount(Base):
    __tablename__ = "subject_accounts"
    __table_args__ = (UniqueConstraint("subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    # pending (enrolment code issued) | active | disabled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    enrolment_code_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    enrolment_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)


class SubjectSession(Base):
    """A portal login: the bearer token ``xs_<token_id>_<secret>``; only its hash is kept."""

    __tablename__ = "subject_sessions"
    __table_args__ = (UniqueConstraint("token_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    account_id: Mapped[int] = mapped_column(ForeignKey("subject_accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
