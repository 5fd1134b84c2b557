"""Consents: recorded with evidence, granted by the subject, revoked, never deleted (RULES.md 9)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from reports.helpers import (
    CN,
    US,
    auditor,
    make_subject,
    operator,
    querier,
    subject_principal,
)
from support import MakeInstitution, new_resident_id
from xinyong.audit.models import AuditEntry
from xinyong.db import transaction
from xinyong.errors import XinyongError
from xinyong.identity.crypto import KeyRing
from xinyong.identity.service import get_subject
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Principal
from xinyong.reports.consent import (
    EVIDENCE_CONTEXT,
    consent_status,
    get_consent_for,
    grant_consent,
    list_consents,
    record_consent,
    revoke_consent,
    view_consent,
)
from xinyong.reports.models import Consent
from xinyong.reports.profiles import EvidenceKind, JurisdictionProfile
from xinyong.reports.schemas import ConsentCreate, ConsentGrant, ConsentScope, SubjectSelector

DOCUMENT = hashlib.sha256(b"signed authorisation form").hexdigest()


@pytest.fixture
def bank(make_institution: MakeInstitution) -> Institution:
    return make_institution(
        "bank-c", purposes=["loan_approval", "credit_card_approval", "employment", "court_order"]
    )


@pytest.fixture
def other_bank(make_institution: MakeInstitution) -> Institution:
    return make_institution("bank-d", purposes=["loan_approval"])


@pytest.fixture
def person(factory: sessionmaker[Session], keys: KeyRing) -> int:
    return make_subject(factory, keys, "resident_id", new_resident_id())


def later(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def consent_data(subject_id: int, **overrides: Any) -> ConsentCreate:
    data: dict[str, Any] = {
        "subject": SubjectSelector(subject_id=subject_id),
        "purposes": ["loan_approval"],
        "expires_at": later(90),
        "evidence_kind": EvidenceKind.DOCUMENT_HASH,
        "evidence_sha256": DOCUMENT,
    }
    data.update(overrides)
    return ConsentCreate(**data)


def record(
    factory: sessionmaker[Session],
    keys: KeyRing,
    principal: Principal,
    subject_id: int,
    profile: JurisdictionProfile = CN,
    **overrides: Any,
) -> Consent:
    with transaction(factory) as session:
        subject = get_subject(session, subject_id)
        return record_consent(
            session, keys, principal, profile, subject, consent_data(subject_id, **overrides)
        )


def grant(
    factory: sessionmaker[Session],
    keys: KeyRing,
    subject_id: int,
    institution_code: str,
    purposes: list[str],
    **overrides: Any,
) -> Consent:
    with transaction(factory) as session:
        return grant_consent(
            session,
            keys,
            subject_principal(subject_id),
            CN,
            ConsentGrant(
                institution_code=institution_code,
                purposes=purposes,
                expires_at=overrides.pop("expires_at", later(30)),
                **overrides,
            ),
        )


def refused(call: Any, code: str, status: int = 400) -> XinyongError:
    with pytest.raises(XinyongError) as raised:
        call()
    assert (raised.value.code, raised.value.status) == (code, status), raised.value.detail
    return raised.value


# --- recording --------------------------------------------------------------------------------


def test_record_a_consent_with_a_document_hash(
    factory: sessionmaker[Session], keys: KeyRing, bank: Institution, person: int
) -> None:
    consent = record(
        factory,
        keys,
        querier(bank),
        person,
        purposes=["loan_approval", "credit_card_approval", "loan_approval"],
        evidence_sha256=DOCUMENT.upper(),
        scope=ConsentScope.BOTH,
    )
    with factory() as session:
        stored = session.get(Consent, consent.id)
        assert stored is not None
        view = view_consent(session, stored)
    assert view.subject_id == person
    assert (view.institution_id, view.institution_code) == (bank.id, "bank-c")
    assert view.purposes == ["credit_card_approval", "loan_approval"]  # sorted, deduplicated
    assert view.scope is ConsentScope.BOTH
    assert view.evidence_kind is EvidenceKind.DOCUMENT_HASH
    assert view.evidence_sha256 == DOCUMENT
    assert view.recorded_by == "institution"
    assert view.status == "active"
    assert view.revoked_at is None
    assert stored.evidence_note_ct is None


def test_a_signed_statement_is_kept_encrypted_with_its_hash(
    factory: sessionmaker[Session], keys: KeyRing, bank: Institution, person: int
) -> None:
    text = "本人同意 bank-c 查询本人信用报告，用于贷款审批。"
    consent = record(
        factory,
        keys,
        querier(bank),
        person,
        evidence_kind=EvidenceKind.SIGNED_STATEMENT,
        evidence_sha256=None,
        evidence_text=f"  {text}\n",
    )
    assert consent.evidence_sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert consent.evidence_note_ct is not None
    assert text.encode() not in consent.evidence_note_ct
    assert keys.decrypt(consent.evidence_note_ct, EVIDENCE_CONTEXT).decode() == text
    # The hash may be sent along; it must then match.
    again = record(
        factory,
        keys,
        querier(bank),
        person,
        evidence_kind=EvidenceKind.SIGNED_STATEMENT,
        evidence_sha256=consent.evidence_sha256,
        evidence_text=text,
    )
    assert again.evidence_sha256 == consent.evidence_sha256


def test_a_consent_may_start_later(
    factory: sessionmaker[Session], keys: KeyRing, bank: Institution, person: int
) -> None:
    consent = record(
        factory, keys, querier(bank), person, granted_at=later(10), expires_at=later(40)
    )
    assert consent_status(consent) == "pending"


@pytest.mark.parametrize(
    ("overrides", "code", "fragment"),
    [
        ({"purposes": ["marketing"]}, "unknown_purpose", "marketing"),
        ({"purposes": ["subject_request"]}, "purpose_not_permitted", "not one an institution"),
        ({"purposes": ["insurance_underwriting"]}, "purpose_not_permitted", "not permitted"),
        (
            {
                "purposes": ["employment"],
                "evidence_kind": EvidenceKind.SIGNED_STATEMENT,
                "evidence_sha256": None,
                "evidence_text": "I agree",
            },
            "invalid_consent",
            "document_hash or subject_portal",
        ),
        (
            {"evidence_kind": EvidenceKind.SUBJECT_PORTAL},
            "invalid_consent",
            "granted by the subject",
        ),
        ({"evidence_sha256": None}, "invalid_consent", "needs evidence_sha256"),
        (
            {"evidence_kind": EvidenceKind.SIGNED_STATEMENT, "evidence_sha256": None},
            "invalid_consent",
            "needs evidence_text",
        ),
        (
            {"evidence_kind": EvidenceKind.SIGNED_STATEMENT, "evidence_text": "   "},
            "invalid_consent",
            "needs evidence_text",
        ),
        (
            {"evidence_kind": EvidenceKind.SIGNED_STATEMENT, "evidence_text": "I agree"},
            "invalid_consent",
            "does not match",
        ),
        ({"granted_at": later(5), "expires_at": later(4)}, "invalid_consent", "after granted_at"),
        ({"granted_at": later(-10), "expires_at": later(-1)}, "invalid_consent", "in the past"),
        (
            {"granted_at": later(-1), "expires_at": later(-1 + 1831)},
            "invalid_consent",
            "at most 1830 days",
        ),
    ],
    ids=[
        "unknown-purpose",
        "subject-only-purpose",
        "purpose-not-permitted",
        "employment-needs-written-consent",
        "portal-evidence-from-an-institution",
        "document-without-hash",
        "statement-without-text",
        "statement-blank",
        "statement-hash-mismatch",
        "ends-before-start",
        "already-expired",
        "too-long",
    ],
)
def test_an_invalid_consent_is_refused(
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    person: int,
    overrides: dict[str, Any],
    code: str,
    fragment: str,
) -> None:
    status = 403 if code == "purpose_not_permitted" else 400
    error = refused(lambda: record(factory, keys, querier(bank), person, **overrides), code, status)
    assert fragment in error.detail
    with factory() as session:
        assert list_consents(session, subject_id=person) == []


def test_only_an_institution_records_consents(
    factory: sessionmaker[Session], keys: KeyRing, person: int
) -> None:
    refused(lambda: record(factory, keys, operator(), person), "invalid_consent")
    refused(lambda: record(factory, keys, subject_principal(person), person), "invalid_consent")


def test_the_longest_consent_is_allowed(
    factory: sessionmaker[Session], keys: KeyRing, bank: Institution, person: int
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    consent = record(
        factory, keys, querier(bank), person, granted_at=start, expires_at=start + timedelta(1830)
    )
    assert consent.expires_at - consent.granted_at == timedelta(days=1830)


def test_a_purpose_needing_no_consent_takes_any_evidence(
    factory: sessionmaker[Session], keys: KeyRing, make_institution: MakeInstitution, person: int
) -> None:
    insurer = make_institution("insurer-a", purposes=["insurance_underwriting", "employment"])
    consent = record(
        factory,
        keys,
        querier(insurer),
        person,
        US,
        purposes=["insurance_underwriting"],
        evidence_kind=EvidenceKind.SIGNED_STATEMENT,
        evidence_sha256=None,
        evidence_text="I agree",
    )
    assert consent.purposes == ["insurance_underwriting"]
    # Employment still needs written consent under the us profile (FCRA §1681b(b)(2)).
    refused(
        lambda: record(
            factory,
            keys,
            querier(insurer),
            person,
            US,
            purposes=["employment"],
            evidence_kind=EvidenceKind.SIGNED_STATEMENT,
            evidence_sha256=None,
            evidence_text="I agree",
        ),
        "invalid_consent",
    )


# --- the subject's own grant --------------------------------------------------------------------


def test_a_subject_grants_consent_in_the_portal(
    factory: sessionmaker[Session], keys: KeyRing, bank: Institution, person: int
) -> None:
    consent = grant(factory, keys, person, "bank-c", ["employment", "loan_approval"])
    assert consent.subject_id == person
    assert consent.institution_id == bank.id
    assert consent.purposes == ["employment", "loan_approval"]
    assert consent.evidence_kind == "subject_portal"
    assert consent.recorded_by == "subject"
    assert consent_status(consent) == "active"
    assert consent.evidence_note_ct is not None
    statement = keys.decrypt(consent.evidence_note_ct, EVIDENCE_CONTEXT)
    assert hashlib.sha256(statement).hexdigest() == consent.evidence_sha256
    assert "bank-c" in statement.decode()


def test_invalid_grants(
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_institution: MakeInstitution,
    bank: Institution,
    person: int,
) -> None:
    furnisher = make_institution("utility-a", record_types=["utility_arrears"])
    refused(lambda: grant(factory, keys, person, "utility-a", ["loan_approval"]), "invalid_consent")
    refused(
        lambda: grant(factory, keys, person, "nobody", ["loan_approval"]),
        "institution_not_found",
        404,
    )
    refused(
        lambda: grant(factory, keys, person, "bank-c", ["insurance_underwriting"]),
        "purpose_not_permitted",
        403,
    )
    refused(
        lambda: grant(factory, keys, person, "bank-c", ["loan_approval"], expires_at=later(1831)),
        "invalid_consent",
    )
    refused(
        lambda: grant(factory, keys, person, "bank-c", ["loan_approval"], expires_at=later(-1)),
        "invalid_consent",
    )
    with transaction(factory) as session:
        refused(
            lambda: grant_consent(
                session,
                keys,
                querier(bank),
                CN,
                ConsentGrant(
                    institution_code="bank-c", purposes=["loan_approval"], expires_at=later(9)
                ),
            ),
            "invalid_consent",
        )
    assert furnisher.is_querier is False


# --- revocation ---------------------------------------------------------------------------------


def revoke(factory: sessionmaker[Session], principal: Principal, consent_id: int) -> Consent:
    with transaction(factory) as session:
        return revoke_consent(session, principal, consent_id, "changed my mind")


def test_the_subject_revokes_its_consent(
    factory: sessionmaker[Session], keys: KeyRing, bank: Institution, person: int
) -> None:
    consent = grant(factory, keys, person, "bank-c", ["loan_approval"])
    revoked = revoke(factory, subject_principal(person), consent.id)
    assert (revoked.revoked_by, revoked.revocation_reason) == ("subject", "changed my mind")
    assert revoked.revoked_at is not None
    assert consent_status(revoked) == "revoked"
    error = refused(
        lambda: revoke(factory, subject_principal(person), consent.id),
        "consent_already_revoked",
        409,
    )
    assert str(consent.id) in error.detail
    # Revoked, never deleted.
    with factory() as session:
        assert [c.id for c in list_consents(session, subject_id=person)] == [consent.id]


def test_the_institution_revokes_its_own_consents_only(
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    other_bank: Institution,
    person: int,
) -> None:
    consent = record(factory, keys, querier(bank), person)
    other = make_subject(factory, keys, "resident_id", new_resident_id())
    missing = refused(
        lambda: revoke(factory, querier(other_bank), consent.id), "consent_not_found", 404
    )
    unknown = refused(
        lambda: revoke(factory, querier(other_bank), 987654), "consent_not_found", 404
    )
    # Someone else's consent and a missing one look the same.
    assert missing.detail == unknown.detail.replace("987654", str(consent.id))
    refused(lambda: revoke(factory, subject_principal(other), consent.id), "consent_not_found", 404)
    refused(lambda: revoke(factory, auditor(), consent.id), "consent_not_found", 404)
    revoked = revoke(factory, querier(bank), consent.id)
    assert revoked.revoked_by == "institution"
    with factory() as session:
        assert session.scalars(select(AuditEntry)).all() == []


def test_an_operator_revokes_any_consent_with_an_audit_entry(
    factory: sessionmaker[Session], keys: KeyRing, bank: Institution, person: int
) -> None:
    consent = record(factory, keys, querier(bank), person)
    revoked = revoke(factory, operator("ops-1"), consent.id)
    assert revoked.revoked_by == "operator"
    with factory() as session:
        (entry,) = session.scalars(select(AuditEntry)).all()
    assert (entry.action, entry.target_type, entry.target_id) == (
        "consent.revoke",
        "consent",
        str(consent.id),
    )
    assert (entry.actor, entry.role, entry.reason) == ("ops-1", "operator", "changed my mind")


# --- reading ------------------------------------------------------------------------------------


def test_who_sees_which_consent(
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    other_bank: Institution,
    person: int,
) -> None:
    mine = record(factory, keys, querier(bank), person)
    theirs = record(factory, keys, querier(other_bank), person)
    other_person = make_subject(factory, keys, "resident_id", new_resident_id())
    elsewhere = record(factory, keys, querier(bank), other_person)
    with factory() as session:
        assert get_consent_for(session, querier(bank), mine.id).id == mine.id
        assert get_consent_for(session, subject_principal(person), theirs.id).id == theirs.id
        assert get_consent_for(session, auditor(), theirs.id).id == theirs.id
        assert get_consent_for(session, operator(), elsewhere.id).id == elsewhere.id
        refused(
            lambda: get_consent_for(session, querier(bank), theirs.id), "consent_not_found", 404
        )
        refused(
            lambda: get_consent_for(session, subject_principal(person), elsewhere.id),
            "consent_not_found",
            404,
        )
        ids = [c.id for c in list_consents(session, subject_id=person)]
        assert ids == [theirs.id, mine.id]  # newest first
        ids = [c.id for c in list_consents(session, institution_id=bank.id)]
        assert ids == [elsewhere.id, mine.id]
        ids = [c.id for c in list_consents(session, subject_id=person, institution_id=bank.id)]
        assert ids == [mine.id]
        assert [c.id for c in list_consents(session, offset=1, limit=1)] == [theirs.id]


def test_consent_status_over_time() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    consent = Consent(
        granted_at=start, expires_at=start + timedelta(days=30), revoked_at=None, purposes=[]
    )
    assert consent_status(consent, start - timedelta(seconds=1)) == "pending"
    assert consent_status(consent, start) == "active"
    assert consent_status(consent, start + timedelta(days=30)) == "expired"
    consent.revoked_at = start + timedelta(days=10)
    assert consent_status(consent, start + timedelta(days=9)) == "active"
    assert consent_status(consent, start + timedelta(days=10)) == "revoked"
    assert consent_status(consent, start + timedelta(days=40)) == "revoked"
