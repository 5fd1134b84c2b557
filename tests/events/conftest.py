"""Fixtures of the events tests: a querying institution, subjects, a live receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from events_support import Receiver, new_subject
from sqlalchemy.orm import Session, sessionmaker

from xinyong.identity.crypto import KeyRing
from xinyong.institutions.models import Institution


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    endpoint.start()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def lender(make_institution: Callable[..., Institution]) -> Institution:
    return make_institution("lender-events", purposes=["loan_approval", "post_loan_management"])


@pytest.fixture
def subject(factory: sessionmaker[Session], keys: KeyRing) -> int:
    return new_subject(factory, keys)
