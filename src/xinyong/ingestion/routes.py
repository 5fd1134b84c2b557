"""Ingestion routes: single records and batch files from furnishers."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import select

from xinyong.api.deps import AppSettings, DbSession, Furnisher, Keys, RecordReader, SessionFactory
from xinyong.api.problems import PROBLEM_JSON
from xinyong.catalog.service import get_catalog
from xinyong.errors import PROBLEM_TYPE_PREFIX, XinyongError
from xinyong.ingestion import service
from xinyong.ingestion.models import IngestionBatch
from xinyong.ingestion.readers import FileFormat, InvalidBatchFileError, detect_format
from xinyong.ingestion.schemas import AcceptedRowView, BatchResult, RejectionView
from xinyong.ingestion.tasks import ingest_file
from xinyong.institutions.schemas import Principal, Role

router = APIRouter(prefix="/v1/ingestion", tags=["ingestion"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=service.MAX_IDEMPOTENCY_KEY,
        description="Retrying with the same key never applies a submission twice.",
    ),
]


class UploadTooLargeError(XinyongError):
    status = 413
    code = "payload_too_large"
    title = "Upload too large"


def _furnisher_id(principal: Principal) -> int:
    assert principal.institution_id is not None  # furnisher keys always have one
    return principal.institution_id


@router.post(
    "/records",
    summary="Submit one record (JSON object: envelope and fields)",
    responses={422: {"description": "The record was rejected; the problem lists why."}},
)
def submit_record(
    record: Annotated[dict[str, Any], Body()],
    session: DbSession,
    keys: Keys,
    principal: Furnisher,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> BatchResult:
    ctx = service.make_context(session, keys, get_catalog(), _furnisher_id(principal))
    batch, replayed = service.ingest_record(
        session, ctx, record, idempotency_key=idempotency_key or f"auto:{uuid.uuid4()}"
    )
    result = service.batch_result(session, batch, replayed=replayed)
    if result.rows.rejected:
        # The rejection is recorded with the batch; the request commits, then reports 422.
        session.commit()
        return JSONResponse(  # type: ignore[return-value]
            {
                "type": PROBLEM_TYPE_PREFIX + "record_rejected",
                "title": "The record was rejected",
                "status": 422,
                "detail": "; ".join(f"{r.field or 'row'}: {r.message}" for r in result.rejections),
                "code": "record_rejected",
                "batch_id": batch.id,
                "errors": [r.model_dump() for r in result.rejections],
            },
            status_code=422,
            media_type=PROBLEM_JSON,
        )
    response.status_code = status.HTTP_200_OK if replayed else status.HTTP_201_CREATED
    return result


async def _spool_body(request: Request, limit: int) -> tuple[Path, str | None, str | None]:
    """Stream the upload to a temporary file: memory stays flat for any size.

    Returns the file, its name and its media type (of the multipart part, if one).
    """
    content_type = request.headers.get("content-type", "")
    handle = tempfile.NamedTemporaryFile(prefix="xinyong-upload-", delete=False)  # noqa: SIM115
    path = Path(handle.name)
    filename: str | None = None
    size = 0
    try:
        if content_type.startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=10)
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise InvalidBatchFileError("the multipart form needs a `file` part")
            filename = upload.filename
            content_type = upload.content_type or ""
            while block := await upload.read(1 << 20):
                size += len(block)
                if size > limit:
                    raise UploadTooLargeError(f"the upload exceeds {limit} bytes")
                handle.write(block)
        else:
            async for block in request.stream():
                size += len(block)
                if size > limit:
                    raise UploadTooLargeError(f"the upload exceeds {limit} bytes")
                handle.write(block)
        handle.close()
        return path, filename, content_type or None
    except BaseException:
        handle.close()
        os.unlink(path)
        raise


@router.post(
    "/batches",
    summary="Submit a batch file (JSON Lines or CSV) as the request body or a multipart `file`",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            }
        }
    },
)
async def submit_batch(
    request: Request,
    factory: SessionFactory,
    keys: Keys,
    settings: AppSettings,
    principal: Furnisher,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    file_format: Annotated[FileFormat | None, Query(alias="format")] = None,
    record_type: Annotated[str | None, Query(max_length=64)] = None,
    filename: Annotated[str | None, Query(max_length=300)] = None,
) -> BatchResult:
    if not idempotency_key:
        raise service.MissingIdempotencyKeyError(
            "batch uploads need an Idempotency-Key header so a retry is never applied twice"
        )
    path, form_filename, media_type = await _spool_body(request, settings.max_upload_bytes)
    try:
        name = filename or form_filename
        detected = file_format or detect_format(name, media_type)
        if detected is None or detected is FileFormat.JSON:
            raise InvalidBatchFileError(
                "cannot tell the file format: pass ?format=jsonl or ?format=csv, a filename "
                "ending in .jsonl or .csv, or Content-Type application/x-ndjson or text/csv"
            )
        result = await run_in_threadpool(
            ingest_file,
            factory,
            keys,
            furnisher_id=_furnisher_id(principal),
            path=path,
            file_format=detected,
            idempotency_key=idempotency_key,
            source="api",
            filename=name,
            default_record_type=record_type,
            chunk_rows=settings.ingest_chunk_rows,
            workers=settings.ingest_workers,
            worker_min_rows=settings.ingest_worker_min_rows,
        )
    finally:
        os.unlink(path)
    if result.replayed:
        response.status_code = status.HTTP_200_OK
    return result


def _batch_for(session: DbSession, batch_id: int, principal: Principal) -> IngestionBatch:
    owner = principal.institution_id if principal.role is Role.FURNISHER else None
    return service.get_batch(session, batch_id, owner)


@router.get("/batches", summary="Your recent batches (operators and auditors: all)")
def list_batches(
    session: DbSession,
    principal: RecordReader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[BatchResult]:
    query = select(IngestionBatch).order_by(IngestionBatch.id.desc()).limit(limit)
    if principal.role is Role.FURNISHER:
        query = query.where(IngestionBatch.furnisher_id == principal.institution_id)
    return [service.batch_result(session, b, sample=0) for b in session.scalars(query)]


@router.get("/batches/{batch_id}", summary="A batch's status and counts")
def read_batch(batch_id: int, session: DbSession, principal: RecordReader) -> BatchResult:
    return service.batch_result(session, _batch_for(session, batch_id, principal))


@router.get("/batches/{batch_id}/rejections", summary="Rejected rows: row, field, code, message")
def read_rejections(
    batch_id: int,
    session: DbSession,
    principal: RecordReader,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[RejectionView]:
    batch = _batch_for(session, batch_id, principal)
    return service.list_rejections(session, batch.id, offset, limit)


@router.get("/batches/{batch_id}/accepted", summary="Accepted rows and what each wrote")
def read_accepted(
    batch_id: int,
    session: DbSession,
    principal: RecordReader,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[AcceptedRowView]:
    batch = _batch_for(session, batch_id, principal)
    return service.list_accepted(session, batch.id, offset, limit)
