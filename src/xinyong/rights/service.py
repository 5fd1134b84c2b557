"""Subjects' statements on items of their credit file (征信业管理条例 Art. 16; RULES.md 7).

A subject may attach a statement to any item of its file; the statement stays with the item
in every report made after it, until the subject withdraws it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from xinyong.db import utcnow
from xinyong.errors import NotFoundError, XinyongError
from xinyong.identity.crypto import KeyRing
from xinyong.records.models import CreditRecord
from xinyong.rights.models import SubjectStatement

STATEMENT_CONTEXT = b"statement.text"
MAX_STATEMENT_CHARS = 2000


class StatementNotFoundError(NotFoundError):
    code = "statement_not_found"
    title = "Statement not found"


class InvalidStatementError(XinyongError):
    code = "invalid_statement"
    title = "The statement cannot be recorded"


@dataclass(frozen=True)
class StatementText:
    id: int
    record_id: int
    record_type: str
    text: str
    made_at: datetime
    made_by: str
    withdrawn_at: datetime | None


def add_statement(
    session: Session, keys: KeyRing, subject_id: int, record_id: int, text: str, *, made_by: str
) -> SubjectStatement:
    """Attach a statement to one of the subject's own records."""
    record = session.get(CreditRecord, record_id)
    if record is None or record.subject_id != subject_id:
        # Same answer for someone else's record as for a missing one.
        raise StatementNotFoundError(f"your credit file has no record {record_id}")
    cleaned = text.strip()
    if not cleaned:
        raise InvalidStatementError("a statement needs text")
    if len(cleaned) > MAX_STATEMENT_CHARS:
        raise InvalidStatementError(
            f"a statement has at most {MAX_STATEMENT_CHARS} characters", limit=MAX_STATEMENT_CHARS
        )
    statement = SubjectStatement(
        subject_id=subject_id,
        record_id=record_id,
        text_ct=keys.encrypt_text(cleaned, STATEMENT_CONTEXT),
        made_by=made_by,
    )
    session.add(statement)
    session.flush()
    return statement


def withdraw_statement(session: Session, subject_id: int, statement_id: int) -> SubjectStatement:
    statement = session.get(SubjectStatement, statement_id)
    if statement is None or statement.subject_id != subject_id:
        raise StatementNotFoundError(f"you have no statement {statement_id}")
    if statement.withdrawn_at is None:
        statement.withdrawn_at = utcnow()
        session.flush()
    return statement


def _text(keys: KeyRing, statement: SubjectStatement, record_type: str) -> StatementText:
    return StatementText(
        id=statement.id,
        record_id=statement.record_id,
        record_type=record_type,
        text=keys.decrypt_text(statement.text_ct, STATEMENT_CONTEXT),
        made_at=statement.created_at,
        made_by=statement.made_by,
        withdrawn_at=statement.withdrawn_at,
    )


def view_statement(session: Session, keys: KeyRing, statement: SubjectStatement) -> StatementText:
    """One statement as the subject sees it."""
    record = session.get(CreditRecord, statement.record_id)
    assert record is not None  # a statement's record is never deleted (a foreign key)
    return _text(keys, statement, record.record_type)


def list_statements(session: Session, keys: KeyRing, subject_id: int) -> list[StatementText]:
    """All of a subject's statements, withdrawn ones included, newest first."""
    rows = session.execute(
        select(SubjectStatement, CreditRecord.record_type)
        .join(CreditRecord, CreditRecord.id == SubjectStatement.record_id)
        .where(SubjectStatement.subject_id == subject_id)
        .order_by(SubjectStatement.id.desc())
    ).all()
    return [_text(keys, statement, record_type) for statement, record_type in rows]


def statements_as_of(
    session: Session,
    keys: KeyRing,
    subject_id: int,
    record_ids: Sequence[int],
    cutoff: datetime,
) -> dict[int, list[StatementText]]:
    """The statements in force at ``cutoff`` on the given records, by record, oldest first."""
    if not record_ids:
        return {}
    rows = session.execute(
        select(SubjectStatement, CreditRecord.record_type)
        .join(CreditRecord, CreditRecord.id == SubjectStatement.record_id)
        .where(
            SubjectStatement.subject_id == subject_id,
            SubjectStatement.created_at < cutoff,
            or_(SubjectStatement.withdrawn_at.is_(None), SubjectStatement.withdrawn_at >= cutoff),
        )
        .order_by(SubjectStatement.id)
    ).all()
    wanted = set(record_ids)
    found: dict[int, list[StatementText]] = defaultdict(list)
    for statement, record_type in rows:
        if statement.record_id in wanted:
            found[statement.record_id].append(_text(keys, statement, record_type))
    return dict(found)
