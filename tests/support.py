"""Helpers shared by tests: identifiers, valid rows, auth headers."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from itertools import count
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from xinyong.identity.crypto import KeyRing
from xinyong.identity.identifiers import make_resident_id, make_uscc
from xinyong.ingestion.readers import FileFormat, detect_format
from xinyong.ingestion.schemas import BatchResult, RejectionView
from xinyong.ingestion.tasks import ingest_file
from xinyong.institutions.models import Institution

_USCC_SEQ = count(10_000_000)
_PERSON_SEQ = count(1)

# The factory fixtures of tests/conftest.py, typed (import these from here, not from
# conftest: several test folders have a conftest of their own).
MakeInstitution = Callable[..., Institution]
MakeKey = Callable[..., str]


def new_uscc() -> str:
    return make_uscc("9", "1", "110101", f"{next(_USCC_SEQ):08d}")


def new_resident_id() -> str:
    from datetime import date, timedelta

    n = next(_PERSON_SEQ)
    return make_resident_id("110101", date(1970, 1, 1) + timedelta(days=n // 900), n % 900)


def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def account_row(identifier: str, key: str = "ACC-1", **overrides: Any) -> dict[str, Any]:
    """A valid credit_account row for a person."""
    row: dict[str, Any] = {
        "record_type": "credit_account",
        "record_key": key,
        "subject_id_type": "resident_id",
        "subject_identifier": identifier,
        "subject_name": "张三",
        "valid_from": "2026-10-31",
        "account_type": "loan",
        "loan_kind": "consumer",
        "currency": "CNY",
        "credit_limit": "50000.00",
        "balance": "12000.00",
        "overdue_amount": "0.00",
        "open_date": "2024-03-15",
        "guarantee_type": "unsecured",
        "status": "normal",
        "grid_end_month": "2026-10",
        "repayment_grid": "#" * 28 + "N" * 32,
        "info_date": "2026-10-31",
    }
    row.update(overrides)
    return row


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


# --- more rows ----------------------------------------------------------------------------


def resident_id_ending_in_x() -> str:
    """A valid Resident ID whose check character is ``X`` (upper case)."""
    while True:
        candidate = new_resident_id()
        if candidate.endswith("X"):
            return candidate


def tax_grade_row(uscc: str, key: str = "TAX-1", **overrides: Any) -> dict[str, Any]:
    """A valid tax_credit_grade row for an enterprise."""
    row: dict[str, Any] = {
        "record_type": "tax_credit_grade",
        "record_key": key,
        "subject_id_type": "uscc",
        "subject_identifier": uscc,
        "subject_name": "某某有限公司",
        "valid_from": "2026-04-01",
        "tax_year": "2025",
        "grade": "A",
        "score": 95,
        "authority": "国家税务总局北京市税务局",
    }
    row.update(overrides)
    return row


def delete_row(identifier: str, key: str = "ACC-1", **overrides: Any) -> dict[str, Any]:
    """A delete (tombstone) row for a credit_account of a person."""
    row: dict[str, Any] = {
        "record_type": "credit_account",
        "record_key": key,
        "subject_id_type": "resident_id",
        "subject_identifier": identifier,
        "action": "delete",
        "reason": "reported in error",
    }
    row.update(overrides)
    return row


def jsonl_bytes(rows: Iterable[dict[str, Any] | str]) -> bytes:
    """JSON Lines: dicts are dumped, strings are written as raw lines."""
    lines = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def csv_text(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """A CSV document with ``columns`` as header; missing values are empty cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else str(row[c]) for c in columns])
    return buffer.getvalue()


# --- database state -----------------------------------------------------------------------

STATE_TABLES = (
    "subjects",
    "credit_records",
    "record_versions",
    "ingestion_batches",
    "batch_rejections",
    "batch_unchanged_rows",
)


def table_counts(engine: Engine) -> dict[str, int]:
    """Row counts of the tables ingestion writes."""
    with engine.connect() as connection:
        return {
            name: int(connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
            for name in STATE_TABLES
        }


def table_rows(engine: Engine, name: str) -> list[tuple[Any, ...]]:
    """Every row of a table, every column, in id order: for byte-for-byte comparisons."""
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT * FROM {name} ORDER BY id")).all()
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]


def ingest_path(
    factory: sessionmaker[Session],
    keys: KeyRing,
    furnisher_id: int,
    path: Path,
    *,
    key: str | None = None,
    file_format: FileFormat | None = None,
    chunk_rows: int = 2000,
    record_type: str | None = None,
    workers: int = 0,
) -> BatchResult:
    """Run the batch runner on a file as the CLI does (source ``cli``)."""
    fmt = file_format or detect_format(path.name)
    assert fmt is not None
    return ingest_file(
        factory,
        keys,
        furnisher_id=furnisher_id,
        path=path,
        file_format=fmt,
        idempotency_key=key or f"test:{path.name}",
        source="cli",
        filename=path.name,
        default_record_type=record_type,
        chunk_rows=chunk_rows,
        workers=workers,
        worker_min_rows=0,  # small test files exercise the worker path too
    )


def rejection_triples(rejections: Iterable[RejectionView]) -> list[tuple[int, str | None, str]]:
    return [(r.row_number, r.field, r.code) for r in rejections]


# --- the CLI in a subprocess --------------------------------------------------------------


def cli_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a `xinyong` subprocess on ``database_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINYONG_")}
    env.update(
        XINYONG_DATABASE_URL=database_url,
        XINYONG_DATA_DIR=str(data_dir),
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
    )
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "xinyong.cli.main", *args]


def run_cli(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `xinyong ARGS` to completion; with ``check``, fail the test on a non-zero exit."""
    done = subprocess.run(
        cli_command(*args), env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if check:
        assert done.returncode == 0, f"xinyong {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done


def register_cli_furnisher(env: dict[str, str], code: str, *record_types: str) -> None:
    """`xinyong init` then `xinyong institutions create` a furnisher, both as subprocesses."""
    run_cli(env, "init")
    types = [arg for t in record_types for arg in ("--record-type", t)]
    run_cli(
        env,
        "institutions", "create", "--code", code, "--name", f"{code} 机构", "--kind", "bank",
        "--uscc", new_uscc(), *types,
    )  # fmt: skip


def furnisher_state(
    session: Session, keys: KeyRing, furnisher_id: int
) -> dict[tuple[str, str], list[tuple[Any, ...]]]:
    """A furnisher's records and every version, without ids, batches or receipt times.

    Two runs of the same file by two furnishers give equal states.
    """
    from xinyong.records.models import CreditRecord
    from xinyong.records.service import record_history

    state: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for record in session.scalars(
        select(CreditRecord).where(CreditRecord.furnisher_id == furnisher_id)
    ):
        history = record_history(session, keys, record)
        state[(history.record_type, history.record_key)] = [
            (
                history.subject_id,
                v.version,
                v.operation,
                v.content_hash,
                v.batch_row,
                v.valid_from,
                v.valid_to,
                v.reason,
                json.dumps(v.fields, sort_keys=True),
            )
            for v in history.versions
        ]
    return state


def cli_in_process(
    database_url: str, workdir: Path, monkeypatch: Any
) -> Callable[..., tuple[int, str, str]]:
    """Run `xinyong ARGS…` in this process against ``database_url``: (exit code, out, err).

    Clears every ``XINYONG_`` variable, works in ``workdir`` and re-reads the settings on
    each run; ``monkeypatch`` (pytest's) undoes it all after the test.
    """
    from click.testing import CliRunner

    from xinyong.cli import main as cli_main
    from xinyong.config import get_settings

    for name in list(os.environ):
        if name.startswith("XINYONG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("XINYONG_DATA_DIR", str(workdir / "data"))
    monkeypatch.setenv("XINYONG_DATABASE_URL", database_url)
    monkeypatch.setattr(cli_main.console, "width", 200)

    def run(*args: str) -> tuple[int, str, str]:
        get_settings.cache_clear()
        monkeypatch.setattr(sys, "argv", ["xinyong", *args])
        with CliRunner().isolation() as (out, err, _):
            try:
                cli_main.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            return code, out.getvalue().decode(), err.getvalue().decode()

    return run
