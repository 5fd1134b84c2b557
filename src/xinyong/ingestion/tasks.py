"""The batch runner: streams a file through validation in chunks, one transaction each.

Each chunk's rows and the batch checkpoint (``next_row``) commit together, so a crash
leaves whole chunks or nothing, and a retry with the same idempotency key resumes at the
checkpoint: nothing is lost and nothing is applied twice.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from multiprocessing import get_context
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from xinyong.catalog.service import get_catalog
from xinyong.db import refresh_statistics, transaction, utcnow
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.ingestion.readers import FileFormat, RawRow, check_file, iter_rows, parse_row
from xinyong.ingestion.schemas import BatchResult
from xinyong.ingestion.service import (
    BatchInProgressError,
    IngestContext,
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
# Starting a worker process costs about a second (it imports the platform); below this
# many rows one process finishes sooner (XINYONG_INGEST_WORKER_MIN_ROWS).
WORKER_MIN_ROWS = 50_000
_GROWING_TABLES = (Subject, CreditRecord, RecordVersion)


Chunk = list[tuple[int, RawRow]]
Prepared = list[PreparedRow | RejectedRow]


def _chunks(rows: Iterator[tuple[int, RawRow]], size: int) -> Iterator[Chunk]:
    while chunk := list(islice(rows, size)):
        yield chunk


@dataclass(frozen=True, slots=True)
class _WorkerSpec:
    """What a worker process needs to rebuild the ingestion context (all picklable)."""

    encryption_key: bytes
    blind_index_key: bytes
    furnisher_id: int
    permitted_record_types: frozenset[str]
    received_at: datetime
    default_record_type: str | None


_worker_ctx: IngestContext | None = None


def _exit_with_parent(parent: int) -> None:
    # A worker holds its own end of the task queue, so it never sees EOF when the parent
    # is killed: without this it would wait forever as an orphan.
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _init_worker(spec: _WorkerSpec, parent: int) -> None:
    global _worker_ctx
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    _worker_ctx = IngestContext(
        keys=KeyRing(spec.encryption_key, spec.blind_index_key),
        catalog=get_catalog(),
        furnisher_id=spec.furnisher_id,
        permitted_record_types=spec.permitted_record_types,
        received_at=spec.received_at,
        default_record_type=spec.default_record_type,
    )


def _prepare_chunk(chunk: Chunk, ctx: IngestContext | None = None) -> Prepared:
    ctx = ctx or _worker_ctx
    assert ctx is not None, "worker not initialised"
    return [prepare_row(ctx, number, parse_row(raw)) for number, raw in chunk]


def _prepared_chunks(
    ctx: IngestContext, chunks: Iterator[Chunk], workers: int
) -> Iterator[Prepared]:
    """Prepare chunks in order, in ``workers`` processes when asked.

    With workers, the next chunks are validated and encrypted while the caller writes the
    current one; at most ``workers + 1`` chunks are in flight, so memory stays flat.
    """
    if workers <= 0:
        for chunk in chunks:
            yield _prepare_chunk(chunk, ctx)
        return
    spec = _WorkerSpec(
        ctx.keys.encryption_key,
        ctx.keys.blind_index_key,
        ctx.furnisher_id,
        ctx.permitted_record_types,
        ctx.received_at,
        ctx.default_record_type,
    )
    # spawn, not fork: the API server runs this from a thread pool, and forking a
    # threaded process can deadlock.
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),
        initializer=_init_worker,
        initargs=(spec, os.getpid()),
    ) as pool:
        pending: deque[Future[Prepared]] = deque()
        for chunk in chunks:
            pending.append(pool.submit(_prepare_chunk, chunk))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def ingest_file(
    factory: sessionmaker[Session],
    keys: KeyRing,
    *,
    furnisher_id: int,
    path: Path,
    file_format: FileFormat,
    idempotency_key: str | None,
    source: str,
    filename: str | None = None,
    default_record_type: str | None = None,
    chunk_rows: int = 2000,
    workers: int = 0,
    worker_min_rows: int = WORKER_MIN_ROWS,
    progress: Progress | None = None,
    total_rows: Callable[[int], None] | None = None,
) -> BatchResult:
    """Ingest a JSON Lines or CSV file as one idempotent, resumable batch.

    A file that cannot be read (not UTF-8, unusable CSV header) is refused before a batch
    exists. Re-running with the same idempotency key and the same bytes resumes an
    interrupted batch or, when it completed, returns its result with ``replayed`` set.
    Without a key, the file's SHA-256, format and record type make one: running the same
    file the same way again is then a replay.
    ``workers`` > 0 validates and encrypts in that many extra processes (for files of at
    least ``worker_min_rows`` rows).
    """
    catalog = get_catalog()
    check = check_file(path, file_format)
    if total_rows is not None:
        total_rows(check.rows)
    if idempotency_key is None:
        # Format and record type change how the same bytes are read: re-running a file with
        # a corrected record type is a new submission, not a replay of the old one.
        idempotency_key = f"file:{check.sha256}:{file_format.value}:{default_record_type or ''}"
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
        # Every row of a batch is received when the batch is, resumed or not: defaults such
        # as valid_from then come out the same as in an uninterrupted run.
        ctx.received_at = batch.created_at
        if existed and status == "completed":
            return batch_result(session, batch, replayed=True)

    if progress is not None and next_row > 1:
        progress(next_row - 1)
    use_workers = workers if check.rows >= worker_min_rows else 0
    rows = iter_rows(path, file_format, start_row=next_row, parse=use_workers == 0)
    prepared_chunks = _prepared_chunks(ctx, _chunks(rows, chunk_rows), use_workers)
    for chunk_number, prepared in enumerate(prepared_chunks, start=1):
        # Validation, hashing and encryption happen outside the write transaction, so the
        # database (SQLite's single writer in particular) is held only for the inserts.
        chunk_end = prepared[-1].row_number + 1
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
        if chunk_number & (chunk_number - 1) == 0:  # after chunks 1, 2, 4, 8…: O(log n)
            with transaction(factory) as session:
                refresh_statistics(session, _GROWING_TABLES)

    with transaction(factory) as session:
        batch = lock_batch(session, batch_id)
        if batch.status == "processing":
            batch.status = "completed"
            batch.completed_at = utcnow()
        return batch_result(session, batch)
