"""The model registry and each subject's score history.

A registered model (:class:`ScoringModel`) moves through draft → validated → approved →
champion → retired; every move is a :class:`ModelEvent`. At most one model per segment is
champion, which a partial unique index enforces on both backends. Every score the platform
computes is a :class:`SubjectScore`, naming the model that made it; the score itself is
personal data and is stored only encrypted. Events and scores are append-only.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import AppendOnly, Base, utcnow

_CHAMPION = text("status = 'champion'")

# Subject kinds (xinyong.identity.identifiers.SubjectKind) → the segment whose models score them.
_SEGMENTS = {
    "person": "person",
    "enterprise": "enterprise",
    "other_organisation": "enterprise",
}


def segment_of(subject_kind: str) -> str:
    """The model segment that scores subjects of ``subject_kind``.

    Persons have models of their own; enterprise models also score other organisations.
    """
    try:
        return _SEGMENTS[subject_kind]
    except KeyError:
        raise ValueError(f"no model segment scores subjects of kind {subject_kind!r}") from None


class ScoringModel(Base):
    """One registered version of a model: its artifact, where it came from, its status."""

    __tablename__ = "scoring_models"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        # At most one champion per segment. The registry retires the old champion first.
        Index(
            "uq_scoring_models_champion_segment",
            "segment",
            unique=True,
            sqlite_where=_CHAMPION,
            postgresql_where=_CHAMPION,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # 1, 2, … per name.
    version: Mapped[int]
    # woe_scorecard | lightgbm (the artifact's kind)
    kind: Mapped[str] = mapped_column(String(32))
    # person | enterprise
    segment: Mapped[str] = mapped_column(String(16))
    # draft | validated | approved | champion | retired
    status: Mapped[str] = mapped_column(String(16), index=True)
    # The artifact JSON document, as `save()` writes it; no training data is in it.
    artifact: Mapped[str] = mapped_column(Text)
    # "sha256:" of the artifact text's UTF-8 bytes.
    artifact_digest: Mapped[str] = mapped_column(String(71))
    # "sha256:" of the training frame, from the artifact.
    training_digest: Mapped[str] = mapped_column(String(71))
    # Name/version of the feature definitions the model was trained on, if known.
    feature_set: Mapped[str | None] = mapped_column(String(100), default=None)
    # The validation report's to_dict(), once attached.
    validation: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class ModelEvent(AppendOnly, Base):
    """One move of a model through its lifecycle: who, from what to what, when and why."""

    __tablename__ = "model_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("scoring_models.id"), index=True)
    # None for the registration itself.
    from_status: Mapped[str | None] = mapped_column(String(16), default=None)
    to_status: Mapped[str] = mapped_column(String(16))
    # "cli" for the local operator, else the key's label.
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(1000), default=None)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


class SubjectScore(AppendOnly, Base):
    """One score computed for a subject (or its refusal as unscorable), by one model.

    ``content_ct`` is the AES-GCM ciphertext of the score, its reasons or the unscorable
    reason, as JSON: a score is personal data and is never stored in clear.
    """

    __tablename__ = "subject_scores"
    __table_args__ = (Index("ix_subject_scores_subject", "subject_id", "computed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    model_id: Mapped[int] = mapped_column(ForeignKey("scoring_models.id"), index=True)
    as_of: Mapped[date]
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # query | report | batch | rescore
    trigger: Mapped[str] = mapped_column(String(16))
    # scored | unscorable
    outcome: Mapped[str] = mapped_column(String(16))
    content_ct: Mapped[bytes] = mapped_column(LargeBinary)
