"""A batch interrupted anywhere leaves whole chunks only, and a retry finishes it exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from support import (
    MakeInstitution,
    MakeKey,
    account_row,
    auth,
    cli_command,
    cli_env,
    delete_row,
    furnisher_state,
    ingest_path,
    jsonl_bytes,
    new_resident_id,
    register_cli_furnisher,
    rejection_triples,
    run_cli,
    table_counts,
)
from xinyong.identity.crypto import KeyRing
from xinyong.ingestion import tasks
from xinyong.ingestion.models import BatchRejection, BatchUnchangedRow, IngestionBatch
from xinyong.ingestion.readers import FileFormat, iter_rows
from xinyong.ingestion.schemas import BatchResult
from xinyong.ingestion.service import (
    BatchInProgressError,
    IdempotencyConflictError,
    list_accepted,
)
from xinyong.ingestion.service import apply_chunk as real_apply_chunk
from xinyong.ingestion.service import record_chunk as real_record_chunk
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Role
from xinyong.records.models import CreditRecord, RecordVersion

CHUNK = 5
BATCHES = "/v1/ingestion/batches"


class SimulatedCrashError(RuntimeError):
    pass


def mixed_rows() -> list[dict[str, Any] | str]:
    """25 rows over 5 chunks of 5 (and two blank lines): creates, unchanged repeats,
    corrections, a delete, a restore and a second delete across chunks, and rejected rows."""
    people = [new_resident_id() for _ in range(6)]
    rows: list[dict[str, Any] | str] = []
    for i in range(25):
        if i == 8:
            rows.append(account_row(people[0], "K0"))  # unchanged
        elif i == 12:
            rows.append(delete_row(people[2], "K2"))
        elif i == 17:
            rows.append(account_row(people[2], "K2"))  # restore
        elif i == 22:
            rows.append(delete_row(people[2], "K2", reason="closed in error"))
        elif i % 7 == 3:
            rows.append(account_row(people[i % 6], f"K{i}", status="frozen"))  # rejected
        elif i % 5 == 4 and i >= 5:
            # A correction of K{i-5} (a create when that row was not a create).
            rows.append(account_row(people[(i - 5) % 6], f"K{i - 5}", balance=f"{i}.00"))
        else:
            rows.append(account_row(people[i % 6], f"K{i}"))
        if i in (6, 20):
            rows.append("")
    return rows


@pytest.fixture
def batch_file(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(jsonl_bytes(mixed_rows()))
    return path


def chunk_ends(path: Path) -> list[int]:
    """The checkpoint after each chunk, as the runner computes it."""
    numbers = [number for number, _ in iter_rows(path, FileFormat.JSONL)]
    return [
        chunk[-1] + 1 for chunk in (numbers[i : i + CHUNK] for i in range(0, len(numbers), CHUNK))
    ]


def crash_on_call(
    monkeypatch: pytest.MonkeyPatch, crash_at: int, where: str = "apply_chunk"
) -> list[int]:
    """Make chunk ``crash_at`` fail once its rows are written: inside ``apply_chunk`` after
    the inserts, or in ``record_chunk`` when the checkpoint is advanced."""
    calls: list[int] = []

    def apply_then_crash(session: Session, ctx: Any, batch_id: int, rows: Sequence[Any]) -> Any:
        calls.append(len(rows))
        counts = real_apply_chunk(session, ctx, batch_id, rows)
        session.flush()
        if len(calls) == crash_at:
            raise SimulatedCrashError(f"crash in chunk {crash_at}")
        return counts

    def checkpoint_then_crash(batch: IngestionBatch, counts: Any, next_row: int) -> None:
        calls.append(next_row)
        real_record_chunk(batch, counts, next_row)
        if len(calls) == crash_at:
            raise SimulatedCrashError(f"crash at checkpoint {crash_at}")

    if where == "apply_chunk":
        monkeypatch.setattr(tasks, "apply_chunk", apply_then_crash)
    else:
        monkeypatch.setattr(tasks, "record_chunk", checkpoint_then_crash)
    return calls


def batch_of(session: Session, furnisher_id: int) -> IngestionBatch:
    return session.scalars(
        select(IngestionBatch).where(IngestionBatch.furnisher_id == furnisher_id)
    ).one()


def assert_only_rows_before(session: Session, batch: IngestionBatch) -> None:
    """Everything the batch wrote comes from rows before its checkpoint, and the counters
    agree with what is in the tables."""
    versions = session.scalars(
        select(RecordVersion).where(RecordVersion.batch_id == batch.id)
    ).all()
    rejected_rows = set(
        session.scalars(
            select(BatchRejection.row_number).where(BatchRejection.batch_id == batch.id)
        )
    )
    unchanged_rows = session.scalars(
        select(BatchUnchangedRow.row_number).where(BatchUnchangedRow.batch_id == batch.id)
    ).all()
    assert all(v.batch_row < batch.next_row for v in versions)
    assert all(row < batch.next_row for row in rejected_rows | set(unchanged_rows))
    operations = [v.operation for v in versions]
    assert batch.rows_created == operations.count("create")
    assert batch.rows_corrected == operations.count("correct") + operations.count("restore")
    assert batch.rows_deleted == operations.count("delete")
    assert batch.rows_unchanged == len(unchanged_rows)
    assert batch.rows_rejected == len(rejected_rows)
    # No row was applied twice.
    assert len({v.batch_row for v in versions}) == len(versions)


def clean_run(
    factory: sessionmaker[Session], keys: KeyRing, make_institution: MakeInstitution, path: Path
) -> tuple[Institution, Any]:
    clean = make_institution("bank-clean", record_types=["credit_account"])
    return clean, ingest_path(factory, keys, clean.id, path, chunk_rows=CHUNK)


def assert_same_as_clean(
    session: Session, keys: KeyRing, crashed: IngestionBatch, clean: IngestionBatch
) -> None:
    assert furnisher_state(session, keys, crashed.furnisher_id) == furnisher_state(
        session, keys, clean.furnisher_id
    )
    for name in (
        "rows_created",
        "rows_corrected",
        "rows_deleted",
        "rows_unchanged",
        "rows_rejected",
    ):
        assert getattr(crashed, name) == getattr(clean, name), name
    assert (crashed.status, crashed.next_row) == (clean.status, clean.next_row)
    accepted = [(a.row_number, a.outcome, a.version) for a in list_accepted(session, crashed.id)]
    assert accepted == [
        (a.row_number, a.outcome, a.version) for a in list_accepted(session, clean.id)
    ]


@pytest.mark.parametrize(
    ("where", "workers"),
    [("apply_chunk", 0), ("record_chunk", 0), ("apply_chunk", 1)],
    ids=["in-apply", "at-checkpoint", "in-apply-with-a-worker"],
)
def test_crash_in_the_third_chunk_keeps_two_and_the_retry_resumes(
    where: str,
    workers: int,
    monkeypatch: pytest.MonkeyPatch,
    batch_file: Path,
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_institution: MakeInstitution,
) -> None:
    bank = make_institution("bank-a", record_types=["credit_account"])
    ends = chunk_ends(batch_file)
    assert len(ends) == 5

    calls = crash_on_call(monkeypatch, crash_at=3, where=where)
    with pytest.raises(SimulatedCrashError):
        ingest_path(
            factory, keys, bank.id, batch_file, key="mixed", chunk_rows=CHUNK, workers=workers
        )
    assert len(calls) == 3

    with factory() as session:
        batch = batch_of(session, bank.id)
        assert batch.status == "processing"
        assert batch.next_row == ends[1]
        assert batch.completed_at is None
        assert_only_rows_before(session, batch)
        # Exactly the first two chunks: every row before the checkpoint was accounted for.
        accepted = {a.row_number for a in list_accepted(session, batch.id, limit=1000)}
        rejected = set(
            session.scalars(
                select(BatchRejection.row_number).where(BatchRejection.batch_id == batch.id)
            )
        )
        expected_rows = {n for n, _ in iter_rows(batch_file, FileFormat.JSONL) if n < ends[1]}
        assert accepted | rejected == expected_rows
        assert not accepted & rejected

    monkeypatch.undo()
    resumed = ingest_path(
        factory, keys, bank.id, batch_file, key="mixed", chunk_rows=CHUNK, workers=workers
    )
    assert resumed.status == "completed"
    assert resumed.replayed is False

    clean, clean_result = clean_run(factory, keys, make_institution, batch_file)
    assert resumed.rows == clean_result.rows
    with factory() as session:
        outcomes = {a.outcome for a in list_accepted(session, clean_result.id)}
    assert outcomes == {"create", "unchanged", "correct", "delete", "restore"}
    assert clean_result.rows.rejected == 3
    assert rejection_triples(resumed.rejections) == rejection_triples(clean_result.rejections)
    with factory() as session:
        crashed_batch = batch_of(session, bank.id)
        assert_only_rows_before(session, crashed_batch)
        assert_same_as_clean(session, keys, crashed_batch, batch_of(session, clean.id))


@pytest.mark.parametrize("crash_at", [1, 5])
def test_crash_in_the_first_or_last_chunk(
    crash_at: int,
    monkeypatch: pytest.MonkeyPatch,
    batch_file: Path,
    db: Engine,
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_institution: MakeInstitution,
) -> None:
    bank = make_institution("bank-a", record_types=["credit_account"])
    ends = chunk_ends(batch_file)
    crash_on_call(monkeypatch, crash_at=crash_at)
    with pytest.raises(SimulatedCrashError):
        ingest_path(factory, keys, bank.id, batch_file, key="mixed", chunk_rows=CHUNK)
    with factory() as session:
        batch = batch_of(session, bank.id)
        assert batch.status == "processing"
        assert batch.next_row == ([1, *ends])[crash_at - 1]
        assert_only_rows_before(session, batch)
    if crash_at == 1:
        counts = table_counts(db)
        assert counts["ingestion_batches"] == 1
        assert counts["credit_records"] == counts["record_versions"] == 0
        assert counts["batch_rejections"] == counts["batch_unchanged_rows"] == 0

    monkeypatch.undo()
    resumed = ingest_path(factory, keys, bank.id, batch_file, key="mixed", chunk_rows=CHUNK)
    clean, _ = clean_run(factory, keys, make_institution, batch_file)
    assert resumed.status == "completed"
    with factory() as session:
        assert_same_as_clean(session, keys, batch_of(session, bank.id), batch_of(session, clean.id))


def test_crash_after_the_last_chunk_before_completion(
    monkeypatch: pytest.MonkeyPatch,
    batch_file: Path,
    db: Engine,
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_institution: MakeInstitution,
) -> None:
    bank = make_institution("bank-a", record_types=["credit_account"])

    def no_clock() -> Any:
        raise SimulatedCrashError("crash while completing")

    monkeypatch.setattr(tasks, "utcnow", no_clock)
    with pytest.raises(SimulatedCrashError):
        ingest_path(factory, keys, bank.id, batch_file, key="mixed", chunk_rows=CHUNK)
    with factory() as session:
        batch = batch_of(session, bank.id)
        assert batch.status == "processing"
        assert batch.next_row == chunk_ends(batch_file)[-1]
    before = table_counts(db)

    monkeypatch.undo()
    resumed = ingest_path(factory, keys, bank.id, batch_file, key="mixed", chunk_rows=CHUNK)
    assert resumed.status == "completed"
    assert resumed.completed_at is not None
    assert table_counts(db) == before  # nothing was left to apply

    again = ingest_path(factory, keys, bank.id, batch_file, key="mixed", chunk_rows=CHUNK)
    assert again.replayed is True
    assert table_counts(db) == before


def test_retry_with_other_bytes_is_refused_while_processing(
    monkeypatch: pytest.MonkeyPatch,
    batch_file: Path,
    db: Engine,
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_institution: MakeInstitution,
) -> None:
    bank = make_institution("bank-a", record_types=["credit_account"])
    crash_on_call(monkeypatch, crash_at=2)
    with pytest.raises(SimulatedCrashError):
        ingest_path(factory, keys, bank.id, batch_file, key="mixed", chunk_rows=CHUNK)
    monkeypatch.undo()
    before = table_counts(db)
    batch_file.write_bytes(batch_file.read_bytes() + jsonl_bytes([account_row(new_resident_id())]))
    with pytest.raises(IdempotencyConflictError):
        ingest_path(factory, keys, bank.id, batch_file, key="mixed", chunk_rows=CHUNK)
    assert table_counts(db) == before


def test_a_second_run_of_the_same_batch_stops_instead_of_applying_twice(
    monkeypatch: pytest.MonkeyPatch,
    batch_file: Path,
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_institution: MakeInstitution,
) -> None:
    """Run B prepares a chunk while run C finishes the batch: B must not apply it again."""
    bank = make_institution("bank-a", record_types=["credit_account"])
    crash_on_call(monkeypatch, crash_at=2)
    with pytest.raises(SimulatedCrashError):
        ingest_path(factory, keys, bank.id, batch_file, key="mixed", chunk_rows=CHUNK)
    monkeypatch.undo()

    real_prepare: Callable[..., Any] = tasks.prepare_row
    nested: list[Any] = []

    def prepare_while_another_run_finishes(ctx: Any, number: int, raw: Any) -> Any:
        if not nested:
            nested.append(None)
            nested[0] = ingest_path(
                factory, keys, bank.id, batch_file, key="mixed", chunk_rows=CHUNK
            )
        return real_prepare(ctx, number, raw)

    monkeypatch.setattr(tasks, "prepare_row", prepare_while_another_run_finishes)
    with pytest.raises(BatchInProgressError):
        ingest_path(factory, keys, bank.id, batch_file, key="mixed", chunk_rows=CHUNK)
    assert nested[0].status == "completed"
    monkeypatch.undo()

    clean, _ = clean_run(factory, keys, make_institution, batch_file)
    with factory() as session:
        batch = batch_of(session, bank.id)
        assert_only_rows_before(session, batch)
        assert_same_as_clean(session, keys, batch, batch_of(session, clean.id))


# --- a real crash: SIGKILL of the CLI -----------------------------------------------------

KILL_ROWS = 20_000
KILL_CHUNK = 200


def _poll(engine: Engine) -> tuple[int, str] | None:
    with engine.connect() as connection:
        row = connection.execute(select(IngestionBatch.next_row, IngestionBatch.status)).first()
    return None if row is None else (row[0], row[1])


@pytest.mark.slow
def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            children.add(int(stat.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("workers", [0, 1], ids=["one-process", "with-a-worker"])
def test_sigkilled_cli_ingest_resumes_to_the_clean_result(
    fresh_db_url: str, tmp_path: Path, workers: int
) -> None:
    env = cli_env(
        fresh_db_url,
        tmp_path / "data",
        XINYONG_INGEST_CHUNK_ROWS=str(KILL_CHUNK),
        XINYONG_INGEST_WORKERS=str(workers),
        XINYONG_INGEST_WORKER_MIN_ROWS="0",
    )
    register_cli_furnisher(env, "bank-kill", "credit_account")
    people = [new_resident_id() for _ in range(1_000)]
    rejected_rows = set(range(777, KILL_ROWS + 1, 1_000))
    path = tmp_path / "big.jsonl"
    path.write_bytes(
        jsonl_bytes(
            account_row(
                people[n % len(people)],
                f"ACC-{n}",
                status="frozen" if n in rejected_rows else "normal",
            )
            for n in range(1, KILL_ROWS + 1)
        )
    )
    command = cli_command("ingest", str(path), "--furnisher", "bank-kill")

    # Polling must not take SQLite's write lock (the platform's engines BEGIN IMMEDIATE).
    engine = create_engine(fresh_db_url)
    try:
        child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        killed_at: tuple[int, str] | None = None
        worker_pids: set[int] = set()
        try:
            while child.poll() is None:
                state = _poll(engine)
                if state is not None and state[0] > 3 * KILL_CHUNK:
                    worker_pids = _children(child.pid)
                    os.kill(child.pid, signal.SIGKILL)
                    killed_at = state
                    break
                time.sleep(0.005)
            child.wait(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert killed_at is not None, f"the ingest ended before it could be killed: {child.stderr}"
        assert child.returncode == -signal.SIGKILL
        # The workers (and multiprocessing's helper) notice and exit: no orphans left.
        assert len(worker_pids) >= workers
        for _ in range(600):
            if not any(_alive(pid) for pid in worker_pids):
                break
            time.sleep(0.05)
        assert not [pid for pid in worker_pids if _alive(pid)]

        with Session(engine) as session:
            batch = session.scalars(select(IngestionBatch)).one()
            assert batch.status == "processing"
            assert batch.next_row >= killed_at[0]
            assert batch.next_row < KILL_ROWS + 1
            # Whole chunks only: the checkpoint sits on a chunk boundary.
            assert (batch.next_row - 1) % KILL_CHUNK == 0
            assert_only_rows_before(session, batch)
            done = batch.next_row - 1
            expected_rejected = {n for n in rejected_rows if n <= done}
            assert session.scalar(select(func.count()).select_from(CreditRecord)) == done - len(
                expected_rejected
            )
            assert session.scalar(select(func.count()).select_from(RecordVersion)) == done - len(
                expected_rejected
            )
            assert set(session.scalars(select(BatchRejection.row_number))) == expected_rejected

        finished = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert finished.returncode == 3, finished.stderr  # 3: some rows were rejected
        assert f"{KILL_ROWS} rows, {KILL_ROWS - len(rejected_rows)} created" in finished.stdout

        with Session(engine) as session:
            batch = session.scalars(select(IngestionBatch)).one()
            assert (batch.status, batch.next_row) == ("completed", KILL_ROWS + 1)
            assert_only_rows_before(session, batch)
            assert batch.rows_created == KILL_ROWS - len(rejected_rows)
            assert batch.rows_rejected == len(rejected_rows)
            assert batch.rows_corrected == batch.rows_deleted == batch.rows_unchanged == 0
            per_record = session.execute(
                select(RecordVersion.record_id, func.count()).group_by(RecordVersion.record_id)
            ).all()
            assert len(per_record) == KILL_ROWS - len(rejected_rows)
            assert {count for _, count in per_record} == {1}  # each record exactly one version
            assert set(session.scalars(select(RecordVersion.batch_row))) == (
                set(range(1, KILL_ROWS + 1)) - rejected_rows
            )
            assert set(session.scalars(select(BatchRejection.row_number))) == rejected_rows
            assert session.scalar(select(func.count()).select_from(CreditRecord)) == len(per_record)

        replay = run_cli(env, "ingest", str(path), "--furnisher", "bank-kill", check=False)
        assert replay.returncode == 3
        assert "replayed" in replay.stdout
    finally:
        engine.dispose()


def test_retry_must_repeat_the_format_and_record_type(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    db: Engine,
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_institution: MakeInstitution,
) -> None:
    """The same bytes read with another record type are another submission: resuming (or
    replaying) them under the first one's key would mix two readings in one batch."""
    bank = make_institution("bank-a", record_types=["credit_account", "tax_credit_grade"])
    person = new_resident_id()
    rows = [
        {k: v for k, v in account_row(person, f"K{n}").items() if k != "record_type"}
        for n in range(12)
    ]
    path = tmp_path / "untyped.jsonl"
    path.write_bytes(jsonl_bytes(rows))

    crash_on_call(monkeypatch, crash_at=2)
    with pytest.raises(SimulatedCrashError):
        ingest_path(factory, keys, bank.id, path, key="k", chunk_rows=CHUNK)
    monkeypatch.undo()
    before = table_counts(db)
    with pytest.raises(IdempotencyConflictError):
        ingest_path(
            factory, keys, bank.id, path, key="k", chunk_rows=CHUNK, record_type="credit_account"
        )
    assert table_counts(db) == before

    finished = ingest_path(factory, keys, bank.id, path, key="k", chunk_rows=CHUNK)
    assert finished.status == "completed"
    assert finished.rows.rejected == 12  # every row lacks its record type, consistently
    with pytest.raises(IdempotencyConflictError):
        ingest_path(factory, keys, bank.id, path, key="k", record_type="credit_account")
    typed = ingest_path(factory, keys, bank.id, path, key="k2", record_type="credit_account")
    assert (typed.rows.created, typed.rows.rejected) == (12, 0)


def test_an_upload_that_failed_midway_is_resumed_by_its_retry(
    monkeypatch: pytest.MonkeyPatch,
    client: TestClient,
    make_institution: MakeInstitution,
    make_key: MakeKey,
) -> None:
    """Over HTTP (50-row chunks): the failed request keeps two chunks, the retry adds the rest."""
    bank = make_institution("bank-a", record_types=["credit_account"])
    clean = make_institution("bank-clean", record_types=["credit_account"])
    people = [new_resident_id() for _ in range(40)]
    # Rows 131-180 correct K1-K50; every 37th row is rejected.
    rows = [
        account_row(
            people[(n % 130) % 40],
            f"K{n % 130}",
            balance=f"{n}.00",
            status="x" if n % 37 == 0 else "normal",
        )
        for n in range(1, 181)
    ]
    body = jsonl_bytes(rows)
    headers = auth(make_key(Role.FURNISHER, bank)) | {"Idempotency-Key": "upload-1"}

    crash_on_call(monkeypatch, crash_at=3)
    failed = client.post(BATCHES, params={"format": "jsonl"}, content=body, headers=headers)
    assert failed.status_code == 500
    monkeypatch.undo()
    (batch,) = client.get(BATCHES, headers=headers).json()
    assert batch["status"] == "processing"
    assert batch["rows"]["processed"] == 100

    retried = client.post(BATCHES, params={"format": "jsonl"}, content=body, headers=headers)
    assert retried.status_code == 201, retried.text
    assert retried.json()["id"] == batch["id"]
    assert retried.json()["replayed"] is False
    assert retried.json()["status"] == "completed"
    replayed = client.post(BATCHES, params={"format": "jsonl"}, content=body, headers=headers)
    assert replayed.status_code == 200
    assert replayed.json()["replayed"] is True

    clean_headers = auth(make_key(Role.FURNISHER, clean)) | {"Idempotency-Key": "upload-1"}
    reference = client.post(
        BATCHES, params={"format": "jsonl"}, content=body, headers=clean_headers
    )
    assert reference.status_code == 201
    assert retried.json()["rows"] == reference.json()["rows"]
    counts = retried.json()["rows"]
    assert (counts["created"], counts["corrected"], counts["rejected"]) == (128, 48, 4)
    assert retried.json()["rejections"] == reference.json()["rejections"]
    for name in ("accepted", "rejections"):
        mine = client.get(f"{BATCHES}/{batch['id']}/{name}", headers=headers).json()
        theirs = client.get(
            f"{BATCHES}/{reference.json()['id']}/{name}", headers=clean_headers
        ).json()
        if name == "accepted":
            mine = [{k: v for k, v in a.items() if k != "record_id"} for a in mine]
            theirs = [{k: v for k, v in a.items() if k != "record_id"} for a in theirs]
        assert mine == theirs


def test_two_runs_opening_the_same_batch_at_once(
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
    batch_file: Path,
    db: Engine,
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_institution: MakeInstitution,
) -> None:
    """A retry that races the first run (both create the batch) is refused cleanly or joins
    it: never an unexpected error, never a row applied twice.

    On PostgreSQL the first run holds its new batch uncommitted until the second blocks on
    it; SQLite's BEGIN IMMEDIATE makes the second wait for the first's write lock."""
    bank = make_institution("bank-a", record_types=["credit_account"])
    first_opened = threading.Event()
    real_open_batch = tasks.open_batch

    def open_batch(session: Session, **kwargs: Any) -> Any:
        opened = real_open_batch(session, **kwargs)
        if threading.current_thread().name == "first":
            first_opened.set()
            if backend == "sqlite":
                return opened
            # Hold the new batch uncommitted until the second run waits on it.
            with db.connect() as connection:
                for _ in range(1000):
                    waiting = connection.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                        )
                    ).scalar_one()
                    if waiting:
                        break
                    time.sleep(0.01)
        return opened

    monkeypatch.setattr(tasks, "open_batch", open_batch)
    outcomes: dict[str, object] = {}

    def run(name: str) -> None:
        if name == "second":
            first_opened.wait(timeout=30)
        try:
            outcomes[name] = ingest_path(
                factory, keys, bank.id, batch_file, key="same", chunk_rows=CHUNK
            )
        except Exception as exc:
            outcomes[name] = exc

    threads = [
        threading.Thread(target=run, args=(name,), name=name) for name in ("first", "second")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    monkeypatch.undo()

    for name, outcome in outcomes.items():
        assert isinstance(outcome, BatchResult | BatchInProgressError), (name, repr(outcome))
    assert any(isinstance(outcome, BatchResult) for outcome in outcomes.values())
    finished = ingest_path(factory, keys, bank.id, batch_file, key="same", chunk_rows=CHUNK)
    assert finished.status == "completed"
    clean, _ = clean_run(factory, keys, make_institution, batch_file)
    with factory() as session:
        batch = batch_of(session, bank.id)
        assert_only_rows_before(session, batch)
        assert_same_as_clean(session, keys, batch, batch_of(session, clean.id))
