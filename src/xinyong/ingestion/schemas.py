"""Pydantic I/O models of the ingestion domain."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, computed_field


class RejectionView(BaseModel):
    row_number: int = Field(
        description="1-based: the line for JSON Lines, the data row after the header for CSV."
    )
    field: str | None = Field(description="The offending field; null for a whole-row problem.")
    code: str
    message: str


class AcceptedRowView(BaseModel):
    row_number: int
    record_id: int
    version: int
    outcome: str = Field(description="create, correct, delete, restore or unchanged.")


class BatchCounts(BaseModel):
    created: int
    corrected: int
    deleted: int
    unchanged: int
    rejected: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def accepted(self) -> int:
        return self.created + self.corrected + self.deleted + self.unchanged

    @computed_field  # type: ignore[prop-decorator]
    @property
    def processed(self) -> int:
        return self.accepted + self.rejected


class BatchResult(BaseModel):
    id: int
    furnisher_id: int
    idempotency_key: str
    status: str = Field(description="processing (resumable), or completed.")
    source: str
    file_format: str
    filename: str | None
    record_type: str | None
    content_sha256: str
    rows: BatchCounts
    created_at: datetime
    completed_at: datetime | None
    replayed: bool = Field(
        description="True when this idempotency key had already completed: nothing was applied."
    )
    rejections: list[RejectionView] = Field(description="The first rejection reasons.")
    rejections_truncated: bool
