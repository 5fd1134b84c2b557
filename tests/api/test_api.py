"""Tests of the HTTP application: health, OpenAPI, authentication, roles and problem details."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from support import auth
from xinyong.api.deps import get_principal
from xinyong.api.problems import PROBLEM_JSON
from xinyong.db import transaction
from xinyong.errors import PROBLEM_TYPE_PREFIX
from xinyong.institutions import service as institutions_service
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Role

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}

# The root conftest's fixture types, spelled here: with tests/scoring on the command line too,
# `conftest` would be tests/scoring/conftest.py.
MakeInstitution = Callable[..., Institution]
MakeKey = Callable[..., str]


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check an RFC 9457 problem response and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_FIELDS, body
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"] == PROBLEM_TYPE_PREFIX + code
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


# Deliberately reachable without credentials: how a data subject without a session gets one
# (docs/subject-accounts.md), checking a printed report against the platform, which anyone
# holding the report may do (docs/reports.md), and the public disclosure of enterprises and
# the court list (docs/lists.md). Every other /v1 route needs an API key or a portal session.
PUBLIC_V1_ROUTES = frozenset(
    {
        ("POST", "/v1/portal/enrolment"),
        ("POST", "/v1/portal/sessions"),
        ("GET", "/v1/reports/1/verification"),
        ("GET", "/v1/public/enterprises"),
        ("GET", "/v1/public/enterprises/1"),
        ("GET", "/v1/public/dishonest-debtors"),
    }
)
# The record ledger is public to read, as a transparency log must be (docs/ledger.md); a
# witness's cosignature authenticates itself. Without a key and without arguments each
# answers as it would anyone: what an empty log has, or a validation error.
LEDGER_PUBLIC_ROUTES = {
    ("GET", "/v1/ledger/key"): (200, None),
    ("GET", "/v1/ledger/checkpoint"): (404, "not_found"),
    ("GET", "/v1/ledger/checkpoints/1"): (404, "not_found"),
    ("GET", "/v1/ledger/proofs/inclusion"): (422, "validation_error"),
    ("GET", "/v1/ledger/proofs/consistency"): (422, "validation_error"),
    ("GET", "/v1/ledger/witnesses"): (200, None),
    ("POST", "/v1/ledger/checkpoints/1/cosignatures"): (422, "validation_error"),
}
PUBLIC_V1_ROUTES = PUBLIC_V1_ROUTES | LEDGER_PUBLIC_ROUTES.keys()


# The public web pages (docs/lists.md, "Public pages"): HTML, no login, not in the OpenAPI
# document.
WEB_PAGES = frozenset(
    {
        ("GET", "/public"),
        ("GET", "/public/enterprises/{uscc}"),
        ("GET", "/public/dishonest-debtors"),
        ("POST", "/public/dishonest-debtors"),
        ("GET", "/public/{rest:path}"),
        ("GET", "/static/xinyong.css"),
    }
)


def v1_endpoints(
    client: TestClient, *, include_public: bool = False
) -> list[tuple[str, str, APIRoute]]:
    """Every (method, concrete path, route) of the app under /v1, path parameters filled in.

    The deliberately public routes are left out unless ``include_public``.
    """
    endpoints = []
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        route = context.original_route
        path = context.path
        if not isinstance(route, APIRoute) or path is None or not path.startswith("/v1"):
            continue
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        for method in sorted(context.methods or ()):
            if include_public or (method, concrete) not in PUBLIC_V1_ROUTES:
                endpoints.append((method, concrete, route))
    return endpoints


def call(client: TestClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    if method in ("POST", "PUT", "PATCH"):
        kwargs.setdefault("json", {})
    return client.request(method, path, **kwargs)


# --- health and documentation -----------------------------------------------------------------


def test_health_reports_ok_and_the_database(client: TestClient, backend: str) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == backend
    assert body["version"]


def test_openapi_lists_every_route(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    routed = {
        (method, context.path, context.original_route.include_in_schema)
        for context in iter_route_contexts(client.app.routes)  # type: ignore[attr-defined]
        if isinstance(context.original_route, APIRoute)
        for method in context.methods or ()
    }
    assert {(method, path) for method, path, listed in routed if listed} == documented
    # Only the server-rendered pages (and their stylesheet) are left out of the document.
    assert {(method, path) for method, path, listed in routed if not listed} == WEB_PAGES
    assert ("POST", "/v1/ingestion/batches") in documented
    assert ("GET", "/health") in documented
    schemes = document["components"]["securitySchemes"]
    assert {scheme["type"] for scheme in schemes.values()} >= {"http", "apiKey"}


def test_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text


# --- authentication -----------------------------------------------------------------------------


def test_the_app_has_the_expected_v1_surface(client: TestClient) -> None:
    """Guards the route walk below: if it found nothing, the auth checks would be vacuous."""
    paths = {(method, path) for method, path, _ in v1_endpoints(client)}
    assert len(paths) >= 20
    assert ("POST", "/v1/institutions") in paths
    assert ("GET", "/v1/subjects/1/records") in paths


def _depends_on(dependant: Any, target: object) -> bool:
    return any(
        dependency.call is target or _depends_on(dependency, target)
        for dependency in dependant.dependencies
    )


def test_every_v1_route_depends_on_authentication(client: TestClient) -> None:
    unguarded = [
        f"{method} {path}"
        for method, path, route in v1_endpoints(client)
        if not _depends_on(route.dependant, get_principal)
    ]
    assert unguarded == []


def test_only_the_listed_v1_routes_are_public(client: TestClient) -> None:
    public = {
        (method, path)
        for method, path, route in v1_endpoints(client, include_public=True)
        if not _depends_on(route.dependant, get_principal)
    }
    assert public == PUBLIC_V1_ROUTES
    for method, path in sorted(PUBLIC_V1_ROUTES):
        # Reached without a key: an empty body (or no digest) fails validation, not
        # authentication.
        status, code = LEDGER_PUBLIC_ROUTES.get((method, path), (422, "validation_error"))
        if code is None:
            assert call(client, method, path).status_code == status, f"{method} {path}"
        else:
            assert_problem(call(client, method, path), status, code)


def test_no_v1_route_is_reachable_without_a_key(client: TestClient) -> None:
    for method, path, _ in v1_endpoints(client):
        response = call(client, method, path)
        body = assert_problem(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"] == "Bearer", f"{method} {path}"
        assert body["instance"] == path


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Authorization": "Bearer xy_000000000000_not-a-real-secret"}, id="unknown"),
        pytest.param({"Authorization": "Bearer garbage"}, id="malformed"),
        pytest.param({"X-API-Key": "xy_000000000000_not-a-real-secret"}, id="x-api-key"),
    ],
)
def test_no_v1_route_accepts_a_bad_key(client: TestClient, headers: dict[str, str]) -> None:
    for method, path, _ in v1_endpoints(client):
        assert_problem(call(client, method, path, headers=headers), 401, "invalid_api_key")


def test_a_key_with_the_right_id_but_a_wrong_secret_is_refused(
    client: TestClient, make_key: MakeKey
) -> None:
    key = make_key(Role.OPERATOR)
    prefix, key_id, _secret = key.split("_", 2)
    forged = f"{prefix}_{key_id}_{'A' * 43}"
    assert_problem(client.get("/v1/me", headers=auth(forged)), 401, "invalid_api_key")
    assert client.get("/v1/me", headers=auth(key)).status_code == 200


def test_the_x_api_key_header_authenticates(client: TestClient, make_key: MakeKey) -> None:
    key = make_key(Role.AUDITOR)
    response = client.get("/v1/me", headers={"X-API-Key": key})
    assert response.status_code == 200
    assert response.json()["role"] == "auditor"


def test_a_revoked_key_reaches_no_v1_route(
    client: TestClient, make_key: MakeKey, factory: sessionmaker[Session]
) -> None:
    key = make_key(Role.OPERATOR)
    assert client.get("/v1/institutions", headers=auth(key)).status_code == 200
    with transaction(factory) as session:
        institutions_service.revoke_api_key(session, key.split("_")[1])
    for method, path, _ in v1_endpoints(client):
        body = assert_problem(call(client, method, path, headers=auth(key)), 401, "invalid_api_key")
        assert "revoked" in body["detail"]


def test_keys_of_a_suspended_institution_are_refused(
    client: TestClient,
    make_institution: MakeInstitution,
    make_key: MakeKey,
    factory: sessionmaker[Session],
) -> None:
    bank = make_institution("bank-suspended", record_types=["credit_account"])
    key = make_key(Role.FURNISHER, bank)
    assert client.get("/v1/me", headers=auth(key)).status_code == 200
    with transaction(factory) as session:
        stored = session.get(Institution, bank.id)
        assert stored is not None
        stored.status = "suspended"
    assert_problem(client.get("/v1/me", headers=auth(key)), 401, "invalid_api_key")


# --- roles --------------------------------------------------------------------------------------


@pytest.fixture
def role_keys(make_institution: MakeInstitution, make_key: MakeKey) -> dict[Role, str]:
    furnisher = make_institution("bank-roles", record_types=["credit_account"])
    querier = make_institution("lender-roles", purposes=["loan_approval"])
    return {
        Role.OPERATOR: make_key(Role.OPERATOR),
        Role.AUDITOR: make_key(Role.AUDITOR),
        Role.FURNISHER: make_key(Role.FURNISHER, furnisher),
        Role.QUERIER: make_key(Role.QUERIER, querier),
    }


WRONG_ROLE_CASES = [
    (Role.FURNISHER, "POST", "/v1/institutions"),
    (Role.AUDITOR, "POST", "/v1/institutions"),
    (Role.QUERIER, "POST", "/v1/institutions"),
    (Role.FURNISHER, "GET", "/v1/institutions"),
    (Role.QUERIER, "GET", "/v1/institutions"),
    (Role.AUDITOR, "POST", "/v1/institutions/1/api-keys"),
    (Role.FURNISHER, "POST", "/v1/api-keys"),
    (Role.AUDITOR, "GET", "/v1/api-keys"),
    (Role.AUDITOR, "DELETE", "/v1/api-keys/abc"),
    (Role.QUERIER, "POST", "/v1/ingestion/records"),
    (Role.OPERATOR, "POST", "/v1/ingestion/records"),
    (Role.AUDITOR, "POST", "/v1/ingestion/batches"),
    (Role.QUERIER, "GET", "/v1/ingestion/batches"),
    (Role.QUERIER, "GET", "/v1/ingestion/batches/1"),
    (Role.QUERIER, "GET", "/v1/records/1"),
    (Role.OPERATOR, "POST", "/v1/records/lookup"),
    (Role.FURNISHER, "POST", "/v1/subjects/lookup"),
    (Role.QUERIER, "POST", "/v1/subjects/lookup"),
    (Role.FURNISHER, "GET", "/v1/subjects/1"),
    (Role.QUERIER, "GET", "/v1/subjects/1/records"),
    (Role.FURNISHER, "GET", "/v1/models"),
    (Role.QUERIER, "GET", "/v1/models/1"),
    (Role.AUDITOR, "POST", "/v1/models"),
    (Role.AUDITOR, "POST", "/v1/models/1/promote"),
    (Role.FURNISHER, "POST", "/v1/webhooks"),
    (Role.AUDITOR, "POST", "/v1/webhooks"),
    (Role.FURNISHER, "GET", "/v1/webhooks"),
    (Role.FURNISHER, "GET", "/v1/webhooks/1"),
    (Role.AUDITOR, "POST", "/v1/webhooks/1/disable"),
    (Role.AUDITOR, "POST", "/v1/webhooks/1/secret"),
    (Role.AUDITOR, "POST", "/v1/webhooks/1/subjects"),
    (Role.AUDITOR, "PUT", "/v1/webhooks/1/subjects/1"),
    (Role.AUDITOR, "DELETE", "/v1/webhooks/1/subjects/1"),
    (Role.FURNISHER, "GET", "/v1/webhooks/1/deliveries"),
    (Role.FURNISHER, "GET", "/v1/webhooks/1/deliveries/1"),
    (Role.FURNISHER, "POST", "/v1/disputes"),
    (Role.AUDITOR, "POST", "/v1/disputes"),
    (Role.FURNISHER, "GET", "/v1/disputes"),
    (Role.QUERIER, "GET", "/v1/disputes/kpis"),
    (Role.FURNISHER, "GET", "/v1/disputes/kpis"),
    (Role.AUDITOR, "POST", "/v1/disputes/1/evidence"),
    (Role.FURNISHER, "POST", "/v1/disputes/1/information"),
    (Role.AUDITOR, "POST", "/v1/disputes/1/withdrawal"),
    (Role.OPERATOR, "GET", "/v1/verification-tasks"),
    (Role.QUERIER, "GET", "/v1/verification-tasks/1"),
    (Role.OPERATOR, "POST", "/v1/verification-tasks/1/answer"),
    (Role.OPERATOR, "POST", "/v1/portal/disputes"),
    (Role.QUERIER, "GET", "/v1/portal/disputes/1"),
    (Role.AUDITOR, "POST", "/v1/holiday-calendars"),
    (Role.QUERIER, "GET", "/v1/holiday-calendars"),
    (Role.QUERIER, "POST", "/v1/repairs"),
    (Role.FURNISHER, "GET", "/v1/repairs"),
    (Role.QUERIER, "GET", "/v1/repairs/kpis"),
    (Role.QUERIER, "GET", "/v1/kpis/usage"),
    (Role.FURNISHER, "GET", "/v1/kpis/rights"),
    (Role.FURNISHER, "GET", "/v1/repairs/1"),
    (Role.AUDITOR, "POST", "/v1/repairs/1/acknowledge"),
    (Role.AUDITOR, "POST", "/v1/repairs/1/decide"),
    (Role.QUERIER, "POST", "/v1/repairs/1/appeal"),
    (Role.AUDITOR, "POST", "/v1/repairs/1/appeal-decision"),
    (Role.OPERATOR, "POST", "/v1/portal/repairs"),
    (Role.QUERIER, "GET", "/v1/portal/repairs/1"),
    (Role.OPERATOR, "POST", "/v1/portal/repairs/1/appeal"),
]


@pytest.mark.parametrize(
    ("role", "method", "path"),
    WRONG_ROLE_CASES,
    ids=[f"{role.value}-{method}-{path}" for role, method, path in WRONG_ROLE_CASES],
)
def test_a_wrong_role_gets_403(
    client: TestClient, role_keys: dict[Role, str], role: Role, method: str, path: str
) -> None:
    # The empty body would fail validation: the role check comes first and reveals nothing.
    body = assert_problem(
        call(client, method, path, headers=auth(role_keys[role])), 403, "role_not_permitted"
    )
    assert body["role"] == role.value
    assert role.value not in body["allowed_roles"]


def test_a_wrong_role_changes_nothing(
    client: TestClient, role_keys: dict[Role, str], factory: sessionmaker[Session]
) -> None:
    payload = {
        "code": "sneaky-bank",
        "name": "Sneaky",
        "kind": "bank",
        "uscc": "91110000600037341L",
        "is_furnisher": True,
    }
    response = client.post("/v1/institutions", json=payload, headers=auth(role_keys[Role.AUDITOR]))
    assert_problem(response, 403, "role_not_permitted")
    with factory() as session:
        codes = [i.code for i in institutions_service.list_institutions(session)]
    assert "sneaky-bank" not in codes


# --- error shapes -------------------------------------------------------------------------------


def test_unknown_route_is_a_404_problem(client: TestClient) -> None:
    body = assert_problem(client.get("/v1/no-such-thing"), 404, "not_found")
    assert body["instance"] == "/v1/no-such-thing"


def test_wrong_method_is_a_405_problem(client: TestClient) -> None:
    assert_problem(client.delete("/health"), 405, "method_not_allowed")


def test_unknown_resource_is_a_404_problem_with_a_domain_code(
    client: TestClient, make_key: MakeKey
) -> None:
    response = client.get("/v1/institutions/987654", headers=auth(make_key(Role.OPERATOR)))
    assert_problem(response, 404, "institution_not_found")


def test_invalid_payload_is_a_422_problem_listing_errors(
    client: TestClient, make_key: MakeKey
) -> None:
    response = client.post(
        "/v1/institutions",
        json={"code": "Not A Slug!", "kind": "spaceship"},
        headers=auth(make_key(Role.OPERATOR)),
    )
    body = assert_problem(response, 422, "validation_error")
    errors = body["errors"]
    assert isinstance(errors, list)
    assert errors
    assert all({"location", "code", "message"} <= error.keys() for error in errors)
    locations = {tuple(error["location"]) for error in errors}
    assert ("body", "code") in locations
    assert ("body", "kind") in locations
    assert ("body", "name") in locations
    assert ("body", "uscc") in locations


def test_invalid_query_parameter_is_a_422_problem(client: TestClient, make_key: MakeKey) -> None:
    response = client.get("/v1/ingestion/batches?limit=0", headers=auth(make_key(Role.AUDITOR)))
    body = assert_problem(response, 422, "validation_error")
    assert [error["location"] for error in body["errors"]] == [["query", "limit"]]


def test_malformed_json_is_a_422_problem(client: TestClient, make_key: MakeKey) -> None:
    response = client.post(
        "/v1/institutions",
        content=b"{not json",
        headers={**auth(make_key(Role.OPERATOR)), "Content-Type": "application/json"},
    )
    assert_problem(response, 422, "validation_error")


@pytest.fixture
def broken_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(session: Session) -> list[Institution]:
        raise RuntimeError("secret internal detail: database password is hunter2")

    monkeypatch.setattr(institutions_service, "list_institutions", explode)


@pytest.mark.usefixtures("broken_listing")
def test_unexpected_exception_is_a_500_problem_without_details(
    client: TestClient, make_key: MakeKey
) -> None:
    response = client.get("/v1/institutions", headers=auth(make_key(Role.OPERATOR)))
    body = assert_problem(response, 500, "internal_error")
    assert "hunter2" not in response.text
    assert "secret" not in response.text
    assert body["instance"] == "/v1/institutions"
