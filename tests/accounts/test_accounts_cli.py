"""Tests of `xinyong subjects enrol`, run through the console-script entry point."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from accounts_support import PASSWORD, Person, make_person
from click.testing import CliRunner
from sqlalchemy import select

from support import new_resident_id
from xinyong import migrate
from xinyong.accounts import service
from xinyong.audit.models import AuditEntry
from xinyong.config import Settings, get_settings
from xinyong.db import make_engine, make_session_factory, transaction
from xinyong.identity.crypto import load_keyring

CODE = re.compile(r"\b[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}\b")


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


Xinyong = Callable[..., Result]


@pytest.fixture
def xinyong(
    fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Xinyong]:
    """`xinyong ARGS…` in this process, on an empty database of its own."""
    from xinyong.cli import main as cli_main

    for name in list(os.environ):
        if name.startswith("XINYONG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XINYONG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XINYONG_DATABASE_URL", fresh_db_url)
    monkeypatch.setattr(cli_main.console, "width", 200)

    def run(*args: str, input: str | None = None) -> Result:
        get_settings.cache_clear()
        monkeypatch.setattr(sys, "argv", ["xinyong", *args])
        with CliRunner().isolation(input=input) as (out, err, _):
            try:
                cli_main.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            return Result(code, out.getvalue().decode(), err.getvalue().decode())

    yield run
    get_settings.cache_clear()


@dataclass
class Platform:
    settings: Settings

    def person(self) -> Person:
        engine = make_engine(self.settings.resolved_database_url)
        try:
            migrate.upgrade(engine)
            with transaction(make_session_factory(engine)) as session:
                return make_person(session, load_keyring(self.settings))
        finally:
            engine.dispose()

    def activate(self, person: Person, code: str) -> str:
        engine = make_engine(self.settings.resolved_database_url)
        try:
            with transaction(make_session_factory(engine)) as session:
                keys = load_keyring(self.settings)
                account = service.activate_account(
                    session, keys, "resident_id", person.identifier, code, PASSWORD
                )
                return account.status
        finally:
            engine.dispose()

    def audit_reasons(self) -> list[tuple[str, str | None, str]]:
        engine = make_engine(self.settings.resolved_database_url)
        try:
            with make_session_factory(engine)() as session:
                return [
                    (e.action, e.reason, e.actor)
                    for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
                ]
        finally:
            engine.dispose()


@pytest.fixture
def platform(xinyong: Xinyong, fresh_db_url: str, tmp_path: Path) -> Platform:
    assert xinyong("init").exit_code == 0
    return Platform(Settings(data_dir=tmp_path / "data", database_url=fresh_db_url))


def one_line_error(result: Result, exit_code: int, *fragments: str) -> None:
    assert result.exit_code == exit_code, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_enrol_prints_a_code_that_activates_the_account(
    xinyong: Xinyong, platform: Platform
) -> None:
    person = platform.person()
    result = xinyong("subjects", "enrol", person.identifier, "--reason", "ID card checked, #12")
    assert result.exit_code == 0, result
    codes = CODE.findall(result.stdout)
    assert len(codes) == 1, result.stdout
    assert "shown once" in result.stdout
    assert "UTC" in result.stdout
    assert person.identifier not in result.stdout
    assert platform.activate(person, codes[0]) == "active"
    assert platform.audit_reasons()[-1] == ("subject_account.enrol", "ID card checked, #12", "cli")


# The prompt reads from a pipe, where getpass cannot turn echo off.
@pytest.mark.filterwarnings("ignore::getpass.GetPassWarning")
def test_enrol_by_subject_id_or_at_the_prompt(xinyong: Xinyong, platform: Platform) -> None:
    person = platform.person()
    by_id = xinyong(
        "subjects", "enrol", "--subject-id", str(person.subject_id), "--reason", "passport"
    )
    assert by_id.exit_code == 0, by_id
    prompted = xinyong(
        "subjects", "enrol", "--id-type", "resident_id", "--reason", "video call",
        input=person.identifier + "\n",
    )  # fmt: skip
    assert prompted.exit_code == 0, prompted
    assert person.identifier not in prompted.stdout
    first, second = CODE.findall(by_id.stdout)[0], CODE.findall(prompted.stdout)[0]
    assert first != second
    # Re-issuing voided the first code.
    with pytest.raises(service.InvalidEnrolmentCodeError):
        platform.activate(person, first)
    assert platform.activate(person, second) == "active"


def test_enrol_errors_are_one_line(xinyong: Xinyong, platform: Platform) -> None:
    unknown = xinyong("subjects", "enrol", new_resident_id(), "--reason", "ID card")
    one_line_error(unknown, 1, "subject_not_found")
    malformed = new_resident_id()[:-1] + "Q"
    invalid = xinyong("subjects", "enrol", malformed, "--reason", "ID card")
    one_line_error(invalid, 1, "invalid_identifier")
    assert malformed not in invalid.stderr
    blank = xinyong("subjects", "enrol", "--subject-id", "1", "--reason", "  ")
    one_line_error(blank, 2, "--reason")
    both = xinyong("subjects", "enrol", new_resident_id(), "--subject-id", "1", "--reason", "x")
    one_line_error(both, 2, "--subject-id")
    missing = xinyong("subjects", "enrol", "--subject-id", "1")
    assert missing.exit_code == 2
    assert "--reason" in missing.stderr
    assert platform.audit_reasons() == []
