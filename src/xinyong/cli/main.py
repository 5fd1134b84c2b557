"""The `xinyong` command: composes the domain commands."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from xinyong.cli.context import platform
from xinyong.errors import XinyongError

app = typer.Typer(
    name="xinyong",
    help="Xinyong (信用): an open-source credit information platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)  # long lines (keys, URLs) stay whole when piped
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@app.command()
def init() -> None:
    """Create the database and keys (idempotent) and print a first operator key."""
    from sqlalchemy import select

    from xinyong.db import transaction
    from xinyong.institutions.models import ApiKey
    from xinyong.institutions.schemas import Role
    from xinyong.institutions.service import issue_api_key

    p = platform()
    # Generate the key file on first run (or check the configured keys) before the first
    # key is issued, so a fresh platform is complete once `init` returns.
    _ = p.keys
    with transaction(p.factory) as session:
        has_operator = session.scalar(
            select(ApiKey.id).where(ApiKey.role == Role.OPERATOR.value, ApiKey.revoked_at.is_(None))
        )
        issued = (
            None if has_operator else issue_api_key(session, Role.OPERATOR, None, "first operator")
        )
    console.print(f"database: {p.engine.url.render_as_string(hide_password=True)}")
    from_env = p.settings.encryption_key is not None
    console.print(f"keys:     {'from environment' if from_env else p.settings.resolved_key_file}")
    if issued is not None:
        console.print(f"operator API key (shown once): [bold]{issued.api_key}[/bold]")
    else:
        console.print(
            "an operator key exists; issue more with `xinyong institutions key --role operator`"
        )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    from xinyong.cli.serving import run_server

    p = platform()
    run_server(p, host or p.settings.host, port or p.settings.port)


def _register() -> None:
    from xinyong.cli import accounts, demo, ingest, institutions, records, reports, subjects
    from xinyong.events.cli import events_app
    from xinyong.kpi.cli import kpi_app
    from xinyong.ledger.cli import ledger_app
    from xinyong.lists.cli import lists_app
    from xinyong.rights.cli import calendar_app, disputes_app
    from xinyong.scoring.cli import model_app, score
    from xinyong.synth.cli import synth

    app.command("demo")(demo.demo)
    app.command("ingest")(ingest.ingest)
    app.command("synth")(synth)
    app.add_typer(institutions.app, name="institutions")
    subjects.app.command("enrol")(accounts.enrol)
    app.add_typer(subjects.app, name="subjects")
    app.add_typer(records.app, name="records")
    app.command("report")(reports.report)
    app.add_typer(model_app, name="model")
    app.add_typer(events_app, name="events")
    app.command("score")(score)
    app.add_typer(lists_app, name="lists")
    app.add_typer(kpi_app, name="kpi")
    app.add_typer(ledger_app, name="ledger")
    app.add_typer(disputes_app, name="disputes")
    app.add_typer(calendar_app, name="calendar")


_register()


def main() -> None:
    """Entry point: domain errors become a one-line message and exit status 1."""
    try:
        app()
    except XinyongError as exc:
        # Escaped: `[code]` and user data in the detail would otherwise be read as markup.
        err.print(
            f"[red]error[/red] {escape(f'[{exc.code}]')}: {escape(exc.detail)}",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
