"""Tests of the subject-account routes and the portal sign-in, through the real app."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from accounts_support import PASSWORD, Person, commit_person, leaks
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from support import MakeInstitution, MakeKey, auth, new_resident_id
from xinyong.accounts.models import SubjectAccount, SubjectSession
from xinyong.db import transaction, utcnow
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.schemas import Role

REASON = "ID card checked at counter, ticket 123"


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


class Portal:
    """The portal calls of one test, with an operator key at hand."""

    def __init__(self, client: TestClient, operator_key: str) -> None:
        self.client = client
        self.operator_key = operator_key

    def enrol(self, person: Person, **body: Any) -> dict[str, Any]:
        payload = body or {
            "identifier_type": "resident_id",
            "identifier": person.identifier,
            "reason": REASON,
        }
        response = self.client.post(
            "/v1/subject-accounts/enrolments", json=payload, headers=auth(self.operator_key)
        )
        assert response.status_code == 201, response.text
        assert response.headers["cache-control"] == "no-store"
        result: dict[str, Any] = response.json()
        return result

    def activate(self, person: Person, code: str, password: str = PASSWORD) -> httpx.Response:
        return self.client.post(
            "/v1/portal/enrolment",
            json={
                "identifier_type": "resident_id",
                "identifier": person.identifier,
                "enrolment_code": code,
                "password": password,
            },
        )

    def login(self, person: Person, password: str = PASSWORD) -> httpx.Response:
        return self.client.post(
            "/v1/portal/sessions",
            json={
                "identifier_type": "resident_id",
                "identifier": person.identifier,
                "password": password,
            },
        )

    def signed_in(self, person: Person) -> str:
        """Enrol, activate and sign in ``person``; return the session token."""
        code = self.enrol(person)["enrolment_code"]
        assert self.activate(person, code).status_code == 200
        response = self.login(person)
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token


@pytest.fixture
def portal(client: TestClient, make_key: MakeKey) -> Portal:
    return Portal(client, make_key(Role.OPERATOR))


@pytest.fixture
def person(factory: sessionmaker[Session], keys: KeyRing) -> Person:
    return commit_person(factory, keys, "王小明")


# --- the whole path -------------------------------------------------------------------------


def test_enrol_activate_sign_in_read_me_sign_out(
    client: TestClient, portal: Portal, person: Person
) -> None:
    issued = portal.enrol(person)
    assert issued["subject_id"] == person.subject_id
    assert set(issued) == {"account_id", "subject_id", "enrolment_code", "expires_at"}

    activated = portal.activate(person, issued["enrolment_code"])
    assert activated.status_code == 200, activated.text
    assert activated.json()["status"] == "active"
    assert activated.json()["id"] == issued["account_id"]

    signed_in = portal.login(person)
    assert signed_in.status_code == 201, signed_in.text
    assert signed_in.headers["cache-control"] == "no-store"
    token = signed_in.json()["token"]
    assert token.startswith("xs_")
    assert signed_in.json()["expires_at"]

    me = client.get("/v1/portal/me", headers=auth(token))
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["subject_id"] == person.subject_id
    assert body["kind"] == "person"
    assert body["identifier_type"] == "resident_id"
    assert body["identifier"] == person.identifier[:4] + "*" * 10 + person.identifier[-4:]
    assert body["name"] == person.name
    assert body["account_status"] == "active"
    assert body["account_id"] == issued["account_id"]

    whoami = client.get("/v1/me", headers=auth(token)).json()
    assert whoami["role"] == "subject"
    assert whoami["subject_id"] == person.subject_id
    assert whoami["api_key_id"] is None

    assert client.delete("/v1/portal/sessions/current", headers=auth(token)).status_code == 204
    problem(client.get("/v1/portal/me", headers=auth(token)), 401, "invalid_session")


def test_enrolment_by_subject_id(client: TestClient, portal: Portal, person: Person) -> None:
    issued = portal.enrol(person, subject_id=person.subject_id, reason="passport checked")
    assert issued["subject_id"] == person.subject_id
    response = client.get(
        f"/v1/subject-accounts/{issued['account_id']}", headers=auth(portal.operator_key)
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending"
    assert response.json()["enrolment_expires_at"] is not None


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"reason": REASON}, id="no-subject"),
        pytest.param(
            {"subject_id": 1, "identifier_type": "resident_id", "reason": REASON}, id="both"
        ),
        pytest.param({"identifier_type": "resident_id", "reason": REASON}, id="no-identifier"),
        pytest.param({"subject_id": 1, "reason": "   "}, id="blank-reason"),
        pytest.param({"subject_id": 1}, id="no-reason"),
    ],
)
def test_enrolment_payload_is_validated(portal: Portal, body: dict[str, Any]) -> None:
    response = portal.client.post(
        "/v1/subject-accounts/enrolments", json=body, headers=auth(portal.operator_key)
    )
    problem(response, 422, "validation_error")


def test_enrolment_of_an_unknown_subject_is_404(portal: Portal) -> None:
    response = portal.client.post(
        "/v1/subject-accounts/enrolments",
        json={"identifier_type": "resident_id", "identifier": new_resident_id(), "reason": REASON},
        headers=auth(portal.operator_key),
    )
    problem(response, 404, "subject_not_found")
    missing = portal.client.get("/v1/subject-accounts/987654", headers=auth(portal.operator_key))
    problem(missing, 404, "subject_account_not_found")


# --- roles ----------------------------------------------------------------------------------


@pytest.fixture
def other_keys(make_institution: MakeInstitution, make_key: MakeKey) -> dict[Role, str]:
    return {
        Role.AUDITOR: make_key(Role.AUDITOR),
        Role.FURNISHER: make_key(
            Role.FURNISHER, make_institution("bank-accounts", record_types=["credit_account"])
        ),
        Role.QUERIER: make_key(
            Role.QUERIER, make_institution("lender-accounts", purposes=["loan_approval"])
        ),
    }


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.FURNISHER, Role.QUERIER])
def test_only_an_operator_may_enrol_or_disable(
    client: TestClient,
    other_keys: dict[Role, str],
    person: Person,
    role: Role,
    factory: sessionmaker[Session],
) -> None:
    key = other_keys[role]
    enrol = client.post(
        "/v1/subject-accounts/enrolments",
        json={"subject_id": person.subject_id, "reason": REASON},
        headers=auth(key),
    )
    body = problem(enrol, 403, "role_not_permitted")
    assert body["allowed_roles"] == ["operator"]
    disable = client.post("/v1/subject-accounts/1/disable", json={"reason": "x"}, headers=auth(key))
    problem(disable, 403, "role_not_permitted")
    with factory() as session:
        assert session.scalar(select(SubjectAccount.id)) is None


def test_an_auditor_may_read_an_account(
    client: TestClient, portal: Portal, other_keys: dict[Role, str], person: Person
) -> None:
    account_id = portal.enrol(person)["account_id"]
    response = client.get(
        f"/v1/subject-accounts/{account_id}", headers=auth(other_keys[Role.AUDITOR])
    )
    assert response.status_code == 200
    problem(
        client.get(f"/v1/subject-accounts/{account_id}", headers=auth(other_keys[Role.QUERIER])),
        403,
        "role_not_permitted",
    )


def test_a_subject_token_reaches_no_staff_route(
    client: TestClient, portal: Portal, person: Person
) -> None:
    token = portal.signed_in(person)
    for method, path, body in [
        (
            "POST",
            "/v1/subject-accounts/enrolments",
            {"subject_id": person.subject_id, "reason": "x"},
        ),
        ("GET", "/v1/subject-accounts/1", None),
        ("POST", "/v1/subject-accounts/1/disable", {"reason": "x"}),
        ("GET", f"/v1/subjects/{person.subject_id}", None),
        (
            "POST",
            "/v1/subjects/lookup",
            {"id_type": "resident_id", "identifier": person.identifier},
        ),
        ("GET", "/v1/institutions", None),
        ("GET", "/v1/api-keys", None),
        ("GET", "/v1/audit/entries", None),
        ("GET", "/v1/ingestion/batches", None),
    ]:
        response = client.request(method, path, json=body, headers=auth(token))
        result = problem(response, 403, "role_not_permitted")
        assert result["role"] == "subject", path


def test_an_api_key_is_not_a_subject(client: TestClient, portal: Portal) -> None:
    for path, method in [("/v1/portal/me", "GET"), ("/v1/portal/sessions/current", "DELETE")]:
        response = client.request(method, path, headers=auth(portal.operator_key))
        problem(response, 403, "role_not_permitted")


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("xs_000000000000_not-a-real-secret", "invalid_session"),
        ("xs_garbage", "invalid_session"),
        ("xy_000000000000_not-a-real-secret", "invalid_api_key"),
    ],
)
def test_bad_tokens_are_401(client: TestClient, token: str, code: str) -> None:
    response = client.get("/v1/portal/me", headers=auth(token))
    problem(response, 401, code)
    assert response.headers["www-authenticate"] == "Bearer"


# --- a subject sees only itself -------------------------------------------------------------


def test_a_token_only_ever_shows_its_own_subject(
    client: TestClient, portal: Portal, factory: sessionmaker[Session], keys: KeyRing
) -> None:
    alice = commit_person(factory, keys, "爱丽丝")
    bob = commit_person(factory, keys, "鲍勃")
    tokens = {alice: portal.signed_in(alice), bob: portal.signed_in(bob)}
    for _ in range(2):  # interleaved, repeated: no state carries over between requests
        for who, token in tokens.items():
            other = bob if who is alice else alice
            response = client.get("/v1/portal/me", headers=auth(token))
            assert response.status_code == 200
            body = response.json()
            assert body["subject_id"] == who.subject_id
            assert body["name"] == who.name
            assert other.name not in response.text
            assert body["identifier"] == who.identifier[:4] + "*" * 10 + who.identifier[-4:]
    # A's token id with B's secret is no token at all.
    alice_id = tokens[alice].split("_")[1]
    bob_secret = tokens[bob].split("_", 2)[2]
    problem(
        client.get("/v1/portal/me", headers=auth(f"xs_{alice_id}_{bob_secret}")),
        401,
        "invalid_session",
    )
    # Signing out A leaves B signed in.
    client.delete("/v1/portal/sessions/current", headers=auth(tokens[alice]))
    assert (
        client.get("/v1/portal/me", headers=auth(tokens[bob])).json()["subject_id"]
        == bob.subject_id
    )


# --- refusals -------------------------------------------------------------------------------


def test_wrong_password_and_unknown_identifier_get_the_same_answer(
    portal: Portal, person: Person
) -> None:
    portal.signed_in(person)
    wrong = problem(portal.login(person, "not the password"), 401, "invalid_credentials")
    unknown = problem(portal.login(Person(0, new_resident_id(), "")), 401, "invalid_credentials")
    assert {k: v for k, v in wrong.items() if k != "instance"} == {
        k: v for k, v in unknown.items() if k != "instance"
    }
    assert person.identifier not in str(wrong)


def test_the_lockout_outlives_the_refused_requests(
    portal: Portal, person: Person, factory: sessionmaker[Session]
) -> None:
    portal.signed_in(person)
    for _ in range(4):
        problem(portal.login(person, "not the password"), 401, "invalid_credentials")
    locked = problem(portal.login(person, "not the password"), 429, "account_locked")
    assert 0 < locked["retry_after"] <= 15 * 60
    problem(portal.login(person), 429, "account_locked")
    with transaction(factory) as session:
        session.execute(update(SubjectAccount).values(locked_until=utcnow() - timedelta(seconds=1)))
    assert portal.login(person).status_code == 201


def test_activation_refusals(
    portal: Portal, person: Person, factory: sessionmaker[Session]
) -> None:
    code = portal.enrol(person)["enrolment_code"]
    problem(portal.activate(person, "2345-6789-ABCD"), 400, "invalid_enrolment_code")
    weak = problem(portal.activate(person, code, "short"), 400, "weak_password")
    assert weak["rule"] == "too_short"
    problem(portal.activate(person, code, "z" * 300), 400, "weak_password")
    assert portal.activate(person, code).status_code == 200
    problem(portal.activate(person, code), 400, "invalid_enrolment_code")  # single use

    code = portal.enrol(person)["enrolment_code"]
    with transaction(factory) as session:
        session.execute(
            update(SubjectAccount).values(enrolment_expires_at=utcnow() - timedelta(seconds=1))
        )
    problem(portal.activate(person, code), 400, "enrolment_code_expired")


def test_an_expired_session_is_refused(
    client: TestClient, portal: Portal, person: Person, factory: sessionmaker[Session]
) -> None:
    token = portal.signed_in(person)
    with transaction(factory) as session:
        session.execute(update(SubjectSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    problem(client.get("/v1/portal/me", headers=auth(token)), 401, "session_expired")


def test_re_enrolment_and_disabling_end_sessions(
    client: TestClient, portal: Portal, person: Person
) -> None:
    token = portal.signed_in(person)
    issued = portal.enrol(
        person, subject_id=person.subject_id, reason="forgot password; ID card checked"
    )
    problem(client.get("/v1/portal/me", headers=auth(token)), 401, "invalid_session")
    problem(portal.login(person), 401, "invalid_credentials")
    assert (
        portal.activate(person, issued["enrolment_code"], "a new long password").status_code == 200
    )
    token = portal.login(person, "a new long password").json()["token"]
    assert client.get("/v1/portal/me", headers=auth(token)).status_code == 200

    disabled = client.post(
        f"/v1/subject-accounts/{issued['account_id']}/disable",
        json={"reason": "subject asked to close the account"},
        headers=auth(portal.operator_key),
    )
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["status"] == "disabled"
    problem(client.get("/v1/portal/me", headers=auth(token)), 401, "invalid_session")
    problem(portal.login(person, "a new long password"), 401, "invalid_credentials")

    entries = client.get(
        "/v1/audit/entries?target_type=subject_account", headers=auth(portal.operator_key)
    ).json()
    assert [(e["action"], e["reason"]) for e in entries] == [
        ("subject_account.disable", "subject asked to close the account"),
        ("subject_account.enrol", "forgot password; ID card checked"),
        ("subject_account.enrol", REASON),
    ]
    assert all(e["target_id"] == str(issued["account_id"]) for e in entries)
    assert person.identifier not in str(entries)


# --- secrets at rest ------------------------------------------------------------------------


def test_the_database_holds_no_code_token_or_password_in_clear(
    client: TestClient, portal: Portal, person: Person, db: Engine
) -> None:
    first_code = portal.enrol(person)["enrolment_code"]
    assert portal.activate(person, first_code).status_code == 200
    token = portal.login(person).json()["token"]
    pending_code = portal.enrol(person)["enrolment_code"]  # re-issued, outstanding
    secrets = {
        first_code: "used enrolment code",
        first_code.replace("-", ""): "used enrolment code (normalized)",
        pending_code: "outstanding enrolment code",
        pending_code.replace("-", ""): "outstanding enrolment code (normalized)",
        token: "session token",
        token.split("_", 2)[2]: "session secret",
        PASSWORD: "password",
        person.identifier: "identifier",
    }
    assert leaks(db, secrets) == []
    # Positive control: the scan sees what is stored in clear on purpose.
    assert leaks(db, {token.split("_")[1]: "token id", REASON: "reason"}) == ["reason", "token id"]


def test_the_portal_routes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    expected = {
        ("post", "/v1/subject-accounts/enrolments"),
        ("get", "/v1/subject-accounts/{account_id}"),
        ("post", "/v1/subject-accounts/{account_id}/disable"),
        ("post", "/v1/portal/enrolment"),
        ("post", "/v1/portal/sessions"),
        ("delete", "/v1/portal/sessions/current"),
        ("get", "/v1/portal/me"),
    }
    for method, path in expected:
        assert paths[path][method]["summary"], (method, path)
    assert "security" not in paths["/v1/portal/sessions"]["post"]
    assert paths["/v1/portal/me"]["get"]["security"]
