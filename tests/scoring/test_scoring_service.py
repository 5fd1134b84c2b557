"""Scoring subjects: online and batch parity, history, minimum criteria, reports."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from scoring_platform import PROFILE, ScoringPlatform, scoring_platform
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from xinyong.db import transaction
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.institutions.schemas import LOCAL_OPERATOR
from xinyong.scoring.features import segment_of_kind, subject_features
from xinyong.scoring.models import SubjectScore
from xinyong.scoring.registry import retire, score_history
from xinyong.scoring.service import (
    MINIMUM_CRITERIA,
    NoChampionError,
    compute_score,
    evaluate,
    score_all,
)


@pytest.fixture
def platform_with_champions(
    factory: sessionmaker[Session], keys: KeyRing, tmp_path: Path
) -> ScoringPlatform:
    return scoring_platform(factory, keys, tmp_path)


def _codes(row: dict[str, object]) -> list[str]:
    return [str(row[f"reason_{n}"]) for n in range(1, 6) if row[f"reason_{n}"] is not None]


@pytest.mark.slow
def test_batch_and_online_scores_agree_for_every_subject(
    factory: sessionmaker[Session],
    keys: KeyRing,
    tmp_path: Path,
    platform_with_champions: ScoringPlatform,
) -> None:
    as_of = PROFILE.today()
    out = tmp_path / "scores.parquet"
    summary = score_all(factory, keys, PROFILE, as_of, out, chunk_rows=100)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    rows = pq.read_table(out).to_pylist()
    with factory() as session:
        subjects = {s.id: s for s in session.scalars(select(Subject))}
        assert len(rows) == len(subjects) == summary.subjects
        scored = [row for row in rows if row["outcome"] == "scored"]
        # Both outcomes occur, and scores differ: the comparison below means something.
        assert len(scored) > len(rows) / 2
        assert any(row["outcome"] == "unscorable" for row in rows)
        assert len({row["score"] for row in scored}) > 10
        for row in rows:
            online = compute_score(
                session, keys, PROFILE, subjects[row["subject_id"]], as_of, trigger="rescore"
            )
            assert online.model_id == row["model_id"]
            assert online.outcome.value == row["outcome"]
            assert online.score == row["score"], row["subject_id"]
            assert [reason.code for reason in online.reasons] == _codes(row)
            assert (online.unscorable.code if online.unscorable else None) == row["unscorable_code"]
        session.rollback()
    # Without --record, the batch wrote no history.
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(SubjectScore)) == 0


def test_recorded_batch_is_idempotent_on_retry(
    factory: sessionmaker[Session],
    keys: KeyRing,
    tmp_path: Path,
    platform_with_champions: ScoringPlatform,
) -> None:
    as_of = PROFILE.today()
    first = score_all(factory, keys, PROFILE, as_of, tmp_path / "a.parquet", record=True)
    assert first.recorded == first.subjects
    again = score_all(factory, keys, PROFILE, as_of, tmp_path / "b.parquet", record=True)
    assert again.recorded == 0  # nothing recorded twice
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(SubjectScore)) == first.subjects


def test_scores_are_kept_as_history_with_their_model(
    factory: sessionmaker[Session],
    keys: KeyRing,
    tmp_path: Path,
    platform_with_champions: ScoringPlatform,
) -> None:
    as_of = PROFILE.today()
    with transaction(factory) as session:
        subject = session.scalars(
            select(Subject).where(Subject.kind == "person").order_by(Subject.id)
        ).first()
        assert subject is not None
        subject_id = subject.id
        first = compute_score(session, keys, PROFILE, subject, as_of, trigger="rescore")
        second = compute_score(session, keys, PROFILE, subject, as_of, trigger="query")
    with factory() as session:
        history = score_history(session, keys, subject_id)
    assert [entry.id for entry in history] == [second.id, first.id]
    assert history[0].model_name == "person-scorecard"
    assert history[0].model_version == 1
    assert history[0].score == first.score
    # The champion retired: old scores stay explainable, new ones are refused.
    with transaction(factory) as session:
        retire(session, platform_with_champions.person_model_id, LOCAL_OPERATOR, "replaced")
    with factory() as session:
        assert score_history(session, keys, subject_id)[0].model_name == "person-scorecard"
        subject = session.get(Subject, subject_id)
        assert subject is not None
        with pytest.raises(NoChampionError, match="no champion model scores the person"):
            compute_score(session, keys, PROFILE, subject, as_of, trigger="query")


def test_a_subject_with_too_little_history_is_unscorable(
    factory: sessionmaker[Session],
    keys: KeyRing,
    tmp_path: Path,
    platform_with_champions: ScoringPlatform,
) -> None:
    as_of = PROFILE.today()
    with factory() as session:
        persons = session.scalars(select(Subject).where(Subject.kind == "person")).all()
        thin = None
        for subject in persons:
            features = subject_features(session, keys, PROFILE, subject, as_of)
            if features["age_of_oldest_account_months"] is None:
                thin = subject
                break
        assert thin is not None, "the population has persons without accounts"
        view = compute_score(session, keys, PROFILE, thin, as_of, trigger="rescore")
        session.rollback()
    assert view.score is None
    assert view.reasons == []
    assert view.unscorable is not None
    assert view.unscorable.code == "U_REQUIRED_MISSING"
    assert "age_of_oldest_account_months" in view.unscorable.text_en


def test_minimum_history_is_a_threshold_not_just_presence() -> None:
    from scoring.registry_helpers import card

    features = {"age_of_oldest_account_months": 3.0, "credit_utilisation": 0.5}
    result = evaluate(card(), "person", features)
    assert getattr(result, "code", None) == "U_INSUFFICIENT_HISTORY"
    assert "at least 6" in result.text_en  # type: ignore[union-attr]
    assert segment_of_kind("other_organisation") == "enterprise"
    assert MINIMUM_CRITERIA["enterprise"].required == ("years_on_file",)
