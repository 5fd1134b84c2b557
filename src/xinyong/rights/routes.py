"""Subjects' rights: statements on items (portal), disputes (portal, institutions,
operators), furnishers' verification tasks, the holiday calendar (operators), and credit
repair (portal, operators) with its evidence files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response

from xinyong.api.deps import (
    DbSession,
    Furnisher,
    Keys,
    Operator,
    Profile,
    StaffReader,
    Subject,
    require_roles,
)
from xinyong.identity.crypto import KeyRing
from xinyong.identity.service import locate_subject
from xinyong.institutions.schemas import Principal, Role
from xinyong.rights import calendar, disputes, repair, service
from xinyong.rights import evidence as evidence_files
from xinyong.rights.models import EvidenceFile
from xinyong.rights.schemas import (
    CalendarDayView,
    CalendarLoadView,
    CalendarYearView,
    CaseStatus,
    DisputeFiling,
    DisputeFilingOnBehalf,
    DisputeKpis,
    DisputeSummary,
    DisputeView,
    EvidenceView,
    InformationAdded,
    StatementCreate,
    StatementView,
    TaskAnswer,
    TaskFilter,
    VerificationTaskView,
    Withdrawal,
)

router = APIRouter(prefix="/v1/portal/statements", tags=["portal"])


def _view(statement: service.StatementText) -> StatementView:
    return StatementView(**asdict(statement))


@router.get("", summary="Your statements on items of your credit file, newest first")
def read_statements(session: DbSession, keys: Keys, principal: Subject) -> list[StatementView]:
    assert principal.subject_id is not None
    return [_view(s) for s in service.list_statements(session, keys, principal.subject_id)]


@router.post("", status_code=201, summary="Attach a statement to an item of your credit file")
def create_statement(
    body: StatementCreate, session: DbSession, keys: Keys, principal: Subject
) -> StatementView:
    assert principal.subject_id is not None
    statement = service.add_statement(
        session, keys, principal.subject_id, body.record_id, body.text, made_by="subject"
    )
    return _view(service.view_statement(session, keys, statement))


@router.delete("/{statement_id}", summary="Withdraw a statement (earlier reports keep it)")
def withdraw_statement(
    statement_id: int, session: DbSession, keys: Keys, principal: Subject
) -> StatementView:
    assert principal.subject_id is not None
    statement = service.withdraw_statement(session, principal.subject_id, statement_id)
    return _view(service.view_statement(session, keys, statement))


# --- disputes ---------------------------------------------------------------------------------

disputes_router = APIRouter(tags=["disputes"])

Filer = Annotated[Principal, Depends(require_roles(Role.OPERATOR, Role.QUERIER))]
CaseReader = Annotated[
    Principal,
    Depends(require_roles(Role.OPERATOR, Role.AUDITOR, Role.QUERIER, Role.FURNISHER)),
]
CaseLister = Annotated[Principal, Depends(require_roles(Role.OPERATOR, Role.AUDITOR, Role.QUERIER))]

_EVIDENCE_BODY: dict[str, Any] = {
    "requestBody": {
        "description": "The file as the body (Content-Type application/pdf, image/png or "
        "image/jpeg), or a multipart form with a `file` part; at most 5 MiB.",
        "content": {
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}
_EVIDENCE_FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The evidence file as uploaded.",
        "content": {media: {} for media in evidence_files.EVIDENCE_TYPES},
    }
}


@dataclass(frozen=True)
class EvidenceUpload:
    # None: a multipart form without a `file` part (refused by the check).
    content: bytes | None
    content_type: str | None
    filename: str | None


async def _read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """At most ``limit + 1`` bytes: enough to know the upload is too large."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer.extend(chunk)
        if len(buffer) > limit:
            break
    return bytes(buffer[: limit + 1])


async def evidence_upload(
    request: Request,
    filename: Annotated[str | None, Query(max_length=200)] = None,
) -> EvidenceUpload:
    """The uploaded evidence file: the request body, or a multipart form's ``file`` part.

    Only read here (at most one byte more than allowed); the case's service checks it with
    :func:`xinyong.rights.evidence.check_file`.
    """
    limit = evidence_files.MAX_EVIDENCE_BYTES
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise evidence_files.too_large()
    content_type = request.headers.get("content-type")
    if content_type and content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return EvidenceUpload(None, None, filename)

        async def parts() -> AsyncIterator[bytes]:
            while block := await upload.read(1 << 16):
                yield block

        content = await _read_limited(parts(), limit)
        return EvidenceUpload(content, upload.content_type, filename or upload.filename)
    content = await _read_limited(request.stream(), limit)
    return EvidenceUpload(content, content_type, filename)


Upload = Annotated[EvidenceUpload, Depends(evidence_upload)]


def _evidence_response(
    session: DbSession, keys: KeyRing, principal: Principal, case_id: int, evidence_id: int
) -> Response:
    return _file_response(*disputes.read_evidence(session, keys, principal, case_id, evidence_id))


def _file_response(evidence: EvidenceFile, content: bytes, name: str | None) -> Response:
    """An evidence file as uploaded, never rendered inline."""
    headers = {
        "X-Content-SHA256": evidence.sha256,
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": "attachment" + (f"; filename*=UTF-8''{quote(name)}" if name else ""),
    }
    return Response(content, media_type=evidence.content_type, headers=headers)


# -- the subject's portal


@disputes_router.post(
    "/v1/portal/disputes",
    status_code=201,
    tags=["portal"],
    summary="Dispute items of your credit file; they are flagged in every report at once",
)
def file_own_dispute(
    body: DisputeFiling,
    session: DbSession,
    keys: Keys,
    profile: Profile,
    principal: Subject,
) -> DisputeView:
    assert principal.subject_id is not None
    case = disputes.file_dispute(session, keys, profile, principal, principal.subject_id, body)
    return disputes.view_case(session, keys, principal, case)


@disputes_router.get("/v1/portal/disputes", tags=["portal"], summary="Your disputes, newest first")
def read_own_disputes(
    session: DbSession,
    principal: Subject,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DisputeSummary]:
    return disputes.list_cases(session, subject_id=principal.subject_id, offset=offset, limit=limit)


@disputes_router.get(
    "/v1/portal/disputes/{case_id}",
    tags=["portal"],
    summary="One of your disputes: items, outcomes, the written answer and the timeline",
)
def read_own_dispute(
    case_id: int, session: DbSession, keys: Keys, principal: Subject
) -> DisputeView:
    case = disputes.case_for(session, principal, case_id)
    return disputes.view_case(session, keys, principal, case)


@disputes_router.post(
    "/v1/portal/disputes/{case_id}/evidence",
    status_code=201,
    tags=["portal"],
    summary="Add an evidence file (PDF, PNG or JPEG, at most 5 MiB) to your dispute",
    openapi_extra=_EVIDENCE_BODY,
)
def add_own_evidence(
    case_id: int, session: DbSession, keys: Keys, principal: Subject, upload: Upload
) -> EvidenceView:
    return _add_evidence(session, keys, principal, case_id, upload)


@disputes_router.get(
    "/v1/portal/disputes/{case_id}/evidence/{evidence_id}",
    tags=["portal"],
    summary="An evidence file of your dispute",
    response_class=Response,
    responses=_EVIDENCE_FILE,
)
def read_own_evidence(
    case_id: int, evidence_id: int, session: DbSession, keys: Keys, principal: Subject
) -> Response:
    return _evidence_response(session, keys, principal, case_id, evidence_id)


@disputes_router.post(
    "/v1/portal/disputes/{case_id}/information",
    tags=["portal"],
    summary="Add information to your open dispute (us: extends the deadline once by 15 days)",
)
def add_own_information(
    case_id: int, body: InformationAdded, session: DbSession, keys: Keys, principal: Subject
) -> DisputeView:
    case = disputes.add_information(session, keys, principal, case_id, body.text)
    return disputes.view_case(session, keys, principal, case)


@disputes_router.post(
    "/v1/portal/disputes/{case_id}/withdrawal",
    tags=["portal"],
    summary="Withdraw your open dispute; its flags go",
)
def withdraw_own_dispute(
    case_id: int, body: Withdrawal, session: DbSession, keys: Keys, principal: Subject
) -> DisputeView:
    case = disputes.withdraw_dispute(session, principal, case_id, body.reason)
    return disputes.view_case(session, keys, principal, case)


# -- institutions and operators


def _add_evidence(
    session: DbSession, keys: KeyRing, principal: Principal, case_id: int, upload: EvidenceUpload
) -> EvidenceView:
    evidence = disputes.add_evidence(
        session,
        keys,
        principal,
        case_id,
        content=upload.content,
        content_type=upload.content_type,
        filename=upload.filename,
    )
    case = disputes.get_case(session, case_id)
    view = disputes.view_case(session, keys, principal, case)
    return next(entry for entry in view.evidence if entry.id == evidence.id)


@disputes_router.post(
    "/v1/disputes",
    status_code=201,
    summary="File a dispute on a subject's behalf (operators; institutions with its consent)",
)
def file_dispute_on_behalf(
    body: DisputeFilingOnBehalf,
    session: DbSession,
    keys: Keys,
    profile: Profile,
    principal: Filer,
) -> DisputeView:
    subject = locate_subject(
        session,
        keys,
        subject_id=body.subject.subject_id,
        id_type=body.subject.identifier_type,
        identifier=body.subject.identifier,
    )
    case = disputes.file_dispute(session, keys, profile, principal, subject.id, body)
    return disputes.view_case(session, keys, principal, case)


@disputes_router.get(
    "/v1/disputes",
    summary="Disputes, newest first (an institution: those it filed)",
)
def read_disputes(
    session: DbSession,
    principal: CaseLister,
    subject_id: int | None = None,
    status: CaseStatus | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DisputeSummary]:
    # An institution sees the cases it filed; staff see all.
    institution_id = principal.institution_id if principal.role is Role.QUERIER else None
    return disputes.list_cases(
        session,
        subject_id=subject_id,
        filed_by_institution_id=institution_id,
        status=status,
        offset=offset,
        limit=limit,
    )


@disputes_router.get(
    "/v1/disputes/kpis",
    summary="Dispute service levels: open, on time, overdue, outcomes, median days to resolve",
)
def read_dispute_kpis(
    session: DbSession,
    profile: Profile,
    _: StaffReader,
    filed_from: date | None = None,
    filed_to: date | None = None,
) -> DisputeKpis:
    return disputes.dispute_kpis(session, profile.today(), filed_from=filed_from, filed_to=filed_to)


@disputes_router.get(
    "/v1/disputes/{case_id}",
    summary="One dispute with its timeline (a furnisher sees its own items)",
)
def read_dispute(
    case_id: int, session: DbSession, keys: Keys, principal: CaseReader
) -> DisputeView:
    case = disputes.case_for(session, principal, case_id)
    return disputes.view_case(session, keys, principal, case)


@disputes_router.post(
    "/v1/disputes/{case_id}/evidence",
    status_code=201,
    summary="Add an evidence file to a dispute you filed (PDF, PNG or JPEG, at most 5 MiB)",
    openapi_extra=_EVIDENCE_BODY,
)
def add_evidence(
    case_id: int, session: DbSession, keys: Keys, principal: Filer, upload: Upload
) -> EvidenceView:
    return _add_evidence(session, keys, principal, case_id, upload)


@disputes_router.get(
    "/v1/disputes/{case_id}/evidence/{evidence_id}",
    summary="An evidence file of a dispute (read recorded)",
    response_class=Response,
    responses=_EVIDENCE_FILE,
)
def read_evidence(
    case_id: int, evidence_id: int, session: DbSession, keys: Keys, principal: CaseReader
) -> Response:
    return _evidence_response(session, keys, principal, case_id, evidence_id)


@disputes_router.post(
    "/v1/disputes/{case_id}/information",
    summary="Add the subject's information to a dispute you filed",
)
def add_information(
    case_id: int, body: InformationAdded, session: DbSession, keys: Keys, principal: Filer
) -> DisputeView:
    case = disputes.add_information(session, keys, principal, case_id, body.text)
    return disputes.view_case(session, keys, principal, case)


@disputes_router.post(
    "/v1/disputes/{case_id}/withdrawal",
    summary="Withdraw a dispute you filed (operators: any) on the subject's word",
)
def withdraw_dispute(
    case_id: int, body: Withdrawal, session: DbSession, keys: Keys, principal: Filer
) -> DisputeView:
    case = disputes.withdraw_dispute(session, principal, case_id, body.reason)
    return disputes.view_case(session, keys, principal, case)


# -- furnishers


@disputes_router.get(
    "/v1/verification-tasks",
    tags=["verification"],
    summary="Your verification tasks (open by default), earliest due first",
)
def read_tasks(
    session: DbSession,
    keys: Keys,
    principal: Furnisher,
    status: TaskFilter = TaskFilter.OPEN,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[VerificationTaskView]:
    assert principal.institution_id is not None  # furnisher keys have one
    return disputes.list_tasks(
        session, keys, principal.institution_id, status=status, offset=offset, limit=limit
    )


@disputes_router.get(
    "/v1/verification-tasks/{task_id}", tags=["verification"], summary="One verification task"
)
def read_task(
    task_id: int, session: DbSession, keys: Keys, principal: Furnisher
) -> VerificationTaskView:
    return disputes.view_task(session, keys, principal, task_id)


@disputes_router.post(
    "/v1/verification-tasks/{task_id}/answer",
    tags=["verification"],
    summary="Answer a verification task: corrected, confirmed or deleted",
    responses={
        409: {"description": "The task is closed, or the correction changes nothing."},
        422: {"description": "The corrected record was rejected; the problem lists why."},
    },
)
def answer_task(
    task_id: int, body: TaskAnswer, session: DbSession, keys: Keys, principal: Furnisher
) -> VerificationTaskView:
    disputes.answer_task(session, keys, principal, task_id, body)
    return disputes.view_task(session, keys, principal, task_id)


# -- the holiday calendar


async def calendar_upload(request: Request) -> bytes:
    return await _read_limited(request.stream(), calendar.MAX_CALENDAR_BYTES)


@disputes_router.post(
    "/v1/holiday-calendars",
    status_code=201,
    tags=["calendar"],
    summary="Load holiday calendar years from CSV (date,kind[,name][,jurisdiction])",
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
def load_calendar(
    session: DbSession,
    principal: Operator,
    content: Annotated[bytes, Depends(calendar_upload)],
    jurisdiction: Annotated[str | None, Query(pattern=r"^[a-z]{2,8}$")] = None,
) -> list[CalendarLoadView]:
    days = calendar.parse_calendar_csv(content, jurisdiction)
    loaded = calendar.load_calendar(session, principal, days, content)
    return [CalendarLoadView(**asdict(year)) for year in loaded]


@disputes_router.get(
    "/v1/holiday-calendars",
    tags=["calendar"],
    summary="Loaded holiday calendar years and their days",
)
def read_calendars(
    session: DbSession,
    _: StaffReader,
    jurisdiction: Annotated[str | None, Query(pattern=r"^[a-z]{2,8}$")] = None,
    year: Annotated[int | None, Query(ge=1900, le=2999)] = None,
) -> list[CalendarYearView]:
    return [
        CalendarYearView(
            jurisdiction=loaded.jurisdiction,
            year=loaded.year,
            loaded_at=loaded.loaded_at,
            loaded_by=loaded.loaded_by,
            source_sha256=loaded.source_sha256,
            days=[CalendarDayView(day=d.day, kind=d.kind, name=d.name) for d in days],
        )
        for loaded, days in calendar.list_calendars(session, jurisdiction, year)
    ]


# --- credit repair ----------------------------------------------------------------------------

repair_router = APIRouter(tags=["repair"])


@repair_router.post(
    "/v1/portal/repairs",
    status_code=201,
    tags=["portal"],
    summary="Apply to repair a list entry or a published penalty of yours (free)",
)
def apply_own_repair(
    body: repair.RepairApplication,
    session: DbSession,
    keys: Keys,
    profile: Profile,
    principal: Subject,
) -> repair.RepairView:
    assert principal.subject_id is not None
    case = repair.apply_for_repair(session, keys, profile, principal, principal.subject_id, body)
    return repair.view_case(session, keys, principal, case)


@repair_router.get(
    "/v1/portal/repairs", tags=["portal"], summary="Your repair applications, newest first"
)
def read_own_repairs(
    session: DbSession,
    keys: Keys,
    principal: Subject,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[repair.RepairView]:
    return repair.list_cases(
        session, keys, principal, subject_id=principal.subject_id, offset=offset, limit=limit
    )


@repair_router.get(
    "/v1/portal/repairs/{case_id}",
    tags=["portal"],
    summary="One of your repair applications: conditions, decision and timeline",
)
def read_own_repair(
    case_id: int, session: DbSession, keys: Keys, principal: Subject
) -> repair.RepairView:
    return repair.view_case(session, keys, principal, repair.case_for(session, principal, case_id))


@repair_router.post(
    "/v1/portal/repairs/{case_id}/appeal",
    tags=["portal"],
    summary="Appeal a rejected repair application (once)",
)
def appeal_own_repair(
    case_id: int, body: repair.RepairAppeal, session: DbSession, keys: Keys, principal: Subject
) -> repair.RepairView:
    case = repair.appeal(session, principal, case_id, body)
    return repair.view_case(session, keys, principal, case)


@repair_router.post(
    "/v1/repairs", status_code=201, summary="Apply for repair on a subject's behalf (operators)"
)
def apply_repair_on_behalf(
    body: repair.RepairApplicationOnBehalf,
    session: DbSession,
    keys: Keys,
    profile: Profile,
    principal: Operator,
) -> repair.RepairView:
    application = repair.RepairApplication.model_validate(body.model_dump(exclude={"subject_id"}))
    case = repair.apply_for_repair(session, keys, profile, principal, body.subject_id, application)
    return repair.view_case(session, keys, principal, case)


@repair_router.get("/v1/repairs", summary="Repair applications, newest first (staff)")
def read_repairs(
    session: DbSession,
    keys: Keys,
    principal: StaffReader,
    subject_id: int | None = None,
    status: repair.RepairStatus | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[repair.RepairView]:
    return repair.list_cases(
        session,
        keys,
        principal,
        subject_id=subject_id,
        status=status,
        offset=offset,
        limit=limit,
    )


@repair_router.get(
    "/v1/repairs/kpis",
    summary="Repair service levels: open, awaiting, overdue, approved, rejected, appealed",
)
def read_repair_kpis(session: DbSession, profile: Profile, _: StaffReader) -> repair.RepairKpis:
    return repair.repair_kpis(session, profile.today())


@repair_router.get("/v1/repairs/{case_id}", summary="One repair application with its timeline")
def read_repair(
    case_id: int, session: DbSession, keys: Keys, principal: StaffReader
) -> repair.RepairView:
    return repair.view_case(session, keys, principal, repair.get_case(session, case_id))


@repair_router.post(
    "/v1/repairs/{case_id}/acknowledge",
    summary="Acknowledge (受理) a repair application; the decision period starts",
)
def acknowledge_repair(
    case_id: int, session: DbSession, keys: Keys, principal: Operator
) -> repair.RepairView:
    case = repair.acknowledge(session, principal, case_id)
    return repair.view_case(session, keys, principal, case)


@repair_router.post(
    "/v1/repairs/{case_id}/decide",
    summary="Approve (the item is repaired) or reject a repair application, with a reason",
)
def decide_repair(
    case_id: int,
    body: repair.RepairDecision,
    session: DbSession,
    keys: Keys,
    principal: Operator,
) -> repair.RepairView:
    case = repair.decide(session, keys, principal, case_id, body)
    return repair.view_case(session, keys, principal, case)


@repair_router.post(
    "/v1/repairs/{case_id}/appeal",
    summary="Appeal a rejection on the subject's behalf (once)",
)
def appeal_repair(
    case_id: int, body: repair.RepairAppeal, session: DbSession, keys: Keys, principal: Operator
) -> repair.RepairView:
    case = repair.appeal(session, principal, case_id, body)
    return repair.view_case(session, keys, principal, case)


@repair_router.post(
    "/v1/repairs/{case_id}/appeal-decision",
    summary="Decide an appeal against a rejection (the second and last decision)",
)
def decide_repair_appeal(
    case_id: int,
    body: repair.RepairDecision,
    session: DbSession,
    keys: Keys,
    principal: Operator,
) -> repair.RepairView:
    case = repair.decide_appeal(session, keys, principal, case_id, body)
    return repair.view_case(session, keys, principal, case)


# -- repair evidence files


def _add_repair_evidence(
    session: DbSession, keys: KeyRing, principal: Principal, case_id: int, upload: EvidenceUpload
) -> EvidenceView:
    evidence = repair.add_evidence(
        session,
        keys,
        principal,
        case_id,
        content=upload.content,
        content_type=upload.content_type,
        filename=upload.filename,
    )
    return repair.evidence_view(session, keys, principal, case_id, evidence.id)


@repair_router.post(
    "/v1/portal/repairs/{case_id}/evidence",
    status_code=201,
    tags=["portal"],
    summary="Add a file showing your obligations are performed (PDF, PNG or JPEG, at most "
    "5 MiB) to your open repair application",
    openapi_extra=_EVIDENCE_BODY,
)
def add_own_repair_evidence(
    case_id: int, session: DbSession, keys: Keys, principal: Subject, upload: Upload
) -> EvidenceView:
    return _add_repair_evidence(session, keys, principal, case_id, upload)


@repair_router.get(
    "/v1/portal/repairs/{case_id}/evidence/{evidence_id}",
    tags=["portal"],
    summary="An evidence file of your repair application",
    response_class=Response,
    responses=_EVIDENCE_FILE,
)
def read_own_repair_evidence(
    case_id: int, evidence_id: int, session: DbSession, keys: Keys, principal: Subject
) -> Response:
    return _file_response(*repair.read_evidence(session, keys, principal, case_id, evidence_id))


@repair_router.post(
    "/v1/repairs/{case_id}/evidence",
    status_code=201,
    summary="Add an evidence file to an open repair application on the subject's behalf "
    "(PDF, PNG or JPEG, at most 5 MiB)",
    openapi_extra=_EVIDENCE_BODY,
)
def add_repair_evidence(
    case_id: int, session: DbSession, keys: Keys, principal: Operator, upload: Upload
) -> EvidenceView:
    return _add_repair_evidence(session, keys, principal, case_id, upload)


@repair_router.get(
    "/v1/repairs/{case_id}/evidence/{evidence_id}",
    summary="An evidence file of a repair application (read recorded)",
    response_class=Response,
    responses=_EVIDENCE_FILE,
)
def read_repair_evidence(
    case_id: int, evidence_id: int, session: DbSession, keys: Keys, principal: Operator
) -> Response:
    return _file_response(*repair.read_evidence(session, keys, principal, case_id, evidence_id))
