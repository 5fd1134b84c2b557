"""Key figures over HTTP, for operators, auditors and the later dashboard."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from xinyong.api.deps import DbSession, Profile, StaffReader
from xinyong.errors import XinyongError
from xinyong.kpi import service
from xinyong.reports.profiles import JurisdictionProfile

router = APIRouter(prefix="/v1/kpis", tags=["kpis"])


class InvalidPeriodError(XinyongError):
    code = "invalid_period"
    title = "Invalid period"


def period_of(profile: JurisdictionProfile, start: date | None, end: date | None) -> service.Period:
    """[start, end] in the profile's days; default: the 30 days up to today."""
    today = profile.today()
    default = service.default_period(today)
    chosen = service.Period(start=start or default.start, end=end or default.end)
    if chosen.start > chosen.end:
        raise InvalidPeriodError(f"from ({chosen.start}) is after to ({chosen.end})")
    return chosen


From = Annotated[date | None, Query(alias="from", description="First day (default: 30 days ago).")]
To = Annotated[date | None, Query(alias="to", description="Last day (default: today).")]


@router.get("/usage", summary="Reads of credit files by product, outcome and institution")
def read_usage(
    session: DbSession, profile: Profile, _: StaffReader, start: From = None, end: To = None
) -> service.UsageKpis:
    return service.usage_kpis(session, profile, period_of(profile, start, end))


@router.get("/rights", summary="Disputes, credit repair and the list exit rate")
def read_rights(
    session: DbSession, profile: Profile, _: StaffReader, start: From = None, end: To = None
) -> service.RightsKpis:
    return service.rights_kpis(session, profile, period_of(profile, start, end), profile.today())
