"""Tests of the `xinyong` command line, run the way a user runs it.

Commands go through :func:`xinyong.cli.main.main`, the console-script entry point, so domain
errors are reported exactly as a user sees them: one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import csv
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url

from support import account_row, new_resident_id, new_uscc, write_jsonl
from xinyong.config import Settings, get_settings
from xinyong.db import make_engine, make_session_factory
from xinyong.identity.crypto import load_keyring
from xinyong.ingestion.models import IngestionBatch
from xinyong.institutions import service as institutions_service
from xinyong.institutions.models import ApiKey, Institution
from xinyong.institutions.schemas import Principal, Role

API_KEY = re.compile(r"xy_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
INVALID_USCC = "91110000600037341N"


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def keys(self) -> list[str]:
        """The distinct API keys printed, in order."""
        return list(dict.fromkeys(API_KEY.findall(self.stdout)))


Xinyong = Callable[..., CliResult]


def _clean_environment(monkeypatch: pytest.MonkeyPatch, cwd: Path) -> None:
    for name in list(os.environ):
        if name.startswith("XINYONG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(cwd)


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[Xinyong]:
    """Run `xinyong ARGS…` in this process through the real entry point."""
    from xinyong.cli import main as cli_main

    # Not a terminal, so rich would lay tables out in 80 columns; users get their own width.
    monkeypatch.setattr(cli_main.console, "width", 200)

    def run(*args: str, input: str | None = None) -> CliResult:
        get_settings.cache_clear()
        monkeypatch.setattr(sys, "argv", ["xinyong", *args])
        with CliRunner().isolation(input=input) as (out, err, _):
            try:
                cli_main.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            return CliResult(code, out.getvalue().decode(), err.getvalue().decode())

    yield run
    get_settings.cache_clear()


@dataclass
class Env:
    data_dir: Path
    database_url: str

    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, database_url=self.database_url)

    def count(self, model: Any) -> int:
        """Rows of ``model``'s table; 0 when the command did not even create the schema."""
        engine = make_engine(self.database_url)
        try:
            if not inspect(engine).has_table(model.__tablename__):
                return 0
            with make_session_factory(engine)() as session:
                return session.scalar(select(func.count()).select_from(model)) or 0
        finally:
            engine.dispose()

    def authenticate(self, api_key: str) -> Principal:
        engine = make_engine(self.database_url)
        try:
            with make_session_factory(engine)() as session:
                return institutions_service.authenticate(session, api_key)
        finally:
            engine.dispose()


@pytest.fixture
def env(fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    """XINYONG_DATA_DIR and XINYONG_DATABASE_URL pointing at an empty database."""
    _clean_environment(monkeypatch, tmp_path)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("XINYONG_DATA_DIR", str(data_dir))
    monkeypatch.setenv("XINYONG_DATABASE_URL", fresh_db_url)
    return Env(data_dir, fresh_db_url)


def assert_one_line_error(result: CliResult, exit_code: int, *fragments: str) -> None:
    assert result.exit_code == exit_code, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def create_furnisher(xinyong: Xinyong, code: str = "bank-cli", *record_types: str) -> str:
    uscc = new_uscc()
    args = ["institutions", "create", "--code", code, "--name", f"{code} 银行", "--kind", "bank"]
    args += ["--uscc", uscc, "--name-en", f"{code} Bank"]
    for record_type in record_types or ("credit_account",):
        args += ["--record-type", record_type]
    result = xinyong(*args)
    assert result.exit_code == 0, result
    assert f"({code})" in result.stdout
    return uscc


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = list(dict.fromkeys(column for row in rows for column in row))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


# --- init ---------------------------------------------------------------------------------------


def test_init_creates_the_database_and_keys_and_prints_one_operator_key(
    runner: Xinyong, env: Env, backend: str
) -> None:
    first = runner("init")
    assert first.exit_code == 0, first
    keys = first.keys()
    assert len(keys) == 1
    assert "shown once" in first.stdout

    key_file = env.data_dir / "keys.json"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    if backend == "sqlite":
        database = make_url(env.database_url).database
        assert database is not None
        assert Path(database).is_file()
    assert env.authenticate(keys[0]).role is Role.OPERATOR

    key_file_content = key_file.read_bytes()
    second = runner("init")
    assert second.exit_code == 0, second
    assert second.keys() == []
    assert "an operator key exists" in second.stdout
    assert key_file.read_bytes() == key_file_content
    assert env.count(ApiKey) == 1


# --- institutions -------------------------------------------------------------------------------


def test_institutions_create_list_key_and_revoke(runner: Xinyong, env: Env) -> None:
    uscc = create_furnisher(runner, "bank-cli", "credit_account", "tax_arrears")
    created = runner(
        "institutions",
        "create",
        *(
            "--code",
            "lender-cli",
            "--name",
            "Lender [beijing] 贷款公司",
            "--kind",
            "consumer_finance",
        ),
        *("--uscc", new_uscc(), "--purpose", "loan_approval", "--purpose", "employment"),
    )
    assert created.exit_code == 0, created

    listed = runner("institutions", "list")
    assert listed.exit_code == 0, listed
    assert "bank-cli" in listed.stdout
    assert "lender-cli" in listed.stdout
    assert "Lender [beijing] 贷款公司" in listed.stdout
    assert uscc in listed.stdout
    assert "credit_account, tax_arrears" in listed.stdout
    assert "employment, loan_approval" in listed.stdout

    issued = runner("institutions", "key", "--role", "furnisher", "--institution", "bank-cli")
    assert issued.exit_code == 0, issued
    [api_key] = issued.keys()
    principal = env.authenticate(api_key)
    assert principal.role is Role.FURNISHER
    assert principal.institution_code == "bank-cli"

    staff = runner("institutions", "key", "--role", "auditor", "--label", "annual audit")
    assert staff.exit_code == 0, staff
    assert env.authenticate(staff.keys()[0]).institution_id is None

    key_id = api_key.split("_")[1]
    assert key_id in issued.stdout
    revoked = runner("institutions", "revoke", key_id)
    assert revoked.exit_code == 0, revoked
    assert f"revoked key {key_id}" in revoked.stdout
    with pytest.raises(institutions_service.InvalidApiKeyError):
        env.authenticate(api_key)


def test_institutions_create_with_an_invalid_uscc_changes_nothing(
    runner: Xinyong, env: Env
) -> None:
    result = runner(
        "institutions",
        "create",
        *("--code", "bank-bad", "--name", "Bad", "--kind", "bank", "--uscc", INVALID_USCC),
        *("--record-type", "credit_account"),
    )
    assert_one_line_error(result, 1, "invalid_identifier")
    assert INVALID_USCC not in result.stderr
    assert env.count(Institution) == 0


def test_institutions_create_with_an_unknown_record_type_changes_nothing(
    runner: Xinyong, env: Env
) -> None:
    result = runner(
        "institutions",
        "create",
        *("--code", "bank-bad", "--name", "Bad", "--kind", "bank", "--uscc", new_uscc()),
        *("--record-type", "horoscope"),
    )
    assert_one_line_error(result, 1, "invalid_permission", "horoscope")
    assert env.count(Institution) == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [("--code", "Not A Slug"), ("--name", ""), ("--name-en", "x" * 201)],
)
def test_institutions_create_with_an_invalid_option_is_a_one_line_error(
    runner: Xinyong, env: Env, option: str, value: str
) -> None:
    options = {"--code": "bank-ok", "--name": "OK", "--kind": "bank", "--uscc": new_uscc()}
    options[option] = value
    args = [part for pair in options.items() for part in pair]
    result = runner("institutions", "create", *args, "--record-type", "credit_account")
    assert_one_line_error(result, 2, "invalid institution", option)
    assert env.count(Institution) == 0


def test_duplicate_institution_is_refused(runner: Xinyong, env: Env) -> None:
    create_furnisher(runner, "bank-dup")
    result = runner(
        "institutions",
        "create",
        *("--code", "bank-dup", "--name", "Again", "--kind", "bank", "--uscc", new_uscc()),
        *("--record-type", "credit_account"),
    )
    assert_one_line_error(result, 1, "institution_exists")
    assert env.count(Institution) == 1


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("institutions", "key", "--role", "furnisher"), "invalid_permission"),
        (("institutions", "key", "--role", "querier", "--institution", "nobody"), "not_found"),
        (("institutions", "revoke", "000000000000"), "api_key_not_found"),
    ],
)
def test_bad_key_commands_fail_cleanly(
    runner: Xinyong, env: Env, args: tuple[str, ...], code: str
) -> None:
    assert runner("init").exit_code == 0
    assert_one_line_error(runner(*args), 1, code)
    assert env.count(ApiKey) == 1


def test_a_bad_option_is_a_usage_error(runner: Xinyong, env: Env) -> None:
    result = runner(
        "institutions",
        "create",
        *("--code", "x-bank", "--name", "X", "--kind", "spaceship", "--uscc", new_uscc()),
    )
    assert result.exit_code == 2
    assert "spaceship" in result.stderr
    assert env.count(Institution) == 0


# --- ingest, subjects, records ------------------------------------------------------------------


# The prompted lookup reads from a pipe, where getpass cannot turn echo off.
@pytest.mark.filterwarnings("ignore::getpass.GetPassWarning")
def test_ingest_jsonl_and_csv_then_read_subjects_and_records(
    runner: Xinyong, env: Env, tmp_path: Path
) -> None:
    create_furnisher(runner, "bank-ingest")
    person = new_resident_id()
    other = new_resident_id()
    jsonl = write_jsonl(
        tmp_path / "accounts.jsonl",
        [
            account_row(person, "LOAN-1", subject_name="赵六", subject_name_en="Zhao Liu"),
            account_row(other, "LOAN-2"),
        ],
    )
    ingested = runner("ingest", str(jsonl), "--furnisher", "bank-ingest")
    assert ingested.exit_code == 0, ingested
    assert "2 created" in ingested.stdout
    assert "0 rejected" in ingested.stdout

    again = runner("ingest", str(jsonl), "--furnisher", "bank-ingest")
    assert again.exit_code == 0, again
    assert "replayed" in again.stdout
    assert env.count(IngestionBatch) == 1

    csv_rows = [account_row(person, "CARD-3", account_type="credit_card", balance="99.50")]
    csv_file = write_csv(tmp_path / "cards.csv", csv_rows)
    from_csv = runner("ingest", str(csv_file), "--furnisher", "bank-ingest")
    assert from_csv.exit_code == 0, from_csv
    assert "1 created" in from_csv.stdout
    assert env.count(IngestionBatch) == 2

    found = runner("subjects", "lookup", "--id-type", "resident_id", "--identifier", person)
    assert found.exit_code == 0, found
    subject = json.loads(found.stdout)
    assert subject["identifier"] == person[:4] + "*" * 10 + person[-4:]
    assert subject["name"] == "赵六"
    assert person not in found.stdout

    # The identifier may also be typed at the prompt, keeping it out of shell history.
    prompted = runner("subjects", "lookup", "--id-type", "resident_id", input=person + "\n")
    assert prompted.exit_code == 0, prompted
    assert person not in prompted.stdout
    assert f'"id": {subject["id"]}' in prompted.stdout

    shown = runner("subjects", "show", str(subject["id"]))
    assert shown.exit_code == 0, shown
    assert json.loads(shown.stdout)["identifier_masked"] is True
    revealed = runner("subjects", "show", str(subject["id"]), "--reveal")
    assert json.loads(revealed.stdout)["identifier"] == person

    listed = runner("subjects", "records", str(subject["id"]))
    assert listed.exit_code == 0, listed
    records = json.loads(listed.stdout)
    by_key = {record["record_key"]: record for record in records}
    assert set(by_key) == {"LOAN-1", "CARD-3"}
    assert by_key["CARD-3"]["fields"]["balance"] == "99.50"

    history = runner("records", "history", str(by_key["LOAN-1"]["id"]))
    assert history.exit_code == 0, history
    document = json.loads(history.stdout)
    assert document["record_key"] == "LOAN-1"
    assert [v["version"] for v in document["versions"]] == [1]
    assert document["versions"][0]["fields"]["balance"] == "12000.00"


def test_ingest_with_rejected_rows_exits_3_and_prints_them(
    runner: Xinyong, env: Env, tmp_path: Path
) -> None:
    create_furnisher(runner, "bank-reject")
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            account_row(new_resident_id(), "GOOD-1"),
            account_row(new_resident_id(), "BAD-2", currency="yuan"),
            account_row("36042619910102009X", "BAD-3"),
        ],
    )
    result = runner("ingest", str(path), "--furnisher", "bank-reject")
    assert result.exit_code == 3, result
    assert "1 created" in result.stdout
    assert "2 rejected" in result.stdout
    assert re.search(r"row 2 currency \[\w+\]", result.stdout), result.stdout
    assert re.search(r"row 3 subject_identifier \[invalid_identifier\]", result.stdout)
    assert "36042619910102009X" not in result.stdout


def test_ingest_csv_needs_a_record_type(runner: Xinyong, env: Env, tmp_path: Path) -> None:
    create_furnisher(runner, "bank-csv")
    row = account_row(new_resident_id(), "CSV-1")
    del row["record_type"]
    path = write_csv(tmp_path / "no-type.csv", [row])
    rejected = runner("ingest", str(path), "--furnisher", "bank-csv")
    assert rejected.exit_code == 3, rejected
    assert "record_type" in rejected.stdout

    # The same bytes read with a record type are a new submission, not a replay.
    args = ("ingest", str(path), "--furnisher", "bank-csv", "--record-type", "credit_account")
    accepted = runner(*args)
    assert accepted.exit_code == 0, accepted
    assert "1 created" in accepted.stdout
    replayed = runner(*args)
    assert replayed.exit_code == 0, replayed
    assert "replayed" in replayed.stdout
    assert env.count(IngestionBatch) == 2


def test_ingest_a_missing_file_changes_nothing(runner: Xinyong, env: Env, tmp_path: Path) -> None:
    create_furnisher(runner, "bank-missing")
    result = runner("ingest", str(tmp_path / "nope.jsonl"), "--furnisher", "bank-missing")
    assert_one_line_error(result, 2, "nope.jsonl")
    assert env.count(IngestionBatch) == 0


def test_ingest_an_unknown_format_changes_nothing(
    runner: Xinyong, env: Env, tmp_path: Path
) -> None:
    create_furnisher(runner, "bank-format")
    path = write_jsonl(tmp_path / "rows.txt", [account_row(new_resident_id())])
    result = runner("ingest", str(path), "--furnisher", "bank-format")
    assert_one_line_error(result, 2, "--format")
    assert env.count(IngestionBatch) == 0


def test_ingest_for_an_unknown_furnisher_changes_nothing(
    runner: Xinyong, env: Env, tmp_path: Path
) -> None:
    create_furnisher(runner, "bank-known")
    path = write_jsonl(tmp_path / "rows.jsonl", [account_row(new_resident_id())])
    result = runner("ingest", str(path), "--furnisher", "bank-unknown")
    assert_one_line_error(result, 1, "institution_not_found", "bank-unknown")
    assert env.count(IngestionBatch) == 0


def test_ingest_with_an_overlong_idempotency_key_changes_nothing(
    runner: Xinyong, env: Env, tmp_path: Path
) -> None:
    create_furnisher(runner, "bank-longkey")
    path = write_jsonl(tmp_path / "rows.jsonl", [account_row(new_resident_id())])
    args = ("ingest", str(path), "--furnisher", "bank-longkey", "--idempotency-key")
    result = runner(*args, "k" * 201)
    assert_one_line_error(result, 2, "--idempotency-key")
    assert env.count(IngestionBatch) == 0
    assert runner(*args, "k" * 200).exit_code == 0


def test_ingest_an_unreadable_file_changes_nothing(
    runner: Xinyong, env: Env, tmp_path: Path
) -> None:
    create_furnisher(runner, "bank-latin1")
    path = tmp_path / "latin1.jsonl"
    row = account_row(new_resident_id(), subject_name="Zoë")
    path.write_bytes(json.dumps(row, ensure_ascii=False).encode("latin-1"))
    result = runner("ingest", str(path), "--furnisher", "bank-latin1")
    assert_one_line_error(result, 1, "invalid_batch_file")
    assert env.count(IngestionBatch) == 0


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("subjects", "show", "987654"), "subject_not_found"),
        (("subjects", "records", "987654"), "subject_not_found"),
        (("records", "history", "987654"), "record_not_found"),
        (
            (
                "subjects",
                "lookup",
                "--id-type",
                "resident_id",
                "--identifier",
                "360426199113010079",
            ),
            "invalid_identifier",
        ),
    ],
)
def test_reading_what_does_not_exist_fails_cleanly(
    runner: Xinyong, env: Env, args: tuple[str, ...], code: str
) -> None:
    result = runner(*args)
    assert_one_line_error(result, 1, code)
    assert "360426199113010079" not in result.stderr


# --- synth and demo -----------------------------------------------------------------------------


def test_synth_writes_a_population(
    runner: Xinyong, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_environment(monkeypatch, tmp_path)
    out = tmp_path / "population"
    args = ("synth", "--persons", "50", "--enterprises", "10", "--seed", "1", "--out", str(out))
    result = runner(*args)
    assert result.exit_code == 0, result
    assert "50 persons" in result.stdout
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["persons"] == 50
    files = manifest["files"]
    assert files
    for spec in files:
        assert (out / spec["path"]).is_file()
    assert (out / "labels.csv").is_file()

    # Same seed, same population; an existing output is not overwritten silently.
    refused = runner(*args)
    assert_one_line_error(refused, 2, "--force")
    again = runner(*args, "--force")
    assert again.exit_code == 0, again
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["files"] == files


def test_demo_loads_a_population_and_prints_api_keys(
    runner: Xinyong, env: Env, tmp_path: Path
) -> None:
    result = runner("demo", "--persons", "200", "--enterprises", "20", "--no-serve")
    assert result.exit_code == 0, result
    assert "Loaded" in result.stdout
    assert "credit_account" in result.stdout
    match = re.search(
        r"subjects: (.*); record versions: ([\d,]+); rejected rows: (\d+)", result.stdout
    )
    assert match, result.stdout
    assert "person" in match.group(1)
    assert "enterprise" in match.group(1)
    assert int(match.group(2).replace(",", "")) > 200
    assert int(match.group(3)) == 0

    keys = result.keys()
    assert len(keys) == 4
    roles = [env.authenticate(key).role for key in keys]
    assert roles == [Role.OPERATOR, Role.AUDITOR, Role.FURNISHER, Role.QUERIER]
    assert "/docs" in result.stdout

    # A second run reuses the population and the batches: nothing is loaded twice.
    batches = env.count(IngestionBatch)
    second = runner("demo", "--persons", "200", "--enterprises", "20", "--no-serve")
    assert second.exit_code == 0, second
    assert env.count(IngestionBatch) == batches
    assert len(second.keys()) == 4


# --- the real process ---------------------------------------------------------------------------


def test_the_command_runs_as_a_process(env: Env, tmp_path: Path) -> None:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("XINYONG_")},
        "XINYONG_DATA_DIR": str(env.data_dir),
        "XINYONG_DATABASE_URL": env.database_url,
        "COLUMNS": "200",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "xinyong.cli.main", *args],
            capture_output=True,
            text=True,
            env=environment,
            cwd=tmp_path,
            check=False,
            timeout=120,
        )

    init = run("init")
    assert init.returncode == 0, init.stderr
    assert len(API_KEY.findall(init.stdout)) == 1

    bad = run(
        "institutions",
        "create",
        *("--code", "bank-bad", "--name", "Bad", "--kind", "bank", "--uscc", INVALID_USCC),
        *("--record-type", "credit_account"),
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()]
    assert "invalid_identifier" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert env.count(Institution) == 0
    assert load_keyring(env.settings(), create=False)
