"""Ingestion: validation and rejection reports, idempotency, subjects, API and CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from support import (
    MakeInstitution,
    MakeKey,
    account_row,
    auth,
    cli_env,
    csv_text,
    delete_row,
    ingest_path,
    jsonl_bytes,
    new_resident_id,
    new_uscc,
    register_cli_furnisher,
    rejection_triples,
    resident_id_ending_in_x,
    run_cli,
    table_counts,
    tax_grade_row,
)
from xinyong.api.app import create_app
from xinyong.config import Settings
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.identity.service import find_subject, subject_ref
from xinyong.ingestion.readers import FileFormat
from xinyong.ingestion.service import (
    IdempotencyConflictError,
    InvalidIdempotencyKeyError,
    list_accepted,
)
from xinyong.ingestion.tasks import ingest_file
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Role
from xinyong.records.models import CreditRecord, RecordVersion
from xinyong.records.service import find_record, record_history

PROBLEM_JSON = "application/problem+json"
BATCHES = "/v1/ingestion/batches"
RECORDS = "/v1/ingestion/records"


@pytest.fixture
def bank(make_institution: MakeInstitution) -> Institution:
    return make_institution("bank-a", record_types=["credit_account", "tax_credit_grade"])


def accepted_triples(session: Session, batch_id: int) -> list[tuple[int, str, int]]:
    return [(a.row_number, a.outcome, a.version) for a in list_accepted(session, batch_id)]


def wrong_check_character(identifier: str) -> str:
    alphabet = "0123456789X" if len(identifier) == 18 and identifier[:17].isdigit() else "0123"
    return identifier[:-1] + next(c for c in alphabet if c != identifier[-1])


# --- every kind of rejected row -----------------------------------------------------------

Row = dict[str, Any] | str
RowMaker = Callable[[str, str], Row]


def _without(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in keys}


# (id, make(person, other person) -> bad row, expected [(field, code)])
REJECTION_CASES: list[tuple[str, RowMaker, list[tuple[str | None, str]]]] = [
    (
        "bad_check_digit",
        lambda p, o: account_row(wrong_check_character(p), "BAD"),
        [("subject_identifier", "invalid_identifier")],
    ),
    (
        "bad_birth_date",
        lambda p, o: account_row("360426199113010079", "BAD"),
        [("subject_identifier", "invalid_identifier")],
    ),
    (
        "bad_uscc_check",
        lambda p, o: tax_grade_row("91110000600037341N", "BAD"),
        [("subject_identifier", "invalid_identifier")],
    ),
    (
        "unknown_id_type",
        lambda p, o: account_row(p, "BAD", subject_id_type="passport"),
        [("subject_id_type", "invalid_enum")],
    ),
    (
        "unknown_record_type",
        lambda p, o: account_row(p, "BAD", record_type="mortgage_account"),
        [("record_type", "unknown_record_type")],
    ),
    (
        "record_type_not_permitted",
        lambda p, o: account_row(p, "BAD", record_type="court_judgment"),
        [("record_type", "record_type_not_permitted")],
    ),
    (
        "record_type_missing",
        lambda p, o: _without(account_row(p, "BAD"), "record_type"),
        [("record_type", "required")],
    ),
    (
        "subject_kind_not_allowed",
        lambda p, o: tax_grade_row(p, "BAD", subject_id_type="resident_id"),
        [("subject_id_type", "subject_kind_not_allowed")],
    ),
    (
        "required_field_missing",
        lambda p, o: _without(account_row(p, "BAD"), "balance"),
        [("balance", "required")],
    ),
    (
        "required_field_blank",
        lambda p, o: account_row(p, "BAD", currency="  "),
        [("currency", "required")],
    ),
    (
        "record_key_missing",
        lambda p, o: _without(account_row(p, "BAD"), "record_key"),
        [("record_key", "required")],
    ),
    (
        "record_key_too_long",
        lambda p, o: account_row(p, "K" * 129),
        [("record_key", "too_long")],
    ),
    (
        "identifier_missing",
        lambda p, o: _without(account_row(p, "BAD"), "subject_identifier"),
        [("subject_identifier", "required")],
    ),
    (
        "bad_enum",
        lambda p, o: account_row(p, "BAD", status="frozen"),
        [("status", "invalid_enum")],
    ),
    (
        "enum_not_a_string",
        lambda p, o: account_row(p, "BAD", account_type=1),
        [("account_type", "invalid_type")],
    ),
    (
        "amount_with_separator",
        lambda p, o: account_row(p, "BAD", balance="12,000.00"),
        [("balance", "invalid_amount")],
    ),
    (
        "amount_negative",
        lambda p, o: account_row(p, "BAD", overdue_amount=-1),
        [("overdue_amount", "invalid_amount")],
    ),
    (
        "amount_three_decimals",
        lambda p, o: account_row(p, "BAD", credit_limit=10.005),
        [("credit_limit", "invalid_amount")],
    ),
    (
        "amount_too_large",
        lambda p, o: account_row(p, "BAD", credit_limit="1000000000000000"),
        [("credit_limit", "out_of_range")],
    ),
    (
        "grid_too_short",
        lambda p, o: account_row(p, "BAD", repayment_grid="N" * 59),
        [("repayment_grid", "invalid_repayment_grid")],
    ),
    (
        "grid_bad_code",
        lambda p, o: account_row(p, "BAD", repayment_grid="N" * 59 + "9"),
        [("repayment_grid", "invalid_repayment_grid")],
    ),
    (
        "integer_out_of_range",
        lambda p, o: account_row(p, "BAD", overdue_months=8),
        [("overdue_months", "out_of_range")],
    ),
    (
        "pattern_mismatch",
        lambda p, o: account_row(p, "BAD", currency="RMB1"),
        [("currency", "pattern_mismatch")],
    ),
    (
        "field_date_order",
        lambda p, o: account_row(p, "BAD", close_date="2024-01-01"),
        [("close_date", "date_order")],
    ),
    (
        "invalid_field_date",
        lambda p, o: account_row(p, "BAD", open_date="2024-02-30"),
        [("open_date", "invalid_date")],
    ),
    (
        "unknown_field",
        lambda p, o: account_row(p, "BAD", nickname="小张"),
        [("nickname", "unknown_field")],
    ),
    (
        "forbidden_field",
        lambda p, o: account_row(p, "BAD", blood_type="O"),
        [("blood_type", "forbidden_field")],
    ),
    (
        "forbidden_field_chinese",
        lambda p, o: account_row(p, "BAD", 血型="AB"),
        [("血型", "forbidden_field")],
    ),
    (
        "forbidden_field_camel_case",
        lambda p, o: account_row(p, "BAD", bloodType="A"),
        [("bloodType", "forbidden_field")],
    ),
    (
        "forbidden_field_even_empty",
        lambda p, o: account_row(p, "BAD", religion=""),
        [("religion", "forbidden_field")],
    ),
    (
        "forbidden_field_on_delete",
        lambda p, o: delete_row(p, "GOOD", 病史="none"),
        [("病史", "forbidden_field")],
    ),
    (
        "invalid_json",
        lambda p, o: '{"record_type": "credit_account", "record_key": ',
        [(None, "invalid_json")],
    ),
    (
        "not_an_object",
        lambda p, o: json.dumps([account_row(p, "BAD")]),
        [(None, "not_an_object")],
    ),
    (
        "bad_action",
        lambda p, o: account_row(p, "GOOD", action="update"),
        [("action", "invalid_enum")],
    ),
    (
        "delete_without_reason",
        lambda p, o: _without(delete_row(p, "GOOD"), "reason"),
        [("reason", "required")],
    ),
    (
        "delete_unknown_record",
        lambda p, o: delete_row(p, "NO-SUCH-ACCOUNT"),
        [("record_key", "record_not_found")],
    ),
    (
        "valid_to_before_valid_from",
        lambda p, o: account_row(p, "BAD", valid_from="2026-10-31", valid_to="2026-10-30"),
        [("valid_to", "date_order")],
    ),
    (
        "valid_from_not_a_date",
        lambda p, o: account_row(p, "BAD", valid_from="2026-02-30"),
        [("valid_from", "invalid_date")],
    ),
    (
        "valid_from_in_the_future",
        lambda p, o: account_row(p, "BAD", valid_from="2999-01-01"),
        [("valid_from", "future_date")],
    ),
    (
        "subject_mismatch",
        lambda p, o: account_row(o, "GOOD"),
        [("subject_identifier", "subject_mismatch")],
    ),
    (
        "subject_mismatch_on_delete",
        lambda p, o: delete_row(o, "GOOD"),
        [("subject_identifier", "subject_mismatch")],
    ),
    (
        "several_problems",
        lambda p, o: account_row(p, "BAD", status="frozen", balance="x", blood_type="B"),
        [
            ("blood_type", "forbidden_field"),
            ("balance", "invalid_amount"),
            ("status", "invalid_enum"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("make_bad", "expected"),
    [pytest.param(make, expected, id=name) for name, make, expected in REJECTION_CASES],
)
def test_rejected_row_is_reported_with_row_field_and_code(
    make_bad: RowMaker,
    expected: list[tuple[str | None, str]],
    tmp_path: Path,
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
) -> None:
    person, other = new_resident_id(), new_resident_id()
    path = tmp_path / "rows.jsonl"
    path.write_bytes(
        jsonl_bytes(
            [account_row(person, "GOOD"), "", make_bad(person, other), account_row(person, "GOOD2")]
        )
    )
    result = ingest_path(factory, keys, bank.id, path)

    assert result.status == "completed"
    assert (result.rows.created, result.rows.rejected, result.rows.processed) == (2, 1, 3)
    assert sorted(rejection_triples(result.rejections)) == sorted(
        (3, field, code) for field, code in expected
    )
    for rejection in result.rejections:
        assert rejection.message
        # Messages never repeat an identifier in clear.
        assert person not in rejection.message
        assert other not in rejection.message
    with factory() as session:
        assert accepted_triples(session, result.id) == [(1, "create", 1), (4, "create", 1)]
        # The rejected row wrote nothing: two records, two versions.
        assert len(session.scalars(select(CreditRecord)).all()) == 2
        assert len(session.scalars(select(RecordVersion)).all()) == 2


def test_subject_mismatch_across_batches(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, bank: Institution
) -> None:
    first, second = new_resident_id(), new_resident_id()
    ingest_path(factory, keys, bank.id, jsonl_file(tmp_path / "a.jsonl", [account_row(first, "K")]))
    result = ingest_path(
        factory, keys, bank.id, jsonl_file(tmp_path / "b.jsonl", [account_row(second, "K")])
    )
    assert rejection_triples(result.rejections) == [(1, "subject_identifier", "subject_mismatch")]
    with factory() as session:
        history = record_history(
            session, keys, find_record(session, keys, bank.id, "credit_account", "K")
        )
        assert [v.operation for v in history.versions] == ["create"]


def test_rejected_csv_rows_are_numbered_after_the_header(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, bank: Institution
) -> None:
    person = new_resident_id()
    columns = list(account_row(person))
    body = csv_text(
        columns,
        [
            account_row(person, "A"),
            account_row(person, "B", status="frozen"),
            account_row(person, "C"),
        ],
    )
    lines = body.splitlines()
    # Data row 4: a cell short; data row 5: blank (skipped, numbering kept); 6: a cell too many.
    lines.append(lines[1].rsplit(",", 1)[0])
    lines.append("")
    lines.append(
        csv_text(
            [*columns, "valid_to"], [account_row(person, "F", valid_to="2020-01-01")]
        ).splitlines()[1]
    )
    path = tmp_path / "rows.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = ingest_path(factory, keys, bank.id, path)
    assert rejection_triples(result.rejections) == [
        (2, "status", "invalid_enum"),
        (4, None, "column_count"),
        (6, None, "column_count"),
    ]
    with factory() as session:
        assert accepted_triples(session, result.id) == [(1, "create", 1), (3, "create", 1)]


def test_csv_with_a_batch_record_type(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, bank: Institution
) -> None:
    person = new_resident_id()
    rows = [_without(account_row(person, f"K{i}"), "record_type") for i in range(3)]
    path = tmp_path / "accounts.csv"
    path.write_text(csv_text(list(rows[0]), rows), encoding="utf-8")
    without_type = ingest_path(factory, keys, bank.id, path, key="no-type")
    assert without_type.rows.rejected == 3
    assert {r.code for r in without_type.rejections} == {"required"}

    with_type = ingest_path(factory, keys, bank.id, path, key="typed", record_type="credit_account")
    assert (with_type.rows.created, with_type.rows.rejected) == (3, 0)
    assert with_type.record_type == "credit_account"


def test_row_of_another_type_in_a_typed_batch_is_rejected(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, bank: Institution
) -> None:
    path = jsonl_file(
        tmp_path / "rows.jsonl",
        [account_row(new_resident_id(), "A"), tax_grade_row(new_uscc(), "T")],
    )
    result = ingest_path(factory, keys, bank.id, path, record_type="credit_account")
    assert rejection_triples(result.rejections) == [(2, "record_type", "record_type_mismatch")]


def jsonl_file(path: Path, rows: list[Row]) -> Path:
    path.write_bytes(jsonl_bytes(rows))
    return path


# --- idempotency and outcomes -------------------------------------------------------------


def test_same_content_again_is_unchanged(
    tmp_path: Path, db: Engine, factory: sessionmaker[Session], keys: KeyRing, bank: Institution
) -> None:
    person = new_resident_id()
    first = ingest_path(
        factory, keys, bank.id, jsonl_file(tmp_path / "a.jsonl", [account_row(person)])
    )
    assert first.rows.created == 1
    before = table_counts(db)

    # The same fact written differently: numbers for amounts, other letter case for enums
    # and the grid, padded strings.
    again = account_row(
        person,
        balance=12000,
        credit_limit=50000.0,
        overdue_amount="0",
        account_type="LOAN",
        status=" normal ",
        repayment_grid=("#" * 28 + "N" * 32).lower(),
    )
    second = ingest_path(factory, keys, bank.id, jsonl_file(tmp_path / "b.jsonl", [again]))
    assert (second.rows.created, second.rows.corrected, second.rows.unchanged) == (0, 0, 1)
    after = table_counts(db)
    assert after["record_versions"] == before["record_versions"]
    assert after["credit_records"] == before["credit_records"]
    with factory() as session:
        assert accepted_triples(session, second.id) == [(1, "unchanged", 1)]


def test_outcomes_within_one_batch_do_not_depend_on_chunking(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, make_institution: MakeInstitution
) -> None:
    person = new_resident_id()
    rows: list[Row] = [
        account_row(person, "A"),
        account_row(person, "A"),
        account_row(person, "A", balance="11000.00"),
        delete_row(person, "A"),
        delete_row(person, "A", reason="again"),
        account_row(person, "A", balance="11000.00"),
        account_row(person, "B"),
        delete_row(person, "B"),
        account_row(new_resident_id(), "B"),
    ]
    expected_accepted = [
        (1, "create", 1),
        (2, "unchanged", 1),
        (3, "correct", 2),
        (4, "delete", 3),
        (5, "unchanged", 3),
        (6, "restore", 4),
        (7, "create", 1),
        (8, "delete", 2),
    ]
    path = jsonl_file(tmp_path / "rows.jsonl", rows)
    for chunk_rows in (1, 2, 3, 4, 100):
        furnisher = make_institution(f"bank-{chunk_rows}", record_types=["credit_account"])
        result = ingest_path(factory, keys, furnisher.id, path, chunk_rows=chunk_rows)
        counts = result.rows
        assert (counts.created, counts.corrected, counts.deleted, counts.unchanged) == (2, 2, 2, 2)
        assert rejection_triples(result.rejections) == [
            (9, "subject_identifier", "subject_mismatch")
        ]
        with factory() as session:
            assert accepted_triples(session, result.id) == expected_accepted, chunk_rows


def test_batch_replay_and_key_reuse(
    tmp_path: Path, db: Engine, factory: sessionmaker[Session], keys: KeyRing, bank: Institution
) -> None:
    person = new_resident_id()
    path = jsonl_file(
        tmp_path / "rows.jsonl", [account_row(person, "A"), account_row(person, "B", status="x")]
    )
    first = ingest_path(factory, keys, bank.id, path, key="batch-1")
    assert not first.replayed
    before = table_counts(db)

    replay = ingest_path(factory, keys, bank.id, path, key="batch-1")
    assert replay.replayed
    assert replay.id == first.id
    assert replay.rows == first.rows
    assert replay.rejections == first.rejections
    assert table_counts(db) == before

    path.write_bytes(path.read_bytes() + jsonl_bytes([account_row(person, "C")]))
    with pytest.raises(IdempotencyConflictError) as caught:
        ingest_path(factory, keys, bank.id, path, key="batch-1")
    assert caught.value.extensions["batch_id"] == first.id
    assert table_counts(db) == before


def test_idempotency_keys_are_per_furnisher(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, make_institution: MakeInstitution
) -> None:
    bank_a = make_institution("bank-a", record_types=["credit_account"])
    bank_b = make_institution("bank-b", record_types=["credit_account"])
    path = jsonl_file(tmp_path / "rows.jsonl", [account_row(new_resident_id())])
    first = ingest_path(factory, keys, bank_a.id, path, key="shared")
    second = ingest_path(factory, keys, bank_b.id, path, key="shared")
    assert not second.replayed
    assert second.id != first.id
    assert (first.rows.created, second.rows.created) == (1, 1)


@pytest.mark.parametrize("key", ["", "k" * 201])
def test_an_idempotency_key_out_of_bounds_is_refused_before_anything_is_written(
    tmp_path: Path,
    db: Engine,
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_institution: MakeInstitution,
    key: str,
) -> None:
    bank = make_institution("bank-a", record_types=["credit_account"])
    path = jsonl_file(tmp_path / "rows.jsonl", [account_row(new_resident_id())])
    before = table_counts(db)
    with pytest.raises(InvalidIdempotencyKeyError):
        ingest_file(
            factory,
            keys,
            furnisher_id=bank.id,
            path=path,
            file_format=FileFormat.JSONL,
            idempotency_key=key,
            source="cli",
        )
    assert table_counts(db) == before


# --- subjects -----------------------------------------------------------------------------


def test_subjects_are_matched_by_identifier_across_furnishers(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, make_institution: MakeInstitution
) -> None:
    bank_a = make_institution("bank-a", record_types=["credit_account"])
    bank_b = make_institution("bank-b", record_types=["credit_account", "tax_credit_grade"])
    person = resident_id_ending_in_x()
    enterprise = new_uscc()
    ingest_path(
        factory, keys, bank_a.id, jsonl_file(tmp_path / "a.jsonl", [account_row(person, "A")])
    )
    ingest_path(
        factory,
        keys,
        bank_b.id,
        jsonl_file(
            tmp_path / "b.jsonl",
            [
                account_row(person[:-1] + "x", "B"),  # lower-case check character
                account_row(" ".join([person[:6], person[6:14], person[14:]]), "C"),
                tax_grade_row(enterprise, "T"),
                account_row(enterprise, "E", subject_id_type="uscc"),
            ],
        ),
    )
    with factory() as session:
        subjects = session.scalars(select(Subject)).all()
        assert sorted(s.kind for s in subjects) == ["enterprise", "person"]
        person_id = find_subject(session, subject_ref(keys, "resident_id", person)).id
        enterprise_id = find_subject(session, subject_ref(keys, "uscc", enterprise)).id
        owners = {
            (furnisher, key): find_record(session, keys, furnisher, t, key).subject_id
            for furnisher, t, key in [
                (bank_a.id, "credit_account", "A"),
                (bank_b.id, "credit_account", "B"),
                (bank_b.id, "credit_account", "C"),
                (bank_b.id, "tax_credit_grade", "T"),
                (bank_b.id, "credit_account", "E"),
            ]
        }
    assert owners == {
        (bank_a.id, "A"): person_id,
        (bank_b.id, "B"): person_id,
        (bank_b.id, "C"): person_id,
        (bank_b.id, "T"): enterprise_id,
        (bank_b.id, "E"): enterprise_id,
    }


def test_identifiers_are_stored_only_encrypted(
    tmp_path: Path, db: Engine, factory: sessionmaker[Session], keys: KeyRing, bank: Institution
) -> None:
    person = new_resident_id()
    ingest_path(
        factory,
        keys,
        bank.id,
        jsonl_file(tmp_path / "a.jsonl", [account_row(person, "ACC-SECRET-77")]),
    )
    with factory() as session:
        subject = session.scalars(select(Subject)).one()
        record = session.scalars(select(CreditRecord)).one()
        version = session.scalars(select(RecordVersion)).one()
    for blob in (subject.identifier_ct, subject.name_ct, record.record_key_ct, version.content_ct):
        assert blob is not None
        assert person.encode() not in blob
        assert b"ACC-SECRET-77" not in blob
        assert "张三".encode() not in blob
        assert b"12000.00" not in blob


# --- over HTTP ----------------------------------------------------------------------------


def upload(
    client: TestClient,
    api_key: str,
    body: bytes,
    *,
    idempotency_key: str | None = "batch-1",
    content_type: str | None = None,
    params: dict[str, str] | None = None,
    multipart_name: str | None = None,
) -> Response:
    headers = auth(api_key)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    if multipart_name is not None:
        return client.post(
            BATCHES,
            params=params,
            headers=headers,
            files={"file": (multipart_name, body, content_type or "application/octet-stream")},
        )
    if content_type is not None:
        headers["Content-Type"] = content_type
    return client.post(BATCHES, params=params, headers=headers, content=body)


def assert_problem(response: Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert problem["type"].endswith(code)
    return problem


@pytest.fixture
def bank_key(bank: Institution, make_key: MakeKey) -> str:
    return make_key(Role.FURNISHER, bank)


def test_single_record_created_unchanged_and_corrected(client: TestClient, bank_key: str) -> None:
    person = new_resident_id()
    created = client.post(RECORDS, json=account_row(person), headers=auth(bank_key))
    assert created.status_code == 201, created.text
    assert created.json()["rows"]["created"] == 1
    assert created.json()["source"] == "api"

    again = client.post(RECORDS, json=account_row(person), headers=auth(bank_key))
    assert again.status_code == 201
    assert again.json()["rows"] == {
        "created": 0,
        "corrected": 0,
        "deleted": 0,
        "unchanged": 1,
        "rejected": 0,
        "accepted": 1,
        "processed": 1,
    }
    accepted = client.get(f"{BATCHES}/{again.json()['id']}/accepted", headers=auth(bank_key)).json()
    assert [(a["row_number"], a["outcome"], a["version"]) for a in accepted] == [
        (1, "unchanged", 1)
    ]

    corrected = client.post(
        RECORDS, json=account_row(person, balance="1.00"), headers=auth(bank_key)
    )
    assert corrected.json()["rows"]["corrected"] == 1
    record_id = accepted[0]["record_id"]
    history = client.get(f"/v1/records/{record_id}", headers=auth(bank_key)).json()
    assert [v["operation"] for v in history["versions"]] == ["create", "correct"]


def test_single_record_rejected_is_a_422_problem_with_a_report(
    client: TestClient, bank_key: str
) -> None:
    row = account_row(wrong_check_character(new_resident_id()), status="frozen", 血型="O")
    response = client.post(RECORDS, json=row, headers=auth(bank_key))
    problem = assert_problem(response, 422, "record_rejected")
    assert sorted((e["field"], e["code"]) for e in problem["errors"]) == [
        ("status", "invalid_enum"),
        ("subject_identifier", "invalid_identifier"),
        ("血型", "forbidden_field"),
    ]
    assert all(e["row_number"] == 1 for e in problem["errors"])
    rejections = client.get(f"{BATCHES}/{problem['batch_id']}/rejections", headers=auth(bank_key))
    assert rejections.status_code == 200
    assert rejections.json() == problem["errors"]
    batch = client.get(f"{BATCHES}/{problem['batch_id']}", headers=auth(bank_key)).json()
    assert batch["status"] == "completed"
    assert batch["rows"]["rejected"] == 1


def test_single_record_idempotency_key(client: TestClient, db: Engine, bank_key: str) -> None:
    row = account_row(new_resident_id())
    headers = auth(bank_key) | {"Idempotency-Key": "rec-1"}
    first = client.post(RECORDS, json=row, headers=headers)
    assert first.status_code == 201
    before = table_counts(db)

    # Key order does not matter: the same record is the same content.
    replay = client.post(RECORDS, json=dict(reversed(row.items())), headers=headers)
    assert replay.status_code == 200, replay.text
    assert replay.json()["replayed"] is True
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["rows"] == first.json()["rows"]
    assert table_counts(db) == before

    changed = client.post(RECORDS, json=row | {"balance": "1.00"}, headers=headers)
    problem = assert_problem(changed, 409, "idempotency_key_reused")
    assert problem["batch_id"] == first.json()["id"]
    assert table_counts(db) == before


def _batch_rows(person: str) -> list[dict[str, Any]]:
    return [
        account_row(person, "A"),
        account_row(person, "B", repayment_grid="N" * 61),
        account_row(person, "C"),
    ]


def _as_jsonl(rows: list[dict[str, Any]]) -> bytes:
    return jsonl_bytes(rows)


def _as_csv(rows: list[dict[str, Any]]) -> bytes:
    return csv_text(list(rows[0]), rows).encode()


UPLOADS = [
    pytest.param(_as_jsonl, {"params": {"format": "jsonl"}}, "jsonl", None, id="raw-format-jsonl"),
    pytest.param(_as_csv, {"params": {"format": "csv"}}, "csv", None, id="raw-format-csv"),
    pytest.param(
        _as_jsonl, {"content_type": "application/x-ndjson"}, "jsonl", None, id="raw-ndjson"
    ),
    pytest.param(_as_csv, {"content_type": "text/csv; charset=utf-8"}, "csv", None, id="raw-csv"),
    pytest.param(
        _as_csv,
        {"content_type": "application/octet-stream", "params": {"filename": "accounts.csv"}},
        "csv",
        "accounts.csv",
        id="raw-filename",
    ),
    pytest.param(
        _as_jsonl, {"multipart_name": "rows.jsonl"}, "jsonl", "rows.jsonl", id="multipart-jsonl"
    ),
    pytest.param(_as_csv, {"multipart_name": "rows.csv"}, "csv", "rows.csv", id="multipart-csv"),
    pytest.param(
        _as_csv,
        {"multipart_name": "upload.bin", "params": {"format": "csv"}},
        "csv",
        "upload.bin",
        id="multipart-format",
    ),
    pytest.param(
        _as_jsonl,
        {"multipart_name": "export", "content_type": "application/x-ndjson"},
        "jsonl",
        "export",
        id="multipart-part-type",
    ),
]


@pytest.mark.parametrize(("encode", "how", "file_format", "filename"), UPLOADS)
def test_batch_upload(
    encode: Callable[[list[dict[str, Any]]], bytes],
    how: dict[str, Any],
    file_format: str,
    filename: str | None,
    client: TestClient,
    bank_key: str,
) -> None:
    response = upload(client, bank_key, encode(_batch_rows(new_resident_id())), **how)
    assert response.status_code == 201, response.text
    batch = response.json()
    assert batch["status"] == "completed"
    assert batch["file_format"] == file_format
    assert batch["filename"] == filename
    assert batch["idempotency_key"] == "batch-1"
    assert batch["replayed"] is False
    assert (batch["rows"]["created"], batch["rows"]["rejected"]) == (2, 1)
    expected = [{"row_number": 2, "field": "repayment_grid", "code": "invalid_repayment_grid"}]
    assert [
        {k: r[k] for k in ("row_number", "field", "code")} for r in batch["rejections"]
    ] == expected

    rejections = client.get(f"{BATCHES}/{batch['id']}/rejections", headers=auth(bank_key)).json()
    assert rejections == batch["rejections"]
    accepted = client.get(f"{BATCHES}/{batch['id']}/accepted", headers=auth(bank_key)).json()
    assert [(a["row_number"], a["outcome"], a["version"]) for a in accepted] == [
        (1, "create", 1),
        (3, "create", 1),
    ]
    read = client.get(f"{BATCHES}/{batch['id']}", headers=auth(bank_key)).json()
    assert read["rows"] == batch["rows"]


def test_batch_upload_needs_an_idempotency_key(
    client: TestClient, db: Engine, bank_key: str
) -> None:
    before = table_counts(db)
    response = upload(
        client, bank_key, _as_jsonl(_batch_rows(new_resident_id())), idempotency_key=None,
        params={"format": "jsonl"},
    )  # fmt: skip
    assert_problem(response, 400, "idempotency_key_required")
    assert table_counts(db) == before


def test_batch_retry_is_replayed_and_key_reuse_refused(
    client: TestClient, db: Engine, bank_key: str
) -> None:
    body = _as_jsonl(_batch_rows(new_resident_id()))
    first = upload(client, bank_key, body, params={"format": "jsonl"})
    assert first.status_code == 201
    before = table_counts(db)

    # The same bytes, even through another transport, are the same batch.
    for how in ({"params": {"format": "jsonl"}}, {"multipart_name": "again.jsonl"}):
        retry = upload(client, bank_key, body, **how)
        assert retry.status_code == 200, retry.text
        assert retry.json()["replayed"] is True
        assert retry.json()["id"] == first.json()["id"]
        assert retry.json()["rows"] == first.json()["rows"]
        assert table_counts(db) == before

    other_bytes = body + _as_jsonl([account_row(new_resident_id(), "Z")])
    problem = assert_problem(
        upload(client, bank_key, other_bytes, params={"format": "jsonl"}),
        409,
        "idempotency_key_reused",
    )
    assert problem["batch_id"] == first.json()["id"]
    assert table_counts(db) == before


@pytest.mark.parametrize(
    ("body", "how", "detail"),
    [
        pytest.param(b'{"a": 1}\n', {}, "cannot tell the file format", id="no-format"),
        pytest.param(
            b'{"a": 1}\n', {"params": {"format": "json"}}, "cannot tell the file format", id="json"
        ),
        pytest.param(
            b'{"a": 1}\n', {"content_type": "application/json"}, "cannot tell", id="content-json"
        ),
        pytest.param(
            "a,b\n张,三\n".encode("gb18030"), {"params": {"format": "csv"}}, "UTF-8", id="gbk"
        ),
        pytest.param(b"", {"params": {"format": "csv"}}, "empty", id="empty-csv"),
        pytest.param(
            b"record_key,key2,record_key\n", {"params": {"format": "csv"}}, "repeats", id="dupe"
        ),
        pytest.param(
            b"--zz\r\nContent-Disposition: form-data; name=other\r\n\r\nx\r\n--zz--\r\n",
            {"content_type": "multipart/form-data; boundary=zz"},
            "needs a `file` part",
            id="multipart-without-file",
        ),
    ],
)
def test_unreadable_upload_is_refused_and_changes_nothing(
    body: bytes, how: dict[str, Any], detail: str, client: TestClient, db: Engine, bank_key: str
) -> None:
    before = table_counts(db)
    response = upload(client, bank_key, body, **how)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert detail in response.json()["detail"]
    assert table_counts(db) == before


@pytest.mark.parametrize("column", ["blood_type", "血型"])
def test_csv_upload_with_a_forbidden_column_is_refused_whole(
    column: str, client: TestClient, db: Engine, bank_key: str
) -> None:
    person = new_resident_id()
    assert (
        client.post(RECORDS, json=account_row(person, "KEEP"), headers=auth(bank_key)).status_code
        == 201
    )
    before = table_counts(db)

    rows = [
        account_row(person, "KEEP", balance="1.00", **{column: "O"}),
        account_row(person, "NEW"),
    ]
    for how in ({"params": {"format": "csv"}}, {"multipart_name": "rows.csv"}):
        response = upload(client, bank_key, _as_csv(rows), **how)
        problem = assert_problem(response, 400, "invalid_batch_file")
        assert problem["code_detail"] == "forbidden_field"
        assert problem["columns"] == [column]
        assert table_counts(db) == before

    # The same rows as JSON Lines are taken row by row: the one with the column is rejected.
    response = upload(client, bank_key, _as_jsonl(rows), params={"format": "jsonl"})
    assert response.status_code == 201
    assert [(r["row_number"], r["field"], r["code"]) for r in response.json()["rejections"]] == [
        (1, column, "forbidden_field")
    ]
    assert response.json()["rows"]["created"] == 1


def test_batch_record_type_parameter(client: TestClient, db: Engine, bank_key: str) -> None:
    rows = [_without(account_row(new_resident_id(), f"K{i}"), "record_type") for i in range(2)]
    body = csv_text(list(rows[0]), rows).encode()
    typed = upload(
        client, bank_key, body, params={"format": "csv", "record_type": "credit_account"}
    )
    assert typed.status_code == 201, typed.text
    assert typed.json()["record_type"] == "credit_account"
    assert typed.json()["rows"]["created"] == 2

    before = table_counts(db)
    # A retry must read the bytes the same way: without the record type it is another request.
    untyped = upload(client, bank_key, body, params={"format": "csv"})
    assert assert_problem(untyped, 409, "idempotency_key_reused")["batch_id"] == typed.json()["id"]
    not_permitted = upload(
        client,
        bank_key,
        body,
        idempotency_key="b2",
        params={"format": "csv", "record_type": "tax_arrears"},
    )
    assert_problem(not_permitted, 403, "record_type_not_permitted")
    unknown = upload(
        client,
        bank_key,
        body,
        idempotency_key="b3",
        params={"format": "csv", "record_type": "nope"},
    )
    assert_problem(unknown, 404, "unknown_record_type")
    assert table_counts(db) == before


def test_uploads_are_spooled_to_a_temporary_file_that_is_always_removed(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    db: Engine,
    keys: KeyRing,
    bank: Institution,
    bank_key: str,
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    settings = Settings(data_dir=tmp_path / "data", database_url="sqlite://", max_upload_bytes=2000)
    body = _as_jsonl(_batch_rows(new_resident_id()))
    assert 1000 < len(body) < 2000
    with TestClient(create_app(settings, engine=db, keys=keys)) as client:
        ok = upload(client, bank_key, body, params={"format": "jsonl"})
        assert ok.status_code == 201, ok.text
        assert list(spool.iterdir()) == []

        assert upload(client, bank_key, body, idempotency_key="k2").status_code == 400
        assert list(spool.iterdir()) == []

        before = table_counts(db)
        too_big = body + body
        for how in ({"params": {"format": "jsonl"}}, {"multipart_name": "big.jsonl"}):
            response = upload(client, bank_key, too_big, idempotency_key="k3", **how)
            assert_problem(response, 413, "payload_too_large")
            assert list(spool.iterdir()) == []
        assert table_counts(db) == before


def test_batches_are_private_to_their_furnisher(
    client: TestClient, bank_key: str, make_institution: MakeInstitution, make_key: MakeKey
) -> None:
    other_key = make_key(
        Role.FURNISHER, make_institution("bank-b", record_types=["credit_account"])
    )
    operator_key = make_key(Role.OPERATOR)
    batch_id = upload(
        client, bank_key, _as_jsonl(_batch_rows(new_resident_id())), params={"format": "jsonl"}
    ).json()["id"]
    for suffix in ("", "/rejections", "/accepted"):
        assert_problem(
            client.get(f"{BATCHES}/{batch_id}{suffix}", headers=auth(other_key)),
            404,
            "batch_not_found",
        )
        assert (
            client.get(f"{BATCHES}/{batch_id}{suffix}", headers=auth(operator_key)).status_code
            == 200
        )
    assert client.get(BATCHES, headers=auth(other_key)).json() == []
    assert [b["id"] for b in client.get(BATCHES, headers=auth(bank_key)).json()] == [batch_id]
    assert [b["id"] for b in client.get(BATCHES, headers=auth(operator_key)).json()] == [batch_id]
    assert_problem(client.get(f"{BATCHES}/999999", headers=auth(bank_key)), 404, "batch_not_found")


def test_submitting_needs_a_furnisher_key(client: TestClient, make_key: MakeKey) -> None:
    row = account_row(new_resident_id())
    assert_problem(client.post(RECORDS, json=row), 401, "unauthenticated")
    operator = make_key(Role.OPERATOR)
    assert_problem(
        client.post(RECORDS, json=row, headers=auth(operator)), 403, "role_not_permitted"
    )
    assert_problem(
        upload(client, operator, _as_jsonl([row]), params={"format": "jsonl"}),
        403,
        "role_not_permitted",
    )


def test_many_rejections_are_paged(client: TestClient, bank_key: str) -> None:
    person = new_resident_id()
    rows = [account_row(person, f"K{i}", status="frozen") for i in range(120)]
    batch = upload(client, bank_key, _as_jsonl(rows), params={"format": "jsonl"}).json()
    assert batch["rows"]["rejected"] == 120
    assert len(batch["rejections"]) == 100
    assert batch["rejections_truncated"] is True
    url = f"{BATCHES}/{batch['id']}/rejections"
    rest = client.get(url, params={"offset": 100}, headers=auth(bank_key)).json()
    assert [r["row_number"] for r in rest] == list(range(101, 121))
    page = client.get(url, params={"offset": 10, "limit": 5}, headers=auth(bank_key)).json()
    assert [r["row_number"] for r in page] == [11, 12, 13, 14, 15]


# --- the CLI ------------------------------------------------------------------------------


def test_cli_ingest_reports_rejections_and_replays(fresh_db_url: str, tmp_path: Path) -> None:
    env = cli_env(fresh_db_url, tmp_path / "data")
    register_cli_furnisher(env, "bank-cli", "credit_account")
    person = new_resident_id()
    path = jsonl_file(
        tmp_path / "rows.jsonl",
        [
            account_row(person, "A"),
            account_row(person, "B", balance="-3"),
            account_row(person, "C"),
        ],
    )
    first = run_cli(env, "ingest", str(path), "--furnisher", "bank-cli", check=False)
    assert first.returncode == 3, first.stderr
    assert "2 created" in first.stdout
    assert "1 rejected" in first.stdout
    assert "row 2 balance [invalid_amount]" in first.stdout

    again = run_cli(env, "ingest", str(path), "--furnisher", "bank-cli", check=False)
    assert again.returncode == 3
    assert "replayed" in again.stdout
    assert "2 created" in again.stdout

    unknown = run_cli(env, "ingest", str(path), "--furnisher", "nobody", check=False)
    assert unknown.returncode == 1
    assert "[institution_not_found]: no institution with code 'nobody'" in unknown.stderr


def test_cli_result_shows_the_rejection_code(capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    from xinyong.cli.ingest import print_result
    from xinyong.ingestion.schemas import BatchCounts, BatchResult, RejectionView

    result = BatchResult(
        id=7,
        furnisher_id=1,
        idempotency_key="k",
        status="completed",
        source="cli",
        file_format="jsonl",
        filename="rows.jsonl",
        record_type=None,
        content_sha256="0" * 64,
        rows=BatchCounts(created=1, corrected=0, deleted=0, unchanged=0, rejected=1),
        created_at=datetime.now(UTC),
        completed_at=datetime.now(UTC),
        replayed=False,
        rejections=[
            RejectionView(row_number=2, field="balance", code="invalid_amount", message="bad")
        ],
        rejections_truncated=False,
    )
    print_result(result)
    assert "row 2 balance [invalid_amount] bad" in capsys.readouterr().out


# --- streaming: memory stays flat ---------------------------------------------------------

STREAM_PEOPLE = 50_000
# Runs `xinyong` and reports its peak RSS. ru_maxrss of an exec'd child starts from its
# parent's peak (Linux keeps the old mm's high-water mark across execve), so the command's
# own peak is read from /proc/self/status (VmHWM, per address space). The workers' peak
# (RUSAGE_CHILDREN) is bounded below by this process's size when it started them.
_RSS_WRAPPER = """\
import re, resource, runpy, sys
sys.argv = ["xinyong", *sys.argv[1:]]
try:
    runpy.run_module("xinyong.cli.main", run_name="__main__", alter_sys=True)
finally:
    with open("/proc/self/status", encoding="ascii") as status:
        own = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read())[1])
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    sys.stderr.write(f"\\nPEAK_RSS_KB {own} {workers}\\n")
"""


def write_account_file(
    path: Path, rows: int, people: list[str], prefix: str, **overrides: str
) -> None:
    """``rows`` minimal valid credit_account rows (one account each) over ``people``."""
    template = json.dumps(
        _without(account_row("@ID@", "@KEY@", **overrides), "subject_name", "loan_kind"),
        separators=(",", ":"),
    )
    head, rest = template.split("@KEY@")
    middle, tail = rest.split("@ID@")
    tail += "\n"
    with path.open("w", encoding="utf-8", buffering=1 << 20) as handle:
        write = handle.write
        for n in range(rows):
            write(f"{head}{prefix}{n}{middle}{people[n % STREAM_PEOPLE]}{tail}")


def peak_rss_of_cli_ingest(
    tmp_path: Path, env: dict[str, str], rows: int, people: list[str]
) -> tuple[int, int]:
    """Ingest ``rows`` new accounts through `xinyong ingest`; the peak RSS (KiB) of the
    command's process and of its worker processes."""
    path = tmp_path / f"rows-{rows}.jsonl"
    wrapper = tmp_path / "peak_rss.py"
    wrapper.write_text(_RSS_WRAPPER, encoding="utf-8")
    try:
        write_account_file(path, rows, people, prefix=f"R{rows}-")
        done = subprocess.run(
            [sys.executable, str(wrapper), "ingest", str(path), "--furnisher", "bank-stream"],
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert f"{rows} rows, {rows} created" in done.stdout
        peak = re.search(r"PEAK_RSS_KB (\d+) (\d+)", done.stderr)
        assert peak is not None, done.stderr
        return int(peak[1]), int(peak[2])
    finally:
        path.unlink(missing_ok=True)


@pytest.mark.slow
def test_a_million_row_batch_streams_with_flat_memory(fresh_db_url: str, tmp_path: Path) -> None:
    """1,000,000 rows need no more memory than 100,000: the runner streams."""
    if not Path("/proc/self/status").exists():
        pytest.skip("reads the peak RSS from /proc (Linux)")
    env = cli_env(
        fresh_db_url,
        tmp_path / "data",
        XINYONG_INGEST_CHUNK_ROWS="2000",
        XINYONG_INGEST_WORKERS="1",
    )
    register_cli_furnisher(env, "bank-stream", "credit_account")
    people = [new_resident_id() for _ in range(STREAM_PEOPLE)]
    own_100k, workers_100k = peak_rss_of_cli_ingest(tmp_path, env, 100_000, people)
    own_1m, workers_1m = peak_rss_of_cli_ingest(tmp_path, env, 1_000_000, people)
    print(f"peak RSS KiB: 100k {own_100k} (+{workers_100k}), 1M {own_1m} (+{workers_1m})")
    assert own_1m < 1.5 * own_100k, (own_100k, own_1m)
    assert workers_1m < 1.5 * max(workers_100k, 1), (workers_100k, workers_1m)


@pytest.mark.slow
def test_the_largest_chunk_setting_works(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, bank: Institution
) -> None:
    """A chunk may hold up to 100,000 rows (Settings.ingest_chunk_rows): more distinct record
    keys than PostgreSQL accepts bind parameters in one statement (65,535)."""
    rows = 70_000
    people = [new_resident_id() for _ in range(500)] * (STREAM_PEOPLE // 500)
    path = tmp_path / "big-chunk.jsonl"
    write_account_file(path, rows, people, prefix="C")
    result = ingest_path(factory, keys, bank.id, path, chunk_rows=100_000)
    assert (result.rows.created, result.rows.rejected) == (rows, 0)
    # Every one of the 70,000 records is found again (and corrected, not created anew).
    write_account_file(path, rows, people, prefix="C", balance="1.00")
    again = ingest_path(factory, keys, bank.id, path, key="again", chunk_rows=100_000)
    assert (again.rows.corrected, again.rows.created, again.rows.rejected) == (rows, 0, 0)
