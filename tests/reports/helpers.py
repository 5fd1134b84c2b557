"""Helpers of the report, consent and statement tests: furnishing, principals, requests.

A test builds a small credit file with :class:`Furnish` (rows go through the real batch
runner), moves versions back in time with :func:`backdate` (``record_versions`` is not
append-only) and asks for reports with :func:`issue` as a given principal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import count
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from support import account_row, ingest_path, jsonl_bytes, new_resident_id
from xinyong.accounts.service import activate_account, enrol_subject, login
from xinyong.config import Settings
from xinyong.db import transaction
from xinyong.identity.crypto import KeyRing
from xinyong.identity.service import find_subject, get_subject, resolve_subjects, subject_ref
from xinyong.ingestion.schemas import BatchResult
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Principal, Role
from xinyong.records.models import RecordVersion
from xinyong.records.service import find_record
from xinyong.reports.consent import record_consent, revoke_consent
from xinyong.reports.models import Consent, QueryRecord
from xinyong.reports.profiles import EvidenceKind, JurisdictionProfile, get_profile
from xinyong.reports.schemas import (
    Channel,
    ConsentCreate,
    ConsentScope,
    CreditReport,
    Lang,
    ReportItem,
    SubjectSelector,
)
from xinyong.reports.service import QueryRequest, request_report

CN = get_profile("cn")
US = get_profile("us")

_FILES = count(1)


class Furnish:
    """Submit rows as one batch file of a furnisher; find its records again."""

    def __init__(
        self, tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, furnisher: Institution
    ) -> None:
        self.tmp_path = tmp_path
        self.factory = factory
        self.keys = keys
        self.furnisher = furnisher

    def __call__(self, *rows: dict[str, Any]) -> BatchResult:
        path = self.tmp_path / f"report-batch-{next(_FILES)}.jsonl"
        path.write_bytes(jsonl_bytes(rows))
        result = ingest_path(self.factory, self.keys, self.furnisher.id, path)
        assert result.rows.rejected == 0, result.rejections
        return result

    def record_id(self, key: str, record_type: str = "credit_account") -> int:
        with self.factory() as session:
            return find_record(session, self.keys, self.furnisher.id, record_type, key).id


# --- rows -------------------------------------------------------------------------------------


def person_row(identifier: str, record_type: str, key: str, **fields: Any) -> dict[str, Any]:
    return {
        "record_type": record_type,
        "record_key": key,
        "subject_id_type": "resident_id",
        "subject_identifier": identifier,
        "subject_name": "李四",
        **fields,
    }


def enterprise_row(uscc: str, record_type: str, key: str, **fields: Any) -> dict[str, Any]:
    return {
        "record_type": record_type,
        "record_key": key,
        "subject_id_type": "uscc",
        "subject_identifier": uscc,
        "subject_name": "某某科技有限公司",
        **fields,
    }


def tax_arrears_fields(since: date, paid: date | None = None, **more: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "valid_from": since.isoformat(),
        "tax_type": "vat",
        "amount": "3200.00",
        "since_date": since.isoformat(),
        "authority": "国家税务总局北京市朝阳区税务局",
    }
    if paid is not None:
        fields["paid_date"] = paid.isoformat()
    fields.update(more)
    return fields


def social_insurance_fields(**more: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "valid_from": "2025-01-01",
        "insurance_type": "pension",
        "payer_name": "某某科技有限公司",
        "status": "paying",
        "contribution_base": "18000.00",
        "first_paid_month": "2015-07",
        "paid_through_month": "2025-12",
        "months_in_arrears": 0,
    }
    fields.update(more)
    return fields


def closed_account_row(identifier: str, key: str, closed: date, **more: Any) -> dict[str, Any]:
    """A credit account in good standing, closed on ``closed``."""
    opened = closed - timedelta(days=3 * 365)
    return account_row(
        identifier,
        key,
        valid_from=closed.isoformat(),
        open_date=opened.isoformat(),
        close_date=closed.isoformat(),
        info_date=closed.isoformat(),
        status="closed",
        balance="0.00",
        grid_end_month=f"{closed:%Y-%m}",
        **more,
    )


# --- subjects and principals ------------------------------------------------------------------


def make_subject(
    factory: sessionmaker[Session], keys: KeyRing, id_type: str, identifier: str
) -> int:
    """The subject with this identifier, created if the platform has not seen it yet."""
    with transaction(factory) as session:
        ref = subject_ref(keys, id_type, identifier, name="王五")
        return resolve_subjects(session, keys, [ref])[ref.index][0]


def subject_id_of(
    factory: sessionmaker[Session], keys: KeyRing, identifier: str, id_type: str = "resident_id"
) -> int:
    with factory() as session:
        return find_subject(session, subject_ref(keys, id_type, identifier)).id


def querier(institution: Institution) -> Principal:
    return Principal(
        api_key_id=None,
        role=Role.QUERIER,
        institution_id=institution.id,
        institution_code=institution.code,
        label=f"{institution.code} test key",
    )


def operator(label: str = "operator test key") -> Principal:
    return Principal(
        api_key_id=None, role=Role.OPERATOR, institution_id=None, institution_code=None, label=label
    )


def auditor() -> Principal:
    return Principal(
        api_key_id=None, role=Role.AUDITOR, institution_id=None, institution_code=None, label="aud"
    )


def subject_principal(subject_id: int) -> Principal:
    return Principal(
        api_key_id=None,
        role=Role.SUBJECT,
        institution_id=None,
        institution_code=None,
        label=f"subject {subject_id}",
        subject_id=subject_id,
    )


# --- reports ----------------------------------------------------------------------------------


def issue(
    factory: sessionmaker[Session],
    keys: KeyRing,
    principal: Principal,
    subject_id: int,
    purpose: str,
    *,
    profile: JurisdictionProfile = CN,
    as_of: date | None = None,
    consent_id: int | None = None,
    reference: str | None = None,
    operator_user: str | None = None,
    reveal: bool = False,
    channel: Channel = Channel.API,
) -> CreditReport:
    """Request a report as ``principal`` in a transaction of its own (as a route does)."""
    with transaction(factory) as session:
        subject = get_subject(session, subject_id)
        return request_report(
            session,
            factory,
            keys,
            principal,
            profile,
            subject,
            QueryRequest(
                purpose=purpose,
                as_of=as_of,
                consent_id=consent_id,
                reference=reference,
                operator_user=operator_user,
            ),
            channel=channel,
            lang=Lang.ZH_CN,
            reveal=reveal,
        ).report


def all_items(report: CreditReport) -> list[ReportItem]:
    """Every item of a report: accounts, then each public-record section."""
    items = list(report.credit_accounts)
    for section in type(report.public_records).model_fields:
        items.extend(getattr(report.public_records, section))
    return items


def content(report: CreditReport) -> list[tuple[Any, ...]]:
    """What a report says about the file: items with versions and fields, sorted."""
    return sorted(
        (
            item.record_type,
            item.record_key,
            item.version,
            item.valid_from,
            item.content_hash,
            sorted(item.fields.items()),
        )
        for item in all_items(report)
    )


def keys_of(report: CreditReport, record_type: str | None = None) -> set[str]:
    return {
        item.record_key
        for item in all_items(report)
        if record_type is None or item.record_type == record_type
    }


def query_records(factory: sessionmaker[Session], subject_id: int) -> list[QueryRecord]:
    with factory() as session:
        return list(
            session.scalars(
                select(QueryRecord)
                .where(QueryRecord.subject_id == subject_id)
                .order_by(QueryRecord.id)
            )
        )


# --- moving things in time --------------------------------------------------------------------


def midday(day: date) -> datetime:
    """Noon UTC of ``day``: the same calendar day in Asia/Shanghai and in UTC."""
    return datetime.combine(day, time(12), UTC)


def backdate(
    factory: sessionmaker[Session], record_id: int, received: datetime, version: int | None = None
) -> None:
    """Pretend the record's versions (or one of them) reached the platform at ``received``."""
    with transaction(factory) as session:
        statement = update(RecordVersion).where(RecordVersion.record_id == record_id)
        if version is not None:
            statement = statement.where(RecordVersion.version == version)
        session.execute(statement.values(received_at=received))


def set_consent_period(
    factory: sessionmaker[Session],
    consent_id: int,
    granted_at: datetime,
    expires_at: datetime,
) -> None:
    """Move a consent's period (consents are not append-only; revocation is a column)."""
    with transaction(factory) as session:
        consent = session.get(Consent, consent_id)
        assert consent is not None
        consent.granted_at = granted_at
        consent.expires_at = expires_at


def days_ago(days: int, profile: JurisdictionProfile = CN) -> date:
    return profile.today() - timedelta(days=days)


def years_before(day: date, years: int, days: int = 0) -> date:
    """``day`` minus whole years (29 February becomes 28) minus ``days``."""
    try:
        moved = day.replace(year=day.year - years)
    except ValueError:
        moved = day.replace(year=day.year - years, day=28)
    return moved - timedelta(days=days)


# --- refusals ---------------------------------------------------------------------------------

# Every way a report request is refused, with the HTTP status it maps to.
REFUSALS: dict[str, int] = {
    "unknown_purpose": 400,
    "purpose_not_permitted": 403,
    "purpose_not_permitted_to_the_institution": 403,
    "reference_required": 400,
    "as_of_in_future": 400,
    "consent_required": 403,
    "consent_of_another_institution": 403,
    "consent_expired": 403,
    "consent_revoked": 403,
    "consent_not_yet_valid": 403,
    "consent_does_not_cover": 403,
    "consent_not_found": 404,
    "consent_not_found_other_subject": 404,
}


@dataclass(frozen=True)
class Refusal:
    """A refused request: who asks (``querier`` or ``operator``), about whom, and what."""

    code: str
    status: int
    who: str
    subject_id: int
    purpose: str
    as_of: date | None = None
    consent_id: int | None = None
    reference: str | None = None
    # The consent the query record should cite.
    cited_consent_id: int | None = None

    def body(self) -> dict[str, Any]:
        """The request as a ``POST /v1/reports`` body."""
        body: dict[str, Any] = {"subject": {"subject_id": self.subject_id}, "purpose": self.purpose}
        if self.as_of is not None:
            body["as_of"] = self.as_of.isoformat()
        if self.consent_id is not None:
            body["consent_id"] = self.consent_id
        if self.reference is not None:
            body["reference"] = self.reference
        return body


def new_consent(
    factory: sessionmaker[Session],
    keys: KeyRing,
    institution: Institution,
    subject_id: int,
    purposes: list[str],
    *,
    profile: JurisdictionProfile = CN,
    scope: str = "report",
) -> int:
    """A consent (document-hash evidence, 90 days) the institution records; its id."""
    with transaction(factory) as session:
        subject = get_subject(session, subject_id)
        consent = record_consent(
            session,
            keys,
            querier(institution),
            profile,
            subject,
            ConsentCreate(
                subject=SubjectSelector(subject_id=subject_id),
                purposes=purposes,
                scope=ConsentScope(scope),
                expires_at=datetime.now(UTC) + timedelta(days=90),
                evidence_kind=EvidenceKind.DOCUMENT_HASH,
                evidence_sha256="ab" * 32,
            ),
        )
        return consent.id


def revoke(factory: sessionmaker[Session], principal: Principal, consent_id: int) -> None:
    with transaction(factory) as session:
        revoke_consent(session, principal, consent_id, None)


def prepare_refusal(
    name: str,
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    other: Institution,
    identifier: str,
) -> Refusal:
    """Build the state in which a request is refused with ``name``.

    ``bank`` is permitted loan_approval, credit_card_approval and court_order; ``other``
    loan_approval only. ``identifier`` is a new person's Resident ID.
    """
    person = make_subject(factory, keys, "resident_id", identifier)
    status = REFUSALS[name]
    now = datetime.now(UTC)

    def refusal(code: str, **fields: Any) -> Refusal:
        fields.setdefault("who", "querier")
        fields.setdefault("purpose", "loan_approval")
        return Refusal(code=code, status=status, subject_id=person, **fields)

    if name == "unknown_purpose":
        return refusal(name, purpose="marketing")
    if name == "purpose_not_permitted":
        # A subject's own purpose, asked by an institution.
        return refusal(name, purpose="subject_request")
    if name == "purpose_not_permitted_to_the_institution":
        return refusal("purpose_not_permitted", purpose="insurance_underwriting")
    if name == "reference_required":
        return refusal(name, purpose="court_order", reference="  ")
    if name == "as_of_in_future":
        return refusal(name, who="operator", purpose="subject_request", as_of=days_ago(-2))
    if name == "consent_required":
        return refusal(name)
    if name == "consent_of_another_institution":
        new_consent(factory, keys, other, person, ["loan_approval"])
        return refusal("consent_required")
    if name == "consent_expired":
        consent_id = new_consent(factory, keys, bank, person, ["loan_approval"])
        set_consent_period(factory, consent_id, now - timedelta(days=60), now - timedelta(days=1))
        return refusal(name, cited_consent_id=consent_id)
    if name == "consent_revoked":
        consent_id = new_consent(factory, keys, bank, person, ["loan_approval"])
        revoke(factory, querier(bank), consent_id)
        return refusal(name, consent_id=consent_id, cited_consent_id=consent_id)
    if name == "consent_not_yet_valid":
        consent_id = new_consent(factory, keys, bank, person, ["loan_approval"])
        set_consent_period(factory, consent_id, now + timedelta(days=5), now + timedelta(days=60))
        return refusal(name, cited_consent_id=consent_id)
    if name == "consent_does_not_cover":
        consent_id = new_consent(factory, keys, bank, person, ["credit_card_approval"])
        return refusal(name, consent_id=consent_id, cited_consent_id=consent_id)
    if name == "consent_not_found":
        consent_id = new_consent(factory, keys, other, person, ["loan_approval"])
        return refusal(name, consent_id=consent_id)
    if name == "consent_not_found_other_subject":
        someone = make_subject(factory, keys, "resident_id", new_resident_id())
        consent_id = new_consent(factory, keys, bank, someone, ["loan_approval"])
        return refusal("consent_not_found", consent_id=consent_id)
    raise AssertionError(name)


# --- the portal -------------------------------------------------------------------------------

PASSWORD = "correct horse battery staple"


def portal_token(
    factory: sessionmaker[Session], keys: KeyRing, settings: Settings, identifier: str
) -> str:
    """Enrol, activate and sign in the person with this Resident ID; its bearer token."""
    subject_id = make_subject(factory, keys, "resident_id", identifier)
    with transaction(factory) as session:
        code = enrol_subject(
            session, operator(), subject_id, reason="identity card checked at the counter"
        ).enrolment_code
    with transaction(factory) as session:
        activate_account(session, keys, "resident_id", identifier, code, PASSWORD)
    with transaction(factory) as session:
        return login(session, keys, settings, "resident_id", identifier, PASSWORD).token
