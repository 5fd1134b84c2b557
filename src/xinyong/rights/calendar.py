"""Working days and the holiday calendar the operator loads.

Legal time limits are counted in calendar days or in working days (工作日, business days).
A working day is Monday to Friday, except the jurisdiction's holidays, plus the weekend
days the State Council declares working days to make up for a long holiday (调休, e.g.
Sunday 2026-01-04 in China). Which days those are is published year by year
(国务院办公厅 notice each November; the US federal holidays, 5 U.S.C. §6103), so the
operator loads them: ``xinyong calendar load FILE`` or ``POST /v1/holiday-calendars``.

The arithmetic (:func:`add_working_days`, :func:`period_end`) is pure and works on a
:class:`WorkingCalendar`; :func:`working_calendar` builds one from the loaded days.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from xinyong.audit.schemas import StaffAction
from xinyong.audit.service import record_staff_action
from xinyong.db import utcnow
from xinyong.errors import XinyongError
from xinyong.institutions.schemas import Principal
from xinyong.reports.profiles import DayType, PeriodRule
from xinyong.rights.models import HolidayCalendar, HolidayCalendarDay

logger = logging.getLogger("xinyong.rights")

MAX_CALENDAR_BYTES = 256 * 1024
MAX_CALENDAR_DAYS = 2000
_SATURDAY = 5


class DayKind(StrEnum):
    HOLIDAY = "holiday"
    # A Saturday or Sunday that is a working day (调休).
    WORKING_WEEKEND = "working_weekend"


class InvalidCalendarError(XinyongError):
    code = "invalid_calendar"
    title = "The holiday calendar cannot be loaded"


@dataclass(frozen=True)
class WorkingCalendar:
    """Which days are working days in one jurisdiction.

    ``years`` are the years whose calendar was loaded; outside them the calendar knows only
    weekends (and :func:`add_working_days` logs a warning once per missing year).
    """

    jurisdiction: str
    holidays: frozenset[date] = frozenset()
    working_weekends: frozenset[date] = frozenset()
    years: frozenset[int] = frozenset()
    _warned: set[int] = field(default_factory=set, compare=False, repr=False)

    def is_working_day(self, day: date) -> bool:
        if day in self.working_weekends:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < _SATURDAY

    def warn_if_unloaded(self, day: date) -> None:
        """Log once per year that ``day``'s year has no loaded calendar."""
        if day.year not in self.years and day.year not in self._warned:
            self._warned.add(day.year)
            logger.warning(
                "no %s holiday calendar is loaded for %d: counting Monday to Friday only "
                "(load it with `xinyong calendar load`)",
                self.jurisdiction,
                day.year,
            )


def add_working_days(start: date, days: int, calendar: WorkingCalendar) -> date:
    """The ``days``-th working day after ``start`` (``start`` itself is not counted).

    ``add_working_days(friday, 1, …)`` is the next Monday (or the next working day after
    it); ``days == 0`` gives ``start``.
    """
    if days < 0:
        raise ValueError("days must not be negative")
    day = start
    left = days
    while left:
        day += timedelta(days=1)
        calendar.warn_if_unloaded(day)
        if calendar.is_working_day(day):
            left -= 1
    return day


def next_working_day(day: date, calendar: WorkingCalendar) -> date:
    """``day`` if it is a working day, else the first working day after it."""
    calendar.warn_if_unloaded(day)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
        calendar.warn_if_unloaded(day)
    return day


def period_end(start: date, rule: PeriodRule, calendar: WorkingCalendar) -> date:
    """The last day of a period of ``rule.days`` that starts with receipt on ``start``.

    Counting starts the day after ``start`` unless the rule counts the first day; a period
    of calendar days whose last day is no working day moves to the next working day when
    the rule says so. The period ends at the end of the returned day.
    """
    base = start - timedelta(days=1) if rule.counts_first_day else start
    if rule.day_type is DayType.WORKING:
        return add_working_days(base, rule.days, calendar)
    end = base + timedelta(days=rule.days)
    if rule.last_day_rolls_forward:
        end = next_working_day(end, calendar)
    return end


# --- loading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarDay:
    jurisdiction: str
    day: date
    kind: DayKind
    name: str | None = None


@dataclass(frozen=True)
class LoadedYear:
    jurisdiction: str
    year: int
    holidays: int
    working_weekends: int
    replaced: bool


def parse_calendar_csv(content: bytes, jurisdiction: str | None = None) -> list[CalendarDay]:
    """Days of a calendar file: CSV with a header ``date,kind[,name][,jurisdiction]``.

    ``kind`` is ``holiday`` or ``working_weekend``. Without a ``jurisdiction`` column every
    row is of ``jurisdiction``; with one, rows must match it when it is given.
    """
    if len(content) > MAX_CALENDAR_BYTES:
        raise InvalidCalendarError(f"a calendar file has at most {MAX_CALENDAR_BYTES} bytes")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidCalendarError("the calendar file is not UTF-8") from exc
    reader = csv.DictReader(io.StringIO(text))
    columns = [name.strip() for name in reader.fieldnames or []]
    missing = {"date", "kind"} - set(columns)
    if missing:
        raise InvalidCalendarError(
            "the calendar file needs the columns date and kind "
            f"(missing: {', '.join(sorted(missing))})"
        )
    if "jurisdiction" not in columns and jurisdiction is None:
        raise InvalidCalendarError("say which jurisdiction: a jurisdiction column or option")
    days: list[CalendarDay] = []
    seen: set[tuple[str, date]] = set()
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue
        where = jurisdiction or row.get("jurisdiction", "")
        if row.get("jurisdiction") and jurisdiction and row["jurisdiction"] != jurisdiction:
            raise InvalidCalendarError(
                f"line {line}: jurisdiction {row['jurisdiction']!r} is not {jurisdiction!r}"
            )
        if not where.isascii() or not where.isalpha() or not 2 <= len(where) <= 8:
            raise InvalidCalendarError(f"line {line}: {where!r} is not a jurisdiction code")
        try:
            day = date.fromisoformat(row["date"])
        except ValueError:
            raise InvalidCalendarError(
                f"line {line}: {row['date']!r} is not a date YYYY-MM-DD"
            ) from None
        try:
            kind = DayKind(row["kind"])
        except ValueError:
            raise InvalidCalendarError(
                f"line {line}: kind must be holiday or working_weekend, not {row['kind']!r}"
            ) from None
        if kind is DayKind.WORKING_WEEKEND and day.weekday() < _SATURDAY:
            raise InvalidCalendarError(
                f"line {line}: {day.isoformat()} is a weekday, not a working weekend day"
            )
        key = (where.lower(), day)
        if key in seen:
            raise InvalidCalendarError(f"line {line}: {day.isoformat()} is listed twice")
        seen.add(key)
        name = row.get("name") or None
        days.append(CalendarDay(where.lower(), day, kind, name[:100] if name else None))
        if len(days) > MAX_CALENDAR_DAYS:
            raise InvalidCalendarError(f"a calendar file has at most {MAX_CALENDAR_DAYS} days")
    if not days:
        raise InvalidCalendarError("the calendar file lists no days")
    return days


def load_calendar(
    session: Session, principal: Principal, days: Sequence[CalendarDay], source: bytes
) -> list[LoadedYear]:
    """Load the days of each (jurisdiction, year) in ``days``, replacing what was loaded
    for that year before. An audit entry records each year loaded.

    Due dates of disputes already filed stay as computed at filing.
    """
    by_year: dict[tuple[str, int], list[CalendarDay]] = {}
    for entry in days:
        by_year.setdefault((entry.jurisdiction, entry.day.year), []).append(entry)
    digest = hashlib.sha256(source).hexdigest()
    loaded: list[LoadedYear] = []
    for (jurisdiction, year), entries in sorted(by_year.items()):
        previous = session.scalar(
            select(HolidayCalendar).where(
                HolidayCalendar.jurisdiction == jurisdiction, HolidayCalendar.year == year
            )
        )
        if previous is not None:
            session.execute(
                delete(HolidayCalendarDay).where(HolidayCalendarDay.calendar_id == previous.id)
            )
            session.delete(previous)
            session.flush()
        calendar = HolidayCalendar(
            jurisdiction=jurisdiction,
            year=year,
            days=len(entries),
            source_sha256=digest,
            loaded_at=utcnow(),
            loaded_by=principal.label,
        )
        session.add(calendar)
        session.flush()
        session.add_all(
            HolidayCalendarDay(
                calendar_id=calendar.id,
                jurisdiction=jurisdiction,
                day=entry.day,
                kind=entry.kind.value,
                name=entry.name,
            )
            for entry in sorted(entries, key=lambda e: e.day)
        )
        holidays = sum(1 for entry in entries if entry.kind is DayKind.HOLIDAY)
        record_staff_action(
            session,
            principal,
            StaffAction.CALENDAR_LOAD,
            target_type="holiday_calendar",
            target_id=f"{jurisdiction}:{year}",
            details={
                "holidays": holidays,
                "working_weekends": len(entries) - holidays,
                "sha256": digest,
                "replaced": previous is not None,
            },
        )
        loaded.append(
            LoadedYear(jurisdiction, year, holidays, len(entries) - holidays, previous is not None)
        )
    session.flush()
    return loaded


def working_calendar(session: Session, jurisdiction: str) -> WorkingCalendar:
    """The jurisdiction's working calendar from the loaded days (all years)."""
    rows = session.execute(
        select(HolidayCalendarDay.day, HolidayCalendarDay.kind).where(
            HolidayCalendarDay.jurisdiction == jurisdiction
        )
    ).all()
    years = session.scalars(
        select(HolidayCalendar.year).where(HolidayCalendar.jurisdiction == jurisdiction)
    ).all()
    return WorkingCalendar(
        jurisdiction=jurisdiction,
        holidays=frozenset(day for day, kind in rows if kind == DayKind.HOLIDAY.value),
        working_weekends=frozenset(
            day for day, kind in rows if kind == DayKind.WORKING_WEEKEND.value
        ),
        years=frozenset(years),
    )


def calendar_from_days(jurisdiction: str, days: Iterable[CalendarDay]) -> WorkingCalendar:
    """A working calendar from parsed days (no database), e.g. to check a file."""
    entries = [entry for entry in days if entry.jurisdiction == jurisdiction]
    return WorkingCalendar(
        jurisdiction=jurisdiction,
        holidays=frozenset(e.day for e in entries if e.kind is DayKind.HOLIDAY),
        working_weekends=frozenset(e.day for e in entries if e.kind is DayKind.WORKING_WEEKEND),
        years=frozenset(e.day.year for e in entries),
    )


def list_calendars(
    session: Session, jurisdiction: str | None = None, year: int | None = None
) -> list[tuple[HolidayCalendar, list[HolidayCalendarDay]]]:
    """Loaded calendar years with their days, by jurisdiction and year."""
    query = select(HolidayCalendar).order_by(HolidayCalendar.jurisdiction, HolidayCalendar.year)
    if jurisdiction is not None:
        query = query.where(HolidayCalendar.jurisdiction == jurisdiction)
    if year is not None:
        query = query.where(HolidayCalendar.year == year)
    calendars = list(session.scalars(query))
    days: dict[int, list[HolidayCalendarDay]] = {calendar.id: [] for calendar in calendars}
    if calendars:
        for entry in session.scalars(
            select(HolidayCalendarDay)
            .where(HolidayCalendarDay.calendar_id.in_(list(days)))
            .order_by(HolidayCalendarDay.day)
        ):
            days[entry.calendar_id].append(entry)
    return [(calendar, days[calendar.id]) for calendar in calendars]
