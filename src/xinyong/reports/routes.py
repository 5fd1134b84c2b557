"""Report, consent, query-record and profile routes; the subject's own view in the portal."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse

from xinyong.api.deps import (
    AnyPrincipal,
    AppSettings,
    DbSession,
    Keys,
    Profile,
    SessionFactory,
    Subject,
    require_roles,
)
from xinyong.api.onehop import Caller, OneHopRoute, caller
from xinyong.config import Settings
from xinyong.identity.service import get_subject
from xinyong.institutions.schemas import Principal, Role
from xinyong.reports import consent as consents
from xinyong.reports import service
from xinyong.reports.jsonschema import report_json_schema
from xinyong.reports.profiles import get_profile
from xinyong.reports.render import render_html, render_pdf
from xinyong.reports.schemas import (
    Channel,
    ConsentCreate,
    ConsentGrant,
    ConsentRevoke,
    ConsentView,
    Lang,
    QueryRecordView,
    ReportFormat,
    ReportRequest,
    ReportVerification,
)

router = APIRouter(tags=["reports"])

Querier = Annotated[Principal, Depends(require_roles(Role.QUERIER))]
ReportReader = Annotated[Principal, Depends(require_roles(Role.QUERIER, Role.OPERATOR))]
ConsentReader = Annotated[
    Principal, Depends(require_roles(Role.QUERIER, Role.OPERATOR, Role.AUDITOR))
]
ConsentRevoker = Annotated[Principal, Depends(require_roles(Role.QUERIER, Role.OPERATOR))]
QueryRecordReader = Annotated[
    Principal, Depends(require_roles(Role.QUERIER, Role.OPERATOR, Role.AUDITOR))
]


_REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report as JSON (schema 1.2), HTML or PDF, as `format` asks.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/CreditReport"}},
            "text/html": {},
            "application/pdf": {},
        },
    }
}


def report_response(
    result: service.IssuedReportResult, report_format: ReportFormat, settings: Settings
) -> Response:
    """The report in the requested format, with its id and digest in headers."""
    report = result.report
    headers = {"X-Report-Id": report.report_id, "X-Report-Digest": report.digest.value}
    if report_format is ReportFormat.HTML:
        return HTMLResponse(render_html(report), headers=headers)
    if report_format is ReportFormat.PDF:
        headers["Content-Disposition"] = f'attachment; filename="{report.report_id}.pdf"'
        return Response(
            render_pdf(report, font_file=settings.report_font_file),
            media_type="application/pdf",
            headers=headers,
        )
    # The canonical JSON the digest was computed with (keys sorted, no spaces): serialised
    # once for both.
    return Response(result.canonical, media_type="application/json", headers=headers)


# --- profiles ---------------------------------------------------------------------------------


@router.get(
    "/v1/profiles/current",
    tags=["profiles"],
    summary="The jurisdiction profile in force: purposes, consent, retention, free reports",
)
def read_current_profile(profile: Profile, _: AnyPrincipal) -> dict[str, Any]:
    return profile.model_dump(mode="json")


# --- reports ----------------------------------------------------------------------------------


ReportCaller = Annotated[Caller, caller(Role.QUERIER, Role.OPERATOR)]
# The report is the platform's main product and one of its busiest routes: it is served in
# one thread hop, the caller authenticated in the session the report, its query record and
# the issued-report entry are then written and committed in (xinyong.api.onehop).
reports_router = APIRouter(tags=["reports"], route_class=OneHopRoute)


@reports_router.post(
    "/v1/reports",
    summary="Query a credit report for a stated purpose (consent checked, query recorded)",
    response_class=Response,
    responses=_REPORT_RESPONSES,
)
def create_report(request: Request, body: ReportRequest, caller: ReportCaller) -> Response:
    state = request.app.state
    settings: Settings = state.settings
    session = caller.session
    subject = service.resolve_selector(session, state.keys, body.subject)
    result = service.request_report(
        session,
        state.session_factory,
        state.keys,
        caller.principal,
        get_profile(settings.profile),
        subject,
        service.QueryRequest(
            purpose=body.purpose,
            as_of=body.as_of,
            consent_id=body.consent_id,
            reference=body.reference,
            operator_user=body.operator_user,
        ),
        channel=Channel.API,
        lang=body.lang,
        reveal=body.reveal,
    )
    return report_response(result, body.format, settings)


@router.get(
    "/v1/reports/schema",
    summary="The JSON Schema of the credit report (version 1.2)",
)
def read_report_schema(_: AnyPrincipal) -> dict[str, Any]:
    return report_json_schema()


@router.get(
    "/v1/reports/{report_id}/verification",
    summary="Check a printed or saved report: was it issued with this digest? (public)",
)
def verify_report(
    report_id: str,
    session: DbSession,
    digest: Annotated[str, Query(min_length=64, max_length=64, pattern=r"^[0-9a-fA-F]{64}$")],
) -> ReportVerification:
    return service.verify_report(session, report_id, digest)


# --- query records ----------------------------------------------------------------------------


@router.get(
    "/v1/query-records",
    summary="Who queried which credit file, why and with what outcome; newest first",
)
def read_query_records(
    session: DbSession,
    principal: QueryRecordReader,
    subject_id: int | None = None,
    institution_id: int | None = None,
    outcome: Annotated[str | None, Query(pattern="^(served|refused)$")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[QueryRecordView]:
    if principal.role is Role.QUERIER:
        # An institution sees its own queries only.
        institution_id = principal.institution_id
    return service.list_query_records(
        session,
        subject_id=subject_id,
        institution_id=institution_id,
        outcome=outcome,
        offset=offset,
        limit=limit,
    )


# --- consents ---------------------------------------------------------------------------------


@router.post(
    "/v1/consents",
    status_code=201,
    tags=["consents"],
    summary="Record a consent your institution obtained from a subject, with its evidence",
)
def create_consent(
    body: ConsentCreate,
    session: DbSession,
    keys: Keys,
    profile: Profile,
    principal: Querier,
) -> ConsentView:
    subject = service.resolve_selector(session, keys, body.subject)
    consent = consents.record_consent(session, keys, principal, profile, subject, body)
    return consents.view_consent(session, consent)


@router.get("/v1/consents", tags=["consents"], summary="Consents, newest first")
def read_consents(
    session: DbSession,
    principal: ConsentReader,
    subject_id: int | None = None,
    institution_id: int | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ConsentView]:
    if principal.role is Role.QUERIER:
        institution_id = principal.institution_id
    found = consents.list_consents(
        session,
        subject_id=subject_id,
        institution_id=institution_id,
        offset=offset,
        limit=limit,
    )
    return [consents.view_consent(session, consent) for consent in found]


@router.get("/v1/consents/{consent_id}", tags=["consents"], summary="One consent")
def read_consent(consent_id: int, session: DbSession, principal: ConsentReader) -> ConsentView:
    return consents.view_consent(session, consents.get_consent_for(session, principal, consent_id))


@router.post(
    "/v1/consents/{consent_id}/revocation",
    tags=["consents"],
    summary="Revoke a consent from now on (your institution's, or any as an operator)",
)
def revoke_consent(
    consent_id: int, body: ConsentRevoke, session: DbSession, principal: ConsentRevoker
) -> ConsentView:
    consent = consents.revoke_consent(session, principal, consent_id, body.reason)
    return consents.view_consent(session, consent)


# --- the subject's own view (portal) ------------------------------------------------------------


@router.get(
    "/v1/portal/report",
    tags=["portal"],
    summary="Your own credit report (counted against your free reports)",
    response_class=Response,
    responses=_REPORT_RESPONSES,
)
def read_own_report(
    session: DbSession,
    factory: SessionFactory,
    keys: Keys,
    profile: Profile,
    settings: AppSettings,
    principal: Subject,
    report_format: Annotated[ReportFormat, Query(alias="format")] = ReportFormat.JSON,
    lang: Lang = Lang.ZH_CN,
    as_of: date | None = None,
) -> Response:
    assert principal.subject_id is not None
    subject = get_subject(session, principal.subject_id)
    result = service.request_report(
        session,
        factory,
        keys,
        principal,
        profile,
        subject,
        service.QueryRequest(purpose="subject_request", as_of=as_of),
        channel=Channel.PORTAL,
        lang=lang,
    )
    return report_response(result, report_format, settings)


@router.get(
    "/v1/portal/query-records",
    tags=["portal"],
    summary="Who queried your credit file, when and why",
)
def read_own_query_records(
    session: DbSession,
    principal: Subject,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[QueryRecordView]:
    return service.list_query_records(
        session, subject_id=principal.subject_id, offset=offset, limit=limit
    )


@router.get("/v1/portal/consents", tags=["portal"], summary="The consents you have given")
def read_own_consents(
    session: DbSession,
    principal: Subject,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ConsentView]:
    found = consents.list_consents(
        session, subject_id=principal.subject_id, offset=offset, limit=limit
    )
    return [consents.view_consent(session, consent) for consent in found]


@router.post(
    "/v1/portal/consents",
    status_code=201,
    tags=["portal"],
    summary="Grant an institution consent to query you",
)
def grant_consent(
    body: ConsentGrant,
    session: DbSession,
    keys: Keys,
    profile: Profile,
    principal: Subject,
) -> ConsentView:
    consent = consents.grant_consent(session, keys, principal, profile, body)
    return consents.view_consent(session, consent)


@router.post(
    "/v1/portal/consents/{consent_id}/revocation",
    tags=["portal"],
    summary="Revoke a consent you gave",
)
def revoke_own_consent(
    consent_id: int, body: ConsentRevoke, session: DbSession, principal: Subject
) -> ConsentView:
    consent = consents.revoke_consent(session, principal, consent_id, body.reason)
    return consents.view_consent(session, consent)
