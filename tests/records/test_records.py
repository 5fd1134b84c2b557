"""Records are versioned facts: corrections, tombstones and restores, never an update."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from support import (
    MakeInstitution,
    MakeKey,
    account_row,
    auth,
    csv_text,
    delete_row,
    ingest_path,
    jsonl_bytes,
    new_resident_id,
    new_uscc,
    table_rows,
    tax_grade_row,
)
from xinyong.catalog.service import get_catalog
from xinyong.identity.crypto import KeyRing
from xinyong.identity.service import find_subject, subject_ref
from xinyong.ingestion.schemas import BatchResult
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Role
from xinyong.records.schemas import RecordHistory
from xinyong.records.service import (
    RecordNotFoundError,
    count_records_by_type,
    count_versions,
    find_record,
    get_record,
    record_history,
    subject_records,
)

_FILES = count(1)


class Furnish:
    """Submit rows as one batch file of a furnisher and read records back."""

    def __init__(
        self, tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, furnisher: Institution
    ) -> None:
        self.tmp_path = tmp_path
        self.factory = factory
        self.keys = keys
        self.furnisher = furnisher

    def __call__(self, *rows: dict[str, Any]) -> BatchResult:
        path = self.tmp_path / f"batch-{next(_FILES)}.jsonl"
        path.write_bytes(jsonl_bytes(rows))
        result = ingest_path(self.factory, self.keys, self.furnisher.id, path)
        assert result.rows.rejected == 0, result.rejections
        return result

    def history(self, key: str = "ACC-1", record_type: str = "credit_account") -> RecordHistory:
        with self.factory() as session:
            record = find_record(session, self.keys, self.furnisher.id, record_type, key)
            return record_history(session, self.keys, record)


@pytest.fixture
def bank(make_institution: MakeInstitution) -> Institution:
    return make_institution("bank-a", record_types=["credit_account", "tax_credit_grade"])


@pytest.fixture
def furnish(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, bank: Institution
) -> Furnish:
    return Furnish(tmp_path, factory, keys, bank)


@pytest.fixture
def other_furnish(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, make_institution: MakeInstitution
) -> Furnish:
    return Furnish(
        tmp_path, factory, keys, make_institution("bank-b", record_types=["credit_account"])
    )


def frozen_tables(db: Engine) -> dict[str, list[tuple[Any, ...]]]:
    return {name: table_rows(db, name) for name in ("credit_records", "record_versions")}


def assert_appended_only(before: dict[str, list[tuple[Any, ...]]], db: Engine) -> None:
    """Every row that existed before is still there, byte for byte."""
    after = frozen_tables(db)
    assert after["credit_records"][: len(before["credit_records"])] == before["credit_records"]
    assert after["record_versions"][: len(before["record_versions"])] == before["record_versions"]


# --- versions -----------------------------------------------------------------------------


def test_a_correction_is_a_new_version_with_its_own_provenance(
    db: Engine, furnish: Furnish, bank: Institution
) -> None:
    person = new_resident_id()
    first = furnish(account_row(person, valid_from="2026-09-30", balance="12000.00"))
    before = frozen_tables(db)
    assert len(before["record_versions"]) == 1

    second = furnish(
        account_row(new_resident_id(), "OTHER"),
        account_row(person, valid_from="2026-10-31", balance="9000.00", overdue_months=0),
    )
    assert second.rows.corrected == 1
    assert_appended_only(before, db)
    assert len(frozen_tables(db)["record_versions"]) == 3

    history = furnish.history()
    assert (history.current_version, history.deleted) == (2, False)
    assert history.record_key == "ACC-1"
    assert history.record_type == "credit_account"
    assert history.furnisher_id == bank.id
    v1, v2 = history.versions
    assert [(v.version, v.operation) for v in history.versions] == [(1, "create"), (2, "correct")]
    assert v1.fields is not None
    assert v2.fields is not None
    assert (v1.fields["balance"], v2.fields["balance"]) == ("12000.00", "9000.00")
    assert "overdue_months" not in v1.fields
    assert v2.fields["overdue_months"] == 0
    assert (v1.batch_id, v1.batch_row) == (first.id, 1)
    assert (v2.batch_id, v2.batch_row) == (second.id, 2)
    assert (v1.valid_from, v2.valid_from) == (date(2026, 9, 30), date(2026, 10, 31))
    assert v1.valid_to is v2.valid_to is None
    for version in history.versions:
        assert version.furnisher_id == bank.id
        assert version.catalog_version == get_catalog().version
        assert version.received_at.tzinfo is not None
        assert version.received_at <= datetime.now(UTC)
        assert version.reason is None
    assert v1.received_at <= v2.received_at
    assert v1.content_hash != v2.content_hash


def test_deletion_is_a_tombstone_and_resubmission_restores(
    db: Engine, factory: sessionmaker[Session], keys: KeyRing, furnish: Furnish
) -> None:
    person = new_resident_id()
    furnish(account_row(person), account_row(person, "ACC-2"))
    before_delete = frozen_tables(db)

    deleted = furnish(delete_row(person, reason="opened by identity fraud"))
    assert deleted.rows.deleted == 1
    assert_appended_only(before_delete, db)
    history = furnish.history()
    assert history.deleted is True
    tombstone = history.versions[-1]
    assert (tombstone.version, tombstone.operation) == (2, "delete")
    assert tombstone.fields is None
    assert tombstone.reason == "opened by identity fraud"
    assert tombstone.batch_id == deleted.id
    # The deleted fact is still in the history.
    assert history.versions[0].operation == "create"
    assert history.versions[0].fields is not None
    assert history.versions[0].fields["balance"] == "12000.00"

    with factory() as session:
        subject_id = find_subject(session, subject_ref(keys, "resident_id", person)).id
        visible = subject_records(session, keys, subject_id)
        everything = subject_records(session, keys, subject_id, include_deleted=True)
    assert [r.record_key for r in visible] == ["ACC-2"]
    assert [(r.record_key, r.deleted, r.current_version) for r in everything] == [
        ("ACC-1", True, 2),
        ("ACC-2", False, 1),
    ]
    assert everything[0].fields is None

    # Deleting again changes nothing.
    before_again = frozen_tables(db)
    again = furnish(delete_row(person, reason="still wrong"))
    assert (again.rows.deleted, again.rows.unchanged) == (0, 1)
    assert frozen_tables(db) == before_again

    restored = furnish(account_row(person, balance="100.00"))
    assert restored.rows.corrected == 1
    assert_appended_only(before_again, db)
    history = furnish.history()
    assert [(v.version, v.operation) for v in history.versions] == [
        (1, "create"),
        (2, "delete"),
        (3, "restore"),
    ]
    assert history.deleted is False
    assert history.versions[-1].fields is not None
    assert history.versions[-1].fields["balance"] == "100.00"
    assert history.versions[-1].reason is None
    with factory() as session:
        visible = subject_records(session, keys, subject_id)
    assert [(r.record_key, r.current_version) for r in visible] == [("ACC-1", 3), ("ACC-2", 1)]


def test_restore_with_the_content_before_deletion(db: Engine, furnish: Furnish) -> None:
    person = new_resident_id()
    furnish(account_row(person))
    furnish(delete_row(person))
    result = furnish(account_row(person))
    assert (result.rows.corrected, result.rows.unchanged) == (1, 0)
    versions = furnish.history().versions
    assert [v.operation for v in versions] == ["create", "delete", "restore"]
    assert versions[0].content_hash == versions[2].content_hash
    assert versions[0].fields == versions[2].fields


def test_unchanged_resubmission_writes_nothing(db: Engine, furnish: Furnish) -> None:
    person = new_resident_id()
    furnish(account_row(person))
    before = frozen_tables(db)
    result = furnish(account_row(person))
    assert (result.rows.created, result.rows.corrected, result.rows.unchanged) == (0, 0, 1)
    assert frozen_tables(db) == before
    assert furnish.history().current_version == 1


# --- content hashes -----------------------------------------------------------------------


def test_equal_content_has_an_equal_hash(
    tmp_path: Path,
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    furnish: Furnish,
    other_furnish: Furnish,
) -> None:
    person, other_person = new_resident_id(), new_resident_id()
    furnish(account_row(person, "A"), account_row(other_person, "B"))
    other_furnish(account_row(person, "A", subject_name="另一个名字"))
    # The same fact as CSV: every value a string, columns in another order.
    row = account_row(person, "C")
    path = tmp_path / "same.csv"
    path.write_text(csv_text(sorted(row), [row]), encoding="utf-8")
    assert ingest_path(factory, keys, bank.id, path).rows.created == 1

    hashes = {
        (who, key): who_furnish.history(key).versions[0].content_hash
        for who, who_furnish, key in [
            ("a", furnish, "A"),
            ("a", furnish, "B"),
            ("a", furnish, "C"),
            ("b", other_furnish, "A"),
        ]
    }
    assert len(set(hashes.values())) == 1, hashes
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in hashes.values())


@pytest.mark.parametrize(
    "change",
    [
        {"valid_from": "2026-10-30"},
        {"valid_to": "2027-10-31"},
        {"balance": "12000.01"},
        {"loan_kind": "mortgage"},
        {"close_date": "2026-10-31", "status": "closed"},
    ],
    ids=lambda change: "+".join(change),
)
def test_a_different_fact_has_a_different_hash(
    change: dict[str, str], db: Engine, furnish: Furnish
) -> None:
    person = new_resident_id()
    furnish(account_row(person))
    before = frozen_tables(db)
    result = furnish(account_row(person, **change))
    assert result.rows.corrected == 1
    assert_appended_only(before, db)
    v1, v2 = furnish.history().versions
    assert v1.content_hash != v2.content_hash
    for key, value in change.items():
        if key in ("valid_from", "valid_to"):
            assert getattr(v2, key) == date.fromisoformat(value)


def test_valid_time_defaults_to_the_day_received(furnish: Furnish) -> None:
    row = account_row(new_resident_id())
    del row["valid_from"]
    furnish(row)
    (version,) = furnish.history().versions
    assert version.valid_from == version.received_at.date()
    assert version.valid_to is None


def test_valid_time_range_is_kept(furnish: Furnish) -> None:
    furnish(account_row(new_resident_id(), valid_from="2025-01-01", valid_to="2025-12-31"))
    (version,) = furnish.history().versions
    assert (version.valid_from, version.valid_to) == (date(2025, 1, 1), date(2025, 12, 31))


# --- reading records ----------------------------------------------------------------------


def test_subject_records_show_the_current_version_of_every_furnisher(
    factory: sessionmaker[Session],
    keys: KeyRing,
    furnish: Furnish,
    other_furnish: Furnish,
    bank: Institution,
) -> None:
    person, enterprise = new_resident_id(), new_uscc()
    furnish(account_row(person, "A"), tax_grade_row(enterprise, "T"))
    furnish(account_row(person, "A", balance="1.00"))
    other_furnish(account_row(person, "B"), account_row(person, "C"))
    other_furnish(delete_row(person, "C"))
    with factory() as session:
        subject_id = find_subject(session, subject_ref(keys, "resident_id", person)).id
        summaries = subject_records(session, keys, subject_id)
        enterprise_id = find_subject(session, subject_ref(keys, "uscc", enterprise)).id
        enterprise_records = subject_records(session, keys, enterprise_id)
        by_type = count_records_by_type(session)
        versions = count_versions(session)
    assert [(s.record_key, s.furnisher_id, s.current_version) for s in summaries] == [
        ("A", bank.id, 2),
        ("B", other_furnish.furnisher.id, 1),
    ]
    assert summaries[0].fields is not None
    assert summaries[0].fields["balance"] == "1.00"
    assert all(s.subject_id == subject_id and not s.deleted for s in summaries)
    assert [(s.record_type, s.record_key) for s in enterprise_records] == [
        ("tax_credit_grade", "T")
    ]
    assert by_type == {"credit_account": 3, "tax_credit_grade": 1}
    assert versions == 6


def test_unknown_record(factory: sessionmaker[Session], keys: KeyRing, bank: Institution) -> None:
    with factory() as session:
        with pytest.raises(RecordNotFoundError):
            get_record(session, 424242)
        with pytest.raises(RecordNotFoundError):
            find_record(session, keys, bank.id, "credit_account", "NOPE")


def test_record_history_over_http(
    client: TestClient,
    furnish: Furnish,
    other_furnish: Furnish,
    bank: Institution,
    make_key: MakeKey,
) -> None:
    person = new_resident_id()
    furnish(account_row(person, "SHARED-KEY"))
    furnish(account_row(person, "SHARED-KEY", balance="5.00"))
    furnish(delete_row(person, "SHARED-KEY", reason="paid off"))
    other_furnish(account_row(person, "SHARED-KEY"))
    record_id = furnish.history("SHARED-KEY").id
    other_id = other_furnish.history("SHARED-KEY").id
    own = make_key(Role.FURNISHER, bank)
    other = make_key(Role.FURNISHER, other_furnish.furnisher)
    operator = make_key(Role.OPERATOR)
    auditor = make_key(Role.AUDITOR)

    response = client.get(f"/v1/records/{record_id}", headers=auth(own))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["record_key"] == "SHARED-KEY"
    assert body["deleted"] is True
    assert body["current_version"] == 3
    assert [(v["version"], v["operation"]) for v in body["versions"]] == [
        (1, "create"),
        (2, "correct"),
        (3, "delete"),
    ]
    assert body["versions"][1]["fields"]["balance"] == "5.00"
    assert body["versions"][2]["fields"] is None
    assert body["versions"][2]["reason"] == "paid off"

    for staff in (operator, auditor):
        assert client.get(f"/v1/records/{record_id}", headers=auth(staff)).json() == body

    # Another furnisher cannot tell the record exists.
    hidden = client.get(f"/v1/records/{record_id}", headers=auth(other))
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "record_not_found"
    missing = client.get("/v1/records/999999", headers=auth(own))
    assert missing.status_code == 404
    assert hidden.json()["detail"] == missing.json()["detail"].replace("999999", str(record_id))
    assert client.get(f"/v1/records/{other_id}", headers=auth(own)).status_code == 404

    lookup = {"record_type": "credit_account", "record_key": "SHARED-KEY"}
    mine = client.post("/v1/records/lookup", json=lookup, headers=auth(own))
    assert mine.status_code == 200
    assert mine.json() == body
    theirs = client.post("/v1/records/lookup", json=lookup, headers=auth(other))
    assert theirs.status_code == 200
    assert theirs.json()["id"] == other_id
    assert len(theirs.json()["versions"]) == 1

    wrong_type = client.post(
        "/v1/records/lookup", json=lookup | {"record_type": "tax_credit_grade"}, headers=auth(own)
    )
    assert wrong_type.status_code == 404
    assert wrong_type.json()["code"] == "record_not_found"
    assert client.post("/v1/records/lookup", json=lookup, headers=auth(operator)).status_code == 403
    assert client.get(f"/v1/records/{record_id}").status_code == 401
