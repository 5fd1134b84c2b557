"""The delivery worker: fan out new events, then deliver what is due, again and again.

``xinyong events run`` runs it in its own process (production: one or more, on any host
that reaches the database); the API app runs it in a background thread when
``XINYONG_EVENTS_WORKER=embedded`` (the default, for the embedded mode and the demo).
Several workers may run at once: fan-out and delivery are safe under concurrency.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import httpx2 as httpx
from sqlalchemy.orm import Session, sessionmaker

from xinyong.db import transaction
from xinyong.events.service import DeliveryRun, DispatchResult, deliver_due, dispatch, make_client
from xinyong.identity.crypto import KeyRing

logger = logging.getLogger("xinyong.events")


@dataclass(frozen=True)
class CycleResult:
    """One round of the worker: events fanned out, then deliveries sent."""

    dispatched: DispatchResult
    delivery: DeliveryRun

    @property
    def idle(self) -> bool:
        return self.dispatched.events == 0 and self.delivery.claimed == 0


def run_cycle(
    factory: sessionmaker[Session],
    keys: KeyRing,
    *,
    now: datetime | None = None,
    client: httpx.Client | None = None,
    dispatch_limit: int = 500,
    batch: int = 100,
) -> CycleResult:
    """Fan out every new event (in transactions of ``dispatch_limit``), then deliver one
    batch of what is due."""
    events = deliveries = 0
    while True:
        with transaction(factory) as session:
            result = dispatch(session, limit=dispatch_limit, now=now)
        events += result.events
        deliveries += result.deliveries
        if result.events < dispatch_limit:
            break
    run = deliver_due(factory, keys, now=now, client=client, batch=batch)
    return CycleResult(DispatchResult(events, deliveries), run)


def describe(result: CycleResult) -> str:
    run = result.delivery
    return (
        f"{result.dispatched.events} event(s) fanned out into "
        f"{result.dispatched.deliveries} deliveries; {run.attempted} attempt(s): "
        f"{run.delivered} delivered, {run.retrying} to retry, {run.failed} failed, "
        f"{run.deferred} deferred"
    )


DailyJob = Callable[[Session, date], object]
# A job every round (e.g. a ledger checkpoint when the log has grown); each must be cheap
# when there is nothing to do.
RoundJob = Callable[[Session], object]


class Worker:
    """The dispatch-and-deliver loop in a background thread (the embedded mode).

    ``daily_jobs`` run once a day in their own transaction (on the first round, then when
    the date changes), before the round's fan-out, so the events they emit go out at once:
    e.g. the lists' job that ends entries at their term.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        keys: KeyRing,
        *,
        interval: float = 5.0,
        daily_jobs: Sequence[DailyJob] = (),
        round_jobs: Sequence[RoundJob] = (),
    ) -> None:
        self._factory = factory
        self._keys = keys
        self._interval = interval
        self._daily_jobs = tuple(daily_jobs)
        self._round_jobs = tuple(round_jobs)
        self._last_day: date | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="xinyong-events", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to stop and wait for the round in progress (if any) to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        with make_client() as client:
            # The first round waits one interval: starting the app stays quick.
            while not self._stop.wait(self._interval):
                self.run_daily_jobs()
                self.run_round_jobs()
                try:
                    result = run_cycle(self._factory, self._keys, client=client)
                except Exception:
                    logger.exception("event delivery round failed; retrying next round")
                    continue
                if not result.idle:
                    logger.info("events: %s", describe(result))

    def run_round_jobs(self) -> None:
        """Run the every-round jobs, each in its own transaction; a failure waits a round."""
        for job in self._round_jobs:
            try:
                with transaction(self._factory) as session:
                    job(session)
            except Exception:
                logger.exception("job %s failed; retrying next round", job)

    def run_daily_jobs(self) -> None:
        """Run the daily jobs unless they already ran today (also for workers without a loop)."""
        today = datetime.now().astimezone().date()
        if not self._daily_jobs or self._last_day == today:
            return
        for job in self._daily_jobs:
            try:
                with transaction(self._factory) as session:
                    job(session, today)
            except Exception:
                logger.exception("daily job %s failed; retrying next round", job)
                return
        self._last_day = today
