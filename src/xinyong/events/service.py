"""The transactional outbox, webhook subscriptions and their signed, retried delivery.

Three steps, each safe to run again and from several processes at once:

1. :func:`emit` — another domain writes an :class:`OutboxEvent` in its own transaction, so
   the event exists exactly when the change it announces committed.
2. :func:`dispatch` — each new event is fanned out, once, into one
   :class:`WebhookDelivery` per subscription that may receive it (the rule below). An
   :class:`OutboxFanout` marker per event makes the fan-out exactly-once; a cursor bounds
   the scan for events without a marker.
3. :func:`deliver_due` — due deliveries are POSTed, signed (Standard Webhooks), and retried
   with exponential backoff until a 2xx answer or three days have passed: at-least-once,
   with the event id in ``webhook-id`` for the receiver to drop duplicates.

Who receives what (docs/events.md, "Who receives which events"):

- an event without a subject goes to every active subscription whose event types match;
- an event about a subject goes to the matching subscriptions that **monitor** that subject
  and whose institution still has business with it — a current consent of the subject, or
  credit records of the subject it furnishes — checked when the subject is added and again
  at every fan-out;
- an event the emitter marks ``public`` (say, an entry on a publicly disclosed list) goes
  also to matching subscriptions that monitor no subject at all: a type-wide subscription
  sees what the public could see, never more. A subscription that monitors subjects receives
  only events of those subjects (and subject-less ones).
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from xinyong import __version__
from xinyong.audit.schemas import StaffAction
from xinyong.audit.service import record_staff_action
from xinyong.db import Base, in_batches, transaction, utcnow
from xinyong.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    XinyongError,
)
from xinyong.events.models import (
    MonitoredSubject,
    OutboxCursor,
    OutboxEvent,
    OutboxFanout,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from xinyong.events.schemas import (
    AttemptView,
    DeliveryDetail,
    DeliveryStatus,
    DeliveryView,
    SubscriptionStatus,
    WebhookView,
)
from xinyong.events.signing import generate_secret, secret_key, signature_headers
from xinyong.identity.crypto import KeyRing
from xinyong.identity.identifiers import InvalidIdentifierError, validate_resident_id, validate_uscc
from xinyong.identity.service import locate_subject
from xinyong.institutions.schemas import Principal, Role
from xinyong.institutions.service import get_institution
from xinyong.records.models import CreditRecord
from xinyong.reports.models import Consent
from xinyong.reports.schemas import SubjectSelector

logger = logging.getLogger("xinyong.events")

SECRET_CONTEXT = b"events.webhook_secret"

# Event types: dotted lower-case segments, at least two ("list_entry.created").
_SEGMENT = r"[a-z][a-z0-9_]*"
EVENT_TYPE_PATTERN = re.compile(rf"^{_SEGMENT}(\.{_SEGMENT})+$")
# Subscription patterns: an exact type, a family ("list_entry.*") or everything ("*").
SUBSCRIPTION_PATTERN = re.compile(
    rf"^(\*|{_SEGMENT}(\.{_SEGMENT})*\.\*|{_SEGMENT}(\.{_SEGMENT})+)$"
)
MAX_EVENT_TYPE_LENGTH = 100

# Payloads hold ids and codes: short ASCII tokens, numbers, flags, dates. No names (no
# spaces, no CJK), and nothing that validates as a Resident ID or a USCC.
_PAYLOAD_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_PAYLOAD_TEXT = re.compile(r"^[A-Za-z0-9_.:/+\-]{0,128}$")
MAX_PAYLOAD_BYTES = 16 * 1024
_MAX_PAYLOAD_DEPTH = 4

# Fan-out.
CURSOR_NAME = "dispatch"
# The cursor moves only over events recorded this long ago: an emitting transaction still
# open when a later event is fanned out cannot be older than this (docs/events.md).
CURSOR_SETTLE = timedelta(hours=1)

# Delivery.
FIRST_RETRY = timedelta(seconds=10)
MAX_RETRY = timedelta(hours=1)
JITTER = 0.2  # each delay is drawn within ±20 %
GIVE_UP_AFTER = timedelta(days=3)
# A claimed delivery is not claimed again for this long (unless the run records it sooner).
LEASE = timedelta(minutes=5)
# Deliveries held back behind an unavailable endpoint wait for its next attempt, but never
# longer than this: an endpoint that is back gets its backlog within minutes.
DEFER_AT_MOST = timedelta(minutes=5)
ROTATION_GRACE = timedelta(hours=24)
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
# Answers that say "the endpoint as a whole is unavailable": the rest of its deliveries in
# the same run wait for the next attempt instead of hammering it.
_ENDPOINT_DOWN_STATUSES = frozenset({408, 429, 502, 503, 504})
_ERROR_LENGTH = 200


# --- errors -----------------------------------------------------------------------------------


class InvalidEventError(XinyongError):
    code = "invalid_event"
    title = "The event is not valid"


class InvalidWebhookUrlError(XinyongError):
    code = "invalid_webhook_url"
    title = "The webhook URL is not acceptable"


class InvalidEventTypesError(XinyongError):
    code = "invalid_event_types"
    title = "The event types are not valid"


class WebhookNotFoundError(NotFoundError):
    code = "webhook_not_found"
    title = "Webhook subscription not found"


class DeliveryNotFoundError(NotFoundError):
    code = "delivery_not_found"
    title = "Delivery not found"


class MonitoredSubjectNotFoundError(NotFoundError):
    code = "monitored_subject_not_found"
    title = "The subscription does not monitor this subject"


class WebhookDisabledError(ConflictError):
    code = "webhook_disabled"
    title = "The webhook subscription is disabled"


class NotAQuerierError(PermissionDeniedError):
    code = "not_a_querying_institution"
    title = "Only querying institutions subscribe to webhooks"


class NoRelationshipError(PermissionDeniedError):
    code = "no_relationship_with_subject"
    title = "Your institution has no business with this subject"


class InstitutionRequiredError(XinyongError):
    code = "institution_required"
    title = "Say which institution the subscription is for"


# --- emitting events --------------------------------------------------------------------------


def _check_payload_value(value: Any, path: str, depth: int) -> None:
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidEventError(f"payload {path} is not a finite number", path=path)
        return
    if isinstance(value, str):
        if not _PAYLOAD_TEXT.match(value):
            raise InvalidEventError(
                f"payload {path} is not an id or a code (ASCII letters, digits and _.:/+- "
                "only, at most 128): names and free text never go into events",
                path=path,
            )
        if _is_identifier(value):
            raise InvalidEventError(
                f"payload {path} looks like a Resident ID or a USCC: identifiers never go "
                "into events in clear; use the subject id",
                path=path,
            )
        return
    if depth >= _MAX_PAYLOAD_DEPTH:
        raise InvalidEventError(f"payload {path} is nested too deeply", path=path)
    if isinstance(value, list | tuple):
        if len(value) > 100:
            raise InvalidEventError(f"payload {path} has more than 100 items", path=path)
        for index, item in enumerate(value):
            _check_payload_value(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, Mapping):
        _check_payload_mapping(value, path, depth + 1)
        return
    raise InvalidEventError(
        f"payload {path} is a {type(value).__name__}: only JSON scalars, lists and objects",
        path=path,
    )


def _check_payload_mapping(payload: Mapping[Any, Any], path: str, depth: int) -> None:
    for key, value in payload.items():
        if not isinstance(key, str) or not _PAYLOAD_KEY.match(key):
            raise InvalidEventError(
                f"payload key {key!r} at {path or 'top level'} is not snake_case", path=path
            )
        _check_payload_value(value, f"{path}.{key}" if path else key, depth)


def _is_identifier(value: str) -> bool:
    if len(value) != 18:
        return False
    for validate in (validate_resident_id, validate_uscc):
        try:
            validate(value)
        except InvalidIdentifierError:
            continue
        return True
    return False


def check_event_type(event_type: str) -> str:
    """``event_type`` if well-formed: dotted lower-case segments, at least two."""
    if len(event_type) > MAX_EVENT_TYPE_LENGTH or not EVENT_TYPE_PATTERN.match(event_type):
        raise InvalidEventError(
            f"event type {event_type[:MAX_EVENT_TYPE_LENGTH]!r} is not dotted lower-case "
            "segments such as list_entry.created",
            event_type=event_type[:MAX_EVENT_TYPE_LENGTH],
        )
    return event_type


def emit(
    session: Session,
    event_type: str,
    *,
    payload: Mapping[str, Any],
    subject_id: int | None = None,
    public: bool = False,
) -> OutboxEvent:
    """Write an event to the outbox in the caller's transaction (never commits).

    ``payload`` holds ids and codes only (entry id, list type, dates, status codes): never
    names or identifiers in clear — receivers fetch details through the API, where the
    read is authorised and recorded. ``public`` lets the event reach subscriptions that do
    not monitor ``subject_id`` (only for information the platform discloses publicly
    anyway). Raises :class:`InvalidEventError` for a malformed type or payload.
    """
    check_event_type(event_type)
    if not isinstance(payload, Mapping):
        raise InvalidEventError("the payload must be a JSON object")
    _check_payload_mapping(payload, "", 0)
    data = json.loads(json.dumps(dict(payload)))  # a plain, JSON-clean copy
    if len(json.dumps(data, separators=(",", ":")).encode()) > MAX_PAYLOAD_BYTES:
        raise InvalidEventError(f"the payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    event = OutboxEvent(
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        subject_id=subject_id,
        public=public,
        occurred_at=utcnow(),
        payload=data,
    )
    session.add(event)
    session.flush()
    return event


def event_body(event: OutboxEvent) -> bytes:
    """The JSON body POSTed for an event: the same bytes on every (re)delivery."""
    document = {
        "id": event.event_id,
        "type": event.event_type,
        "timestamp": event.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "subject_id": event.subject_id,
        "public": event.public,
        "data": event.payload,
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def type_matches(pattern: str, event_type: str) -> bool:
    """Whether a subscription pattern (exact, ``family.*`` or ``*``) covers a type."""
    if pattern == "*" or pattern == event_type:
        return True
    return pattern.endswith(".*") and event_type.startswith(pattern[:-1])


# --- fan-out ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DispatchResult:
    events: int
    deliveries: int


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _insert(session: Session, model: type[Base]) -> Any:
    """The dialect's INSERT, for ``ON CONFLICT DO NOTHING``."""
    return pg_insert(model) if _is_postgresql(session) else sqlite_insert(model)


def _unfanned() -> Any:
    return ~(
        select(OutboxFanout.outbox_event_id)
        .where(OutboxFanout.outbox_event_id == OutboxEvent.id)
        .exists()
    )


def _cursor_position(session: Session, now: datetime) -> int:
    position = session.scalar(select(OutboxCursor.position).where(OutboxCursor.name == CURSOR_NAME))
    if position is not None:
        return position
    session.execute(
        _insert(session, OutboxCursor)
        .values(name=CURSOR_NAME, position=0, updated_at=now)
        .on_conflict_do_nothing()
    )
    return 0


def _advance_cursor(session: Session, position: int, now: datetime) -> None:
    """Move the cursor over fanned-out events recorded at least CURSOR_SETTLE ago."""
    first_gap = session.scalar(
        select(func.min(OutboxEvent.id)).where(OutboxEvent.id > position, _unfanned())
    )
    settled = session.scalar(
        select(func.max(OutboxEvent.id)).where(
            OutboxEvent.id > position, OutboxEvent.occurred_at < now - CURSOR_SETTLE
        )
    )
    if settled is None:
        return
    target = settled if first_gap is None else min(settled, first_gap - 1)
    if target > position:
        session.execute(
            update(OutboxCursor)
            .where(OutboxCursor.name == CURSOR_NAME, OutboxCursor.position < target)
            .values(position=target, updated_at=now)
        )


def related_pairs(
    session: Session, pairs: Iterable[tuple[int, int]], now: datetime | None = None
) -> set[tuple[int, int]]:
    """The (institution, subject) pairs with business together at ``now``.

    An institution has business with a subject while it holds a current consent of the
    subject (granted, not expired, not revoked) or furnishes credit records about it.
    """
    wanted = set(pairs)
    if not wanted:
        return set()
    now = now or utcnow()
    institutions = sorted({institution for institution, _ in wanted})
    subjects = sorted({subject for _, subject in wanted})
    found: set[tuple[int, int]] = set()
    for subject_chunk in in_batches(subjects):
        consents = session.execute(
            select(Consent.institution_id, Consent.subject_id).where(
                Consent.institution_id.in_(institutions),
                Consent.subject_id.in_(subject_chunk),
                Consent.granted_at <= now,
                Consent.expires_at > now,
                or_(Consent.revoked_at.is_(None), Consent.revoked_at > now),
            )
        )
        found.update((row[0], row[1]) for row in consents)
        furnished = session.execute(
            select(CreditRecord.furnisher_id, CreditRecord.subject_id)
            .where(
                CreditRecord.furnisher_id.in_(institutions),
                CreditRecord.subject_id.in_(subject_chunk),
            )
            .distinct()
        )
        found.update((row[0], row[1]) for row in furnished)
    return found & wanted


@dataclass(frozen=True)
class _Target:
    id: int
    institution_id: int
    patterns: tuple[str, ...]


def _targets(
    session: Session, events: Sequence[OutboxEvent], now: datetime
) -> dict[int, list[int]]:
    """For each event id, the subscriptions it goes to (the rule in the module docstring)."""
    subscriptions = [
        _Target(row.id, row.institution_id, tuple(row.event_types))
        for row in session.execute(
            select(
                WebhookSubscription.id,
                WebhookSubscription.institution_id,
                WebhookSubscription.event_types,
            ).where(WebhookSubscription.status == SubscriptionStatus.ACTIVE.value)
        )
    ]
    if not subscriptions:
        return {}
    by_type = {
        event_type: [
            s for s in subscriptions if any(type_matches(p, event_type) for p in s.patterns)
        ]
        for event_type in {event.event_type for event in events}
    }
    candidates = sorted({s.id for matching in by_type.values() for s in matching})
    if not candidates:
        return {}
    monitoring: set[int] = set()  # subscriptions that monitor at least one subject
    for chunk in in_batches(candidates):
        monitoring.update(
            session.scalars(
                select(MonitoredSubject.subscription_id)
                .where(MonitoredSubject.subscription_id.in_(chunk))
                .distinct()
            )
        )
    subject_ids = sorted({e.subject_id for e in events if e.subject_id is not None})
    monitors: dict[int, set[int]] = defaultdict(set)  # subject -> subscriptions
    if subject_ids and monitoring:
        for chunk in in_batches(subject_ids):
            rows = session.execute(
                select(MonitoredSubject.subject_id, MonitoredSubject.subscription_id).where(
                    MonitoredSubject.subject_id.in_(chunk)
                )
            )
            for subject_id, subscription_id in rows:
                if subscription_id in monitoring:
                    monitors[subject_id].add(subscription_id)
    institution_of = {s.id: s.institution_id for s in subscriptions}
    needed = {
        (institution_of[subscription_id], event.subject_id)
        for event in events
        if event.subject_id is not None and not event.public
        for subscription_id in monitors.get(event.subject_id, ())
    }
    related = related_pairs(session, needed, now)
    targets: dict[int, list[int]] = {}
    for event in events:
        chosen: list[int] = []
        for subscription in by_type[event.event_type]:
            if event.subject_id is None:
                chosen.append(subscription.id)
            elif subscription.id in monitors.get(event.subject_id, ()):
                if event.public or (subscription.institution_id, event.subject_id) in related:
                    chosen.append(subscription.id)
            elif event.public and subscription.id not in monitoring:
                chosen.append(subscription.id)
        targets[event.id] = chosen
    return targets


def dispatch(session: Session, *, limit: int = 500, now: datetime | None = None) -> DispatchResult:
    """Fan out up to ``limit`` new outbox events into deliveries, each event exactly once.

    Runs in the caller's transaction (never commits). Concurrent dispatchers on PostgreSQL
    take disjoint events (``FOR UPDATE SKIP LOCKED``); the fan-out marker's primary key makes
    a second fan-out of the same event impossible even so. SQLite serialises writers anyway.
    """
    now = now or utcnow()
    position = _cursor_position(session, now)
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.id > position, _unfanned())
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    if _is_postgresql(session):
        query = query.with_for_update(skip_locked=True, of=OutboxEvent)
    events = list(session.scalars(query))
    fanned = deliveries = 0
    if events:
        targets = _targets(session, events, now)
        for event in events:
            chosen = targets.get(event.id, [])
            marked = session.execute(
                _insert(session, OutboxFanout)
                .values(outbox_event_id=event.id, fanned_out_at=now, deliveries=len(chosen))
                .on_conflict_do_nothing()
                .returning(OutboxFanout.outbox_event_id)
            ).first()
            if marked is None:
                continue  # another dispatcher got there first
            fanned += 1
            if chosen:
                session.execute(
                    _insert(session, WebhookDelivery).on_conflict_do_nothing(),
                    [
                        {
                            "subscription_id": subscription_id,
                            "outbox_event_id": event.id,
                            "status": DeliveryStatus.PENDING.value,
                            "attempts": 0,
                            "created_at": now,
                            "next_attempt_at": now,
                        }
                        for subscription_id in chosen
                    ],
                )
                deliveries += len(chosen)
    _advance_cursor(session, position, now)
    return DispatchResult(events=fanned, deliveries=deliveries)


# --- delivery ---------------------------------------------------------------------------------


def backoff_delay(
    attempts: int, rng: random.Random | None = None, retry_after: float | None = None
) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt.

    10 s, 20 s, 40 s … doubling up to one hour, each drawn within ±20 % (jitter, so that
    many deliveries failing together do not retry together). A receiver's ``Retry-After``
    (seconds) is honoured up to the hour.
    """
    base = min(
        MAX_RETRY.total_seconds(), FIRST_RETRY.total_seconds() * 2 ** min(max(attempts, 1) - 1, 30)
    )
    if retry_after is not None and retry_after > 0:
        base = max(base, min(retry_after, MAX_RETRY.total_seconds()))
    draw = (rng or random).random()
    return timedelta(seconds=base * (1 + JITTER * (2 * draw - 1)))


@dataclass
class DeliveryRun:
    """What one :func:`deliver_due` did."""

    claimed: int = 0
    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    # Claimed but not sent: behind an unavailable endpoint, or past the run's time budget.
    deferred: int = 0
    disabled_subscriptions: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    delivery_id: int
    subscription_id: int
    created_at: datetime
    attempts: int
    url: str
    keys: tuple[bytes, ...]
    msg_id: str
    body: bytes


@dataclass(frozen=True)
class _Outcome:
    job: _Job
    # sent | deferred | released
    kind: str
    attempted_at: datetime | None = None
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def endpoint_down(self) -> bool:
        return self.kind == "sent" and (
            self.status_code is None or self.status_code in _ENDPOINT_DOWN_STATUSES
        )


def make_client() -> httpx.Client:
    """The HTTP client deliveries use: short timeouts, no redirects followed."""
    return httpx.Client(
        timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
        follow_redirects=False,
        headers={"User-Agent": f"xinyong-webhooks/{__version__}"},
    )


def _decrypt_keys(
    keys: KeyRing, subscription: WebhookSubscription, at: datetime
) -> tuple[bytes, ...]:
    current = secret_key(keys.decrypt_text(subscription.secret_ct, SECRET_CONTEXT))
    if (
        subscription.previous_secret_ct is not None
        and subscription.previous_secret_expires_at is not None
        and subscription.previous_secret_expires_at > at
    ):
        previous = secret_key(keys.decrypt_text(subscription.previous_secret_ct, SECRET_CONTEXT))
        return (current, previous)
    return (current,)


def _claim(session: Session, keys: KeyRing, now: datetime, batch: int) -> list[_Job]:
    query = (
        select(WebhookDelivery, OutboxEvent, WebhookSubscription)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.outbox_event_id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
            WebhookDelivery.next_attempt_at <= now,
            WebhookSubscription.status == SubscriptionStatus.ACTIVE.value,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(batch)
    )
    if _is_postgresql(session):
        query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
    rows = session.execute(query).all()
    jobs: list[_Job] = []
    secrets_of: dict[int, tuple[bytes, ...]] = {}
    for delivery, event, subscription in rows:
        if subscription.id not in secrets_of:
            secrets_of[subscription.id] = _decrypt_keys(keys, subscription, now)
        jobs.append(
            _Job(
                delivery_id=delivery.id,
                subscription_id=subscription.id,
                created_at=delivery.created_at,
                attempts=delivery.attempts,
                url=subscription.url,
                keys=secrets_of[subscription.id],
                msg_id=event.event_id,
                body=event_body(event),
            )
        )
    if jobs:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_([job.delivery_id for job in jobs]))
            .values(next_attempt_at=now + LEASE)
        )
    return jobs


def _short(text: str) -> str:
    return text if len(text) <= _ERROR_LENGTH else text[: _ERROR_LENGTH - 1] + "…"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


def _send(client: httpx.Client, job: _Job, at: datetime) -> _Outcome:
    timestamp = int(at.timestamp())
    headers = signature_headers(job.keys, job.msg_id, timestamp, job.body)
    headers["Content-Type"] = "application/json"
    started = time.monotonic()
    try:
        # Streamed and closed unread: a receiver cannot make the sender buffer a huge body.
        with client.stream("POST", job.url, content=job.body, headers=headers) as response:
            status, retry_after = response.status_code, _retry_after(response)
    except httpx.TimeoutException:
        error = "timeout"
    except httpx.ConnectError:
        error = "connection failed"
    except httpx.HTTPError as exc:
        error = f"transport error: {type(exc).__name__}"
    except Exception as exc:  # never let one receiver break the run
        error = f"error: {type(exc).__name__}"
    else:
        elapsed = int((time.monotonic() - started) * 1000)
        return _Outcome(
            job,
            "sent",
            attempted_at=at,
            status_code=status,
            error=None if 200 <= status < 300 else f"HTTP {status}",
            duration_ms=elapsed,
            retry_after=retry_after,
        )
    elapsed = int((time.monotonic() - started) * 1000)
    return _Outcome(job, "sent", attempted_at=at, error=_short(error), duration_ms=elapsed)


def _deliver_group(
    client: httpx.Client, jobs: Sequence[_Job], clock: Callable[[], datetime], deadline: float
) -> list[_Outcome]:
    """One subscription's deliveries, in order; stop sending once its endpoint is down."""
    outcomes: list[_Outcome] = []
    down = False
    for job in jobs:
        if down:
            outcomes.append(_Outcome(job, "deferred"))
        elif time.monotonic() > deadline:
            outcomes.append(_Outcome(job, "released"))
        else:
            outcome = _send(client, job, clock())
            outcomes.append(outcome)
            down = outcome.endpoint_down
    return outcomes


def _record(
    session: Session,
    outcomes: Sequence[_Outcome],
    now: datetime,
    rng: random.Random | None,
    run: DeliveryRun,
) -> None:
    retry_at: dict[int, datetime] = {}  # subscription -> its next attempt, for deferred jobs
    gone: set[int] = set()
    recovered: set[int] = set()
    pending = WebhookDelivery.status == DeliveryStatus.PENDING.value
    for outcome in (o for o in outcomes if o.kind == "sent"):
        job = outcome.job
        at = outcome.attempted_at or now
        run.attempted += 1
        session.add(
            WebhookAttempt(
                delivery_id=job.delivery_id,
                attempted_at=at,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        )
        common = {
            "attempts": WebhookDelivery.attempts + 1,
            "last_attempt_at": at,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error,
        }
        where = (WebhookDelivery.id == job.delivery_id, pending)
        if outcome.succeeded:
            run.delivered += 1
            recovered.add(job.subscription_id)
            session.execute(
                update(WebhookDelivery)
                .where(*where)
                .values(
                    **common,
                    status=DeliveryStatus.DELIVERED.value,
                    delivered_at=at,
                    next_attempt_at=None,
                )
            )
            continue
        next_at = at + backoff_delay(job.attempts + 1, rng, outcome.retry_after)
        if outcome.status_code == 410:
            gone.add(job.subscription_id)
        if outcome.status_code == 410 or next_at > job.created_at + GIVE_UP_AFTER:
            run.failed += 1
            session.execute(
                update(WebhookDelivery)
                .where(*where)
                .values(**common, status=DeliveryStatus.FAILED.value, next_attempt_at=None)
            )
        else:
            run.retrying += 1
            retry_at.setdefault(job.subscription_id, next_at)
            session.execute(
                update(WebhookDelivery).where(*where).values(**common, next_attempt_at=next_at)
            )
    for outcome in (o for o in outcomes if o.kind != "sent"):
        job = outcome.job
        run.deferred += 1
        later = now
        if outcome.kind == "deferred":
            later = min(retry_at.get(job.subscription_id, now), now + DEFER_AT_MOST)
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == job.delivery_id, pending)
            .values(next_attempt_at=later)
        )
    for subscription_id in sorted(recovered - gone):
        # The endpoint answers again: what waits in backoff for it is due now.
        session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.subscription_id == subscription_id,
                pending,
                WebhookDelivery.next_attempt_at > now + LEASE,
            )
            .values(next_attempt_at=now)
        )
    for subscription_id in sorted(gone):
        subscription = session.get(WebhookSubscription, subscription_id)
        if subscription is not None and subscription.status == SubscriptionStatus.ACTIVE.value:
            _disable(session, subscription, now, "the endpoint answered 410 Gone")
            run.disabled_subscriptions.append(subscription_id)


def deliver_due(
    factory: sessionmaker[Session],
    keys: KeyRing,
    *,
    now: datetime | None = None,
    client: httpx.Client | None = None,
    batch: int = 100,
    concurrency: int = 8,
    time_budget: float = 60.0,
    rng: random.Random | None = None,
) -> DeliveryRun:
    """POST the deliveries due at ``now``, signed; record every attempt and what comes next.

    Claims up to ``batch`` due deliveries in a short transaction (leasing them for a few
    minutes so no other worker sends them meanwhile), sends them outside any transaction —
    one thread per subscription, at most ``concurrency`` at once, with short timeouts —
    and records the outcomes in a second transaction. A subscription whose endpoint is
    unreachable (connection failure, timeout, 408/429/502/503/504) gets one attempt per
    run; its other deliveries wait for that attempt's retry time. Sending stops after
    ``time_budget`` seconds; unsent deliveries are released to the next run.

    ``now`` fixes the clock (tests, replays); without it each request is stamped with the
    time it is sent.
    """
    claim_time = now or utcnow()
    with transaction(factory) as session:
        jobs = _claim(session, keys, claim_time, batch)
    run = DeliveryRun(claimed=len(jobs))
    if not jobs:
        return run
    groups: dict[int, list[_Job]] = defaultdict(list)
    for job in jobs:
        groups[job.subscription_id].append(job)
    fixed = now
    clock: Callable[[], datetime] = utcnow if fixed is None else (lambda: fixed)
    deadline = time.monotonic() + time_budget
    own_client = client is None
    http = client or make_client()
    try:
        if len(groups) == 1:
            outcomes = _deliver_group(http, next(iter(groups.values())), clock, deadline)
        else:
            workers = max(1, min(concurrency, len(groups)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook") as pool:
                futures = [
                    pool.submit(_deliver_group, http, group, clock, deadline)
                    for group in groups.values()
                ]
                outcomes = [outcome for future in futures for outcome in future.result()]
    finally:
        if own_client:
            http.close()
    with transaction(factory) as session:
        _record(session, outcomes, now or utcnow(), rng, run)
    return run


# --- subscriptions ----------------------------------------------------------------------------


def check_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL without credentials or fragment."""
    candidate = url.strip()
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError as exc:
        raise InvalidWebhookUrlError("the URL cannot be parsed") from exc
    if parts.scheme not in ("http", "https"):
        raise InvalidWebhookUrlError(
            f"webhook URLs must start with http:// or https://, not {parts.scheme or 'nothing'}:",
            scheme=parts.scheme,
        )
    if not parts.hostname:
        raise InvalidWebhookUrlError("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrlError(
            "put no credentials in the URL: the signature authenticates the platform"
        )
    if parts.fragment:
        raise InvalidWebhookUrlError("the URL must not have a #fragment")
    if port == 0:
        raise InvalidWebhookUrlError("the URL's port is not valid")
    if len(candidate) > 2000:
        raise InvalidWebhookUrlError("the URL is longer than 2000 characters")
    return candidate


def check_event_patterns(patterns: Sequence[str]) -> list[str]:
    """Validated, deduplicated and sorted subscription patterns."""
    if not patterns:
        raise InvalidEventTypesError('name at least one event type (or "*")')
    invalid = [
        p for p in patterns if len(p) > MAX_EVENT_TYPE_LENGTH or not SUBSCRIPTION_PATTERN.match(p)
    ]
    if invalid:
        raise InvalidEventTypesError(
            f"not event types or patterns: {', '.join(repr(p[:100]) for p in invalid[:5])}; "
            'use e.g. "list_entry.created", "list_entry.*" or "*"',
            invalid=[p[:100] for p in invalid[:20]],
        )
    return sorted(set(patterns))


def _can_manage(principal: Principal) -> None:
    if principal.role not in (Role.QUERIER, Role.OPERATOR):
        raise PermissionDeniedError(
            f"the {principal.role.value} role may not manage webhook subscriptions"
        )


def _audit(
    session: Session,
    principal: Principal,
    action: StaffAction,
    subscription: WebhookSubscription,
    details: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    if principal.role is Role.OPERATOR:
        record_staff_action(
            session,
            principal,
            action,
            target_type="webhook_subscription",
            target_id=subscription.id,
            reason=reason,
            details={"institution_id": subscription.institution_id, **(details or {})},
        )


def get_subscription_for(
    session: Session, principal: Principal, subscription_id: int
) -> WebhookSubscription:
    """A subscription the caller may see: an institution sees only its own."""
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None or (
        principal.role not in (Role.OPERATOR, Role.AUDITOR)
        and subscription.institution_id != principal.institution_id
    ):
        raise WebhookNotFoundError(f"no webhook subscription {subscription_id} you may see")
    return subscription


def _managed(session: Session, principal: Principal, subscription_id: int) -> WebhookSubscription:
    _can_manage(principal)
    return get_subscription_for(session, principal, subscription_id)


def _resolve_subjects(
    session: Session, keys: KeyRing, selectors: Sequence[SubjectSelector | int]
) -> list[int]:
    ids: list[int] = []
    for selector in selectors:
        if isinstance(selector, int):
            subject = locate_subject(session, keys, subject_id=selector)
        else:
            subject = locate_subject(
                session,
                keys,
                subject_id=selector.subject_id,
                id_type=selector.identifier_type,
                identifier=selector.identifier,
            )
        ids.append(subject.id)
    return list(dict.fromkeys(ids))


def _check_relationships(
    session: Session, institution_id: int, subject_ids: Sequence[int], now: datetime
) -> None:
    related = related_pairs(session, ((institution_id, s) for s in subject_ids), now)
    missing = [s for s in subject_ids if (institution_id, s) not in related]
    if missing:
        raise NoRelationshipError(
            f"institution {institution_id} holds no current consent of subject {missing[0]} "
            "and furnishes no records about it: it may not monitor the subject",
            subject_ids=missing[:20],
        )


def _add_monitors(
    session: Session, subscription: WebhookSubscription, subject_ids: Sequence[int], now: datetime
) -> list[int]:
    """Insert the monitors not there yet; return the subject ids added."""
    if not subject_ids:
        return []
    existing = set(
        session.scalars(
            select(MonitoredSubject.subject_id).where(
                MonitoredSubject.subscription_id == subscription.id,
                MonitoredSubject.subject_id.in_(subject_ids),
            )
        )
    )
    added = [s for s in subject_ids if s not in existing]
    for subject_id in added:
        session.add(
            MonitoredSubject(subscription_id=subscription.id, subject_id=subject_id, created_at=now)
        )
    session.flush()
    return added


def create_subscription(
    session: Session,
    keys: KeyRing,
    principal: Principal,
    url: str,
    event_types: Sequence[str],
    subjects: Sequence[SubjectSelector | int] = (),
    *,
    institution_id: int | None = None,
    description: str | None = None,
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its signing secret, which is shown this once.

    A querying institution subscribes for itself; an operator names the institution.
    Every subject to monitor must be one the institution has business with.
    """
    _can_manage(principal)
    if principal.role is Role.OPERATOR:
        if institution_id is None:
            raise InstitutionRequiredError("operators give the institution_id to subscribe for")
        owner_id = institution_id
    else:
        if institution_id is not None and institution_id != principal.institution_id:
            raise PermissionDeniedError("an institution subscribes only for itself")
        if principal.institution_id is None:
            raise NotAQuerierError("the key belongs to no institution")
        owner_id = principal.institution_id
    institution = get_institution(session, owner_id)
    if not institution.is_querier or institution.status != "active":
        raise NotAQuerierError(
            f"institution {institution.code} is not an active querying institution"
        )
    checked_url = check_url(url)
    patterns = check_event_patterns(event_types)
    now = utcnow()
    subject_ids = _resolve_subjects(session, keys, subjects)
    _check_relationships(session, owner_id, subject_ids, now)
    secret = generate_secret()
    subscription = WebhookSubscription(
        institution_id=owner_id,
        url=checked_url,
        description=description,
        event_types=patterns,
        secret_ct=keys.encrypt_text(secret, SECRET_CONTEXT),
        status=SubscriptionStatus.ACTIVE.value,
        created_at=now,
    )
    session.add(subscription)
    session.flush()
    _add_monitors(session, subscription, subject_ids, now)
    _audit(
        session,
        principal,
        StaffAction.WEBHOOK_CREATE,
        subscription,
        {"event_types": patterns, "monitored_subjects": len(subject_ids)},
    )
    return subscription, secret


def list_subscriptions(
    session: Session,
    principal: Principal,
    *,
    institution_id: int | None = None,
    status: SubscriptionStatus | None = None,
    offset: int = 0,
    limit: int = 100,
) -> Sequence[WebhookSubscription]:
    """Subscriptions, newest first: an institution's own, or any for staff."""
    query = select(WebhookSubscription).order_by(WebhookSubscription.id.desc())
    if principal.role not in (Role.OPERATOR, Role.AUDITOR):
        institution_id = principal.institution_id
        if institution_id is None:
            return []
    if institution_id is not None:
        query = query.where(WebhookSubscription.institution_id == institution_id)
    if status is not None:
        query = query.where(WebhookSubscription.status == status.value)
    return session.scalars(query.offset(offset).limit(limit)).all()


def view_subscription(session: Session, subscription: WebhookSubscription) -> WebhookView:
    monitored = session.scalar(
        select(func.count())
        .select_from(MonitoredSubject)
        .where(MonitoredSubject.subscription_id == subscription.id)
    )
    return WebhookView(
        id=subscription.id,
        institution_id=subscription.institution_id,
        url=subscription.url,
        description=subscription.description,
        event_types=list(subscription.event_types),
        status=SubscriptionStatus(subscription.status),
        monitored_subjects=int(monitored or 0),
        created_at=subscription.created_at,
        disabled_at=subscription.disabled_at,
        disabled_reason=subscription.disabled_reason,
        previous_secret_expires_at=subscription.previous_secret_expires_at,
    )


def _disable(
    session: Session, subscription: WebhookSubscription, now: datetime, reason: str
) -> None:
    subscription.status = SubscriptionStatus.DISABLED.value
    subscription.disabled_at = now
    subscription.disabled_reason = _short(reason)
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == subscription.id,
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
        )
        .values(
            status=DeliveryStatus.FAILED.value,
            next_attempt_at=None,
            last_error="subscription disabled",
        )
    )
    session.flush()


def disable_subscription(
    session: Session, principal: Principal, subscription_id: int, *, reason: str | None = None
) -> WebhookSubscription:
    """Stop a subscription for good; its pending deliveries fail."""
    subscription = _managed(session, principal, subscription_id)
    if subscription.status == SubscriptionStatus.DISABLED.value:
        raise WebhookDisabledError(f"webhook subscription {subscription_id} is disabled already")
    _disable(session, subscription, utcnow(), reason or f"disabled by {principal.role.value}")
    _audit(session, principal, StaffAction.WEBHOOK_DISABLE, subscription, reason=reason)
    return subscription


def rotate_secret(
    session: Session, keys: KeyRing, principal: Principal, subscription_id: int
) -> tuple[WebhookSubscription, str]:
    """A new signing secret, shown once; the old one keeps signing for 24 hours too."""
    subscription = _managed(session, principal, subscription_id)
    if subscription.status != SubscriptionStatus.ACTIVE.value:
        raise WebhookDisabledError(f"webhook subscription {subscription_id} is disabled")
    secret = generate_secret()
    subscription.previous_secret_ct = subscription.secret_ct
    subscription.previous_secret_expires_at = utcnow() + ROTATION_GRACE
    subscription.secret_ct = keys.encrypt_text(secret, SECRET_CONTEXT)
    session.flush()
    _audit(session, principal, StaffAction.WEBHOOK_ROTATE, subscription)
    return subscription, secret


def monitor_subjects(
    session: Session,
    keys: KeyRing,
    principal: Principal,
    subscription_id: int,
    subjects: Sequence[SubjectSelector | int],
) -> list[int]:
    """Add subjects to a subscription's monitoring (idempotent); return their ids."""
    subscription = _managed(session, principal, subscription_id)
    if subscription.status != SubscriptionStatus.ACTIVE.value:
        raise WebhookDisabledError(f"webhook subscription {subscription_id} is disabled")
    now = utcnow()
    subject_ids = _resolve_subjects(session, keys, subjects)
    _check_relationships(session, subscription.institution_id, subject_ids, now)
    added = _add_monitors(session, subscription, subject_ids, now)
    if added:
        _audit(
            session,
            principal,
            StaffAction.WEBHOOK_SUBJECT_ADD,
            subscription,
            {"subject_ids": added},
        )
    return subject_ids


def unmonitor_subject(
    session: Session, principal: Principal, subscription_id: int, subject_id: int
) -> None:
    """Stop monitoring a subject; its events from now on no longer reach the subscription."""
    subscription = _managed(session, principal, subscription_id)
    monitor = session.scalar(
        select(MonitoredSubject).where(
            MonitoredSubject.subscription_id == subscription.id,
            MonitoredSubject.subject_id == subject_id,
        )
    )
    if monitor is None:
        raise MonitoredSubjectNotFoundError(
            f"webhook subscription {subscription_id} does not monitor subject {subject_id}"
        )
    session.delete(monitor)
    session.flush()
    _audit(
        session,
        principal,
        StaffAction.WEBHOOK_SUBJECT_REMOVE,
        subscription,
        {"subject_ids": [subject_id]},
    )


def list_monitored_subjects(
    session: Session,
    principal: Principal,
    subscription_id: int,
    *,
    offset: int = 0,
    limit: int = 100,
) -> Sequence[MonitoredSubject]:
    subscription = get_subscription_for(session, principal, subscription_id)
    return session.scalars(
        select(MonitoredSubject)
        .where(MonitoredSubject.subscription_id == subscription.id)
        .order_by(MonitoredSubject.subject_id)
        .offset(offset)
        .limit(limit)
    ).all()


def _delivery_view(delivery: WebhookDelivery, event: OutboxEvent) -> DeliveryView:
    return DeliveryView(
        id=delivery.id,
        subscription_id=delivery.subscription_id,
        event_id=event.event_id,
        event_type=event.event_type,
        subject_id=event.subject_id,
        status=DeliveryStatus(delivery.status),
        attempts=delivery.attempts,
        created_at=delivery.created_at,
        next_attempt_at=delivery.next_attempt_at,
        last_attempt_at=delivery.last_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        delivered_at=delivery.delivered_at,
    )


def list_deliveries(
    session: Session,
    principal: Principal,
    subscription_id: int,
    *,
    status: DeliveryStatus | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[DeliveryView]:
    """A subscription's deliveries, newest first."""
    subscription = get_subscription_for(session, principal, subscription_id)
    query = (
        select(WebhookDelivery, OutboxEvent)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.outbox_event_id)
        .where(WebhookDelivery.subscription_id == subscription.id)
        .order_by(WebhookDelivery.id.desc())
        .offset(offset)
        .limit(limit)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status.value)
    return [_delivery_view(delivery, event) for delivery, event in session.execute(query)]


def get_delivery(
    session: Session, principal: Principal, subscription_id: int, delivery_id: int
) -> DeliveryDetail:
    """One delivery with the log of its attempts."""
    subscription = get_subscription_for(session, principal, subscription_id)
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != subscription.id:
        raise DeliveryNotFoundError(
            f"webhook subscription {subscription_id} has no delivery {delivery_id}"
        )
    event = session.get(OutboxEvent, delivery.outbox_event_id)
    assert event is not None
    attempts = session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery.id)
        .order_by(WebhookAttempt.id)
    )
    return DeliveryDetail(
        **_delivery_view(delivery, event).model_dump(),
        attempt_log=[AttemptView.model_validate(a, from_attributes=True) for a in attempts],
    )
