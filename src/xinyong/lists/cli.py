"""`xinyong lists`: the scheduled list job and checks, as the local operator."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from xinyong.cli.context import platform
from xinyong.db import transaction
from xinyong.institutions.schemas import LOCAL_OPERATOR
from xinyong.lists import service

lists_app = typer.Typer(
    help="Lists of dishonest and trustworthy subjects: the scheduled job and checks.",
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


@lists_app.command("maintain")
def maintain(
    today: Annotated[str | None, typer.Option(help="Run as of this date (default: today).")] = None,
) -> None:
    """End entries at their term and escalate abnormal operations (idempotent)."""
    from xinyong.cli.main import console

    p = platform()
    with transaction(p.factory) as session:
        result = service.run_maintenance(session, _day(today))
    console.print(f"expired {result.expired} entries, escalated {result.escalated}")


@lists_app.command("check")
def check(
    subject: Annotated[str, typer.Argument(help="Subject id or identifier; '-' to be prompted.")],
    measure: Annotated[str | None, typer.Option(help="One measure (default: all).")] = None,
    eligibility: Annotated[
        bool, typer.Option("--eligibility", help="Check incentives instead of restrictions.")
    ] = False,
) -> None:
    """Check a subject against the lists; the check is recorded as a query."""
    from xinyong.cli.main import console
    from xinyong.cli.reports import subject_selector
    from xinyong.reports.schemas import Channel
    from xinyong.reports.service import resolve_selector_key

    if subject == "-":
        subject = typer.prompt("identifier", hide_input=True)
    p = platform()
    with transaction(p.factory) as session:
        found = resolve_selector_key(session, p.keys, subject_selector(subject))
        if eligibility:
            decision = service.check_eligibility(session, p.keys, found, measure)
        else:
            decision = service.check_restriction(session, found, measure)
        decision = service.record_check(
            session, LOCAL_OPERATOR, found, decision, channel=Channel.CLI
        )
    console.print(decision.model_dump_json(indent=2), highlight=False, soft_wrap=True)


@lists_app.command("index-names")
def index_names() -> None:
    """Rebuild the organisation-name index of the public search (idempotent).

    New organisations are indexed as they are created; run this once after upgrading a
    database that already holds organisations (migration 0006).
    """
    from xinyong.cli.main import console
    from xinyong.identity.service import sync_organisation_names

    p = platform()
    with transaction(p.factory) as session:
        changed = sync_organisation_names(session, p.keys)
    console.print(f"organisation-name index: {changed} rows added, changed or removed")
