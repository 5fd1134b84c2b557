"""Pydantic I/O models of the audit domain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel


class AccessAction(StrEnum):
    SUBJECT_LOOKUP = "subject.lookup"
    SUBJECT_READ = "subject.read"
    SUBJECT_RECORDS_READ = "subject.records.read"
    RECORD_HISTORY_READ = "record.history.read"
    IDENTIFIER_REVEALED = "subject.identifier.revealed"


class AccessEventView(BaseModel):
    id: int
    occurred_at: datetime
    action: str
    api_key_id: int | None
    role: str
    institution_id: int | None
    subject_id: int | None
    record_id: int | None
    details: dict[str, Any]
