"""The platform's daily jobs, run by whichever worker runs the schedule.

The API app's embedded worker (``XINYONG_EVENTS_WORKER=embedded``) and the production
worker (``xinyong events run``) both run them once a day, each in its own transaction:
list entries end at their term and escalate, dispute and repair deadlines move cases on.
Every job is idempotent, and checks and reports evaluate terms at read time as well.
Every round, the ledger signs a checkpoint if the log has grown since the last one.
"""

from __future__ import annotations

from functools import partial

from xinyong.config import Settings
from xinyong.events.tasks import DailyJob, RoundJob
from xinyong.identity.crypto import KeyRing
from xinyong.ledger.service import periodic_checkpoint
from xinyong.lists.service import run_maintenance
from xinyong.rights.disputes import run_dispute_deadlines
from xinyong.rights.repair import run_repair_deadlines


def daily_jobs(keys: KeyRing) -> list[DailyJob]:
    return [run_maintenance, partial(run_dispute_deadlines, keys=keys), run_repair_deadlines]


def round_jobs(settings: Settings) -> list[RoundJob]:
    """Every round: sign a ledger checkpoint when the log grew (at most one a period)."""
    return [partial(periodic_checkpoint, min_age_seconds=settings.ledger_checkpoint_seconds)]
