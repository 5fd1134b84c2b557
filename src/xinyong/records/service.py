"""Reading credit records and their full version history."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.errors import NotFoundError
from xinyong.identity.crypto import KeyRing
from xinyong.records.models import CreditRecord, RecordVersion
from xinyong.records.schemas import RecordHistory, RecordSummary, RecordVersionView

CONTENT_CONTEXT = b"record.content"
REASON_CONTEXT = b"record.reason"
RECORD_KEY_CONTEXT = b"record.key"
_KEY_INDEX_CONTEXT = b"record.key_index"


class RecordNotFoundError(NotFoundError):
    code = "record_not_found"
    title = "Record not found"


def record_key_index(keys: KeyRing, record_type: str, record_key: str) -> bytes:
    """Blind index of a furnisher's record key (unique per furnisher and type)."""
    return keys.blind_index(_KEY_INDEX_CONTEXT, f"{record_type}\x00{record_key}")


def get_record(session: Session, record_id: int) -> CreditRecord:
    record = session.get(CreditRecord, record_id)
    if record is None:
        raise RecordNotFoundError(f"record {record_id} does not exist")
    return record


def find_record(
    session: Session, keys: KeyRing, furnisher_id: int, record_type: str, record_key: str
) -> CreditRecord:
    record = session.scalar(
        select(CreditRecord).where(
            CreditRecord.furnisher_id == furnisher_id,
            CreditRecord.key_index == record_key_index(keys, record_type, record_key),
        )
    )
    if record is None:
        raise RecordNotFoundError("this furnisher has no record with that type and key")
    return record


def _view_version(keys: KeyRing, version: RecordVersion) -> RecordVersionView:
    return RecordVersionView(
        version=version.version,
        operation=version.operation,
        fields=(
            json.loads(keys.decrypt(version.content_ct, CONTENT_CONTEXT))
            if version.content_ct is not None
            else None
        ),
        valid_from=version.valid_from,
        valid_to=version.valid_to,
        content_hash=version.content_hash.hex(),
        catalog_version=version.catalog_version,
        furnisher_id=version.furnisher_id,
        batch_id=version.batch_id,
        batch_row=version.batch_row,
        received_at=version.received_at,
        reason=keys.decrypt_text(version.reason_ct, REASON_CONTEXT) if version.reason_ct else None,
    )


def record_history(session: Session, keys: KeyRing, record: CreditRecord) -> RecordHistory:
    """Every version of a record, oldest first."""
    versions = session.scalars(
        select(RecordVersion)
        .where(RecordVersion.record_id == record.id)
        .order_by(RecordVersion.version)
    ).all()
    views = [_view_version(keys, version) for version in versions]
    return RecordHistory(
        id=record.id,
        record_type=record.record_type,
        record_key=keys.decrypt_text(record.record_key_ct, RECORD_KEY_CONTEXT),
        furnisher_id=record.furnisher_id,
        subject_id=record.subject_id,
        created_at=record.created_at,
        current_version=views[-1].version,
        deleted=views[-1].operation == "delete",
        versions=views,
    )


def subject_records(
    session: Session, keys: KeyRing, subject_id: int, *, include_deleted: bool = False
) -> list[RecordSummary]:
    """The current version of each record about a subject."""
    latest = (
        select(RecordVersion.record_id, func.max(RecordVersion.version).label("version"))
        .join(CreditRecord, CreditRecord.id == RecordVersion.record_id)
        .where(CreditRecord.subject_id == subject_id)
        .group_by(RecordVersion.record_id)
        .subquery()
    )
    rows: Sequence[tuple[CreditRecord, RecordVersion]] = session.execute(
        select(CreditRecord, RecordVersion)
        .join(latest, latest.c.record_id == CreditRecord.id)
        .join(
            RecordVersion,
            (RecordVersion.record_id == latest.c.record_id)
            & (RecordVersion.version == latest.c.version),
        )
        .order_by(CreditRecord.record_type, CreditRecord.id)
    ).all()
    summaries = []
    for record, version in rows:
        deleted = version.operation == "delete"
        if deleted and not include_deleted:
            continue
        view = _view_version(keys, version)
        summaries.append(
            RecordSummary(
                id=record.id,
                record_type=record.record_type,
                record_key=keys.decrypt_text(record.record_key_ct, RECORD_KEY_CONTEXT),
                furnisher_id=record.furnisher_id,
                subject_id=record.subject_id,
                created_at=record.created_at,
                current_version=version.version,
                deleted=deleted,
                fields=view.fields,
                valid_from=view.valid_from,
            )
        )
    return summaries


def count_records_by_type(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(CreditRecord.record_type, func.count())
        .group_by(CreditRecord.record_type)
        .order_by(CreditRecord.record_type)
    )
    return {str(record_type): int(count) for record_type, count in rows}


def count_versions(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(RecordVersion)) or 0
