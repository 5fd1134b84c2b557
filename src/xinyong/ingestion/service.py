"""Validation and application of submitted rows.

A row is prepared (envelope and fields validated, subject identified, content hashed)
without touching the database; :func:`apply_chunk` then writes a whole chunk of prepared
rows with a handful of set-based statements. Services never commit: the batch runner in
:mod:`xinyong.ingestion.tasks` owns the transactions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, literal, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from xinyong.catalog.schemas import Catalog, FieldError
from xinyong.catalog.service import ENVELOPE_KEYS, validator_for
from xinyong.db import allocate_ids, bulk_insert, bytes_in, in_batches, utcnow
from xinyong.errors import ConflictError, NotFoundError, XinyongError
from xinyong.identity.crypto import Encryptor, KeyRing
from xinyong.identity.identifiers import IdentifierType, InvalidIdentifierError
from xinyong.identity.service import SubjectRef, resolve_subjects, subject_ref
from xinyong.ingestion.models import BatchRejection, BatchUnchangedRow, IngestionBatch
from xinyong.ingestion.readers import RowProblem
from xinyong.ingestion.schemas import (
    AcceptedRowView,
    BatchCounts,
    BatchResult,
    RejectionView,
)
from xinyong.institutions.service import get_institution
from xinyong.ledger.service import EVENT_COLUMNS, RECORD_VERSION, track_written_events
from xinyong.lists.definitions import get_definitions
from xinyong.lists.service import SourceRecord, sync_from_records
from xinyong.records.models import CreditRecord, RecordVersion
from xinyong.records.service import (
    CONTENT_CONTEXT,
    REASON_CONTEXT,
    RECORD_KEY_CONTEXT,
    record_key_index,
)

MAX_IDEMPOTENCY_KEY = 200  # ingestion_batches.idempotency_key
MAX_RECORD_KEY = 128
MAX_NAME = 200
MAX_REASON = 500
ACTIONS = ("upsert", "delete")
_TOMBSTONE = b"\x00tombstone"


class IdempotencyConflictError(ConflictError):
    code = "idempotency_key_reused"
    title = "Idempotency key already used for different content"


class BatchInProgressError(ConflictError):
    code = "batch_in_progress"
    title = "The batch is being processed by another worker"


class BatchNotFoundError(NotFoundError):
    code = "batch_not_found"
    title = "Batch not found"


class MissingIdempotencyKeyError(XinyongError):
    code = "idempotency_key_required"
    title = "Idempotency-Key header required"


class InvalidIdempotencyKeyError(XinyongError):
    code = "invalid_idempotency_key"
    title = "Invalid idempotency key"


class RecordTypeNotPermittedError(XinyongError):
    status = 403
    code = "record_type_not_permitted"
    title = "Record type not permitted"


@dataclass(slots=True)
class IngestContext:
    """Everything row preparation needs; built once per batch."""

    keys: KeyRing
    catalog: Catalog
    furnisher_id: int
    permitted_record_types: frozenset[str]
    received_at: datetime
    default_record_type: str | None = None
    encrypt_content: Encryptor = field(init=False)
    encrypt_record_key: Encryptor = field(init=False)
    # Record types whose versions create or update list entries.
    list_source_types: frozenset[str] = field(init=False)
    _subject_cache: dict[tuple[str, str], SubjectRef | FieldError] = field(default_factory=dict)
    _forbidden_cache: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Encrypting while preparing keeps the write transaction short (and lets a
        # worker process do it).
        self.encrypt_content = self.keys.encryptor(CONTENT_CONTEXT)
        self.encrypt_record_key = self.keys.encryptor(RECORD_KEY_CONTEXT)
        self.list_source_types = frozenset(get_definitions().by_source_record_type())

    @property
    def today(self) -> date:
        return self.received_at.date()

    def is_forbidden(self, key: str) -> bool:
        known = self._forbidden_cache.get(key)
        if known is None:
            known = self.catalog.forbidden_field_for(key) is not None
            if len(self._forbidden_cache) < 10_000:
                self._forbidden_cache[key] = known
        return known

    def subject(
        self, id_type: str, identifier: str, name: str | None, name_en: str | None
    ) -> SubjectRef | FieldError:
        cache_key = (id_type, identifier)
        cached = self._subject_cache.get(cache_key)
        if cached is None:
            try:
                cached = subject_ref(self.keys, id_type, identifier, name, name_en)
            except InvalidIdentifierError as exc:
                cached = FieldError("subject_identifier", "invalid_identifier", exc.detail)
            # Bounded: a batch of millions of distinct subjects must not grow memory.
            if len(self._subject_cache) >= 50_000:
                self._subject_cache.clear()
            self._subject_cache[cache_key] = cached
        return cached


@dataclass(slots=True)
class PreparedRow:
    row_number: int
    record_type: str
    record_key_ct: bytes
    key_index: bytes
    subject: SubjectRef
    delete: bool
    content_ct: bytes | None
    content_hash: bytes
    valid_from: date
    valid_to: date | None
    reason: str | None


@dataclass(slots=True)
class RejectedRow:
    row_number: int
    errors: list[FieldError]


def _text(
    raw: dict[str, object], key: str, errors: list[FieldError], limit: int, required: bool
) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            errors.append(FieldError(key, "required", f"{key} is required"))
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.append(FieldError(key, "invalid_type", f"{key} must be a string"))
        return None
    text = str(value).strip()
    if not text:
        if required:
            errors.append(FieldError(key, "required", f"{key} is required"))
        return None
    if len(text) > limit:
        errors.append(FieldError(key, "too_long", f"{key} is longer than {limit} characters"))
        return None
    return text


def _date(raw: dict[str, object], key: str, errors: list[FieldError]) -> date | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors.append(FieldError(key, "invalid_type", f"{key} must be a date string YYYY-MM-DD"))
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(key, "invalid_date", f"{key} must be a real date YYYY-MM-DD"))
        return None


def prepare_row(
    ctx: IngestContext, row_number: int, raw: dict[str, object] | RowProblem
) -> PreparedRow | RejectedRow:
    """Validate one row against the envelope rules and the catalog. Touches no database."""
    if isinstance(raw, RowProblem):
        return RejectedRow(row_number, [FieldError("", raw.code, raw.message)])
    errors: list[FieldError] = []
    fields: dict[str, object] = {}
    for key, value in raw.items():
        if ctx.is_forbidden(key):
            errors.append(
                FieldError(
                    key,
                    "forbidden_field",
                    f"{key} is information that must never be collected (征信业管理条例 Art. 14)",
                )
            )
        elif key not in ENVELOPE_KEYS:
            fields[key] = value

    record_type_code = _text(raw, "record_type", [], 64, required=False) or ctx.default_record_type
    record_type = None
    if record_type_code is None:
        errors.append(FieldError("record_type", "required", "record_type is required"))
    elif ctx.default_record_type and record_type_code != ctx.default_record_type:
        errors.append(
            FieldError(
                "record_type",
                "record_type_mismatch",
                f"this batch carries {ctx.default_record_type} records, not {record_type_code}",
            )
        )
    elif record_type_code not in ctx.catalog.record_types:
        errors.append(
            FieldError("record_type", "unknown_record_type", "record_type is not in the catalog")
        )
    elif record_type_code not in ctx.permitted_record_types:
        errors.append(
            FieldError(
                "record_type",
                "record_type_not_permitted",
                f"this furnisher may not submit {record_type_code} records",
            )
        )
    else:
        record_type = ctx.catalog.record_types[record_type_code]

    record_key = _text(raw, "record_key", errors, MAX_RECORD_KEY, required=True)
    action = _text(raw, "action", errors, 16, required=False) or "upsert"
    if action not in ACTIONS:
        errors.append(FieldError("action", "invalid_enum", "action must be upsert or delete"))
    delete = action == "delete"
    reason = _text(raw, "reason", errors, MAX_REASON, required=delete)

    subject: SubjectRef | None = None
    id_type = _text(raw, "subject_id_type", errors, 24, required=True)
    identifier = _text(raw, "subject_identifier", errors, 64, required=True)
    name = _text(raw, "subject_name", errors, MAX_NAME, required=False)
    name_en = _text(raw, "subject_name_en", errors, MAX_NAME, required=False)
    if id_type is not None and id_type not in IdentifierType.__members__.values():
        errors.append(
            FieldError(
                "subject_id_type",
                "invalid_enum",
                f"subject_id_type must be one of {', '.join(t.value for t in IdentifierType)}",
            )
        )
    elif id_type is not None and identifier is not None:
        resolved = ctx.subject(id_type, identifier, name, name_en)
        if isinstance(resolved, FieldError):
            errors.append(resolved)
        else:
            subject = resolved
            if record_type is not None and subject.kind.value not in record_type.subject_kinds:
                errors.append(
                    FieldError(
                        "subject_id_type",
                        "subject_kind_not_allowed",
                        f"{record_type.code} records cannot describe a {subject.kind.value}",
                    )
                )

    valid_from = _date(raw, "valid_from", errors) or ctx.today
    valid_to = _date(raw, "valid_to", errors)
    if valid_from > ctx.today + timedelta(days=1):
        errors.append(
            FieldError("valid_from", "future_date", "valid_from is later than the day received")
        )
    if valid_to is not None and valid_to < valid_from:
        errors.append(FieldError("valid_to", "date_order", "valid_to is earlier than valid_from"))

    fields_json = b""
    if record_type is not None and not delete:
        normalized, field_errors = validator_for(record_type).validate(fields)
        errors.extend(error for error in field_errors if error.code != "forbidden_field")
        fields_json = json.dumps(
            normalized, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")

    if errors or record_type is None or subject is None or record_key is None:
        return RejectedRow(row_number, errors)
    header = f"{record_type.code}\x00{valid_from.isoformat()}\x00{valid_to or ''}\x00".encode()
    return PreparedRow(
        row_number=row_number,
        record_type=record_type.code,
        record_key_ct=ctx.encrypt_record_key(record_key.encode("utf-8")),
        key_index=record_key_index(ctx.keys, record_type.code, record_key),
        subject=subject,
        delete=delete,
        content_ct=None if delete else ctx.encrypt_content(fields_json),
        content_hash=hashlib.sha256(header + (_TOMBSTONE if delete else fields_json)).digest(),
        valid_from=valid_from,
        valid_to=valid_to,
        reason=reason,
    )


@dataclass(slots=True)
class _RecordState:
    record_id: int | None
    subject_id: int
    version: int
    content_hash: bytes | None
    deleted: bool
    pending: list[dict[str, object]] = field(default_factory=list)


@dataclass(slots=True)
class ChunkCounts:
    created: int = 0
    corrected: int = 0
    deleted: int = 0
    unchanged: int = 0
    rejected: int = 0


def _load_states(
    session: Session, furnisher_id: int, key_indexes: Iterable[bytes]
) -> dict[bytes, _RecordState]:
    keys = list(set(key_indexes))
    states: dict[bytes, _RecordState] = {}
    for some in in_batches(keys):
        states.update(_load_some_states(session, furnisher_id, some))
    return states


def _load_some_states(
    session: Session, furnisher_id: int, keys: Sequence[bytes]
) -> dict[bytes, _RecordState]:
    latest = (
        select(RecordVersion.record_id, func.max(RecordVersion.version).label("version"))
        .join(CreditRecord, CreditRecord.id == RecordVersion.record_id)
        .where(CreditRecord.furnisher_id == furnisher_id, bytes_in(CreditRecord.key_index, "keys"))
        .group_by(RecordVersion.record_id)
        .subquery()
    )
    version = aliased(RecordVersion)
    rows = session.execute(
        select(
            CreditRecord.id,
            CreditRecord.key_index,
            CreditRecord.subject_id,
            version.version,
            version.content_hash,
            version.operation,
        )
        .join(latest, latest.c.record_id == CreditRecord.id)
        .join(
            version,
            and_(version.record_id == latest.c.record_id, version.version == latest.c.version),
        ),
        {"keys": list(keys)},
    )
    return {
        row.key_index: _RecordState(
            record_id=row.id,
            subject_id=row.subject_id,
            version=row.version,
            content_hash=row.content_hash,
            deleted=row.operation == "delete",
        )
        for row in rows
    }


_RECORD_COLUMNS = (
    "id",
    "furnisher_id",
    "record_type",
    "key_index",
    "record_key_ct",
    "subject_id",
    "created_at",
)
# Exactly the columns a record version's ledger event commits to, id first.
_VERSION_COLUMNS = EVENT_COLUMNS[RECORD_VERSION]
_UNCHANGED_COLUMNS = ("batch_id", "row_number", "record_id", "version")
_REJECTION_COLUMNS = ("batch_id", "row_number", "field", "code", "message")


def apply_chunk(
    session: Session,
    ctx: IngestContext,
    batch_id: int,
    rows: Sequence[PreparedRow | RejectedRow],
) -> ChunkCounts:
    """Write one chunk of prepared rows; rows are applied in order, duplicates included.

    Reads are two set-based queries (subjects, current versions); writes are bulk inserts
    (COPY on PostgreSQL). Nothing is updated: corrections and deletions are new versions.
    """
    counts = ChunkCounts()
    prepared = [row for row in rows if isinstance(row, PreparedRow)]
    subjects = resolve_subjects(session, ctx.keys, (row.subject for row in prepared))
    states = _load_states(session, ctx.furnisher_id, (row.key_index for row in prepared))
    encrypt_reason = ctx.keys.encryptor(REASON_CONTEXT)

    rejections: list[tuple[object, ...]] = []
    unchanged: list[tuple[int, _RecordState, int]] = []
    new_records: list[tuple[_RecordState, PreparedRow]] = []
    versions: list[tuple[_RecordState, tuple[object, ...]]] = []
    # Versions of record types that feed a list (a court's listing creates an entry).
    list_sources: list[tuple[_RecordState, PreparedRow, str]] = []

    def reject(row_number: int, errors: Sequence[FieldError]) -> None:
        counts.rejected += 1
        rejections.extend(
            (batch_id, row_number, error.field or None, error.code, error.message)
            for error in errors
        )

    for row in rows:
        if isinstance(row, RejectedRow):
            reject(row.row_number, row.errors)
            continue
        subject_id = subjects[row.subject.index][0]
        state = states.get(row.key_index)
        if state is not None and state.subject_id != subject_id:
            reject(
                row.row_number,
                [
                    FieldError(
                        "subject_identifier",
                        "subject_mismatch",
                        "this record_key already belongs to another subject; delete it and "
                        "submit the record under a new key",
                    )
                ],
            )
            continue
        if row.delete:
            if state is None:
                reject(
                    row.row_number,
                    [FieldError("record_key", "record_not_found", "there is no record to delete")],
                )
                continue
            if state.deleted:
                counts.unchanged += 1
                unchanged.append((row.row_number, state, state.version))
                continue
            operation = "delete"
            counts.deleted += 1
        elif state is None:
            operation = "create"
            counts.created += 1
            state = _RecordState(None, subject_id, 0, None, deleted=False)
            states[row.key_index] = state
            new_records.append((state, row))
        elif not state.deleted and state.content_hash == row.content_hash:
            counts.unchanged += 1
            unchanged.append((row.row_number, state, state.version))
            continue
        else:
            operation = "restore" if state.deleted else "correct"
            counts.corrected += 1
        state.version += 1
        state.content_hash = row.content_hash
        state.deleted = operation == "delete"
        if row.record_type in ctx.list_source_types:
            list_sources.append((state, row, operation))
        versions.append(
            (
                state,
                (
                    state.version,
                    operation,
                    row.content_ct,
                    row.content_hash,
                    ctx.catalog.version,
                    row.valid_from,
                    row.valid_to,
                    ctx.furnisher_id,
                    batch_id,
                    row.row_number,
                    ctx.received_at,
                    encrypt_reason(row.reason.encode("utf-8")) if row.reason else None,
                ),
            )
        )

    if new_records:
        ids = allocate_ids(session, CreditRecord, len(new_records))
        record_rows = []
        for record_id, (state, row) in zip(ids, new_records, strict=True):
            state.record_id = record_id
            record_rows.append(
                (
                    record_id,
                    ctx.furnisher_id,
                    row.record_type,
                    row.key_index,
                    row.record_key_ct,
                    state.subject_id,
                    ctx.received_at,
                )
            )
        bulk_insert(session, CreditRecord, _RECORD_COLUMNS, record_rows)
    version_ids = allocate_ids(session, RecordVersion, len(versions))
    version_rows = [
        (version_id, state.record_id, *values)
        for version_id, (state, values) in zip(version_ids, versions, strict=True)
    ]
    bulk_insert(session, RecordVersion, _VERSION_COLUMNS, version_rows)
    # Each new version becomes a ledger leaf when this chunk commits.
    track_written_events(session, RECORD_VERSION, version_rows)
    bulk_insert(
        session,
        BatchUnchangedRow,
        _UNCHANGED_COLUMNS,
        [(batch_id, number, state.record_id, version) for number, state, version in unchanged],
    )
    bulk_insert(session, BatchRejection, _REJECTION_COLUMNS, rejections)
    if list_sources:
        sync_from_records(
            session,
            ctx.keys,
            [
                SourceRecord(
                    record_id=state.record_id,
                    subject_id=state.subject_id,
                    record_type=row.record_type,
                    operation=operation,
                    content_ct=row.content_ct,
                    valid_from=row.valid_from,
                )
                for state, row, operation in list_sources
                if state.record_id is not None
            ],
            actor=f"furnisher:{ctx.furnisher_id}",
        )
    return counts


def get_batch(session: Session, batch_id: int, furnisher_id: int | None = None) -> IngestionBatch:
    """A batch; with ``furnisher_id``, only if it belongs to that furnisher."""
    batch = session.get(IngestionBatch, batch_id)
    if batch is None or (furnisher_id is not None and batch.furnisher_id != furnisher_id):
        raise BatchNotFoundError(f"batch {batch_id} does not exist")
    return batch


def list_rejections(
    session: Session, batch_id: int, offset: int = 0, limit: int = 100
) -> list[RejectionView]:
    rows = session.scalars(
        select(BatchRejection)
        .where(BatchRejection.batch_id == batch_id)
        .order_by(BatchRejection.row_number, BatchRejection.id)
        .offset(offset)
        .limit(limit)
    )
    return [
        RejectionView(row_number=r.row_number, field=r.field, code=r.code, message=r.message)
        for r in rows
    ]


def list_accepted(
    session: Session, batch_id: int, offset: int = 0, limit: int = 100
) -> list[AcceptedRowView]:
    """Accepted rows in row order: the versions they wrote and the rows that changed nothing."""
    written = select(
        RecordVersion.batch_row.label("row_number"),
        RecordVersion.record_id,
        RecordVersion.version,
        RecordVersion.operation.label("outcome"),
    ).where(RecordVersion.batch_id == batch_id)
    same = select(
        BatchUnchangedRow.row_number,
        BatchUnchangedRow.record_id,
        BatchUnchangedRow.version,
        literal("unchanged").label("outcome"),
    ).where(BatchUnchangedRow.batch_id == batch_id)
    combined = union_all(written, same).subquery()
    rows = session.execute(
        select(combined).order_by(combined.c.row_number).offset(offset).limit(limit)
    )
    return [
        AcceptedRowView(
            row_number=row.row_number,
            record_id=row.record_id,
            version=row.version,
            outcome=row.outcome,
        )
        for row in rows
    ]


def batch_result(
    session: Session, batch: IngestionBatch, *, replayed: bool = False, sample: int = 100
) -> BatchResult:
    # One more than shown tells whether the sample is the whole list.
    rejections = list_rejections(session, batch.id, limit=sample + 1) if sample else []
    counts = BatchCounts(
        created=batch.rows_created,
        corrected=batch.rows_corrected,
        deleted=batch.rows_deleted,
        unchanged=batch.rows_unchanged,
        rejected=batch.rows_rejected,
    )
    return BatchResult(
        id=batch.id,
        furnisher_id=batch.furnisher_id,
        idempotency_key=batch.idempotency_key,
        status=batch.status,
        source=batch.source,
        file_format=batch.file_format,
        filename=batch.filename,
        record_type=batch.default_record_type,
        content_sha256=batch.content_sha256,
        rows=counts,
        created_at=batch.created_at,
        completed_at=batch.completed_at,
        replayed=replayed,
        rejections=rejections[:sample],
        rejections_truncated=len(rejections) > sample,
    )


def make_context(
    session: Session,
    keys: KeyRing,
    catalog: Catalog,
    furnisher_id: int,
    default_record_type: str | None = None,
) -> IngestContext:
    """Build the context for a furnisher's submission, checking the batch's record type."""
    furnisher = get_institution(session, furnisher_id)
    if not furnisher.is_furnisher:
        raise RecordTypeNotPermittedError(f"institution {furnisher.code} is not a furnisher")
    permitted = frozenset(furnisher.permitted_record_types)
    if default_record_type is not None:
        catalog.record_type(default_record_type)
        if default_record_type not in permitted:
            raise RecordTypeNotPermittedError(
                f"{furnisher.code} may not submit {default_record_type} records"
            )
    return IngestContext(
        keys=keys,
        catalog=catalog,
        furnisher_id=furnisher_id,
        permitted_record_types=permitted,
        received_at=utcnow(),
        default_record_type=default_record_type,
    )


def _batch_for_key(
    session: Session,
    furnisher_id: int,
    idempotency_key: str,
    content_sha256: str,
    file_format: str,
    default_record_type: str | None,
) -> IngestionBatch | None:
    """The batch already opened under this key, if it is the same submission."""
    existing = session.scalar(
        select(IngestionBatch).where(
            IngestionBatch.furnisher_id == furnisher_id,
            IngestionBatch.idempotency_key == idempotency_key,
        )
    )
    if existing is None:
        return None
    if existing.content_sha256 != content_sha256:
        raise IdempotencyConflictError(
            "this idempotency key was used for a batch with different content",
            batch_id=existing.id,
        )
    if (existing.file_format, existing.default_record_type) != (file_format, default_record_type):
        raise IdempotencyConflictError(
            "this idempotency key was used for the same content read as "
            f"{existing.file_format} with record type "
            f"{existing.default_record_type or 'given per row'}",
            batch_id=existing.id,
        )
    return existing


def open_batch(
    session: Session,
    *,
    furnisher_id: int,
    idempotency_key: str,
    content_sha256: str,
    source: str,
    file_format: str,
    filename: str | None,
    default_record_type: str | None,
) -> tuple[IngestionBatch, bool]:
    """Find the batch for this idempotency key or create it; True when it already existed.

    The same key with different content is refused: a retry must resend the same bytes,
    read the same way (format and record type), or it would resume a batch under rules
    other than those its first rows were applied with.
    """
    if not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidIdempotencyKeyError(
            f"an idempotency key has 1 to {MAX_IDEMPOTENCY_KEY} characters"
        )
    lookup = (furnisher_id, idempotency_key, content_sha256, file_format, default_record_type)
    existing = _batch_for_key(session, *lookup)
    if existing is not None:
        return existing, True
    batch = IngestionBatch(
        furnisher_id=furnisher_id,
        idempotency_key=idempotency_key,
        content_sha256=content_sha256,
        source=source,
        file_format=file_format,
        filename=filename,
        default_record_type=default_record_type,
    )
    try:
        with session.begin_nested():
            session.add(batch)
    except IntegrityError:
        # A concurrent retry created the batch between the look-up and the insert
        # (PostgreSQL; SQLite serialises writers): continue with that one.
        existing = _batch_for_key(session, *lookup)
        if existing is None:
            raise
        return existing, True
    return batch, False


def lock_batch(session: Session, batch_id: int) -> IngestionBatch:
    """Re-read a batch under a row lock (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises)."""
    batch = session.scalar(
        select(IngestionBatch)
        .where(IngestionBatch.id == batch_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if batch is None:
        raise BatchNotFoundError(f"batch {batch_id} does not exist")
    return batch


def record_chunk(batch: IngestionBatch, counts: ChunkCounts, next_row: int) -> None:
    """Advance the checkpoint and counters in the chunk's own transaction."""
    batch.rows_created += counts.created
    batch.rows_corrected += counts.corrected
    batch.rows_deleted += counts.deleted
    batch.rows_unchanged += counts.unchanged
    batch.rows_rejected += counts.rejected
    batch.next_row = next_row


def ingest_record(
    session: Session,
    ctx: IngestContext,
    record: dict[str, object],
    *,
    idempotency_key: str,
) -> tuple[IngestionBatch, bool]:
    """Apply one record submitted through the API as a batch of one row."""
    body = json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8")
    batch, existed = open_batch(
        session,
        furnisher_id=ctx.furnisher_id,
        idempotency_key=idempotency_key,
        content_sha256=hashlib.sha256(body).hexdigest(),
        source="api",
        file_format="json",
        filename=None,
        default_record_type=None,
    )
    if existed and batch.status == "completed":
        return batch, True
    counts = apply_chunk(session, ctx, batch.id, [prepare_row(ctx, 1, record)])
    record_chunk(batch, counts, 2)
    batch.status = "completed"
    batch.completed_at = ctx.received_at
    session.flush()
    return batch, False
