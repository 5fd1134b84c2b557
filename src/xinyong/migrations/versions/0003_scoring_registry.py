"""Scoring: the model registry, model events and subjects' score history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHAMPION = "status = 'champion'"


def upgrade() -> None:
    op.create_table(
        "scoring_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("segment", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("artifact", sa.Text(), nullable=False),
        sa.Column("artifact_digest", sa.String(length=71), nullable=False),
        sa.Column("training_digest", sa.String(length=71), nullable=False),
        sa.Column("feature_set", sa.String(length=100), nullable=True),
        sa.Column("validation", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scoring_models")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_scoring_models_name_version")),
    )
    with op.batch_alter_table("scoring_models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scoring_models_status"), ["status"], unique=False)
        # At most one champion per segment: a partial unique index on both backends.
        batch_op.create_index(
            "uq_scoring_models_champion_segment",
            ["segment"],
            unique=True,
            sqlite_where=sa.text(_CHAMPION),
            postgresql_where=sa.text(_CHAMPION),
        )

    op.create_table(
        "model_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["scoring_models.id"],
            name=op.f("fk_model_events_model_id_scoring_models"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_events")),
    )
    with op.batch_alter_table("model_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_events_model_id"), ["model_id"], unique=False)

    op.create_table(
        "subject_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("content_ct", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["scoring_models.id"],
            name=op.f("fk_subject_scores_model_id_scoring_models"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_subject_scores_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_scores")),
    )
    with op.batch_alter_table("subject_scores", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subject_scores_model_id"), ["model_id"], unique=False)
        batch_op.create_index(
            "ix_subject_scores_subject", ["subject_id", "computed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("subject_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_subject_scores_subject")
        batch_op.drop_index(batch_op.f("ix_subject_scores_model_id"))

    op.drop_table("subject_scores")
    with op.batch_alter_table("model_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_events_model_id"))

    op.drop_table("model_events")
    with op.batch_alter_table("scoring_models", schema=None) as batch_op:
        batch_op.drop_index("uq_scoring_models_champion_segment")
        batch_op.drop_index(batch_op.f("ix_scoring_models_status"))

    op.drop_table("scoring_models")
