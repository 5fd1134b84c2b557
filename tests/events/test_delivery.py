"""Delivery: signed POSTs to a real receiver on loopback, retries with backoff, giving up,
at-least-once with the same id, and endpoints that are down, gone or slow."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import httpx2 as httpx
import pytest
from events_support import Receiver, emit_committed, querier_principal, spec_verify, subscribe
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from xinyong.db import transaction, utcnow
from xinyong.events.models import OutboxEvent, WebhookDelivery, WebhookSubscription
from xinyong.events.schemas import DeliveryStatus
from xinyong.events.service import (
    GIVE_UP_AFTER,
    SECRET_CONTEXT,
    DeliveryRun,
    backoff_delay,
    deliver_due,
    dispatch,
    event_body,
    get_delivery,
    rotate_secret,
)
from xinyong.events.tasks import run_cycle
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.models import Institution


class Midpoint(random.Random):
    """No jitter: every delay exactly its nominal value."""

    def random(self) -> float:
        return 0.5


class Fixed(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def deliver(
    factory: sessionmaker[Session], keys: KeyRing, now: datetime, **kwargs: object
) -> DeliveryRun:
    with transaction(factory) as session:
        dispatch(session, now=now)
    return deliver_due(factory, keys, now=now, rng=Midpoint(), **kwargs)  # type: ignore[arg-type]


def deliveries(factory: sessionmaker[Session]) -> list[WebhookDelivery]:
    with factory() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_a_delivery_is_posted_signed_and_recorded(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution, receiver: Receiver
) -> None:
    subscription, secret = subscribe(factory, keys, lender, receiver.url, ["*"])
    event_id = emit_committed(factory, payload={"entry_id": 42, "list_type": "abnormal"})
    now = utcnow()
    run = deliver(factory, keys, now)
    assert (run.claimed, run.attempted, run.delivered) == (1, 1, 1)

    [request] = receiver.all()
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("xinyong-webhooks/")
    assert request.webhook_id == event_id
    assert request.headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert spec_verify(secret, request.headers, request.body, now=int(now.timestamp()))
    with factory() as session:
        event = session.scalar(select(OutboxEvent).where(OutboxEvent.event_id == event_id))
        assert event is not None
        assert request.body == event_body(event)

    [delivery] = deliveries(factory)
    assert delivery.status == DeliveryStatus.DELIVERED.value
    assert delivery.attempts == 1
    assert delivery.delivered_at == delivery.last_attempt_at
    assert delivery.last_status_code == 204
    assert delivery.next_attempt_at is None
    with factory() as session:
        detail = get_delivery(session, querier_principal(lender), subscription.id, delivery.id)
    assert [(a.status_code, a.error) for a in detail.attempt_log] == [(204, None)]
    assert detail.event_id == event_id


def test_the_backoff_schedule() -> None:
    nominal = [backoff_delay(n, Midpoint()).total_seconds() for n in range(1, 13)]
    assert nominal == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600]
    # Jitter: within ±20 % of the nominal delay.
    assert backoff_delay(3, Fixed(0.0)) == timedelta(seconds=32)
    assert backoff_delay(3, Fixed(1.0)) == timedelta(seconds=48)
    assert backoff_delay(40, Fixed(1.0)) == timedelta(seconds=4320)
    draws = {backoff_delay(2, random.Random(seed)) for seed in range(20)}
    assert len(draws) > 1
    assert all(timedelta(seconds=16) <= d <= timedelta(seconds=24) for d in draws)
    # A receiver's Retry-After is honoured, up to the hour.
    assert backoff_delay(1, Midpoint(), retry_after=120) == timedelta(seconds=120)
    assert backoff_delay(1, Midpoint(), retry_after=10**6) == timedelta(hours=1)


def test_failed_attempts_are_retried_on_schedule(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution, receiver: Receiver
) -> None:
    subscribe(factory, keys, lender, receiver.url, ["*"])
    emit_committed(factory)
    receiver.mode = "unavailable"
    start = utcnow()

    assert deliver(factory, keys, start).retrying == 1
    [delivery] = deliveries(factory)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_status_code == 503
    assert delivery.last_error == "HTTP 503"
    assert delivery.next_attempt_at == start + timedelta(seconds=10)

    assert deliver(factory, keys, start + timedelta(seconds=9)).claimed == 0
    assert deliver(factory, keys, start + timedelta(seconds=10)).attempted == 1
    [delivery] = deliveries(factory)
    assert delivery.attempts == 2
    assert delivery.next_attempt_at == start + timedelta(seconds=10 + 20)

    receiver.mode = "ok"
    assert deliver(factory, keys, start + timedelta(seconds=30)).delivered == 1
    [delivery] = deliveries(factory)
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert [r.answered for r in receiver.all()] == [503, 503, 204]


def test_a_receivers_retry_after_is_honoured(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution, receiver: Receiver
) -> None:
    subscribe(factory, keys, lender, receiver.url, ["*"])
    emit_committed(factory)
    receiver.mode = "unavailable"
    receiver.retry_after = "600"
    now = utcnow()
    deliver(factory, keys, now)
    [delivery] = deliveries(factory)
    assert delivery.next_attempt_at == now + timedelta(seconds=600)


def test_delivery_gives_up_after_three_days(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution, receiver: Receiver
) -> None:
    subscribe(factory, keys, lender, receiver.url, ["*"])
    emit_committed(factory)
    receiver.mode = "error"
    now = start = utcnow()
    for _ in range(200):
        deliver(factory, keys, now)
        [delivery] = deliveries(factory)
        if delivery.status != "pending":
            break
        assert delivery.next_attempt_at is not None
        now = delivery.next_attempt_at
    assert delivery.status == DeliveryStatus.FAILED.value
    assert delivery.next_attempt_at is None
    assert delivery.last_attempt_at is not None
    assert delivery.last_attempt_at - start <= GIVE_UP_AFTER
    assert delivery.last_attempt_at - start > GIVE_UP_AFTER - timedelta(hours=2)
    # 9 doubling steps to the hour, then hourly for the rest of the three days.
    assert 70 <= delivery.attempts <= 80
    assert len(receiver.all()) == delivery.attempts
    later = deliver(factory, keys, now + timedelta(days=1))
    assert later.claimed == 0


def test_a_redelivery_carries_the_same_id_and_body(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution, receiver: Receiver
) -> None:
    """At-least-once: a receiver that took the event in but failed to answer 2xx gets it
    again, recognisably the same."""
    _, secret = subscribe(factory, keys, lender, receiver.url, ["*"])
    event_id = emit_committed(factory)
    receiver.mode = "error"
    first = utcnow()
    receiver.clock = first
    deliver(factory, keys, first)
    receiver.mode = "ok"
    second = first + timedelta(seconds=10)
    receiver.clock = second
    assert deliver(factory, keys, second).delivered == 1

    requests = receiver.all()
    assert [r.answered for r in requests] == [500, 204]
    assert {r.webhook_id for r in requests} == {event_id}
    assert requests[0].body == requests[1].body
    assert requests[0].headers["webhook-timestamp"] != requests[1].headers["webhook-timestamp"]
    for request in requests:
        assert request.clock is not None
        assert spec_verify(
            secret, request.headers, request.body, now=int(request.clock.timestamp())
        )


def test_410_gone_disables_the_subscription(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution, receiver: Receiver
) -> None:
    subscription, _ = subscribe(factory, keys, lender, receiver.url, ["*"])
    emit_committed(factory)
    receiver.mode = "gone"
    run = deliver(factory, keys, utcnow())
    assert run.disabled_subscriptions == [subscription.id]
    assert [d.status for d in deliveries(factory)] == ["failed"]
    with factory() as session:
        stored = session.get(WebhookSubscription, subscription.id)
        assert stored is not None
        assert stored.status == "disabled"
        assert stored.disabled_reason == "the endpoint answered 410 Gone"
    emit_committed(factory)
    assert deliver(factory, keys, utcnow()).claimed == 0


def test_an_unreachable_endpoint_costs_one_attempt_per_run(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution, receiver: Receiver
) -> None:
    subscribe(factory, keys, lender, receiver.url, ["*"])
    for _ in range(5):
        emit_committed(factory)
    receiver.stop()  # connections are refused
    now = utcnow()
    run = deliver(factory, keys, now)
    assert (run.claimed, run.attempted, run.retrying, run.deferred) == (5, 1, 1, 4)
    waiting = deliveries(factory)
    assert [d.attempts for d in waiting] == [1, 0, 0, 0, 0]
    assert waiting[0].last_error == "connection failed"
    # The others wait for the endpoint's next attempt rather than each probing it.
    assert {d.next_attempt_at for d in waiting} == {now + timedelta(seconds=10)}


def test_a_slow_receiver_does_not_hold_up_the_others(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution, receiver: Receiver
) -> None:
    slow = Receiver()
    slow.start("slow")
    slow.delay = 2.0
    try:
        fast_subscription, _ = subscribe(factory, keys, lender, receiver.url, ["*"])
        slow_subscription, _ = subscribe(factory, keys, lender, slow.url, ["*"])
        for _ in range(3):
            emit_committed(factory)
        impatient = httpx.Client(timeout=httpx.Timeout(0.3))
        with impatient:
            run = deliver(factory, keys, utcnow(), client=impatient)
        assert run.delivered == 3
        assert len(receiver.accepted()) == 3
        by_subscription: dict[int, list[WebhookDelivery]] = {}
        for delivery in deliveries(factory):
            by_subscription.setdefault(delivery.subscription_id, []).append(delivery)
        assert {d.status for d in by_subscription[fast_subscription.id]} == {"delivered"}
        timed_out = [d for d in by_subscription[slow_subscription.id] if d.attempts]
        assert [d.last_error for d in timed_out] == ["timeout"]
        assert {d.status for d in by_subscription[slow_subscription.id]} == {"pending"}
    finally:
        slow.stop()


def test_a_recovered_endpoint_gets_its_backlog_at_once(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution, receiver: Receiver
) -> None:
    subscribe(factory, keys, lender, receiver.url, ["*"])
    receiver.mode = "unavailable"
    now = utcnow()
    emit_committed(factory)
    # Ten failures: the delivery now waits about an hour.
    for _ in range(10):
        deliver(factory, keys, now)
        [delivery] = deliveries(factory)
        assert delivery.next_attempt_at is not None
        now = delivery.next_attempt_at
    assert delivery.next_attempt_at is not None
    receiver.mode = "ok"
    # A new event reaches the endpoint: what waited for it is due at once.
    emit_committed(factory)
    now += timedelta(minutes=-30)
    assert deliver(factory, keys, now).delivered == 1
    assert deliver(factory, keys, now + timedelta(seconds=1)).delivered == 1
    assert {d.status for d in deliveries(factory)} == {"delivered"}


def test_the_secret_is_stored_encrypted(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution
) -> None:
    subscription, secret = subscribe(factory, keys, lender, "https://example.org/hook", ["*"])
    with factory() as session:
        stored = session.get(WebhookSubscription, subscription.id)
        assert stored is not None
        assert secret.encode() not in stored.secret_ct
        assert secret.removeprefix("whsec_").encode() not in stored.secret_ct
        assert keys.decrypt_text(stored.secret_ct, SECRET_CONTEXT) == secret
        with pytest.raises(Exception, match="authentication"):
            keys.decrypt_text(stored.secret_ct, b"subject.name")


def test_after_a_rotation_both_secrets_sign_for_a_day(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution, receiver: Receiver
) -> None:
    subscription, old = subscribe(factory, keys, lender, receiver.url, ["*"])
    with transaction(factory) as session:
        _, new = rotate_secret(session, keys, querier_principal(lender), subscription.id)
    assert new != old
    emit_committed(factory)
    now = utcnow()
    deliver(factory, keys, now)
    emit_committed(factory)
    later = now + timedelta(hours=25)
    deliver(factory, keys, later)
    during, after = receiver.all()
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert spec_verify(old, during.headers, during.body, now=int(now.timestamp()))
    assert spec_verify(new, during.headers, during.body, now=int(now.timestamp()))
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert spec_verify(new, after.headers, after.body, now=int(later.timestamp()))
    assert not spec_verify(old, after.headers, after.body, now=int(later.timestamp()))


def test_a_worker_round_fans_out_and_delivers(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution, receiver: Receiver
) -> None:
    subscribe(factory, keys, lender, receiver.url, ["list_entry.*"])
    for _ in range(3):
        emit_committed(factory)
    result = run_cycle(factory, keys)
    assert (result.dispatched.events, result.dispatched.deliveries) == (3, 3)
    assert result.delivery.delivered == 3
    assert not result.idle
    assert run_cycle(factory, keys).idle
