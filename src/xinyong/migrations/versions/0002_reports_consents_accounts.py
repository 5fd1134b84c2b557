"""Reports: consents, query records, issued reports; subject accounts; audit entries; statements.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subject_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("enrolment_code_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("enrolment_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_subject_accounts_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_accounts")),
        sa.UniqueConstraint("subject_id", name=op.f("uq_subject_accounts_subject_id")),
    )
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_audit_entries_api_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entries_action"), ["action"], unique=False)
        batch_op.create_index("ix_audit_entries_target", ["target_type", "target_id"], unique=False)

    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence_kind", sa.String(length=32), nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=False),
        sa.Column("evidence_note_ct", sa.LargeBinary(), nullable=True),
        sa.Column("recorded_by", sa.String(length=16), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("subject_account_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=16), nullable=True),
        sa.Column("revocation_reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_consents_api_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_consents_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_account_id"],
            ["subject_accounts.id"],
            name=op.f("fk_consents_subject_account_id_subject_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_consents_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consents_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            "ix_consents_subject_institution", ["subject_id", "institution_id"], unique=False
        )

    op.create_table(
        "subject_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["subject_accounts.id"],
            name=op.f("fk_subject_sessions_account_id_subject_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_sessions")),
        sa.UniqueConstraint("token_id", name=op.f("uq_subject_sessions_token_id")),
    )
    with op.batch_alter_table("subject_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subject_sessions_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "subject_statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("text_ct", sa.LargeBinary(), nullable=False),
        sa.Column("made_by", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["credit_records.id"],
            name=op.f("fk_subject_statements_record_id_credit_records"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_subject_statements_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_statements")),
    )
    with op.batch_alter_table("subject_statements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subject_statements_record_id"), ["record_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_subject_statements_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "query_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("product", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("subject_account_id", sa.Integer(), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("operator_user", sa.String(length=100), nullable=True),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("consent_id", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("refusal_code", sa.String(length=64), nullable=True),
        sa.Column("report_id", sa.String(length=40), nullable=True),
        sa.Column("chargeable", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_query_records_api_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"], ["consents.id"], name=op.f("fk_query_records_consent_id_consents")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_query_records_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_account_id"],
            ["subject_accounts.id"],
            name=op.f("fk_query_records_subject_account_id_subject_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_query_records_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_query_records")),
    )
    with op.batch_alter_table("query_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_query_records_institution", ["institution_id", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_query_records_subject", ["subject_id", "occurred_at"], unique=False
        )

    op.create_table(
        "issued_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.String(length=40), nullable=False),
        sa.Column("query_record_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("subject_kind", sa.String(length=24), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("profile", sa.String(length=16), nullable=False),
        sa.Column("profile_version", sa.String(length=32), nullable=False),
        sa.Column("schema_version", sa.String(length=16), nullable=False),
        sa.Column("coverage", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["query_record_id"],
            ["query_records.id"],
            name=op.f("fk_issued_reports_query_record_id_query_records"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_issued_reports_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_reports")),
        sa.UniqueConstraint("report_id", name=op.f("uq_issued_reports_report_id")),
    )
    with op.batch_alter_table("issued_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_issued_reports_subject_id"), ["subject_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("issued_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issued_reports_subject_id"))

    op.drop_table("issued_reports")
    with op.batch_alter_table("query_records", schema=None) as batch_op:
        batch_op.drop_index("ix_query_records_subject")
        batch_op.drop_index("ix_query_records_institution")

    op.drop_table("query_records")
    with op.batch_alter_table("subject_statements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_statements_subject_id"))
        batch_op.drop_index(batch_op.f("ix_subject_statements_record_id"))

    op.drop_table("subject_statements")
    with op.batch_alter_table("subject_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_sessions_account_id"))

    op.drop_table("subject_sessions")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index("ix_consents_subject_institution")
        batch_op.drop_index(batch_op.f("ix_consents_institution_id"))

    op.drop_table("consents")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entries_target")
        batch_op.drop_index(batch_op.f("ix_audit_entries_action"))

    op.drop_table("audit_entries")
    op.drop_table("subject_accounts")
