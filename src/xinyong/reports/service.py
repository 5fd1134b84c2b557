"""Credit files, reports and query records.

A report request goes through three steps:

1. :func:`authorize_query` — the purpose must exist in the jurisdiction profile, be one the
   caller's role may use and the institution is permitted, and, where the profile requires
   it, a valid consent must cover it (征信业管理条例 Art. 18-20; FCRA §1681b). A refusal
   raises a :class:`~xinyong.errors.XinyongError` with a stable code; the caller records it
   with :func:`record_refusal`.
2. :func:`assemble_file` — the subject's credit file as of a date D, from the record
   versions the platform had received by the end of D (so a report for last month is
   reproducible after later corrections), without the items the profile's retention rules
   have retired.
3. :func:`issue_report` — the report itself: sections, summary, query records, a digest of
   its content, and the query record and register entry that make the read visible.
"""

from __future__ import annotations

import bisect
import calendar
import hashlib
import json
import secrets
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    Insert,
    Integer,
    Row,
    ScalarSelect,
    Select,
    bindparam,
    func,
    insert,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session, sessionmaker

from xinyong.audit.schemas import StaffAction
from xinyong.audit.service import record_staff_action
from xinyong.catalog.service import get_catalog
from xinyong.db import UTCDateTime, as_utc, transaction, utcnow
from xinyong.errors import NotFoundError, PermissionDeniedError, XinyongError
from xinyong.identity.crypto import KeyRing
from xinyong.identity.identifiers import (
    mask_identifier,
)
from xinyong.identity.models import Subject
from xinyong.identity.service import (
    SubjectKey,
    locate_subject,
    locate_subject_key,
    view_subject,
)
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Principal, Role
from xinyong.institutions.service import InstitutionNotFoundError
from xinyong.ledger.models import LedgerLeaf
from xinyong.ledger.note import SignedNote, b64
from xinyong.ledger.service import (
    RECORD_VERSION,
    CheckpointRow,
    checkpoint_row,
    latest_checkpoint_columns,
    prove_record_versions,
    session_keys,
)
from xinyong.records.models import CreditRecord, RecordVersion
from xinyong.records.service import CONTENT_CONTEXT, RECORD_KEY_CONTEXT
from xinyong.reports.consent import (
    PurposeNotPermittedError,
    UnknownPurposeError,
)
from xinyong.reports.models import Consent, IssuedReport, QueryRecord
from xinyong.reports.profiles import ConsentRule, JurisdictionProfile, PurposeRule
from xinyong.reports.retention import is_negative, is_retained
from xinyong.reports.schemas import (
    PUBLIC_RECORD_SECTIONS,
    AccountSummary,
    Annotations,
    Channel,
    ConsentScope,
    Coverage,
    CreditReport,
    Digest,
    DisputeAnnotation,
    FurnisherRef,
    ItemLedger,
    ItemStatement,
    Lang,
    MoneyTotal,
    ProfileRef,
    PublicRecords,
    QueryEntry,
    QueryRecordView,
    QuerySummary,
    RecordTypeCount,
    ReportItem,
    ReportLedger,
    ReportScore,
    ReportSubject,
    ReportVerification,
    Requester,
    RequesterKind,
    ScoreReason,
    StatementAnnotation,
    SubjectSelector,
    Summary,
)
from xinyong.rights.disputes import dispute_flags
from xinyong.rights.presence import RightsPresence, presence_columns
from xinyong.rights.repaired import repaired_record_ids
from xinyong.rights.service import statements_as_of

REPORT_PRODUCT = "report"
# How far back the report's query records reach (PBoC reports show two years).
QUERY_HISTORY_MONTHS = 24


# --- errors -----------------------------------------------------------------------------------


class ReferenceRequiredError(XinyongError):
    code = "reference_required"
    title = "A legal reference is required"


class AsOfInFutureError(XinyongError):
    code = "as_of_in_future"
    title = "The as-of date is in the future"


class NotYourFileError(PermissionDeniedError):
    code = "not_your_file"
    title = "A subject sees only its own credit file"


class ConsentRequiredError(PermissionDeniedError):
    code = "consent_required"
    title = "No consent covers this query"


class ConsentExpiredError(PermissionDeniedError):
    code = "consent_expired"
    title = "The consent has expired"


class ConsentRevokedError(PermissionDeniedError):
    code = "consent_revoked"
    title = "The consent has been revoked"


class ConsentNotYetValidError(PermissionDeniedError):
    code = "consent_not_yet_valid"
    title = "The consent has not started yet"


class ConsentDoesNotCoverError(PermissionDeniedError):
    code = "consent_does_not_cover"
    title = "The consent does not cover this query"


class QueryConsentNotFoundError(NotFoundError):
    code = "consent_not_found"
    title = "Consent not found"


class RevealNotPermittedError(PermissionDeniedError):
    code = "reveal_not_permitted"
    title = "Only operators may see identifiers unmasked"


class ReportNotFoundError(NotFoundError):
    code = "report_not_found"
    title = "Report not found"


# --- subjects ---------------------------------------------------------------------------------


def resolve_selector(session: Session, keys: KeyRing, selector: SubjectSelector) -> Subject:
    """The subject a request names, by platform id or by identifier."""
    return locate_subject(
        session,
        keys,
        subject_id=selector.subject_id,
        id_type=selector.identifier_type,
        identifier=selector.identifier,
    )


def resolve_selector_key(session: Session, keys: KeyRing, selector: SubjectSelector) -> SubjectKey:
    """The id and kind of the subject a request names (the checks need no more)."""
    return locate_subject_key(
        session,
        keys,
        subject_id=selector.subject_id,
        id_type=selector.identifier_type,
        identifier=selector.identifier,
    )


# --- authorisation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryRequest:
    """What a caller asks for, before any check."""

    purpose: str
    as_of: date | None = None
    consent_id: int | None = None
    reference: str | None = None
    operator_user: str | None = None
    product: str = REPORT_PRODUCT


@dataclass(frozen=True)
class Authorization:
    """Why a query may go ahead."""

    purpose: PurposeRule
    requester: RequesterKind
    consent: ConsentTerms | None
    coverage: Coverage
    as_of: date
    # post_loan_management of an existing customer: no consent needed.
    exempt_as_existing_customer: bool = False
    # The querying institution, as the report names it (institution queriers).
    institution: FurnisherRef | None = None
    # Read with the institution's standing for a report (authorize_query(for_report=True)).
    followup: _FileFollowup | None = None


# Who reads a file, by the role of the key or account that read it.
_REQUESTER_KINDS = {
    Role.SUBJECT.value: RequesterKind.SUBJECT,
    Role.OPERATOR.value: RequesterKind.OPERATOR,
}


def _requester_kind(role: str) -> RequesterKind:
    return _REQUESTER_KINDS.get(role, RequesterKind.INSTITUTION)


def _is_existing_customer(
    session: Session, keys: KeyRing, institution_id: int, subject_id: int
) -> bool:
    """Whether the institution itself furnishes a current credit account of the subject.

    A deleted account (its newest version a tombstone, e.g. opened by identity fraud) or a
    closed one makes no customer: post-loan management needs a loan to manage.
    """
    newest = (
        select(func.max(RecordVersion.version))
        .where(RecordVersion.record_id == CreditRecord.id)
        .correlate(CreditRecord)
        .scalar_subquery()
    )
    contents = session.scalars(
        select(RecordVersion.content_ct)
        .join(
            CreditRecord,
            (RecordVersion.record_id == CreditRecord.id) & (RecordVersion.version == newest),
        )
        .where(
            CreditRecord.subject_id == subject_id,
            CreditRecord.furnisher_id == institution_id,
            CreditRecord.record_type == "credit_account",
            RecordVersion.operation != "delete",
        )
    )
    for content in contents:
        if content is None:
            continue
        fields = json.loads(keys.decrypt(content, CONTENT_CONTEXT))
        if not fields.get("close_date") and fields.get("status") != "closed":
            return True
    return False


@dataclass(frozen=True)
class ConsentTerms:
    """What authorising a query needs of a consent."""

    id: int
    purposes: list[str]
    scope: str
    evidence_kind: str
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class Standing:
    """The querying institution's permitted purposes and the subject's consents to it."""

    institution: FurnisherRef
    permitted_purposes: list[str]
    consents: list[ConsentTerms]  # newest first
    # For a report (``_standing(..., report_as_of=…)``): what the report reads next about
    # the subject, read in the same statement.
    followup: _FileFollowup | None = None


def _json_rows(dialect: str, *values: Any) -> Any:
    """An aggregate of each row's ``values`` into one JSON array of arrays (a timestamp
    among them goes through :func:`_json_utc`)."""
    if dialect == "postgresql":
        return func.json_agg(func.json_build_array(*values))
    return func.json_group_array(func.json_array(*values))


def _json_utc(dialect: str, column: Any) -> Any:
    """A UTC timestamp column as :func:`_json_rows` should hold it: ISO 8601 in UTC, no
    offset (SQLite keeps UTC timestamps as such text already)."""
    return func.timezone("UTC", column) if dialect == "postgresql" else column


def _from_json_utc(text: str) -> datetime:
    """A timestamp written by :func:`_json_utc`, back as an aware UTC datetime."""
    return as_utc(datetime.fromisoformat(text))


def _consents_column(dialect: str) -> Any:
    """The subject's consents to the querying institution as one JSON array of ``[id,
    purposes, scope, evidence_kind, granted_at, expires_at, revoked_at]``, the times in UTC
    (ISO 8601): :func:`_consent_terms` reads it back."""
    # SQLite keeps JSON as text: json() embeds it as JSON rather than as a string.
    purposes = Consent.purposes if dialect == "postgresql" else func.json(Consent.purposes)
    times = (Consent.granted_at, Consent.expires_at, Consent.revoked_at)
    consents = (
        select(
            _json_rows(
                dialect,
                Consent.id,
                purposes,
                Consent.scope,
                Consent.evidence_kind,
                *(_json_utc(dialect, column) for column in times),
            )
        )
        .where(
            Consent.institution_id == Institution.id,
            Consent.subject_id == bindparam("subject_id", type_=Integer),
        )
        .scalar_subquery()
    )
    return type_coerce(consents, JSON)


def _consent_terms(consents: list[list[Any]] | None) -> list[ConsentTerms]:
    """The consents column's entries, newest first."""
    terms = [
        ConsentTerms(
            id=consent_id,
            purposes=purposes,
            scope=scope,
            evidence_kind=evidence_kind,
            granted_at=_from_json_utc(granted_at),
            expires_at=_from_json_utc(expires_at),
            revoked_at=_from_json_utc(revoked_at) if revoked_at else None,
        )
        for consent_id, purposes, scope, evidence_kind, granted_at, expires_at, revoked_at in (
            consents or []
        )
    ]
    terms.sort(key=lambda consent: consent.id, reverse=True)
    return terms


@cache
def _standing_statement(dialect: str, followup: bool) -> Select[*tuple[Any, ...]]:
    """The institution and the subject's consents to it, in one row; with ``followup``,
    also the columns of :func:`_file_followup_columns`."""
    columns: tuple[Any, ...] = (
        Institution.code,
        Institution.name,
        Institution.name_en,
        Institution.permitted_purposes,
        _consents_column(dialect),
    )
    if followup:
        columns += _file_followup_columns(dialect)
    return select(*columns).where(Institution.id == bindparam("institution_id", type_=Integer))


def _standing(
    session: Session,
    profile: JurisdictionProfile,
    institution_id: int,
    subject_id: int,
    *,
    report_as_of: date | None = None,
) -> Standing:
    """One statement: the institution and the consents the subject gave it. With
    ``report_as_of``, also what a report as of that day reads about the subject besides its
    file (:func:`_file_followup`), which then costs no statement of its own."""
    session.flush()
    connection = session.connection()
    parameters: dict[str, Any] = {"institution_id": institution_id, "subject_id": subject_id}
    if report_as_of is not None:
        parameters |= _followup_parameters(profile, report_as_of)
    row = connection.execute(
        _standing_statement(connection.dialect.name, report_as_of is not None), parameters
    ).one_or_none()
    if row is None:
        raise InstitutionNotFoundError(f"institution {institution_id} does not exist")
    code, name, name_en, permitted, consents = row[:5]
    return Standing(
        institution=FurnisherRef(code=code, name=name, name_en=name_en),
        permitted_purposes=permitted,
        consents=_consent_terms(consents),
        followup=_FileFollowup.of(row[5:]) if report_as_of is not None else None,
    )


def _find_consent(
    standing: Standing,
    rule: PurposeRule,
    product: str,
    consent_id: int | None,
) -> ConsentTerms:
    """The consent that allows the query, or the most telling refusal."""
    now = utcnow()
    if consent_id is not None:
        candidates = [consent for consent in standing.consents if consent.id == consent_id]
        if not candidates:
            raise QueryConsentNotFoundError(
                f"consent {consent_id} is not a consent of this subject to your institution"
            )
    else:
        candidates = standing.consents
    covering = [
        consent
        for consent in candidates
        if rule.code in consent.purposes and ConsentScope(consent.scope).covers(product)
    ]
    if not covering:
        if consent_id is not None:
            raise ConsentDoesNotCoverError(
                f"consent {consent_id} does not cover the purpose {rule.code} for a {product}",
                consent_id=consent_id,
            )
        raise ConsentRequiredError(
            f"the {rule.code} purpose needs the subject's consent and none is recorded "
            "for your institution",
            purpose=rule.code,
        )
    accepted = [c for c in covering if c.evidence_kind in {k.value for k in rule.evidence_kinds}]
    if not accepted:
        raise ConsentDoesNotCoverError(
            f"the {rule.code} purpose needs consent evidenced by "
            + " or ".join(kind.value for kind in rule.evidence_kinds),
            purpose=rule.code,
        )
    for consent in accepted:
        if consent.revoked_at is None and consent.granted_at <= now < consent.expires_at:
            return consent
    # No valid one: say why, preferring the newest covering consent's state.
    newest = accepted[0]
    if newest.revoked_at is not None:
        raise ConsentRevokedError(
            f"consent {newest.id} was revoked on {newest.revoked_at.date().isoformat()}",
            consent_id=newest.id,
        )
    if newest.expires_at <= now:
        raise ConsentExpiredError(
            f"consent {newest.id} expired on {newest.expires_at.date().isoformat()}",
            consent_id=newest.id,
        )
    raise ConsentNotYetValidError(
        f"consent {newest.id} starts on {newest.granted_at.date().isoformat()}",
        consent_id=newest.id,
    )


def authorize_query(
    session: Session,
    keys: KeyRing,
    principal: Principal,
    profile: JurisdictionProfile,
    subject: Subject,
    request: QueryRequest,
    *,
    for_report: bool = False,
) -> Authorization:
    """Check a query against the profile, the caller's permissions and the consents.

    ``for_report``: an institution's standing is read together with what the report reads
    next about the subject (:attr:`Authorization.followup`).
    """
    rule = profile.purpose(request.purpose)
    if rule is None:
        raise UnknownPurposeError(
            f"{request.purpose!r} is not a purpose of the {profile.code} profile; known: "
            + ", ".join(purpose.code for purpose in profile.purposes),
            purpose=request.purpose,
        )
    if principal.role not in rule.roles:
        raise PurposeNotPermittedError(
            f"the {principal.role.value} role may not query for {rule.code}; "
            f"it is for: {', '.join(role.value for role in rule.roles)}",
            purpose=rule.code,
        )
    today = profile.today()
    as_of = request.as_of or today
    if as_of > today:
        raise AsOfInFutureError(f"as_of {as_of.isoformat()} is after today ({today.isoformat()})")
    if rule.requires_reference and not (request.reference and request.reference.strip()):
        raise ReferenceRequiredError(
            f"a query for {rule.code} must cite its legal document in `reference`",
            purpose=rule.code,
        )
    requester = _requester_kind(principal.role.value)
    if requester is RequesterKind.SUBJECT:
        if principal.subject_id != subject.id:
            raise NotYourFileError("you may only see your own credit file")
        return Authorization(rule, requester, None, Coverage.FULL, as_of)
    if requester is RequesterKind.OPERATOR:
        return Authorization(rule, requester, None, Coverage.FULL, as_of)
    if principal.institution_id is None:  # pragma: no cover - querier keys have one
        raise PurposeNotPermittedError("this key belongs to no institution")
    standing = _standing(
        session,
        profile,
        principal.institution_id,
        subject.id,
        report_as_of=as_of if for_report else None,
    )
    if rule.code not in standing.permitted_purposes:
        raise PurposeNotPermittedError(
            f"institution {standing.institution.code} is not permitted the purpose {rule.code}",
            purpose=rule.code,
        )

    def granted(
        consent: ConsentTerms | None, coverage: Coverage, *, existing_customer: bool = False
    ) -> Authorization:
        return Authorization(
            rule,
            requester,
            consent,
            coverage,
            as_of,
            exempt_as_existing_customer=existing_customer,
            institution=standing.institution,
            followup=standing.followup,
        )

    if rule.consent is ConsentRule.NOT_REQUIRED:
        return granted(None, Coverage.FULL)
    if rule.exemption == "existing_customer" and _is_existing_customer(
        session, keys, principal.institution_id, subject.id
    ):
        return granted(None, Coverage.FULL, existing_customer=True)
    try:
        consent = _find_consent(standing, rule, request.product, request.consent_id)
    except (
        ConsentRequiredError,
        ConsentExpiredError,
        ConsentRevokedError,
        ConsentNotYetValidError,
        ConsentDoesNotCoverError,
    ):
        # Information public by law about an enterprise needs no consent (征信业管理条例
        # Art. 14): without a valid one, the report holds only that.
        if subject.kind != "person" and request.consent_id is None:
            return granted(None, Coverage.PUBLIC_ONLY)
        raise
    return granted(consent, Coverage.FULL)


# --- query records ----------------------------------------------------------------------------


def query_record_values(
    principal: Principal,
    channel: Channel,
    subject_id: int,
    request: QueryRequest,
    *,
    outcome: str,
    consent_id: int | None = None,
    as_of: date | None = None,
    refusal_code: str | None = None,
    report_id: str | None = None,
    chargeable: bool = False,
) -> dict[str, Any]:
    """The columns of a query record of ``principal`` reading ``subject_id``'s file."""
    return {
        "product": request.product,
        "channel": channel.value,
        "role": principal.role.value,
        "api_key_id": principal.api_key_id,
        "subject_account_id": principal.subject_account_id,
        "institution_id": principal.institution_id,
        "operator_user": request.operator_user,
        "subject_id": subject_id,
        "purpose": request.purpose[:64],
        "consent_id": consent_id,
        "reference": request.reference,
        "as_of": as_of,
        "outcome": outcome,
        "refusal_code": refusal_code,
        "report_id": report_id,
        "chargeable": chargeable,
    }


@cache
def _query_record_insert() -> Insert:
    return insert(QueryRecord).returning(QueryRecord.id)


def insert_query_record(session: Session, values: dict[str, Any]) -> int:
    """Write a query record in one Core insert (it is never read back or changed); its id."""
    session.flush()
    record_id: int = session.connection().execute(_query_record_insert(), values).scalar_one()
    return record_id


def record_refusal(
    session: Session,
    factory: sessionmaker[Session],
    principal: Principal,
    channel: Channel,
    subject_id: int,
    request: QueryRequest,
    error: XinyongError,
) -> None:
    """Record a refused query, so refusals are as visible as reads.

    The refusal must outlive the request, whose transaction is rolled back on the error: the
    request's session is rolled back here first (it holds SQLite's write lock) and the
    record is written in a transaction of its own.
    """
    session.rollback()
    with transaction(factory) as own:
        consent_id = error.extensions.get("consent_id")
        insert_query_record(
            own,
            query_record_values(
                principal,
                channel,
                subject_id,
                request,
                outcome="refused",
                refusal_code=error.code,
                consent_id=consent_id if isinstance(consent_id, int) else None,
                as_of=request.as_of,
            ),
        )


def view_query_record(record: QueryRecord, institution_code: str | None) -> QueryRecordView:
    return QueryRecordView(
        id=record.id,
        occurred_at=record.occurred_at,
        product=record.product,
        channel=Channel(record.channel),
        role=record.role,
        institution_id=record.institution_id,
        institution_code=institution_code,
        operator_user=record.operator_user,
        subject_id=record.subject_id,
        purpose=record.purpose,
        consent_id=record.consent_id,
        reference=record.reference,
        as_of=record.as_of,
        outcome=record.outcome,
        refusal_code=record.refusal_code,
        report_id=record.report_id,
        chargeable=record.chargeable,
    )


def list_query_records(
    session: Session,
    *,
    subject_id: int | None = None,
    institution_id: int | None = None,
    outcome: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[QueryRecordView]:
    """Query records, newest first, optionally for one subject or institution."""
    query = (
        select(QueryRecord, Institution.code)
        .outerjoin(Institution, Institution.id == QueryRecord.institution_id)
        .order_by(QueryRecord.id.desc())
        .offset(offset)
        .limit(limit)
    )
    if subject_id is not None:
        query = query.where(QueryRecord.subject_id == subject_id)
    if institution_id is not None:
        query = query.where(QueryRecord.institution_id == institution_id)
    if outcome is not None:
        query = query.where(QueryRecord.outcome == outcome)
    return [view_query_record(record, code) for record, code in session.execute(query)]


# --- the credit file --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A record of the file: its identity, type and furnisher."""

    id: int
    furnisher_id: int
    record_type: str
    record_key_ct: bytes


@dataclass(frozen=True, slots=True)
class FileVersion:
    """The version of a record the file holds: the columns its ledger event commits to."""

    id: int
    record_id: int
    version: int
    operation: str
    content_ct: bytes | None
    content_hash: bytes
    catalog_version: str
    valid_from: date
    valid_to: date | None
    furnisher_id: int
    batch_id: int | None
    batch_row: int | None
    received_at: datetime
    reason_ct: bytes | None


@dataclass
class FileItem:
    record: FileRecord
    version: FileVersion
    fields: dict[str, Any]
    negative: bool
    # For a report (assemble_file(..., for_report=True)): the version's leaf in the record
    # ledger and who furnished the record.
    leaf_index: int | None = None
    furnisher: FurnisherRef | None = None


@dataclass
class CreditFile:
    """The subject's items as of a date, after retention."""

    subject: Subject
    as_of: date
    cutoff: datetime
    items: list[FileItem] = field(default_factory=list)


_RECORD_COLUMNS = tuple(CreditRecord.__table__.c[f.name] for f in fields(FileRecord))
_VERSION_COLUMNS = tuple(RecordVersion.__table__.c[f.name] for f in fields(FileVersion))


@cache
def _file_statement(of_types: bool, for_report: bool) -> Select[*tuple[Any, ...]]:
    """The subject's record versions received before a cut-off, oldest first per record.

    Read as plain rows (a report reads a handful per subject and never changes them): the
    record's columns, the version's, and with ``for_report`` the version's ledger leaf and
    the furnisher's code and names.
    """
    query: Select[*tuple[Any, ...]] = (
        select(*_RECORD_COLUMNS, *_VERSION_COLUMNS)
        .join(RecordVersion, RecordVersion.record_id == CreditRecord.id)
        .where(
            CreditRecord.subject_id == bindparam("subject_id"),
            RecordVersion.received_at < bindparam("cutoff"),
            RecordVersion.valid_from <= bindparam("as_of"),
        )
        .order_by(CreditRecord.id, RecordVersion.version)
    )
    if of_types:
        query = query.where(CreditRecord.record_type.in_(bindparam("record_types", expanding=True)))
    if for_report:
        query = (
            query.add_columns(
                LedgerLeaf.idx, Institution.code, Institution.name, Institution.name_en
            )
            .outerjoin(
                LedgerLeaf,
                (LedgerLeaf.kind == RECORD_VERSION) & (LedgerLeaf.ref_id == RecordVersion.id),
            )
            .join(Institution, Institution.id == CreditRecord.furnisher_id)
        )
    return query


def assemble_file(
    session: Session,
    keys: KeyRing,
    profile: JurisdictionProfile,
    subject: Subject,
    as_of: date,
    *,
    record_types: frozenset[str] | None = None,
    for_report: bool = False,
) -> CreditFile:
    """The subject's credit file as the platform knew it at the end of ``as_of``.

    For each record, the newest version received before the end of ``as_of`` (in the
    profile's time zone) and valid by ``as_of`` counts: a version whose valid time starts
    later is not yet part of the file (the version before it still is), a tombstone removes
    the record, and the profile's retention rules retire old negative items. With
    ``for_report``, each item also carries its version's leaf in the record ledger and its
    furnisher.
    """
    cutoff = profile.end_of_day(as_of)
    parameters: dict[str, Any] = {"subject_id": subject.id, "cutoff": cutoff, "as_of": as_of}
    if record_types is not None:
        parameters["record_types"] = sorted(record_types)
    latest: dict[int, Row[Any]] = {}
    session.flush()
    for row in (
        session.connection()
        .execute(_file_statement(record_types is not None, for_report), parameters)
        .all()
    ):
        latest[row[0]] = row
    catalog = get_catalog()
    credit_file = CreditFile(subject=subject, as_of=as_of, cutoff=cutoff)
    records, versions = len(_RECORD_COLUMNS), len(_RECORD_COLUMNS) + len(_VERSION_COLUMNS)
    for row in latest.values():
        record, version = FileRecord(*row[:records]), FileVersion(*row[records:versions])
        if version.operation == "delete" or version.content_ct is None:
            continue
        fields = json.loads(keys.decrypt(version.content_ct, CONTENT_CONTEXT))
        record_type = catalog.record_type(record.record_type)
        if not is_retained(record_type, fields, as_of, profile):
            continue
        item = FileItem(record, version, fields, is_negative(record_type, fields))
        if for_report:
            leaf_index, code, name, name_en = row[versions:]
            item.leaf_index = leaf_index
            item.furnisher = FurnisherRef(code=code, name=name, name_en=name_en)
        credit_file.items.append(item)
    return credit_file


# --- the report -------------------------------------------------------------------------------


def _canonical_text(document: Any) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(document: Any) -> bytes:
    """The canonical bytes a digest is computed over: sorted keys, no spaces, UTF-8."""
    return _canonical_text(document).encode("utf-8")


def report_digest(report: CreditReport | dict[str, Any]) -> str:
    """SHA-256 (hex) of the report's canonical JSON without its ``digest`` member."""
    document = report.model_dump(mode="json") if isinstance(report, CreditReport) else dict(report)
    document.pop("digest", None)
    return hashlib.sha256(canonical_json(document)).hexdigest()


def seal_report(report: CreditReport) -> bytes:
    """Set the report's digest; return the report as canonical JSON, digest included.

    One serialisation serves both: the canonical form of a JSON object is its members in
    key order, so the members are encoded once, hashed without the digest, and joined again
    with it. The result is what :func:`canonical_json` gives for the whole report.
    """
    document = report.model_dump(mode="json")
    document.pop("digest", None)
    names = sorted(document)
    members = [f"{_canonical_text(name)}:{_canonical_text(document[name])}" for name in names]
    digest = hashlib.sha256(f"{{{','.join(members)}}}".encode()).hexdigest()
    report.digest = Digest(value=digest)
    sealed = _canonical_text(report.digest.model_dump(mode="json"))
    members.insert(bisect.bisect(names, "digest"), f'"digest":{sealed}')
    return f"{{{','.join(members)}}}".encode()


def _new_report_id(now: datetime) -> str:
    return f"R{now:%Y%m%d}{secrets.token_hex(8).upper()}"


_STATUS_ORDER = "N1234567DZ"


def _worst(codes: Sequence[str]) -> str | None:
    """The worst repayment status among grid codes (RULES.md 28); None without data."""
    ranked = [code for code in codes if code in _STATUS_ORDER]
    if not ranked:
        return None
    return max(ranked, key=_STATUS_ORDER.index)


def _months_between(end_month: str, as_of: date) -> int | None:
    """Months from the grid's last month to the as-of month (0 when they are equal)."""
    try:
        year, month = (int(part) for part in end_month.split("-"))
    except ValueError:
        return None
    return (as_of.year - year) * 12 + (as_of.month - month)


def _grid_window(fields: dict[str, Any], as_of: date, months: int) -> str:
    """The grid's codes for the ``months`` months up to the as-of month."""
    grid = fields.get("repayment_grid")
    end_month = fields.get("grid_end_month")
    if not isinstance(grid, str) or not isinstance(end_month, str):
        return ""
    gap = _months_between(end_month, as_of)
    if gap is None or gap >= months:
        return ""
    keep = months - max(gap, 0)
    return grid[-keep:] if keep > 0 else ""


def _totals(items: Sequence[FileItem], name: str) -> list[MoneyTotal]:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for item in items:
        value = item.fields.get(name)
        if isinstance(value, str):
            sums[str(item.fields.get("currency") or "CNY")] += Decimal(value)
    return [MoneyTotal(currency=cur, amount=f"{sums[cur]:.2f}") for cur in sorted(sums)]


def _account_summary(accounts: Sequence[FileItem], as_of: date) -> AccountSummary:
    open_accounts = [a for a in accounts if not a.fields.get("close_date")]
    current: list[str] = []
    for account in open_accounts:
        months = account.fields.get("overdue_months")
        if isinstance(months, int):
            current.append(str(min(months, 7)) if months > 0 else "N")
    return AccountSummary(
        total=len(accounts),
        open=len(open_accounts),
        closed=len(accounts) - len(open_accounts),
        loans=sum(1 for a in accounts if a.fields.get("account_type") == "loan"),
        credit_cards=sum(1 for a in accounts if a.fields.get("account_type") == "credit_card"),
        currently_overdue=sum(1 for code in current if code != "N"),
        credit_limit=_totals(open_accounts, "credit_limit"),
        balance=_totals(open_accounts, "balance"),
        overdue_amount=_totals(open_accounts, "overdue_amount"),
        worst_current_status=_worst(current),
        worst_status_24_months=_worst(
            [code for a in accounts for code in _grid_window(a.fields, as_of, 24)]
        ),
        worst_status_60_months=_worst(
            [code for a in accounts for code in _grid_window(a.fields, as_of, 60)]
        ),
    )


def _mask_key(key: str) -> str:
    """Another furnisher's record key: long keys keep their ends, short ones nothing."""
    if len(key) > 8:
        return mask_identifier(key)
    if len(key) > 4:
        return "*" * (len(key) - 2) + key[-2:]
    return "*" * len(key)


@dataclass(frozen=True)
class IssuedReportResult:
    report: CreditReport
    query_record_id: int
    # The report as canonical JSON, digest included (:func:`seal_report`): the JSON the API
    # returns, so the body itself is what the digest is checked against.
    canonical: bytes


def _subtract_months(day: date, months: int) -> date:
    """The same day ``months`` earlier; the month's last day when that month is shorter."""
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _start_of_day(profile: JurisdictionProfile, day: date) -> datetime:
    """The first instant of ``day`` in the profile's time zone, in UTC."""
    return datetime.combine(day, datetime.min.time(), profile.zone).astimezone(UTC)


def _is_chargeable(
    session: Session, profile: JurisdictionProfile, subject_id: int, now: datetime
) -> bool:
    """Whether the subject has used its free reports of the period (RULES.md 8)."""
    today = profile.today(now)
    if profile.reports.free_reports_period == "calendar_year":
        start_day = date(today.year, 1, 1)
    else:
        start_day = _subtract_months(today, 12)
    # The first instant of start_day in the profile's zone.
    start = _start_of_day(profile, start_day)
    used = session.scalar(
        select(func.count())
        .select_from(QueryRecord)
        .where(
            QueryRecord.subject_id == subject_id,
            QueryRecord.purpose == "subject_request",
            QueryRecord.product == REPORT_PRODUCT,
            QueryRecord.outcome == "served",
            QueryRecord.occurred_at >= start,
        )
    )
    return (used or 0) >= profile.reports.free_reports_per_year


def _report_score(
    session: Session,
    keys: KeyRing,
    profile: JurisdictionProfile,
    subject: Subject,
    authorization: Authorization,
) -> ReportScore | None:
    # Scoring reads the credit file through the reports domain: imported here, one way.
    from xinyong.scoring.service import report_score

    view = report_score(session, keys, profile, subject, authorization)
    if view is None:
        return None
    return ReportScore(
        score_id=view.id,
        model_name=view.model_name,
        model_version=view.model_version,
        outcome=view.outcome.value,
        score=view.score,
        reasons=[
            ScoreReason(
                code=reason.code,
                characteristic=reason.characteristic,
                points_lost=reason.points_lost,
            )
            for reason in view.reasons
        ],
        unscorable_code=view.unscorable.code if view.unscorable else None,
    )


def _next_query_record_id(dialect: str) -> Any:
    """The id the next query record takes, as a column: drawn from the sequence on
    PostgreSQL; on SQLite, one past the largest, which holds because every transaction
    there holds the write lock from its start (``BEGIN IMMEDIATE``, :mod:`xinyong.db`)."""
    if dialect == "postgresql":
        return func.nextval(func.pg_get_serial_sequence(QueryRecord.__tablename__, "id"))
    highest: ScalarSelect[int] = select(
        func.coalesce(func.max(QueryRecord.id), 0) + 1
    ).scalar_subquery()
    return highest


def _query_history_column(dialect: str) -> Any:
    """The served queries of the subject's file from ``since`` to ``cutoff`` as one JSON
    array of ``[occurred_at, role, purpose, product, institution code, institution name,
    id]``, the time in UTC (ISO 8601, no offset): a column of the follow-up statement, so the
    history costs no statement of its own. :func:`_query_entries` reads it back."""
    entries = _json_rows(
        dialect,
        _json_utc(dialect, QueryRecord.occurred_at),
        QueryRecord.role,
        QueryRecord.purpose,
        QueryRecord.product,
        Institution.code,
        Institution.name,
        QueryRecord.id,
    )
    history = (
        select(entries)
        .select_from(QueryRecord)
        .outerjoin(Institution, Institution.id == QueryRecord.institution_id)
        .where(
            QueryRecord.subject_id == bindparam("subject_id", type_=Integer),
            QueryRecord.outcome == "served",
            QueryRecord.occurred_at >= bindparam("since", type_=UTCDateTime()),
            QueryRecord.occurred_at < bindparam("cutoff", type_=UTCDateTime()),
        )
        .scalar_subquery()
    )
    return type_coerce(history, JSON)


def _query_entries(history: list[list[Any]] | None) -> list[QueryEntry]:
    """The history column's entries, newest first."""
    entries = [
        (_from_json_utc(occurred_at), record_id, role, rest)
        for occurred_at, role, *rest, record_id in history or []
    ]
    entries.sort(key=lambda entry: (entry[0], entry[1]), reverse=True)
    return [
        QueryEntry(
            occurred_at=occurred_at,
            requester_kind=_requester_kind(role),
            purpose=purpose,
            product=product,
            institution_code=code,
            institution_name=name,
        )
        for occurred_at, _, role, (purpose, product, code, name) in entries
    ]


@cache
def _file_followup_columns(dialect: str) -> tuple[Any, ...]:
    """What a report reads about the subject besides its file: whether the subject has
    statements, disputes or repaired items, the latest ledger checkpoint, the file's query
    history and the id the report's query record will take (written with the report,
    :func:`_record_issue`). Bound to ``subject_id``, ``since`` and ``cutoff``."""
    return (
        *presence_columns(),
        *latest_checkpoint_columns(),
        _query_history_column(dialect),
        _next_query_record_id(dialect),
    )


@cache
def _file_followup_statement(dialect: str) -> Select[*tuple[Any, ...]]:
    return select(*_file_followup_columns(dialect))


@dataclass(frozen=True)
class _FileFollowup:
    presence: RightsPresence
    checkpoint: CheckpointRow | None
    # Served queries of the file in the two years up to the as-of date, newest first: the
    # report's own query is recorded after this is read.
    history: list[QueryEntry]
    query_record_id: int

    @classmethod
    def of(cls, row: Sequence[Any]) -> _FileFollowup:
        """From the values of :func:`_file_followup_columns`, in order."""
        return cls(
            presence=RightsPresence.of(*row[:3]),
            checkpoint=checkpoint_row(*row[3:6]),
            history=_query_entries(row[6]),
            query_record_id=int(row[7]),
        )


def _followup_parameters(profile: JurisdictionProfile, as_of: date) -> dict[str, datetime]:
    return {
        "since": _start_of_day(profile, _subtract_months(as_of, QUERY_HISTORY_MONTHS)),
        "cutoff": profile.end_of_day(as_of),
    }


def _file_followup(
    session: Session, profile: JurisdictionProfile, subject_id: int, as_of: date
) -> _FileFollowup:
    session.flush()
    connection = session.connection()
    row = connection.execute(
        _file_followup_statement(connection.dialect.name),
        {"subject_id": subject_id, **_followup_parameters(profile, as_of)},
    ).one()
    return _FileFollowup.of(row)


@cache
def _issue_statement(query_keys: tuple[str, ...], issued_keys: tuple[str, ...]) -> Insert:
    """PostgreSQL: the query record and the issued-report entry in one statement (the query
    record in a data-modifying CTE). Parameters are the columns prefixed ``query_`` and
    ``issued_``."""
    query_record = insert(QueryRecord).values(
        {key: bindparam(f"query_{key}") for key in query_keys}
    )
    return (
        insert(IssuedReport)
        .values({key: bindparam(f"issued_{key}") for key in issued_keys})
        .add_cte(query_record.cte("query_record"), nest_here=True)
    )


@cache
def _issued_report_insert() -> Insert:
    return insert(IssuedReport)


def _record_issue(session: Session, query: dict[str, Any], issued: dict[str, Any]) -> None:
    """Write a report's query record (its id reserved) and its issued-report entry, once
    everything the report shows has been read: one statement on PostgreSQL, two inserts on
    SQLite (whose statements cost no round trip)."""
    session.flush()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        parameters = {f"query_{key}": value for key, value in query.items()}
        parameters.update((f"issued_{key}", value) for key, value in issued.items())
        connection.execute(_issue_statement(tuple(query), tuple(issued)), parameters)
    else:
        connection.execute(_query_record_insert(), query)
        connection.execute(_issued_report_insert(), issued)


def issue_report(
    session: Session,
    keys: KeyRing,
    principal: Principal,
    profile: JurisdictionProfile,
    subject: Subject,
    request: QueryRequest,
    authorization: Authorization,
    *,
    channel: Channel,
    lang: Lang = Lang.ZH_CN,
    reveal: bool = False,
) -> IssuedReportResult:
    """Build the report, and record the query and the issued report in one transaction.

    The query must have been authorised (:func:`request_report` does both).
    """
    generated_at = utcnow()
    as_of = authorization.as_of
    catalog = get_catalog()
    public_only = authorization.coverage is Coverage.PUBLIC_ONLY
    credit_file = assemble_file(
        session,
        keys,
        profile,
        subject,
        as_of,
        record_types=(
            frozenset(profile.reports.public_enterprise_record_types) if public_only else None
        ),
        for_report=True,
    )
    requester = authorization.requester
    followup = authorization.followup or _file_followup(session, profile, subject.id, as_of)
    presence, query_id = followup.presence, followup.query_record_id
    # A repaired item is no longer shared (RULES.md 12); the subject and staff see it marked.
    repaired = (
        repaired_record_ids(
            session, [item.record.id for item in credit_file.items], credit_file.cutoff
        )
        if presence.repairs
        else set()
    )
    if requester is RequesterKind.INSTITUTION:
        credit_file.items = [item for item in credit_file.items if item.record.id not in repaired]
    record_ids = [item.record.id for item in credit_file.items]
    chargeable = (
        authorization.purpose.code == "subject_request"
        and subject.kind == "person"
        and _is_chargeable(session, profile, subject.id, generated_at)
    )
    report_id = _new_report_id(generated_at)
    # Scored before the query is recorded: a query never counts against its own score.
    score = _report_score(session, keys, profile, subject, authorization)

    statements = (
        statements_as_of(session, keys, subject.id, record_ids, credit_file.cutoff)
        if presence.statements
        else {}
    )
    institution_reader = requester is RequesterKind.INSTITUTION
    # Disputed items are flagged from the moment the dispute is filed (征信业管理条例
    # Art. 25; FCRA §1681i); an item a dispute deleted stays in the subject's and staff's
    # annotations.
    disputes = (
        dispute_flags(
            session,
            keys,
            subject.id,
            record_ids,
            credit_file.cutoff,
            include_deleted=not institution_reader,
        )
        if presence.disputes
        else []
    )
    disputed = {flag.record_id for flag in disputes if flag.flagged}
    # Every item's version, proved to be in the record ledger at a signed checkpoint.
    proofs = prove_record_versions(
        session,
        [item.version for item in credit_file.items],
        {
            item.version.id: item.leaf_index
            for item in credit_file.items
            if item.leaf_index is not None
        },
        followup.checkpoint,
    )
    checkpoint_note = SignedNote.parse(proofs.checkpoint.note)
    ledger_keys = session_keys(session)

    def item_ledger(version_id: int) -> ItemLedger | None:
        proof = proofs.items.get(version_id)
        if proof is None:
            return None
        return ItemLedger(
            leaf_index=proof.leaf_index,
            event=proof.event,
            opening_key=b64(proof.opening_key),
            inclusion_proof=[b64(p) for p in proof.proof],
        )

    # Fields needing explicit written consent (征信业管理条例 Art. 14) go only to the subject
    # and to staff.
    hidden: dict[str, frozenset[str]] = {}
    if institution_reader:
        hidden = {
            code: frozenset(f.name for f in record_type.fields if f.explicit_consent)
            for code, record_type in catalog.record_types.items()
        }

    def to_item(item: FileItem) -> ReportItem:
        record, version = item.record, item.version
        assert item.furnisher is not None  # the file was read for a report
        record_key = keys.decrypt_text(record.record_key_ct, RECORD_KEY_CONTEXT)
        if institution_reader and record.furnisher_id != principal.institution_id:
            record_key = _mask_key(record_key)
        drop = hidden.get(record.record_type, frozenset())
        return ReportItem(
            record_id=record.id,
            record_type=record.record_type,
            record_key=record_key,
            furnisher=item.furnisher,
            version=version.version,
            reported_at=version.received_at,
            valid_from=version.valid_from,
            valid_to=version.valid_to,
            negative=item.negative,
            fields={k: v for k, v in item.fields.items() if k not in drop},
            content_hash=version.content_hash.hex(),
            disputed=record.id in disputed,
            repaired=record.id in repaired,
            statements=[
                ItemStatement(statement_id=s.id, text=s.text, made_at=s.made_at)
                for s in statements.get(record.id, [])
            ],
            ledger=item_ledger(version.id),
        )

    accounts = [item for item in credit_file.items if item.record.record_type == "credit_account"]
    sections: dict[str, list[ReportItem]] = defaultdict(list)
    type_counts: Counter[str] = Counter()
    negative_counts: Counter[str] = Counter()
    for item in credit_file.items:
        type_counts[item.record.record_type] += 1
        if item.negative:
            negative_counts[item.record.record_type] += 1
        section = PUBLIC_RECORD_SECTIONS.get(item.record.record_type)
        if section is not None:
            sections[section].append(to_item(item))
    for entries in sections.values():
        entries.sort(key=lambda entry: (entry.valid_from, entry.record_id), reverse=True)

    history = followup.history
    since_12 = _start_of_day(profile, _subtract_months(as_of, 12))
    recent = [entry for entry in history if entry.occurred_at >= since_12]
    view = view_subject(keys, subject, reveal=requester is RequesterKind.SUBJECT or reveal)
    # Only institution queriers have an institution (staff keys belong to none).
    institution = authorization.institution
    report = CreditReport(
        report_id=report_id,
        generated_at=generated_at,
        as_of=as_of,
        lang=lang,
        profile=ProfileRef(code=profile.code, version=profile.version),
        coverage=authorization.coverage,
        chargeable=chargeable,
        subject=ReportSubject(
            subject_id=subject.id,
            kind=view.kind,
            name=view.name,
            name_en=view.name_en,
            identifier_type=view.id_type,
            identifier=view.identifier,
            identifier_masked=view.identifier_masked,
        ),
        requester=Requester(
            kind=requester,
            institution_code=institution.code if institution else None,
            institution_name=institution.name if institution else None,
            operator_user=request.operator_user,
            purpose=authorization.purpose.code,
            consent_id=authorization.consent.id if authorization.consent else None,
            reference=request.reference,
            query_record_id=query_id,
        ),
        summary=Summary(
            accounts=_account_summary(accounts, as_of),
            public_records=[
                RecordTypeCount(
                    record_type=code, total=type_counts[code], negative=negative_counts[code]
                )
                for code in PUBLIC_RECORD_SECTIONS
                if type_counts[code]
            ],
            negative_items=sum(negative_counts.values()),
            queries=QuerySummary(
                institution_queries_12_months=dict(
                    sorted(
                        Counter(
                            entry.purpose
                            for entry in recent
                            if entry.requester_kind is RequesterKind.INSTITUTION
                        ).items()
                    )
                ),
                subject_queries_12_months=sum(
                    1 for entry in recent if entry.requester_kind is RequesterKind.SUBJECT
                ),
            ),
        ),
        credit_accounts=sorted(
            (to_item(item) for item in accounts),
            key=lambda entry: (str(entry.fields.get("open_date", "")), entry.record_id),
            reverse=True,
        ),
        public_records=PublicRecords(**sections),
        annotations=Annotations(
            disputes=[
                DisputeAnnotation(
                    record_id=flag.record_id,
                    record_type=flag.record_type,
                    status=flag.status,
                    opened_at=flag.opened_at,
                    due_at=profile.end_of_day(flag.due_on) - timedelta(seconds=1),
                    dispute_id=flag.dispute_id,
                    outcome=flag.outcome,
                    resolved_at=flag.resolved_at,
                    written_outcome=(
                        flag.written_outcome.get(lang.value) if flag.written_outcome else None
                    ),
                    dispute_text=flag.dispute_text,
                )
                for flag in disputes
            ],
            statements=[
                StatementAnnotation(
                    statement_id=s.id,
                    record_id=record_id,
                    record_type=s.record_type,
                    text=s.text,
                    made_at=s.made_at,
                )
                for record_id, entries in sorted(statements.items())
                for s in entries
            ],
        ),
        query_records=history,
        score=score,
        ledger=ReportLedger(
            origin=ledger_keys.origin,
            tree_size=proofs.checkpoint.size,
            root_hash=b64(proofs.checkpoint.root),
            checkpoint=checkpoint_note.render(),
            vkey=ledger_keys.verifier.vkey,
        ),
        digest=Digest(value="0" * 64),
    )
    canonical = seal_report(report)
    query = query_record_values(
        principal,
        channel,
        subject.id,
        request,
        outcome="served",
        consent_id=authorization.consent.id if authorization.consent else None,
        as_of=as_of,
        report_id=report_id,
        chargeable=chargeable,
    )
    query["id"] = query_id
    _record_issue(
        session,
        query,
        {
            "report_id": report_id,
            "query_record_id": query_id,
            "subject_id": subject.id,
            "subject_kind": subject.kind,
            "as_of": as_of,
            "generated_at": generated_at,
            "profile": profile.code,
            "profile_version": profile.version,
            "schema_version": report.schema_version,
            "coverage": report.coverage.value,
            "digest": report.digest.value,
        },
    )
    if principal.role is Role.OPERATOR:
        record_staff_action(
            session,
            principal,
            StaffAction.REPORT_ISSUE,
            target_type="subject",
            target_id=subject.id,
            reason=request.reference,
            details={"purpose": authorization.purpose.code, "report_id": report_id},
        )
        if reveal:
            record_staff_action(
                session,
                principal,
                StaffAction.IDENTIFIER_REVEAL,
                target_type="subject",
                target_id=subject.id,
                reason=request.reference,
            )
    session.flush()
    return IssuedReportResult(report=report, query_record_id=query_id, canonical=canonical)


def request_report(
    session: Session,
    factory: sessionmaker[Session],
    keys: KeyRing,
    principal: Principal,
    profile: JurisdictionProfile,
    subject: Subject,
    request: QueryRequest,
    *,
    channel: Channel,
    lang: Lang = Lang.ZH_CN,
    reveal: bool = False,
) -> IssuedReportResult:
    """Authorise and issue a report; a refusal is recorded and re-raised."""
    try:
        if reveal and principal.role is not Role.OPERATOR:
            raise RevealNotPermittedError("only operators may see identifiers unmasked")
        authorization = authorize_query(
            session, keys, principal, profile, subject, request, for_report=True
        )
    except XinyongError as error:
        record_refusal(session, factory, principal, channel, subject.id, request, error)
        raise
    return issue_report(
        session,
        keys,
        principal,
        profile,
        subject,
        request,
        authorization,
        channel=channel,
        lang=lang,
        reveal=reveal,
    )


def verify_report(session: Session, report_id: str, digest: str) -> ReportVerification:
    """Whether ``report_id`` was issued with ``digest``; reveals nothing personal."""
    issued = session.scalar(select(IssuedReport).where(IssuedReport.report_id == report_id))
    if issued is None:
        raise ReportNotFoundError(f"no report {report_id!r} was issued by this platform")
    valid = secrets.compare_digest(issued.digest, digest.strip().lower())
    return ReportVerification(
        report_id=report_id,
        valid=valid,
        generated_at=issued.generated_at,
        as_of=issued.as_of,
        profile=ProfileRef(code=issued.profile, version=issued.profile_version),
        subject_kind=issued.subject_kind,
        coverage=Coverage(issued.coverage),
    )
