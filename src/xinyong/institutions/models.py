"""Institutions (furnishers and querying institutions) and API credentials."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import Base, utcnow


class Institution(Base):
    """An organisation that furnishes records, queries them, or both.

    Its Unified Social Credit Code is encrypted like any identifier; ``uscc_index`` is its
    blind index.
    """

    __tablename__ = "institutions"
    __table_args__ = (UniqueConstraint("code"), UniqueConstraint("uscc_index"))

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200), default=None)
    kind: Mapped[str] = mapped_column(String(32))
    uscc_ct: Mapped[bytes] = mapped_column(LargeBinary)
    uscc_index: Mapped[bytes] = mapped_column(LargeBinary(32))
    is_furnisher: Mapped[bool] = mapped_column(default=False)
    is_querier: Mapped[bool] = mapped_column(default=False)
    permitted_record_types: Mapped[list[str]] = mapped_column(default=list)
    permitted_purposes: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """An API key. Only its SHA-256 is stored; the key itself is shown once.

    Operator and auditor keys belong to platform staff and have no institution.
    """

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("key_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    role: Mapped[str] = mapped_column(String(16))
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institutions.id"), default=None, index=True
    )
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
