"""Retention: when an item leaves a report (征信业管理条例 Art. 16, FCRA §1681c; RULES.md 7, 21)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyong.catalog.schemas import FieldType
from xinyong.catalog.service import get_catalog
from xinyong.reports.profiles import get_profile
from xinyong.reports.retention import (
    EVENT_END_FIELDS,
    add_years,
    event_end,
    is_negative,
    is_retained,
)

CN = get_profile("cn")
US = get_profile("us")
AS_OF = date(2026, 11, 20)
TYPES = get_catalog().record_types

days = st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 31))


def arrears(paid: date | None, since: date = date(2010, 3, 1)) -> dict[str, Any]:
    fields: dict[str, Any] = {"tax_type": "vat", "amount": "10.00", "since_date": since.isoformat()}
    if paid is not None:
        fields["paid_date"] = paid.isoformat()
    return fields


def retained(
    record_type: str, fields: dict[str, Any], as_of: date = AS_OF, profile: Any = CN
) -> bool:
    return is_retained(TYPES[record_type], fields, as_of, profile)


# --- add_years ----------------------------------------------------------------------------------


def test_add_years() -> None:
    assert add_years(date(2020, 5, 17), 5) == date(2025, 5, 17)
    assert add_years(date(2020, 5, 17), -5) == date(2015, 5, 17)
    assert add_years(date(2020, 2, 29), 1) == date(2021, 2, 28)
    assert add_years(date(2020, 2, 29), 4) == date(2024, 2, 29)


@given(day=days, years=st.integers(min_value=-30, max_value=30))
def test_add_years_keeps_month_and_day(day: date, years: int) -> None:
    moved = add_years(day, years)
    assert moved.year == day.year + years
    assert moved.month == day.month
    if (day.month, day.day) != (2, 29):
        assert moved.day == day.day
    else:
        assert moved.day in (28, 29)


@given(first=days, second=days, years=st.integers(min_value=0, max_value=30))
def test_add_years_is_monotone(first: date, second: date, years: int) -> None:
    early, late = sorted((first, second))
    assert add_years(early, years) <= add_years(late, years)
    assert add_years(early, years) >= early


# --- event ends ---------------------------------------------------------------------------------


def test_every_end_field_is_a_date_field_of_its_catalog_type() -> None:
    for code, names in EVENT_END_FIELDS.items():
        assert code in TYPES, code
        for name in names:
            assert TYPES[code].field(name).type is FieldType.DATE, (code, name)


def test_event_end_by_type() -> None:
    assert event_end("tax_arrears", arrears(date(2020, 1, 5)), AS_OF) == date(2020, 1, 5)
    assert event_end("tax_arrears", arrears(None), AS_OF) is None
    # Paid after the as-of date: as of then, the arrears were still running.
    assert event_end("tax_arrears", arrears(date(2026, 12, 1)), AS_OF) is None
    judgment = {"judgment_date": "2019-04-01", "effective_date": "2019-05-02"}
    assert event_end("court_judgment", judgment, AS_OF) == date(2019, 5, 2)
    assert event_end("court_judgment", {"judgment_date": "2019-04-01"}, AS_OF) == date(2019, 4, 1)
    # Not yet in effect on the as-of date: the period has not started.
    pending = {"judgment_date": "2026-11-01", "effective_date": "2026-12-01"}
    assert event_end("court_judgment", pending, AS_OF) is None
    assert event_end("enforcement_case", {"filed_date": "2018-01-01"}, AS_OF) is None
    assert event_end("enforcement_case", {"closed_date": "2018-06-01"}, AS_OF) == date(2018, 6, 1)
    assert event_end("administrative_penalty", {"performed_date": "2017-02-03"}, AS_OF) == date(
        2017, 2, 3
    )
    assert event_end("credit_account", {"close_date": "2016-07-08"}, AS_OF) == date(2016, 7, 8)
    assert event_end("credit_account", {"open_date": "2016-07-08"}, AS_OF) is None
    # A type without an end field never ends.
    assert event_end("tax_credit_grade", {"tax_year": "2010"}, AS_OF) is None
    # Not a date: ignored.
    assert event_end("tax_arrears", {"paid_date": "yesterday"}, AS_OF) is None
    assert event_end("tax_arrears", {"paid_date": "2020-02-30"}, AS_OF) is None


def test_a_listing_ends_on_removal_or_when_its_term_has_run_out() -> None:
    listing = {"listing_date": "2015-01-10"}
    assert event_end("dishonest_debtor_listing", listing, AS_OF) is None
    removed = {**listing, "removal_date": "2016-03-01", "term_end_date": "2017-01-10"}
    assert event_end("dishonest_debtor_listing", removed, AS_OF) == date(2016, 3, 1)
    expired = {**listing, "term_end_date": "2017-01-10"}
    assert event_end("dishonest_debtor_listing", expired, AS_OF) == date(2017, 1, 10)
    # A removal reported after the term had run out does not extend the listing.
    late_removal = {**expired, "removal_date": "2019-05-05"}
    assert event_end("dishonest_debtor_listing", late_removal, AS_OF) == date(2017, 1, 10)
    running = {**listing, "term_end_date": "2027-01-10"}
    assert event_end("dishonest_debtor_listing", running, AS_OF) is None
    # The term's last day is still in force.
    assert (
        event_end("dishonest_debtor_listing", {**listing, "term_end_date": "2026-11-20"}, AS_OF)
        is None
    )


# --- retention ----------------------------------------------------------------------------------


def test_cn_drops_negative_items_five_years_after_they_ended() -> None:
    six_years = arrears(date(2020, 11, 19))
    four_years = arrears(date(2022, 11, 20))
    assert not retained("tax_arrears", six_years)
    assert retained("tax_arrears", four_years)
    # The boundary: end + 5 years == as_of is still shown, one day later it is not.
    assert retained("tax_arrears", arrears(date(2021, 11, 20)))
    assert not retained("tax_arrears", arrears(date(2021, 11, 19)))


def test_us_keeps_negative_items_seven_years() -> None:
    assert retained("tax_arrears", arrears(date(2020, 11, 19)), profile=US)
    assert retained("tax_arrears", arrears(date(2019, 11, 20)), profile=US)
    assert not retained("tax_arrears", arrears(date(2019, 11, 19)), profile=US)


def test_ongoing_items_always_stay() -> None:
    assert retained("tax_arrears", arrears(None, since=date(1995, 1, 1)))
    assert retained("enforcement_case", {"filed_date": "1999-01-01", "status": "open"})
    listing = {"listing_date": "2001-01-01", "term_end_date": "2030-01-01"}
    assert retained("dishonest_debtor_listing", listing)


def test_expired_listings_and_old_judgments_leave() -> None:
    old_term = {"listing_date": "2015-01-01", "term_end_date": "2017-01-01"}
    assert not retained("dishonest_debtor_listing", old_term)
    assert retained("dishonest_debtor_listing", old_term, profile=US, as_of=date(2023, 12, 31))
    assert not retained("court_judgment", {"judgment_date": "2020-01-01"})
    assert retained("court_judgment", {"judgment_date": "2020-01-01"}, profile=US)


def test_closed_accounts_leave_after_the_account_history_period() -> None:
    closed = {"open_date": "2010-01-01", "close_date": "2020-06-30", "status": "closed"}
    assert not retained("credit_account", closed)
    assert retained("credit_account", closed, profile=US)  # ten years
    assert retained("credit_account", {**closed, "close_date": "2022-06-30"})
    assert retained("credit_account", {"open_date": "2001-01-01", "status": "normal"})


def test_public_records_stay_while_valid() -> None:
    assert retained("tax_credit_grade", {"tax_year": "1995", "grade": "A"})
    assert retained("commendation", {"award_date": "1990-01-01", "valid_until": "1991-01-01"})


fields_with_ends = st.one_of(
    st.builds(lambda paid: ("tax_arrears", arrears(paid)), st.none() | days),
    st.builds(
        lambda closed: ("credit_account", {"close_date": closed.isoformat()} if closed else {}),
        st.none() | days,
    ),
    st.builds(
        lambda removed, term: (
            "dishonest_debtor_listing",
            {
                "listing_date": "1990-01-01",
                **({"removal_date": removed.isoformat()} if removed else {}),
                **({"term_end_date": term.isoformat()} if term else {}),
            },
        ),
        st.none() | days,
        st.none() | days,
    ),
    st.builds(
        lambda judged, lag: (
            "court_judgment",
            {
                "judgment_date": judged.isoformat(),
                "effective_date": (judged + timedelta(days=lag)).isoformat(),
            },
        ),
        days,
        st.integers(min_value=0, max_value=4000),
    ),
)


@given(item=fields_with_ends, first=days, second=days, us=st.booleans())
def test_once_dropped_an_item_never_comes_back(
    item: tuple[str, dict[str, Any]], first: date, second: date, us: bool
) -> None:
    record_type, fields = item
    early, late = sorted((first, second))
    profile = US if us else CN
    if not retained(record_type, fields, early, profile):
        assert not retained(record_type, fields, late, profile)


@given(paid=days, as_of=days)
def test_a_longer_period_keeps_at_least_as_much(paid: date, as_of: date) -> None:
    fields = arrears(paid)
    if retained("tax_arrears", fields, as_of, CN):
        assert retained("tax_arrears", fields, as_of, US)


@given(since=days, as_of=days)
def test_an_item_that_has_not_ended_is_always_retained(since: date, as_of: date) -> None:
    assert retained("tax_arrears", arrears(None, since=since), as_of)
    assert retained("tax_arrears", arrears(as_of + timedelta(days=1), since=since), as_of)


# --- negative information -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "negative"),
    [
        ({"status": "normal", "overdue_amount": "0.00", "repayment_grid": "NNNN#C"}, False),
        ({"status": "normal", "overdue_amount": "0", "repayment_grid": "NNN"}, False),
        ({"status": "normal", "overdue_amount": "0.00", "repayment_grid": "NN1N"}, True),
        ({"status": "normal", "overdue_amount": "0.00", "repayment_grid": "NNDN"}, True),
        ({"status": "normal", "overdue_amount": "0.00", "repayment_grid": "NNZ"}, True),
        ({"status": "bad_debt", "overdue_amount": "0.00"}, True),
        ({"status": "closed", "overdue_amount": "0.00"}, False),
        ({"status": "normal", "overdue_amount": "120.00"}, True),
    ],
)
def test_an_account_is_negative_when_it_went_bad(fields: dict[str, Any], negative: bool) -> None:
    assert is_negative(TYPES["credit_account"], fields) is negative


def test_negative_by_type() -> None:
    assert is_negative(TYPES["tax_arrears"], arrears(None))
    assert is_negative(TYPES["court_judgment"], {})
    assert not is_negative(TYPES["tax_credit_grade"], {"grade": "D"})
    assert not is_negative(TYPES["commendation"], {})
    assert is_negative(TYPES["social_insurance_status"], {"status": "in_arrears"})
    assert not is_negative(TYPES["social_insurance_status"], {"status": "paying"})
