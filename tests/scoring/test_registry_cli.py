"""`xinyong model …`, run in this process through the console-script entry point."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from scoring.registry_helpers import OPERATOR, artifact_file, validation
from xinyong.audit.models import AuditEntry
from xinyong.config import get_settings
from xinyong.db import make_engine, make_session_factory, transaction
from xinyong.scoring.models import ModelEvent, ScoringModel
from xinyong.scoring.registry import attach_validation


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

    def run(*args: str) -> Result:
        get_settings.cache_clear()
        monkeypatch.setattr(sys, "argv", ["xinyong", *args])
        with CliRunner().isolation() as (out, err, _):
            try:
                cli_main.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            return Result(code, out.getvalue().decode(), err.getvalue().decode())

    yield run
    get_settings.cache_clear()


def one_line_error(result: Result, exit_code: int, *fragments: str) -> None:
    assert result.exit_code == exit_code, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_register_approve_promote_show_and_retire(
    xinyong: Xinyong, tmp_path: Path, fresh_db_url: str
) -> None:
    first = artifact_file(tmp_path, 1)
    report = write_json(tmp_path / "report-1.json", validation(1))
    done = xinyong(
        "model",
        "register",
        str(first),
        "--name",
        "person-scorecard",
        "--segment",
        "person",
        "--validation",
        str(report),
        "--feature-set",
        "person-features/1",
    )
    assert done.exit_code == 0, done
    assert "registered model 1 (person-scorecard v1): woe_scorecard, person, validated" in (
        done.stdout
    )
    assert "artifact sha256:" in done.stdout

    second = xinyong(
        "model",
        "register",
        str(artifact_file(tmp_path, 2)),
        "--name",
        "person-scorecard",
        "--segment",
        "person",
    )
    assert "registered model 2 (person-scorecard v2): woe_scorecard, person, draft" in (
        second.stdout
    )

    approved = xinyong("model", "approve", "1", "--reason", "figures reviewed")
    assert approved.exit_code == 0, approved
    assert "model 1 (person-scorecard v1): validated → approved" in approved.stdout
    promoted = xinyong("model", "promote", "1", "--reason", "first champion")
    assert "model 1 (person-scorecard v1): approved → champion of person" in promoted.stdout

    listed = xinyong("model", "list", "--status", "champion")
    assert listed.exit_code == 0, listed
    assert "person-scorecard" in listed.stdout
    assert "person-features/1" in listed.stdout
    assert "draft" not in xinyong("model", "list", "--segment", "enterprise").stdout

    shown = xinyong("model", "show", "1")
    assert shown.exit_code == 0, shown
    for fragment in (
        "model 1: person-scorecard v1",
        "status:          champion",
        "validation:      AUC ",
        "figures reviewed",
        "first champion",
        "cli (operator)",
    ):
        assert fragment in shown.stdout, fragment

    # Model 2 through to champion: model 1 is retired on the way.
    report_2 = write_json(tmp_path / "report-2.json", validation(2))
    engine = make_engine(fresh_db_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            attach_validation(session, 2, json.loads(report_2.read_text()), OPERATOR)
        xinyong("model", "approve", "2", "--reason", "better")
        replaced = xinyong("model", "promote", "2", "--reason", "better Gini")
        assert replaced.exit_code == 0, replaced
        assert "model 1 (person-scorecard v1): champion → retired" in replaced.stdout
        retired = xinyong("model", "retire", "2", "--reason", "policy change")
        assert "model 2 (person-scorecard v2): champion → retired" in retired.stdout

        with make_session_factory(engine)() as session:
            statuses = dict(session.execute(select(ScoringModel.id, ScoringModel.status)).all())
            events = session.scalars(select(ModelEvent).where(ModelEvent.model_id == 1)).all()
            actions = session.scalars(
                select(AuditEntry.action).where(AuditEntry.actor == "cli").order_by(AuditEntry.id)
            ).all()
    finally:
        engine.dispose()
    assert statuses == {1: "retired", 2: "retired"}
    assert [(e.from_status, e.to_status) for e in events][-1] == ("champion", "retired")
    assert actions.count("model.promote") == 2
    assert actions.count("model.retire") == 2


def test_bad_input_is_one_line_and_a_non_zero_exit(xinyong: Xinyong, tmp_path: Path) -> None:
    good = str(artifact_file(tmp_path, 1))
    register = ("model", "register")
    person = ("--name", "person-scorecard", "--segment", "person")

    one_line_error(xinyong(*register, str(tmp_path / "missing.json"), *person), 2, "missing.json")
    one_line_error(
        xinyong(*register, good, "--name", "x", "--segment", "martian"),
        2,
        "--segment must be person or enterprise",
    )
    not_a_model = write_json(tmp_path / "not-a-model.json", {"hello": "world"})
    one_line_error(xinyong(*register, str(not_a_model), *person), 1, "[invalid_model_artifact]")
    broken = write_json(tmp_path / "broken.json", {**json.loads(Path(good).read_text()), "kind": 1})
    one_line_error(xinyong(*register, str(broken), *person), 1, "[invalid_model_artifact]")
    one_line_error(
        xinyong(*register, good, "--name", "Bad Name", "--segment", "person"), 1, "[invalid_model]"
    )
    other_report = write_json(tmp_path / "other.json", validation(2))
    one_line_error(
        xinyong(*register, good, *person, "--validation", str(other_report)),
        1,
        "[invalid_validation_report]",
    )
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json", encoding="utf-8")
    one_line_error(xinyong(*register, good, *person, "--validation", str(garbage)), 2, "garbage")

    done = xinyong(*register, good, *person)
    assert done.exit_code == 0, done
    # PostgreSQL's sequence moved on with the refused attempts: read the id printed.
    model_id = done.stdout.split()[2]
    one_line_error(xinyong(*register, good, *person), 1, "[model_already_registered]")
    one_line_error(xinyong("model", "approve", model_id), 2, "--reason")
    one_line_error(xinyong("model", "approve", model_id, "--reason", "   "), 2, "--reason")
    one_line_error(
        xinyong("model", "approve", model_id, "--reason", "ok"),
        1,
        "[model_transition_not_allowed]",
        "from draft to approved",
        "validated or retired",
    )
    one_line_error(
        xinyong("model", "promote", model_id, "--reason", "ok"), 1, "[model_transition_not_allowed]"
    )
    one_line_error(xinyong("model", "retire", "99", "--reason", "ok"), 1, "[model_not_found]")
    one_line_error(xinyong("model", "show", "99"), 1, "[model_not_found]")
    one_line_error(xinyong("model", "list", "--status", "lost"), 2, "--status must be")
    assert "draft" in xinyong("model", "show", model_id).stdout
