"""Subject-account routes: enrolment by operators, and the portal's sign-in.

``POST /v1/portal/enrolment`` and ``POST /v1/portal/sessions`` are deliberately public:
they are how a data subject without a session gets one.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from xinyong.accounts import service
from xinyong.accounts.schemas import (
    ActivationRequest,
    DisableRequest,
    EnrolmentRequest,
    IssuedEnrolment,
    IssuedSession,
    LoginRequest,
    PortalMe,
    SubjectAccountView,
)
from xinyong.api.deps import AppSettings, DbSession, Keys, Operator, StaffReader, Subject
from xinyong.identity.service import locate_subject

router = APIRouter(prefix="/v1")


def _no_store(response: Response) -> None:
    # Codes and tokens are shown once: no cache may keep a copy.
    response.headers["Cache-Control"] = "no-store"


@router.post(
    "/subject-accounts/enrolments",
    status_code=status.HTTP_201_CREATED,
    tags=["subject accounts"],
    summary="Enrol a subject after an identity check; returns a one-time code (shown once)",
)
def enrol(
    body: EnrolmentRequest,
    response: Response,
    session: DbSession,
    keys: Keys,
    principal: Operator,
) -> IssuedEnrolment:
    subject_id = locate_subject(
        session,
        keys,
        subject_id=body.subject_id,
        id_type=body.identifier_type,
        identifier=body.identifier,
    ).id
    _no_store(response)
    return service.enrol_subject(session, principal, subject_id, reason=body.reason)


@router.get(
    "/subject-accounts/{account_id}",
    tags=["subject accounts"],
    summary="One subject account's state",
)
def read_account(account_id: int, session: DbSession, _: StaffReader) -> SubjectAccountView:
    return service.view_account(service.get_account(session, account_id))


@router.post(
    "/subject-accounts/{account_id}/disable",
    tags=["subject accounts"],
    summary="Disable a subject account and end its sessions",
)
def disable(
    account_id: int, body: DisableRequest, session: DbSession, principal: Operator
) -> SubjectAccountView:
    return service.view_account(
        service.disable_account(session, principal, account_id, body.reason)
    )


@router.post(
    "/portal/enrolment",
    tags=["portal"],
    summary="Complete enrolment: the one-time code and a new password (public)",
)
def activate(body: ActivationRequest, session: DbSession, keys: Keys) -> SubjectAccountView:
    account = service.activate_account(
        session, keys, body.identifier_type, body.identifier, body.enrolment_code, body.password
    )
    return service.view_account(account)


@router.post(
    "/portal/sessions",
    status_code=status.HTTP_201_CREATED,
    tags=["portal"],
    summary="Sign in with identifier and password; returns a session token (public)",
)
def sign_in(
    body: LoginRequest, response: Response, session: DbSession, keys: Keys, settings: AppSettings
) -> IssuedSession:
    try:
        issued = service.login(
            session, keys, settings, body.identifier_type, body.identifier, body.password
        )
    except service.LoginRefusedError:
        # The failure count (and a lock) must outlive the refusal.
        session.commit()
        raise
    _no_store(response)
    return issued


@router.delete(
    "/portal/sessions/current",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["portal"],
    summary="Sign out: end the session this token belongs to",
)
def sign_out(session: DbSession, principal: Subject) -> None:
    service.logout(session, principal)


@router.get("/portal/me", tags=["portal"], summary="The signed-in subject (identifier masked)")
def me(session: DbSession, keys: Keys, principal: Subject) -> PortalMe:
    return service.view_me(session, keys, principal)
