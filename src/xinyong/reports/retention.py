"""When an item leaves a credit report: the jurisdiction profile's retention periods.

Each catalog record type has a retention rule; the profile gives the rule's period. The
period runs from the day the behaviour or event *ended* (征信业管理条例 Art. 16, FCRA §1681c):
which field marks that end depends on the record type (``EVENT_END_FIELDS``). An item whose
event has not ended (arrears not paid, a case still open, a listing in force) stays.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from xinyong.catalog.schemas import RecordType
from xinyong.reports.profiles import JurisdictionProfile

# For each record type, the fields that date the end of the behaviour or event, in order of
# preference; the first one present is the end. A type missing here never expires.
EVENT_END_FIELDS: Mapping[str, tuple[str, ...]] = {
    "credit_account": ("close_date",),
    "tax_arrears": ("paid_date",),
    # A judgment is an event: its period runs from the day it took effect.
    "court_judgment": ("effective_date", "judgment_date"),
    "enforcement_case": ("closed_date",),
    "dishonest_debtor_listing": ("removal_date",),
    "administrative_penalty": ("performed_date",),
    "utility_arrears": ("paid_date",),
}

# Grid codes that are adverse (RULES.md 28): months overdue, paid by guarantor, settled with
# assets.
ADVERSE_GRID_CODES = frozenset("1234567DZ")
_ADVERSE_ACCOUNT_STATUSES = frozenset(
    {"overdue", "bad_debt", "transferred", "paid_by_guarantor", "settled_with_assets"}
)


def add_years(day: date, years: int) -> date:
    """``day`` plus ``years`` calendar years; 29 February becomes 28 February if needed."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _as_date(value: Any) -> date | None:
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def event_end(record_type: str, fields: Mapping[str, Any], as_of: date) -> date | None:
    """The day the item's behaviour or event ended, or None while it goes on.

    The first end field present decides; a date after ``as_of`` means the event had not
    ended by then. An end never moves later as ``as_of`` advances, so an item that has left
    the report never comes back.
    """
    ends: list[date] = []
    for name in EVENT_END_FIELDS.get(record_type, ()):
        end = _as_date(fields.get(name))
        if end is not None:
            if end <= as_of:
                ends.append(end)
            break
    if record_type == "dishonest_debtor_listing":
        # A listing whose term has run out has ended even if no removal was reported, or
        # a removal was reported only later.
        term_end = _as_date(fields.get("term_end_date"))
        if term_end is not None and term_end < as_of:
            ends.append(term_end)
    return min(ends, default=None)


def is_negative(record_type: RecordType, fields: Mapping[str, Any]) -> bool:
    """Whether an item is negative information: by its type, or an account gone bad."""
    if record_type.negative:
        return True
    if record_type.code == "credit_account":
        grid = fields.get("repayment_grid")
        if isinstance(grid, str) and ADVERSE_GRID_CODES.intersection(grid):
            return True
        if fields.get("status") in _ADVERSE_ACCOUNT_STATUSES:
            return True
        overdue = fields.get("overdue_amount")
        return isinstance(overdue, str) and overdue not in ("0", "0.00")
    if record_type.code == "social_insurance_status":
        return fields.get("status") == "in_arrears"
    return False


def is_retained(
    record_type: RecordType, fields: Mapping[str, Any], as_of: date, profile: JurisdictionProfile
) -> bool:
    """Whether a report as of ``as_of`` may still show the item.

    Never shows an item whose end date plus the period is before ``as_of`` (RULES.md 7, 21).
    """
    rule = profile.retention[record_type.retention_rule]
    if rule.years is None:
        return True
    end = event_end(record_type.code, fields, as_of)
    if end is None:
        return True
    return add_years(end, rule.years) >= as_of
