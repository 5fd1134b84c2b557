"""Database engine, declarative base and sessions.

SQLite (WAL) is the embedded default; PostgreSQL runs the same models and migrations.
Services take a :class:`~sqlalchemy.orm.Session` and never commit: the caller (an HTTP
request, a CLI command, a batch runner) owns the transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from sqlalchemy import (
    JSON,
    DateTime,
    LargeBinary,
    MetaData,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one is taken to be UTC already (as SQLite returns them)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC timestamp is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class AppendOnly:
    """Marks a model whose rows are written once and never changed or deleted.

    Query records, audit entries and the access log are evidence: the application refuses
    to flush an update or a delete of such a row (see :func:`_refuse_changes`).
    """


class ImmutableRowError(RuntimeError):
    """An attempt to change or delete an append-only row: a programming error."""


@event.listens_for(Session, "before_flush")
def _refuse_changes(session: Session, _context: Any, _instances: Any) -> None:
    for instance in session.deleted:
        if isinstance(instance, AppendOnly):
            raise ImmutableRowError(f"{type(instance).__name__} rows cannot be deleted")
    for instance in session.dirty:
        if isinstance(instance, AppendOnly) and session.is_modified(instance):
            raise ImmutableRowError(f"{type(instance).__name__} rows cannot be changed")


class RawBytes(TypeDecorator[bytes]):
    """Bytes as both drivers take them: no per-value wrapping in hot-path IN lists."""

    impl = LargeBinary
    cache_ok = True

    def bind_processor(self, dialect: Any) -> None:
        return None


def bytes_in(column: Any, name: str) -> Any:
    """``column IN (:name)`` for a list of bytes bound under ``name``."""
    return column.in_(bindparam(name, expanding=True, type_=RawBytes()))


def utcnow() -> datetime:
    return datetime.now(UTC)


class _WriterTurn:
    """Whose turn it is to write to an SQLite database, among this process's threads.

    SQLite lets one writer in at a time; the others wait in its busy handler, which sleeps
    in growing steps (up to 100 ms) and lets a newcomer overtake a waiter. Queueing on a
    lock in the process first hands the database to the next thread as soon as it is free,
    which keeps tail latency low under concurrent requests. Other processes still meet the
    busy timeout. The holder is the DBAPI connection, so a turn is given back however its
    transaction ends: commit, rollback, or the pool resetting the connection.
    """

    def __init__(self, timeout: float) -> None:
        self._lock = threading.Lock()
        self._holder: int | None = None
        self._timeout = timeout

    def take(self, dbapi_connection: Any) -> None:
        # On timeout, go on without the turn: SQLite's busy timeout then decides, as it
        # would without this queue (e.g. one thread holding two connections).
        if self._lock.acquire(timeout=self._timeout):
            self._holder = id(dbapi_connection)

    def give_back(self, dbapi_connection: Any) -> None:
        if self._holder is not None and self._holder == id(dbapi_connection):
            self._holder = None
            self._lock.release()


_BUSY_TIMEOUT_MS = 30_000


def _configure_sqlite(engine: Engine) -> None:
    turn = _WriterTurn(_BUSY_TIMEOUT_MS / 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin, so
        # savepoints and BEGIN IMMEDIATE behave (SQLAlchemy docs, "pysqlite" dialect).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: two writers queue on busy_timeout
        # instead of deadlocking when both upgrade a read lock.
        dbapi_connection = connection.connection.dbapi_connection
        turn.take(dbapi_connection)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            turn.give_back(dbapi_connection)
            raise

    def _end(connection: Any) -> None:
        # Fired just before the COMMIT or ROLLBACK itself: a thread woken now finds the
        # database free after at most SQLite's first 1 ms busy wait.
        turn.give_back(connection.connection.dbapi_connection)

    event.listen(engine, "commit", _end)
    event.listen(engine, "rollback", _end)

    def _returned(dbapi_connection: Any, *_args: Any) -> None:
        turn.give_back(dbapi_connection)

    event.listen(engine.pool, "reset", _returned)
    event.listen(engine.pool, "checkin", _returned)
    event.listen(engine.pool, "invalidate", _returned)
    event.listen(engine.pool, "close", _returned)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the platform's per-backend settings."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


# Where a session keeps its ledger keys (:class:`xinyong.ledger.service.LedgerKeys`).
LEDGER_SESSION_KEY = "xinyong.ledger"


def make_session_factory(engine: Engine, ledger: object | None = None) -> sessionmaker[Session]:
    """Sessions for ``engine``; ``ledger`` (ledger keys) lets them log record events.

    A session without ledger keys refuses to commit a record event rather than write one
    the ledger would not prove.
    """
    info = {LEDGER_SESSION_KEY: ledger} if ledger is not None else {}
    return sessionmaker(bind=engine, expire_on_commit=False, info=info)


# Every record event is logged in its own transaction (xinyong.ledger.service). The ledger
# imports the domains' models, so it is imported when first needed, not here.
@event.listens_for(Session, "after_flush")
def _ledger_collect(session: Session, _context: Any) -> None:
    from xinyong.ledger.service import collect_flushed

    collect_flushed(session)


@event.listens_for(Session, "before_commit")
def _ledger_append(session: Session) -> None:
    from xinyong.ledger.service import append_pending

    append_pending(session)


@event.listens_for(Session, "after_rollback")
def _ledger_discard(session: Session) -> None:
    from xinyong.ledger.service import discard_pending

    discard_pending(session)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# Values per IN list: PostgreSQL takes at most 65,535 bind parameters in one statement,
# and a chunk may hold up to 100,000 rows.
IN_LIST_LIMIT = 10_000


def in_batches(values: Sequence[T], size: int = IN_LIST_LIMIT) -> Iterator[Sequence[T]]:
    """Slices of ``values`` small enough for one ``IN (…)`` list."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def bulk_insert(
    session: Session, model: type[Base], columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert many rows in the session's transaction as fast as the backend allows.

    PostgreSQL gets ``COPY … FROM STDIN``; SQLite a prepared ``executemany``. Values go
    through the columns' own bind processors, so they are stored exactly as the ORM would
    store them.
    """
    if not rows:
        return
    table = _table(model)
    connection = session.connection()
    dialect = connection.dialect
    # Bytes need no conversion on either driver; dates, timestamps and JSON do.
    processors = [
        (index, processor)
        for index, name in enumerate(columns)
        if not isinstance(table.c[name].type, LargeBinary)
        and (processor := table.c[name].type._cached_bind_processor(dialect)) is not None
    ]
    if processors:
        # A chunk repeats the same timestamps and dates many times: convert each once.
        memo: dict[tuple[int, Any], Any] = {}
        converted = []
        for row in rows:
            values = list(row)
            for index, processor in processors:
                value = values[index]
                if isinstance(value, dict | list):  # JSON: unhashable, convert each time
                    values[index] = processor(value)
                elif value is not None:
                    key = (index, value)
                    stored = memo.get(key)
                    if stored is None:
                        stored = memo[key] = processor(value)
                    values[index] = stored
            converted.append(values)
        rows = converted
    driver = connection.connection.driver_connection
    assert driver is not None
    names = ", ".join(columns)
    if dialect.name == "postgresql":
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" for _ in columns)
        cursor = driver.cursor()
        try:
            # Table and column names come from the metadata, never from input.
            statement = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"  # noqa: S608
            cursor.executemany(statement, rows)
        finally:
            cursor.close()


def refresh_statistics(session: Session, models: Sequence[type[Base]]) -> None:
    """Let PostgreSQL's planner see tables that a bulk load is growing.

    Without statistics the planner takes a freshly loaded table for empty and scans it
    whole for every lookup, which makes a large batch quadratic. SQLite needs nothing.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        names = ", ".join(_table(model).name for model in models)
        connection.exec_driver_sql(f"ANALYZE {names}")


def allocate_ids(session: Session, model: type[Base], count: int) -> list[int]:
    """Reserve ``count`` primary keys of ``table`` for rows about to be bulk-inserted.

    PostgreSQL draws them from the column's sequence. On SQLite the transaction already
    holds the database write lock (BEGIN IMMEDIATE), so the keys after the current maximum
    are free until it commits.
    """
    if count == 0:
        return []
    table = _table(model)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return list(
            connection.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                    "FROM generate_series(1, :count)"
                ),
                {"table": table.name, "count": count},
            ).scalars()
        )
    start = connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    return list(range(start + 1, start + 1 + count))
