"""The ledger stores subtrees of 16 leaves and up; smaller ones come from the leaves.

A subtree below level 4 is recomputed from at most 16 leaf commitments (which are stored
anyway) when a proof or an append needs it, so its row is dropped: one node row per eight
leaves instead of two per leaf. Downgrading recomputes the dropped rows from the leaves.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STORED_LEVEL = 4

nodes = sa.table(
    "ledger_nodes",
    sa.column("level", sa.SmallInteger),
    sa.column("idx", sa.BigInteger),
    sa.column("hash", sa.LargeBinary),
)
leaves = sa.table("ledger_leaves", sa.column("idx", sa.BigInteger), sa.column("commitment"))


def upgrade() -> None:
    op.execute(nodes.delete().where(nodes.c.level < STORED_LEVEL))


def downgrade() -> None:
    connection = op.get_bind()
    block: list[bytes] = []  # leaf hashes of the current aligned block of 16 leaves
    after = -1
    while True:
        page = connection.execute(
            sa.select(leaves.c.idx, leaves.c.commitment)
            .where(leaves.c.idx > after)
            .order_by(leaves.c.idx)
            .limit(10_000)
        ).all()
        if not page:
            return
        rows: list[dict[str, object]] = []
        for idx, commitment in page:
            block.append(hashlib.sha256(b"\x00" + bytes(commitment)).digest())
            # Every complete subtree below level 4 that ends at this leaf.
            for level in range(STORED_LEVEL):
                width = 1 << level
                if (idx + 1) % width:
                    break
                hashes = block[len(block) - width :]
                while len(hashes) > 1:
                    hashes = [
                        hashlib.sha256(b"\x01" + hashes[i] + hashes[i + 1]).digest()
                        for i in range(0, len(hashes), 2)
                    ]
                rows.append({"level": level, "idx": (idx + 1) // width - 1, "hash": hashes[0]})
            if (idx + 1) % (1 << STORED_LEVEL) == 0:
                block = []
        connection.execute(nodes.insert(), rows)
        after = page[-1][0]
