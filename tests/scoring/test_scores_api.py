"""Scores over HTTP: consent and purpose, query records, reports, the portal, staff reads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from scoring_platform import PROFILE, ScoringPlatform, scoring_platform
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from reports.helpers import portal_token, querier
from xinyong.audit.models import AccessEvent
from xinyong.config import Settings
from xinyong.db import transaction, utcnow
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.identity.service import view_subject
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import LOCAL_OPERATOR, Role
from xinyong.reports.consent import record_consent
from xinyong.reports.models import QueryRecord
from xinyong.reports.profiles import EvidenceKind
from xinyong.reports.schemas import ConsentCreate, ConsentScope, SubjectSelector
from xinyong.scoring.features import subject_features
from xinyong.scoring.registry import retire

PROBLEM = "application/problem+json"


@pytest.fixture
def platform_with_champions(
    factory: sessionmaker[Session], keys: KeyRing, tmp_path: Path
) -> ScoringPlatform:
    return scoring_platform(factory, keys, tmp_path, persons=200, enterprises=40)


@pytest.fixture
def lender(make_institution: Any) -> Institution:
    return make_institution("lender-s", purposes=["loan_approval"])


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def _scorable(factory: sessionmaker[Session], keys: KeyRing, kind: str) -> Subject:
    with factory() as session:
        for subject in session.scalars(
            select(Subject).where(Subject.kind == kind).order_by(Subject.id)
        ):
            features = subject_features(session, keys, PROFILE, subject, PROFILE.today())
            months = features.get("age_of_oldest_account_months")
            years = features.get("years_on_file")
            if (months or 0) >= 12 or (years or 0) >= 1:
                return subject
    raise AssertionError(f"no scorable {kind}")


def _consent(
    factory: sessionmaker[Session],
    keys: KeyRing,
    lender: Institution,
    subject: Subject,
    scope: ConsentScope,
) -> int:
    now = utcnow()
    with transaction(factory) as session:
        consent = record_consent(
            session,
            keys,
            querier(lender),
            PROFILE,
            session.get(Subject, subject.id),
            ConsentCreate(
                subject=SubjectSelector(subject_id=subject.id),
                purposes=["loan_approval"],
                scope=scope,
                granted_at=now,
                expires_at=now + timedelta(days=30),
                evidence_kind=EvidenceKind.SIGNED_STATEMENT,
                evidence_text="本人同意查询信用评分。",
            ),
        )
        return consent.id


def _query_records(
    factory: sessionmaker[Session], subject_id: int
) -> list[tuple[str, str, str | None]]:
    with factory() as session:
        return [
            (record.product, record.outcome, record.refusal_code)
            for record in session.scalars(
                select(QueryRecord)
                .where(QueryRecord.subject_id == subject_id)
                .order_by(QueryRecord.id)
            )
        ]


def test_an_institution_scores_a_person_only_with_consent_covering_scores(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_key: Any,
    lender: Institution,
    platform_with_champions: ScoringPlatform,
) -> None:
    key = make_key(Role.QUERIER, lender)
    person = _scorable(factory, keys, "person")
    body = {"subject": {"subject_id": person.id}, "purpose": "loan_approval"}

    _problem(client.post("/v1/scores", json=body, headers=_auth(key)), 403, "consent_required")
    report_only = _consent(factory, keys, lender, person, ConsentScope.REPORT)
    refused = client.post(
        "/v1/scores", json={**body, "consent_id": report_only}, headers=_auth(key)
    )
    _problem(refused, 403, "consent_does_not_cover")

    _consent(factory, keys, lender, person, ConsentScope.BOTH)
    served = client.post("/v1/scores", json=body, headers=_auth(key))
    assert served.status_code == 200, served.text
    document = served.json()
    score = document["score"]
    assert score["outcome"] == "scored"
    assert isinstance(score["score"], float)
    assert score["model_name"] == "person-scorecard"
    assert score["trigger"] == "query"
    assert len(score["reasons"]) <= 5
    for reason in score["reasons"]:
        assert reason["code"].startswith("R_")
        assert reason["text_zh"]
        assert reason["text_en"]
    assert sum(score["points"].values()) == pytest.approx(score["score"])
    assert _query_records(factory, person.id) == [
        ("score", "refused", "consent_required"),
        ("score", "refused", "consent_does_not_cover"),
        ("score", "served", None),
    ]

    # A report under a consent for both shows the same score; under a report-only consent
    # it shows none.
    report = client.post("/v1/reports", json={**body, "format": "json"}, headers=_auth(key)).json()
    assert report["schema_version"] == "1.2"
    assert report["score"]["score"] == score["score"]
    assert [r["code"] for r in report["score"]["reasons"]] == [r["code"] for r in score["reasons"]]
    plain = client.post(
        "/v1/reports", json={**body, "consent_id": report_only}, headers=_auth(key)
    ).json()
    assert plain["score"] is None


def test_an_enterprise_score_needs_consent_even_where_its_report_does_not(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_key: Any,
    lender: Institution,
    platform_with_champions: ScoringPlatform,
) -> None:
    key = make_key(Role.QUERIER, lender)
    company = _scorable(factory, keys, "enterprise")
    body = {"subject": {"subject_id": company.id}, "purpose": "loan_approval"}
    _problem(
        client.post("/v1/scores", json=body, headers=_auth(key)), 403, "score_consent_required"
    )
    report = client.post("/v1/reports", json=body, headers=_auth(key)).json()
    assert report["coverage"] == "public_only"
    assert report["score"] is None
    _consent(factory, keys, lender, company, ConsentScope.SCORE)
    served = client.post("/v1/scores", json=body, headers=_auth(key))
    assert served.status_code == 200, served.text
    assert served.json()["score"]["model_name"] == "enterprise-scorecard"


def test_roles_the_portal_and_staff_history(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    settings: Settings,
    make_key: Any,
    make_institution: Any,
    platform_with_champions: ScoringPlatform,
) -> None:
    person = _scorable(factory, keys, "person")
    furnisher = make_key(
        Role.FURNISHER, make_institution("bank-f", record_types=["credit_account"])
    )
    auditor = make_key(Role.AUDITOR)
    operator = make_key(Role.OPERATOR)
    body = {"subject": {"subject_id": person.id}, "purpose": "loan_approval"}
    _problem(
        client.post("/v1/scores", json=body, headers=_auth(furnisher)), 403, "role_not_permitted"
    )
    _problem(
        client.post("/v1/scores", json=body, headers=_auth(auditor)), 403, "role_not_permitted"
    )

    with factory() as session:
        identifier = view_subject(keys, session.get(Subject, person.id), reveal=True).identifier
    token = portal_token(factory, keys, settings, identifier)
    own = client.get("/v1/portal/score", headers=_auth(token))
    assert own.status_code == 200, own.text
    assert own.json()["purpose"] == "subject_request"
    history = client.get("/v1/portal/scores", headers=_auth(token)).json()
    assert [entry["id"] for entry in history] == [own.json()["score"]["id"]]

    staff = client.get(f"/v1/subjects/{person.id}/scores", headers=_auth(auditor))
    assert staff.status_code == 200
    assert len(staff.json()) == 1
    with factory() as session:
        events = session.scalars(
            select(AccessEvent).where(AccessEvent.action == "subject.scores.read")
        ).all()
        assert [event.subject_id for event in events] == [person.id]
    _problem(
        client.get("/v1/subjects/999999/scores", headers=_auth(operator)), 404, "subject_not_found"
    )
    _problem(
        client.get(f"/v1/subjects/{person.id}/scores", headers=_auth(furnisher)),
        403,
        "role_not_permitted",
    )

    # Without a champion, a score query is a clear conflict, and it is recorded.
    with transaction(factory) as session:
        retire(session, platform_with_champions.person_model_id, LOCAL_OPERATOR, "withdrawn")
    _problem(
        client.post(
            "/v1/scores",
            json={**body, "purpose": "subject_request"},
            headers=_auth(operator),
        ),
        409,
        "no_champion_model",
    )
    assert _query_records(factory, person.id)[-1] == ("score", "refused", "no_champion_model")
