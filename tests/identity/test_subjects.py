"""Tests of subjects: lookup by identifier, masking by role, and privacy at rest."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from support import MakeInstitution, MakeKey, account_row, auth, new_resident_id, new_uscc
from xinyong import migrate
from xinyong.api.app import create_app
from xinyong.config import Settings
from xinyong.db import make_engine, make_session_factory, transaction
from xinyong.identity.crypto import KeyRing
from xinyong.identity.identifiers import IdentifierType, InvalidIdentifierError, make_uscc
from xinyong.identity.models import Subject
from xinyong.identity.service import (
    IDENTIFIER_CONTEXT,
    InvalidSubjectSelectorError,
    SubjectKey,
    SubjectNotFoundError,
    find_subject,
    get_subject,
    identifier_index,
    locate_subject,
    locate_subject_key,
    subject_ref,
)
from xinyong.institutions.schemas import InstitutionCreate, InstitutionKind, Role
from xinyong.institutions.service import create_institution, issue_api_key
from xinyong.ledger.service import ledger_keys

PERSON_ID = "360426199101010071"  # RULES.md 2
PERSON_ID_MASKED = "3604**********0071"
ENTERPRISE_ID = "91310115MA1K3BTP2B"  # RULES.md 1
ENTERPRISE_ID_MASKED = "9131**********TP2B"


def submit(client: TestClient, key: str, row: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/ingestion/records", json=row, headers=auth(key))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def lookup(
    client: TestClient, key: str, id_type: str, identifier: str, reveal: bool | None = None
) -> Any:
    url = "/v1/subjects/lookup" + ("" if reveal is None else f"?reveal={str(reveal).lower()}")
    return client.post(url, json={"id_type": id_type, "identifier": identifier}, headers=auth(key))


@dataclass
class Loaded:
    furnisher_key: str
    operator_key: str
    auditor_key: str
    querier_key: str
    person_id: int = 0
    enterprise_id: int = 0


@pytest.fixture
def loaded(client: TestClient, make_institution: MakeInstitution, make_key: MakeKey) -> Loaded:
    """A person with two records (one later deleted) and an enterprise with one."""
    bank = make_institution("bank-subjects", record_types=["credit_account"])
    lender = make_institution("lender-subjects", purposes=["loan_approval"])
    data = Loaded(
        furnisher_key=make_key(Role.FURNISHER, bank),
        operator_key=make_key(Role.OPERATOR),
        auditor_key=make_key(Role.AUDITOR),
        querier_key=make_key(Role.QUERIER, lender),
    )
    submit(
        client,
        data.furnisher_key,
        account_row(PERSON_ID, "LOAN-P-1", subject_name="王小明", subject_name_en="Wang Xiaoming"),
    )
    submit(
        client, data.furnisher_key, account_row(PERSON_ID, "CARD-P-2", account_type="credit_card")
    )
    submit(
        client,
        data.furnisher_key,
        {
            "record_type": "credit_account",
            "record_key": "CARD-P-2",
            "subject_id_type": "resident_id",
            "subject_identifier": PERSON_ID,
            "action": "delete",
            "reason": "reported in error",
        },
    )
    submit(
        client,
        data.furnisher_key,
        account_row(
            ENTERPRISE_ID,
            "LOAN-E-1",
            subject_id_type="uscc",
            subject_name="上海示范科技有限公司",
            subject_name_en="Shanghai Demo Technology Co., Ltd.",
            loan_kind="business",
        ),
    )
    person = lookup(client, data.operator_key, "resident_id", PERSON_ID).json()
    enterprise = lookup(client, data.operator_key, "uscc", ENTERPRISE_ID).json()
    data.person_id, data.enterprise_id = person["id"], enterprise["id"]
    return data


# --- lookup and masking -------------------------------------------------------------------------


def test_lookup_masks_the_identifier_by_default(client: TestClient, loaded: Loaded) -> None:
    for key in (loaded.operator_key, loaded.auditor_key):
        response = lookup(client, key, "resident_id", PERSON_ID)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["identifier"] == PERSON_ID_MASKED
        assert body["identifier_masked"] is True
        assert body["kind"] == "person"
        assert body["id_type"] == "resident_id"
        assert body["name"] == "王小明"
        assert body["name_en"] == "Wang Xiaoming"
        assert PERSON_ID not in response.text


def test_lookup_of_an_enterprise(client: TestClient, loaded: Loaded) -> None:
    body = lookup(client, loaded.auditor_key, "uscc", ENTERPRISE_ID).json()
    assert body["id"] == loaded.enterprise_id
    assert body["kind"] == "enterprise"
    assert body["identifier"] == ENTERPRISE_ID_MASKED
    assert body["name"] == "上海示范科技有限公司"
    assert body["name_en"] == "Shanghai Demo Technology Co., Ltd."


def test_lookup_normalizes_the_identifier(client: TestClient, loaded: Loaded) -> None:
    spaced = " 3604 2619 9101 0100 71 "
    body = lookup(client, loaded.auditor_key, "resident_id", spaced).json()
    assert body["id"] == loaded.person_id
    body = lookup(client, loaded.auditor_key, "uscc", ENTERPRISE_ID.lower()).json()
    assert body["id"] == loaded.enterprise_id


def test_only_an_operator_may_reveal(client: TestClient, loaded: Loaded) -> None:
    revealed = lookup(client, loaded.operator_key, "resident_id", PERSON_ID, reveal=True)
    assert revealed.status_code == 200
    assert revealed.json()["identifier"] == PERSON_ID
    assert revealed.json()["identifier_masked"] is False

    refused = lookup(client, loaded.auditor_key, "resident_id", PERSON_ID, reveal=True)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "reveal_not_permitted"
    assert PERSON_ID not in refused.text

    explicit_false = lookup(client, loaded.auditor_key, "resident_id", PERSON_ID, reveal=False)
    assert explicit_false.json()["identifier"] == PERSON_ID_MASKED


@pytest.mark.parametrize("role", ["furnisher_key", "querier_key"])
def test_institutions_may_not_look_subjects_up(
    client: TestClient, loaded: Loaded, role: str
) -> None:
    response = lookup(client, getattr(loaded, role), "resident_id", PERSON_ID)
    assert response.status_code == 403
    assert response.json()["code"] == "role_not_permitted"


def test_lookup_of_an_unknown_subject_is_404(client: TestClient, loaded: Loaded) -> None:
    response = lookup(client, loaded.auditor_key, "resident_id", "44011320141005001X")
    assert response.status_code == 404
    assert response.json()["code"] == "subject_not_found"
    assert "44011320141005001X" not in response.text


def test_lookup_of_an_invalid_identifier_is_400(client: TestClient, loaded: Loaded) -> None:
    response = lookup(client, loaded.auditor_key, "resident_id", "36042619910102009X")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_identifier"
    assert "36042619910102009X" not in response.text


def test_lookup_with_an_unknown_identifier_type_is_422(client: TestClient, loaded: Loaded) -> None:
    response = lookup(client, loaded.auditor_key, "passport", "E12345678")
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


# --- reading a subject and its records ----------------------------------------------------------


def test_read_subject(client: TestClient, loaded: Loaded) -> None:
    url = f"/v1/subjects/{loaded.person_id}"
    masked = client.get(url, headers=auth(loaded.auditor_key))
    assert masked.status_code == 200
    assert masked.json()["identifier"] == PERSON_ID_MASKED
    assert masked.json()["name"] == "王小明"

    revealed = client.get(url + "?reveal=true", headers=auth(loaded.operator_key))
    assert revealed.json()["identifier"] == PERSON_ID

    refused = client.get(url + "?reveal=true", headers=auth(loaded.auditor_key))
    assert refused.status_code == 403
    assert PERSON_ID not in refused.text

    missing = client.get("/v1/subjects/987654", headers=auth(loaded.auditor_key))
    assert missing.status_code == 404
    assert missing.json()["code"] == "subject_not_found"


def test_subject_records(client: TestClient, loaded: Loaded) -> None:
    url = f"/v1/subjects/{loaded.person_id}/records"
    current = client.get(url, headers=auth(loaded.auditor_key))
    assert current.status_code == 200, current.text
    records = current.json()
    assert [r["record_key"] for r in records] == ["LOAN-P-1"]
    assert records[0]["subject_id"] == loaded.person_id
    assert records[0]["fields"]["balance"] == "12000.00"
    assert records[0]["deleted"] is False

    everything = client.get(url + "?include_deleted=true", headers=auth(loaded.auditor_key)).json()
    assert sorted(r["record_key"] for r in everything) == ["CARD-P-2", "LOAN-P-1"]
    deleted = next(r for r in everything if r["record_key"] == "CARD-P-2")
    assert deleted["deleted"] is True
    assert deleted["fields"] is None
    assert deleted["current_version"] == 2

    enterprise = client.get(
        f"/v1/subjects/{loaded.enterprise_id}/records", headers=auth(loaded.operator_key)
    ).json()
    assert [r["record_key"] for r in enterprise] == ["LOAN-E-1"]
    assert enterprise[0]["fields"]["loan_kind"] == "business"

    missing = client.get("/v1/subjects/987654/records", headers=auth(loaded.auditor_key))
    assert missing.status_code == 404


def test_a_subject_is_created_once(client: TestClient, loaded: Loaded) -> None:
    # Three submissions about the person (two records and a deletion) made one subject.
    submit(client, loaded.furnisher_key, account_row(f" {PERSON_ID.lower()} ", "LOAN-P-3"))
    records = client.get(
        f"/v1/subjects/{loaded.person_id}/records", headers=auth(loaded.auditor_key)
    ).json()
    assert sorted(r["record_key"] for r in records) == ["LOAN-P-1", "LOAN-P-3"]


def test_find_subject_through_the_service(
    client: TestClient, loaded: Loaded, factory: sessionmaker[Session], keys: KeyRing
) -> None:
    with factory() as session:
        ref = subject_ref(keys, "resident_id", PERSON_ID)
        assert ref.index == identifier_index(keys, "resident_id", PERSON_ID)
        subject = find_subject(session, ref)
        assert subject.id == loaded.person_id
        assert PERSON_ID.encode() not in subject.identifier_ct
        assert keys.decrypt_text(subject.identifier_ct, IDENTIFIER_CONTEXT) == PERSON_ID
        assert find_subject(session, subject_ref(keys, "uscc", ENTERPRISE_ID)).kind == (
            "enterprise"
        )
        with pytest.raises(SubjectNotFoundError):
            find_subject(session, subject_ref(keys, "resident_id", new_resident_id()))


def test_subject_keys_are_located_by_the_same_rules(
    client: TestClient, loaded: Loaded, factory: sessionmaker[Session], keys: KeyRing
) -> None:
    """locate_subject_key (the checks' Core lookup) answers as locate_subject does."""
    selectors: list[dict[str, Any]] = [
        {"subject_id": loaded.person_id},
        {"subject_id": loaded.enterprise_id},
        {"identifier": PERSON_ID},
        {"identifier": ENTERPRISE_ID},
        {"identifier": ENTERPRISE_ID.lower()},
        {"identifier": PERSON_ID, "id_type": IdentifierType.RESIDENT_ID},
        {"identifier": ENTERPRISE_ID, "id_type": IdentifierType.USCC},
    ]
    with factory() as session:
        for selector in selectors:
            subject = locate_subject(session, keys, **selector)
            key = locate_subject_key(session, keys, **selector)
            assert key == SubjectKey(subject.id, subject.kind), selector
        refused: list[tuple[dict[str, Any], type[Exception], str | None]] = [
            ({"subject_id": 10**9}, SubjectNotFoundError, "does not exist"),
            ({"identifier": new_resident_id()}, SubjectNotFoundError, "no subject"),
            ({"identifier": "12345"}, InvalidIdentifierError, "neither"),
            (
                {"identifier": PERSON_ID, "id_type": IdentifierType.USCC},
                InvalidIdentifierError,
                None,
            ),
            ({"subject_id": 1, "identifier": PERSON_ID}, InvalidSubjectSelectorError, "not both"),
            ({}, InvalidSubjectSelectorError, "give subject_id"),
        ]
        for selector, error, words in refused:
            for locate in (locate_subject, locate_subject_key):
                with pytest.raises(error, match=words):
                    locate(session, keys, **selector)


def test_get_subject_reads_like_session_get(loaded: Loaded, factory: sessionmaker[Session]) -> None:
    """The prebuilt lookup: the identity map's object when it has one, no flush, not found."""
    with factory() as session:
        pending = Subject(kind="person", id_type="resident_id", identifier_index=b"x" * 32)
        pending.identifier_ct = b"ct"
        session.add(pending)
        subject = get_subject(session, loaded.person_id)
        assert subject.id == loaded.person_id
        assert pending in session.new  # nothing was flushed
        assert get_subject(session, loaded.person_id) is subject
        session.expire(subject)
        assert get_subject(session, loaded.person_id).kind == "person"
        with pytest.raises(SubjectNotFoundError, match="does not exist"):
            get_subject(session, 10**9)
        session.rollback()


# --- privacy at rest ----------------------------------------------------------------------------

PEOPLE = [
    ("张伟", "Zhang Weiqiang"),
    ("李娜", "Li Nafeng"),
    ("王芳", "Wang Fangyuan"),
    ("欧阳修远", "Ouyang Xiuyuan"),
]
COMPANIES = [
    ("北京星河数据服务有限公司", "Beijing Galaxy Data Services Co., Ltd."),
    ("深圳市蓝海物流有限公司", "Shenzhen Blue Ocean Logistics Co., Ltd."),
]
# Individual businesses (USCC prefix 92) trade under names that are often their owners':
# unlike other organisations' names, theirs are personal data.
INDIVIDUAL_BUSINESSES = [("欧阳修远便利店", "Ouyang Xiuyuan Convenience Store")]


@dataclass
class Secrets:
    identifiers: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    record_keys: list[str] = field(default_factory=list)
    # Organisations' names: public register data, kept in clear for the public name search.
    public_names: list[str] = field(default_factory=list)

    def needles(self) -> dict[bytes, str]:
        """Every byte string that must not appear, with what it is."""
        found: dict[bytes, str] = {}
        for identifier in self.identifiers:
            for variant in {identifier, identifier.lower()}:
                found[variant.encode()] = f"identifier {identifier}"
                found[variant.encode("utf-16-le")] = f"identifier {identifier} (UTF-16LE)"
                found[variant.encode("utf-16-be")] = f"identifier {identifier} (UTF-16BE)"
        for name in self.names:
            found[name.encode()] = f"name {name}"
            # The form json.dumps writes by default (\uXXXX escapes).
            found[json.dumps(name)[1:-1].encode()] = f"name {name} (JSON-escaped)"
        for record_key in self.record_keys:
            found[record_key.encode()] = f"record key {record_key}"
        return found


@pytest.fixture
def private_platform(
    fresh_db_url: str, tmp_path: Path, keys: KeyRing
) -> Iterator[tuple[Engine, TestClient]]:
    """A platform on a database of its own (a file for SQLite), so its bytes can be read."""
    engine = make_engine(fresh_db_url)
    migrate.upgrade(engine)
    settings = Settings(data_dir=tmp_path / "data", database_url=fresh_db_url)
    app = create_app(settings, engine=engine, keys=keys)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield engine, client
    engine.dispose()


def _load_private_population(engine: Engine, client: TestClient, keys: KeyRing) -> Secrets:
    factory = make_session_factory(engine, ledger=ledger_keys(keys, Settings()))
    with transaction(factory) as session:
        bank = create_institution(
            session,
            keys,
            InstitutionCreate(
                code="privacy-bank",
                name="隐私测试银行",
                kind=InstitutionKind.BANK,
                uscc=new_uscc(),
                is_furnisher=True,
                permitted_record_types=["credit_account", "tax_credit_grade"],
            ),
        )
        furnisher_key = issue_api_key(session, Role.FURNISHER, bank).api_key
    secrets = Secrets()
    lines = []
    for n, (name, name_en) in enumerate(PEOPLE):
        identifier = new_resident_id()
        record_key = f"PRIVLOAN{n:04d}QZX"
        row = account_row(identifier, record_key, subject_name=name, subject_name_en=name_en)
        if n % 2:
            submit(client, furnisher_key, row)
        else:
            lines.append(json.dumps(row, ensure_ascii=False))
        secrets.identifiers.append(identifier)
        secrets.names += [name, name_en]
        secrets.record_keys.append(record_key)
    businesses = [(new_uscc(), name, name_en, True) for name, name_en in COMPANIES]
    businesses += [
        (make_uscc("9", "2", "110101", f"{20_000_000 + n:08d}"), name, name_en, False)
        for n, (name, name_en) in enumerate(INDIVIDUAL_BUSINESSES)
    ]
    for n, (identifier, name, name_en, public) in enumerate(businesses):
        record_key = f"PRIVCORP{n:04d}QZX"
        row = account_row(
            identifier,
            record_key,
            subject_id_type="uscc",
            subject_name=name,
            subject_name_en=name_en,
            loan_kind="business",
        )
        submit(client, furnisher_key, row)
        secrets.identifiers.append(identifier)
        if public:
            secrets.public_names += [name, name_en]
        else:
            secrets.names += [name, name_en]
        secrets.record_keys.append(record_key)
    # A rejected row about a known person: its rejection report must not leak either.
    rejected = {
        "record_type": "tax_credit_grade",
        "record_key": "PRIVREJECT0001QZX",
        "subject_id_type": "resident_id",
        "subject_identifier": secrets.identifiers[0],
        "subject_name": PEOPLE[0][0],
        "grade": "A",
    }
    secrets.record_keys.append(str(rejected["record_key"]))
    lines.append(json.dumps(rejected, ensure_ascii=False))
    response = client.post(
        "/v1/ingestion/batches?format=jsonl",
        content="\n".join(lines).encode(),
        headers={**auth(furnisher_key), "Idempotency-Key": "privacy-batch-1"},
    )
    assert response.status_code == 201, response.text
    rows = response.json()["rows"]
    assert rows["created"] == len(lines) - 1
    assert rows["rejected"] == 1
    return secrets


def _sqlite_bytes(engine: Engine) -> bytes:
    """The raw bytes of the database file, and of its WAL if one is left."""
    database = make_url(str(engine.url)).database
    assert database
    path = Path(database)
    engine.dispose()
    connection = sqlite3.connect(path)
    try:
        busy, _log, _checkpointed = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    finally:
        connection.close()
    content = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        content += wal.read_bytes()
    return content


def _postgres_bytes(engine: Engine) -> bytes:
    """Every value of every column of every table, as text and as raw bytes."""
    chunks: list[bytes] = []
    with engine.connect() as connection:
        tables = inspect(connection).get_table_names()
        assert "subjects" in tables
        for table in tables:
            # The whole row as text: bytea columns render as hex, so search hex forms too.
            for (row_text,) in connection.execute(text(f'SELECT t::text FROM "{table}" AS t')):
                chunks.append(row_text.encode())
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        chunks.append(bytes(value))
                    elif value is not None:
                        chunks.append(str(value).encode())
    return b"\n".join(chunks)


def test_nothing_in_the_database_reveals_an_identifier(
    private_platform: tuple[Engine, TestClient], keys: KeyRing, backend: str
) -> None:
    engine, client = private_platform
    secrets = _load_private_population(engine, client, keys)
    content = _sqlite_bytes(engine) if backend == "sqlite" else _postgres_bytes(engine)

    # Positive controls: the scan sees the data that is stored in clear on purpose.
    assert b"privacy-bank" in content
    assert "隐私测试银行".encode() in content
    assert b"privacy-batch-1" in content
    # Organisations' names are public register data, kept for the public name search.
    for name in secrets.public_names:
        assert name.encode() in content, name

    needles = secrets.needles()
    if backend == "postgresql":
        needles |= {needle.hex().encode(): f"{what} (hex)" for needle, what in needles.items()}
    leaks = sorted({what for needle, what in needles.items() if needle in content})
    assert leaks == []
