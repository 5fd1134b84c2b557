"""A receiver down for an hour gets every event when it returns.

A real HTTP server on 127.0.0.1 refuses connections for the first half hour, answers 503
for the second, then comes back. Meanwhile events are emitted every five minutes and the
worker runs every minute; time is driven through ``now`` rather than slept through.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from events_support import (
    Receiver,
    emit_committed,
    grant_consent,
    new_subject,
    spec_verify,
    subscribe,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from xinyong.db import utcnow
from xinyong.events.models import WebhookDelivery
from xinyong.events.service import make_client
from xinyong.events.tasks import run_cycle
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.models import Institution


def test_a_receiver_down_for_an_hour_gets_every_event_when_it_returns(
    factory: sessionmaker[Session],
    keys: KeyRing,
    lender: Institution,
    subject: int,
    receiver: Receiver,
) -> None:
    stranger = new_subject(factory, keys)
    grant_consent(factory, lender.id, subject)
    subscription, secret = subscribe(
        factory, keys, lender, receiver.url, ["list_entry.*"], [subject]
    )
    receiver.stop()  # down: connections refused

    start = utcnow()
    emitted: list[str] = []
    not_for_us: list[str] = []
    attempts_while_down = 0
    with make_client() as client:
        for minute in range(60):
            now = start + timedelta(minutes=minute)
            receiver.clock = now
            if minute == 30:
                receiver.start("unavailable")  # up again, but answering 503
            if minute % 5 == 0:
                emitted.append(
                    emit_committed(
                        factory,
                        "list_entry.created" if minute % 10 else "list_entry.extended",
                        subject_id=subject,
                        payload={"entry_id": minute, "list_type": "dishonest_judgment_debtor"},
                    )
                )
                not_for_us.append(emit_committed(factory, subject_id=stranger))
            result = run_cycle(factory, keys, now=now, client=client)
            attempts_while_down += result.delivery.attempted
            assert result.delivery.delivered == 0

        receiver.mode = "ok"  # back, an hour after it went down
        back = start + timedelta(minutes=60)
        rounds_after_return = 0
        for second in range(0, 2 * 3600, 30):
            now = back + timedelta(seconds=second)
            receiver.clock = now
            run_cycle(factory, keys, now=now, client=client)
            rounds_after_return += 1
            with factory() as session:
                statuses = session.scalars(
                    select(WebhookDelivery.status).where(
                        WebhookDelivery.subscription_id == subscription.id
                    )
                ).all()
            if set(statuses) == {"delivered"}:
                break

    assert len(emitted) == 12
    assert len(statuses) == 12
    # Every event arrived …
    accepted = receiver.accepted()
    assert {request.webhook_id for request in accepted} == set(emitted)
    # … and nothing about a subject the institution does not monitor, ever.
    assert not {request.webhook_id for request in receiver.all()} & set(not_for_us)
    # Delivered within minutes of the return (rounds are 30 s apart), not on the backoff of
    # the oldest events, which by then wait up to an hour between attempts.
    assert rounds_after_return <= 12

    # Every request is authentic and fresh by the receiver's own (simulated) clock.
    for request in receiver.all():
        assert request.clock is not None
        assert spec_verify(
            secret, request.headers, request.body, now=int(request.clock.timestamp())
        )

    # Duplicates are recognisable by webhook-id: same id, same body.
    by_id: dict[str, set[bytes]] = defaultdict(set)
    for request in receiver.all():
        by_id[request.webhook_id].add(request.body)
    assert all(len(bodies) == 1 for bodies in by_id.values())
    assert any(
        len([r for r in receiver.all() if r.webhook_id == event_id]) > 1 for event_id in emitted
    )

    # The endpoint was not hammered while down: at most one attempt per round.
    assert attempts_while_down <= 60
