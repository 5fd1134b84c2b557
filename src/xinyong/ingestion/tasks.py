"""The batch runner: streams a file through validation in chunks, one transaction each.

Each chunk's rows and the batch checkpoint (``next_row``) commit together, so a crash
leaves whole chunks or nothing, and a retry with the same idempotency key resumes at the
checkpoint: nothing is lost and nothing is applied twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from xinyong.catalog.service import get_catalog
from xinyong.db import refresh_statistics, transaction, utcnow
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.ingestion.readers import FileFormat, RowProblem, check_file, iter_rows
from xinyong.ingestion.schemas import BatchResult
from xinyong.ingestion.service import (
    BatchInProgressError,
    PreparedRow,
    RejectedRow,
    apply_chunk,
    batch_result,
    lock_batch,
    make_context,
    open_batch,
    prepare_row,
    record_chunk,
)
from xinyong.records.models import CreditRecord, RecordVersion

Progress = Callable[[int], None]
_GROWING_TABLES = (Subject, CreditRecord, RecordVersion)


def _chunks(
    rows: Iterator[tuple[int, dict[str, object] | RowProblem]], size: int
) -> Iterator[list[tuple[int, dict[str, object] | RowProblem]]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def ingest_file(
    factory: sessionmaker[Session],
    keys: KeyRing,
    *,
    furnisher_id: int,
    path: Path,
    file_format: FileFormat,
    idempotency_key: str,
    source: str,
    filename: str | None = None,
    default_record_type: str | None = None,
    chunk_rows: int = 2000,
    progress: Progress | None = None,
    total_rows: Callable[[int], None] | None = None,
) -> BatchResult:
    """Ingest a JSON Lines or CSV file as one idempotent, resumable batch.

    A file that cannot be read (not UTF-8, unusable CSV header) is refused before a batch
    exists. Re-running with the same idempotency key and the same bytes resumes an
    interrupted batch or, when it completed, returns its result with ``replayed`` set.
    """
    catalog = get_catalog()
    check = check_file(path, file_format)
    if total_rows is not None:
        total_rows(check.rows)
    with transaction(factory) as session:
        ctx = make_context(session, keys, catalog, furnisher_id, default_record_type)
        batch, existed = open_batch(
            session,
            furnisher_id=furnisher_id,
            idempotency_key=idempotency_key,
            content_sha256=check.sha256,
            source=source,
            file_format=file_format.value,
            filename=filename,
            default_record_type=default_record_type,
        )
        batch_id, next_row, status = batch.id, batch.next_row, batch.status
        if existed and status == "completed":
            return batch_result(session, batch, replayed=True)

    if progress is not None and next_row > 1:
        progress(next_row - 1)
    for number, chunk in enumerate(
        _chunks(iter_rows(path, file_format, start_row=next_row), chunk_rows), start=1
    ):
        # Validation, hashing and encryption happen outside the write transaction, so the
        # database (SQLite's single writer in particular) is held only for the inserts.
        prepared: list[PreparedRow | RejectedRow] = [
            prepare_row(ctx, number, raw) for number, raw in chunk
        ]
        chunk_end = chunk[-1][0] + 1
        with transaction(factory) as session:
            batch = lock_batch(session, batch_id)
            if batch.status != "processing" or batch.next_row != next_row:
                raise BatchInProgressError(
                    f"batch {batch_id} moved on while this run processed it: another run "
                    "is working on it",
                    batch_id=batch_id,
                )
            counts = apply_chunk(session, ctx, batch_id, prepared)
            record_chunk(batch, counts, chunk_end)
        if progress is not None:
            progress(chunk_end - next_row)
        next_row = chunk_end
        if number & (number - 1) == 0:  # after chunks 1, 2, 4, 8, …: O(log n) refreshes
            with transaction(factory) as session:
                refresh_statistics(session, _GROWING_TABLES)

    with transaction(factory) as session:
        batch = lock_batch(session, batch_id)
        if batch.status == "processing":
            batch.status = "completed"
            batch.completed_at = utcnow()
        return batch_result(session, batch)
