"""The busiest routes (checks, reports) served in one worker-thread hop.

A route declared with :class:`OneHopRoute` is written like any other: a plain function whose
parameters are its JSON body (a pydantic model), its caller (``Annotated[Caller,
caller(*roles)]``, which also puts the API-key security schemes in the OpenAPI document) and
optionally the ``Request``. What differs is how a request reaches it. FastAPI would solve
the caller's dependencies and the body per request and hop to the thread pool for each
synchronous step; here the request is read on the event loop (the key from the headers, the
body bytes) and everything else happens in one hop: a session, the key looked up in it, the
role checked, the body validated with FastAPI's own field (so errors read exactly as on
other routes), the route function, the commit. One session, one thread hop; nothing about
the key is cached, so a revoked key or a suspended institution is refused on the very next
request. On SQLite these hops run on one thread of their own (see :func:`_lane`);
:class:`SingleWriteRoute` also drops the transaction block on PostgreSQL.

Errors come in the same order as on every other route: 401 (no or unknown key), then 403
(wrong role), then 422 (the body). A route function that raises has its transaction rolled
back.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from anyio import CapacityLimiter, to_thread
from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session, sessionmaker

from xinyong.api.deps import NO_KEY, CurrentPrincipal, authenticate_presented, refuse_role
from xinyong.errors import AuthenticationError
from xinyong.institutions.schemas import Principal, Role

_ROLES = "__xinyong_onehop_roles__"


class Caller:
    """The authenticated caller of a one-hop route and the session its work runs in.

    The route function must not commit or close the session: the route does, after the
    function returns (or rolls back when it raises).
    """

    __slots__ = ("principal", "session")

    def __init__(self, session: Session, principal: Principal) -> None:
        self.session = session
        self.principal = principal


def caller(*roles: Role) -> Any:
    """``Annotated[Caller, caller(Role.QUERIER, …)]``: the caller, admitted by role.

    Only a :class:`OneHopRoute` serves it (the route refuses to be built without one); the
    dependency exists so the OpenAPI document shows the route's security schemes.
    """

    async def dependency(_: CurrentPrincipal) -> Caller:
        raise RuntimeError("a one-hop caller is only served by OneHopRoute")

    setattr(dependency, _ROLES, frozenset(roles))
    return Depends(dependency)


def presented_key(request: Request) -> str:
    """The key as FastAPI's ``HTTPBearer``/``APIKeyHeader`` pair would find it."""
    authorization = request.headers.get("authorization")
    scheme, credentials = get_authorization_scheme_param(authorization)
    if authorization and scheme and credentials and scheme.lower() == "bearer":
        return credentials
    header_key = request.headers.get("x-api-key")
    if not header_key:
        raise AuthenticationError(NO_KEY)
    return header_key


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    maintype, _, subtype = media.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


_LANE = "onehop_lane"


def _lane(request: Request) -> CapacityLimiter | None:
    """The threads one-hop requests run on: one on SQLite, the shared pool otherwise.

    On SQLite every transaction takes the write lock first, so one-hop requests (checks,
    reports: they all write a query record) run one after another whatever the number of
    threads; more threads only hand the lock and the GIL back and forth. One lane does the
    same work without the hand-overs. PostgreSQL works in its own processes, so requests
    there overlap their waits on the shared pool.
    """
    state = request.app.state
    chosen: tuple[CapacityLimiter | None] | None = getattr(state, _LANE, None)
    if chosen is None:
        engine = getattr(state, "engine", None)
        sqlite = engine is not None and engine.dialect.name == "sqlite"
        chosen = (CapacityLimiter(1) if sqlite else None,)
        setattr(state, _LANE, chosen)
    return chosen[0]


def work_session(factory: sessionmaker[Session], *, single_write: bool) -> Session:
    """A session for a one-hop request; see :class:`SingleWriteRoute` for ``single_write``."""
    session = factory()
    if single_write and session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return session


class OneHopRoute(APIRoute):
    """An ``APIRoute`` served in one thread hop (see the module's docstring)."""

    single_write = False

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        dependant = self.dependant
        callers = [d for d in dependant.dependencies if hasattr(d.call, _ROLES)]
        others = [d for d in dependant.dependencies if not hasattr(d.call, _ROLES)]
        if len(callers) != 1 or others or len(dependant.body_params) != 1:
            raise TypeError(
                f"{path}: a one-hop route takes one JSON body, one Caller and optionally the "
                "Request, nothing else"
            )
        if (
            dependant.path_params
            or dependant.query_params
            or dependant.header_params
            or dependant.cookie_params
        ):
            raise TypeError(
                f"{path}: a one-hop route takes no path, query, header or cookie parameters"
            )
        if inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"{path}: a one-hop route's function must be a plain function")
        self._roles: frozenset[Role] = getattr(callers[0].call, _ROLES)
        self._caller_name = callers[0].name or ""
        self._body_field = dependant.body_params[0]
        self._body_name = self._body_field.name
        self._request_name = dependant.request_param_name

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        async def handler(request: Request) -> Response:
            presented = presented_key(request)
            raw = await request.body()
            return await to_thread.run_sync(
                partial(self._serve, request, presented, raw), limiter=_lane(request)
            )

        return handler

    def _body(self, request: Request, raw: bytes) -> Any:
        """The body validated as FastAPI validates it, with the same error shapes."""
        if not raw:
            raise RequestValidationError(
                [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
            )
        value: Any = raw
        if _is_json(request.headers.get("content-type")):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise RequestValidationError(
                    [
                        {
                            "type": "json_invalid",
                            "loc": ("body", exc.pos),
                            "msg": "JSON decode error",
                            "input": {},
                            "ctx": {"error": exc.msg},
                        }
                    ]
                ) from exc
        body, errors = self._body_field.validate(value, {}, loc=("body",))
        if errors:
            raise RequestValidationError(errors)
        return body

    def _serve(self, request: Request, presented: str, raw: bytes) -> Response:
        factory: sessionmaker[Session] = request.app.state.session_factory
        session = work_session(factory, single_write=self.single_write)
        try:
            principal = authenticate_presented(session, presented)
            refuse_role(principal, self._roles)
            request.state.principal = principal
            arguments: dict[str, Any] = {
                self._caller_name: Caller(session, principal),
                self._body_name: self._body(request, raw),
            }
            if self._request_name is not None:
                arguments[self._request_name] = request
            response: Response = self.endpoint(**arguments)
            session.commit()
            return response
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


class SingleWriteRoute(OneHopRoute):
    """A one-hop route whose work reads and then writes one row in one statement (a check
    and its query record).

    On PostgreSQL it runs without a transaction block: each statement commits on its own,
    which saves the ``BEGIN`` and ``COMMIT`` round trips (two of a check's seven). Nothing
    is lost by it: the one write is atomic by itself, and under READ COMMITTED every
    statement of a transaction sees its own snapshot anyway, so the reads see what they
    would have seen. The write must be the route function's last statement: a failure
    before it then writes nothing, as a rollback would. On SQLite the transaction stays: it
    is how a writer queues for the database (``BEGIN IMMEDIATE``), and its begin and commit
    cost no round trip.
    """

    single_write = True
