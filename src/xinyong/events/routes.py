"""Webhook subscriptions: endpoints, monitored subjects, secrets and delivery logs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from xinyong.api.deps import DbSession, Keys, require_roles
from xinyong.events import service
from xinyong.events.schemas import (
    DeliveryDetail,
    DeliveryStatus,
    DeliveryView,
    IssuedWebhook,
    MonitoredSubjectView,
    RotatedSecret,
    SubscriptionStatus,
    WebhookCreate,
    WebhookView,
)
from xinyong.institutions.schemas import Principal, Role
from xinyong.reports.schemas import SubjectSelector

router = APIRouter(tags=["webhooks"])

Manager = Annotated[Principal, Depends(require_roles(Role.QUERIER, Role.OPERATOR))]
Reader = Annotated[Principal, Depends(require_roles(Role.QUERIER, Role.OPERATOR, Role.AUDITOR))]


class DisableRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=200)


class MonitorRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subjects: list[SubjectSelector] = Field(min_length=1, max_length=1000)


class MonitoredSubjects(BaseModel):
    subscription_id: int
    subject_ids: list[int]


@router.post(
    "/v1/webhooks",
    status_code=201,
    summary="Subscribe a URL to events; the signing secret is in this response only",
)
def create_webhook(
    body: WebhookCreate, session: DbSession, keys: Keys, principal: Manager
) -> IssuedWebhook:
    subscription, secret = service.create_subscription(
        session,
        keys,
        principal,
        body.url,
        body.event_types,
        body.subjects,
        institution_id=body.institution_id,
        description=body.description,
    )
    view = service.view_subscription(session, subscription)
    return IssuedWebhook(**view.model_dump(), secret=secret)


@router.get("/v1/webhooks", summary="Webhook subscriptions: your institution's, or all for staff")
def list_webhooks(
    session: DbSession,
    principal: Reader,
    institution_id: int | None = None,
    status: SubscriptionStatus | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[WebhookView]:
    subscriptions = service.list_subscriptions(
        session,
        principal,
        institution_id=institution_id,
        status=status,
        offset=offset,
        limit=limit,
    )
    return [service.view_subscription(session, s) for s in subscriptions]


@router.get("/v1/webhooks/{subscription_id}", summary="One webhook subscription")
def read_webhook(subscription_id: int, session: DbSession, principal: Reader) -> WebhookView:
    subscription = service.get_subscription_for(session, principal, subscription_id)
    return service.view_subscription(session, subscription)


@router.post(
    "/v1/webhooks/{subscription_id}/disable",
    summary="Disable a subscription for good; its pending deliveries fail",
)
def disable_webhook(
    subscription_id: int, session: DbSession, principal: Manager, body: DisableRequest | None = None
) -> WebhookView:
    subscription = service.disable_subscription(
        session, principal, subscription_id, reason=body.reason if body else None
    )
    return service.view_subscription(session, subscription)


@router.post(
    "/v1/webhooks/{subscription_id}/secret",
    summary="Rotate the signing secret: the new one is shown once, the old one signs 24 h more",
)
def rotate_webhook_secret(
    subscription_id: int, session: DbSession, keys: Keys, principal: Manager
) -> RotatedSecret:
    subscription, secret = service.rotate_secret(session, keys, principal, subscription_id)
    assert subscription.previous_secret_expires_at is not None
    return RotatedSecret(
        subscription_id=subscription.id,
        secret=secret,
        previous_secret_expires_at=subscription.previous_secret_expires_at,
    )


@router.get(
    "/v1/webhooks/{subscription_id}/subjects", summary="The subjects a subscription monitors"
)
def list_webhook_subjects(
    subscription_id: int,
    session: DbSession,
    principal: Reader,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[MonitoredSubjectView]:
    monitors = service.list_monitored_subjects(
        session, principal, subscription_id, offset=offset, limit=limit
    )
    return [
        MonitoredSubjectView(subject_id=m.subject_id, created_at=m.created_at) for m in monitors
    ]


@router.post(
    "/v1/webhooks/{subscription_id}/subjects",
    summary="Monitor subjects named by identifier or id (your institution must have business "
    "with each)",
)
def monitor_webhook_subjects(
    subscription_id: int, body: MonitorRequest, session: DbSession, keys: Keys, principal: Manager
) -> MonitoredSubjects:
    subject_ids = service.monitor_subjects(session, keys, principal, subscription_id, body.subjects)
    return MonitoredSubjects(subscription_id=subscription_id, subject_ids=subject_ids)


@router.put(
    "/v1/webhooks/{subscription_id}/subjects/{subject_id}",
    status_code=204,
    response_class=Response,
    summary="Monitor one subject by its platform id (idempotent)",
)
def put_webhook_subject(
    subscription_id: int, subject_id: int, session: DbSession, keys: Keys, principal: Manager
) -> Response:
    service.monitor_subjects(session, keys, principal, subscription_id, [subject_id])
    return Response(status_code=204)


@router.delete(
    "/v1/webhooks/{subscription_id}/subjects/{subject_id}",
    status_code=204,
    response_class=Response,
    summary="Stop monitoring a subject",
)
def delete_webhook_subject(
    subscription_id: int, subject_id: int, session: DbSession, principal: Manager
) -> Response:
    service.unmonitor_subject(session, principal, subscription_id, subject_id)
    return Response(status_code=204)


@router.get(
    "/v1/webhooks/{subscription_id}/deliveries",
    summary="A subscription's deliveries, newest first: status, attempts, last error",
)
def list_webhook_deliveries(
    subscription_id: int,
    session: DbSession,
    principal: Reader,
    status: DeliveryStatus | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryView]:
    return service.list_deliveries(
        session, principal, subscription_id, status=status, offset=offset, limit=limit
    )


@router.get(
    "/v1/webhooks/{subscription_id}/deliveries/{delivery_id}",
    summary="One delivery with the log of its attempts",
)
def read_webhook_delivery(
    subscription_id: int, delivery_id: int, session: DbSession, principal: Reader
) -> DeliveryDetail:
    return service.get_delivery(session, principal, subscription_id, delivery_id)
