"""Pydantic I/O models of the records domain."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field


class RecordVersionView(BaseModel):
    version: int
    operation: str = Field(description="create, correct, delete (tombstone) or restore.")
    fields: dict[str, Any] | None = Field(description="The record's fields; null on a tombstone.")
    valid_from: date
    valid_to: date | None
    content_hash: str = Field(description="SHA-256 of the canonical content, hex.")
    catalog_version: str
    furnisher_id: int
    batch_id: int
    batch_row: int
    received_at: datetime
    reason: str | None


class RecordView(BaseModel):
    id: int
    record_type: str
    record_key: str
    furnisher_id: int
    subject_id: int
    created_at: datetime
    current_version: int
    deleted: bool


class RecordHistory(RecordView):
    versions: list[RecordVersionView]


class RecordSummary(RecordView):
    fields: dict[str, Any] | None
    valid_from: date
