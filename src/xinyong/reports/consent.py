"""Consent records: a subject's authorisation for an institution to query it.

A consent names the subject, the institution, the purposes, the scope (report, score or
both), when it starts and ends, and its evidence: the SHA-256 of the signed document, the
statement the subject signed, or the subject's own grant in the portal. Consents are never
deleted: a revocation ends one from then on, and past queries keep citing it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.audit.schemas import StaffAction
from xinyong.audit.service import record_staff_action
from xinyong.db import utcnow
from xinyong.errors import ConflictError, NotFoundError, XinyongError
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Principal, Role
from xinyong.institutions.service import get_institution, get_institution_by_code
from xinyong.reports.models import Consent
from xinyong.reports.profiles import ConsentRule, EvidenceKind, JurisdictionProfile
from xinyong.reports.schemas import (
    ConsentCreate,
    ConsentGrant,
    ConsentScope,
    ConsentView,
)

EVIDENCE_CONTEXT = b"consent.evidence"


class InvalidConsentError(XinyongError):
    code = "invalid_consent"
    title = "The consent cannot be recorded"


class UnknownPurposeError(XinyongError):
    code = "unknown_purpose"
    title = "Unknown purpose"


class PurposeNotPermittedError(XinyongError):
    status = 403
    code = "purpose_not_permitted"
    title = "Purpose not permitted"


class ConsentNotFoundError(NotFoundError):
    code = "consent_not_found"
    title = "Consent not found"


class ConsentAlreadyRevokedError(ConflictError):
    code = "consent_already_revoked"
    title = "Consent already revoked"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def consent_status(consent: Consent, now: datetime | None = None) -> str:
    """active, pending (not started), expired or revoked, at ``now``."""
    now = now or utcnow()
    if consent.revoked_at is not None and consent.revoked_at <= now:
        return "revoked"
    if consent.granted_at > now:
        return "pending"
    if consent.expires_at <= now:
        return "expired"
    return "active"


def check_purposes(
    profile: JurisdictionProfile,
    institution: Institution,
    purposes: Sequence[str],
    evidence_kind: EvidenceKind,
) -> list[str]:
    """Validate the purposes a consent covers; return them sorted and deduplicated."""
    wanted = sorted(set(purposes))
    for code in wanted:
        rule = profile.purpose(code)
        if rule is None:
            raise UnknownPurposeError(
                f"{code!r} is not a purpose of the {profile.code} profile; known: "
                + ", ".join(purpose.code for purpose in profile.purposes),
                purpose=code,
            )
        if Role.QUERIER not in rule.roles:
            raise PurposeNotPermittedError(
                f"purpose {code} is not one an institution queries for", purpose=code
            )
        if code not in institution.permitted_purposes:
            raise PurposeNotPermittedError(
                f"institution {institution.code} is not permitted the purpose {code}",
                purpose=code,
            )
        if rule.consent is ConsentRule.REQUIRED and evidence_kind not in rule.evidence_kinds:
            raise InvalidConsentError(
                f"purpose {code} needs consent evidenced by "
                + " or ".join(kind.value for kind in rule.evidence_kinds),
                purpose=code,
            )
    return wanted


def _check_period(profile: JurisdictionProfile, granted_at: datetime, expires_at: datetime) -> None:
    if expires_at <= granted_at:
        raise InvalidConsentError("expires_at must be after granted_at")
    if expires_at <= utcnow():
        raise InvalidConsentError("expires_at is in the past")
    longest = timedelta(days=profile.reports.consent_max_days)
    if expires_at - granted_at > longest:
        raise InvalidConsentError(
            f"a consent may last at most {profile.reports.consent_max_days} days "
            f"under the {profile.code} profile",
            max_days=profile.reports.consent_max_days,
        )


def record_consent(
    session: Session,
    keys: KeyRing,
    principal: Principal,
    profile: JurisdictionProfile,
    subject: Subject,
    data: ConsentCreate,
) -> Consent:
    """Record a consent a querying institution obtained from ``subject``, with evidence."""
    if principal.institution_id is None:
        raise InvalidConsentError("only a querying institution records consents it obtained")
    institution = get_institution(session, principal.institution_id)
    if data.evidence_kind is EvidenceKind.SUBJECT_PORTAL:
        raise InvalidConsentError("subject_portal consents are granted by the subject itself")
    purposes = check_purposes(profile, institution, data.purposes, data.evidence_kind)
    granted_at = _aware(data.granted_at) if data.granted_at else utcnow()
    expires_at = _aware(data.expires_at)
    _check_period(profile, granted_at, expires_at)
    note = data.evidence_text.strip() if data.evidence_text else None
    if data.evidence_kind is EvidenceKind.DOCUMENT_HASH:
        if data.evidence_sha256 is None:
            raise InvalidConsentError("document_hash evidence needs evidence_sha256")
        digest = data.evidence_sha256.lower()
    else:
        if not note:
            raise InvalidConsentError("signed_statement evidence needs evidence_text")
        digest = hashlib.sha256(note.encode("utf-8")).hexdigest()
        if data.evidence_sha256 is not None and data.evidence_sha256.lower() != digest:
            raise InvalidConsentError("evidence_sha256 does not match evidence_text")
    consent = Consent(
        subject_id=subject.id,
        institution_id=institution.id,
        purposes=purposes,
        scope=data.scope.value,
        granted_at=granted_at,
        expires_at=expires_at,
        evidence_kind=data.evidence_kind.value,
        evidence_sha256=digest,
        evidence_note_ct=keys.encrypt(note.encode("utf-8"), EVIDENCE_CONTEXT) if note else None,
        recorded_by="institution",
        api_key_id=principal.api_key_id,
    )
    session.add(consent)
    session.flush()
    return consent


def grant_consent(
    session: Session,
    keys: KeyRing,
    principal: Principal,
    profile: JurisdictionProfile,
    data: ConsentGrant,
) -> Consent:
    """A signed-in subject grants an institution consent; the grant is its own evidence."""
    if principal.subject_id is None:
        raise InvalidConsentError("only a signed-in subject grants consent here")
    institution = get_institution_by_code(session, data.institution_code)
    if not institution.is_querier or institution.status != "active":
        raise InvalidConsentError(f"{institution.code} is not an active querying institution")
    purposes = check_purposes(profile, institution, data.purposes, EvidenceKind.SUBJECT_PORTAL)
    granted_at = utcnow()
    expires_at = _aware(data.expires_at)
    _check_period(profile, granted_at, expires_at)
    # The statement the subject agreed to, kept (encrypted) with its hash as the evidence.
    statement = (
        f"Subject account {principal.subject_account_id} authorises {institution.code} "
        f"({institution.name}) to query its credit {data.scope.value} for "
        f"{', '.join(purposes)} from {granted_at.isoformat()} until {expires_at.isoformat()} "
        f"under the {profile.code} profile {profile.version}."
    )
    consent = Consent(
        subject_id=principal.subject_id,
        institution_id=institution.id,
        purposes=purposes,
        scope=data.scope.value,
        granted_at=granted_at,
        expires_at=expires_at,
        evidence_kind=EvidenceKind.SUBJECT_PORTAL.value,
        evidence_sha256=hashlib.sha256(statement.encode("utf-8")).hexdigest(),
        evidence_note_ct=keys.encrypt(statement.encode("utf-8"), EVIDENCE_CONTEXT),
        recorded_by="subject",
        subject_account_id=principal.subject_account_id,
    )
    session.add(consent)
    session.flush()
    return consent


def get_consent_for(session: Session, principal: Principal, consent_id: int) -> Consent:
    """A consent the caller may see: its own (subject or institution), or any for staff."""
    consent = session.get(Consent, consent_id)
    visible = consent is not None and (
        principal.role in (Role.OPERATOR, Role.AUDITOR)
        or (principal.role is Role.SUBJECT and consent.subject_id == principal.subject_id)
        or (principal.role is Role.QUERIER and consent.institution_id == principal.institution_id)
    )
    if consent is None or not visible:
        # The same answer whether it does not exist or is someone else's.
        raise ConsentNotFoundError(f"no consent {consent_id} visible to you")
    return consent


def revoke_consent(
    session: Session, principal: Principal, consent_id: int, reason: str | None
) -> Consent:
    """End a consent from now on: by its subject, its institution or an operator."""
    consent = get_consent_for(session, principal, consent_id)
    if principal.role is Role.AUDITOR:
        raise ConsentNotFoundError(f"no consent {consent_id} you may revoke")
    if consent.revoked_at is not None:
        raise ConsentAlreadyRevokedError(f"consent {consent_id} was revoked already")
    consent.revoked_at = utcnow()
    consent.revoked_by = {
        Role.SUBJECT: "subject",
        Role.QUERIER: "institution",
        Role.OPERATOR: "operator",
    }[principal.role]
    consent.revocation_reason = reason
    if principal.role is Role.OPERATOR:
        record_staff_action(
            session,
            principal,
            StaffAction.CONSENT_REVOKE,
            target_type="consent",
            target_id=consent.id,
            reason=reason,
        )
    session.flush()
    return consent


def list_consents(
    session: Session,
    *,
    subject_id: int | None = None,
    institution_id: int | None = None,
    offset: int = 0,
    limit: int = 100,
) -> Sequence[Consent]:
    query = select(Consent).order_by(Consent.id.desc()).offset(offset).limit(limit)
    if subject_id is not None:
        query = query.where(Consent.subject_id == subject_id)
    if institution_id is not None:
        query = query.where(Consent.institution_id == institution_id)
    return session.scalars(query).all()


def view_consent(session: Session, consent: Consent) -> ConsentView:
    institution = get_institution(session, consent.institution_id)
    return ConsentView(
        id=consent.id,
        subject_id=consent.subject_id,
        institution_id=consent.institution_id,
        institution_code=institution.code,
        purposes=list(consent.purposes),
        scope=ConsentScope(consent.scope),
        granted_at=consent.granted_at,
        expires_at=consent.expires_at,
        evidence_kind=EvidenceKind(consent.evidence_kind),
        evidence_sha256=consent.evidence_sha256,
        recorded_by=consent.recorded_by,
        created_at=consent.created_at,
        revoked_at=consent.revoked_at,
        revoked_by=consent.revoked_by,
        revocation_reason=consent.revocation_reason,
        status=consent_status(consent),
    )
