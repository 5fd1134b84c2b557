"""Deadlines: the profile's outcome for unanswered items, overdue notifications, KPIs, and the
commands that run them (征信业管理条例 Art. 25; FCRA §1681i(a)(2), (a)(5))."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from dispute_support import (
    TEXT,
    Person,
    file_dispute,
    items_by_record,
    outbox_types,
    own_report,
    problem,
    run_deadlines,
    task_of,
)
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from reports.helpers import Furnish, subject_principal
from support import account_row, auth, cli_in_process
from xinyong.api.app import create_app
from xinyong.config import Settings, get_settings
from xinyong.db import transaction
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import LOCAL_OPERATOR, Principal, Role
from xinyong.records.models import RecordVersion
from xinyong.records.service import REASON_CONTEXT
from xinyong.reports.profiles import get_profile
from xinyong.rights import disputes
from xinyong.rights.calendar import load_calendar, parse_calendar_csv
from xinyong.rights.schemas import DisputeFiling, DisputeReason, TaskAnswer

CN = get_profile("cn")
US = get_profile("us")
CN_2026 = (Path(__file__).parents[2] / "docs" / "calendars" / "cn-2026.csv").read_bytes()


def at(day: date) -> datetime:
    """10:00 in Shanghai on ``day``."""
    return datetime.combine(day, time(2), UTC)


def case_of(factory: sessionmaker[Session], case_id: int) -> Any:
    with factory() as session:
        return disputes.get_case(session, case_id)


def set_status(factory: sessionmaker[Session], institution: Institution, status: str) -> None:
    with transaction(factory) as session:
        stored = session.get(Institution, institution.id)
        assert stored is not None
        stored.status = status


# --- outcomes at the deadline -----------------------------------------------------------------


def test_cn_an_unanswered_item_is_recorded_unresolved_with_the_dispute_text(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    person: Person,
    bank_key: str,
) -> None:
    case = file_dispute(client, person.token, [person.loan])
    due = date.fromisoformat(case["due_on"])

    # On the due day the furnisher may still answer: nothing moves.
    assert run_deadlines(factory, keys, due).unresolved == 0
    assert case_of(factory, case["id"]).status == "awaiting_furnisher"

    run = run_deadlines(factory, keys, due + timedelta(days=1))
    assert (run.unresolved, run.deleted, run.cases_resolved, run.failed) == (1, 0, 1, 0)
    view = client.get(f"/v1/portal/disputes/{case['id']}", headers=auth(person.token)).json()
    assert (view["status"], view["outcome"], view["resolved_on_time"]) == (
        "resolved",
        "unresolved",
        True,
    )
    (item,) = view["items"]
    assert (item["outcome"], item["resolved_by"], item["resulting_version"]) == (
        "unresolved",
        "deadline",
        None,
    )
    assert "征信业管理条例 Art. 25" in view["written_outcome"]["zh-CN"]
    assert [e["event"] for e in view["timeline"]][-2:] == ["deadline_outcome", "resolved"]
    assert view["timeline"][-1]["role"] == "system"

    # The item stays, flagged, with the dispute text alongside it.
    report = own_report(client, person.token)
    assert items_by_record(report)[person.loan]["disputed"] is True
    (annotation,) = report["annotations"]["disputes"]
    assert (annotation["status"], annotation["dispute_text"]) == ("unresolved", TEXT)
    assert "经核查仍不能确认" in annotation["written_outcome"]
    html = client.get("/v1/portal/report?format=html", headers=auth(person.token)).text
    assert TEXT in html
    assert "未能核实" in html
    # The record itself is untouched.
    with factory() as session:
        versions = session.scalars(
            select(RecordVersion.operation).where(RecordVersion.record_id == person.loan)
        ).all()
    assert versions == ["create"]
    # The furnisher's task is closed.
    problem(
        client.post(
            f"/v1/verification-tasks/{item['id']}/answer",
            json={"outcome": "confirmed"},
            headers=auth(bank_key),
        ),
        409,
        "verification_task_closed",
    )
    # Running again changes nothing.
    again = run_deadlines(factory, keys, due + timedelta(days=2))
    assert (again.unresolved, again.cases_resolved) == (0, 0)
    assert outbox_types(factory, person.subject_id)[-2:] == [
        "dispute.item_resolved",
        "dispute.resolved",
    ]


def test_us_an_unverified_item_is_deleted_at_the_deadline(
    us_client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    person: Person,
    bank_key: str,
    card_key: str,
) -> None:
    case = file_dispute(us_client, person.token, [person.loan, person.card])
    card_task = task_of(us_client, card_key, person.card)
    confirmed = us_client.post(
        f"/v1/verification-tasks/{card_task['id']}/answer",
        json={"outcome": "confirmed", "note": "Verified against the signed application."},
        headers=auth(card_key),
    )
    assert confirmed.status_code == 200, confirmed.text
    due = date.fromisoformat(case["due_on"])
    assert run_deadlines(factory, keys, due).deleted == 0

    run = run_deadlines(factory, keys, due + timedelta(days=1))
    assert (run.deleted, run.unresolved, run.cases_resolved) == (1, 0, 1)
    with factory() as session:
        versions = session.scalars(
            select(RecordVersion)
            .where(RecordVersion.record_id == person.loan)
            .order_by(RecordVersion.version)
        ).all()
        assert [v.operation for v in versions] == ["create", "delete"]
        assert versions[1].reason_ct is not None
        reason = keys.decrypt_text(versions[1].reason_ct, REASON_CONTEXT)
    assert reason.startswith(f"dispute {case['id']}: not verified by {due.isoformat()}")
    assert "FCRA §1681i(a)(5)(A)" in reason

    view = us_client.get(f"/v1/portal/disputes/{case['id']}", headers=auth(person.token)).json()
    assert (view["status"], view["outcome"]) == ("resolved", "mixed")
    outcomes = {item["record_id"]: item["outcome"] for item in view["items"]}
    assert outcomes == {person.loan: "deleted", person.card: "confirmed"}
    assert "could not be verified by the deadline" in view["written_outcome"]["en"]
    assert "Verified against the signed application." in view["written_outcome"]["en"]

    report = own_report(us_client, person.token, lang="en")
    assert report["profile"]["code"] == "us"
    assert person.loan not in items_by_record(report)
    assert items_by_record(report)[person.card]["disputed"] is False
    statuses = {a["record_id"]: a["status"] for a in report["annotations"]["disputes"]}
    assert statuses == {person.loan: "deleted", person.card: "confirmed"}
    # The furnisher's task list no longer holds it.
    assert us_client.get("/v1/verification-tasks", headers=auth(bank_key)).json() == []


def test_a_furnisher_that_cannot_be_notified_is_flagged_overdue(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    person: Person,
    bank: Institution,
    bank_key: str,
    operator_key: str,
) -> None:
    set_status(factory, bank, "suspended")
    case = file_dispute(client, person.token, [person.loan])
    assert case["status"] == "open"
    assert [item["status"] for item in case["items"]] == ["pending"]
    # Flagged from the start, though the furnisher has no task yet.
    report = own_report(client, person.token)
    assert items_by_record(report)[person.loan]["disputed"] is True
    assert report["annotations"]["disputes"][0]["status"] == "open"
    notify_by = date.fromisoformat(case["notify_by"])

    assert run_deadlines(factory, keys, notify_by).notification_overdue == 0
    assert run_deadlines(factory, keys, notify_by + timedelta(days=1)).notification_overdue == 1
    assert run_deadlines(factory, keys, notify_by + timedelta(days=2)).notification_overdue == 0
    staff = client.get(f"/v1/disputes/{case['id']}", headers=auth(operator_key)).json()
    assert staff["items"][0]["notification_overdue"] is True
    assert staff["timeline"][-1]["event"] == "notification_overdue"
    kpis = client.get("/v1/disputes/kpis", headers=auth(operator_key)).json()
    assert kpis["notification_overdue"] == 1
    assert "dispute.notification_overdue" in outbox_types(factory, person.subject_id)

    set_status(factory, bank, "active")
    run = run_deadlines(factory, keys, notify_by + timedelta(days=2))
    assert run.notified == 1
    staff = client.get(f"/v1/disputes/{case['id']}", headers=auth(operator_key)).json()
    assert staff["status"] == "awaiting_furnisher"
    assert staff["timeline"][-1]["event"] == "furnisher_notified"
    assert task_of(client, bank_key, person.loan)["case_id"] == case["id"]


def test_deadlines_follow_the_loaded_holiday_calendar(
    factory: sessionmaker[Session], keys: KeyRing, person: Person
) -> None:
    with transaction(factory) as session:
        load_calendar(session, LOCAL_OPERATOR, parse_calendar_csv(CN_2026), CN_2026)
    filing = DisputeFiling(
        record_ids=[person.loan], reason_code=DisputeReason.WRONG_STATUS, text=TEXT
    )
    with transaction(factory) as session:
        case = disputes.file_dispute(
            session,
            keys,
            CN,
            subject_principal(person.subject_id),
            person.subject_id,
            filing,
            now=at(date(2026, 9, 11)),
        )
        case_id = case.id
        # 20 days from Friday 11 September end on National Day: moved to Thursday 8 October.
        assert (case.filed_on, case.due_on) == (date(2026, 9, 11), date(2026, 10, 8))
        # Five working days: 14-18 September.
        assert case.notify_by == date(2026, 9, 18)
        assert case.rules["answer"]["days"] == 20
    assert run_deadlines(factory, keys, date(2026, 10, 8)).unresolved == 0
    assert run_deadlines(factory, keys, date(2026, 10, 9)).unresolved == 1
    resolved = case_of(factory, case_id)
    assert (resolved.resolved_on, resolved.resolved_on_time) == (date(2026, 10, 9), True)


# --- KPIs -------------------------------------------------------------------------------------


@dataclass
class Filed:
    case_id: int
    item_id: int


def test_kpis_are_computed_from_the_cases(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    person: Person,
    by_bank: Furnish,
    bank: Institution,
    operator_key: str,
    auditor_key: str,
    lender_key: str,
) -> None:
    more = [f"KPI-{n}-{person.identifier[-6:]}" for n in range(3)]
    by_bank(*(account_row(person.identifier, key) for key in more))
    records = [person.loan, person.second_loan, *(by_bank.record_id(key) for key in more)]
    me = subject_principal(person.subject_id)
    furnisher = Principal(
        api_key_id=None,
        role=Role.FURNISHER,
        institution_id=bank.id,
        institution_code=bank.code,
        label="bank test key",
    )

    def file(record_id: int, day: date) -> Filed:
        with transaction(factory) as session:
            case = disputes.file_dispute(
                session,
                keys,
                CN,
                me,
                person.subject_id,
                DisputeFiling(record_ids=[record_id], reason_code=DisputeReason.OTHER, text="x"),
                now=at(day),
            )
            return Filed(case.id, disputes._items(session, case)[0].id)

    def confirm(filed: Filed, day: date) -> None:
        with transaction(factory) as session:
            disputes.answer_task(
                session,
                keys,
                furnisher,
                filed.item_id,
                TaskAnswer.model_validate({"outcome": "confirmed"}),
                now=at(day),
            )

    # Resolved at the deadline (unresolved): filed 2026-09-11, due Thursday 1 October (no
    # calendar is loaded here, so National Day is a working day), resolved the day after.
    file(records[0], date(2026, 9, 11))
    assert run_deadlines(factory, keys, date(2026, 10, 2)).unresolved == 1  # 21 days
    # Answered in time: 8 days.
    on_time = file(records[1], date(2026, 11, 2))
    confirm(on_time, date(2026, 11, 10))
    # Answered late: due 10-21, answered 10-25 (24 days).
    late = file(records[2], date(2026, 10, 1))
    confirm(late, date(2026, 10, 25))
    # Still open: one overdue (due 11-02), one not yet due (due 12-10).
    file(records[3], date(2026, 10, 12))
    file(records[4], date(2026, 11, 20))
    # Withdrawn.
    withdrawn = file(person.card, date(2026, 11, 25))
    with transaction(factory) as session:
        disputes.withdraw_dispute(session, me, withdrawn.case_id, "resolved with the bank")

    with factory() as session:
        kpis = disputes.dispute_kpis(session, date(2026, 11, 27))
        recent = disputes.dispute_kpis(session, date(2026, 11, 27), filed_from=date(2026, 11, 1))
    assert kpis.model_dump(exclude={"as_of"}) == {
        "cases_filed": 6,
        "cases_open": 2,
        "open_on_time": 1,
        "open_overdue": 1,
        "resolved": 3,
        "resolved_on_time": 2,
        "resolved_late": 1,
        "withdrawn": 1,
        "items_by_outcome": {"corrected": 0, "confirmed": 2, "deleted": 0, "unresolved": 1},
        "notification_overdue": 0,
        "median_days_to_resolve": 21.0,
    }
    assert (recent.cases_filed, recent.resolved, recent.median_days_to_resolve) == (3, 1, 8.0)

    # Over HTTP, for operators and auditors, as of the profile's today.
    for key in (operator_key, auditor_key):
        response = client.get("/v1/disputes/kpis", headers=auth(key))
        assert response.status_code == 200, response.text
        body = response.json()
        with factory() as session:
            expected = disputes.dispute_kpis(session, date.fromisoformat(body["as_of"]))
        assert body == expected.model_dump(mode="json")
    scoped = client.get("/v1/disputes/kpis?filed_from=2026-11-01", headers=auth(operator_key))
    assert scoped.json()["cases_filed"] == 3
    problem(client.get("/v1/disputes/kpis", headers=auth(lender_key)), 403, "role_not_permitted")
    problem(client.get("/v1/disputes/kpis", headers=auth(person.token)), 403, "role_not_permitted")


# --- the commands -----------------------------------------------------------------------------


@pytest.fixture
def xinyong(fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run `xinyong ARGS…` in this process against an empty database of its own."""
    yield cli_in_process(fresh_db_url, tmp_path, monkeypatch)
    get_settings.cache_clear()


def test_the_calendar_and_deadline_commands(xinyong: Any, tmp_path: Path) -> None:
    calendar_file = tmp_path / "cn-2026.csv"
    calendar_file.write_bytes(CN_2026)
    code, out, err = xinyong("calendar", "load", str(calendar_file))
    assert code == 0, err
    assert "cn 2026: 33 holidays, 6 working weekend days" in out
    code, out, _ = xinyong("calendar", "load", str(calendar_file))
    assert "(replaced the loaded year)" in out
    code, out, _ = xinyong("calendar", "show", "--jurisdiction", "cn", "--year", "2026")
    assert code == 0
    assert "2026-02-14 working_weekend" in out
    assert "2026-10-01 holiday" in out

    code, out, err = xinyong("disputes", "run-deadlines", "--today", "2026-12-01")
    assert code == 0, err
    assert out.startswith("2026-12-01: notified 0, notification overdue 0, deleted 0")
    code, out, err = xinyong("disputes", "kpis")
    assert code == 0, err
    assert '"cases_filed": 0' in out

    code, _, err = xinyong("disputes", "run-deadlines", "--today", "tomorrow")
    assert code == 2
    assert "--today must be a date" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("date,kind\n2026-01-01,holiday\n", encoding="utf-8")
    code, _, err = xinyong("calendar", "load", str(bad))
    assert code == 1
    assert "[invalid_calendar]" in err


def test_the_embedded_worker_runs_the_deadline_job_daily(
    db: Engine,
    settings: Settings,
    factory: sessionmaker[Session],
    keys: KeyRing,
    person: Person,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from xinyong.api import app as app_module

    jobs: list[Any] = []

    class RecordingWorker:
        def __init__(self, *args: Any, daily_jobs: Any = (), **kwargs: Any) -> None:
            jobs.extend(daily_jobs)

        def start(self) -> None:
            pass

        def stop(self) -> None:
            pass

    monkeypatch.setattr(app_module, "EventsWorker", RecordingWorker)
    embedded = settings.model_copy(update={"events_worker": "embedded"})
    with TestClient(create_app(embedded, engine=db, keys=keys)):
        pass
    (job,) = [job for job in jobs if getattr(job, "func", None) is disputes.run_dispute_deadlines]

    with transaction(factory) as session:
        case = disputes.file_dispute(
            session,
            keys,
            CN,
            subject_principal(person.subject_id),
            person.subject_id,
            DisputeFiling(record_ids=[person.loan], reason_code=DisputeReason.OTHER, text=TEXT),
            now=at(date(2026, 11, 2)),
        )
        case_id, due = case.id, case.due_on
    # The worker calls each daily job as job(session, today).
    with transaction(factory) as session:
        run = job(session, due + timedelta(days=1))
    assert run.unresolved == 1
    assert case_of(factory, case_id).status == "resolved"
