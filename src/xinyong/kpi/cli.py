"""`xinyong kpi`: the key figures as JSON."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from xinyong.cli.context import platform
from xinyong.kpi import service

kpi_app = typer.Typer(help="Key figures: usage of credit files, disputes, repair, list exits.")

Start = Annotated[str | None, typer.Option("--from", help="First day (default: 30 days ago).")]
End = Annotated[str | None, typer.Option("--to", help="Last day (default: today).")]


def _period(start: str | None, end: str | None) -> tuple[service.Period, date]:
    from xinyong.cli.main import fail
    from xinyong.reports.profiles import get_profile

    profile = get_profile(platform().settings.profile)
    today = profile.today()
    try:
        first = date.fromisoformat(start) if start else None
        last = date.fromisoformat(end) if end else None
    except ValueError:
        raise fail("--from and --to are dates YYYY-MM-DD", 2) from None
    default = service.default_period(today)
    period = service.Period(start=first or default.start, end=last or default.end)
    if period.start > period.end:
        raise fail(f"--from ({period.start}) is after --to ({period.end})", 2)
    return period, today


@kpi_app.command("usage")
def usage(start: Start = None, end: End = None) -> None:
    """Reads of credit files by product (report, score, check), outcome and institution."""
    from xinyong.cli.main import console
    from xinyong.reports.profiles import get_profile

    p = platform()
    period, _ = _period(start, end)
    with p.factory() as session:
        result = service.usage_kpis(session, get_profile(p.settings.profile), period)
    console.print(result.model_dump_json(indent=2), highlight=False, soft_wrap=True)


@kpi_app.command("rights")
def rights(start: Start = None, end: End = None) -> None:
    """Disputes by outcome and on time, repair decisions and days to decide, list exits."""
    from xinyong.cli.main import console
    from xinyong.reports.profiles import get_profile

    p = platform()
    period, today = _period(start, end)
    with p.factory() as session:
        result = service.rights_kpis(session, get_profile(p.settings.profile), period, today)
    console.print(result.model_dump_json(indent=2), highlight=False, soft_wrap=True)
