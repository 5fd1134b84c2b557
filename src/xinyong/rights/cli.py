"""`xinyong disputes` and `xinyong calendar`: the deadline job and the holiday calendar."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from xinyong.cli.context import platform
from xinyong.db import transaction
from xinyong.institutions.schemas import LOCAL_OPERATOR
from xinyong.rights import calendar, disputes, repair

disputes_app = typer.Typer(
    help="Disputes: the deadline job (run it daily from cron) and the KPIs.",
    no_args_is_help=True,
)
calendar_app = typer.Typer(
    help="The holiday calendar that working-day deadlines are counted in.",
    no_args_is_help=True,
)


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        from xinyong.cli.main import fail

        raise fail(f"--today must be a date YYYY-MM-DD, not {value!r}", 2) from None


def _profile_today() -> date:
    from xinyong.reports.profiles import get_profile

    return get_profile(platform().settings.profile).today()


@disputes_app.command("run-deadlines")
def run_deadlines(
    today: Annotated[
        str | None, typer.Option(help="Run as of this date (default: today in the profile's zone).")
    ] = None,
) -> None:
    """Notify furnishers, flag overdue notifications, apply outcomes at deadlines (idempotent)."""
    from xinyong.cli.main import console

    p = platform()
    day = _day(today) or _profile_today()
    with transaction(p.factory) as session:
        run = disputes.run_dispute_deadlines(session, day, keys=p.keys)
    console.print(
        f"{day.isoformat()}: notified {run.notified}, notification overdue "
        f"{run.notification_overdue}, deleted {run.deleted}, unresolved {run.unresolved}, "
        f"cases resolved {run.cases_resolved}, failed {run.failed}"
    )
    if run.failed:
        raise typer.Exit(1)


@disputes_app.command("run-repair-deadlines")
def run_repair_deadlines(
    today: Annotated[
        str | None, typer.Option(help="Run as of this date (default: today in the profile's zone).")
    ] = None,
) -> None:
    """Flag credit-repair applications not acknowledged or decided in time (idempotent)."""
    from xinyong.cli.main import console

    p = platform()
    day = _day(today) or _profile_today()
    with transaction(p.factory) as session:
        run = repair.run_repair_deadlines(session, day)
    console.print(
        f"{day.isoformat()}: repair acknowledgements overdue {run.acknowledgement_overdue}, "
        f"decisions overdue {run.decision_overdue}"
    )


@disputes_app.command("kpis")
def kpis(
    filed_from: Annotated[str | None, typer.Option(help="Cases filed on or after.")] = None,
    filed_to: Annotated[str | None, typer.Option(help="Cases filed on or before.")] = None,
) -> None:
    """Cases open, on time, overdue; outcomes; median days to resolve (JSON)."""
    from xinyong.cli.main import console

    p = platform()
    with p.factory() as session:
        result = disputes.dispute_kpis(
            session, _profile_today(), filed_from=_day(filed_from), filed_to=_day(filed_to)
        )
    console.print(result.model_dump_json(indent=2), highlight=False, soft_wrap=True)


@calendar_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="CSV: date,kind[,name][,jurisdiction].")],
    jurisdiction: Annotated[
        str | None, typer.Option(help="Jurisdiction of every row (when the file has no column).")
    ] = None,
) -> None:
    """Load (or replace) holiday calendar years: holidays and make-up working weekends."""
    from xinyong.cli.main import console, fail

    try:
        content = file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}", 2) from None
    days = calendar.parse_calendar_csv(content, jurisdiction)
    p = platform()
    with transaction(p.factory) as session:
        loaded = calendar.load_calendar(session, LOCAL_OPERATOR, days, content)
    for year in loaded:
        console.print(
            f"{year.jurisdiction} {year.year}: {year.holidays} holidays, "
            f"{year.working_weekends} working weekend days"
            + (" (replaced the loaded year)" if year.replaced else "")
        )


@calendar_app.command("show")
def show(
    jurisdiction: Annotated[str, typer.Option(help="Jurisdiction code, e.g. cn.")],
    year: Annotated[int | None, typer.Option(help="One year (default: all loaded).")] = None,
) -> None:
    """The loaded days of a jurisdiction's calendar."""
    from xinyong.cli.main import console

    p = platform()
    with p.factory() as session:
        found = calendar.list_calendars(session, jurisdiction, year)
        if not found:
            console.print(f"no {jurisdiction} calendar is loaded")
        for loaded, days in found:
            console.print(
                f"{loaded.jurisdiction} {loaded.year} (loaded {loaded.loaded_at:%Y-%m-%d} by "
                f"{loaded.loaded_by}, sha256 {loaded.source_sha256[:12]}…)"
            )
            for day in days:
                console.print(f"  {day.day.isoformat()} {day.kind:<16} {day.name or ''}")
