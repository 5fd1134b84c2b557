"""`xinyong ingest`: submit a batch file as a furnisher."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from xinyong.cli.context import Platform, platform
from xinyong.db import transaction
from xinyong.ingestion.readers import FileFormat, detect_format
from xinyong.ingestion.schemas import BatchResult
from xinyong.ingestion.service import MAX_IDEMPOTENCY_KEY
from xinyong.ingestion.tasks import ingest_file
from xinyong.institutions.service import get_institution_by_code


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=False,
    )


def run_ingest(
    p: Platform,
    path: Path,
    furnisher_code: str,
    *,
    file_format: FileFormat,
    record_type: str | None,
    idempotency_key: str | None,
    source: str,
    progress: Progress | None = None,
    label: str | None = None,
) -> BatchResult:
    """Ingest one file for a furnisher, optionally advancing a progress bar."""
    with transaction(p.factory) as session:
        furnisher_id = get_institution_by_code(session, furnisher_code).id
    task = progress.add_task(label or path.name, total=None) if progress else None

    def advance(rows: int) -> None:
        if progress is not None and task is not None:
            progress.advance(task, rows)

    def total(rows: int) -> None:
        if progress is not None and task is not None:
            progress.update(task, total=rows)

    return ingest_file(
        p.factory,
        p.keys,
        furnisher_id=furnisher_id,
        path=path,
        file_format=file_format,
        idempotency_key=idempotency_key,
        source=source,
        filename=path.name,
        default_record_type=record_type,
        chunk_rows=p.settings.ingest_chunk_rows,
        workers=p.settings.ingest_workers,
        worker_min_rows=p.settings.ingest_worker_min_rows,
        progress=advance,
        total_rows=total,
    )


def print_result(result: BatchResult, limit: int = 20) -> None:
    from xinyong.cli.main import console

    rows = result.rows
    state = "replayed (already applied; nothing changed)" if result.replayed else result.status
    console.print(
        f"batch {result.id} {state}: {rows.processed} rows, {rows.created} created, "
        f"{rows.corrected} corrected, {rows.deleted} deleted, {rows.unchanged} unchanged, "
        f"[{'red' if rows.rejected else 'green'}]{rows.rejected} rejected[/]"
    )
    for rejection in result.rejections[:limit]:
        console.print(
            escape(
                f"  row {rejection.row_number} {rejection.field or '-'} [{rejection.code}] "
                f"{rejection.message}"
            ),
            highlight=False,
        )
    if rows.rejected and (result.rejections_truncated or len(result.rejections) > limit):
        console.print(f"  … all rejections: GET /v1/ingestion/batches/{result.id}/rejections")


def ingest(
    file: Annotated[Path, typer.Argument(help="A JSON Lines (.jsonl) or CSV (.csv) file.")],
    furnisher: Annotated[str, typer.Option("--furnisher", help="The furnisher's code.")],
    file_format: Annotated[
        FileFormat | None, typer.Option("--format", help="jsonl or csv (default: from the name).")
    ] = None,
    record_type: Annotated[
        str | None,
        typer.Option(
            help="The record type of every row (needed for CSV without a record_type column)."
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            help="Retry key; by default the file's SHA-256 with its format and record type, "
            "so re-running a command is a no-op."
        ),
    ] = None,
) -> None:
    """Ingest a batch file as FURNISHER: validate every row, report rejected rows."""
    from xinyong.cli.main import fail

    if not file.is_file():
        raise fail(f"{file} is not a readable file", 2)
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise fail(f"--idempotency-key must be 1 to {MAX_IDEMPOTENCY_KEY} characters", 2)
    fmt = file_format or detect_format(file.name)
    if fmt is None or fmt is FileFormat.JSON:
        raise fail("cannot tell the format from the name: pass --format jsonl or --format csv", 2)
    p = platform()
    with progress_bar() as bar:
        result = run_ingest(
            p,
            file,
            furnisher,
            file_format=fmt,
            record_type=record_type,
            idempotency_key=idempotency_key,
            source="cli",
            progress=bar,
        )
    print_result(result)
    if result.rows.rejected:
        raise typer.Exit(3)
