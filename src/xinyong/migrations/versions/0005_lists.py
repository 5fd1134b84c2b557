"""Lists: entries with their current state, their history, and the persons they bind.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "list_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_type", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ground", sa.String(length=64), nullable=False),
        sa.Column("authority", sa.String(length=200), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("escalated_from_id", sa.Integer(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("planned_end_date", sa.Date(), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("end_reason", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["escalated_from_id"],
            ["list_entries.id"],
            name=op.f("fk_list_entries_escalated_from_id_list_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["credit_records.id"],
            name=op.f("fk_list_entries_record_id_credit_records"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_list_entries_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_entries")),
        sa.UniqueConstraint(
            "list_type", "record_id", name=op.f("uq_list_entries_list_type_record_id")
        ),
    )
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.create_index("ix_list_entries_subject", ["subject_id", "status"], unique=False)
        batch_op.create_index(
            "ix_list_entries_status_end", ["status", "planned_end_date"], unique=False
        )

    op.create_table(
        "list_entry_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["list_entries.id"],
            name=op.f("fk_list_entry_events_entry_id_list_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_entry_events")),
    )
    with op.batch_alter_table("list_entry_events", schema=None) as batch_op:
        batch_op.create_index("ix_list_entry_events_entry", ["entry_id", "id"], unique=False)

    op.create_table(
        "list_entry_bindings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["list_entries.id"],
            name=op.f("fk_list_entry_bindings_entry_id_list_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_list_entry_bindings_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_entry_bindings")),
        sa.UniqueConstraint(
            "entry_id",
            "subject_id",
            "role",
            name=op.f("uq_list_entry_bindings_entry_id_subject_id_role"),
        ),
    )
    with op.batch_alter_table("list_entry_bindings", schema=None) as batch_op:
        batch_op.create_index("ix_list_entry_bindings_subject", ["subject_id"], unique=False)


def downgrade() -> None:
    op.drop_table("list_entry_bindings")
    op.drop_table("list_entry_events")
    op.drop_table("list_entries")
