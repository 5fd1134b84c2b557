"""Disputes over real HTTP: filing flags the item at once, furnishers answer, reports show the
outcome (征信业管理条例 Art. 25; FCRA §1681i; RULES.md 10, 22)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from dispute_support import (
    PDF,
    TEXT,
    Person,
    answer,
    file_dispute,
    items_by_record,
    outbox_types,
    own_report,
    png_bytes,
    problem,
    task_of,
)
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from reports.helpers import issue, new_consent, querier
from support import account_row, auth
from xinyong.audit.models import AccessEvent, AuditEntry
from xinyong.db import transaction
from xinyong.identity.crypto import KeyRing
from xinyong.ingestion.models import IngestionBatch
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Role
from xinyong.records.models import RecordVersion
from xinyong.records.service import REASON_CONTEXT
from xinyong.reports.profiles import get_profile
from xinyong.rights.calendar import period_end, working_calendar
from xinyong.rights.disputes import EVIDENCE_CONTEXT, TEXT_CONTEXT
from xinyong.rights.evidence import MAX_EVIDENCE_BYTES
from xinyong.rights.models import DisputeCase, DisputeEvent, DisputeEvidence
from xinyong.rights.presence import RightsPresence, rights_presence
from xinyong.rights.service import add_statement

CN = get_profile("cn")


def _case_row(factory: sessionmaker[Session], case_id: int) -> DisputeCase:
    with factory() as session:
        case = session.get(DisputeCase, case_id)
        assert case is not None
        return case


def _versions(factory: sessionmaker[Session], record_id: int) -> list[RecordVersion]:
    with factory() as session:
        return list(
            session.scalars(
                select(RecordVersion)
                .where(RecordVersion.record_id == record_id)
                .order_by(RecordVersion.version)
            )
        )


# --- filing: the flag at once -----------------------------------------------------------------


def test_filing_flags_the_item_in_every_report_at_once(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    person: Person,
    lender: Institution,
) -> None:
    before = own_report(client, person.token)
    assert not any(item["disputed"] for item in items_by_record(before).values())
    assert before["annotations"]["disputes"] == []

    case = file_dispute(client, person.token, [person.loan], reason="wrong_status")
    assert case["status"] == "awaiting_furnisher"
    assert (case["filed_by"], case["reason_code"], case["text"]) == (
        "subject",
        "wrong_status",
        TEXT,
    )
    assert (case["profile"], case["profile_version"]) == ("cn", CN.version)
    filed_on = date.fromisoformat(case["filed_on"])
    rules = CN.dispute_rules(filed_on)
    with factory() as session:
        calendar = working_calendar(session, "cn")
    assert case["due_on"] == period_end(filed_on, rules.answer, calendar).isoformat()
    assert case["notify_by"] == period_end(filed_on, rules.furnisher_notice, calendar).isoformat()
    (item,) = case["items"]
    assert (item["record_id"], item["status"], item["furnisher_code"]) == (
        person.loan,
        "open",
        "bank-d",
    )
    assert [event["event"] for event in case["timeline"]] == ["opened", "furnisher_notified"]
    assert [event["version"] for event in case["timeline"]] == [1, 2]
    assert case["version"] == 2

    # The text is encrypted at rest.
    stored = _case_row(factory, case["id"])
    assert TEXT.encode() not in stored.text_ct
    assert keys.decrypt_text(stored.text_ct, TEXT_CONTEXT) == TEXT

    # Every report flags the item from now on: the subject's, an institution's, staff's.
    mine = own_report(client, person.token)
    by_record = items_by_record(mine)
    assert by_record[person.loan]["disputed"] is True
    assert by_record[person.second_loan]["disputed"] is False
    (annotation,) = mine["annotations"]["disputes"]
    assert annotation["record_id"] == person.loan
    assert annotation["status"] == "under_review"
    assert annotation["dispute_id"] == case["id"]
    assert annotation["outcome"] is None
    assert annotation["due_at"].startswith(case["due_on"])
    new_consent(factory, keys, lender, person.subject_id, ["loan_approval"])
    theirs = issue(factory, keys, querier(lender), person.subject_id, "loan_approval")
    flagged = {item.record_id for item in theirs.credit_accounts if item.disputed}
    assert flagged == {person.loan}
    assert [d.status for d in theirs.annotations.disputes] == ["under_review"]
    # A report as of yesterday was made before the dispute: no flag.
    yesterday = date.fromisoformat(mine["as_of"]) - timedelta(days=1)
    earlier = own_report(client, person.token, as_of=yesterday.isoformat())
    assert earlier["annotations"]["disputes"] == []
    # The HTML report shows the badge.
    html = client.get("/v1/portal/report?format=html", headers=auth(person.token))
    assert "异议中" in html.text

    assert outbox_types(factory, person.subject_id) == [
        "dispute.opened",
        "dispute.verification_requested",
    ]
    listed = client.get("/v1/portal/disputes", headers=auth(person.token)).json()
    assert [(c["id"], c["status"], c["items"]) for c in listed] == [
        (case["id"], "awaiting_furnisher", 1)
    ]


# --- the furnisher's answers ------------------------------------------------------------------


def test_the_furnisher_confirms_and_the_flag_goes(
    client: TestClient,
    factory: sessionmaker[Session],
    person: Person,
    bank_key: str,
    card_key: str,
) -> None:
    case = file_dispute(client, person.token, [person.loan, person.card])
    # Each furnisher sees its own task only.
    task = task_of(client, bank_key, person.loan)
    assert task["dispute_text"] == TEXT
    assert task["record_key"].startswith("LOAN-")
    assert (task["status"], task["due_on"], task["case_id"]) == ("open", case["due_on"], case["id"])
    assert [
        t["record_id"] for t in client.get("/v1/verification-tasks", headers=auth(card_key)).json()
    ] == [person.card]

    answered = answer(client, bank_key, task["id"], outcome="confirmed", note="已核对合同原件。")
    assert answered.status_code == 200, answered.text
    assert (answered.json()["status"], answered.json()["outcome"]) == ("resolved", "confirmed")
    assert client.get("/v1/verification-tasks", headers=auth(bank_key)).json() == []
    resolved = client.get("/v1/verification-tasks?status=resolved", headers=auth(bank_key)).json()
    assert [t["id"] for t in resolved] == [task["id"]]

    # Still open: the card. The loan's flag is gone, its outcome in the annotations.
    report = own_report(client, person.token, lang="en")
    by_record = items_by_record(report)
    assert by_record[person.loan]["disputed"] is False
    assert by_record[person.card]["disputed"] is True
    annotations = {a["record_id"]: a for a in report["annotations"]["disputes"]}
    assert annotations[person.loan]["status"] == "confirmed"
    assert annotations[person.loan]["outcome"] == "confirmed"
    assert "confirmed" in annotations[person.loan]["written_outcome"]
    assert "已核对合同原件" in annotations[person.loan]["written_outcome"]
    assert annotations[person.card]["status"] == "under_review"
    view = client.get(f"/v1/portal/disputes/{case['id']}", headers=auth(person.token)).json()
    assert view["status"] == "awaiting_furnisher"
    assert view["written_outcome"] is None

    card_task = task_of(client, card_key, person.card)
    assert answer(client, card_key, card_task["id"], outcome="confirmed").status_code == 200
    view = client.get(f"/v1/portal/disputes/{case['id']}", headers=auth(person.token)).json()
    assert (view["status"], view["outcome"], view["resolved_on_time"]) == (
        "resolved",
        "confirmed",
        True,
    )
    assert view["written_outcome"]["zh-CN"].startswith("关于您于")
    assert "核查说明：已核对合同原件。" in view["written_outcome"]["zh-CN"]
    assert view["written_outcome"]["en"].startswith(
        f"Written answer to your dispute no. {case['id']}"
    )
    assert [event["event"] for event in view["timeline"]] == [
        "opened",
        "furnisher_notified",
        "furnisher_notified",
        "answered",
        "answered",
        "resolved",
    ]
    assert [event["version"] for event in view["timeline"]] == list(range(1, 7))
    assert view["timeline"][3]["note"] == "已核对合同原件。"
    assert view["timeline"][3]["institution_code"] == "bank-d"
    assert all(event["actor"] is None for event in view["timeline"])  # staff only
    assert "dispute.resolved" in outbox_types(factory, person.subject_id)
    assert not any(
        i["disputed"] for i in items_by_record(own_report(client, person.token)).values()
    )

    # Answering twice is refused; another furnisher's task is not found.
    problem(
        answer(client, bank_key, task["id"], outcome="deleted"), 409, "verification_task_closed"
    )
    problem(
        answer(client, card_key, task["id"], outcome="confirmed"),
        404,
        "verification_task_not_found",
    )


def test_the_furnisher_corrects_with_fields_through_ingestion(
    client: TestClient, factory: sessionmaker[Session], person: Person, bank_key: str
) -> None:
    file_dispute(client, person.token, [person.loan], reason="wrong_amount")
    task = task_of(client, bank_key, person.loan)
    current = account_row(person.identifier)
    fields = {
        key: value
        for key, value in current.items()
        if not key.startswith("subject_") and key not in ("record_type", "record_key", "valid_from")
    }

    # The same fields change nothing; a bad field is rejected with the reasons.
    problem(
        answer(client, bank_key, task["id"], outcome="corrected", fields=fields),
        409,
        "correction_unchanged",
    )
    bad = answer(
        client, bank_key, task["id"], outcome="corrected", fields={**fields, "balance": "lots"}
    )
    body = problem(bad, 422, "correction_rejected")
    assert [error["field"] for error in body["errors"]] == ["balance"]
    envelope = answer(
        client, bank_key, task["id"], outcome="corrected", fields={**fields, "record_key": "X"}
    )
    problem(envelope, 422, "correction_rejected")
    # A correction gives fields or a version, not neither.
    problem(answer(client, bank_key, task["id"], outcome="corrected"), 422, "validation_error")
    problem(
        answer(client, bank_key, task["id"], outcome="confirmed", fields=fields),
        422,
        "validation_error",
    )
    assert len(_versions(factory, person.loan)) == 1  # nothing was written

    corrected = answer(
        client, bank_key, task["id"], outcome="corrected", fields={**fields, "balance": "11000.00"}
    )
    assert corrected.status_code == 200, corrected.text
    assert (corrected.json()["outcome"], corrected.json()["resulting_version"]) == ("corrected", 2)
    versions = _versions(factory, person.loan)
    assert [(v.version, v.operation) for v in versions] == [(1, "create"), (2, "correct")]
    assert versions[1].valid_from == versions[0].valid_from  # the fact's valid time is kept
    with factory() as session:
        batch = session.get(IngestionBatch, versions[1].batch_id)
        assert batch is not None
        assert (batch.source, batch.idempotency_key) == (
            "dispute",
            f"dispute-task:{task['id']}:corrected",
        )

    report = own_report(client, person.token)
    item = items_by_record(report)[person.loan]
    assert (item["version"], item["fields"]["balance"], item["disputed"]) == (2, "11000.00", False)
    (annotation,) = report["annotations"]["disputes"]
    assert (annotation["status"], annotation["outcome"]) == ("corrected", "corrected")
    assert "第 2 版" in annotation["written_outcome"]


def test_the_furnisher_corrects_through_ingestion_first_then_answers(
    client: TestClient, factory: sessionmaker[Session], person: Person, bank_key: str
) -> None:
    file_dispute(client, person.token, [person.loan])
    task = task_of(client, bank_key, person.loan)
    problem(
        answer(client, bank_key, task["id"], outcome="corrected", version=1),
        422,
        "validation_error",
    )
    problem(
        answer(client, bank_key, task["id"], outcome="corrected", version=2),
        422,
        "correction_version_invalid",
    )
    submitted = client.post(
        "/v1/ingestion/records",
        json=account_row(
            person.identifier,
            f"LOAN-{person.identifier[-6:]}",
            overdue_amount="0.00",
            balance="9000.00",
        ),
        headers=auth(bank_key),
    )
    assert submitted.status_code == 201, submitted.text
    # Still disputed until the furnisher answers.
    assert items_by_record(own_report(client, person.token))[person.loan]["disputed"] is True
    done = answer(client, bank_key, task["id"], outcome="corrected", version=2, note="余额更正。")
    assert done.status_code == 200, done.text
    item = items_by_record(own_report(client, person.token))[person.loan]
    assert (item["version"], item["fields"]["balance"], item["disputed"]) == (2, "9000.00", False)


def test_the_furnisher_deletes_with_a_tombstone(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    person: Person,
    bank_key: str,
    lender: Institution,
) -> None:
    case = file_dispute(client, person.token, [person.loan], reason="identity_theft")
    task = task_of(client, bank_key, person.loan)
    done = answer(client, bank_key, task["id"], outcome="deleted", note="Opened by an impostor.")
    assert done.status_code == 200, done.text
    versions = _versions(factory, person.loan)
    assert [(v.version, v.operation) for v in versions] == [(1, "create"), (2, "delete")]
    assert versions[1].reason_ct is not None
    reason = keys.decrypt_text(versions[1].reason_ct, REASON_CONTEXT)
    assert reason == f"dispute {case['id']}: deleted after verification: Opened by an impostor."

    # Gone from the file; the subject's report keeps the outcome, an institution's does not.
    mine = own_report(client, person.token)
    assert person.loan not in items_by_record(mine)
    (annotation,) = mine["annotations"]["disputes"]
    assert (annotation["record_id"], annotation["status"]) == (person.loan, "deleted")
    new_consent(factory, keys, lender, person.subject_id, ["loan_approval"])
    theirs = issue(factory, keys, querier(lender), person.subject_id, "loan_approval")
    assert person.loan not in {item.record_id for item in theirs.credit_accounts}
    assert theirs.annotations.disputes == []
    # A deleted record cannot be disputed again.
    again = client.post(
        "/v1/portal/disputes",
        json={"record_ids": [person.loan], "reason_code": "other", "text": "again"},
        headers=auth(person.token),
    )
    problem(again, 409, "record_deleted")


# --- bad filings ------------------------------------------------------------------------------


def test_bad_filings_are_problems(
    client: TestClient,
    person: Person,
    other_person: Person,
    operator_key: str,
) -> None:
    def portal(**body: Any) -> Any:
        payload = {"record_ids": [person.loan], "reason_code": "not_mine", "text": TEXT, **body}
        return client.post("/v1/portal/disputes", json=payload, headers=auth(person.token))

    problem(portal(record_ids=[987654]), 404, "record_not_found")
    # Someone else's record: the same answer as a missing one.
    body = problem(portal(record_ids=[other_person.loan]), 404, "record_not_found")
    assert body["record_id"] == other_person.loan
    problem(portal(record_ids=[person.loan, person.loan]), 422, "invalid_dispute")
    problem(portal(text="   "), 422, "invalid_dispute")
    problem(portal(reason_code="bad_luck"), 422, "validation_error")
    problem(portal(record_ids=[]), 422, "validation_error")
    # An operator naming another subject's record learns why.
    on_behalf = {
        "subject": {"subject_id": person.subject_id},
        "record_ids": [other_person.loan],
        "reason_code": "not_mine",
        "text": TEXT,
    }
    problem(
        client.post("/v1/disputes", json=on_behalf, headers=auth(operator_key)),
        422,
        "record_not_of_subject",
    )

    first = file_dispute(client, person.token, [person.loan])
    body = problem(
        portal(record_ids=[person.second_loan, person.loan]), 409, "dispute_already_open"
    )
    assert (body["record_id"], body["case_id"]) == (person.loan, first["id"])
    # Nothing of the refused filing remains.
    assert len(client.get("/v1/portal/disputes", headers=auth(person.token)).json()) == 1


def test_a_resolved_item_may_be_disputed_again(
    client: TestClient, person: Person, bank_key: str
) -> None:
    file_dispute(client, person.token, [person.loan])
    task = task_of(client, bank_key, person.loan)
    assert answer(client, bank_key, task["id"], outcome="confirmed").status_code == 200
    second = file_dispute(
        client, person.token, [person.loan], reason="wrong_dates", text="新的情况。"
    )
    assert second["status"] == "awaiting_furnisher"
    annotations = own_report(client, person.token)["annotations"]["disputes"]
    assert [a["status"] for a in annotations] == ["confirmed", "under_review"]


# --- on the subject's behalf ------------------------------------------------------------------


def test_operators_and_consented_institutions_file_on_behalf(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    person: Person,
    lender: Institution,
    lender_key: str,
    operator_key: str,
    make_institution: Any,
    make_key: Any,
) -> None:
    body = {
        "subject": {"identifier_type": "resident_id", "identifier": person.identifier},
        "record_ids": [person.loan],
        "reason_code": "paid_or_settled",
        "text": "已于上月结清。",
    }
    problem(
        client.post("/v1/disputes", json=body, headers=auth(lender_key)), 403, "consent_required"
    )
    new_consent(factory, keys, lender, person.subject_id, ["loan_approval"])
    filed = client.post("/v1/disputes", json=body, headers=auth(lender_key))
    assert filed.status_code == 201, filed.text
    case = filed.json()
    assert (case["filed_by"], case["filed_by_institution_code"]) == ("institution", "lender-f")
    assert [c["id"] for c in client.get("/v1/disputes", headers=auth(lender_key)).json()] == [
        case["id"]
    ]
    assert client.get(f"/v1/disputes/{case['id']}", headers=auth(lender_key)).status_code == 200
    # The filer adds information and evidence; another institution sees nothing.
    info = client.post(
        f"/v1/disputes/{case['id']}/information",
        json={"text": "结清证明已上传。"},
        headers=auth(lender_key),
    )
    assert info.status_code == 200, info.text
    stranger = make_institution("lender-g", purposes=["loan_approval"])
    stranger_key = make_key(Role.QUERIER, stranger)
    problem(
        client.get(f"/v1/disputes/{case['id']}", headers=auth(stranger_key)),
        404,
        "dispute_not_found",
    )
    assert client.get("/v1/disputes", headers=auth(stranger_key)).json() == []
    problem(
        client.post(f"/v1/disputes/{case['id']}/withdrawal", json={}, headers=auth(stranger_key)),
        404,
        "dispute_not_found",
    )
    # The subject sees the case in the portal too.
    assert (
        client.get(f"/v1/portal/disputes/{case['id']}", headers=auth(person.token)).status_code
        == 200
    )

    # An operator files for any subject; the action is audited.
    body["record_ids"] = [person.card]
    by_operator = client.post("/v1/disputes", json=body, headers=auth(operator_key))
    assert by_operator.status_code == 201, by_operator.text
    assert by_operator.json()["filed_by"] == "operator"
    with factory() as session:
        audits = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "dispute.file")
        ).all()
    assert [(a.target_type, a.target_id) for a in audits] == [
        ("dispute", str(by_operator.json()["id"]))
    ]
    listed = client.get(
        f"/v1/disputes?subject_id={person.subject_id}", headers=auth(operator_key)
    ).json()
    assert len(listed) == 2


# --- who sees the timeline --------------------------------------------------------------------


def test_the_timeline_per_role(
    client: TestClient,
    factory: sessionmaker[Session],
    person: Person,
    other_person: Person,
    bank_key: str,
    card_key: str,
    operator_key: str,
    auditor_key: str,
    make_institution: Any,
    make_key: Any,
) -> None:
    case = file_dispute(client, person.token, [person.loan, person.card])
    path = f"/v1/disputes/{case['id']}"

    mine = client.get(f"/v1/portal/disputes/{case['id']}", headers=auth(person.token)).json()
    assert {item["record_id"] for item in mine["items"]} == {person.loan, person.card}
    assert len(mine["timeline"]) == 3

    # A furnisher sees its own item and the case's events, not the other furnisher's.
    bank_view = client.get(path, headers=auth(bank_key))
    assert bank_view.status_code == 200, bank_view.text
    assert [item["record_id"] for item in bank_view.json()["items"]] == [person.loan]
    assert [e["event"] for e in bank_view.json()["timeline"]] == ["opened", "furnisher_notified"]
    assert bank_view.json()["text"] == TEXT
    card_view = client.get(path, headers=auth(card_key)).json()
    assert [item["record_id"] for item in card_view["items"]] == [person.card]
    idle = make_institution("bank-idle", record_types=["credit_account"])
    problem(
        client.get(path, headers=auth(make_key(Role.FURNISHER, idle))), 404, "dispute_not_found"
    )

    # Staff see everything, with who acted; their reads are recorded.
    staff = client.get(path, headers=auth(operator_key)).json()
    assert len(staff["timeline"]) == 3
    assert staff["timeline"][1]["actor"] == "scheduler"
    assert staff["timeline"][0]["role"] == "subject"
    assert staff["timeline"][0]["actor"].startswith("subject account")
    assert client.get(path, headers=auth(auditor_key)).status_code == 200
    with factory() as session:
        reads = session.scalars(
            select(AccessEvent).where(AccessEvent.action == "dispute.read")
        ).all()
    assert [(r.role, r.subject_id, r.details) for r in reads] == [
        ("operator", person.subject_id, {"case_id": case["id"]}),
        ("auditor", person.subject_id, {"case_id": case["id"]}),
    ]

    # Another subject, and the wrong roles.
    problem(
        client.get(f"/v1/portal/disputes/{case['id']}", headers=auth(other_person.token)),
        404,
        "dispute_not_found",
    )
    problem(client.get(path, headers=auth(person.token)), 403, "role_not_permitted")
    problem(
        client.get("/v1/verification-tasks", headers=auth(operator_key)), 403, "role_not_permitted"
    )
    problem(client.get("/v1/disputes", headers=auth(bank_key)), 403, "role_not_permitted")
    problem(client.post("/v1/disputes", json={}, headers=auth(bank_key)), 403, "role_not_permitted")


# --- withdrawal and information ---------------------------------------------------------------


def test_a_withdrawn_dispute_loses_its_flags(
    client: TestClient, factory: sessionmaker[Session], person: Person, bank_key: str
) -> None:
    case = file_dispute(client, person.token, [person.loan, person.second_loan])
    task = task_of(client, bank_key, person.loan)
    assert answer(client, bank_key, task["id"], outcome="confirmed").status_code == 200
    withdrawn = client.post(
        f"/v1/portal/disputes/{case['id']}/withdrawal",
        json={"reason": "已与银行协商解决"},
        headers=auth(person.token),
    )
    assert withdrawn.status_code == 200, withdrawn.text
    view = withdrawn.json()
    assert view["status"] == "withdrawn"
    assert [item["status"] for item in view["items"]] == ["resolved", "withdrawn"]
    assert view["timeline"][-1]["event"] == "withdrawn"
    assert view["timeline"][-1]["reason"] == "已与银行协商解决"
    report = own_report(client, person.token)
    assert not any(item["disputed"] for item in items_by_record(report).values())
    # The answered item keeps its outcome.
    assert [(a["record_id"], a["status"]) for a in report["annotations"]["disputes"]] == [
        (person.loan, "confirmed")
    ]
    assert client.get("/v1/verification-tasks", headers=auth(bank_key)).json() == []
    second = [
        t
        for t in client.get("/v1/verification-tasks?status=all", headers=auth(bank_key)).json()
        if t["record_id"] == person.second_loan
    ]
    assert second[0]["status"] == "withdrawn"
    problem(
        answer(client, bank_key, second[0]["id"], outcome="confirmed"),
        409,
        "verification_task_closed",
    )
    problem(
        client.post(
            f"/v1/portal/disputes/{case['id']}/withdrawal", json={}, headers=auth(person.token)
        ),
        409,
        "dispute_closed",
    )
    problem(
        client.post(
            f"/v1/portal/disputes/{case['id']}/information",
            json={"text": "x"},
            headers=auth(person.token),
        ),
        409,
        "dispute_closed",
    )
    assert "dispute.withdrawn" in outbox_types(factory, person.subject_id)
    # The item may be disputed again.
    file_dispute(client, person.token, [person.second_loan])


def test_information_extends_a_us_deadline_once(us_client: TestClient, person: Person) -> None:
    case = file_dispute(us_client, person.token, [person.loan])
    filed_on = date.fromisoformat(case["filed_on"])
    # FCRA: 30 days beginning on the day of receipt.
    assert case["due_on"] == (filed_on + timedelta(days=29)).isoformat()
    added = us_client.post(
        f"/v1/portal/disputes/{case['id']}/information",
        json={"text": "Attached: my bank statement showing the payment."},
        headers=auth(person.token),
    )
    assert added.status_code == 200, added.text
    view = added.json()
    assert view["original_due_on"] == case["due_on"]
    assert view["due_on"] == (filed_on + timedelta(days=44)).isoformat()
    assert view["extended_on"] is not None
    assert [e["event"] for e in view["timeline"]][-2:] == ["information_added", "deadline_extended"]
    assert view["timeline"][-2]["note"] == "Attached: my bank statement showing the payment."
    assert view["timeline"][-1]["details"] == {"from": case["due_on"], "to": view["due_on"]}
    again = us_client.post(
        f"/v1/portal/disputes/{case['id']}/information",
        json={"text": "One more thing."},
        headers=auth(person.token),
    ).json()
    assert again["due_on"] == view["due_on"]  # extended once only


def test_information_does_not_extend_a_cn_deadline(
    client: TestClient, person: Person, bank_key: str
) -> None:
    case = file_dispute(client, person.token, [person.loan])
    view = client.post(
        f"/v1/portal/disputes/{case['id']}/information",
        json={"text": "补充：还款凭证编号 20261101。"},
        headers=auth(person.token),
    ).json()
    assert (view["due_on"], view["extended_on"]) == (case["due_on"], None)
    task = task_of(client, bank_key, person.loan)
    assert task["information"] == ["补充：还款凭证编号 20261101。"]


# --- evidence ---------------------------------------------------------------------------------


def test_evidence_is_checked_hashed_and_encrypted(
    client: TestClient,
    factory: sessionmaker[Session],
    person: Person,
    other_person: Person,
    bank_key: str,
    card_key: str,
) -> None:
    import hashlib

    case = file_dispute(client, person.token, [person.loan])
    base = f"/v1/portal/disputes/{case['id']}/evidence"

    raw = client.post(
        f"{base}?filename=结清证明.pdf",
        content=PDF,
        headers={**auth(person.token), "Content-Type": "application/pdf"},
    )
    assert raw.status_code == 201, raw.text
    pdf = raw.json()
    assert (pdf["content_type"], pdf["size"], pdf["filename"]) == (
        "application/pdf",
        len(PDF),
        "结清证明.pdf",
    )
    assert pdf["sha256"] == hashlib.sha256(PDF).hexdigest()
    image = png_bytes()
    form = client.post(
        base, files={"file": ("receipt.png", image, "image/png")}, headers=auth(person.token)
    )
    assert form.status_code == 201, form.text
    assert form.json()["sha256"] == hashlib.sha256(image).hexdigest()

    with factory() as session:
        stored = session.get(DisputeEvidence, pdf["id"])
        assert stored is not None
        assert PDF not in stored.content_ct
        assert stored.filename_ct is not None
        assert "结清证明".encode() not in stored.filename_ct

    # Refusals: too large, a type not allowed, a renamed file, an empty file.
    big = PDF + b"0" * MAX_EVIDENCE_BYTES
    too_big = client.post(
        base, content=big, headers={**auth(person.token), "Content-Type": "application/pdf"}
    )
    problem(too_big, 413, "evidence_too_large")
    text = client.post(
        base, content=b"hello", headers={**auth(person.token), "Content-Type": "text/plain"}
    )
    assert problem(text, 415, "evidence_type_not_allowed")["allowed"] == [
        "application/pdf",
        "image/png",
        "image/jpeg",
    ]
    renamed = client.post(
        base, files={"file": ("photo.pdf", image, "application/pdf")}, headers=auth(person.token)
    )
    problem(renamed, 415, "evidence_type_not_allowed")
    problem(
        client.post(base, content=b"", headers={**auth(person.token), "Content-Type": "image/png"}),
        422,
        "invalid_dispute",
    )
    problem(
        client.post(
            f"/v1/portal/disputes/{case['id']}/evidence",
            content=PDF,
            headers={**auth(other_person.token), "Content-Type": "application/pdf"},
        ),
        404,
        "dispute_not_found",
    )

    # The subject and the case's furnisher read it back; the furnisher's read is recorded.
    own = client.get(f"{base}/{pdf['id']}", headers=auth(person.token))
    assert (own.status_code, own.content) == (200, PDF)
    assert own.headers["content-type"] == "application/pdf"
    assert own.headers["x-content-sha256"] == pdf["sha256"]
    assert "filename*=UTF-8''" in own.headers["content-disposition"]
    furnisher = client.get(
        f"/v1/disputes/{case['id']}/evidence/{pdf['id']}", headers=auth(bank_key)
    )
    assert (furnisher.status_code, furnisher.content) == (200, PDF)
    problem(
        client.get(f"/v1/disputes/{case['id']}/evidence/{pdf['id']}", headers=auth(card_key)),
        404,
        "dispute_not_found",
    )
    problem(client.get(f"{base}/999999", headers=auth(person.token)), 404, "evidence_not_found")
    with factory() as session:
        reads = session.scalars(
            select(AccessEvent).where(AccessEvent.action == "dispute.evidence.read")
        ).all()
        assert [(r.role, r.subject_id) for r in reads] == [("furnisher", person.subject_id)]
        events = session.scalars(
            select(DisputeEvent.details).where(
                DisputeEvent.case_id == case["id"], DisputeEvent.event == "evidence_added"
            )
        ).all()
    assert [e["sha256"] for e in events] == [pdf["sha256"], form.json()["sha256"]]
    task = task_of(client, bank_key, person.loan)
    assert [e["id"] for e in task["evidence"]] == [pdf["id"], form.json()["id"]]


def test_evidence_content_decrypts_to_the_upload(
    client: TestClient, factory: sessionmaker[Session], keys: KeyRing, person: Person
) -> None:
    case = file_dispute(client, person.token, [person.loan])
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"
    response = client.post(
        f"/v1/portal/disputes/{case['id']}/evidence",
        content=jpeg,
        headers={**auth(person.token), "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 201, response.text
    with factory() as session:
        stored = session.get(DisputeEvidence, response.json()["id"])
        assert stored is not None
        assert keys.decrypt(stored.content_ct, EVIDENCE_CONTEXT) == jpeg
    with transaction(factory) as session:
        row = session.get(DisputeEvidence, response.json()["id"])
        assert row is not None
        assert row.uploaded_by == "subject"


@pytest.mark.parametrize("count", [10])
def test_a_case_holds_at_most_ten_evidence_files(
    client: TestClient, person: Person, count: int
) -> None:
    case = file_dispute(client, person.token, [person.loan])
    headers = {**auth(person.token), "Content-Type": "application/pdf"}
    for _ in range(count):
        response = client.post(
            f"/v1/portal/disputes/{case['id']}/evidence", content=PDF, headers=headers
        )
        assert response.status_code == 201, response.text
    problem(
        client.post(f"/v1/portal/disputes/{case['id']}/evidence", content=PDF, headers=headers),
        409,
        "evidence_limit_reached",
    )


def test_rights_presence_says_what_a_report_must_read(
    client: TestClient, factory: sessionmaker[Session], keys: KeyRing, person: Person
) -> None:
    """One query tells whether the subject has statements, disputes or repaired records."""

    def presence() -> RightsPresence:
        with factory() as session:
            return rights_presence(session, person.subject_id)

    assert presence() == RightsPresence(statements=False, disputes=False, repairs=False)
    with transaction(factory) as session:
        add_statement(session, keys, person.subject_id, person.card, TEXT, made_by="subject")
    assert presence() == RightsPresence(statements=True, disputes=False, repairs=False)
    case = file_dispute(client, person.token, [person.loan])
    assert presence() == RightsPresence(statements=True, disputes=True, repairs=False)
    # A withdrawn dispute still counts: earlier reports show it as it stood.
    withdrawn = client.post(
        f"/v1/portal/disputes/{case['id']}/withdrawal",
        json={"reason": "已解决"},
        headers=auth(person.token),
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert presence().disputes
