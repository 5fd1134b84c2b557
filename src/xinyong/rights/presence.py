"""Which of the subject's rights a report must look at: three flags read at once.

A report shows the subject's statements, its disputes and its repaired items. Most subjects
have none of the three, so a report first asks whether the subject has any at all (in the
statement that reads the rest of what it needs at that point) and reads the details only
of those it has (:mod:`xinyong.rights.service`, :mod:`xinyong.rights.disputes`,
:mod:`xinyong.rights.repaired`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import ColumnElement, Integer, Select, bindparam, exists, select
from sqlalchemy.orm import Session

from xinyong.rights.models import DisputeCase, RepairCase, SubjectStatement


@dataclass(frozen=True)
class RightsPresence:
    """Whether the subject has ever made a statement, filed a dispute, had a record repaired."""

    statements: bool
    disputes: bool
    repairs: bool

    @classmethod
    def of(cls, statements: object, disputes: object, repairs: object) -> RightsPresence:
        """From the values of :func:`presence_columns`, as a row holds them."""
        return cls(statements=bool(statements), disputes=bool(disputes), repairs=bool(repairs))


@cache
def presence_columns() -> tuple[ColumnElement[bool], ColumnElement[bool], ColumnElement[bool]]:
    """The three flags as columns of a statement bound to ``subject_id``.

    A report selects them with the other things it reads at that point, in one statement.
    """
    subject = bindparam("subject_id", type_=Integer)
    return (
        exists().where(SubjectStatement.subject_id == subject),
        exists().where(DisputeCase.subject_id == subject),
        exists().where(
            RepairCase.subject_id == subject,
            RepairCase.record_id.is_not(None),
            RepairCase.repaired_at.is_not(None),
        ),
    )


@cache
def _presence_query() -> Select[bool, bool, bool]:
    return select(*presence_columns())


def rights_presence(session: Session, subject_id: int) -> RightsPresence:
    """What the subject has, at any time: the detail queries apply the report's cut-off."""
    session.flush()
    row = session.connection().execute(_presence_query(), {"subject_id": subject_id}).one()
    return RightsPresence.of(*row)
