"""Credit repair evidence files: uploaded, checked and encrypted like dispute evidence.

Open applications filed before this revision had their ``obligations_performed`` condition
met by text references; only files meet it now, so their kept check is marked missing (the
check before approval would find it missing anyway).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = ("submitted", "acknowledged", "appealed")
NO_FILES = "evidence references given, but no evidence file: upload the files"


def upgrade() -> None:
    op.create_table(
        "repair_evidence",
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
            ["repair_cases.id"],
            name=op.f("fk_repair_evidence_case_id_repair_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_evidence")),
    )
    with op.batch_alter_table("repair_evidence", schema=None) as batch_op:
        batch_op.create_index("ix_repair_evidence_case", ["case_id"], unique=False)

    cases = sa.table(
        "repair_cases",
        sa.column("id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("conditions", sa.JSON()),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(cases.c.id, cases.c.conditions).where(cases.c.status.in_(OPEN))
    ).all()
    for case_id, conditions in rows:
        changed: list[dict[str, Any]] = []
        for condition in conditions or []:
            if condition.get("code") == "obligations_performed" and condition.get("met"):
                condition = {**condition, "met": False, "detail": NO_FILES, "ids": []}
            changed.append(condition)
        if changed != (conditions or []):
            connection.execute(
                cases.update().where(cases.c.id == case_id).values(conditions=changed)
            )


def downgrade() -> None:
    op.drop_table("repair_evidence")
