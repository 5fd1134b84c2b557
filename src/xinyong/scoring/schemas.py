"""Pydantic I/O models of the model registry and of score history."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from xinyong.reports.schemas import SubjectSelector

MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
MAX_MODEL_NAME = 100
MAX_FEATURE_SET = 100
MAX_REASON = 1000  # audit_entries.reason, model_events.reason


class ModelStatus(StrEnum):
    """Where a registered model is in its lifecycle (docs/scoring.md, "Model registry")."""

    DRAFT = "draft"
    VALIDATED = "validated"
    APPROVED = "approved"
    CHAMPION = "champion"
    RETIRED = "retired"


class ModelSegment(StrEnum):
    """Whom a model scores: persons, or enterprises and other organisations."""

    PERSON = "person"
    ENTERPRISE = "enterprise"


class ModelKind(StrEnum):
    """The artifact kinds the registry accepts (``WoeScorecard.KIND``, ``BoostedModel.KIND``)."""

    WOE_SCORECARD = "woe_scorecard"
    LIGHTGBM = "lightgbm"


class ScoreTrigger(StrEnum):
    """What made the platform compute a score."""

    QUERY = "query"
    REPORT = "report"
    BATCH = "batch"
    RESCORE = "rescore"


class ScoreOutcome(StrEnum):
    SCORED = "scored"
    UNSCORABLE = "unscorable"


def _reason(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("a reason is required: say why")
    return value


# --- requests -----------------------------------------------------------------------------------


class ModelRegistration(BaseModel):
    """Register a fitted model's artifact (as ``model.save()`` writes it) as a new draft."""

    name: str = Field(
        min_length=1,
        max_length=MAX_MODEL_NAME,
        pattern=MODEL_NAME_PATTERN,
        description="The model's name, e.g. person-scorecard; versions count up per name.",
    )
    segment: ModelSegment
    artifact: dict[str, Any] = Field(description="The model artifact JSON document.")
    feature_set: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_FEATURE_SET,
        description="Name and version of the feature definitions the model was trained on.",
    )
    validation: dict[str, Any] | None = Field(
        default=None,
        description="A validation report (JSON); the model is then registered as validated.",
    )


class TransitionRequest(BaseModel):
    reason: str = Field(
        min_length=1, max_length=MAX_REASON, description="Why; kept in the model's history."
    )

    _strip_reason = field_validator("reason")(_reason)


# --- views --------------------------------------------------------------------------------------


class ModelEventView(BaseModel):
    id: int
    model_id: int
    from_status: ModelStatus | None
    to_status: ModelStatus
    actor: str
    role: str
    reason: str | None
    occurred_at: datetime


class ScoringModelView(BaseModel):
    id: int
    name: str
    version: int
    kind: ModelKind
    segment: ModelSegment
    status: ModelStatus
    artifact_digest: str = Field(description="sha256: of the artifact as `save()` writes it.")
    training_digest: str
    feature_set: str | None
    validation: dict[str, Any] | None
    created_at: datetime
    created_by: str


class ScoringModelDetail(ScoringModelView):
    events: list[ModelEventView]
    artifact: dict[str, Any] | None = Field(
        default=None, description="The artifact itself, when asked for with `?artifact=true`."
    )


class ReasonView(BaseModel):
    code: str
    characteristic: str
    points_lost: float
    text_zh: str
    text_en: str


class UnscorableView(BaseModel):
    code: str
    text_zh: str
    text_en: str
    characteristics_present: int


class ScoreView(BaseModel):
    """One score (or refusal to score) from a subject's score history."""

    id: int
    subject_id: int
    model_id: int
    model_name: str
    model_version: int
    as_of: date
    computed_at: datetime
    trigger: ScoreTrigger
    outcome: ScoreOutcome
    score: float | None
    points: dict[str, float] | None = Field(
        default=None, description="Points per characteristic (scorecards); they sum to the score."
    )
    reasons: list[ReasonView]
    unscorable: UnscorableView | None


class ScoreRequest(BaseModel):
    """A score query: the subject, the purpose and, where needed, the consent or reference."""

    model_config = ConfigDict(extra="forbid")

    subject: SubjectSelector
    purpose: str = Field(min_length=1, max_length=64)
    as_of: date | None = Field(default=None, description="Score as of this date (default today).")
    consent_id: int | None = None
    reference: str | None = Field(default=None, max_length=200)
    operator_user: str | None = Field(default=None, max_length=100)


class ServedScoreView(BaseModel):
    """A score given out: the score with its key factors, and the query record it made."""

    query_record_id: int
    purpose: str
    consent_id: int | None
    score: ScoreView
