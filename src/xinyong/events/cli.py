"""`xinyong events`: the webhook worker from the command line."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from xinyong.cli.context import platform

events_app = typer.Typer(
    help="The transactional outbox and webhook delivery (docs/events.md).",
    no_args_is_help=True,
)


@events_app.command("run")
def run(
    once: Annotated[
        bool, typer.Option("--once", help="One round (fan out, deliver what is due), then exit.")
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            max=3600,
            help="Seconds between rounds (default XINYONG_EVENTS_INTERVAL_SECONDS).",
        ),
    ] = None,
) -> None:
    """Fan out new events and deliver due webhooks, round after round, until Ctrl-C; run the
    daily jobs (list terms, dispute and repair deadlines) once a day.

    Any number of workers may run against one database; set XINYONG_EVENTS_WORKER=off on
    the API servers when workers run on their own.
    """
    from xinyong.cli.main import console
    from xinyong.events.service import make_client
    from xinyong.events.tasks import Worker, describe, run_cycle
    from xinyong.jobs import daily_jobs, round_jobs

    p = platform()
    pause = interval if interval is not None else p.settings.events_interval_seconds
    scheduler = Worker(
        p.factory, p.keys, daily_jobs=daily_jobs(p.keys), round_jobs=round_jobs(p.settings)
    )
    with make_client() as client:
        try:
            while True:
                # The daily jobs (list terms, dispute and repair deadlines), once a day.
                scheduler.run_daily_jobs()
                # A signed ledger checkpoint when the log has grown (docs/ledger.md).
                scheduler.run_round_jobs()
                result = run_cycle(p.factory, p.keys, client=client)
                if once or not result.idle:
                    console.print(describe(result), highlight=False)
                if once:
                    return
                time.sleep(pause)
        except KeyboardInterrupt:
            console.print("stopped")
