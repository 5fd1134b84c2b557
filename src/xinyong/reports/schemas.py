"""Pydantic I/O of the reports domain: the credit report (schema 1.2), consents, queries.

The credit report JSON is a published, versioned format: ``CreditReport.model_json_schema()``
is served at ``/v1/reports/schema`` and kept in ``docs/schemas/credit-report-1.2.json``.
Its content is language-neutral (codes, ISO dates, decimal strings); ``lang`` only chooses
the labels of the HTML and PDF renderings.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from xinyong.identity.identifiers import IdentifierType, SubjectKind
from xinyong.reports.profiles import EvidenceKind

REPORT_SCHEMA_VERSION = "1.2"
REPORT_SCHEMA_ID = "urn:xinyong:schema:credit-report:1.2"


class Lang(StrEnum):
    ZH_CN = "zh-CN"
    EN = "en"


class ReportFormat(StrEnum):
    JSON = "json"
    HTML = "html"
    PDF = "pdf"


class Coverage(StrEnum):
    FULL = "full"
    # An enterprise queried without consent: only information public by law.
    PUBLIC_ONLY = "public_only"


class ConsentScope(StrEnum):
    REPORT = "report"
    SCORE = "score"
    BOTH = "both"

    def covers(self, product: str) -> bool:
        return self is ConsentScope.BOTH or self.value == product


class RequesterKind(StrEnum):
    INSTITUTION = "institution"
    SUBJECT = "subject"
    OPERATOR = "operator"


class Channel(StrEnum):
    API = "api"
    CLI = "cli"
    PORTAL = "portal"


# Section of the report that shows each record type, in display order.
PUBLIC_RECORD_SECTIONS: dict[str, str] = {
    "tax_credit_grade": "tax_credit_grades",
    "tax_arrears": "tax_arrears",
    "court_judgment": "court_judgments",
    "enforcement_case": "enforcement_cases",
    "dishonest_debtor_listing": "dishonest_debtor_listings",
    "administrative_licence": "administrative_licences",
    "administrative_penalty": "administrative_penalties",
    "utility_arrears": "utility_arrears",
    "social_insurance_status": "social_insurance",
    "commendation": "commendations",
}


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProfileRef(_Out):
    code: str
    version: str


class ReportSubject(_Out):
    subject_id: int
    kind: SubjectKind
    name: str | None
    name_en: str | None
    identifier_type: IdentifierType
    identifier: str = Field(description="Masked unless the reader may see it in full.")
    identifier_masked: bool


class Requester(_Out):
    kind: RequesterKind
    institution_code: str | None = None
    institution_name: str | None = None
    operator_user: str | None = None
    purpose: str
    consent_id: int | None = None
    reference: str | None = None
    query_record_id: int


class FurnisherRef(_Out):
    code: str
    name: str
    name_en: str | None = None


class ItemStatement(_Out):
    statement_id: int
    text: str
    made_at: datetime


class ItemLedger(_Out):
    """Where an item's version sits in the record ledger, and how to check it offline.

    ``HMAC-SHA256(opening_key, RFC 8785 bytes of event)`` is the leaf's data; its RFC 9162
    leaf hash and ``inclusion_proof`` give the root of the report's checkpoint
    (``xinyong ledger verify-report``; docs/ledger.md).
    """

    leaf_index: int
    event: dict[str, Any] = Field(
        description="The logged event: the version's columns, ciphertexts and hashes as "
        "sha256:<hex>; no personal data."
    )
    opening_key: str = Field(description="Base64 key of this event's commitment only.")
    inclusion_proof: list[str] = Field(description="Base64 hashes, leaf upwards.")


class ReportLedger(_Out):
    origin: str
    tree_size: int
    root_hash: str = Field(description="Base64 root hash of the checkpoint.")
    checkpoint: str = Field(description="The signed checkpoint (C2SP signed-note) proofs lead to.")
    vkey: str = Field(description="The log's verifier key; check it against a copy you trust.")


class ReportItem(_Out):
    """One record as it stood at the report's as-of date."""

    record_id: int
    record_type: str
    record_key: str = Field(description="The furnisher's key; masked for institutions.")
    furnisher: FurnisherRef
    version: int
    reported_at: datetime = Field(description="When this version reached the platform.")
    valid_from: date
    valid_to: date | None
    negative: bool
    fields: dict[str, Any]
    content_hash: str = Field(description="SHA-256 (hex) of the version's canonical content.")
    disputed: bool = False
    repaired: bool = Field(
        default=False,
        description="A credit repair of the item was approved: it is no longer shared with "
        "institutions (shown only to the subject and staff).",
    )
    statements: list[ItemStatement] = Field(default_factory=list)
    ledger: ItemLedger | None = Field(
        default=None,
        description="Proof that this version is in the platform's record ledger (absent only "
        "for versions written before the ledger existed).",
    )


class MoneyTotal(_Out):
    currency: str
    amount: str


class AccountSummary(_Out):
    total: int
    open: int
    closed: int
    loans: int
    credit_cards: int
    currently_overdue: int
    credit_limit: list[MoneyTotal]
    balance: list[MoneyTotal]
    overdue_amount: list[MoneyTotal]
    # Worst repayment status: "N" (none overdue), "1".."7" months overdue, or "D"/"Z" for
    # debts paid by a guarantor or settled with assets (RULES.md 28); None: no grid data.
    worst_current_status: str | None
    worst_status_24_months: str | None
    worst_status_60_months: str | None


class RecordTypeCount(_Out):
    record_type: str
    total: int
    negative: int


class QuerySummary(_Out):
    # Queries by institutions in the last 12 months before the as-of date, by purpose.
    institution_queries_12_months: dict[str, int]
    subject_queries_12_months: int


class Summary(_Out):
    accounts: AccountSummary
    public_records: list[RecordTypeCount]
    negative_items: int
    queries: QuerySummary


class PublicRecords(_Out):
    tax_credit_grades: list[ReportItem] = Field(default_factory=list)
    tax_arrears: list[ReportItem] = Field(default_factory=list)
    court_judgments: list[ReportItem] = Field(default_factory=list)
    enforcement_cases: list[ReportItem] = Field(default_factory=list)
    dishonest_debtor_listings: list[ReportItem] = Field(default_factory=list)
    administrative_licences: list[ReportItem] = Field(default_factory=list)
    administrative_penalties: list[ReportItem] = Field(default_factory=list)
    utility_arrears: list[ReportItem] = Field(default_factory=list)
    social_insurance: list[ReportItem] = Field(default_factory=list)
    commendations: list[ReportItem] = Field(default_factory=list)


class DisputeAnnotation(_Out):
    """A dispute of one item: in progress (``open``, ``under_review``) or its outcome
    (``corrected``, ``confirmed``, ``deleted``, ``unresolved``)."""

    record_id: int
    record_type: str
    status: str
    opened_at: datetime
    due_at: datetime | None = Field(
        default=None, description="The end of the day the answer is due, in the profile's zone."
    )
    dispute_id: int | None = None
    outcome: str | None = None
    resolved_at: datetime | None = None
    written_outcome: str | None = Field(
        default=None, description="The written answer about the item, in the report's language."
    )
    dispute_text: str | None = Field(
        default=None,
        description="The subject's dispute, kept alongside an item left unresolved "
        "(征信业管理条例 Art. 25).",
    )


class StatementAnnotation(_Out):
    statement_id: int
    record_id: int
    record_type: str
    text: str
    made_at: datetime


class Annotations(_Out):
    disputes: list[DisputeAnnotation] = Field(default_factory=list)
    statements: list[StatementAnnotation] = Field(default_factory=list)


class QueryEntry(_Out):
    occurred_at: datetime
    requester_kind: RequesterKind
    institution_code: str | None
    institution_name: str | None
    purpose: str
    product: str


class Digest(_Out):
    algorithm: Literal["sha256"] = "sha256"
    value: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 (hex) of the report's canonical JSON without the digest member: "
        "keys sorted, no whitespace, non-ASCII characters unescaped, UTF-8 "
        "(see docs/reports.md).",
    )


class ScoreReason(_Out):
    code: str = Field(description="Stable reason code, e.g. R_MONTHS_OVERDUE_24M.")
    characteristic: str
    points_lost: float = Field(description="Points below the most the characteristic gives.")


class ReportScore(_Out):
    """The champion model's score of the subject as of the report's date, or why none."""

    score_id: int = Field(description="The entry in the subject's score history.")
    model_name: str
    model_version: int
    outcome: Literal["scored", "unscorable"]
    score: float | None
    reasons: list[ScoreReason] = Field(
        description="Key factors: up to 4, plus inquiries as a 5th when they cost points."
    )
    unscorable_code: str | None = None


class CreditReport(_Out):
    """A credit report, schema version 1.2 (1.1 plus ledger proofs; 1.1 added the score)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"$id": REPORT_SCHEMA_ID, "title": "Xinyong credit report 1.2"},
    )

    schema_version: Literal["1.2"] = "1.2"
    report_id: str
    generated_at: datetime
    as_of: date
    lang: Lang
    profile: ProfileRef
    coverage: Coverage
    chargeable: bool = Field(description="Beyond the subject's free-report allowance.")
    subject: ReportSubject
    requester: Requester
    summary: Summary
    credit_accounts: list[ReportItem]
    public_records: PublicRecords
    annotations: Annotations
    query_records: list[QueryEntry]
    score: ReportScore | None = Field(
        default=None,
        description="Absent when no champion model scores the subject's kind, or when the "
        "consent covers reports only.",
    )
    ledger: ReportLedger | None = Field(
        default=None, description="The signed checkpoint every item's ledger proof leads to."
    )
    digest: Digest


# --- requests and views ---------------------------------------------------------------------


class SubjectSelector(BaseModel):
    """A subject, by identifier or by platform id."""

    model_config = ConfigDict(extra="forbid")

    identifier_type: IdentifierType | None = None
    identifier: str | None = Field(default=None, max_length=64)
    subject_id: int | None = None


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: SubjectSelector
    purpose: str = Field(max_length=64)
    as_of: date | None = Field(default=None, description="Default: today in the profile's zone.")
    consent_id: int | None = None
    reference: str | None = Field(
        default=None, max_length=200, description="Legal document number (court order …)."
    )
    operator_user: str | None = Field(
        default=None, max_length=100, description="The institution's user making the query."
    )
    format: ReportFormat = ReportFormat.JSON
    lang: Lang = Lang.ZH_CN
    reveal: bool = Field(default=False, description="Operators only: identifier unmasked.")


class ConsentCreate(BaseModel):
    """A consent an institution obtained from a subject, with its evidence."""

    model_config = ConfigDict(extra="forbid")

    subject: SubjectSelector
    purposes: list[str] = Field(min_length=1, max_length=16)
    scope: ConsentScope = ConsentScope.REPORT
    granted_at: datetime | None = Field(default=None, description="Default: now.")
    expires_at: datetime
    evidence_kind: EvidenceKind
    evidence_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="SHA-256 of the signed document (document_hash).",
    )
    evidence_text: str | None = Field(
        default=None,
        max_length=10_000,
        description="The statement the subject signed (signed_statement), or a description.",
    )


class ConsentGrant(BaseModel):
    """A consent a signed-in subject grants itself."""

    model_config = ConfigDict(extra="forbid")

    institution_code: str = Field(max_length=64)
    purposes: list[str] = Field(min_length=1, max_length=16)
    scope: ConsentScope = ConsentScope.REPORT
    expires_at: datetime


class ConsentRevoke(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


class ConsentView(BaseModel):
    id: int
    subject_id: int
    institution_id: int
    institution_code: str
    purposes: list[str]
    scope: ConsentScope
    granted_at: datetime
    expires_at: datetime
    evidence_kind: EvidenceKind
    evidence_sha256: str
    recorded_by: str
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    revocation_reason: str | None
    status: Literal["active", "expired", "revoked", "pending"]


class QueryRecordView(BaseModel):
    id: int
    occurred_at: datetime
    product: str
    channel: Channel
    role: str
    institution_id: int | None
    institution_code: str | None
    operator_user: str | None
    subject_id: int
    purpose: str
    consent_id: int | None
    reference: str | None
    as_of: date | None
    outcome: Literal["served", "refused"]
    refusal_code: str | None
    report_id: str | None
    chargeable: bool


class ReportVerification(BaseModel):
    """Whether a report (by id and digest) is one the platform issued."""

    report_id: str
    valid: bool
    generated_at: datetime | None = None
    as_of: date | None = None
    profile: ProfileRef | None = None
    subject_kind: SubjectKind | None = None
    coverage: Coverage | None = None
