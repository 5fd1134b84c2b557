"""Helpers of the subject-account tests: subjects to enrol, and a scan for secrets at rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from support import new_resident_id
from xinyong.db import transaction
from xinyong.identity.crypto import KeyRing
from xinyong.identity.service import resolve_subjects, subject_ref
from xinyong.models import Base

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Person:
    subject_id: int
    identifier: str
    name: str


def make_person(session: Session, keys: KeyRing, name: str = "王小明") -> Person:
    """A person subject with a fresh Resident ID, in ``session``'s transaction."""
    identifier = new_resident_id()
    ref = subject_ref(keys, "resident_id", identifier, name=name)
    subject_id, _ = resolve_subjects(session, keys, [ref])[ref.index]
    return Person(subject_id, identifier, name)


def commit_person(factory: sessionmaker[Session], keys: KeyRing, name: str = "王小明") -> Person:
    with transaction(factory) as session:
        return make_person(session, keys, name)


def stored_values(engine: Engine) -> list[str]:
    """Every value of every column of every table, as text (bytes also as hex and latin-1)."""
    found: list[str] = []
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for value in row:
                    found.extend(_forms(value))
    return found


def _forms(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bytes | memoryview):
        raw = bytes(value)
        return [raw.hex(), raw.decode("latin-1")]
    return [str(value)]


def leaks(engine: Engine, secrets: dict[str, str]) -> list[str]:
    """Which of ``secrets`` (value → what) appear anywhere in the database."""
    values = stored_values(engine)
    return sorted(what for secret, what in secrets.items() if any(secret in v for v in values))
