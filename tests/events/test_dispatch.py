"""Fan-out: which subscriptions an event goes to, exactly once, under concurrency too."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from events_support import emit_committed, grant_consent, new_subject, subscribe
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from xinyong.db import transaction, utcnow
from xinyong.events.models import OutboxCursor, OutboxEvent, OutboxFanout, WebhookDelivery
from xinyong.events.service import (
    CURSOR_NAME,
    CURSOR_SETTLE,
    DispatchResult,
    disable_subscription,
    dispatch,
    emit,
)
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import LOCAL_OPERATOR
from xinyong.reports.models import Consent

URL = "http://127.0.0.1:9/hooks"  # never contacted: these tests do not deliver

MakeInstitution = Callable[..., Institution]


def run_dispatch(factory: sessionmaker[Session], **kwargs: object) -> DispatchResult:
    with transaction(factory) as session:
        return dispatch(session, **kwargs)  # type: ignore[arg-type]


def deliveries_by_subscription(factory: sessionmaker[Session]) -> dict[int, set[str]]:
    with factory() as session:
        rows = session.execute(
            select(WebhookDelivery.subscription_id, OutboxEvent.event_id).join(
                OutboxEvent, OutboxEvent.id == WebhookDelivery.outbox_event_id
            )
        )
        found: dict[int, set[str]] = {}
        for subscription_id, event_id in rows:
            found.setdefault(subscription_id, set()).add(event_id)
        return found


def test_who_receives_which_event(
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_institution: MakeInstitution,
    lender: Institution,
) -> None:
    """The rule of docs/events.md, case by case."""
    other = make_institution("other-lender", purposes=["loan_approval"])
    customer = new_subject(factory, keys)
    stranger = new_subject(factory, keys)
    grant_consent(factory, lender.id, customer)

    portfolio, _ = subscribe(factory, keys, lender, URL, ["list_entry.*"], [customer])
    type_wide, _ = subscribe(factory, keys, other, URL, ["list_entry.*"])
    everything, _ = subscribe(factory, keys, other, URL, ["*"])
    only_ended, _ = subscribe(factory, keys, lender, URL, ["list_entry.ended"], [customer])

    about_customer = emit_committed(factory, subject_id=customer)
    about_stranger = emit_committed(factory, subject_id=stranger)
    public_customer = emit_committed(factory, subject_id=customer, public=True)
    public_stranger = emit_committed(factory, subject_id=stranger, public=True)
    no_subject = emit_committed(factory, "list_entry.definitions_changed", subject_id=None)
    other_type = emit_committed(factory, "catalog.updated", subject_id=None)
    ended = emit_committed(factory, "list_entry.ended", subject_id=customer)

    result = run_dispatch(factory)
    assert result.events == 7

    received = deliveries_by_subscription(factory)
    # Monitors get every event of their subject, public or not, and subject-less events.
    assert received[portfolio.id] == {about_customer, public_customer, no_subject, ended}
    # A type-wide subscription sees only what is public, and subject-less events.
    assert received[type_wide.id] == {public_customer, public_stranger, no_subject}
    assert received[everything.id] == {public_customer, public_stranger, no_subject, other_type}
    # Event types filter in every case.
    assert received[only_ended.id] == {ended}
    # Nobody hears of the stranger's private event.
    assert all(about_stranger not in events for events in received.values())
    assert result.deliveries == sum(len(events) for events in received.values())


def test_a_monitor_that_lost_its_business_gets_nothing_private(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution, subject: int
) -> None:
    consent_id = grant_consent(factory, lender.id, subject)
    subscription, _ = subscribe(factory, keys, lender, URL, ["list_entry.*"], [subject])
    with transaction(factory) as session:
        consent = session.get(Consent, consent_id)
        assert consent is not None
        consent.revoked_at = utcnow() - timedelta(seconds=1)
    private = emit_committed(factory, subject_id=subject)
    public = emit_committed(factory, subject_id=subject, public=True)
    run_dispatch(factory)
    assert deliveries_by_subscription(factory) == {subscription.id: {public}}
    assert private != public


def test_disabled_subscriptions_get_nothing(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution
) -> None:
    subscription, _ = subscribe(factory, keys, lender, URL, ["*"])
    with transaction(factory) as session:
        disable_subscription(session, LOCAL_OPERATOR, subscription.id)
    emit_committed(factory, subject_id=None)
    assert run_dispatch(factory) == DispatchResult(events=1, deliveries=0)
    assert deliveries_by_subscription(factory) == {}


def test_each_event_fans_out_once(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution
) -> None:
    subscribe(factory, keys, lender, URL, ["*"])
    for _ in range(5):
        emit_committed(factory)
    assert run_dispatch(factory) == DispatchResult(events=5, deliveries=5)
    assert run_dispatch(factory) == DispatchResult(events=0, deliveries=0)
    emit_committed(factory)
    assert run_dispatch(factory) == DispatchResult(events=1, deliveries=1)
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(OutboxFanout)) == 6
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 6


def test_dispatch_takes_events_in_batches(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution
) -> None:
    subscribe(factory, keys, lender, URL, ["*"])
    with transaction(factory) as session:
        for n in range(7):
            emit(session, "list_entry.created", payload={"n": n})
    assert run_dispatch(factory, limit=3).events == 3
    assert run_dispatch(factory, limit=3).events == 3
    assert run_dispatch(factory, limit=3).events == 1
    assert run_dispatch(factory, limit=3).events == 0


def test_concurrent_dispatchers_fan_each_event_out_once(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution
) -> None:
    subscribe(factory, keys, lender, URL, ["*"])
    subscribe(factory, keys, lender, URL, ["list_entry.*"])
    with transaction(factory) as session:
        for n in range(60):
            emit(session, "list_entry.created", payload={"n": n})

    results: list[DispatchResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def dispatcher() -> None:
        try:
            start.wait()
            while True:
                result = run_dispatch(factory, limit=7)
                results.append(result)
                if result.events == 0:
                    return
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.events for r in results) == 60
    assert sum(r.deliveries for r in results) == 120
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(OutboxFanout)) == 60
        pairs = session.execute(
            select(WebhookDelivery.subscription_id, WebhookDelivery.outbox_event_id)
        ).all()
    assert len(pairs) == len(set(pairs)) == 120


def test_the_cursor_moves_only_over_settled_fanned_out_events(
    factory: sessionmaker[Session],
) -> None:
    ids = []
    for _ in range(3):
        with transaction(factory) as session:
            ids.append(emit(session, "list_entry.created", payload={}).id)

    def cursor() -> int:
        with factory() as session:
            position = session.scalar(
                select(OutboxCursor.position).where(OutboxCursor.name == CURSOR_NAME)
            )
            return int(position or 0)

    run_dispatch(factory)  # just recorded: not settled yet
    assert cursor() == 0
    later = utcnow() + CURSOR_SETTLE + timedelta(minutes=1)
    run_dispatch(factory, now=later)
    assert cursor() == ids[-1]


# Only PostgreSQL hands out ids before commit; SQLite runs one writer at a time, so its ids
# commit in order and the case cannot arise there.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_an_event_committed_late_with_a_lower_id_still_fans_out(
    factory: sessionmaker[Session], keys: KeyRing, lender: Institution, backend: str
) -> None:
    """PostgreSQL hands out ids before commit: a slow emitter's event lands behind others."""
    subscribe(factory, keys, lender, URL, ["*"])
    slow = factory()
    try:
        early = emit(slow, "list_entry.created", payload={"n": 1})  # id taken, not committed
        late = emit_committed(factory, payload={"n": 2})
        assert run_dispatch(factory).events == 1
        slow.commit()
        early_event_id = early.event_id
    finally:
        slow.close()
    assert run_dispatch(factory).events == 1
    received = deliveries_by_subscription(factory)
    assert set().union(*received.values()) == {early_event_id, late}
