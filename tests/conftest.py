"""Shared fixtures: every database test runs on SQLite and on a real PostgreSQL.

PostgreSQL comes from ``XINYONG_TEST_DATABASE_URL`` when set (its tables are dropped and
recreated: use a database of its own), otherwise from an embedded server started here with
the ``pgserver`` package.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from support import MakeInstitution, MakeKey, new_uscc
from xinyong import migrate
from xinyong.api.app import create_app
from xinyong.config import Settings
from xinyong.db import make_engine, make_session_factory, transaction
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import InstitutionCreate, InstitutionKind, Role
from xinyong.institutions.service import create_institution, issue_api_key
from xinyong.ledger.service import ledger_keys
from xinyong.models import Base

BACKENDS = ("sqlite", "postgresql")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first within each run of one backend's tests.

    pytest has grouped the tests by backend (each switch rebuilds the database); starting
    each group with its longest tests lets parallel workers (``-n``) finish together.
    """
    start = 0
    for end in range(1, len(items) + 1):
        if end == len(items) or _backend_of(items[end]) != _backend_of(items[start]):
            items[start:end] = sorted(
                items[start:end], key=lambda item: item.get_closest_marker("slow") is None
            )
            start = end


def _backend_of(item: pytest.Item) -> object:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("backend") if callspec is not None else None


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A URL of a PostgreSQL server where test databases may be created."""
    configured = os.environ.get("XINYONG_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    import pgserver

    # Not under pytest's basetemp: a concurrent pytest run resets that tree to mode 0700,
    # which locks out the server (it runs as an unprivileged user when we are root).
    data_dir = Path(tempfile.mkdtemp(prefix="xinyong-pgdata-"))
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    host = make_url(server.get_uri()).query["host"]
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={host}"
    finally:
        server.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


def _reset(engine: Engine) -> None:
    with engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """The PostgreSQL database this test process works in.

    One process: the server's own database. Under pytest-xdist each worker gets a database
    of its own on the same server (tables are dropped and recreated per run).
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        yield postgres_admin_url
        return
    with _database(postgres_admin_url, f"xinyong_test_{worker}") as url:
        yield url


@contextmanager
def _database(admin_url: str, name: str) -> Iterator[str]:
    """A new, empty database on the server (one left by an earlier run is dropped first)."""
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    drop = text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    with admin.connect() as connection:
        connection.execute(drop)
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(drop)
        admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def db_url(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'xinyong-test.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    _reset(engine)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def _wipe(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def db(engine: Engine) -> Iterator[Engine]:
    """The migrated test database, emptied after each test."""
    yield engine
    _wipe(engine)


@pytest.fixture
def factory(db: Engine, keys: KeyRing, settings: Settings) -> sessionmaker[Session]:
    return make_session_factory(db, ledger=ledger_keys(keys, settings))


@pytest.fixture
def session(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session
        session.rollback()


@pytest.fixture(scope="session")
def keys() -> KeyRing:
    return KeyRing(secrets.token_bytes(32), secrets.token_bytes(32))


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    # No embedded webhook worker: tests that deliver drive it themselves.
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        ingest_chunk_rows=50,
        events_worker="off",
    )


@pytest.fixture
def client(db: Engine, settings: Settings, keys: KeyRing) -> Iterator[TestClient]:
    app = create_app(settings, engine=db, keys=keys)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def fresh_db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of its own (for tests that run the CLI in another process)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    admin_url = str(request.getfixturevalue("postgres_admin_url"))
    with _database(admin_url, f"xinyong_{uuid.uuid4().hex[:12]}") as url:
        yield url


@pytest.fixture
def make_institution(factory: sessionmaker[Session], keys: KeyRing) -> MakeInstitution:
    def make(
        code: str,
        *,
        record_types: list[str] | None = None,
        purposes: list[str] | None = None,
        kind: InstitutionKind = InstitutionKind.BANK,
    ) -> Institution:
        with transaction(factory) as session:
            return create_institution(
                session,
                keys,
                InstitutionCreate(
                    code=code,
                    name=f"{code} 机构",
                    kind=kind,
                    uscc=new_uscc(),
                    is_furnisher=record_types is not None,
                    is_querier=purposes is not None,
                    permitted_record_types=record_types or [],
                    permitted_purposes=purposes or [],
                ),
            )

    return make


@pytest.fixture
def make_key(factory: sessionmaker[Session]) -> MakeKey:
    def make(role: Role, institution: Institution | None = None) -> str:
        with transaction(factory) as session:
            owner = session.get(Institution, institution.id) if institution else None
            return issue_api_key(session, role, owner).api_key

    return make
