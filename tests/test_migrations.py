"""Tests of the Alembic migrations: they build exactly the models' schema, both ways."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from xinyong import migrate
from xinyong.db import make_engine
from xinyong.models import Base


@pytest.fixture
def empty_engine(fresh_db_url: str) -> Iterator[Engine]:
    engine = make_engine(fresh_db_url)
    yield engine
    engine.dispose()


def schema_differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


def table_names(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(inspect(connection).get_table_names())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_migrations_produce_exactly_the_models_schema(empty_engine: Engine) -> None:
    assert table_names(empty_engine) == set()
    migrate.upgrade(empty_engine)
    assert table_names(empty_engine) == set(Base.metadata.tables) | {"alembic_version"}
    assert current_revision(empty_engine) is not None
    assert schema_differences(empty_engine) == []


def test_the_comparison_sees_a_difference(empty_engine: Engine) -> None:
    """Guards the test above: a schema that differs from the models is reported."""
    migrate.upgrade(empty_engine)
    with empty_engine.begin() as connection:
        connection.execute(text("CREATE TABLE stray (id INTEGER PRIMARY KEY)"))
    kinds = [diff[0] for diff in schema_differences(empty_engine) if isinstance(diff, tuple)]
    assert "remove_table" in kinds


def test_downgrade_to_base_and_upgrade_again(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    head = current_revision(empty_engine)

    migrate.downgrade(empty_engine, "base")
    assert table_names(empty_engine) <= {"alembic_version"}
    assert current_revision(empty_engine) is None

    migrate.upgrade(empty_engine)
    assert current_revision(empty_engine) == head
    assert schema_differences(empty_engine) == []


def test_upgrade_is_idempotent(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    migrate.upgrade(empty_engine)
    assert schema_differences(empty_engine) == []
