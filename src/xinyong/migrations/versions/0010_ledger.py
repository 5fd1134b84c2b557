"""Record ledger: Merkle log leaves, stored subtree hashes, signed checkpoints, witnesses.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_head")),
    )
    op.create_table(
        "ledger_leaves",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref_id", sa.BigInteger(), nullable=False),
        sa.Column("commitment", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_ledger_leaves")),
        sa.UniqueConstraint("kind", "ref_id", name=op.f("uq_ledger_leaves_kind_ref_id")),
    )
    op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_ledger_nodes")),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_ledger_checkpoints")),
    )
    op.create_table(
        "ledger_witnesses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("vkey", sa.String(length=400), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_witnesses")),
        sa.UniqueConstraint("name", name=op.f("uq_ledger_witnesses_name")),
    )
    op.create_table(
        "ledger_cosignatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkpoint_size", sa.BigInteger(), nullable=False),
        sa.Column("witness_id", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_size"],
            ["ledger_checkpoints.size"],
            name=op.f("fk_ledger_cosignatures_checkpoint_size_ledger_checkpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["witness_id"],
            ["ledger_witnesses.id"],
            name=op.f("fk_ledger_cosignatures_witness_id_ledger_witnesses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_cosignatures")),
        sa.UniqueConstraint(
            "checkpoint_size",
            "witness_id",
            name=op.f("uq_ledger_cosignatures_checkpoint_size_witness_id"),
        ),
    )
    op.create_index(
        "ix_ledger_cosignatures_witness",
        "ledger_cosignatures",
        ["witness_id", "checkpoint_size"],
    )
    # ledger_head's single row is created by the first append.


def downgrade() -> None:
    op.drop_index("ix_ledger_cosignatures_witness", table_name="ledger_cosignatures")
    for table in (
        "ledger_cosignatures",
        "ledger_witnesses",
        "ledger_checkpoints",
        "ledger_nodes",
        "ledger_leaves",
        "ledger_head",
    ):
        op.drop_table(table)
