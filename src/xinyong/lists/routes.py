"""Lists over HTTP: definitions, entries (operators), restriction and eligibility checks, and
public disclosure (no login)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status

from xinyong.api.deps import AnyPrincipal, DbSession, Keys, Operator, StaffReader
from xinyong.api.onehop import Caller, SingleWriteRoute, caller
from xinyong.db import utcnow
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.schemas import Role
from xinyong.lists import public, service
from xinyong.lists.definitions import get_definitions
from xinyong.lists.schemas import (
    BindingCreate,
    BindingView,
    CheckDecision,
    CheckRequest,
    EntryCreate,
    EntryEnd,
    EntryExtend,
    EntryStatus,
    ListEntryDetail,
    ListEntryView,
)
from xinyong.reports.schemas import Channel
from xinyong.reports.service import resolve_selector, resolve_selector_key

router = APIRouter(tags=["lists"])


@router.get("/v1/list-definitions", summary="List types, measures, memoranda and score tiers")
def read_definitions(_: AnyPrincipal) -> dict[str, Any]:
    return get_definitions().model_dump(mode="json")


@router.get("/v1/list-entries", summary="List entries, newest first (staff)")
def read_entries(
    session: DbSession,
    _: StaffReader,
    subject_id: int | None = None,
    list_type: str | None = None,
    entry_status: Annotated[EntryStatus | None, Query(alias="status")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ListEntryView]:
    return service.list_entries(
        session,
        subject_id=subject_id,
        list_type=list_type,
        status=entry_status,
        offset=offset,
        limit=limit,
    )


@router.post(
    "/v1/list-entries",
    status_code=status.HTTP_201_CREATED,
    summary="Put a subject on a list, with the decision behind it and a reason (operators)",
)
def create_entry(
    body: EntryCreate, session: DbSession, keys: Keys, principal: Operator
) -> ListEntryDetail:
    subject = resolve_selector(session, keys, body.subject)
    entry = service.create_entry(session, principal, subject, body)
    return service.entry_detail(session, entry, utcnow().date())


@router.get("/v1/list-entries/{entry_id}", summary="One entry with its history and bindings")
def read_entry(entry_id: int, session: DbSession, _: StaffReader) -> ListEntryDetail:
    return service.entry_detail(session, service.get_entry(session, entry_id), utcnow().date())


@router.post("/v1/list-entries/{entry_id}/extend", summary="Extend an entry's term")
def extend_entry(
    entry_id: int, body: EntryExtend, session: DbSession, principal: Operator
) -> ListEntryDetail:
    entry = service.extend_entry(session, principal, entry_id, body.months, body.reason)
    return service.entry_detail(session, entry, utcnow().date())


@router.post("/v1/list-entries/{entry_id}/end", summary="Remove an entry or mark it repaired")
def end_entry(
    entry_id: int, body: EntryEnd, session: DbSession, principal: Operator
) -> ListEntryDetail:
    entry = service.end_entry(session, principal, entry_id, body.status, body.reason, body.on)
    return service.entry_detail(session, entry, utcnow().date())


@router.post(
    "/v1/list-entries/{entry_id}/bindings",
    status_code=status.HTTP_201_CREATED,
    summary="Bind an organisation's entry to its legal representative or actual controller",
)
def add_binding(
    entry_id: int, body: BindingCreate, session: DbSession, keys: Keys, principal: Operator
) -> BindingView:
    person = resolve_selector(session, keys, body.subject)
    binding = service.add_binding(session, principal, entry_id, person, body.role, body.reason)
    return BindingView(
        id=binding.id,
        entry_id=binding.entry_id,
        subject_id=binding.subject_id,
        role=body.role,
        created_at=binding.created_at,
        created_by=binding.created_by,
    )


Checker = Annotated[Caller, caller(Role.QUERIER, Role.OPERATOR)]


def _check(caller: Caller, keys: KeyRing, body: CheckRequest, eligibility: bool) -> Response:
    """One check in the request's session: subject, decision, query record.

    The decision is built and validated by the service; it is sent as JSON as it is, not
    validated again as a response model.
    """
    session = caller.session
    subject = resolve_selector_key(session, keys, body.subject)
    if eligibility:
        decision = service.check_eligibility(session, keys, subject, body.measure)
    else:
        decision = service.check_restriction(session, subject, body.measure)
    recorded = service.record_check(
        session,
        caller.principal,
        subject,
        decision,
        channel=Channel.API,
        operator_user=body.operator_user,
    )
    return Response(recorded.model_dump_json(), media_type="application/json")


# The checks are the platform's busiest routes: each is served in one thread hop, the caller
# authenticated in the session the check then works in; its one write is the query record
# (xinyong.api.onehop).
checks_router = APIRouter(tags=["lists"], route_class=SingleWriteRoute)


@checks_router.post(
    "/v1/checks/restriction",
    summary="May the subject be served under a measure, or which restrictions apply?",
    response_model=CheckDecision,
)
def check_restriction(request: Request, body: CheckRequest, checker: Checker) -> Response:
    return _check(checker, request.app.state.keys, body, False)


@checks_router.post(
    "/v1/checks/eligibility",
    summary="Is the subject eligible for an incentive, or which incentives apply?",
    response_model=CheckDecision,
)
def check_eligibility(request: Request, body: CheckRequest, checker: Checker) -> Response:
    return _check(checker, request.app.state.keys, body, True)


# --- public disclosure (no login) ----------------------------------------------------------------
# Anyone may read these: no API key, no session (docs/lists.md, "Public disclosure"). Rate
# limiting belongs to the reverse proxy in front of the platform.

public_router = APIRouter(tags=["public"])


@public_router.get(
    "/v1/public/enterprises",
    summary="Find organisations by Unified Social Credit Code or by name (public)",
)
def search_public_enterprises(
    session: DbSession,
    keys: Keys,
    q: Annotated[
        str,
        Query(
            min_length=public.MIN_QUERY_CHARS,
            max_length=public.MAX_QUERY_CHARS,
            description="A USCC (exact), or at least two characters of the name.",
        ),
    ],
    offset: Annotated[int, Query(ge=0, le=public.MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=public.MAX_PAGE)] = 20,
) -> public.EnterpriseSearch:
    return public.search_enterprises(session, keys, q, offset=offset, limit=limit)


@public_router.get(
    "/v1/public/enterprises/{uscc}",
    summary="An organisation's licences, penalties and list entries in publicity (public)",
)
def read_public_enterprise(
    uscc: Annotated[str, Path(pattern=r"^\s*[0-9A-Za-z]{18}\s*$")],
    session: DbSession,
    keys: Keys,
) -> public.EnterpriseProfile:
    return public.enterprise_profile(session, keys, uscc)


@public_router.get(
    "/v1/public/dishonest-debtors",
    summary="Active court-list entries of a Resident ID or USCC, masked (public)",
)
def read_public_dishonest_debtors(
    session: DbSession,
    keys: Keys,
    identifier: Annotated[
        str,
        Query(min_length=1, max_length=40, description="An exact Resident ID or USCC."),
    ],
) -> public.DishonestDebtorAnswer:
    return public.dishonest_debtors(session, keys, identifier)
