"""Initial schema: subjects, institutions, API keys, records, versions, batches, access log.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "institutions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("uscc_ct", sa.LargeBinary(), nullable=False),
        sa.Column("uscc_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("is_furnisher", sa.Boolean(), nullable=False),
        sa.Column("is_querier", sa.Boolean(), nullable=False),
        sa.Column("permitted_record_types", sa.JSON(), nullable=False),
        sa.Column("permitted_purposes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_institutions")),
        sa.UniqueConstraint("code", name=op.f("uq_institutions_code")),
        sa.UniqueConstraint("uscc_index", name=op.f("uq_institutions_uscc_index")),
    )
    op.create_table(
        "subjects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("id_type", sa.String(length=24), nullable=False),
        sa.Column("identifier_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("identifier_ct", sa.LargeBinary(), nullable=False),
        sa.Column("name_ct", sa.LargeBinary(), nullable=True),
        sa.Column("name_en_ct", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subjects")),
        sa.UniqueConstraint("identifier_index", name=op.f("uq_subjects_identifier_index")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_api_keys_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_keys_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "credit_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("furnisher_id", sa.Integer(), nullable=False),
        sa.Column("record_type", sa.String(length=64), nullable=False),
        sa.Column("key_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("record_key_ct", sa.LargeBinary(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["furnisher_id"],
            ["institutions.id"],
            name=op.f("fk_credit_records_furnisher_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_credit_records_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_records")),
        sa.UniqueConstraint(
            "furnisher_id", "key_index", name=op.f("uq_credit_records_furnisher_id_key_index")
        ),
    )
    with op.batch_alter_table("credit_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_records_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "ingestion_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("furnisher_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("file_format", sa.String(length=8), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=True),
        sa.Column("default_record_type", sa.String(length=64), nullable=True),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("next_row", sa.Integer(), nullable=False),
        sa.Column("rows_created", sa.Integer(), nullable=False),
        sa.Column("rows_corrected", sa.Integer(), nullable=False),
        sa.Column("rows_deleted", sa.Integer(), nullable=False),
        sa.Column("rows_unchanged", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["furnisher_id"],
            ["institutions.id"],
            name=op.f("fk_ingestion_batches_furnisher_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingestion_batches")),
        sa.UniqueConstraint(
            "furnisher_id",
            "idempotency_key",
            name=op.f("uq_ingestion_batches_furnisher_id_idempotency_key"),
        ),
    )
    op.create_table(
        "access_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_access_events_api_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_access_events_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["credit_records.id"],
            name=op.f("fk_access_events_record_id_credit_records"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_access_events_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_events")),
    )
    with op.batch_alter_table("access_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_access_events_subject", ["subject_id", "occurred_at"], unique=False
        )

    op.create_table(
        "batch_rejections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=100), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingestion_batches.id"],
            name=op.f("fk_batch_rejections_batch_id_ingestion_batches"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_rejections")),
    )
    with op.batch_alter_table("batch_rejections", schema=None) as batch_op:
        batch_op.create_index(
            "ix_batch_rejections_batch_row", ["batch_id", "row_number"], unique=False
        )

    op.create_table(
        "batch_unchanged_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingestion_batches.id"],
            name=op.f("fk_batch_unchanged_rows_batch_id_ingestion_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["credit_records.id"],
            name=op.f("fk_batch_unchanged_rows_record_id_credit_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_unchanged_rows")),
    )
    with op.batch_alter_table("batch_unchanged_rows", schema=None) as batch_op:
        batch_op.create_index(
            "ix_batch_unchanged_rows_batch_row", ["batch_id", "row_number"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_batch_unchanged_rows_record_id"), ["record_id"], unique=False
        )

    op.create_table(
        "record_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("content_ct", sa.LargeBinary(), nullable=True),
        sa.Column("content_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("catalog_version", sa.String(length=32), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("furnisher_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("batch_row", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason_ct", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingestion_batches.id"],
            name=op.f("fk_record_versions_batch_id_ingestion_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["furnisher_id"],
            ["institutions.id"],
            name=op.f("fk_record_versions_furnisher_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["credit_records.id"],
            name=op.f("fk_record_versions_record_id_credit_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_versions")),
        sa.UniqueConstraint(
            "record_id", "version", name=op.f("uq_record_versions_record_id_version")
        ),
    )
    with op.batch_alter_table("record_versions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_record_versions_batch_row", ["batch_id", "batch_row"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("record_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_record_versions_batch_row")

    op.drop_table("record_versions")
    with op.batch_alter_table("batch_unchanged_rows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batch_unchanged_rows_record_id"))
        batch_op.drop_index("ix_batch_unchanged_rows_batch_row")

    op.drop_table("batch_unchanged_rows")
    with op.batch_alter_table("batch_rejections", schema=None) as batch_op:
        batch_op.drop_index("ix_batch_rejections_batch_row")

    op.drop_table("batch_rejections")
    with op.batch_alter_table("access_events", schema=None) as batch_op:
        batch_op.drop_index("ix_access_events_subject")

    op.drop_table("access_events")
    op.drop_table("ingestion_batches")
    with op.batch_alter_table("credit_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_records_subject_id"))

    op.drop_table("credit_records")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_institution_id"))

    op.drop_table("api_keys")
    op.drop_table("subjects")
    op.drop_table("institutions")
