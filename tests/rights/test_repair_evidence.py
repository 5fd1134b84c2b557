"""Credit repair evidence files: uploaded, checked, encrypted, listed, read, on the timeline;
only files meet the ``obligations_performed`` condition."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from dispute_support import PDF, Person, png_bytes, problem
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from test_repair import COMMITMENT, add_file, application, apply, make_entry, months_ago

from reports.helpers import make_subject, operator, subject_principal
from support import auth, new_uscc
from xinyong import migrate
from xinyong.audit.models import AccessEvent, AuditEntry
from xinyong.db import make_engine, transaction, utcnow
from xinyong.events.models import OutboxEvent
from xinyong.identity.crypto import KeyRing
from xinyong.rights import evidence, repair
from xinyong.rights.models import RepairCase, RepairEvent, RepairEvidence

PORTAL = "/v1/portal/repairs"


def file_own(client: TestClient, person: Person, entry_id: int) -> dict[str, Any]:
    """The person applies through the portal, with a text reference but no file yet."""
    response = client.post(
        PORTAL,
        json={
            "target_kind": "list_entry",
            "target_id": entry_id,
            "evidence": ["判决已履行，执行款收据 2026-05-01"],
            "commitment": COMMITMENT,
            "commitment_signed": True,
        },
        headers=auth(person.token),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def listed(person: Person, factory: sessionmaker[Session]) -> int:
    """A list entry of the person that may be repaired."""
    return make_entry(
        factory, person.subject_id, "serious_dishonesty", "refuses_obligation", months_ago(6)
    )


def met(case: dict[str, Any], code: str = "obligations_performed") -> dict[str, Any]:
    (condition,) = [c for c in case["conditions"] if c["code"] == code]
    return dict(condition)


def state(factory: sessionmaker[Session], case_id: int) -> tuple[int, int, int, str]:
    """Files, events and version of the case, and its status: what a refusal must not change."""
    with factory() as session:
        case = session.get(RepairCase, case_id)
        assert case is not None
        files = session.scalar(
            select(func.count())
            .select_from(RepairEvidence)
            .where(RepairEvidence.case_id == case_id)
        )
        events = session.scalar(
            select(func.count()).select_from(RepairEvent).where(RepairEvent.case_id == case_id)
        )
        return int(files or 0), int(events or 0), case.version, case.status


def test_the_subject_uploads_evidence_and_the_condition_is_met(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    person: Person,
) -> None:
    entry_id = listed(person, factory)
    case = file_own(client, person, entry_id)
    # Filed with a text reference only: the evidence is missing, and the case says why.
    assert case["missing"] == ["obligations_performed"]
    assert not met(case)["met"]
    assert "upload the files" in met(case)["detail"]
    assert case["evidence"] == ["判决已履行，执行款收据 2026-05-01"]
    assert case["evidence_files"] == []
    base = f"{PORTAL}/{case['id']}/evidence"

    raw = client.post(
        f"{base}?filename=执行款收据.pdf",
        content=PDF,
        headers={**auth(person.token), "Content-Type": "application/pdf"},
    )
    assert raw.status_code == 201, raw.text
    pdf = raw.json()
    assert (pdf["filename"], pdf["content_type"], pdf["size"], pdf["uploaded_by"]) == (
        "执行款收据.pdf",
        "application/pdf",
        len(PDF),
        "subject",
    )
    assert pdf["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert pdf["uploaded_at"]
    image = png_bytes()
    form = client.post(
        base, files={"file": ("收据.png", image, "image/png")}, headers=auth(person.token)
    )
    assert form.status_code == 201, form.text
    assert (form.json()["filename"], form.json()["sha256"]) == (
        "收据.png",
        hashlib.sha256(image).hexdigest(),
    )

    # The case lists the files; the condition is met and names them.
    case = client.get(f"{PORTAL}/{case['id']}", headers=auth(person.token)).json()
    assert [f["id"] for f in case["evidence_files"]] == [pdf["id"], form.json()["id"]]
    assert case["evidence_files"][0] == pdf
    assert case["missing"] == []
    assert met(case)["met"]
    assert met(case)["ids"] == [pdf["id"], form.json()["id"]]
    assert case["version"] == 3

    # Each upload is an event of the timeline, with the hash and what was still missing.
    added = [e for e in case["timeline"] if e["event"] == "evidence_added"]
    assert [e["event"] for e in case["timeline"]] == ["filed", "evidence_added", "evidence_added"]
    assert [(e["role"], e["details"]["evidence_id"], e["details"]["sha256"]) for e in added] == [
        ("subject", pdf["id"], pdf["sha256"]),
        ("subject", form.json()["id"], form.json()["sha256"]),
    ]
    assert added[0]["details"]["missing"] == []
    assert added[0]["version"] == 2

    # Encrypted at rest; the outbox says which file, never its hash or name.
    with factory() as session:
        stored = session.get(RepairEvidence, pdf["id"])
        assert stored is not None
        assert PDF not in stored.content_ct
        assert stored.filename_ct is not None
        assert "执行款收据".encode() not in stored.filename_ct
        assert keys.decrypt(stored.content_ct, repair.EVIDENCE_FILES.content) == PDF
        assert stored.sha256 == pdf["sha256"]
        payloads = session.scalars(
            select(OutboxEvent.payload)
            .where(
                OutboxEvent.event_type == "repair.evidence_added",
                OutboxEvent.subject_id == person.subject_id,
            )
            .order_by(OutboxEvent.id)
        ).all()
    assert [p["evidence_id"] for p in payloads] == [pdf["id"], form.json()["id"]]
    assert all("sha256" not in p and "filename" not in p for p in payloads)

    # The subject reads its file back as uploaded.
    own = client.get(f"{base}/{pdf['id']}", headers=auth(person.token))
    assert (own.status_code, own.content) == (200, PDF)
    assert own.headers["content-type"] == "application/pdf"
    assert own.headers["x-content-sha256"] == pdf["sha256"]
    assert own.headers["content-disposition"].startswith("attachment")


def test_refused_uploads_change_nothing(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    person: Person,
    other_person: Person,
) -> None:
    entry_id = listed(person, factory)
    case = file_own(client, person, entry_id)
    base = f"{PORTAL}/{case['id']}/evidence"
    headers = auth(person.token)
    before = state(factory, case["id"])

    too_big = client.post(
        base,
        content=PDF + b"0" * evidence.MAX_EVIDENCE_BYTES,
        headers={**headers, "Content-Type": "application/pdf"},
    )
    assert problem(too_big, 413, "evidence_too_large")["limit"] == evidence.MAX_EVIDENCE_BYTES
    text = client.post(base, content=b"paid", headers={**headers, "Content-Type": "text/plain"})
    assert problem(text, 415, "evidence_type_not_allowed")["allowed"] == [
        "application/pdf",
        "image/png",
        "image/jpeg",
    ]
    # The content decides, not the name or the declared type.
    renamed = client.post(
        base, files={"file": ("receipt.pdf", png_bytes(), "application/pdf")}, headers=headers
    )
    problem(renamed, 415, "evidence_type_not_allowed")
    problem(
        client.post(base, content=b"", headers={**headers, "Content-Type": "image/png"}),
        422,
        "invalid_evidence",
    )
    problem(
        client.post(base, files={"other": ("a.pdf", PDF, "application/pdf")}, headers=headers),
        422,
        "invalid_evidence",
    )
    # Another subject's case looks like no case at all.
    problem(
        client.post(
            base,
            content=PDF,
            headers={**auth(other_person.token), "Content-Type": "application/pdf"},
        ),
        404,
        "repair_not_found",
    )
    assert state(factory, case["id"]) == before


def test_a_closed_case_takes_no_evidence_until_appealed(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    person: Person,
    operator_key: str,
) -> None:
    entry_id = listed(person, factory)
    case = file_own(client, person, entry_id)
    staff = auth(operator_key)
    assert client.post(f"/v1/repairs/{case['id']}/acknowledge", headers=staff).status_code == 200
    # Approval needs the evidence files.
    problem(
        client.post(
            f"/v1/repairs/{case['id']}/decide",
            json={"decision": "approved", "reason": "performed"},
            headers=staff,
        ),
        409,
        "repair_conditions_not_met",
    )
    rejected = client.post(
        f"/v1/repairs/{case['id']}/decide",
        json={"decision": "rejected", "reason": "no proof of payment"},
        headers=staff,
    )
    assert rejected.json()["status"] == "rejected", rejected.text
    upload = {**auth(person.token), "Content-Type": "application/pdf"}
    before = state(factory, case["id"])
    closed = problem(
        client.post(f"{PORTAL}/{case['id']}/evidence", content=PDF, headers=upload),
        409,
        "repair_closed",
    )
    assert closed["case_status"] == "rejected"
    assert "appeal" in closed["detail"]
    assert state(factory, case["id"]) == before

    # Appealed, the case is open again: the subject adds the file and the operator approves.
    appealed = client.post(
        f"{PORTAL}/{case['id']}/appeal",
        json={"reason": "receipt attached"},
        headers=auth(person.token),
    )
    assert appealed.json()["status"] == "appealed", appealed.text
    added = client.post(f"{PORTAL}/{case['id']}/evidence", content=PDF, headers=upload)
    assert added.status_code == 201, added.text
    approved = client.post(
        f"/v1/repairs/{case['id']}/appeal-decision",
        json={"decision": "approved", "reason": "receipt verified"},
        headers=staff,
    )
    assert approved.json()["status"] == "approved", approved.text
    problem(
        client.post(f"{PORTAL}/{case['id']}/evidence", content=PDF, headers=upload),
        409,
        "repair_closed",
    )
    events = [e["event"] for e in approved.json()["timeline"]]
    assert events == [
        "filed",
        "acknowledged",
        "decided",
        "appealed",
        "evidence_added",
        "appeal_decided",
    ]


def test_operators_upload_and_download_subjects_and_auditors_do_not_see_others(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    person: Person,
    other_person: Person,
    operator_key: str,
    auditor_key: str,
) -> None:
    entry_id = listed(person, factory)
    case = file_own(client, person, entry_id)
    uploaded = client.post(
        f"/v1/repairs/{case['id']}/evidence?filename=court-certificate.pdf",
        content=PDF,
        headers={**auth(operator_key), "Content-Type": "application/pdf"},
    )
    assert uploaded.status_code == 201, uploaded.text
    file = uploaded.json()
    assert file["uploaded_by"] == "operator"
    path = f"/v1/repairs/{case['id']}/evidence/{file['id']}"

    download = client.get(path, headers=auth(operator_key))
    assert (download.status_code, download.content) == (200, PDF)
    assert download.headers["x-content-sha256"] == hashlib.sha256(PDF).hexdigest()
    assert "court-certificate.pdf" in download.headers["content-disposition"]
    own = client.get(f"{PORTAL}/{case['id']}/evidence/{file['id']}", headers=auth(person.token))
    assert (own.status_code, own.content) == (200, PDF)
    problem(
        client.get(
            f"{PORTAL}/{case['id']}/evidence/{file['id']}", headers=auth(other_person.token)
        ),
        404,
        "repair_not_found",
    )
    problem(client.get(path, headers=auth(auditor_key)), 403, "role_not_permitted")
    problem(
        client.post(
            f"/v1/repairs/{case['id']}/evidence",
            content=PDF,
            headers={**auth(auditor_key), "Content-Type": "application/pdf"},
        ),
        403,
        "role_not_permitted",
    )
    problem(
        client.get(f"/v1/repairs/{case['id']}/evidence/999999", headers=auth(operator_key)),
        404,
        "evidence_not_found",
    )
    # Auditors see the files listed with the case, without their names.
    audited = client.get(f"/v1/repairs/{case['id']}", headers=auth(auditor_key)).json()
    assert [(f["id"], f["filename"], f["sha256"]) for f in audited["evidence_files"]] == [
        (file["id"], None, file["sha256"])
    ]
    cases = client.get("/v1/repairs", headers=auth(operator_key)).json()
    assert [f["filename"] for f in cases[0]["evidence_files"]] == ["court-certificate.pdf"]

    # The operator's upload is audited; its read (not the subject's) is in the access log.
    with factory() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.target_type == "repair", AuditEntry.target_id == str(case["id"])
            )
        ).all()
        reads = session.scalars(
            select(AccessEvent).where(AccessEvent.action == "repair.evidence.read")
        ).all()
    assert "repair.evidence.add" in actions
    assert [(r.role, r.subject_id, r.details["evidence_id"]) for r in reads] == [
        ("operator", person.subject_id, file["id"])
    ]


def test_a_case_holds_at_most_ten_files(factory: sessionmaker[Session], keys: KeyRing) -> None:
    subject_id = make_subject(factory, keys, "uscc", new_uscc())
    entry_id = make_entry(
        factory, subject_id, "abnormal_operations", "no_annual_report", months_ago(2)
    )
    view = apply(factory, keys, subject_id, application("list_entry", entry_id))
    for _ in range(evidence.MAX_EVIDENCE_FILES):
        add_file(factory, keys, view.id)
    with transaction(factory) as session, pytest.raises(evidence.EvidenceLimitError):
        repair.add_evidence(
            session, keys, operator(), view.id, content=PDF, content_type="application/pdf"
        )
    # A subject may not add to another subject's case, nor an auditor at all.
    with transaction(factory) as session, pytest.raises(repair.RepairNotFoundError):
        repair.add_evidence(
            session,
            keys,
            subject_principal(subject_id + 10_000),
            view.id,
            content=PDF,
            content_type="application/pdf",
        )


def test_the_migration_marks_open_applications_without_files(fresh_db_url: str) -> None:
    """0009: a kept check met by text references is marked missing for open applications.

    Rows are written with SQL of the 0008 schema (later revisions may add columns)."""
    subjects = sa.table(
        "subjects",
        sa.column("id", sa.Integer()),
        sa.column("kind", sa.String()),
        sa.column("id_type", sa.String()),
        sa.column("identifier_index", sa.LargeBinary()),
        sa.column("identifier_ct", sa.LargeBinary()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    cases = sa.table(
        "repair_cases",
        *(
            sa.column(name, kind)
            for name, kind in {
                "id": sa.Integer(),
                "subject_id": sa.Integer(),
                "target_kind": sa.String(),
                "status": sa.String(),
                "version": sa.Integer(),
                "filed_by": sa.String(),
                "commitment_ct": sa.LargeBinary(),
                "evidence_ct": sa.LargeBinary(),
                "conditions": sa.JSON(),
                "profile": sa.String(),
                "profile_version": sa.String(),
                "rules": sa.JSON(),
                "filed_at": sa.DateTime(timezone=True),
                "filed_on": sa.Date(),
                "acknowledge_by": sa.Date(),
                "appeals_used": sa.Integer(),
            }.items()
        ),
    )
    kept = [
        {"code": "entry_active", "met": True, "checked": "automatic", "detail": "x"},
        {"code": "obligations_performed", "met": True, "checked": "declared", "detail": "y"},
    ]
    engine: Engine = make_engine(fresh_db_url)
    try:
        migrate.upgrade(engine, "0008")
        now = utcnow()
        with engine.begin() as connection:
            connection.execute(
                subjects.insert().values(
                    id=1,
                    kind="enterprise",
                    id_type="uscc",
                    identifier_index=b"i" * 32,
                    identifier_ct=b"x",
                    created_at=now,
                )
            )
            for case_id, status in ((1, "submitted"), (2, "approved")):
                connection.execute(
                    cases.insert().values(
                        id=case_id,
                        subject_id=1,
                        target_kind="list_entry",
                        status=status,
                        version=1,
                        filed_by="operator",
                        commitment_ct=b"x",
                        evidence_ct=b"x",
                        conditions=kept,
                        profile="cn",
                        profile_version="1",
                        rules={},
                        filed_at=now,
                        filed_on=now.date(),
                        acknowledge_by=now.date() + timedelta(days=14),
                        appeals_used=0,
                    )
                )
        migrate.upgrade(engine, "0009")
        with engine.connect() as connection:
            rows = connection.execute(sa.select(cases.c.status, cases.c.conditions)).all()
        found = {status: {c["code"]: c["met"] for c in kept_} for status, kept_ in rows}
        assert found == {
            "submitted": {"entry_active": True, "obligations_performed": False},
            "approved": {"entry_active": True, "obligations_performed": True},
        }
        migrate.downgrade(engine, "0008")
        migrate.upgrade(engine)
    finally:
        engine.dispose()
