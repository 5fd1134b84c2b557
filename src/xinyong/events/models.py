"""The transactional outbox and the webhook subscriptions that deliver it.

An :class:`OutboxEvent` is written by another domain in the same transaction as the change
it announces (a list entry created …): the event exists if and only if the change
committed. Events are evidence of what the platform announced, so they are append-only, as
are the fan-out markers and the record of every delivery attempt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import AppendOnly, Base, utcnow


class OutboxEvent(AppendOnly, Base):
    """One event, written in the transaction of the change it announces."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        UniqueConstraint("event_id"),
        Index("ix_outbox_events_subject", "subject_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # A UUID (text): the receivers' deduplication key, sent as the `webhook-id` header.
    event_id: Mapped[str] = mapped_column(String(36))
    # Dotted, e.g. list_entry.created.
    event_type: Mapped[str] = mapped_column(String(100), index=True)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id"), default=None)
    # Whether the event may go to subscriptions that do not monitor its subject (e.g. an
    # entry on a publicly disclosed list). Set by the emitter; see docs/events.md.
    public: Mapped[bool] = mapped_column(default=False)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Ids and codes only: never names or identifiers in clear.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OutboxFanout(AppendOnly, Base):
    """The marker that an event has been fanned out into deliveries: once, ever."""

    __tablename__ = "outbox_fanouts"

    outbox_event_id: Mapped[int] = mapped_column(
        ForeignKey("outbox_events.id"), primary_key=True, autoincrement=False
    )
    fanned_out_at: Mapped[datetime] = mapped_column(default=utcnow)
    deliveries: Mapped[int] = mapped_column(default=0)


class OutboxCursor(Base):
    """How far the outbox is known to be fanned out: every event with ``id <= position``.

    It only bounds the scan for events without a fan-out marker; the markers decide.
    """

    __tablename__ = "outbox_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookSubscription(Base):
    """An institution's webhook endpoint: which events it wants, signed with its secret."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(200), default=None)
    # Patterns: an exact type (list_entry.created), a family (list_entry.*) or "*".
    event_types: Mapped[list[str]] = mapped_column(default=list)
    # The signing secret (whsec_…), AES-GCM encrypted under the subscription secret context.
    secret_ct: Mapped[bytes] = mapped_column(LargeBinary)
    # After a rotation the old secret signs too, until it expires (zero-downtime rotation).
    previous_secret_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    # active | disabled
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    disabled_reason: Mapped[str | None] = mapped_column(String(200), default=None)


class MonitoredSubject(Base):
    """A subject whose (non-public) events a subscription receives."""

    __tablename__ = "monitored_subjects"
    __table_args__ = (UniqueConstraint("subscription_id", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event on its way to one subscription, until delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "outbox_event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    outbox_event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"), index=True)
    # pending | delivered | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(default=None)
    # Short and free of secrets: "connection refused", "HTTP 503", "timeout" …
    last_error: Mapped[str | None] = mapped_column(String(200), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookAttempt(AppendOnly, Base):
    """One HTTP attempt of a delivery, as it went."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(String(200), default=None)
    duration_ms: Mapped[int] = mapped_column(default=0)
