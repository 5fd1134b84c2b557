"""Pydantic I/O models of the identity domain."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from xinyong.identity.identifiers import IdentifierType, SubjectKind


class SubjectLookup(BaseModel):
    """Find a subject by identifier (sent in a body, never in a URL that gets logged)."""

    id_type: IdentifierType
    identifier: str = Field(min_length=1, max_length=64)


class SubjectView(BaseModel):
    id: int
    kind: SubjectKind
    id_type: IdentifierType
    identifier: str = Field(description="Masked unless the caller's role may see it whole.")
    identifier_masked: bool
    name: str | None
    name_en: str | None
    created_at: datetime
