"""Record routes: the full, versioned history of a record."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from xinyong.api.deps import DbSession, Furnisher, Keys, RecordReader
from xinyong.audit.schemas import AccessAction
from xinyong.audit.service import record_access
from xinyong.institutions.schemas import Principal, Role
from xinyong.records import service
from xinyong.records.schemas import RecordHistory

router = APIRouter(prefix="/v1/records", tags=["records"])


class RecordKeyLookup(BaseModel):
    record_type: str = Field(min_length=1, max_length=64)
    record_key: str = Field(min_length=1, max_length=128)


@router.get("/{record_id}", summary="A record with every version, oldest first")
def read_record(
    record_id: int, session: DbSession, keys: Keys, principal: RecordReader
) -> RecordHistory:
    record = service.get_record(session, record_id)
    # A furnisher sees its own records only; others' look like they do not exist.
    if principal.role is Role.FURNISHER and record.furnisher_id != principal.institution_id:
        raise service.RecordNotFoundError(f"record {record_id} does not exist")
    history = service.record_history(session, keys, record)
    _audit(session, principal, record.subject_id, record.id)
    return history


@router.post("/lookup", summary="Find one of your records by its record key")
def lookup_record(
    body: RecordKeyLookup, session: DbSession, keys: Keys, principal: Furnisher
) -> RecordHistory:
    assert principal.institution_id is not None
    record = service.find_record(
        session, keys, principal.institution_id, body.record_type, body.record_key
    )
    history = service.record_history(session, keys, record)
    _audit(session, principal, record.subject_id, record.id)
    return history


def _audit(session: DbSession, principal: Principal, subject_id: int, record_id: int) -> None:
    record_access(
        session,
        principal,
        AccessAction.RECORD_HISTORY_READ,
        subject_id=subject_id,
        record_id=record_id,
    )
