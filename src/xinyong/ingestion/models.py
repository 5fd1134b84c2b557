"""Ingestion batches, their checkpoints and their rejected rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import Base, utcnow


class IngestionBatch(Base):
    """One submission of rows by a furnisher.

    ``next_row`` is the checkpoint: rows before it are committed, together with the
    checkpoint itself, so a retry resumes exactly where a crash stopped.
    """

    __tablename__ = "ingestion_batches"
    __table_args__ = (UniqueConstraint("furnisher_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    furnisher_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))
    file_format: Mapped[str] = mapped_column(String(8))
    filename: Mapped[str | None] = mapped_column(String(300), default=None)
    default_record_type: Mapped[str | None] = mapped_column(String(64), default=None)
    content_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="processing")
    next_row: Mapped[int] = mapped_column(default=1)
    rows_created: Mapped[int] = mapped_column(default=0)
    rows_corrected: Mapped[int] = mapped_column(default=0)
    rows_deleted: Mapped[int] = mapped_column(default=0)
    rows_unchanged: Mapped[int] = mapped_column(default=0)
    rows_rejected: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class BatchRejection(Base):
    """One reason a row was rejected; a row with three bad fields has three of these."""

    __tablename__ = "batch_rejections"
    __table_args__ = (Index("ix_batch_rejections_batch_row", "batch_id", "row_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("ingestion_batches.id"))
    row_number: Mapped[int]
    field: Mapped[str | None] = mapped_column(String(100), default=None)
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)


class BatchUnchangedRow(Base):
    """An accepted row that repeated the record's current fact and so wrote no version."""

    __tablename__ = "batch_unchanged_rows"
    __table_args__ = (Index("ix_batch_unchanged_rows_batch_row", "batch_id", "row_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("ingestion_batches.id"))
    row_number: Mapped[int]
    record_id: Mapped[int] = mapped_column(ForeignKey("credit_records.id"), index=True)
    version: Mapped[int]
