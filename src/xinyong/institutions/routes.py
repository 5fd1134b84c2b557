"""Institution and API-key routes."""

from __future__ import annotations

from fastapi import APIRouter, status

from xinyong.api.deps import AnyPrincipal, DbSession, Keys, Operator, StaffReader
from xinyong.errors import PermissionDeniedError
from xinyong.institutions import service
from xinyong.institutions.schemas import (
    ApiKeyCreate,
    ApiKeyView,
    InstitutionCreate,
    InstitutionView,
    IssuedApiKey,
    Principal,
    Role,
)

router = APIRouter(prefix="/v1", tags=["institutions"])


@router.get("/me", summary="Who the API key belongs to")
def whoami(principal: AnyPrincipal) -> Principal:
    return principal


@router.post(
    "/institutions", status_code=status.HTTP_201_CREATED, summary="Register an institution"
)
def create_institution(
    body: InstitutionCreate, session: DbSession, keys: Keys, principal: Operator
) -> InstitutionView:
    institution = service.create_institution(session, keys, body, actor=principal)
    return service.view_institution(keys, institution)


@router.get("/institutions", summary="List institutions")
def list_institutions(session: DbSession, keys: Keys, _: StaffReader) -> list[InstitutionView]:
    return [service.view_institution(keys, i) for i in service.list_institutions(session)]


@router.get("/institutions/{institution_id}", summary="One institution")
def read_institution(
    institution_id: int, session: DbSession, keys: Keys, principal: AnyPrincipal
) -> InstitutionView:
    if principal.role not in (Role.OPERATOR, Role.AUDITOR) and (
        principal.institution_id != institution_id
    ):
        raise PermissionDeniedError("an institution may read only its own registration")
    return service.view_institution(keys, service.get_institution(session, institution_id))


@router.post(
    "/institutions/{institution_id}/api-keys",
    status_code=status.HTTP_201_CREATED,
    summary="Issue an API key to an institution (shown once)",
)
def issue_institution_key(
    institution_id: int, body: ApiKeyCreate, session: DbSession, principal: Operator
) -> IssuedApiKey:
    institution = service.get_institution(session, institution_id)
    return service.issue_api_key(session, body.role, institution, body.label, actor=principal)


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a staff (operator or auditor) API key (shown once)",
)
def issue_staff_key(body: ApiKeyCreate, session: DbSession, principal: Operator) -> IssuedApiKey:
    return service.issue_api_key(session, body.role, None, body.label, actor=principal)


@router.get("/api-keys", summary="List API keys (never the keys themselves)")
def list_keys(
    session: DbSession, _: Operator, institution_id: int | None = None
) -> list[ApiKeyView]:
    return [service.view_api_key(k) for k in service.list_api_keys(session, institution_id)]


@router.delete("/api-keys/{key_id}", summary="Revoke an API key")
def revoke_key(key_id: str, session: DbSession, principal: Operator) -> ApiKeyView:
    return service.view_api_key(service.revoke_api_key(session, key_id, actor=principal))
