"""Pydantic I/O models of the institutions domain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Role(StrEnum):
    """What a caller may do: API-key roles, and ``subject`` for a data subject's login."""

    OPERATOR = "operator"
    FURNISHER = "furnisher"
    QUERIER = "querier"
    AUDITOR = "auditor"
    SUBJECT = "subject"


class InstitutionKind(StrEnum):
    BANK = "bank"
    CONSUMER_FINANCE = "consumer_finance"
    LENDING_PLATFORM = "lending_platform"
    GUARANTEE = "guarantee"
    INSURER = "insurer"
    TAX_AUTHORITY = "tax_authority"
    COURT = "court"
    MARKET_REGULATOR = "market_regulator"
    UTILITY = "utility"
    SOCIAL_INSURANCE = "social_insurance"
    GOVERNMENT = "government"
    OTHER = "other"


# Purposes a querying institution may be permitted; the jurisdiction profiles of the
# reports domain decide which need consent (征信业管理条例 Art. 18-20; FCRA §1681b).
KNOWN_PURPOSES: tuple[str, ...] = (
    "loan_approval",
    "credit_card_approval",
    "post_loan_management",
    "guarantee_review",
    "employment",
    "insurance_underwriting",
    "subject_request",
    "court_order",
    "government_service",
)


class InstitutionCreate(BaseModel):
    code: str = Field(
        min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$", description="Short slug."
    )
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    kind: InstitutionKind
    uscc: str = Field(description="Unified Social Credit Code (GB 32100-2015).")
    is_furnisher: bool = False
    is_querier: bool = False
    permitted_record_types: list[str] = Field(default_factory=list)
    permitted_purposes: list[str] = Field(default_factory=list)


class InstitutionView(BaseModel):
    id: int
    code: str
    name: str
    name_en: str | None
    kind: InstitutionKind
    uscc: str
    is_furnisher: bool
    is_querier: bool
    permitted_record_types: list[str]
    permitted_purposes: list[str]
    status: str
    created_at: datetime


class ApiKeyCreate(BaseModel):
    role: Role
    label: str = Field(default="", max_length=200)


class ApiKeyView(BaseModel):
    id: int
    key_id: str
    role: Role
    institution_id: int | None
    label: str
    created_at: datetime
    revoked_at: datetime | None


class IssuedApiKey(ApiKeyView):
    api_key: str = Field(description="The key itself. Shown once; only its hash is stored.")


class Principal(BaseModel):
    """Who is calling: resolved from an API key or a subject's login on every request.

    The command line acts as a local operator without an API key (``api_key_id`` None). A
    data subject signed in to the portal has role ``subject`` and its ``subject_id``.
    """

    api_key_id: int | None
    role: Role
    institution_id: int | None
    institution_code: str | None
    label: str
    subject_id: int | None = None
    subject_account_id: int | None = None


LOCAL_OPERATOR = Principal(
    api_key_id=None, role=Role.OPERATOR, institution_id=None, institution_code=None, label="cli"
)
