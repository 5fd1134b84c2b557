"""Request-scoped dependencies: the database session, the keys and the caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from xinyong.accounts.service import SUBJECT_TOKEN_PREFIX, authenticate_subject
from xinyong.config import Settings
from xinyong.errors import AuthenticationError, PermissionDeniedError
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.schemas import Principal, Role
from xinyong.institutions.service import authenticate
from xinyong.reports.profiles import JurisdictionProfile, get_profile

_bearer = HTTPBearer(
    auto_error=False,
    description="`Authorization: Bearer xy_…` (API key) or `Bearer xs_…` (portal session)",
)
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


class WrongRoleError(PermissionDeniedError):
    code = "role_not_permitted"
    title = "Your role may not do this"


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; committed when the handler succeeds, else rolled back."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# Dependencies that only read app state are coroutines: FastAPI runs a plain function
# dependency in the thread pool, and each hop there costs more than the work itself.
async def get_keys(request: Request) -> KeyRing:
    keys: KeyRing = request.app.state.keys
    return keys


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


DbSession = Annotated[Session, Depends(get_session)]
Keys = Annotated[KeyRing, Depends(get_keys)]
AppSettings = Annotated[Settings, Depends(get_settings_dep)]
SessionFactory = Annotated[sessionmaker[Session], Depends(get_factory)]


async def current_profile(settings: AppSettings) -> JurisdictionProfile:
    """The jurisdiction profile the platform runs under (``XINYONG_PROFILE``)."""
    return get_profile(settings.profile)


Profile = Annotated[JurisdictionProfile, Depends(current_profile)]


NO_KEY = "an API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"


def _presented(bearer: HTTPAuthorizationCredentials | None, header_key: str | None) -> str:
    presented = bearer.credentials if bearer is not None else header_key
    if not presented:
        raise AuthenticationError(NO_KEY)
    return presented


def authenticate_presented(session: Session, presented: str) -> Principal:
    """An API key, or a token starting ``xs_``: a data subject's portal session."""
    if presented.startswith(SUBJECT_TOKEN_PREFIX):
        return authenticate_subject(session, presented)
    return authenticate(session, presented)


def get_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key_header)],
) -> Principal:
    """Authenticate the caller by API key (Bearer token or X-API-Key header).

    A token starting ``xs_`` is a data subject's portal session instead of an API key.
    """
    presented = _presented(bearer, header_key)
    factory: sessionmaker[Session] = request.app.state.session_factory
    # A short session of its own: authentication must not share the handler's transaction
    # (a handler may open transactions of its own, e.g. a batch's chunks). The busiest
    # routes authenticate in their own transaction instead (xinyong.api.onehop).
    with factory() as session:
        principal = authenticate_presented(session, presented)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def refuse_role(principal: Principal, allowed: frozenset[Role]) -> None:
    if principal.role not in allowed:
        raise WrongRoleError(
            f"the {principal.role.value} role may not do this; "
            f"allowed: {', '.join(sorted(r.value for r in allowed))}",
            role=principal.role.value,
            allowed_roles=sorted(r.value for r in allowed),
        )


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting only callers with one of ``roles``."""
    allowed = frozenset(roles)

    async def dependency(principal: CurrentPrincipal) -> Principal:
        refuse_role(principal, allowed)
        return principal

    return dependency


Operator = Annotated[Principal, Depends(require_roles(Role.OPERATOR))]
StaffReader = Annotated[Principal, Depends(require_roles(Role.OPERATOR, Role.AUDITOR))]
Furnisher = Annotated[Principal, Depends(require_roles(Role.FURNISHER))]
RecordReader = Annotated[
    Principal, Depends(require_roles(Role.OPERATOR, Role.AUDITOR, Role.FURNISHER))
]
AnyPrincipal = CurrentPrincipal
# A data subject signed in to the portal; ``principal.subject_id`` is the only subject whose
# data such a route may return.
Subject = Annotated[Principal, Depends(require_roles(Role.SUBJECT))]
