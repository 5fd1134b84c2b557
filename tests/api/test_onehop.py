"""One-hop routes (checks, reports): the same contract as any route, served in one thread hop.

The checks are served by :class:`xinyong.api.onehop.OneHopRoute`; these tests hold them to
what FastAPI's own machinery answers on every other route: the key from either header, 401
then 403 then 422, FastAPI's validation error shapes, a rolled-back transaction when the
work fails, and an OpenAPI document that still shows the body, the response and the
security schemes.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from support import MakeInstitution, MakeKey, auth, new_resident_id
from xinyong.api.app import create_app
from xinyong.api.onehop import Caller, OneHopRoute, SingleWriteRoute, caller
from xinyong.audit.models import AuditEntry
from xinyong.config import Settings
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.schemas import Role
from xinyong.reports.models import QueryRecord

PROBLEM = "application/problem+json"
RESTRICTION = "/v1/checks/restriction"


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def _query_records(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(QueryRecord)) or 0


@pytest.fixture
def querier_key(make_institution: MakeInstitution, make_key: MakeKey) -> str:
    return make_key(Role.QUERIER, make_institution("checker-a", purposes=["loan_approval"]))


def test_the_key_comes_from_either_header(client: TestClient, querier_key: str) -> None:
    body = {"subject": {"identifier": new_resident_id()}}
    # No such subject: the key was accepted, the work ran.
    _problem(
        client.post(RESTRICTION, json=body, headers=auth(querier_key)), 404, "subject_not_found"
    )
    _problem(
        client.post(RESTRICTION, json=body, headers={"X-API-Key": querier_key}),
        404,
        "subject_not_found",
    )
    # An Authorization header that is not a bearer token leaves X-API-Key to be used.
    both = {"Authorization": "Basic dXNlcjpwYXNz", "X-API-Key": querier_key}
    _problem(client.post(RESTRICTION, json=body, headers=both), 404, "subject_not_found")
    # Case of the scheme does not matter.
    bearer = {"Authorization": f"bearer {querier_key}"}
    _problem(client.post(RESTRICTION, json=body, headers=bearer), 404, "subject_not_found")


def test_401_then_403_then_422(
    client: TestClient,
    factory: sessionmaker[Session],
    make_institution: MakeInstitution,
    make_key: MakeKey,
    querier_key: str,
) -> None:
    garbage = {"subject": "nobody", "colour": "red"}
    problem = _problem(client.post(RESTRICTION, json=garbage), 401, "unauthenticated")
    assert "API key is required" in problem["detail"]
    assert client.post(RESTRICTION, json=garbage).headers["www-authenticate"] == "Bearer"
    unknown = auth("xy_nokey_" + "0" * 40)
    _problem(client.post(RESTRICTION, json=garbage, headers=unknown), 401, "invalid_api_key")
    # Unparseable JSON from a caller without a key is still a 401: nothing is read first.
    _problem(
        client.post(RESTRICTION, content=b"{", headers={"content-type": "application/json"}),
        401,
        "unauthenticated",
    )
    furnisher = make_key(
        Role.FURNISHER, make_institution("bank-f", record_types=["credit_account"])
    )
    problem = _problem(
        client.post(RESTRICTION, json=garbage, headers=auth(furnisher)), 403, "role_not_permitted"
    )
    assert problem["allowed_roles"] == ["operator", "querier"]
    problem = _problem(
        client.post(RESTRICTION, json=garbage, headers=auth(querier_key)), 422, "validation_error"
    )
    locations = {tuple(error["location"]) for error in problem["errors"]}
    assert ("body", "subject") in locations
    assert ("body", "colour") in locations
    assert _query_records(factory) == 0


def test_body_errors_read_as_fastapis(client: TestClient, querier_key: str) -> None:
    headers = auth(querier_key)
    json_headers = {**headers, "content-type": "application/json"}
    broken = _problem(
        client.post(RESTRICTION, content=b'{"subject": ', headers=json_headers),
        422,
        "validation_error",
    )
    assert broken["errors"] == [
        {"location": ["body", "12"], "code": "json_invalid", "message": "JSON decode error"}
    ]
    missing = _problem(client.post(RESTRICTION, headers=headers), 422, "validation_error")
    assert missing["errors"][0]["location"] == ["body"]
    assert missing["errors"][0]["code"] == "missing"
    # A body that is not declared as JSON is not parsed as JSON.
    text = {**headers, "content-type": "text/plain"}
    plain = _problem(
        client.post(RESTRICTION, content=b'{"subject": {"subject_id": 1}}', headers=text),
        422,
        "validation_error",
    )
    assert plain["errors"][0]["location"] == ["body"]
    # application/*+json is JSON.
    vendor = {**headers, "content-type": "application/vnd.xinyong+json; charset=utf-8"}
    response = client.post(
        RESTRICTION, content=b'{"subject": {"identifier": "12345"}}', headers=vendor
    )
    _problem(response, 400, "invalid_identifier")


def test_openapi_still_documents_the_one_hop_routes(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path, schema in (
        (RESTRICTION, "CheckRequest"),
        ("/v1/checks/eligibility", "CheckRequest"),
        ("/v1/reports", "ReportRequest"),
    ):
        operation = document["paths"][path]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{schema}"}
        assert {"HTTPBearer": []} in operation["security"]
        assert {"APIKeyHeader": []} in operation["security"]
    check = document["paths"][RESTRICTION]["post"]["responses"]["200"]
    assert check["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CheckDecision"
    }


class _Note(BaseModel):
    text: str


Who = Annotated[Caller, caller(Role.OPERATOR)]


def _app_with(route_function: Any) -> FastAPI:
    router = APIRouter(route_class=OneHopRoute)
    router.post("/notes")(route_function)
    app = FastAPI()
    app.include_router(router)
    return app


def test_a_one_hop_route_takes_a_body_a_caller_and_the_request_only() -> None:
    def no_caller(note: _Note) -> None: ...

    def two_bodies(note: _Note, other: _Note, who: Who) -> None: ...

    def with_query(note: _Note, who: Who, limit: int) -> None: ...

    async def as_coroutine(note: _Note, who: Who) -> None: ...

    def fine(request: Request, note: _Note, who: Who) -> Response:
        return Response()

    for refused in (no_caller, two_bodies, with_query, as_coroutine):
        with pytest.raises(TypeError, match="one-hop route"):
            _app_with(refused)
    _app_with(fine)


def _audit_entries(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_a_failing_route_function_rolls_back(
    db: Engine,
    settings: Settings,
    keys: KeyRing,
    factory: sessionmaker[Session],
    make_key: MakeKey,
) -> None:
    app = create_app(settings, engine=db, keys=keys)
    router = APIRouter(route_class=OneHopRoute)

    @router.post("/test/notes")
    def write_then_fail(note: _Note, who: Who) -> Response:
        who.session.add(
            AuditEntry(
                action="test.note",
                role=who.principal.role.value,
                actor="test",
                target_type="note",
                target_id=note.text,
            )
        )
        who.session.flush()
        if note.text == "fail":
            raise RuntimeError("the work failed after writing")
        return Response(status_code=204)

    app.include_router(router)
    headers = auth(make_key(Role.OPERATOR))
    before = _audit_entries(factory)
    with TestClient(app, raise_server_exceptions=False) as client:
        failed = client.post("/test/notes", json={"text": "fail"}, headers=headers)
        _problem(failed, 500, "internal_error")
        assert _audit_entries(factory) == before
        kept = client.post("/test/notes", json={"text": "kept"}, headers=headers)
        assert kept.status_code == 204
        assert _audit_entries(factory) == before + 1


def test_a_check_runs_without_a_transaction_block_on_postgresql(
    db: Engine, settings: Settings, keys: KeyRing, make_key: MakeKey, backend: str
) -> None:
    """SingleWriteRoute: its one write commits by itself on PostgreSQL; SQLite keeps the
    transaction that queues it for the write lock."""
    app = create_app(settings, engine=db, keys=keys)
    router = APIRouter(route_class=SingleWriteRoute)

    @router.post("/test/transaction")
    def in_transaction(note: _Note, who: Who) -> Response:
        who.session.execute(select(func.count()).select_from(AuditEntry))
        driver: Any = who.session.connection().connection.driver_connection
        if backend == "postgresql":
            # psycopg: 0 idle (no transaction block), 2 in a transaction block.
            state = driver.info.transaction_status != 0
        else:
            state = driver.in_transaction
        return Response(json.dumps({"in_transaction": bool(state)}))

    app.include_router(router)
    headers = auth(make_key(Role.OPERATOR))
    with TestClient(app) as client:
        answer = client.post("/test/transaction", json={"text": "x"}, headers=headers).json()
    assert answer == {"in_transaction": backend == "sqlite"}


def test_one_hop_requests_take_turns_on_one_thread_on_sqlite(
    db: Engine, settings: Settings, keys: KeyRing, make_key: MakeKey, backend: str
) -> None:
    app = create_app(settings, engine=db, keys=keys)
    router = APIRouter(route_class=OneHopRoute)
    lock = threading.Lock()
    running = [0]
    most = [0]
    threads: set[int] = set()

    @router.post("/test/slow")
    def slow(note: _Note, who: Who) -> Response:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            threads.add(threading.get_ident())
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return Response(status_code=204)

    app.include_router(router)
    headers = auth(make_key(Role.OPERATOR))
    with TestClient(app) as client, ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(
            pool.map(
                lambda _: client.post("/test/slow", json={"text": "x"}, headers=headers),
                range(8),
            )
        )
    assert [r.status_code for r in statuses] == [204] * 8
    if backend == "sqlite":
        assert (most[0], len(threads)) == (1, 1)
    else:
        assert most[0] > 1  # the shared pool: requests overlap
