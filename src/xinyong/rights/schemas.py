"""Pydantic I/O of the rights domain."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class StatementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_id: int
    text: str = Field(min_length=1, max_length=2000)


class StatementView(BaseModel):
    id: int
    record_id: int
    record_type: str
    text: str
    made_at: datetime
    made_by: str
    withdrawn_at: datetime | None
