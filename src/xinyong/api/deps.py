"""Request-scoped dependencies: the database session, the keys and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from typing import Annotated, ParamSpec, TypeVar

from anyio import CapacityLimiter, to_thread
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


def _presented(bearer: HTTPAuthorizationCredentials | None, header_key: str | None) -> str:
    presented = bearer.credentials if bearer is not None else header_key
    if not presented:
        raise AuthenticationError(
            "an API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
        )
    return presented


def _authenticate(session: Session, presented: str) -> Principal:
    """An API key, or a token starting ``xs_``: a data subject's portal session."""
    if presented.startswith(SUBJECT_TOKEN_PREFIX):
        return authenticate_subject(session, presented)
    return authenticate(session, presented)


# Set by routes that do their work in the session their caller was authenticated in.
_KEEP_AUTH_SESSION = "xinyong_keep_auth_session"
_AUTH_SESSION = "xinyong_auth_session"


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
    if getattr(request.state, _KEEP_AUTH_SESSION, False):
        # A route using :func:`authorized`: the session, its transaction begun by the
        # authentication, becomes the request's (the dependency closes it).
        session = factory()
        try:
            principal = _authenticate(session, presented)
        except BaseException:
            _discard(session)
            raise
        setattr(request.state, _AUTH_SESSION, session)
    else:
        # A short session of its own: authentication must not share the handler's
        # transaction (a handler may open transactions of its own, e.g. a batch's chunks).
        with factory() as session:
            principal = _authenticate(session, presented)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def _refuse_role(principal: Principal, allowed: frozenset[Role]) -> None:
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
        _refuse_role(principal, allowed)
        return principal

    return dependency


P = ParamSpec("P")
T = TypeVar("T")


class Authorized:
    """The caller, authenticated in the request's own session, and that session.

    For the hot routes (checks, reports): the key is read in the same transaction as the
    work, so a request costs one session, one connection and one transaction; nothing about
    the key is cached, so a revoked key or a suspended institution is refused on the very
    next request. :meth:`run` does the work in one worker-thread hop and commits it there.
    """

    __slots__ = ("principal", "session")

    def __init__(self, session: Session, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    async def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(*args, **kwargs)`` in a worker thread, then commit; roll back on error."""
        return await _holding_connection(
            partial(_commit_after, self.session, work, *args, **kwargs)
        )


async def _holding_connection(call: Callable[[], T]) -> T:
    """``call()`` in a worker thread for a request that holds a connection (and on SQLite
    the write lock) since its authentication.

    Not under the thread pool's shared limit, as FastAPI runs the exit of a dependency with
    ``yield``: requests waiting for a connection or for the write lock may hold every token
    of the pool, and this request must still get a thread to finish and give them back.
    """
    return await to_thread.run_sync(call, limiter=CapacityLimiter(1))


def _commit_after(
    session: Session, work: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    try:
        result = work(*args, **kwargs)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    return result


def _discard(session: Session) -> None:
    session.rollback()
    session.close()


async def _keep_auth_session(request: Request) -> None:
    setattr(request.state, _KEEP_AUTH_SESSION, True)


def authorized(*roles: Role) -> Callable[..., AsyncIterator[Authorized]]:
    """A dependency: the caller authenticated and admitted by role, with the request's session.

    The caller is authenticated by :func:`get_principal` as on every route, but in the
    session the route then works in: one session, one transaction. Errors come in the same
    order as with :func:`require_roles` (401, then 403, before the body is validated). The
    route does its work through :meth:`Authorized.run`; whatever it leaves open (the body
    was invalid, the route failed before running its work) is rolled back here.
    """
    allowed = frozenset(roles)

    async def dependency(
        request: Request,
        _keep: Annotated[None, Depends(_keep_auth_session)],
        principal: CurrentPrincipal,
    ) -> AsyncIterator[Authorized]:
        session: Session = getattr(request.state, _AUTH_SESSION)
        try:
            _refuse_role(principal, allowed)
            yield Authorized(session, principal)
        finally:
            # Nothing to do when run() has committed and closed the session.
            if session.in_transaction():
                await _holding_connection(partial(_discard, session))
            else:
                session.close()

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
