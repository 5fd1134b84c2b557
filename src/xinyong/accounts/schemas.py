"""Pydantic I/O models of subject accounts: enrolment, activation, sessions, the portal."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator, model_validator

from xinyong.identity.identifiers import IdentifierType, SubjectKind
from xinyong.institutions.schemas import Principal

# Payload limits only: the password policy itself (10 to 256 characters …) is enforced by
# the service, so a too-long password gets `weak_password`, not a validation error.
_MAX_PASSWORD_PAYLOAD = 1024
_MAX_REASON = 1000  # audit_entries.reason


class AccountStatus(StrEnum):
    PENDING = "pending"  # enrolment code issued, no password yet
    ACTIVE = "active"
    DISABLED = "disabled"


def _reason(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("a reason is required: say which identity check was performed")
    return value


class EnrolmentRequest(BaseModel):
    """Enrol a subject after checking its identity: by subject id, or by identifier."""

    subject_id: int | None = Field(default=None, description="The subject, if known by id.")
    identifier_type: IdentifierType | None = None
    identifier: str | None = Field(default=None, min_length=1, max_length=64)
    reason: str = Field(
        min_length=1,
        max_length=_MAX_REASON,
        description="The identity check performed, e.g. 'ID card checked at counter, "
        "ticket 123'. Kept in the audit trail.",
    )

    _strip_reason = field_validator("reason")(_reason)

    @model_validator(mode="after")
    def _one_way_to_name_the_subject(self) -> EnrolmentRequest:
        by_identifier = self.identifier_type is not None or self.identifier is not None
        if self.subject_id is not None and by_identifier:
            raise ValueError("give subject_id or identifier_type and identifier, not both")
        if self.subject_id is None and (self.identifier_type is None or self.identifier is None):
            raise ValueError("give subject_id, or identifier_type and identifier")
        return self


class DisableRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=_MAX_REASON)

    _strip_reason = field_validator("reason")(_reason)


class ActivationRequest(BaseModel):
    """A subject completes enrolment with the one-time code and chooses a password."""

    identifier_type: IdentifierType
    identifier: str = Field(min_length=1, max_length=64)
    enrolment_code: str = Field(
        min_length=1, max_length=64, description="As handed over, e.g. 'ABCD-EFGH-JKMN'."
    )
    password: str = Field(
        min_length=1,
        max_length=_MAX_PASSWORD_PAYLOAD,
        description="10 to 256 characters, not one character repeated, not the identifier.",
    )


class LoginRequest(BaseModel):
    identifier_type: IdentifierType
    identifier: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=_MAX_PASSWORD_PAYLOAD)


class SubjectAccountView(BaseModel):
    id: int
    subject_id: int
    status: AccountStatus
    created_at: datetime
    activated_at: datetime | None
    disabled_at: datetime | None
    enrolment_expires_at: datetime | None = Field(
        description="When the outstanding enrolment code expires (pending accounts)."
    )
    locked_until: datetime | None = Field(
        description="Sign-in refused until then after repeated failures."
    )


class IssuedEnrolment(BaseModel):
    account_id: int
    subject_id: int
    enrolment_code: str = Field(
        description="One-time code for the subject. Shown once; only its hash is stored."
    )
    expires_at: datetime


class IssuedSession(BaseModel):
    token: str = Field(
        description="Bearer token `xs_…` for the portal. Shown once; only its hash is stored."
    )
    expires_at: datetime


class PortalMe(BaseModel):
    """The signed-in data subject, as the portal shows it to them."""

    subject_id: int
    kind: SubjectKind
    identifier_type: IdentifierType
    identifier: str = Field(description="Masked: the first and last four characters.")
    name: str | None
    name_en: str | None
    account_id: int
    account_status: AccountStatus


class SubjectPrincipal(Principal):
    """A principal resolved from a portal session token; knows which session it came from."""

    subject_session_id: int
