"""Credit records as versioned facts with provenance.

A :class:`CreditRecord` is the identity of one furnisher's record (its key); every fact
about it is a :class:`RecordVersion`. Versions are only ever inserted: a correction is a
new version, a deletion a tombstone version with a reason.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import Base, utcnow


class CreditRecord(Base):
    __tablename__ = "credit_records"
    __table_args__ = (UniqueConstraint("furnisher_id", "key_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    furnisher_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    record_type: Mapped[str] = mapped_column(String(64))
    # Blind index of (record_type, furnisher's record key): account numbers stay secret.
    key_index: Mapped[bytes] = mapped_column(LargeBinary(32))
    record_key_ct: Mapped[bytes] = mapped_column(LargeBinary)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecordVersion(Base):
    __tablename__ = "record_versions"
    __table_args__ = (
        UniqueConstraint("record_id", "version"),
        Index("ix_record_versions_batch_row", "batch_id", "batch_row"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("credit_records.id"))
    version: Mapped[int]
    # create | correct | delete | restore
    operation: Mapped[str] = mapped_column(String(16))
    # AES-GCM of the canonical JSON of the fields; None on a tombstone.
    content_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # SHA-256 of the canonical content (type, fields, valid time): equal hash, same fact.
    content_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    catalog_version: Mapped[str] = mapped_column(String(32))
    valid_from: Mapped[date]
    valid_to: Mapped[date | None] = mapped_column(default=None)
    furnisher_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("ingestion_batches.id"))
    batch_row: Mapped[int]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
