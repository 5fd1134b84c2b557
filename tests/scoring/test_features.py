"""Scoring features: point in time, definitions, snapshots, and online/batch parity."""

from __future__ import annotations

import math
import os
import stat
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pytest
from population import load_population
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from xinyong.catalog.service import get_catalog
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.identity.service import view_subject
from xinyong.reports.profiles import get_profile
from xinyong.scoring.errors import InvalidScoringDataError
from xinyong.scoring.features import (
    FEATURES,
    FeatureInputs,
    batch_features,
    feature_names,
    feature_table,
    point_in_time_items,
    subject_features,
)
from xinyong.scoring.prohibited import prohibited_columns
from xinyong.scoring.snapshot import (
    INQUIRIES_SCHEMA,
    SUBJECTS_SCHEMA,
    items_schema,
    versions_schema,
    write_snapshot,
)

PROFILE = get_profile("cn")
AS_OF = date(2026, 6, 15)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "scoring.md"


def _items(code: str, rows: list[dict[str, Any]]) -> pa.Table:
    schema = items_schema(get_catalog().record_type(code))
    full = [{name: row.get(name) for name in schema.names} for row in rows]
    return pa.Table.from_pylist(full, schema=schema)


def _inputs(
    subjects: list[tuple[int, str]],
    items: dict[str, list[dict[str, Any]]],
    inquiries: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> FeatureInputs:
    catalog = get_catalog()
    return FeatureInputs(
        subjects=ibis.memtable(
            pa.Table.from_pylist(
                [{"subject_id": s, "kind": k} for s, k in subjects], schema=SUBJECTS_SCHEMA
            )
        ),
        items={
            code: ibis.memtable(_items(code, items.get(code, []))) for code in catalog.record_types
        },
        inquiries=ibis.memtable(pa.Table.from_pylist(list(inquiries), schema=INQUIRIES_SCHEMA)),
    )


def _rows(inputs: FeatureInputs, segment: str) -> dict[int, dict[str, Any]]:
    table = ibis.duckdb.connect().to_pyarrow(feature_table(inputs, segment, AS_OF, PROFILE))
    return {row.pop("subject_id"): row for row in table.to_pylist()}


def _account(subject_id: int, record_id: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "record_id": record_id,
        "subject_id": subject_id,
        "account_type": "loan",
        "credit_limit": Decimal("10000.00"),
        "balance": Decimal("5000.00"),
        "overdue_amount": Decimal("0.00"),
        "open_date": date(2020, 1, 10),
        "status": "normal",
        "grid_end_month": date(2026, 6, 1),
        "repayment_grid": "N" * 60,
    }
    base.update(fields)
    return base


def test_account_features_read_the_grid_window_up_to_the_as_of_month() -> None:
    # Oldest first: the last character is June 2026. A '3' four months ago, a '1' 10 months
    # ago, a 'D' 20 months ago.
    grid = list("N" * 60)
    grid[-5] = "3"
    grid[-11] = "1"
    grid[-21] = "D"
    inputs = _inputs(
        [(1, "person"), (2, "person")],
        {
            "credit_account": [
                _account(1, 10, repayment_grid="".join(grid), overdue_months=2, status="overdue"),
                _account(
                    1,
                    11,
                    account_type="credit_card",
                    credit_limit=Decimal("20000.00"),
                    balance=Decimal("15000.00"),
                    open_date=date(2016, 3, 1),
                ),
                _account(
                    1,
                    12,
                    account_type="credit_card",
                    credit_limit=Decimal("10000.00"),
                    balance=Decimal("0.00"),
                    status="closed",
                    close_date=date(2025, 1, 1),
                    grid_end_month=date(2025, 1, 1),
                ),
            ]
        },
    )
    rows = _rows(inputs, "person")
    one = rows[1]
    assert one["worst_overdue_status_6m"] == 3
    assert one["worst_overdue_status_12m"] == 3
    assert one["worst_overdue_status_24m"] == 8  # D: paid by guarantor
    assert one["months_overdue_24m"] == 3
    assert one["current_overdue_status"] == 2
    assert one["credit_utilisation"] == pytest.approx(0.75)  # the closed card does not count
    assert one["age_of_oldest_account_months"] == (2026 - 2016) * 12 + (6 - 3)
    assert one["open_accounts"] == 2
    # No account: account features are missing, public-record counts are zero.
    two = rows[2]
    assert all(
        two[name] is None
        for name in ("worst_overdue_status_12m", "credit_utilisation", "open_accounts")
    )
    assert two["judgments"] == 0
    assert two["hard_inquiries_6m"] == 0


def test_a_grid_that_ended_long_ago_gives_no_recent_status() -> None:
    inputs = _inputs(
        [(1, "person")],
        {
            "credit_account": [
                _account(1, 10, repayment_grid="7" * 60, grid_end_month=date(2025, 6, 1))
            ]
        },
    )
    row = _rows(inputs, "person")[1]
    # The grid ends twelve months before the as-of month: nothing in the last 12 months,
    # its last 12 months in the 24-month window.
    assert row["worst_overdue_status_6m"] is None
    assert row["worst_overdue_status_12m"] is None
    assert row["worst_overdue_status_24m"] == 7
    assert row["months_overdue_24m"] == 12


def test_public_record_and_inquiry_features() -> None:
    noon = datetime(2026, 6, 1, 4, tzinfo=UTC)
    inputs = _inputs(
        [(1, "person")],
        {
            "court_judgment": [
                {
                    "record_id": 1,
                    "subject_id": 1,
                    "role": "defendant",
                    "outcome": "judgment_against",
                },
                {"record_id": 2, "subject_id": 1, "role": "plaintiff", "outcome": "judgment_for"},
            ],
            "enforcement_case": [
                {"record_id": 3, "subject_id": 1, "status": "open"},
                {
                    "record_id": 4,
                    "subject_id": 1,
                    "status": "closed_performed",
                    "closed_date": date(2025, 1, 1),
                },
            ],
            "dishonest_debtor_listing": [
                {"record_id": 5, "subject_id": 1, "term_end_date": date(2027, 1, 1)},
                {"record_id": 6, "subject_id": 1, "term_end_date": date(2026, 1, 1)},
            ],
            "utility_arrears": [
                {"record_id": 7, "subject_id": 1, "paid_date": None},
                {"record_id": 8, "subject_id": 1, "paid_date": date(2026, 5, 1)},
            ],
            "social_insurance_status": [
                {"record_id": 9, "subject_id": 1, "status": "in_arrears", "months_in_arrears": 4},
                {"record_id": 10, "subject_id": 1, "status": "paying", "months_in_arrears": 9},
            ],
        },
        [
            {"subject_id": 1, "occurred_at": noon, "purpose": "loan_approval"},
            {"subject_id": 1, "occurred_at": noon, "purpose": "subject_request"},  # soft
            {"subject_id": 1, "occurred_at": noon, "purpose": "post_loan_management"},  # soft
            {
                "subject_id": 1,
                "occurred_at": noon - timedelta(days=200),
                "purpose": "loan_approval",
            },
            {"subject_id": 1, "occurred_at": noon + timedelta(days=30), "purpose": "loan_approval"},
        ],
    )
    row = _rows(inputs, "person")[1]
    assert row["judgments"] == 1
    assert row["enforcement_cases"] == 1
    assert row["list_entries"] == 1
    assert row["utility_arrears"] == 1
    assert row["social_insurance_arrears_months"] == 4
    assert row["hard_inquiries_6m"] == 1  # soft, older than 6 months and later ones excluded


def test_enterprise_tax_grades_and_years_on_file() -> None:
    inputs = _inputs(
        [(1, "enterprise"), (2, "other_organisation"), (3, "person")],
        {
            "tax_credit_grade": [
                {"record_id": 1, "subject_id": 1, "tax_year": 2023, "grade": "C"},
                {"record_id": 2, "subject_id": 1, "tax_year": 2024, "grade": "B"},
                {"record_id": 3, "subject_id": 1, "tax_year": 2025, "grade": "A"},
                {"record_id": 4, "subject_id": 2, "tax_year": 2025, "grade": "M"},
            ],
            "administrative_licence": [
                {
                    "record_id": 5,
                    "subject_id": 1,
                    "decision_date": date(2016, 6, 15),
                    "status": "revoked",
                },
            ],
        },
    )
    rows = _rows(inputs, "enterprise")
    assert set(rows) == {1, 2}  # other organisations are scored with enterprises
    assert rows[1]["tax_grade_latest"] == 5
    assert rows[1]["tax_grade_trend"] == 1
    assert rows[1]["years_on_file"] == pytest.approx(10.0, abs=0.01)
    assert rows[1]["licences_revoked"] == 1
    assert rows[2]["tax_grade_latest"] == 3
    assert rows[2]["tax_grade_trend"] is None
    assert rows[2]["years_on_file"] == pytest.approx(1.45, abs=0.01)  # from 1 Jan 2025
    assert list(next(iter(rows.values()))) == feature_names("enterprise")


def _version(record_id: int, version: int, received: datetime, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "record_id": record_id,
        "subject_id": 1,
        "version": version,
        "operation": "create" if version == 1 else "correct",
        "valid_from": date(2020, 1, 1),
        "received_at": received,
        "role": "defendant",
        "outcome": "judgment_against",
        "effective_date": date(2025, 1, 1),
    }
    row.update(extra)
    return row


def test_point_in_time_uses_what_was_known_and_valid_then() -> None:
    record_type = get_catalog().record_type("court_judgment")
    day = lambda d: datetime(2026, 6, d, 8, tzinfo=UTC)  # noqa: E731 - 16:00 in Shanghai
    rows = [
        _version(1, 1, day(1), amount=Decimal("100.00")),
        _version(1, 2, day(20), amount=Decimal("200.00")),  # correction after the date
        _version(2, 1, day(1)),
        _version(2, 2, day(2), operation="delete", role=None, outcome=None, effective_date=None),
        _version(3, 1, day(1), valid_from=date(2026, 7, 1)),  # not valid yet
        _version(4, 1, day(1), effective_date=date(2020, 1, 1)),  # retired: over 5 years
        _version(5, 1, datetime(2026, 6, 15, 17, tzinfo=UTC)),  # 01:00 on the 16th in Shanghai
    ]
    versions = ibis.memtable(pa.Table.from_pylist(rows, schema=versions_schema(record_type)))
    items = ibis.duckdb.connect().to_pyarrow(
        point_in_time_items(versions, record_type, AS_OF, PROFILE)
    )
    by_record = {row["record_id"]: row for row in items.to_pylist()}
    assert set(by_record) == {1}
    assert by_record[1]["amount"] == Decimal("100.00")


def test_every_feature_is_documented_and_lawful() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for feature in FEATURES:
        assert f"`{feature.name}`" in docs, feature.name
        assert feature.unit
        assert feature.meaning_en
        assert feature.meaning_zh
    assert prohibited_columns(feature.name for feature in FEATURES) == {}


# --- with a database ---------------------------------------------------------------------------


@pytest.fixture
def population(factory: sessionmaker[Session], keys: KeyRing, tmp_path: Path) -> Any:
    return load_population(factory, keys, tmp_path / "population", persons=800, enterprises=150)


def _same(a: Any, b: Any) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return bool(a == b)


@pytest.mark.slow
def test_online_and_batch_features_agree_over_the_whole_population(
    factory: sessionmaker[Session], keys: KeyRing, population: Any, tmp_path: Path
) -> None:
    as_of = PROFILE.today()
    snapshot = tmp_path / "snapshot"
    with factory() as session:
        write_snapshot(session, keys, snapshot)
        subjects = {s.id: s for s in session.scalars(select(Subject))}
        checked = 0
        for segment in ("person", "enterprise"):
            batch = batch_features(snapshot, segment, as_of, PROFILE).to_pylist()
            assert batch, segment
            names = feature_names(segment)
            # The comparison means something: nearly every feature varies (rare events such
            # as listings of persons, and inquiries, may not occur in a small population).
            constant = [name for name in names if len({row[name] for row in batch}) == 1]
            assert len(constant) <= 3, constant
            for row in batch:
                online = subject_features(
                    session, keys, PROFILE, subjects[row["subject_id"]], as_of
                )
                assert list(online) == names
                mismatched = {n: (online[n], row[n]) for n in names if not _same(online[n], row[n])}
                assert not mismatched, (row["subject_id"], mismatched)
                checked += 1
    assert checked == len(subjects)


def test_a_snapshot_is_private_and_holds_no_identifier(
    factory: sessionmaker[Session], keys: KeyRing, tmp_path: Path
) -> None:
    population = load_population(factory, keys, tmp_path / "population", persons=30, enterprises=8)
    snapshot = tmp_path / "snapshot"
    with factory() as session:
        manifest = write_snapshot(session, keys, snapshot)
        secrets = [
            view_subject(keys, subject, reveal=True) for subject in session.scalars(select(Subject))
        ]
    assert manifest.subjects == len(secrets) == 38
    assert sum(manifest.versions.values()) > 38
    assert stat.S_IMODE(os.stat(snapshot).st_mode) == 0o700
    blobs = b""
    for path in snapshot.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
            blobs += path.read_bytes()
    for view in secrets:
        assert view.identifier.encode() not in blobs
        if view.name:
            assert view.name.encode() not in blobs
    assert population.manifest.persons == 30
    with factory() as session, pytest.raises(InvalidScoringDataError, match="already exists"):
        write_snapshot(session, keys, snapshot)


def test_a_snapshot_cannot_answer_for_a_later_date(
    factory: sessionmaker[Session], keys: KeyRing, tmp_path: Path
) -> None:
    snapshot = tmp_path / "snapshot"
    with factory() as session:
        write_snapshot(session, keys, snapshot)
    later = PROFILE.today() + timedelta(days=2)
    with pytest.raises(InvalidScoringDataError, match="cannot give features"):
        batch_features(snapshot, "person", later, PROFILE)
    with pytest.raises(InvalidScoringDataError, match="not a record snapshot"):
        batch_features(tmp_path, "person", PROFILE.today(), PROFILE)
