"""Races on PostgreSQL: two answers to one task, and an answer against the deadline job.

Each race ends in exactly one outcome: the case row is locked while it changes, so the
second writer sees the first one's result and is refused (or finds nothing left to do).
SQLite runs one writer at a time, so these races cannot happen there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from dispute_support import file_dispute, task_of
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from xinyong.db import transaction
from xinyong.errors import XinyongError
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Principal, Role
from xinyong.rights import disputes
from xinyong.rights.models import DisputeCase, DisputeEvent, DisputeItem
from xinyong.rights.schemas import TaskAnswer

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def _furnisher(institution: Institution) -> Principal:
    return Principal(
        api_key_id=None,
        role=Role.FURNISHER,
        institution_id=institution.id,
        institution_code=institution.code,
        label=f"{institution.code} verifier",
    )


def _race(*actions: Callable[[], Any]) -> list[Any]:
    """Run the actions at the same moment, each in its own thread; their results or errors."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def run(index: int, action: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = action()
        except XinyongError as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _resolutions(factory: sessionmaker[Session], item_id: int) -> tuple[str | None, int]:
    with factory() as session:
        item = session.get(DisputeItem, item_id)
        assert item is not None
        events = session.scalars(
            select(DisputeEvent.event).where(DisputeEvent.item_id == item_id)
        ).all()
    # An item is settled by the furnisher's answer or by the deadline's outcome, once.
    settled = [event for event in events if event in ("answered", "deadline_outcome")]
    return item.outcome, len(settled)


def test_two_answers_to_one_task_end_in_one_outcome(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    person: Any,
    bank: Institution,
    bank_key: str,
) -> None:
    file_dispute(client, person.token, [person.loan])
    task = task_of(client, bank_key, person.loan)

    def answer(outcome: str) -> Callable[[], Any]:
        def act() -> Any:
            with transaction(factory) as session:
                item = disputes.answer_task(
                    session, keys, _furnisher(bank), task["id"], TaskAnswer(outcome=outcome)
                )
                return item.outcome

        return act

    results = _race(answer("confirmed"), answer("deleted"))
    won = [r for r in results if not isinstance(r, XinyongError)]
    lost = [r for r in results if isinstance(r, XinyongError)]
    assert len(won) == 1, results
    assert len(lost) == 1, results
    assert lost[0].status == 409
    outcome, settled = _resolutions(factory, task["id"])
    assert outcome == won[0]
    assert settled == 1


def test_an_answer_racing_the_deadline_job_ends_in_one_outcome(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    person: Any,
    bank: Institution,
    bank_key: str,
) -> None:
    case = file_dispute(client, person.token, [person.loan])
    task = task_of(client, bank_key, person.loan)
    with factory() as session:
        stored = session.get(DisputeCase, case["id"])
        assert stored is not None
        after_due = stored.due_on + timedelta(days=1)

    def answer() -> Any:
        with transaction(factory) as session:
            return disputes.answer_task(
                session, keys, _furnisher(bank), task["id"], TaskAnswer(outcome="confirmed")
            ).outcome

    def deadline() -> Any:
        with transaction(factory) as session:
            return disputes.run_dispute_deadlines(session, after_due, keys=keys)

    results = _race(answer, deadline)
    with factory() as session:
        item = session.get(DisputeItem, task["id"])
        assert item is not None
        final = item.outcome
    # cn: unresolved at the deadline; or the furnisher's confirmation came first.
    assert final in ("confirmed", "unresolved")
    if isinstance(results[0], XinyongError):
        assert final == "unresolved"  # the job won; the late answer was refused
    else:
        assert final == "confirmed"  # the answer won; the job found nothing to do
    assert _resolutions(factory, task["id"]) == (final, 1)
    # Run the job again: nothing changes.
    with transaction(factory) as session:
        disputes.run_dispute_deadlines(session, after_due, keys=keys)
    with factory() as session:
        item = session.get(DisputeItem, task["id"])
        assert item is not None
        assert item.outcome == final
