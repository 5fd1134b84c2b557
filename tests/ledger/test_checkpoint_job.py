"""The worker's periodic checkpoint: signed when the log has grown, at most once a period."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from reports.helpers import Furnish
from support import MakeInstitution, account_row, new_resident_id
from xinyong.config import Settings
from xinyong.db import transaction
from xinyong.events.tasks import Worker
from xinyong.identity.crypto import KeyRing
from xinyong.jobs import round_jobs
from xinyong.ledger.models import LedgerCheckpoint
from xinyong.ledger.service import tree_size


def _checkpoints(factory: sessionmaker[Session]) -> list[int]:
    with factory() as session:
        return list(session.scalars(select(LedgerCheckpoint.size).order_by(LedgerCheckpoint.size)))


def test_round_job_signs_a_checkpoint_only_when_the_log_grew(
    factory: sessionmaker[Session],
    keys: KeyRing,
    settings: Settings,
    make_institution: MakeInstitution,
    tmp_path: Path,
) -> None:
    bank = make_institution("bank-j", record_types=["credit_account"])
    furnish = Furnish(tmp_path, factory, keys, bank)
    worker = Worker(
        factory,
        keys,
        round_jobs=round_jobs(settings.model_copy(update={"ledger_checkpoint_seconds": 0.0001})),
    )
    worker.run_round_jobs()
    assert _checkpoints(factory) == [0]
    worker.run_round_jobs()  # nothing new: no new checkpoint
    assert _checkpoints(factory) == [0]
    furnish(account_row(new_resident_id(), "K-1"))
    worker.run_round_jobs()
    with factory() as session:
        size = tree_size(session)
    assert size >= 1
    assert _checkpoints(factory) == [0, size]

    # With the default period, a grown log waits for the period to pass.
    patient = Worker(factory, keys, round_jobs=round_jobs(settings))
    furnish(account_row(new_resident_id(), "K-2"))
    patient.run_round_jobs()
    assert _checkpoints(factory) == [0, size]
    with transaction(factory) as session:
        assert session.scalar(select(func.count()).select_from(LedgerCheckpoint)) == 2
