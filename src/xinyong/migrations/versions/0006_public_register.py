"""Public register: organisations' names in clear for the public search by name.

Only organisations' names are copied here, never persons' or individual businesses'
(docs/lists.md, "Public disclosure"). Names are encrypted in ``subjects``, so a migration
cannot copy them: after upgrading a database that already holds organisations, run
``xinyong lists index-names`` once (idempotent); new subjects are indexed as they are created.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organisation_names",
        sa.Column("subject_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("name_key", sa.Text(), nullable=True),
        sa.Column("name_en_key", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_organisation_names_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_organisation_names")),
    )


def downgrade() -> None:
    op.drop_table("organisation_names")
