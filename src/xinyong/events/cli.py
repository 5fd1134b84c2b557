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
    """Fan out new events and deliver due webhooks, round after round, until Ctrl-C.

    Any number of workers may run against one database; set XINYONG_EVENTS_WORKER=off on
    the API servers when workers run on their own.
    """
    from xinyong.cli.main import console
    from xinyong.events.service import make_client
    from xinyong.events.tasks import describe, run_cycle

    p = platform()
    pause = interval if interval is not None else p.settings.events_interval_seconds
    with make_client() as client:
        try:
            while True:
                result = run_cycle(p.factory, p.keys, client=client)
                if once or not result.idle:
                    console.print(describe(result), highlight=False)
                if once:
                    return
                time.sleep(pause)
        except KeyboardInterrupt:
            console.print("stopped")
