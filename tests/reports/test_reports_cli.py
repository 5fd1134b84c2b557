"""`xinyong report`: a report from the command line, run as a real process."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from reports.helpers import Furnish, subject_id_of
from support import account_row, cli_env, new_resident_id, new_uscc, run_cli
from xinyong import migrate
from xinyong.config import Settings
from xinyong.db import make_engine, make_session_factory, transaction
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.schemas import InstitutionCreate, InstitutionKind
from xinyong.institutions.service import create_institution
from xinyong.ledger.service import ledger_keys
from xinyong.reports.models import IssuedReport, QueryRecord
from xinyong.reports.schemas import CreditReport
from xinyong.reports.service import report_digest


@dataclass
class Platform:
    env: dict[str, str]
    factory: sessionmaker[Session]
    keys: KeyRing
    identifier: str
    subject_id: int


@pytest.fixture
def platform(fresh_db_url: str, tmp_path: Path) -> Iterator[Platform]:
    """A migrated database with one person's account; the CLI shares its keys by env."""
    encryption, blind_index = secrets.token_bytes(32), secrets.token_bytes(32)
    keys = KeyRing(encryption, blind_index)
    env = cli_env(
        fresh_db_url,
        tmp_path / "data",
        XINYONG_ENCRYPTION_KEY=base64.b64encode(encryption).decode(),
        XINYONG_BLIND_INDEX_KEY=base64.b64encode(blind_index).decode(),
    )
    engine = make_engine(fresh_db_url)
    migrate.upgrade(engine)
    factory = make_session_factory(engine, ledger=ledger_keys(keys, Settings()))
    with transaction(factory) as session:
        bank = create_institution(
            session,
            keys,
            InstitutionCreate(
                code="bank-cli",
                name="命令行银行",
                kind=InstitutionKind.BANK,
                uscc=new_uscc(),
                is_furnisher=True,
                permitted_record_types=["credit_account"],
            ),
        )
    person = new_resident_id()
    Furnish(tmp_path, factory, keys, bank)(account_row(person, "LOAN-CLI-1"))
    yield Platform(env, factory, keys, person, subject_id_of(factory, keys, person))
    engine.dispose()


def test_report_as_json_and_html_and_a_refusal(platform: Platform, tmp_path: Path) -> None:
    """One test: every `xinyong` process costs a second or two of start-up."""
    refused = run_cli(
        platform.env,
        "report",
        str(platform.subject_id),
        "--purpose",
        "court_order",
        check=False,
    )
    assert refused.returncode == 1
    assert refused.stdout == ""
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert lines[0].startswith("error [reference_required]:")
    assert "Traceback" not in refused.stderr
    with platform.factory() as session:
        (record,) = session.scalars(select(QueryRecord)).all()
        assert session.scalars(select(IssuedReport)).all() == []
    assert (record.outcome, record.refusal_code, record.channel) == (
        "refused",
        "reference_required",
        "cli",
    )

    done = run_cli(
        platform.env,
        "report",
        str(platform.subject_id),
        "--purpose",
        "subject_request",
        "--format",
        "json",
    )
    report = CreditReport.model_validate_json(done.stdout)
    assert report.subject.subject_id == platform.subject_id
    assert report.subject.identifier_masked is True
    assert [item.record_key for item in report.credit_accounts] == ["LOAN-CLI-1"]
    assert report.requester.purpose == "subject_request"
    assert report_digest(json.loads(done.stdout)) == report.digest.value
    assert f"digest sha256:{report.digest.value}" in done.stderr

    out = tmp_path / "report.html"
    html = run_cli(
        platform.env,
        "report",
        platform.identifier,
        "--purpose",
        "subject_request",
        "--format",
        "html",
        "--lang",
        "en",
        "--out",
        str(out),
    )
    assert html.stdout == ""
    text = out.read_text(encoding="utf-8")
    assert text.lstrip().lower().startswith("<!doctype html")
    with platform.factory() as session:
        records = session.scalars(select(QueryRecord).order_by(QueryRecord.id)).all()
        issued = session.scalars(select(IssuedReport).order_by(IssuedReport.id)).all()
    assert [(r.channel, r.role, r.outcome, r.api_key_id) for r in records[1:]] == [
        ("cli", "operator", "served", None)
    ] * 2
    assert issued[0].report_id == report.report_id
    assert issued[1].report_id in text
    assert f"report {issued[1].report_id} written to {out}" in html.stderr.replace("\n", "")
