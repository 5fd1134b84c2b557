"""Which of the subject's rights a report must look at: one light query.

A report shows the subject's statements, its disputes and its repaired items. Most subjects
have none of the three, so a report first asks, in one statement, whether the subject has
any at all, and reads the details only of those it has (:mod:`xinyong.rights.service`,
:mod:`xinyong.rights.disputes`, :mod:`xinyong.rights.repaired`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import Integer, Select, bindparam, exists, select
from sqlalchemy.orm import Session

from xinyong.rights.models import DisputeCase, RepairCase, SubjectStatement


@dataclass(frozen=True)
class RightsPresence:
    """Whether the subject has ever made a statement, filed a dispute, had a record repaired."""

    statements: bool
    disputes: bool
    repairs: bool


@cache
def _presence_query() -> Select[bool, bool, bool]:
    subject = bindparam("subject_id", type_=Integer)
    return select(
        exists().where(SubjectStatement.subject_id == subject),
        exists().where(DisputeCase.subject_id == subject),
        exists().where(
            RepairCase.subject_id == subject,
            RepairCase.record_id.is_not(None),
            RepairCase.repaired_at.is_not(None),
        ),
    )


def rights_presence(session: Session, subject_id: int) -> RightsPresence:
    """What the subject has, at any time: the detail queries apply the report's cut-off."""
    session.flush()
    row = session.connection().execute(_presence_query(), {"subject_id": subject_id}).one()
    return RightsPresence(statements=bool(row[0]), disputes=bool(row[1]), repairs=bool(row[2]))
