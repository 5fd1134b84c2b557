"""The feature and scorecard expressions give the very same numbers on Spark as on DuckDB.

Batch code runs on DuckDB by default and on Spark at scale, through Ibis's PySpark backend.
These tests run both engines on the same Parquet files and compare row for row: features
and items exactly (NULL and NaN both mean missing), compiled points and scores exactly, and
scores against the Python scorer. One snapshot of a synthetic population gives the bulk of
the rows; hand-made rows cover the edges a small population may miss (time-zone cut-offs,
grid windows, leap days, ties).

They need Java and pyspark. Both belong to the development environment (the lock pins
pyspark; the machine image has a JDK), so a missing one fails these tests: none is skipped.
"""

from __future__ import annotations

import math
import os
import shutil
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from population import load_population
from pyspark.sql import SparkSession
from sqlalchemy.engine import Engine

from xinyong.catalog.service import get_catalog
from xinyong.config import Settings
from xinyong.db import make_session_factory
from xinyong.identity.crypto import KeyRing
from xinyong.ledger.service import ledger_keys
from xinyong.models import Base
from xinyong.reports.profiles import get_profile
from xinyong.scoring import WoeScorecard
from xinyong.scoring.compile import compile_scorecard
from xinyong.scoring.features import (
    FeatureInputs,
    batch_features,
    feature_names,
    feature_table,
    point_in_time_items,
    snapshot_inputs,
)
from xinyong.scoring.snapshot import (
    INQUIRIES_SCHEMA,
    SUBJECTS_SCHEMA,
    items_schema,
    versions_schema,
    write_snapshot,
)
from xinyong.scoring.training import TrainingData, platform_training_data

PROFILE = get_profile("cn")
AS_OF = date(2026, 6, 15)

pytestmark = [
    pytest.mark.spark,
    pytest.mark.filterwarnings(
        "ignore:fetch_arrow_table\\(\\) is deprecated:DeprecationWarning",
        # pyspark 4.0 and ibis 12 on pandas 3: deprecations inside their pandas conversion.
        "ignore:The copy keyword is deprecated",
        "ignore:The 'future.infer_string' option is deprecated",
    ),
]


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local Spark for the test session: two cores, no UI, UTC, on the loopback only."""
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        pytest.fail("the Spark parity tests need Java: a JDK 17 on PATH or in JAVA_HOME")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("xinyong-spark-parity")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="module")
def spark_con(spark: SparkSession) -> Any:
    return ibis.pyspark.connect(spark)


# --- comparing -----------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same type, floats bit for bit; NULL and NaN both mean missing."""
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return type(a) is type(b) and bool(a == b)


def _assert_identical(duck: pa.Table, spark: pa.Table) -> None:
    assert duck.schema == spark.schema
    assert duck.num_rows == spark.num_rows
    for name in duck.column_names:
        pairs = zip(duck.column(name).to_pylist(), spark.column(name).to_pylist(), strict=True)
        differ = [(row, a, b) for row, (a, b) in enumerate(pairs) if not _same(a, b)]
        assert not differ, (name, differ[:5])


Build = Callable[[Callable[[str], ir.Table]], ir.Table]


def _on_both(directory: Path, tables: Mapping[str, pa.Table], build: Build, spark_con: Any) -> Any:
    """``build`` run on DuckDB and on Spark over ``tables`` written as Parquet files."""
    directory.mkdir()
    for name, table in tables.items():
        pq.write_table(table, directory / f"{name}.parquet")
    results = []
    for con in (ibis.duckdb.connect(), spark_con):
        expr = build(lambda name, con=con: con.read_parquet(directory / f"{name}.parquet"))
        results.append(con.to_pyarrow(expr))
    return results


# --- a synthetic population --------------------------------------------------------------------

# The snapshot is the input of both engines: one database (of the two that database tests
# run on) is enough to write it.
on_sqlite = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@dataclass(frozen=True)
class Snapshot:
    directory: Path
    as_of: date
    training: TrainingData  # person features of the labelled subjects, and their labels


@pytest.fixture(scope="module")
def snapshot(engine: Engine, keys: KeyRing, tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """A population loaded once, its snapshot and person training data.

    The database is emptied again as soon as they are written, as the ``db`` fixture
    leaves it after each test.
    """
    tmp = tmp_path_factory.mktemp("spark-parity")
    factory = make_session_factory(engine, ledger=ledger_keys(keys, Settings()))
    try:
        population = load_population(factory, keys, tmp / "population", persons=300, enterprises=60)
        as_of = PROFILE.today()
        with factory() as session:
            write_snapshot(session, keys, tmp / "snapshot")
            training = platform_training_data(
                session,
                keys,
                PROFILE,
                population.root / population.manifest.labels_path,
                "person",
                as_of,
                work_dir=tmp,
            )
    finally:
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
    return Snapshot(tmp / "snapshot", as_of, training)


@on_sqlite
@pytest.mark.parametrize("segment", ["person", "enterprise"])
def test_population_features_are_identical_on_spark_and_duckdb(
    snapshot: Snapshot, spark_con: Any, segment: str
) -> None:
    duck = batch_features(snapshot.directory, segment, snapshot.as_of, PROFILE)
    spark = batch_features(snapshot.directory, segment, snapshot.as_of, PROFILE, con=spark_con)
    assert duck.num_rows > 50
    assert duck.column_names == ["subject_id", *feature_names(segment)]
    _assert_identical(duck, spark)
    # The comparison means something: nearly every feature varies over the population (it
    # has no inquiries; the hand-made rows below have them).
    names = feature_names(segment)
    constant = [name for name in names if len(set(duck.column(name).to_pylist())) == 1]
    assert len(constant) <= 3, constant


@on_sqlite
def test_compiled_scores_are_identical_on_spark_duckdb_and_python(
    snapshot: Snapshot, spark_con: Any
) -> None:
    data = snapshot.training
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optbinning's pandas deprecation warnings
        # Unrounded points: any difference in float arithmetic would show in the last bit.
        card = WoeScorecard(points_decimals=None).fit(data.X, data.y)
    scored: dict[str, pa.Table] = {}
    for name, con in (("duckdb", ibis.duckdb.connect()), ("spark", spark_con)):
        # Features and scores in one query: the scorecard compiled over the feature table.
        inputs = snapshot_inputs(con, snapshot.directory, snapshot.as_of, PROFILE)
        features = feature_table(inputs, "person", snapshot.as_of, PROFILE)
        expr = compile_scorecard(card, features, keep=["subject_id"]).order_by("subject_id")
        scored[name] = con.to_pyarrow(expr)
    _assert_identical(scored["duckdb"], scored["spark"])
    frame = batch_features(snapshot.directory, "person", snapshot.as_of, PROFILE).to_pandas()
    assert frame["subject_id"].tolist() == scored["spark"].column("subject_id").to_pylist()
    points = card.points(frame[card.features_])
    for name in card.features_:
        np.testing.assert_array_equal(
            scored["spark"].column(name).to_numpy(), points[name].to_numpy(dtype=float)
        )
    expected = card.score(frame[card.features_])
    np.testing.assert_array_equal(scored["spark"].column("score").to_numpy(), expected)
    assert len(set(expected.tolist())) > 10


# --- hand-made edges ---------------------------------------------------------------------------


def _table(schema: pa.Schema, rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(
        [{name: row.get(name) for name in schema.names} for row in rows], schema=schema
    )


def _account(subject_id: int, record_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "subject_id": subject_id,
        "account_type": "loan",
        "credit_limit": Decimal("10000.00"),
        "balance": Decimal("5000.00"),
        "open_date": date(2020, 1, 10),
        "status": "normal",
        "grid_end_month": date(2026, 6, 1),
        "repayment_grid": "N" * 60,
        **fields,
    }


def _card(subject_id: int, record_id: int, balance: str, limit: str, **fields: Any) -> Any:
    return _account(
        subject_id,
        record_id,
        account_type="credit_card",
        balance=Decimal(balance),
        credit_limit=Decimal(limit),
        **fields,
    )


def _edge_items() -> dict[str, list[dict[str, Any]]]:
    grid = list("N" * 60)
    grid[-5], grid[-11], grid[-21] = "3", "1", "D"
    return {
        "credit_account": [
            _account(1, 1, repayment_grid="".join(grid), overdue_months=2, status="overdue"),
            _card(1, 2, "0.10", "0.30", open_date=date(2016, 2, 29)),  # 1/3, inexact
            _card(1, 3, "7.00", "10.00", status="closed", close_date=date(2025, 1, 1)),
            _account(2, 4, repayment_grid="7" * 60, grid_end_month=date(2025, 6, 1)),
            _account(2, 5, repayment_grid="12345", grid_end_month=date(2026, 9, 1)),  # ahead
            _account(3, 6, repayment_grid=None, grid_end_month=None, overdue_months=None),
            _account(3, 7, repayment_grid="", status="overdue", overdue_months=None),
            _card(3, 8, "100.00", "0.00"),  # no limit: no utilisation
            _account(4, 9, repayment_grid="N#/CG1Z", grid_end_month=date(2026, 5, 1)),
            _card(5, 10, "1234.56", "1000.01"),  # over the limit
            _card(5, 11, "0.01", "99999999.99"),
            _account(7, 12, open_date=date(2010, 2, 28), repayment_grid="ZZ"),
            _account(8, 13, grid_end_month=date(2024, 7, 1), repayment_grid="1" * 24),
        ],
        "court_judgment": [
            {"record_id": 20, "subject_id": 1, "role": "defendant", "outcome": "judgment_against"},
            {"record_id": 21, "subject_id": 7, "role": "defendant", "outcome": "judgment_against"},
            {"record_id": 22, "subject_id": 7, "role": "plaintiff", "outcome": "judgment_for"},
        ],
        "enforcement_case": [
            {"record_id": 30, "subject_id": 1, "status": "open"},
            {"record_id": 31, "subject_id": 2, "status": "suspended", "closed_date": AS_OF},
            {
                "record_id": 32,
                "subject_id": 2,
                "status": "open",
                "closed_date": AS_OF + timedelta(days=1),
            },
        ],
        "dishonest_debtor_listing": [
            {"record_id": 40, "subject_id": 1, "term_end_date": AS_OF},  # last day in force
            {"record_id": 41, "subject_id": 2, "term_end_date": AS_OF - timedelta(days=1)},
            {"record_id": 42, "subject_id": 7, "removal_date": AS_OF},
            {"record_id": 43, "subject_id": 8},
        ],
        "administrative_penalty": [
            {"record_id": 50, "subject_id": 1, "severity": "minor"},
            {"record_id": 51, "subject_id": 7, "severity": "serious"},
            {"record_id": 52, "subject_id": 7, "severity": "general"},
            {"record_id": 53, "subject_id": 9, "severity": None},
        ],
        "tax_arrears": [
            {"record_id": 60, "subject_id": 1, "paid_date": AS_OF},
            {"record_id": 61, "subject_id": 7, "paid_date": AS_OF + timedelta(days=1)},
        ],
        "utility_arrears": [
            {"record_id": 70, "subject_id": 2},
            {"record_id": 71, "subject_id": 8, "paid_date": date(2026, 1, 1)},
        ],
        "social_insurance_status": [
            {"record_id": 80, "subject_id": 1, "status": "in_arrears", "months_in_arrears": None},
            {"record_id": 81, "subject_id": 2, "status": "in_arrears", "months_in_arrears": 3},
            {"record_id": 82, "subject_id": 2, "status": "in_arrears", "months_in_arrears": 11},
            {
                "record_id": 83,
                "subject_id": 9,
                "status": "paying",
                "first_paid_month": date(2004, 2, 1),
            },
        ],
        "administrative_licence": [
            {"record_id": 90, "subject_id": 7, "status": "revoked", "decision_date": AS_OF},
            {"record_id": 91, "subject_id": 8, "decision_date": date(2016, 2, 29)},
        ],
        "commendation": [
            {"record_id": 100, "subject_id": 7, "valid_until": AS_OF},
            {"record_id": 101, "subject_id": 8, "valid_until": AS_OF - timedelta(days=1)},
            {"record_id": 102, "subject_id": 9, "award_date": date(2026, 6, 16)},  # after D
        ],
        "tax_credit_grade": [
            {"record_id": 110, "subject_id": 7, "tax_year": 2023, "grade": "C"},
            {"record_id": 111, "subject_id": 7, "tax_year": 2024, "grade": "B"},
            {"record_id": 112, "subject_id": 7, "tax_year": 2024, "grade": "D"},  # same year
            {"record_id": 113, "subject_id": 7, "tax_year": 2025, "grade": "A"},
            {"record_id": 114, "subject_id": 8, "tax_year": 2025, "grade": "M"},
            {"record_id": 115, "subject_id": 9, "tax_year": 2024, "grade": "A"},
            {"record_id": 116, "subject_id": 9, "tax_year": 2025, "grade": None},
        ],
    }


def _edge_inquiries() -> list[dict[str, Any]]:
    cutoff = PROFILE.end_of_day(AS_OF)  # 16:00 UTC: midnight in Shanghai
    start = PROFILE.end_of_day(date(2025, 12, 15))
    tick = timedelta(microseconds=1)
    rows = [
        (1, start, "loan_approval"),  # the first instant of the window
        (1, start - tick, "loan_approval"),
        (1, cutoff - tick, "credit_card_approval"),  # the last instant
        (1, cutoff, "loan_approval"),  # the next day in Shanghai
        (1, cutoff - tick, "subject_request"),  # soft
        (2, datetime(2026, 3, 1, 0, 0, tzinfo=UTC), "guarantee_review"),
        (7, datetime(2026, 6, 15, 15, 59, 59, tzinfo=UTC), "loan_approval"),
    ]
    return [{"subject_id": s, "occurred_at": at, "purpose": p} for s, at, p in rows]


@pytest.mark.parametrize("segment", ["person", "enterprise"])
def test_edge_features_are_identical_on_spark_and_duckdb(
    spark_con: Any, tmp_path: Path, segment: str
) -> None:
    catalog = get_catalog()
    items = _edge_items()
    kinds = {1: "person", 2: "person", 3: "person", 4: "person", 5: "person", 6: "person"}
    kinds |= {7: "enterprise", 8: "enterprise", 9: "other_organisation"}
    tables = {
        "subjects": _table(
            SUBJECTS_SCHEMA, [{"subject_id": s, "kind": k} for s, k in kinds.items()]
        ),
        "inquiries": _table(INQUIRIES_SCHEMA, _edge_inquiries()),
        **{
            code: _table(items_schema(record_type), items.get(code, []))
            for code, record_type in catalog.record_types.items()
        },
    }

    def build(read: Callable[[str], ir.Table]) -> ir.Table:
        inputs = FeatureInputs(
            subjects=read("subjects"),
            items={code: read(code) for code in catalog.record_types},
            inquiries=read("inquiries"),
        )
        return feature_table(inputs, segment, AS_OF, PROFILE)

    duck, spark = _on_both(tmp_path / "edges", tables, build, spark_con)
    _assert_identical(duck, spark)
    rows = {row["subject_id"]: row for row in duck.to_pylist()}
    if segment == "person":
        assert set(rows) == {1, 2, 3, 4, 5, 6}
        assert rows[1]["hard_inquiries_6m"] == 2  # the window's first and last instants
        assert rows[1]["credit_utilisation"] == 0.10 / 0.30
        assert rows[2]["worst_overdue_status_24m"] == 7
    else:
        assert set(rows) == {7, 8, 9}
        assert rows[7]["tax_grade_trend"] == 5 - 4
        assert rows[9]["tax_grade_latest"] is None


def _version(record_id: int, version: int, received: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "subject_id": 1,
        "version": version,
        "operation": "create" if version == 1 else "correct",
        "valid_from": date(2020, 1, 1),
        "received_at": received,
        **extra,
    }


@pytest.mark.parametrize("as_of", [AS_OF, date(2029, 2, 28), date(2029, 3, 1)], ids=str)
def test_point_in_time_items_are_identical_on_spark_and_duckdb(
    spark_con: Any, tmp_path: Path, as_of: date
) -> None:
    catalog = get_catalog()
    cutoff = PROFILE.end_of_day(AS_OF)
    tick = timedelta(microseconds=1)
    early = datetime(2024, 1, 1, tzinfo=UTC)
    judgment = {"role": "defendant", "outcome": "judgment_against"}
    judgments = [
        _version(
            1, 1, early, amount=Decimal("100.00"), effective_date=date(2024, 2, 29), **judgment
        ),
        _version(1, 2, cutoff - tick, amount=Decimal("0.10"), effective_date=date(2024, 2, 29)),
        _version(1, 3, cutoff, amount=Decimal("200.00")),  # received after the end of D
        _version(2, 1, early, judgment_date=date(2024, 3, 1), **judgment),
        _version(2, 2, early + tick, operation="delete"),
        _version(3, 1, early, valid_from=AS_OF + timedelta(days=1), **judgment),
        _version(4, 1, early, effective_date=date(2024, 3, 1), judgment_date=date(2024, 1, 1)),
        _version(5, 1, early, judgment_date=date(2024, 2, 29)),
        _version(6, 1, early, effective_date=AS_OF + timedelta(days=1)),  # ends after D
    ]
    listings = [
        _version(10, 1, early, term_end_date=date(2024, 2, 29)),
        _version(11, 1, early, term_end_date=date(2030, 1, 1), removal_date=date(2024, 3, 1)),
        _version(12, 1, early, term_end_date=date(2024, 3, 1), removal_date=date(2024, 2, 29)),
        _version(13, 1, early),
    ]
    codes = {"court_judgment": judgments, "dishonest_debtor_listing": listings}
    tables = {
        code: _table(versions_schema(catalog.record_type(code)), rows)
        for code, rows in codes.items()
    }
    for code in codes:
        record_type = catalog.record_type(code)

        def build(read: Callable[[str], ir.Table], record_type: Any = record_type) -> ir.Table:
            items = point_in_time_items(read(record_type.code), record_type, as_of, PROFILE)
            return items.order_by("record_id")

        duck, spark = _on_both(tmp_path / code, tables, build, spark_con)
        _assert_identical(duck, spark)
        assert duck.num_rows > 0
