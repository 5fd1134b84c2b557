"""Key figures for operators and supervisors, computed from the operational tables.

- **usage**: reads of credit files by product (report, score, check) and outcome (served,
  refused), and by institution, within a period (query records);
- **rights**: disputes (by outcome, share resolved within the deadline, median days to
  resolution), credit repair (by outcome, median days from filing to decision, overdue
  steps) and the list exit rate (entries of negative lists that ended in the period —
  removed, repaired or expired — as a share of those in force at any time in it).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from statistics import median

from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from xinyong.lists.definitions import get_definitions
from xinyong.lists.models import ListEntry
from xinyong.reports.models import QueryRecord
from xinyong.reports.profiles import JurisdictionProfile
from xinyong.rights.disputes import dispute_kpis
from xinyong.rights.models import RepairCase
from xinyong.rights.repair import RepairKpis, repair_kpis
from xinyong.rights.schemas import DisputeKpis


class Period(BaseModel):
    start: date
    end: date


class ProductUsage(BaseModel):
    product: str
    served: int
    refused: int


class InstitutionUsage(BaseModel):
    institution_id: int | None
    served: int
    refused: int


class UsageKpis(BaseModel):
    period: Period
    by_product: list[ProductUsage]
    by_institution: list[InstitutionUsage]


class RepairFigures(BaseModel):
    status: RepairKpis
    decided_in_period: int
    approved_in_period: int
    median_days_to_decision: float | None


class ListExit(BaseModel):
    in_force: int
    exited: int
    rate: float | None
    by_end: dict[str, int]


class RightsKpis(BaseModel):
    period: Period
    disputes: DisputeKpis
    repair: RepairFigures
    list_exit: ListExit


def _bounds(profile: JurisdictionProfile, period: Period) -> tuple[datetime, datetime]:
    start = datetime.combine(period.start, time(), profile.zone)
    return start, profile.end_of_day(period.end)


def usage_kpis(session: Session, profile: JurisdictionProfile, period: Period) -> UsageKpis:
    """Credit-file reads within the period (profile time zone), served and refused."""
    start, end = _bounds(profile, period)
    window = (QueryRecord.occurred_at >= start, QueryRecord.occurred_at < end)
    products: dict[str, ProductUsage] = {}
    for product, outcome, count in session.execute(
        select(QueryRecord.product, QueryRecord.outcome, func.count())
        .where(*window)
        .group_by(QueryRecord.product, QueryRecord.outcome)
    ):
        row = products.setdefault(product, ProductUsage(product=product, served=0, refused=0))
        setattr(row, "served" if outcome == "served" else "refused", int(count))
    institutions: dict[int | None, InstitutionUsage] = {}
    for institution_id, outcome, count in session.execute(
        select(QueryRecord.institution_id, QueryRecord.outcome, func.count())
        .where(*window)
        .group_by(QueryRecord.institution_id, QueryRecord.outcome)
    ):
        row2 = institutions.setdefault(
            institution_id, InstitutionUsage(institution_id=institution_id, served=0, refused=0)
        )
        setattr(row2, "served" if outcome == "served" else "refused", int(count))
    return UsageKpis(
        period=period,
        by_product=sorted(products.values(), key=lambda r: r.product),
        by_institution=sorted(
            institutions.values(), key=lambda r: (r.institution_id is None, r.institution_id or 0)
        ),
    )


def _list_exit(session: Session, period: Period) -> ListExit:
    negative = [t.code for t in get_definitions().list_types if t.polarity == "negative"]
    in_force = select(ListEntry.status, ListEntry.ended_on).where(
        ListEntry.list_type.in_(negative),
        ListEntry.start_date <= period.end,
        or_(ListEntry.ended_on.is_(None), ListEntry.ended_on >= period.start),
    )
    total = 0
    by_end: dict[str, int] = {}
    for status, ended_on in session.execute(in_force):
        total += 1
        if (
            ended_on is not None
            and period.start <= ended_on <= period.end
            and status in ("removed", "repaired", "expired")
        ):
            by_end[status] = by_end.get(status, 0) + 1
    exited = sum(by_end.values())
    return ListExit(
        in_force=total,
        exited=exited,
        rate=exited / total if total else None,
        by_end=dict(sorted(by_end.items())),
    )


def rights_kpis(
    session: Session, profile: JurisdictionProfile, period: Period, today: date
) -> RightsKpis:
    """Disputes filed in the period, repair decisions in it, and the list exit rate."""
    decided = session.execute(
        select(RepairCase.filed_on, RepairCase.decided_on, RepairCase.decision).where(
            RepairCase.decided_on.is_not(None),
            RepairCase.decided_on >= period.start,
            RepairCase.decided_on <= period.end,
        )
    ).all()
    days = [
        (decided_on - filed_on).days
        for filed_on, decided_on, _ in decided
        if decided_on is not None
    ]
    return RightsKpis(
        period=period,
        disputes=dispute_kpis(session, today, filed_from=period.start, filed_to=period.end),
        repair=RepairFigures(
            status=repair_kpis(session, today),
            decided_in_period=len(decided),
            approved_in_period=sum(1 for _, _, decision in decided if decision == "approved"),
            median_days_to_decision=float(median(days)) if days else None,
        ),
        list_exit=_list_exit(session, period),
    )


def default_period(today: date, days: int = 30) -> Period:
    return Period(start=today - timedelta(days=days - 1), end=today)
