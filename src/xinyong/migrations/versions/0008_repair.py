"""Credit repair: repair cases for list entries and published penalties, and their timeline.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "repair_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("list_entry_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("filed_by", sa.String(length=16), nullable=False),
        sa.Column("commitment_ct", sa.LargeBinary(), nullable=False),
        sa.Column("evidence_ct", sa.LargeBinary(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("profile", sa.String(length=8), nullable=False),
        sa.Column("profile_version", sa.String(length=32), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("acknowledge_by", sa.Date(), nullable=False),
        sa.Column("acknowledged_on", sa.Date(), nullable=True),
        sa.Column("decide_by", sa.Date(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.Column("appeals_used", sa.Integer(), nullable=False),
        sa.Column("acknowledgement_overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("repaired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["list_entry_id"],
            ["list_entries.id"],
            name=op.f("fk_repair_cases_list_entry_id_list_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["credit_records.id"],
            name=op.f("fk_repair_cases_record_id_credit_records"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_repair_cases_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_cases")),
    )
    with op.batch_alter_table("repair_cases", schema=None) as batch_op:
        batch_op.create_index("ix_repair_cases_record", ["record_id", "status"], unique=False)
        batch_op.create_index("ix_repair_cases_status", ["status"], unique=False)
        batch_op.create_index("ix_repair_cases_subject", ["subject_id", "id"], unique=False)

    op.create_table(
        "repair_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("case_version", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["repair_cases.id"], name=op.f("fk_repair_events_case_id_repair_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_events")),
    )
    with op.batch_alter_table("repair_events", schema=None) as batch_op:
        batch_op.create_index("ix_repair_events_case", ["case_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_table("repair_events")
    op.drop_table("repair_cases")
