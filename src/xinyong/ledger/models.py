"""The ledger's tables: leaves, stored subtree hashes, checkpoints, witnesses, cosignatures.

A leaf names the event it commits to (``kind``, ``ref_id``) and holds only the keyed
commitment, never personal data. ``ledger_nodes`` keeps the hash of every complete subtree
of 16 leaves and up (smaller ones are recomputed from the leaves), so proofs read O(log n)
rows. ``ledger_head`` is the single row writers lock to append in order.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import AppendOnly, Base, utcnow


class LedgerHead(Base):
    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerLeaf(AppendOnly, Base):
    __tablename__ = "ledger_leaves"
    __table_args__ = (UniqueConstraint("kind", "ref_id"),)

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32))
    ref_id: Mapped[int] = mapped_column(BigInteger)
    commitment: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerNode(AppendOnly, Base):
    __tablename__ = "ledger_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerCheckpoint(Base):
    """A signed checkpoint; ``note`` grows as witnesses add cosignatures."""

    __tablename__ = "ledger_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerWitness(Base):
    __tablename__ = "ledger_witnesses"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    vkey: Mapped[str] = mapped_column(String(400))
    description: Mapped[str] = mapped_column(String(500), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerCosignature(AppendOnly, Base):
    __tablename__ = "ledger_cosignatures"
    __table_args__ = (
        UniqueConstraint("checkpoint_size", "witness_id"),
        Index("ix_ledger_cosignatures_witness", "witness_id", "checkpoint_size"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    checkpoint_size: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_checkpoints.size"))
    witness_id: Mapped[int] = mapped_column(ForeignKey("ledger_witnesses.id"))
    timestamp: Mapped[int] = mapped_column(BigInteger)
    line: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
