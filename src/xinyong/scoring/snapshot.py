"""Parquet snapshots of the credit records, the input of batch feature computation.

A snapshot is a directory written by :func:`write_snapshot`:

    manifest.json                 when it was taken, catalog and profile, row counts
    subjects.parquet              subject_id, kind
    inquiries.parquet             subject_id, occurred_at, purpose (served report and score queries)
    repaired.parquet              record_id, repaired_at (credit repair approved)
    versions/<record_type>.parquet
                                  one row per record version: record_id, subject_id, version,
                                  operation, valid_from, received_at and the typed fields

It holds every version, so features can be computed as of any date up to the moment it was
taken (point in time, see :mod:`xinyong.scoring.features`). It holds no identifier, no name
and no free text: subjects appear only by their internal id, and only the field types that
features read are kept (codes, amounts, counts, dates and repayment grids). It is still
personal data: the directory is created with mode 0700 and its files with 0600, and the
CLI removes it after a batch run unless asked to keep it (docs/scoring.md).

Writing is all or nothing: the snapshot is written into a temporary directory beside the
target and renamed into place only when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.catalog.schemas import FieldType, RecordType
from xinyong.catalog.service import get_catalog
from xinyong.db import as_utc, utcnow
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.records.models import CreditRecord, RecordVersion
from xinyong.records.service import CONTENT_CONTEXT
from xinyong.reports.models import QueryRecord
from xinyong.scoring.errors import InvalidScoringDataError

SNAPSHOT_FORMAT: Final = "xinyong.scoring.snapshot"
SNAPSHOT_VERSION: Final = 1
MANIFEST_FILE: Final = "manifest.json"
SUBJECTS_FILE: Final = "subjects.parquet"
INQUIRIES_FILE: Final = "inquiries.parquet"
REPAIRED_FILE: Final = "repaired.parquet"
VERSIONS_DIR: Final = "versions"

# Products whose served queries count as inquiries (a list check does not).
INQUIRY_PRODUCTS: Final = ("report", "score")

AMOUNT_TYPE: Final = pa.decimal128(20, 2)
UTC_TIMESTAMP: Final = pa.timestamp("us", tz="UTC")

# Field types a snapshot keeps, with their Arrow types. Strings and free text (names, case
# numbers, authorities, descriptions) are left out: features do not read them.
_ARROW_TYPES: Final[Mapping[FieldType, pa.DataType]] = {
    FieldType.ENUM: pa.string(),
    FieldType.INTEGER: pa.int64(),
    FieldType.YEAR: pa.int64(),
    FieldType.AMOUNT: AMOUNT_TYPE,
    FieldType.DATE: pa.date32(),
    FieldType.MONTH: pa.date32(),  # the first day of the month
    FieldType.BOOLEAN: pa.bool_(),
    FieldType.REPAYMENT_GRID: pa.string(),
}

SUBJECTS_SCHEMA: Final = pa.schema([("subject_id", pa.int64()), ("kind", pa.string())])
INQUIRIES_SCHEMA: Final = pa.schema(
    [("subject_id", pa.int64()), ("occurred_at", UTC_TIMESTAMP), ("purpose", pa.string())]
)
REPAIRED_SCHEMA: Final = pa.schema([("record_id", pa.int64()), ("repaired_at", UTC_TIMESTAMP)])
_VERSION_COLUMNS: Final = [
    ("record_id", pa.int64()),
    ("subject_id", pa.int64()),
    ("version", pa.int64()),
    ("operation", pa.string()),
    ("valid_from", pa.date32()),
    ("received_at", UTC_TIMESTAMP),
]
_ITEM_COLUMNS: Final = [("record_id", pa.int64()), ("subject_id", pa.int64())]


def _kept_fields(record_type: RecordType) -> list[tuple[str, pa.DataType]]:
    return [
        (spec.name, _ARROW_TYPES[spec.type])
        for spec in record_type.fields
        if spec.type in _ARROW_TYPES
    ]


def versions_schema(record_type: RecordType) -> pa.Schema:
    """The columns of a record type's version file."""
    return pa.schema(_VERSION_COLUMNS + _kept_fields(record_type))


def items_schema(record_type: RecordType) -> pa.Schema:
    """The columns of a record type's items as of a date (one row per record)."""
    return pa.schema(_ITEM_COLUMNS + _kept_fields(record_type))


def _typed(field_type: FieldType, value: Any) -> Any:
    if value is None:
        return None
    if field_type is FieldType.AMOUNT:
        return Decimal(str(value))
    if field_type is FieldType.DATE:
        return date.fromisoformat(value)
    if field_type is FieldType.MONTH:
        return date.fromisoformat(f"{value}-01")
    if field_type in (FieldType.INTEGER, FieldType.YEAR):
        return int(value)
    return value


def typed_fields(record_type: RecordType, fields: Mapping[str, Any] | None) -> dict[str, Any]:
    """The kept fields of a record's content, converted to their Arrow-ready values."""
    if fields is None:
        return {spec.name: None for spec in record_type.fields if spec.type in _ARROW_TYPES}
    return {
        spec.name: _typed(spec.type, fields.get(spec.name))
        for spec in record_type.fields
        if spec.type in _ARROW_TYPES
    }


@dataclass(frozen=True)
class SnapshotManifest:
    taken_at: datetime
    catalog_version: str
    subjects: int
    inquiries: int
    versions: dict[str, int]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": SNAPSHOT_FORMAT,
                "version": SNAPSHOT_VERSION,
                "taken_at": self.taken_at.isoformat(),
                "catalog_version": self.catalog_version,
                "subjects": self.subjects,
                "inquiries": self.inquiries,
                "versions": self.versions,
            },
            indent=2,
            sort_keys=True,
        )


def read_snapshot_manifest(directory: Path) -> SnapshotManifest:
    """The manifest of a snapshot directory; a clear error when it is not one."""
    path = directory / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidScoringDataError(f"{directory} is not a record snapshot: {exc}") from exc
    if data.get("format") != SNAPSHOT_FORMAT or data.get("version") != SNAPSHOT_VERSION:
        raise InvalidScoringDataError(
            f"{directory} is not a version {SNAPSHOT_VERSION} record snapshot"
        )
    return SnapshotManifest(
        taken_at=datetime.fromisoformat(data["taken_at"]),
        catalog_version=str(data["catalog_version"]),
        subjects=int(data["subjects"]),
        inquiries=int(data["inquiries"]),
        versions={str(k): int(v) for k, v in data["versions"].items()},
    )


class _ParquetSink:
    """Rows written to one Parquet file in record batches of ``chunk`` rows."""

    def __init__(self, path: Path, schema: pa.Schema, chunk: int) -> None:
        self.path = path
        self.schema = schema
        self.chunk = chunk
        self.rows: list[dict[str, Any]] = []
        self.count = 0
        self.writer = pq.ParquetWriter(path, schema)

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.count += len(self.rows)
            self.rows = []

    def close(self) -> int:
        self.flush()
        self.writer.close()
        os.chmod(self.path, 0o600)
        return self.count


def _private_file(path: Path, schema: pa.Schema, chunk: int) -> _ParquetSink:
    return _ParquetSink(path, schema, chunk)


def write_snapshot(
    session: Session,
    keys: KeyRing,
    directory: Path,
    *,
    chunk_rows: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> SnapshotManifest:
    """Write a snapshot of every subject, record version and inquiry to ``directory``.

    ``directory`` must not exist yet. ``progress`` is called with the number of versions
    written since the last call.
    """
    if directory.exists():
        raise InvalidScoringDataError(f"{directory} already exists; choose a new directory")
    catalog = get_catalog()
    taken_at = utcnow()
    directory.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        os.chmod(work, 0o700)
        (work / VERSIONS_DIR).mkdir(mode=0o700)

        subjects = _private_file(work / SUBJECTS_FILE, SUBJECTS_SCHEMA, chunk_rows)
        for subject_id, kind in session.execute(
            select(Subject.id, Subject.kind)
            .where(Subject.created_at <= taken_at)
            .order_by(Subject.id)
        ):
            subjects.add({"subject_id": subject_id, "kind": kind})
        subject_count = subjects.close()

        inquiries = _private_file(work / INQUIRIES_FILE, INQUIRIES_SCHEMA, chunk_rows)
        for subject_id, occurred_at, purpose in session.execute(
            select(QueryRecord.subject_id, QueryRecord.occurred_at, QueryRecord.purpose)
            .where(
                QueryRecord.outcome == "served",
                QueryRecord.product.in_(INQUIRY_PRODUCTS),
                QueryRecord.occurred_at <= taken_at,
            )
            .order_by(QueryRecord.id)
        ):
            inquiries.add(
                {"subject_id": subject_id, "occurred_at": as_utc(occurred_at), "purpose": purpose}
            )
        inquiry_count = inquiries.close()

        # Records a credit repair has repaired stop counting from that moment (RULES.md 12).
        from xinyong.rights.models import RepairCase

        repaired = _private_file(work / REPAIRED_FILE, REPAIRED_SCHEMA, chunk_rows)
        for record_id, repaired_at in session.execute(
            select(RepairCase.record_id, RepairCase.repaired_at)
            .where(
                RepairCase.record_id.is_not(None),
                RepairCase.repaired_at.is_not(None),
                RepairCase.repaired_at <= taken_at,
            )
            .order_by(RepairCase.id)
        ):
            if record_id is not None and repaired_at is not None:
                repaired.add({"record_id": record_id, "repaired_at": as_utc(repaired_at)})
        repaired.close()

        counts: dict[str, int] = {}
        for record_type in catalog.record_types.values():
            counts[record_type.code] = _write_versions(
                session, keys, record_type, work, taken_at, chunk_rows, progress
            )

        manifest = SnapshotManifest(
            taken_at=taken_at,
            catalog_version=catalog.version,
            subjects=subject_count,
            inquiries=inquiry_count,
            versions=counts,
        )
        manifest_path = work / MANIFEST_FILE
        manifest_path.write_text(manifest.to_json(), encoding="utf-8")
        os.chmod(manifest_path, 0o600)
        work.rename(directory)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def _write_versions(
    session: Session,
    keys: KeyRing,
    record_type: RecordType,
    work: Path,
    taken_at: datetime,
    chunk_rows: int,
    progress: Callable[[int], None] | None,
) -> int:
    sink = _private_file(
        work / VERSIONS_DIR / f"{record_type.code}.parquet",
        versions_schema(record_type),
        chunk_rows,
    )
    query = (
        select(
            RecordVersion.record_id,
            CreditRecord.subject_id,
            RecordVersion.version,
            RecordVersion.operation,
            RecordVersion.valid_from,
            RecordVersion.received_at,
            RecordVersion.content_ct,
        )
        .join(CreditRecord, CreditRecord.id == RecordVersion.record_id)
        .where(CreditRecord.record_type == record_type.code, RecordVersion.received_at <= taken_at)
        .order_by(RecordVersion.id)
        .execution_options(yield_per=chunk_rows)
    )
    pending = 0
    for (
        record_id,
        subject_id,
        version,
        operation,
        valid_from,
        received_at,
        content,
    ) in session.execute(query):
        fields = None if content is None else json.loads(keys.decrypt(content, CONTENT_CONTEXT))
        sink.add(
            {
                "record_id": record_id,
                "subject_id": subject_id,
                "version": version,
                "operation": operation,
                "valid_from": valid_from,
                "received_at": as_utc(received_at),
                **typed_fields(record_type, fields),
            }
        )
        pending += 1
        if progress is not None and pending >= chunk_rows:
            progress(pending)
            pending = 0
    if progress is not None and pending:
        progress(pending)
    return sink.close()


def iter_version_files(directory: Path) -> Iterator[tuple[RecordType, Path]]:
    """Each catalog record type with its version file in a snapshot."""
    for record_type in get_catalog().record_types.values():
        yield record_type, directory / VERSIONS_DIR / f"{record_type.code}.parquet"
