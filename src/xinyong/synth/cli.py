"""`xinyong synth`: write a synthetic population's batch files, labels and manifest."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from xinyong.synth.service import (
    DEFAULT_AS_OF,
    FILE_FORMATS,
    LABELS_FILE,
    MANIFEST_FILE,
    FileFormat,
    SynthError,
    generate_population,
    read_manifest,
)


def _bad_input(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _remove_previous(out: Path) -> None:
    """Delete the files a previous run listed in its manifest, and nothing else.

    Only listed files go, so that a wrong ``--out`` cannot wipe unrelated data, while a
    run in another format leaves no stale batch behind to be ingested by mistake.
    """
    previous = read_manifest(out)
    for spec in previous.files:
        path = out / spec.path
        path.unlink(missing_ok=True)
        if path.parent != out and not any(path.parent.iterdir()):
            path.parent.rmdir()
    (out / previous.labels_path).unlink(missing_ok=True)
    (out / MANIFEST_FILE).unlink(missing_ok=True)


def synth(
    out: Annotated[Path, typer.Option("--out", help="Output directory.", file_okay=False)],
    persons: Annotated[int, typer.Option("--persons", help="Synthetic persons.")] = 1000,
    enterprises: Annotated[
        int, typer.Option("--enterprises", help="Synthetic enterprises and other organisations.")
    ] = 100,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    file_format: Annotated[
        str, typer.Option("--format", help=f"Batch file format: {' or '.join(FILE_FORMATS)}.")
    ] = "jsonl",
    as_of: Annotated[
        str,
        typer.Option(
            "--as-of",
            metavar="YYYY-MM-DD",
            help="Observation date: records end here, labels cover the 12 months after.",
        ),
    ] = DEFAULT_AS_OF.isoformat(),
    no_corrections: Annotated[
        bool, typer.Option("--no-corrections", help="Skip the banks' corrections files.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the output of a previous run in --out.")
    ] = False,
) -> None:
    """Generate a synthetic population: furnisher batch files, labels.csv and manifest.json."""
    if persons < 0 or enterprises < 0:
        raise _bad_input("--persons and --enterprises must not be negative")
    if file_format not in FILE_FORMATS:
        raise _bad_input(f"--format must be one of {', '.join(FILE_FORMATS)}")
    try:
        observation = date.fromisoformat(as_of)
    except ValueError:
        raise _bad_input("--as-of must be a date YYYY-MM-DD") from None
    if out.exists() and not out.is_dir():
        raise _bad_input(f"{out} exists and is not a directory")
    if (out / MANIFEST_FILE).exists():
        if not force:
            raise _bad_input(
                f"{out} already holds a synthetic population; use --force to replace it"
            )
        try:
            _remove_previous(out)
        except SynthError as exc:
            raise _bad_input(exc.detail) from None

    started = time.perf_counter()
    fmt: FileFormat = "csv" if file_format == "csv" else "jsonl"
    try:
        manifest = generate_population(
            persons,
            enterprises,
            seed,
            out,
            file_format=fmt,
            as_of=observation,
            corrections=not no_corrections,
        )
    except SynthError as exc:
        raise _bad_input(exc.detail) from None
    elapsed = time.perf_counter() - started

    console = Console()
    table = Table("record type", "files", "rows", "correction rows", title=f"Written to {out}")
    initial = manifest.rows_by_record_type("initial")
    corrections = manifest.rows_by_record_type("corrections")
    for record_type, rows in initial.items():
        files = sum(1 for f in manifest.files if f.record_type == record_type)
        extra = corrections.get(record_type)
        table.add_row(record_type, str(files), f"{rows:,}", "" if extra is None else f"{extra:,}")
    console.print(table)
    total = sum(f.rows for f in manifest.files)
    console.print(
        f"{manifest.persons:,} persons, {manifest.enterprises:,} organisations, "
        f"{len(manifest.furnishers)} furnishers, {len(manifest.files)} files, {total:,} rows; "
        f"labels in {LABELS_FILE}; as of {manifest.as_of.isoformat()}, seed {manifest.seed}, "
        f"{elapsed:.1f} s",
        highlight=False,
    )
