"""Pydantic I/O models of the events domain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from xinyong.reports.schemas import SubjectSelector


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=2000, description="Where events are POSTed: an http:// or https:// URL."
    )
    event_types: list[str] = Field(
        min_length=1,
        max_length=50,
        description='Event types or patterns: "list_entry.created", "list_entry.*", "*".',
    )
    subjects: list[SubjectSelector] = Field(
        default_factory=list,
        max_length=1000,
        description="Subjects to monitor (by identifier or platform id). A subscription that "
        "monitors subjects receives their events; one that monitors none receives only "
        "public and subject-less events (docs/events.md).",
    )
    description: str | None = Field(default=None, max_length=200)
    institution_id: int | None = Field(
        default=None, description="Operators only: the institution the subscription is for."
    )


class WebhookView(BaseModel):
    id: int
    institution_id: int
    url: str
    description: str | None
    event_types: list[str]
    status: SubscriptionStatus
    monitored_subjects: int = Field(description="How many subjects the subscription monitors.")
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the secret before the last rotation still signs too."
    )


class IssuedWebhook(WebhookView):
    secret: str = Field(
        description="The signing secret (whsec_…). Shown once; only its ciphertext is stored."
    )


class RotatedSecret(BaseModel):
    subscription_id: int
    secret: str = Field(description="The new signing secret, shown once.")
    previous_secret_expires_at: datetime = Field(
        description="Until then every request carries a signature with the old secret too."
    )


class MonitoredSubjectView(BaseModel):
    subject_id: int
    created_at: datetime


class DeliveryView(BaseModel):
    id: int
    subscription_id: int
    event_id: str = Field(description="The event's id: the webhook-id header.")
    event_type: str
    subject_id: int | None
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None


class AttemptView(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryDetail(DeliveryView):
    attempt_log: list[AttemptView]
