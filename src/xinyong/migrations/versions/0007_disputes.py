"""Disputes: cases, their items (verification tasks), evidence and timeline; the holiday
calendar working-day deadlines are counted in.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "holiday_calendars",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=8), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("loaded_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holiday_calendars")),
        sa.UniqueConstraint(
            "jurisdiction", "year", name=op.f("uq_holiday_calendars_jurisdiction_year")
        ),
    )
    op.create_table(
        "holiday_calendar_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["holiday_calendars.id"],
            name=op.f("fk_holiday_calendar_days_calendar_id_holiday_calendars"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holiday_calendar_days")),
        sa.UniqueConstraint(
            "jurisdiction", "day", name=op.f("uq_holiday_calendar_days_jurisdiction_day")
        ),
    )
    with op.batch_alter_table("holiday_calendar_days", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_holiday_calendar_days_calendar_id"), ["calendar_id"], unique=False
        )

    op.create_table(
        "dispute_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("filed_by", sa.String(length=16), nullable=False),
        sa.Column("filed_by_institution_id", sa.Integer(), nullable=True),
        sa.Column("filed_by_label", sa.String(length=200), nullable=False),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("text_ct", sa.LargeBinary(), nullable=False),
        sa.Column("profile", sa.String(length=8), nullable=False),
        sa.Column("profile_version", sa.String(length=32), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("notify_by", sa.Date(), nullable=False),
        sa.Column("original_due_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("extended_on", sa.Date(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("resolved_on_time", sa.Boolean(), nullable=True),
        sa.Column("written_outcome_ct", sa.LargeBinary(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["filed_by_institution_id"],
            ["institutions.id"],
            name=op.f("fk_dispute_cases_filed_by_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_dispute_cases_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_cases")),
    )
    with op.batch_alter_table("dispute_cases", schema=None) as batch_op:
        batch_op.create_index("ix_dispute_cases_status_due", ["status", "due_on"], unique=False)
        batch_op.create_index("ix_dispute_cases_subject", ["subject_id", "id"], unique=False)

    op.create_table(
        "dispute_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("filename_ct", sa.LargeBinary(), nullable=True),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_ct", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=16), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["dispute_cases.id"],
            name=op.f("fk_dispute_evidence_case_id_dispute_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_evidence")),
    )
    with op.batch_alter_table("dispute_evidence", schema=None) as batch_op:
        batch_op.create_index("ix_dispute_evidence_case", ["case_id"], unique=False)

    op.create_table(
        "dispute_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("open_record_id", sa.Integer(), nullable=True),
        sa.Column("furnisher_id", sa.Integer(), nullable=False),
        sa.Column("disputed_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notification_overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=16), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resulting_version", sa.Integer(), nullable=True),
        sa.Column("answer_note_ct", sa.LargeBinary(), nullable=True),
        sa.Column("written_outcome_ct", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["dispute_cases.id"], name=op.f("fk_dispute_items_case_id_dispute_cases")
        ),
        sa.ForeignKeyConstraint(
            ["furnisher_id"],
            ["institutions.id"],
            name=op.f("fk_dispute_items_furnisher_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["open_record_id"],
            ["credit_records.id"],
            name=op.f("fk_dispute_items_open_record_id_credit_records"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["credit_records.id"],
            name=op.f("fk_dispute_items_record_id_credit_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_items")),
        sa.UniqueConstraint("open_record_id", name=op.f("uq_dispute_items_open_record_id")),
    )
    with op.batch_alter_table("dispute_items", schema=None) as batch_op:
        batch_op.create_index("ix_dispute_items_case", ["case_id"], unique=False)
        batch_op.create_index(
            "ix_dispute_items_furnisher_status", ["furnisher_id", "status"], unique=False
        )
        batch_op.create_index("ix_dispute_items_record", ["record_id"], unique=False)

    op.create_table(
        "dispute_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("case_version", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("note_ct", sa.LargeBinary(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["dispute_cases.id"], name=op.f("fk_dispute_events_case_id_dispute_cases")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_dispute_events_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["dispute_items.id"], name=op.f("fk_dispute_events_item_id_dispute_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_events")),
    )
    with op.batch_alter_table("dispute_events", schema=None) as batch_op:
        batch_op.create_index("ix_dispute_events_case", ["case_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_table("dispute_events")
    op.drop_table("dispute_items")
    op.drop_table("dispute_evidence")
    op.drop_table("dispute_cases")
    op.drop_table("holiday_calendar_days")
    op.drop_table("holiday_calendars")
