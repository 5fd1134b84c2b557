"""Tests of institution registration, API keys, roles and revocation."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from support import MakeInstitution, MakeKey, auth, new_uscc
from xinyong.db import transaction
from xinyong.identity.crypto import KeyRing
from xinyong.identity.identifiers import InvalidIdentifierError
from xinyong.institutions import service
from xinyong.institutions.models import ApiKey, Institution
from xinyong.institutions.schemas import InstitutionCreate, InstitutionKind, Role

INVALID_USCC = "91110000600037341N"  # RULES.md 1: wrong check character


def institution_payload(code: str, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "code": code,
        "name": f"{code} 银行股份有限公司",
        "name_en": f"{code} Bank Co., Ltd.",
        "kind": "bank",
        "uscc": new_uscc(),
        "is_furnisher": True,
        "is_querier": True,
        "permitted_record_types": ["credit_account"],
        "permitted_purposes": ["loan_approval"],
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def operator_key(make_key: MakeKey) -> str:
    return make_key(Role.OPERATOR)


def register(client: TestClient, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/institutions", json=payload, headers=auth(key))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def problem_code(response: Any) -> str:
    assert response.headers["content-type"].startswith("application/problem+json")
    return str(response.json()["code"])


# --- registration through the API ---------------------------------------------------------------


def test_register_institution_via_api(client: TestClient, operator_key: str) -> None:
    payload = institution_payload("bank-api", permitted_record_types=["tax_arrears"] * 2)
    body = register(client, operator_key, payload)
    assert body["code"] == "bank-api"
    assert body["name"] == payload["name"]
    assert body["name_en"] == payload["name_en"]
    assert body["kind"] == "bank"
    assert body["uscc"] == payload["uscc"]  # public registration data, shown whole
    assert body["is_furnisher"]
    assert body["is_querier"]
    assert body["permitted_record_types"] == ["tax_arrears"]
    assert body["permitted_purposes"] == ["loan_approval"]
    assert body["status"] == "active"

    read = client.get(f"/v1/institutions/{body['id']}", headers=auth(operator_key)).json()
    assert read == body
    listed = client.get("/v1/institutions", headers=auth(operator_key)).json()
    assert [i["code"] for i in listed] == ["bank-api"]


def test_uscc_is_normalized_and_stored_encrypted(
    client: TestClient, operator_key: str, factory: sessionmaker[Session], keys: KeyRing
) -> None:
    uscc = new_uscc()
    spaced = f" {uscc[:6]} {uscc[6:]} ".lower()
    body = register(client, operator_key, institution_payload("bank-norm", uscc=spaced))
    assert body["uscc"] == uscc
    with factory() as session:
        stored = session.get(Institution, body["id"])
        assert stored is not None
        assert uscc.encode() not in stored.uscc_ct
        assert stored.uscc_index == keys.blind_index(service.USCC_CONTEXT, uscc)
        assert keys.decrypt_text(stored.uscc_ct, service.USCC_CONTEXT) == uscc


def test_invalid_uscc_is_refused(
    client: TestClient, operator_key: str, factory: sessionmaker[Session]
) -> None:
    response = client.post(
        "/v1/institutions",
        json=institution_payload("bank-bad", uscc=INVALID_USCC),
        headers=auth(operator_key),
    )
    assert response.status_code == 400
    assert problem_code(response) == "invalid_identifier"
    assert response.json()["reason"] == "check_character"
    assert INVALID_USCC not in response.text  # errors show identifiers masked only
    with factory() as session:
        assert service.list_institutions(session) == []


@pytest.mark.parametrize("duplicate", ["code", "uscc", "uscc-spaced"])
def test_duplicate_code_or_uscc_is_a_conflict(
    client: TestClient, operator_key: str, duplicate: str, factory: sessionmaker[Session]
) -> None:
    first = institution_payload("bank-first")
    register(client, operator_key, first)
    second = institution_payload("bank-second")
    if duplicate == "code":
        second["code"] = first["code"]
    elif duplicate == "uscc":
        second["uscc"] = first["uscc"]
    else:
        second["uscc"] = f" {first['uscc'][:9]} {first['uscc'][9:]}"
    response = client.post("/v1/institutions", json=second, headers=auth(operator_key))
    assert response.status_code == 409
    assert problem_code(response) == "institution_exists"
    with factory() as session:
        assert len(service.list_institutions(session)) == 1


@pytest.mark.parametrize(
    ("overrides", "unknown"),
    [
        ({"permitted_record_types": ["credit_account", "horoscope"]}, ["horoscope"]),
        ({"permitted_purposes": ["curiosity"]}, ["curiosity"]),
    ],
)
def test_unknown_record_type_or_purpose_is_refused(
    client: TestClient, operator_key: str, overrides: dict[str, Any], unknown: list[str]
) -> None:
    response = client.post(
        "/v1/institutions",
        json=institution_payload("bank-perm", **overrides),
        headers=auth(operator_key),
    )
    assert response.status_code == 400
    assert problem_code(response) == "invalid_permission"
    assert response.json()["unknown"] == unknown


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"is_furnisher": False}, id="record-types-without-furnisher"),
        pytest.param({"is_querier": False}, id="purposes-without-querier"),
        pytest.param(
            {
                "is_furnisher": False,
                "is_querier": False,
                "permitted_record_types": [],
                "permitted_purposes": [],
            },
            id="neither-furnisher-nor-querier",
        ),
    ],
)
def test_inconsistent_roles_are_refused(
    client: TestClient, operator_key: str, overrides: dict[str, Any]
) -> None:
    response = client.post(
        "/v1/institutions",
        json=institution_payload("bank-roles", **overrides),
        headers=auth(operator_key),
    )
    assert response.status_code == 400
    assert problem_code(response) == "invalid_permission"


# --- registration through the service -----------------------------------------------------------


def test_register_institution_via_service(session: Session, keys: KeyRing) -> None:
    uscc = new_uscc()
    data = InstitutionCreate(
        code="tax-bureau",
        name="国家税务总局北京市税务局",
        kind=InstitutionKind.TAX_AUTHORITY,
        uscc=uscc,
        is_furnisher=True,
        permitted_record_types=["tax_arrears", "tax_credit_grade"],
    )
    institution = service.create_institution(session, keys, data)
    assert institution.id is not None
    assert service.get_institution_by_code(session, "tax-bureau") is institution
    view = service.view_institution(keys, institution)
    assert view.uscc == uscc
    assert view.permitted_record_types == ["tax_arrears", "tax_credit_grade"]

    with pytest.raises(service.InstitutionExistsError):
        service.create_institution(session, keys, data.model_copy(update={"code": "another-code"}))
    with pytest.raises(InvalidIdentifierError):
        service.create_institution(
            session, keys, data.model_copy(update={"code": "bad", "uscc": INVALID_USCC})
        )
    with pytest.raises(service.InstitutionNotFoundError):
        service.get_institution_by_code(session, "nobody")
    with pytest.raises(service.InstitutionNotFoundError):
        service.get_institution(session, 987654)


# --- API keys -----------------------------------------------------------------------------------


def _all_api_key_bytes(factory: sessionmaker[Session]) -> list[bytes]:
    """Every value of every column of api_keys, as bytes, read with plain SQL."""
    values: list[bytes] = []
    with factory() as session:
        for row in session.execute(text("SELECT * FROM api_keys")):
            for value in row:
                if value is None:
                    continue
                if isinstance(value, bytes | bytearray | memoryview):
                    values.append(bytes(value))
                else:
                    values.append(str(value).encode("utf-8"))
    return values


def test_api_key_is_shown_once_and_stored_hashed(
    client: TestClient,
    operator_key: str,
    make_institution: MakeInstitution,
    factory: sessionmaker[Session],
) -> None:
    bank = make_institution("bank-keys", record_types=["credit_account"])
    response = client.post(
        f"/v1/institutions/{bank.id}/api-keys",
        json={"role": "furnisher", "label": "batch uploads"},
        headers=auth(operator_key),
    )
    assert response.status_code == 201, response.text
    issued = response.json()
    api_key = issued["api_key"]
    assert api_key.startswith(f"xy_{issued['key_id']}_")
    assert issued["role"] == "furnisher"
    assert issued["institution_id"] == bank.id
    assert issued["label"] == "batch uploads"
    assert issued["revoked_at"] is None

    # Listing never shows a key again.
    listed = client.get("/v1/api-keys", headers=auth(operator_key))
    assert listed.status_code == 200
    assert api_key not in listed.text
    assert all("api_key" not in item for item in listed.json())
    assert issued["key_id"] in {item["key_id"] for item in listed.json()}
    own = client.get(f"/v1/api-keys?institution_id={bank.id}", headers=auth(operator_key)).json()
    assert [item["key_id"] for item in own] == [issued["key_id"]]

    # Nothing in the table reveals the key or its secret part; only its SHA-256 is kept.
    secret = api_key.split("_", 2)[2]
    stored = _all_api_key_bytes(factory)
    assert stored
    for value in stored:
        assert api_key.encode() not in value
        assert secret.encode() not in value
        assert secret[:16].encode() not in value
    with factory() as session:
        record = session.scalar(select(ApiKey).where(ApiKey.key_id == issued["key_id"]))
        assert record is not None
        assert record.secret_hash == hashlib.sha256(api_key.encode()).digest()

    me = client.get("/v1/me", headers=auth(api_key))
    assert me.status_code == 200
    assert me.json()["institution_code"] == "bank-keys"


def test_staff_keys_have_no_institution(client: TestClient, operator_key: str) -> None:
    for role in ("operator", "auditor"):
        response = client.post("/v1/api-keys", json={"role": role}, headers=auth(operator_key))
        assert response.status_code == 201, response.text
        issued = response.json()
        assert issued["institution_id"] is None
        assert issued["role"] == role
        me = client.get("/v1/me", headers=auth(issued["api_key"])).json()
        assert me["role"] == role
        assert me["institution_id"] is None
        assert me["institution_code"] is None


@pytest.mark.parametrize("role", ["furnisher", "querier"])
def test_institution_roles_need_an_institution(
    client: TestClient, operator_key: str, role: str
) -> None:
    response = client.post("/v1/api-keys", json={"role": role}, headers=auth(operator_key))
    assert response.status_code == 400
    assert problem_code(response) == "invalid_permission"


@pytest.mark.parametrize(
    ("record_types", "purposes", "role"),
    [
        pytest.param(["credit_account"], None, "operator", id="operator-for-institution"),
        pytest.param(["credit_account"], None, "auditor", id="auditor-for-institution"),
        pytest.param(None, ["loan_approval"], "furnisher", id="furnisher-for-querier"),
        pytest.param(["credit_account"], None, "querier", id="querier-for-furnisher"),
    ],
)
def test_key_role_must_fit_the_institution(
    client: TestClient,
    operator_key: str,
    make_institution: MakeInstitution,
    record_types: list[str] | None,
    purposes: list[str] | None,
    role: str,
    factory: sessionmaker[Session],
) -> None:
    institution = make_institution("inst-fit", record_types=record_types, purposes=purposes)
    response = client.post(
        f"/v1/institutions/{institution.id}/api-keys",
        json={"role": role},
        headers=auth(operator_key),
    )
    assert response.status_code == 400
    assert problem_code(response) == "invalid_permission"
    with factory() as session:
        assert service.list_api_keys(session, institution.id) == []


def test_key_for_unknown_institution_is_404(client: TestClient, operator_key: str) -> None:
    response = client.post(
        "/v1/institutions/987654/api-keys", json={"role": "furnisher"}, headers=auth(operator_key)
    )
    assert response.status_code == 404
    assert problem_code(response) == "institution_not_found"


def test_no_new_keys_for_a_suspended_institution(
    session: Session, make_institution: MakeInstitution
) -> None:
    bank = make_institution("bank-paused", record_types=["credit_account"])
    stored = service.get_institution(session, bank.id)
    stored.status = "suspended"
    with pytest.raises(service.InvalidPermissionError):
        service.issue_api_key(session, Role.FURNISHER, stored)


def test_revoke_api_key(client: TestClient, operator_key: str, make_key: MakeKey) -> None:
    auditor = make_key(Role.AUDITOR)
    key_id = auditor.split("_")[1]
    assert client.get("/v1/me", headers=auth(auditor)).status_code == 200

    response = client.delete(f"/v1/api-keys/{key_id}", headers=auth(operator_key))
    assert response.status_code == 200, response.text
    revoked_at = response.json()["revoked_at"]
    assert revoked_at is not None

    refused = client.get("/v1/me", headers=auth(auditor))
    assert refused.status_code == 401
    assert problem_code(refused) == "invalid_api_key"

    # Revoking again is harmless and keeps the first revocation time.
    again = client.delete(f"/v1/api-keys/{key_id}", headers=auth(operator_key))
    assert again.status_code == 200
    assert again.json()["revoked_at"] == revoked_at
    # Other keys are untouched.
    assert client.get("/v1/me", headers=auth(operator_key)).status_code == 200


def test_revoke_unknown_key_is_404(client: TestClient, operator_key: str) -> None:
    response = client.delete("/v1/api-keys/000000000000", headers=auth(operator_key))
    assert response.status_code == 404
    assert problem_code(response) == "api_key_not_found"


# --- who am I, and what may an institution read -------------------------------------------------


def test_me_describes_the_caller(
    client: TestClient, make_institution: MakeInstitution, make_key: MakeKey
) -> None:
    lender = make_institution("lender-me", purposes=["loan_approval"])
    key = make_key(Role.QUERIER, lender)
    me = client.get("/v1/me", headers=auth(key)).json()
    assert me["role"] == "querier"
    assert me["institution_id"] == lender.id
    assert me["institution_code"] == "lender-me"
    assert me["label"] == "querier key for lender-me"
    assert key not in str(me)


def test_an_institution_reads_only_its_own_registration(
    client: TestClient, make_institution: MakeInstitution, make_key: MakeKey
) -> None:
    own = make_institution("bank-own", record_types=["credit_account"])
    other = make_institution("bank-other", record_types=["credit_account"])
    key = make_key(Role.FURNISHER, own)

    mine = client.get(f"/v1/institutions/{own.id}", headers=auth(key))
    assert mine.status_code == 200
    assert mine.json()["code"] == "bank-own"

    theirs = client.get(f"/v1/institutions/{other.id}", headers=auth(key))
    assert theirs.status_code == 403
    assert problem_code(theirs) == "forbidden"
    assert "bank-other" not in theirs.text

    listing = client.get("/v1/institutions", headers=auth(key))
    assert listing.status_code == 403

    auditor = make_key(Role.AUDITOR)
    assert client.get(f"/v1/institutions/{other.id}", headers=auth(auditor)).status_code == 200
    assert len(client.get("/v1/institutions", headers=auth(auditor)).json()) == 2


def test_authenticate_resolves_the_principal(
    factory: sessionmaker[Session], make_institution: MakeInstitution
) -> None:
    bank = make_institution("bank-auth", record_types=["credit_account"])
    with transaction(factory) as session:
        owner = service.get_institution(session, bank.id)
        issued = service.issue_api_key(session, Role.FURNISHER, owner, "uploads")
    with factory() as session:
        principal = service.authenticate(session, issued.api_key)
        assert principal.role is Role.FURNISHER
        assert principal.institution_code == "bank-auth"
        assert principal.api_key_id == issued.id
        for bad in ("", "xy_", issued.api_key + "x", issued.api_key.replace("xy_", "zz_")):
            with pytest.raises(service.InvalidApiKeyError):
                service.authenticate(session, bad)
