"""The reports API over real HTTP: reports, refusals, verification, consents, the portal."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from reports.helpers import (
    REFUSALS,
    Furnish,
    new_consent,
    portal_token,
    prepare_refusal,
    query_records,
    subject_id_of,
)
from support import MakeInstitution, MakeKey, account_row, auth, new_resident_id
from xinyong.api.app import create_app
from xinyong.audit.models import AuditEntry
from xinyong.config import Settings
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Role
from xinyong.reports.models import IssuedReport

PROBLEM = "application/problem+json"


@pytest.fixture
def bank(make_institution: MakeInstitution) -> Institution:
    return make_institution(
        "bank-a",
        record_types=["credit_account"],
        purposes=["loan_approval", "credit_card_approval", "post_loan_management", "court_order"],
    )


@pytest.fixture
def lender(make_institution: MakeInstitution) -> Institution:
    return make_institution("lender-b", purposes=["loan_approval", "employment"])


@pytest.fixture
def by_bank(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, bank: Institution
) -> Furnish:
    return Furnish(tmp_path, factory, keys, bank)


@pytest.fixture
def operator_key(make_key: MakeKey) -> str:
    return make_key(Role.OPERATOR)


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["type"] == f"urn:xinyong:problem:{code}"
    return body


def digest_of(document: dict[str, Any]) -> str:
    body = {key: value for key, value in document.items() if key != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def issued_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(IssuedReport)) or 0


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_a_refusal_is_a_problem_and_a_query_record(
    name: str,
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    make_institution: MakeInstitution,
    make_key: MakeKey,
    operator_key: str,
) -> None:
    other = make_institution("other-d", purposes=["loan_approval"])
    case = prepare_refusal(name, factory, keys, bank, other, new_resident_id())
    key = make_key(Role.QUERIER, bank) if case.who == "querier" else operator_key
    response = client.post("/v1/reports", json=case.body(), headers=auth(key))
    body = problem(response, case.status, case.code)
    assert body["instance"] == "/v1/reports"
    assert "X-Report-Id" not in response.headers
    (record,) = query_records(factory, case.subject_id)
    assert (record.outcome, record.refusal_code, record.report_id) == ("refused", case.code, None)
    assert (record.channel, record.consent_id) == ("api", case.cited_consent_id)
    assert record.api_key_id is not None
    assert issued_count(factory) == 0
    refusals = client.get(
        "/v1/query-records",
        params={"subject_id": case.subject_id, "outcome": "refused"},
        headers=auth(operator_key),
    ).json()
    assert [(r["refusal_code"], r["outcome"]) for r in refusals] == [(case.code, "refused")]


def test_who_may_ask_for_a_report(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    by_bank: Furnish,
    make_key: MakeKey,
) -> None:
    person = new_resident_id()
    by_bank(account_row(person))
    body = {"subject": {"subject_id": subject_id_of(factory, keys, person)}, "purpose": "x"}
    problem(client.post("/v1/reports", json=body), 401, "unauthenticated")
    for role in (Role.FURNISHER, Role.AUDITOR):
        owner = bank if role is Role.FURNISHER else None
        response = client.post("/v1/reports", json=body, headers=auth(make_key(role, owner)))
        problem(response, 403, "role_not_permitted")
    assert query_records(factory, body["subject"]["subject_id"]) == []


def test_bad_requests_name_no_subject(
    client: TestClient, by_bank: Furnish, operator_key: str
) -> None:
    headers = auth(operator_key)
    both = {"subject": {"subject_id": 1, "identifier": new_resident_id()}, "purpose": "x"}
    problem(client.post("/v1/reports", json=both, headers=headers), 400, "invalid_subject_selector")
    none: dict[str, Any] = {"subject": {}, "purpose": "subject_request"}
    problem(client.post("/v1/reports", json=none, headers=headers), 400, "invalid_subject_selector")
    unknown = {"subject": {"identifier": new_resident_id()}, "purpose": "subject_request"}
    problem(client.post("/v1/reports", json=unknown, headers=headers), 404, "subject_not_found")
    garbage = {"subject": {"identifier": "12345"}, "purpose": "subject_request"}
    problem(client.post("/v1/reports", json=garbage, headers=headers), 400, "invalid_identifier")
    extra = {"subject": {"subject_id": 1}, "purpose": "subject_request", "colour": "red"}
    problem(client.post("/v1/reports", json=extra, headers=headers), 422, "validation_error")
    bad_format = {"subject": {"subject_id": 1}, "purpose": "subject_request", "format": "doc"}
    problem(client.post("/v1/reports", json=bad_format, headers=headers), 422, "validation_error")


# --- a served report ----------------------------------------------------------------------------


def test_a_report_its_digest_and_its_verification(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    lender: Institution,
    by_bank: Furnish,
    make_key: MakeKey,
    operator_key: str,
) -> None:
    person = new_resident_id()
    by_bank(account_row(person, "LOAN-2024-000123", subject_name="张三丰"))
    subject_id = subject_id_of(factory, keys, person)
    consent_id = new_consent(factory, keys, lender, subject_id, ["loan_approval"])
    response = client.post(
        "/v1/reports",
        json={
            "subject": {"identifier_type": "resident_id", "identifier": person},
            "purpose": "loan_approval",
            "operator_user": "officer-7",
            "lang": "en",
        },
        headers=auth(make_key(Role.QUERIER, lender)),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    report = response.json()
    assert report["schema_version"] == "1.2"
    assert report["lang"] == "en"
    assert report["digest"]["algorithm"] == "sha256"
    digest = report["digest"]["value"]
    assert digest_of(report) == digest == response.headers["X-Report-Digest"]
    # The body is the report's canonical JSON: keys sorted, no spaces, UTF-8.
    canonical = json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert response.content == canonical.encode("utf-8")
    assert response.headers["X-Report-Id"] == report["report_id"]
    assert report["subject"]["identifier"] != person
    assert report["subject"]["identifier_masked"] is True
    assert report["requester"] == {
        "kind": "institution",
        "institution_code": "lender-b",
        "institution_name": "lender-b 机构",
        "operator_user": "officer-7",
        "purpose": "loan_approval",
        "consent_id": consent_id,
        "reference": None,
        "query_record_id": report["requester"]["query_record_id"],
    }
    (record,) = query_records(factory, subject_id)
    assert (record.id, record.report_id, record.consent_id) == (
        report["requester"]["query_record_id"],
        report["report_id"],
        consent_id,
    )

    # Verification is public and says nothing about whom the report is on.
    url = f"/v1/reports/{report['report_id']}/verification"
    valid = client.get(url, params={"digest": digest})
    assert valid.status_code == 200, valid.text
    assert valid.json()["valid"] is True
    assert valid.json()["as_of"] == report["as_of"]
    assert valid.json()["profile"] == {"code": "cn", "version": report["profile"]["version"]}
    assert set(valid.json()) == {
        "report_id",
        "valid",
        "generated_at",
        "as_of",
        "profile",
        "subject_kind",
        "coverage",
    }
    for personal in (person, "张三丰", "LOAN-2024", "lender-b", "officer-7"):
        assert personal not in valid.text
    changed = dict(report, chargeable=True)
    invalid = client.get(url, params={"digest": digest_of(changed)})
    assert invalid.status_code == 200
    assert invalid.json()["valid"] is False
    unknown = client.get("/v1/reports/R20260101NOPE/verification", params={"digest": digest})
    problem(unknown, 404, "report_not_found")
    problem(client.get(url, params={"digest": "abc"}), 422, "validation_error")
    problem(client.get(url), 422, "validation_error")

    # The subject can look the query up later.
    records = client.get(
        "/v1/query-records", params={"subject_id": subject_id}, headers=auth(operator_key)
    ).json()
    assert [
        (r["institution_code"], r["operator_user"], r["purpose"], r["consent_id"], r["report_id"])
        for r in records
    ] == [("lender-b", "officer-7", "loan_approval", consent_id, report["report_id"])]


def test_html_and_pdf_reports(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    by_bank: Furnish,
    operator_key: str,
) -> None:
    person = new_resident_id()
    by_bank(account_row(person, "LOAN-77"))
    subject = {"subject_id": subject_id_of(factory, keys, person)}
    html = client.post(
        "/v1/reports",
        json={"subject": subject, "purpose": "subject_request", "format": "html", "lang": "en"},
        headers=auth(operator_key),
    )
    assert html.status_code == 200, html.text
    assert html.headers["content-type"].startswith("text/html")
    assert html.headers["X-Report-Id"] in html.text
    assert len(html.headers["X-Report-Digest"]) == 64
    pdf = client.post(
        "/v1/reports",
        json={"subject": subject, "purpose": "subject_request", "format": "pdf"},
        headers=auth(operator_key),
    )
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    report_id = pdf.headers["X-Report-Id"]
    assert pdf.headers["Content-Disposition"] == f'attachment; filename="{report_id}.pdf"'
    # Both were issued, each with its own digest.
    assert issued_count(factory) == 2
    verified = client.get(
        f"/v1/reports/{report_id}/verification", params={"digest": pdf.headers["X-Report-Digest"]}
    )
    assert verified.json()["valid"] is True


def test_an_operator_reveal_is_audited(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    by_bank: Furnish,
    make_key: MakeKey,
    operator_key: str,
) -> None:
    person = new_resident_id()
    by_bank(account_row(person))
    subject = {"subject_id": subject_id_of(factory, keys, person)}
    body = {"subject": subject, "purpose": "subject_request", "reveal": True, "reference": "W-1"}
    response = client.post("/v1/reports", json=body, headers=auth(operator_key))
    assert response.status_code == 200, response.text
    assert response.json()["subject"]["identifier"] == person
    with factory() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["report.issue", "subject.identifier.reveal"]
    audit = client.get(
        "/v1/audit/entries",
        params={"action": "subject.identifier.reveal"},
        headers=auth(operator_key),
    )
    assert audit.status_code == 200, audit.text
    assert [entry["target_id"] for entry in audit.json()] == [str(subject["subject_id"])]
    # An institution may not reveal.
    institution = {**body, "purpose": "post_loan_management"}
    response = client.post(
        "/v1/reports", json=institution, headers=auth(make_key(Role.QUERIER, bank))
    )
    problem(response, 403, "reveal_not_permitted")


def test_us_profile_over_http(
    db: Engine,
    settings: Settings,
    factory: sessionmaker[Session],
    keys: KeyRing,
    lender: Institution,
    by_bank: Furnish,
    make_key: MakeKey,
) -> None:
    person = new_resident_id()
    by_bank(account_row(person))
    app = create_app(settings.model_copy(update={"profile": "us"}), engine=db, keys=keys)
    key = make_key(Role.QUERIER, lender)
    with TestClient(app, raise_server_exceptions=False) as us_client:
        profile = us_client.get("/v1/profiles/current", headers=auth(key))
        assert profile.status_code == 200
        assert profile.json()["profile"]["code"] == "us"
        body = {"subject": {"identifier": person}, "purpose": "loan_approval"}
        response = us_client.post("/v1/reports", json=body, headers=auth(key))
        assert response.status_code == 200, response.text
        assert response.json()["profile"]["code"] == "us"
        assert response.json()["requester"]["consent_id"] is None


def test_profile_and_schema_routes(client: TestClient, operator_key: str) -> None:
    problem(client.get("/v1/profiles/current"), 401, "unauthenticated")
    profile = client.get("/v1/profiles/current", headers=auth(operator_key)).json()
    assert profile["profile"]["code"] == "cn"
    assert profile["reports"]["free_reports_per_year"] == 2
    assert {p["code"] for p in profile["purposes"]} >= {"loan_approval", "subject_request"}
    schema = client.get("/v1/reports/schema", headers=auth(operator_key)).json()
    assert schema["$id"] == "urn:xinyong:schema:credit-report:1.2"
    assert "digest" in schema["required"]


# --- query records ------------------------------------------------------------------------------


def test_an_institution_sees_only_its_own_query_records(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    lender: Institution,
    by_bank: Furnish,
    make_key: MakeKey,
    operator_key: str,
) -> None:
    person = new_resident_id()
    by_bank(account_row(person))
    subject_id = subject_id_of(factory, keys, person)
    bank_key, lender_key = make_key(Role.QUERIER, bank), make_key(Role.QUERIER, lender)
    subject = {"subject_id": subject_id}
    ok = client.post(
        "/v1/reports",
        json={"subject": subject, "purpose": "post_loan_management"},
        headers=auth(bank_key),
    )
    assert ok.status_code == 200, ok.text
    refused = client.post(
        "/v1/reports",
        json={"subject": subject, "purpose": "loan_approval"},
        headers=auth(lender_key),
    )
    problem(refused, 403, "consent_required")

    def seen(key: str, **params: Any) -> list[tuple[str, str]]:
        response = client.get("/v1/query-records", params=params, headers=auth(key))
        assert response.status_code == 200, response.text
        return [(r["institution_code"], r["outcome"]) for r in response.json()]

    assert seen(bank_key) == [("bank-a", "served")]
    assert seen(lender_key) == [("lender-b", "refused")]
    # Asking for another institution's records still shows only one's own.
    assert seen(lender_key, institution_id=bank.id) == [("lender-b", "refused")]
    assert seen(operator_key) == [("lender-b", "refused"), ("bank-a", "served")]
    assert seen(operator_key, institution_id=bank.id) == [("bank-a", "served")]
    assert seen(make_key(Role.AUDITOR)) == seen(operator_key)
    furnisher = client.get("/v1/query-records", headers=auth(make_key(Role.FURNISHER, bank)))
    problem(furnisher, 403, "role_not_permitted")
    problem(
        client.get("/v1/query-records", params={"outcome": "maybe"}, headers=auth(operator_key)),
        422,
        "validation_error",
    )


# --- consents -----------------------------------------------------------------------------------


def test_consents_over_http(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    lender: Institution,
    by_bank: Furnish,
    make_key: MakeKey,
    operator_key: str,
) -> None:
    person = new_resident_id()
    by_bank(account_row(person))
    subject_id = subject_id_of(factory, keys, person)
    lender_key, bank_key = make_key(Role.QUERIER, lender), make_key(Role.QUERIER, bank)
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    document = hashlib.sha256(b"form").hexdigest()
    body = {
        "subject": {"identifier": person},
        "purposes": ["loan_approval"],
        "expires_at": expires,
        "evidence_kind": "document_hash",
        "evidence_sha256": document,
    }
    created = client.post("/v1/consents", json=body, headers=auth(lender_key))
    assert created.status_code == 201, created.text
    consent = created.json()
    assert (consent["subject_id"], consent["institution_code"], consent["status"]) == (
        subject_id,
        "lender-b",
        "active",
    )
    assert consent["evidence_sha256"] == document
    bank_consent = client.post("/v1/consents", json=body, headers=auth(bank_key)).json()

    # Validation: a domain refusal is 400/403, a malformed payload 422.
    problem(
        client.post(
            "/v1/consents", json={**body, "purposes": ["employment"]}, headers=auth(bank_key)
        ),
        403,
        "purpose_not_permitted",
    )
    problem(
        client.post(
            "/v1/consents",
            json={**body, "expires_at": (datetime.now(UTC) - timedelta(days=1)).isoformat()},
            headers=auth(lender_key),
        ),
        400,
        "invalid_consent",
    )
    problem(
        client.post(
            "/v1/consents", json={**body, "evidence_sha256": "xyz"}, headers=auth(lender_key)
        ),
        422,
        "validation_error",
    )
    problem(
        client.post("/v1/consents", json=body, headers=auth(operator_key)),
        403,
        "role_not_permitted",
    )

    # Each institution sees its own.
    listed = client.get("/v1/consents", headers=auth(lender_key)).json()
    assert [c["id"] for c in listed] == [consent["id"]]
    assert client.get(f"/v1/consents/{consent['id']}", headers=auth(lender_key)).status_code == 200
    problem(
        client.get(f"/v1/consents/{consent['id']}", headers=auth(bank_key)),
        404,
        "consent_not_found",
    )
    everything = client.get(
        "/v1/consents", params={"subject_id": subject_id}, headers=auth(make_key(Role.AUDITOR))
    ).json()
    assert {c["id"] for c in everything} == {consent["id"], bank_consent["id"]}

    # The consent lets the lender query; revoked, it no longer does.
    query = {"subject": {"subject_id": subject_id}, "purpose": "loan_approval"}
    served = client.post("/v1/reports", json=query, headers=auth(lender_key))
    assert served.status_code == 200, served.text
    assert served.json()["requester"]["consent_id"] == consent["id"]
    url = f"/v1/consents/{consent['id']}/revocation"
    problem(client.post(url, json={}, headers=auth(bank_key)), 404, "consent_not_found")
    revoked = client.post(url, json={"reason": "customer asked"}, headers=auth(lender_key))
    assert revoked.status_code == 200, revoked.text
    assert (revoked.json()["status"], revoked.json()["revoked_by"]) == ("revoked", "institution")
    problem(client.post(url, json={}, headers=auth(lender_key)), 409, "consent_already_revoked")
    problem(
        client.post("/v1/reports", json=query, headers=auth(lender_key)), 403, "consent_revoked"
    )

    # An operator revokes any consent, and the audit trail says so.
    operator_url = f"/v1/consents/{bank_consent['id']}/revocation"
    by_operator = client.post(
        operator_url, json={"reason": "court order"}, headers=auth(operator_key)
    )
    assert by_operator.json()["revoked_by"] == "operator"
    with factory() as session:
        (entry,) = session.scalars(select(AuditEntry)).all()
    assert (entry.action, entry.target_id, entry.reason) == (
        "consent.revoke",
        str(bank_consent["id"]),
        "court order",
    )
    problem(
        client.post(url, json={}, headers=auth(make_key(Role.AUDITOR))), 403, "role_not_permitted"
    )


# --- the portal ---------------------------------------------------------------------------------


def test_a_subject_sees_only_its_own_data_in_the_portal(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    settings: Settings,
    bank: Institution,
    lender: Institution,
    by_bank: Furnish,
    make_key: MakeKey,
) -> None:
    me, them = new_resident_id(), new_resident_id()
    by_bank(account_row(me, "MY-LOAN-0001"), account_row(them, "THEIR-LOAN-0002"))
    my_id, their_id = subject_id_of(factory, keys, me), subject_id_of(factory, keys, them)
    mine, theirs = (
        portal_token(factory, keys, settings, me),
        portal_token(factory, keys, settings, them),
    )
    lender_key = make_key(Role.QUERIER, lender)
    their_consent = new_consent(factory, keys, lender, their_id, ["loan_approval"])
    query = {"subject": {"subject_id": their_id}, "purpose": "loan_approval"}
    assert client.post("/v1/reports", json=query, headers=auth(lender_key)).status_code == 200
    their_record = by_bank.record_id("THEIR-LOAN-0002")

    # My report: my identifier in full, my account, none of theirs.
    report = client.get("/v1/portal/report", params={"lang": "en"}, headers=auth(mine))
    assert report.status_code == 200, report.text
    document = report.json()
    assert document["subject"]["subject_id"] == my_id
    assert document["subject"]["identifier"] == me
    assert [a["record_key"] for a in document["credit_accounts"]] == ["MY-LOAN-0001"]
    assert document["requester"]["kind"] == "subject"
    assert document["query_records"] == []
    assert digest_of(document) == report.headers["X-Report-Digest"]
    assert them not in report.text
    assert "THEIR-LOAN" not in report.text

    html = client.get("/v1/portal/report", params={"format": "html"}, headers=auth(mine))
    assert html.headers["content-type"].startswith("text/html")

    # Their query records and consents stay theirs.
    own_records = client.get("/v1/portal/query-records", headers=auth(mine)).json()
    assert {r["subject_id"] for r in own_records} == {my_id}
    assert [r["purpose"] for r in own_records] == ["subject_request", "subject_request"]
    their_records = client.get("/v1/portal/query-records", headers=auth(theirs)).json()
    assert [(r["institution_code"], r["purpose"]) for r in their_records] == [
        ("lender-b", "loan_approval")
    ]
    assert client.get("/v1/portal/consents", headers=auth(mine)).json() == []
    assert [c["id"] for c in client.get("/v1/portal/consents", headers=auth(theirs)).json()] == [
        their_consent
    ]
    revoke_theirs = client.post(
        f"/v1/portal/consents/{their_consent}/revocation", json={}, headers=auth(mine)
    )
    problem(revoke_theirs, 404, "consent_not_found")

    # Statements: only on my own records.
    problem(
        client.post(
            "/v1/portal/statements",
            json={"record_id": their_record, "text": "not mine"},
            headers=auth(mine),
        ),
        404,
        "statement_not_found",
    )
    assert client.get("/v1/portal/statements", headers=auth(mine)).json() == []

    # A subject token opens no institution route, and an API key no portal route.
    problem(client.post("/v1/reports", json=query, headers=auth(mine)), 403, "role_not_permitted")
    problem(client.get("/v1/query-records", headers=auth(mine)), 403, "role_not_permitted")
    problem(
        client.get(f"/v1/consents/{their_consent}", headers=auth(mine)), 403, "role_not_permitted"
    )
    problem(client.get("/v1/portal/report", headers=auth(lender_key)), 403, "role_not_permitted")
    problem(client.get("/v1/portal/report"), 401, "unauthenticated")


def test_a_subject_grants_and_revokes_consent_in_the_portal(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    settings: Settings,
    lender: Institution,
    make_key: MakeKey,
) -> None:
    person = new_resident_id()
    token = portal_token(factory, keys, settings, person)
    subject_id = subject_id_of(factory, keys, person)
    lender_key = make_key(Role.QUERIER, lender)
    query = {"subject": {"subject_id": subject_id}, "purpose": "employment"}
    problem(
        client.post("/v1/reports", json=query, headers=auth(lender_key)), 403, "consent_required"
    )

    expires = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    granted = client.post(
        "/v1/portal/consents",
        json={"institution_code": "lender-b", "purposes": ["employment"], "expires_at": expires},
        headers=auth(token),
    )
    assert granted.status_code == 201, granted.text
    consent = granted.json()
    assert (consent["evidence_kind"], consent["recorded_by"], consent["subject_id"]) == (
        "subject_portal",
        "subject",
        subject_id,
    )
    # Employment needs written consent: the subject's own grant is that.
    served = client.post("/v1/reports", json=query, headers=auth(lender_key))
    assert served.status_code == 200, served.text
    assert served.json()["requester"]["consent_id"] == consent["id"]

    bad = client.post(
        "/v1/portal/consents",
        json={"institution_code": "lender-b", "purposes": ["court_order"], "expires_at": expires},
        headers=auth(token),
    )
    problem(bad, 403, "purpose_not_permitted")

    revoked = client.post(
        f"/v1/portal/consents/{consent['id']}/revocation",
        json={"reason": "job filled"},
        headers=auth(token),
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_by"] == "subject"
    problem(
        client.post("/v1/reports", json=query, headers=auth(lender_key)), 403, "consent_revoked"
    )
    records = client.get("/v1/portal/query-records", headers=auth(token)).json()
    assert [(r["outcome"], r["refusal_code"]) for r in records] == [
        ("refused", "consent_revoked"),
        ("served", None),
        ("refused", "consent_required"),
    ]
