"""Which records a credit repair has repaired (a light query for reports and publicity)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.rights.models import RepairCase


def repaired_record_ids(
    session: Session, record_ids: Iterable[int], before: datetime | None = None
) -> set[int]:
    """The records among ``record_ids`` repaired (before ``before``, when given)."""
    ids = sorted(set(record_ids))
    if not ids:
        return set()
    query = select(RepairCase.record_id).where(
        RepairCase.record_id.in_(ids), RepairCase.repaired_at.is_not(None)
    )
    if before is not None:
        query = query.where(RepairCase.repaired_at < before)
    return {record_id for record_id in session.scalars(query) if record_id is not None}
