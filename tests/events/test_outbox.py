"""The outbox: events are written in the emitter's transaction, well-formed and append-only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from support import new_resident_id, new_uscc
from xinyong.db import ImmutableRowError, transaction
from xinyong.events.models import OutboxEvent
from xinyong.events.service import InvalidEventError, emit, event_body, type_matches


def count_events(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxEvent)) or 0)


def test_an_event_commits_with_the_change_it_announces(
    factory: sessionmaker[Session], subject: int
) -> None:
    with transaction(factory) as session:
        event = emit(
            session,
            "list_entry.created",
            subject_id=subject,
            payload={"entry_id": 7, "list_type": "dishonest_judgment_debtor"},
        )
        event_id = event.event_id
    with factory() as session:
        stored = session.scalar(select(OutboxEvent).where(OutboxEvent.event_id == event_id))
        assert stored is not None
        assert stored.event_type == "list_entry.created"
        assert stored.subject_id == subject
        assert stored.public is False
        assert stored.payload == {"entry_id": 7, "list_type": "dishonest_judgment_debtor"}
    assert len(event_id) == 36  # a UUID


def test_a_rolled_back_change_leaves_no_event(factory: sessionmaker[Session]) -> None:
    class Refused(Exception):
        pass

    def change_that_fails() -> None:
        with transaction(factory) as session:
            emit(session, "list_entry.created", payload={"entry_id": 1})
            raise Refused

    with pytest.raises(Refused):
        change_that_fails()
    assert count_events(factory) == 0


def test_emit_never_commits(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        emit(session, "list_entry.ended", payload={"entry_id": 1})
        session.rollback()
    assert count_events(factory) == 0


def test_every_event_gets_its_own_id(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        ids = {emit(session, "list_entry.created", payload={"n": n}).event_id for n in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize(
    "event_type",
    ["created", "List_entry.created", "list_entry.", ".created", "list entry.created", "a.b-c"],
)
def test_a_malformed_event_type_is_refused(session: Session, event_type: str) -> None:
    with pytest.raises(InvalidEventError):
        emit(session, event_type, payload={})


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"subject_name": "张三"}, id="a name"),
        pytest.param({"note": "paid in full yesterday"}, id="free text"),
        pytest.param({"resident_id": new_resident_id()}, id="a resident id"),
        pytest.param({"uscc": new_uscc()}, id="a uscc"),
        pytest.param({"nested": {"holder": [new_resident_id()]}}, id="a nested identifier"),
        pytest.param({"Entry": 1}, id="a key not in snake case"),
        pytest.param({"amount": float("nan")}, id="not a number"),
        pytest.param({"blob": b"bytes"}, id="bytes"),
    ],
)
def test_names_identifiers_and_free_text_never_enter_an_event(
    session: Session, payload: dict[str, Any]
) -> None:
    with pytest.raises(InvalidEventError):
        emit(session, "list_entry.created", payload=payload)


def test_ids_codes_dates_and_flags_are_welcome(session: Session) -> None:
    payload = {
        "entry_id": 12,
        "list_type": "dishonest_judgment_debtor",
        "polarity": "negative",
        "start_date": "2026-11-27",
        "planned_end_date": None,
        "measures": ["no_high_consumption", "no_air_travel"],
        "amount": 1234.5,
        "repaired": False,
        "case": {"court_code": "110105", "reference": "2026-Jing-0105-Zhi-123"},
    }
    event = emit(session, "list_entry.created", payload=payload)
    assert event.payload == payload


def test_a_huge_payload_is_refused(session: Session) -> None:
    with pytest.raises(InvalidEventError):
        emit(session, "list_entry.created", payload={f"k{n}": "x" * 120 for n in range(200)})


def test_events_are_append_only(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        event_id = emit(session, "list_entry.created", payload={"entry_id": 1}).id
    with factory() as session:
        event = session.get(OutboxEvent, event_id)
        assert event is not None
        event.event_type = "list_entry.ended"
        with pytest.raises(ImmutableRowError):
            session.flush()
        session.rollback()
        event = session.get(OutboxEvent, event_id)
        session.delete(event)
        with pytest.raises(ImmutableRowError):
            session.flush()


def test_the_body_is_the_same_bytes_every_time(session: Session, subject: int) -> None:
    event = emit(
        session, "list_entry.extended", subject_id=subject, public=True, payload={"entry_id": 3}
    )
    body = event_body(event)
    assert body == event_body(event)
    document = json.loads(body)
    assert document == {
        "id": event.event_id,
        "type": "list_entry.extended",
        "timestamp": document["timestamp"],
        "subject_id": subject,
        "public": True,
        "data": {"entry_id": 3},
    }
    assert document["timestamp"].endswith("Z")


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("*", "list_entry.created", True),
        ("list_entry.*", "list_entry.created", True),
        ("list_entry.*", "list_entry.repair.granted", True),
        ("list_entry.created", "list_entry.created", True),
        ("list_entry.created", "list_entry.ended", False),
        ("list_entry.*", "list_entries.created", False),
        ("list.*", "list_entry.created", False),
    ],
)
def test_subscription_patterns(pattern: str, event_type: str, expected: bool) -> None:
    assert type_matches(pattern, event_type) is expected
