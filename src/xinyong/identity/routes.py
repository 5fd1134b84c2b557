"""Subject routes: lookup by identifier, masked views, a subject's records."""

from __future__ import annotations

from fastapi import APIRouter

from xinyong.api.deps import DbSession, Keys, StaffReader
from xinyong.audit.schemas import AccessAction
from xinyong.audit.service import record_subject_read
from xinyong.errors import PermissionDeniedError
from xinyong.identity import service
from xinyong.identity.schemas import SubjectLookup, SubjectView
from xinyong.institutions.schemas import Principal, Role
from xinyong.records.schemas import RecordSummary
from xinyong.records.service import subject_records

router = APIRouter(prefix="/v1/subjects", tags=["subjects"])


class RevealNotPermittedError(PermissionDeniedError):
    code = "reveal_not_permitted"
    title = "Your role may not see identifiers unmasked"


def _may_reveal(principal: Principal, reveal: bool) -> bool:
    if reveal and principal.role is not Role.OPERATOR:
        raise RevealNotPermittedError("only an operator may see identifiers unmasked")
    return reveal


@router.post("/lookup", summary="Find a subject by identifier")
def lookup_subject(
    body: SubjectLookup,
    session: DbSession,
    keys: Keys,
    principal: StaffReader,
    reveal: bool = False,
) -> SubjectView:
    ref = service.subject_ref(keys, body.id_type, body.identifier)
    subject = service.find_subject(session, ref)
    view = service.view_subject(keys, subject, reveal=_may_reveal(principal, reveal))
    record_subject_read(
        session, principal, AccessAction.SUBJECT_LOOKUP, subject.id, revealed=reveal
    )
    return view


@router.get("/{subject_id}", summary="One subject (identifier masked by default)")
def read_subject(
    subject_id: int, session: DbSession, keys: Keys, principal: StaffReader, reveal: bool = False
) -> SubjectView:
    subject = service.get_subject(session, subject_id)
    view = service.view_subject(keys, subject, reveal=_may_reveal(principal, reveal))
    record_subject_read(session, principal, AccessAction.SUBJECT_READ, subject.id, revealed=reveal)
    return view


@router.get("/{subject_id}/records", summary="The current version of each record of a subject")
def read_subject_records(
    subject_id: int,
    session: DbSession,
    keys: Keys,
    principal: StaffReader,
    include_deleted: bool = False,
) -> list[RecordSummary]:
    service.get_subject(session, subject_id)
    records = subject_records(session, keys, subject_id, include_deleted=include_deleted)
    record_subject_read(
        session,
        principal,
        AccessAction.SUBJECT_RECORDS_READ,
        subject_id,
        details={"records": len(records), "include_deleted": include_deleted},
    )
    return records
