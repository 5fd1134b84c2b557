"""Consents, query records and the register of issued reports.

Query records and issued reports are evidence of who read a credit file and what they were
given: append-only (:class:`~xinyong.db.AppendOnly`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import AppendOnly, Base, utcnow


class Consent(Base):
    """A subject's authorisation for one institution to query it for some purposes.

    Recorded by the institution (with evidence: the hash of the signed form, or a signed
    statement) or granted by the subject itself through the portal. Revocation sets
    ``revoked_at``; it never deletes the row, since past queries cite it.
    """

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_subject_institution", "subject_id", "institution_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    purposes: Mapped[list[str]] = mapped_column(default=list)
    # report | score | both
    scope: Mapped[str] = mapped_column(String(16))
    granted_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # document_hash | signed_statement | subject_portal
    evidence_kind: Mapped[str] = mapped_column(String(32))
    evidence_sha256: Mapped[str] = mapped_column(String(64))
    # The statement's text or the document's description; may name the subject: encrypted.
    evidence_note_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # institution | subject | operator
    recorded_by: Mapped[str] = mapped_column(String(16))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), default=None)
    subject_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("subject_accounts.id"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[str | None] = mapped_column(String(16), default=None)
    revocation_reason: Mapped[str | None] = mapped_column(String(500), default=None)


class QueryRecord(AppendOnly, Base):
    """One read (or refused attempt to read) of a credit file (征信业管理条例 Art. 22)."""

    __tablename__ = "query_records"
    __table_args__ = (
        Index("ix_query_records_subject", "subject_id", "occurred_at"),
        Index("ix_query_records_institution", "institution_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    # report | score | check
    product: Mapped[str] = mapped_column(String(16))
    # api | cli | portal
    channel: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), default=None)
    subject_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("subject_accounts.id"), default=None
    )
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), default=None)
    # The institution's own user who made the query, as the institution names them.
    operator_user: Mapped[str | None] = mapped_column(String(100), default=None)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    purpose: Mapped[str] = mapped_column(String(64))
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consents.id"), default=None)
    # The legal document behind a query that needs no consent (e.g. a court order number).
    reference: Mapped[str | None] = mapped_column(String(200), default=None)
    as_of: Mapped[date | None] = mapped_column(default=None)
    # served | refused
    outcome: Mapped[str] = mapped_column(String(16))
    refusal_code: Mapped[str | None] = mapped_column(String(64), default=None)
    report_id: Mapped[str | None] = mapped_column(String(40), default=None)
    chargeable: Mapped[bool] = mapped_column(default=False)


class IssuedReport(AppendOnly, Base):
    """The register of reports given out: enough to check a printed report later.

    The report's content is not kept (it can be rebuilt as of its date); its digest is.
    """

    __tablename__ = "issued_reports"
    __table_args__ = (UniqueConstraint("report_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[str] = mapped_column(String(40))
    query_record_id: Mapped[int] = mapped_column(ForeignKey("query_records.id"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    subject_kind: Mapped[str] = mapped_column(String(24))
    as_of: Mapped[date]
    generated_at: Mapped[datetime]
    profile: Mapped[str] = mapped_column(String(16))
    profile_version: Mapped[str] = mapped_column(String(32))
    schema_version: Mapped[str] = mapped_column(String(16))
    # full | public_only
    coverage: Mapped[str] = mapped_column(String(16))
    # SHA-256 (hex) of the report's canonical JSON without the digest itself.
    digest: Mapped[str] = mapped_column(String(64))
