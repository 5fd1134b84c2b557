"""Helpers of the model registry tests: small fitted models, artifacts, reports, principals.

Models are fitted once per process on a few hundred synthetic rows (a fraction of a second
each); each seed gives a different artifact, so the tests can register as many as they need.
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from scoring.conftest import synthetic_credit
from support import new_resident_id, new_uscc
from xinyong.identity.crypto import KeyRing
from xinyong.identity.service import resolve_subjects, subject_ref
from xinyong.institutions.schemas import Principal, Role
from xinyong.scoring import BoostedModel, WoeScorecard
from xinyong.scoring.models import ScoringModel
from xinyong.scoring.registry import approve, attach_validation, promote, register_model, retire

OPERATOR = Principal(
    api_key_id=None, role=Role.OPERATOR, institution_id=None, institution_code=None, label="alice"
)
AUDITOR = Principal(
    api_key_id=None, role=Role.AUDITOR, institution_id=None, institution_code=None, label="bob"
)


@cache
def card(seed: int = 1) -> WoeScorecard:
    X, y = synthetic_credit(rows=400, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optbinning's pandas deprecation warnings
        return WoeScorecard().fit(X, y)


@cache
def booster(seed: int = 1) -> BoostedModel:
    X, y = synthetic_credit(rows=400, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BoostedModel(n_estimators=20).fit(X, y)


def artifact_file(tmp_dir: Path, seed: int = 1, kind: str = "card") -> Path:
    """The artifact as `save()` writes it, in ``tmp_dir``."""
    path = tmp_dir / f"{kind}-{seed}.json"
    model = card(seed) if kind == "card" else booster(seed)
    model.save(path)
    return path


@cache
def _artifact_text(seed: int, kind: str) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        return artifact_file(Path(directory), seed, kind).read_text(encoding="utf-8")


def artifact(seed: int = 1, kind: str = "card") -> dict[str, Any]:
    """A fresh copy of the artifact document of the model of ``seed``."""
    document: dict[str, Any] = json.loads(_artifact_text(seed, kind))
    return document


@cache
def _validation_text(seed: int) -> str:
    from xinyong.scoring.validation import validate_model

    X, y = synthetic_credit(rows=300, seed=1000 + seed)
    X_reference, _ = synthetic_credit(rows=400, seed=seed)
    report = validate_model(card(seed), X, y, X_reference=X_reference)
    return report.to_json()


def validation(seed: int = 1) -> dict[str, Any]:
    """A validation report (its JSON document) of the scorecard of ``seed``."""
    document: dict[str, Any] = json.loads(_validation_text(seed))
    return document


def register(
    session: Session, seed: int, *, name: str = "person-scorecard", segment: str = "person"
) -> ScoringModel:
    return register_model(
        session,
        name=name,
        segment=segment,
        artifact=artifact(seed),
        created_by=OPERATOR.label,
        principal=OPERATOR,
    )


def model_in(
    session: Session,
    status: str,
    seed: int,
    *,
    name: str = "person-scorecard",
    segment: str = "person",
) -> ScoringModel:
    """A registered model driven through the lifecycle up to ``status``."""
    model = register(session, seed, name=name, segment=segment)
    if status == "draft":
        return model
    if status == "retired":
        return retire(session, model.id, OPERATOR, "withdrawn before use")
    attach_validation(session, model.id, validation(seed), OPERATOR)
    if status == "validated":
        return model
    approve(session, model.id, OPERATOR, "figures reviewed")
    if status == "approved":
        return model
    promote(session, model.id, OPERATOR, "better than the incumbent")
    assert status == "champion", status
    return model


def person(session: Session, keys: KeyRing) -> int:
    ref = subject_ref(keys, "resident_id", new_resident_id(), name="王小明")
    subject_id, _ = resolve_subjects(session, keys, [ref])[ref.index]
    return subject_id


def enterprise(session: Session, keys: KeyRing) -> int:
    ref = subject_ref(keys, "uscc", new_uscc(), name="某某有限公司")
    subject_id, _ = resolve_subjects(session, keys, [ref])[ref.index]
    return subject_id
