"""Streaming readers for batch files: JSON Lines and CSV.

Files are read one row at a time so a batch of millions of rows keeps memory flat. Each
row comes with its 1-based row number: the line number for JSON Lines, the data row after
the header for CSV.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from xinyong.catalog.service import get_catalog
from xinyong.errors import XinyongError

_BLOCK = 1 << 20


class FileFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    JSON = "json"  # one record, submitted through the single-record API


class InvalidBatchFileError(XinyongError):
    code = "invalid_batch_file"
    title = "The batch file cannot be read"


@dataclass(frozen=True, slots=True)
class FileCheck:
    """What a first pass over the file found: its digest and row count."""

    sha256: str
    rows: int


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row that could not even be parsed into a mapping."""

    code: str
    message: str


def detect_format(filename: str | None, content_type: str | None = None) -> FileFormat | None:
    lowered = (filename or "").lower()
    if lowered.endswith((".jsonl", ".ndjson")):
        return FileFormat.JSONL
    if lowered.endswith(".csv"):
        return FileFormat.CSV
    media = (content_type or "").split(";")[0].strip().lower()
    if media in ("application/x-ndjson", "application/jsonl", "application/x-jsonlines"):
        return FileFormat.JSONL
    if media == "text/csv":
        return FileFormat.CSV
    return None


def check_file(path: Path, file_format: FileFormat) -> FileCheck:
    """Hash the file, check it is UTF-8 and, for CSV, that the header is usable.

    Done before a batch is created, so a file that cannot be read changes nothing.
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = 0
    offset = 0
    last = b""
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise InvalidBatchFileError(
                    f"the file is not valid UTF-8 (byte {offset + exc.start})"
                ) from exc
            newlines += block.count(b"\n")
            offset += len(block)
            last = block[-1:]
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise InvalidBatchFileError("the file ends inside a UTF-8 character") from exc
    lines = newlines + (1 if last not in (b"", b"\n") else 0)
    if file_format is FileFormat.CSV:
        read_csv_header(path)
        return FileCheck(digest.hexdigest(), max(lines - 1, 0))
    return FileCheck(digest.hexdigest(), lines)


def read_csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        try:
            header = next(csv.reader(handle))
        except StopIteration:
            raise InvalidBatchFileError("the CSV file is empty: a header row is required") from None
        except csv.Error as exc:
            raise InvalidBatchFileError(f"the CSV header cannot be parsed: {exc}") from exc
    columns = [column.strip() for column in header]
    if not any(columns):
        raise InvalidBatchFileError("the CSV header row is empty")
    seen: set[str] = set()
    for column in columns:
        if not column:
            raise InvalidBatchFileError("the CSV header has an empty column name")
        if column in seen:
            raise InvalidBatchFileError(f"the CSV header repeats the column {column!r}")
        seen.add(column)
    catalog = get_catalog()
    forbidden = [column for column in columns if catalog.forbidden_field_for(column)]
    if forbidden:
        raise InvalidBatchFileError(
            f"the CSV header has forbidden columns ({', '.join(forbidden)}): this information "
            "must never be collected (征信业管理条例 Art. 14)",
            code_detail="forbidden_field",
            columns=forbidden,
        )
    return columns


RawRow = dict[str, object] | RowProblem | bytes


def iter_rows(
    path: Path, file_format: FileFormat, start_row: int = 1, *, parse: bool = True
) -> Iterator[tuple[int, RawRow]]:
    """Yield (row number, row) from ``start_row`` on; unparsable rows as RowProblem.

    With ``parse=False`` JSON Lines rows come as the line's bytes, for :func:`parse_row`
    to decode elsewhere (in a worker process).
    """
    if file_format is FileFormat.CSV:
        yield from _iter_csv(path, start_row)
    else:
        yield from _iter_jsonl(path, start_row, parse)


def parse_row(raw: RawRow) -> dict[str, object] | RowProblem:
    """Decode a JSON Lines row given as bytes; parsed rows pass through."""
    if not isinstance(raw, bytes):
        return raw
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return RowProblem("invalid_json", f"the line is not valid JSON: {exc}")
    if not isinstance(value, dict):
        return RowProblem("not_an_object", "each line must be one JSON object")
    return value


def _iter_jsonl(path: Path, start_row: int, parse: bool) -> Iterator[tuple[int, RawRow]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if number < start_row:
                continue
            text = line.strip()
            if text:
                yield number, parse_row(text) if parse else text


def _iter_csv(path: Path, start_row: int) -> Iterator[tuple[int, RawRow]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = [column.strip() for column in next(reader)]
        width = len(header)
        number = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                number += 1
                if number >= start_row:
                    yield number, RowProblem("invalid_csv", f"the row cannot be parsed: {exc}")
                continue
            number += 1
            if number < start_row or not cells:
                continue
            if len(cells) != width:
                yield (
                    number,
                    RowProblem(
                        "column_count",
                        f"the row has {len(cells)} cells; the header has {width} columns",
                    ),
                )
                continue
            yield (
                number,
                {column: cell for column, cell in zip(header, cells, strict=True) if cell != ""},
            )
