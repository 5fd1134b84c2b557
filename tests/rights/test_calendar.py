"""Working days with the holiday calendar the operator loads (RULES.md 13, 22)."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from dispute_support import problem
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from support import auth
from xinyong.audit.models import AuditEntry
from xinyong.db import transaction
from xinyong.institutions.schemas import LOCAL_OPERATOR
from xinyong.reports.profiles import (
    DayType,
    PeriodRule,
    ProfileDefinitionError,
    get_profile,
    load_profile,
)
from xinyong.rights.calendar import (
    InvalidCalendarError,
    WorkingCalendar,
    add_working_days,
    calendar_from_days,
    load_calendar,
    parse_calendar_csv,
    period_end,
    working_calendar,
)

CALENDARS = Path(__file__).parents[2] / "docs" / "calendars"
CN_2026 = (CALENDARS / "cn-2026.csv").read_bytes()
US_2026 = (CALENDARS / "us-2026.csv").read_bytes()
CN = calendar_from_days("cn", parse_calendar_csv(CN_2026))
US = calendar_from_days("us", parse_calendar_csv(US_2026))
WEEKENDS_ONLY = WorkingCalendar("xx")


# --- the arithmetic ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2026, 1, 30), 1, date(2026, 2, 2)),  # Friday → Monday
        (date(2026, 1, 30), 0, date(2026, 1, 30)),
        # 2025-12-31 (Wed): 1-3 January are holidays, Sunday 4 January a make-up working day.
        (date(2025, 12, 31), 1, date(2026, 1, 4)),
        (date(2025, 12, 31), 2, date(2026, 1, 5)),
        # Spring Festival: Saturday 14 February works, 15-23 February are holidays.
        (date(2026, 2, 13), 1, date(2026, 2, 14)),
        (date(2026, 2, 13), 2, date(2026, 2, 24)),
        (date(2026, 2, 13), 5, date(2026, 2, 27)),
        (date(2026, 2, 13), 6, date(2026, 2, 28)),  # Saturday, a make-up working day
        (date(2026, 2, 13), 7, date(2026, 3, 2)),
        # National Day: Sunday 20 September and Saturday 10 October work.
        (date(2026, 9, 18), 1, date(2026, 9, 20)),
        (date(2026, 9, 30), 1, date(2026, 10, 8)),
        (date(2026, 9, 30), 3, date(2026, 10, 10)),
        (date(2026, 9, 30), 4, date(2026, 10, 12)),
    ],
)
def test_add_working_days_in_china(start: date, days: int, expected: date) -> None:
    assert add_working_days(start, days, CN) == expected


def test_add_working_days_without_a_calendar_counts_weekdays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="xinyong.rights"):
        assert add_working_days(date(2026, 2, 13), 2, WEEKENDS_ONLY) == date(2026, 2, 17)
        assert add_working_days(date(2026, 2, 13), 7, WEEKENDS_ONLY) == date(2026, 2, 24)
    assert "no xx holiday calendar is loaded for 2026" in caplog.text
    assert caplog.text.count("no xx holiday calendar") == 1  # warned once per year
    with pytest.raises(ValueError, match="negative"):
        add_working_days(date(2026, 1, 1), -1, CN)


def test_us_federal_holidays() -> None:
    # Thanksgiving (Thursday 26 November 2026) is no business day.
    assert add_working_days(date(2026, 11, 25), 1, US) == date(2026, 11, 27)
    # Independence Day falls on a Saturday and is observed on Friday 3 July.
    assert add_working_days(date(2026, 7, 2), 1, US) == date(2026, 7, 6)


@given(
    start=st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 11, 30)),
    days=st.integers(min_value=0, max_value=40),
)
def test_working_days_counted_are_exactly_n(start: date, days: int) -> None:
    end = add_working_days(start, days, CN)
    between = [start + timedelta(days=i) for i in range(1, (end - start).days + 1)]
    assert sum(CN.is_working_day(day) for day in between) == days
    if days:
        assert CN.is_working_day(end)
        assert add_working_days(start, days - 1, CN) < end


# --- the profiles' periods --------------------------------------------------------------------


def test_the_cn_answer_period_is_20_calendar_days_moved_off_holidays() -> None:
    rules = get_profile("cn").dispute_rules(date(2026, 11, 27))
    assert (rules.answer.days, rules.answer.day_type) == (20, DayType.CALENDAR)
    assert rules.outcome_at_deadline.value == "unresolved"
    assert rules.extension_on_new_information is None
    # Counting starts the day after receipt.
    assert period_end(date(2026, 11, 27), rules.answer, CN) == date(2026, 12, 17)
    # The 20th day is Thursday 1 October (National Day): the period ends on the next
    # working day, Thursday 8 October.
    assert period_end(date(2026, 9, 11), rules.answer, CN) == date(2026, 10, 8)
    # A Sunday moves to Monday.
    assert period_end(date(2026, 11, 2), rules.answer, CN) == date(2026, 11, 23)
    # Five working days to notify the furnisher, around the National Day make-up days.
    assert period_end(date(2026, 9, 29), rules.furnisher_notice, CN) == date(2026, 10, 12)


def test_the_us_periods_begin_on_the_day_of_receipt() -> None:
    rules = get_profile("us").dispute_rules(date(2026, 11, 27))
    assert (rules.answer.days, rules.answer.counts_first_day) == (30, True)
    assert rules.outcome_at_deadline.value == "delete"
    assert period_end(date(2026, 11, 27), rules.answer, US) == date(2026, 12, 26)
    assert rules.extension_on_new_information is not None
    assert period_end(date(2026, 12, 26), rules.extension_on_new_information, US) == date(
        2027, 1, 10
    )
    # Five business days beginning on Friday 20 November: 20, 23, 24, 25, (26 is
    # Thanksgiving), 27.
    assert period_end(date(2026, 11, 20), rules.furnisher_notice, US) == date(2026, 11, 27)
    for profile in ("cn", "us"):
        rules = get_profile(profile).dispute_rules(date(2026, 1, 1))
        assert rules.answer.source
        assert rules.furnisher_notice.source
        assert rules.outcome_source


def test_a_working_day_period_rule() -> None:
    rule = PeriodRule(days=10, day_type=DayType.WORKING, source="test")
    # From the Mid-Autumn Friday: 28, 29, 30 September, 8, 9, 10 (Saturday, worked), 12, 13,
    # 14, 15 October.
    assert period_end(date(2026, 9, 25), rule, CN) == date(2026, 10, 15)


# --- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"date,kind\n2026-01-01,holiday\n", "say which jurisdiction"),
        (b"day,kind\n", "needs the columns date and kind"),
        (b"jurisdiction,date,kind\ncn,2026-13-01,holiday\n", "is not a date"),
        (b"jurisdiction,date,kind\ncn,2026-01-01,party\n", "kind must be"),
        (b"jurisdiction,date,kind\ncn,2026-01-05,working_weekend\n", "is a weekday"),
        (
            b"jurisdiction,date,kind\ncn,2026-01-01,holiday\ncn,2026-01-01,holiday\n",
            "listed twice",
        ),
        (b"jurisdiction,date,kind\n", "lists no days"),
        (b"jurisdiction,date,kind\nc1!,2026-01-01,holiday\n", "not a jurisdiction code"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_a_bad_calendar_file_is_refused(content: bytes, message: str) -> None:
    with pytest.raises(InvalidCalendarError, match=message):
        parse_calendar_csv(content)


def test_a_jurisdiction_option_and_a_column_must_agree() -> None:
    days = parse_calendar_csv(b"date,kind,name\n2026-01-01,holiday,New Year\n", "us")
    assert [(d.jurisdiction, d.day, d.name) for d in days] == [("us", date(2026, 1, 1), "New Year")]
    with pytest.raises(InvalidCalendarError, match="is not 'us'"):
        parse_calendar_csv(CN_2026, "us")


# --- loading ----------------------------------------------------------------------------------


def test_loading_replaces_a_year_and_is_audited(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        loaded = load_calendar(session, LOCAL_OPERATOR, parse_calendar_csv(CN_2026), CN_2026)
    assert [(y.jurisdiction, y.year, y.holidays, y.working_weekends) for y in loaded] == [
        ("cn", 2026, 33, 6)
    ]
    with factory() as session:
        calendar = working_calendar(session, "cn")
    assert calendar.years == {2026}
    assert add_working_days(date(2026, 2, 13), 2, calendar) == date(2026, 2, 24)

    # A corrected file replaces the year: 2026-02-23 made a working day (say).
    corrected = CN_2026.replace(b"cn,2026-02-23,holiday,\xe6\x98\xa5\xe8\x8a\x82\n", b"")
    assert corrected != CN_2026
    with transaction(factory) as session:
        (again,) = load_calendar(session, LOCAL_OPERATOR, parse_calendar_csv(corrected), corrected)
    assert again.replaced
    with factory() as session:
        calendar = working_calendar(session, "cn")
        assert add_working_days(date(2026, 2, 13), 2, calendar) == date(2026, 2, 23)
        assert working_calendar(session, "us").years == frozenset()
        audits = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "holiday_calendar.load")
        ).all()
    assert [(a.target_id, a.details["replaced"]) for a in audits] == [
        ("cn:2026", False),
        ("cn:2026", True),
    ]


def test_the_operator_loads_and_reads_calendars_over_http(
    client: TestClient, operator_key: str, auditor_key: str, lender_key: str
) -> None:
    response = client.post(
        "/v1/holiday-calendars",
        content=CN_2026,
        headers={**auth(operator_key), "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    assert response.json() == [
        {
            "jurisdiction": "cn",
            "year": 2026,
            "holidays": 33,
            "working_weekends": 6,
            "replaced": False,
        }
    ]
    response = client.post(
        "/v1/holiday-calendars?jurisdiction=us",
        content=b"date,kind,name\n2026-11-26,holiday,Thanksgiving Day\n",
        headers={**auth(operator_key), "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text

    listed = client.get("/v1/holiday-calendars?jurisdiction=cn", headers=auth(auditor_key))
    assert listed.status_code == 200
    (year,) = listed.json()
    assert (year["jurisdiction"], year["year"], len(year["days"])) == ("cn", 2026, 39)
    assert {"day": "2026-01-04", "kind": "working_weekend", "name": "元旦调休上班"} in year["days"]
    assert len(client.get("/v1/holiday-calendars", headers=auth(operator_key)).json()) == 2

    bad = client.post(
        "/v1/holiday-calendars",
        content=b"jurisdiction,date,kind\ncn,2026-01-05,working_weekend\n",
        headers={**auth(operator_key), "Content-Type": "text/csv"},
    )
    problem(bad, 400, "invalid_calendar")
    problem(
        client.post("/v1/holiday-calendars", content=CN_2026, headers=auth(auditor_key)),
        403,
        "role_not_permitted",
    )
    problem(
        client.get("/v1/holiday-calendars", headers=auth(lender_key)), 403, "role_not_permitted"
    )


# --- the rules in the profile -----------------------------------------------------------------


def _cn_source() -> str:
    from importlib.resources import files

    return (files("xinyong.reports") / "data" / "profiles" / "cn.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda text: text.replace(
                'outcome_at_deadline = "unresolved"', 'outcome_at_deadline = "forget"'
            ),
            "outcome_at_deadline",
        ),
        (lambda text: text.replace('day_type = "working"', 'day_type = "lunar"'), "day_type"),
        (lambda text: text.replace("days = 20", "days = 0"), "days"),
        (lambda text: text[: text.index("[[disputes]]")], "disputes"),
        (
            lambda text: text + "\n" + text[text.index("[[disputes]]") :],
            "distinct effective_from",
        ),
    ],
    ids=["outcome", "day-type", "zero-days", "missing", "duplicate-dates"],
)
def test_broken_dispute_rules_are_refused(tmp_path: Path, edit: Any, message: str) -> None:
    path = tmp_path / "cn.toml"
    path.write_text(edit(_cn_source()), encoding="utf-8")
    with pytest.raises(ProfileDefinitionError) as raised:
        load_profile(path)
    assert message in raised.value.detail


def test_the_rules_in_force_on_a_day(tmp_path: Path) -> None:
    source = _cn_source()
    later = (
        source[source.index("[[disputes]]") :]
        .replace('effective_from = "2013-03-15"', 'effective_from = "2027-01-01"')
        .replace("days = 20", "days = 15")
    )
    path = tmp_path / "cn.toml"
    path.write_text(source + "\n" + later, encoding="utf-8")
    profile = load_profile(path)
    assert profile.dispute_rules(date(2026, 12, 31)).answer.days == 20
    assert profile.dispute_rules(date(2027, 1, 1)).answer.days == 15
    with pytest.raises(ProfileDefinitionError, match="no dispute rules in force"):
        profile.dispute_rules(date(2013, 3, 14))
