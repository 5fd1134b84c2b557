"""Audit routes: the access log, for auditors and operators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from xinyong.api.deps import DbSession, StaffReader
from xinyong.audit.schemas import AccessEventView, AuditEntryView
from xinyong.audit.service import list_access_events, list_audit_entries

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("/access-events", summary="Who read which credit data, newest first")
def read_access_events(
    session: DbSession,
    _: StaffReader,
    subject_id: int | None = None,
    record_id: int | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AccessEventView]:
    return list_access_events(
        session, subject_id=subject_id, record_id=record_id, offset=offset, limit=limit
    )


@router.get("/entries", summary="What platform staff did, when and why; newest first")
def read_audit_entries(
    session: DbSession,
    _: StaffReader,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryView]:
    return list_audit_entries(
        session,
        action=action,
        target_type=target_type,
        target_id=target_id,
        offset=offset,
        limit=limit,
    )
