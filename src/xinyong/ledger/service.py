"""The record ledger: every record event becomes a leaf in the same transaction.

How events reach the log:

* ORM-written events (list entry events, dispute and repair events) are collected after
  each flush and read back just before the transaction commits; record versions, which
  ingestion bulk-inserts with ids it allocated, are handed over as the rows it wrote
  (:func:`track_written_events`), so the bulk path reads nothing back.
* Before the commit, every event's row is turned into its canonical form and committed to
  (:mod:`xinyong.ledger.canonical`), and the commitments are appended as leaves
  under a lock on ``ledger_head``. The lock is the last one the transaction takes, and is
  held only for the append, so writers cannot deadlock on it. A rollback appends nothing;
  a retried batch appends its leaves once, with the rows.

Checkpoints sign the tree at its current size; proofs read O(log n) stored subtree hashes
and leaves (:func:`fetch_nodes`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol, cast

from sqlalchemy import ColumnElement, Select, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xinyong.config import Settings
from xinyong.db import LEDGER_SESSION_KEY, bulk_insert, in_batches, utcnow
from xinyong.errors import ConfigurationError, NotFoundError, XinyongError
from xinyong.identity.crypto import KeyRing
from xinyong.ledger import merkle
from xinyong.ledger.canonical import canonical, commit, event_bytes, event_object, opening_key
from xinyong.ledger.models import (
    LedgerCheckpoint,
    LedgerCosignature,
    LedgerHead,
    LedgerLeaf,
    LedgerNode,
    LedgerWitness,
)
from xinyong.ledger.note import (
    COSIGNATURE_V1,
    Checkpoint,
    NoteError,
    SignatureLine,
    SignedNote,
    Signer,
    Verifier,
    open_checkpoint,
    sign_note,
    verify_cosignature,
)
from xinyong.lists.models import ListEntryEvent
from xinyong.records.models import RecordVersion
from xinyong.rights.models import DisputeEvent, RepairEvent

RECORD_VERSION = "record.version"
KINDS: dict[str, Table] = {
    RECORD_VERSION: RecordVersion.__table__,  # type: ignore[dict-item]
    "list.event": ListEntryEvent.__table__,  # type: ignore[dict-item]
    "dispute.event": DisputeEvent.__table__,  # type: ignore[dict-item]
    "repair.event": RepairEvent.__table__,  # type: ignore[dict-item]
}
# The columns an event commits to, fixed for good: a column added to a table later is not
# part of its events (old rows' commitments must stay valid). Covering a new column takes a
# new event kind or version, decided explicitly (tests/ledger/test_event_columns.py).
EVENT_COLUMNS: dict[str, tuple[str, ...]] = {
    RECORD_VERSION: (
        "id",
        "record_id",
        "version",
        "operation",
        "content_ct",
        "content_hash",
        "catalog_version",
        "valid_from",
        "valid_to",
        "furnisher_id",
        "batch_id",
        "batch_row",
        "received_at",
        "reason_ct",
    ),
    "list.event": (
        "id",
        "entry_id",
        "event",
        "status",
        "occurred_at",
        "actor",
        "role",
        "reason",
        "details",
    ),
    "dispute.event": (
        "id",
        "case_id",
        "case_version",
        "item_id",
        "event",
        "status",
        "occurred_at",
        "role",
        "actor",
        "institution_id",
        "reason",
        "note_ct",
        "details",
    ),
    "repair.event": (
        "id",
        "case_id",
        "case_version",
        "event",
        "status",
        "occurred_at",
        "role",
        "actor",
        "reason",
        "details",
    ),
}


def event_select(kind: str) -> Select[Any]:
    """The committed columns of a kind's rows."""
    table = KINDS[kind]
    return select(*(table.c[name] for name in EVENT_COLUMNS[kind]))


_ORM_KINDS: dict[type, str] = {
    ListEntryEvent: "list.event",
    DisputeEvent: "dispute.event",
    RepairEvent: "repair.event",
}
SESSION_KEY = LEDGER_SESSION_KEY
_PENDING = "xinyong.ledger.pending"
_WRITTEN = "written"
_HEAD_ID = 1


class LedgerError(XinyongError):
    status = 409
    code = "ledger_error"
    title = "The ledger cannot do this"


# --- keys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerKeys:
    """The commitment key and the log's signing key, with the log's origin."""

    commitment_key: bytes
    signer: Signer
    origin: str

    def __repr__(self) -> str:
        return f"LedgerKeys(origin={self.origin!r}, <keys>)"

    @property
    def verifier(self) -> Verifier:
        return self.signer.verifier

    def opening_key(self, kind: str, ref_id: int) -> bytes:
        return opening_key(self.commitment_key, kind, ref_id)


def _derive(keys: KeyRing, label: bytes) -> bytes:
    return hmac.new(keys.blind_index_key, b"xinyong/ledger/" + label, hashlib.sha256).digest()


def ledger_keys(keys: KeyRing, settings: Settings) -> LedgerKeys:
    """Keys from configuration: ``XINYONG_LEDGER_SIGNING_KEY``, or derived from the key ring.

    The derived signing key is stable for a key ring, so a platform without a dedicated key
    still signs every checkpoint with the same key; production sets its own (generate one
    with ``xinyong ledger keygen``) so the log key can live apart from the data keys.
    """
    origin = settings.ledger_origin
    if settings.ledger_signing_key is not None:
        try:
            signer = Signer.parse(settings.ledger_signing_key.get_secret_value())
        except NoteError as exc:
            raise ConfigurationError(f"XINYONG_LEDGER_SIGNING_KEY: {exc.detail}") from exc
        if signer.kind != 0x01:
            raise ConfigurationError("XINYONG_LEDGER_SIGNING_KEY must be an Ed25519 (0x01) key")
    else:
        signer = Signer.from_seed(origin, _derive(keys, b"signing/v1"))
    return LedgerKeys(_derive(keys, b"commitment/v1"), signer, origin)


def session_keys(session: Session) -> LedgerKeys:
    keys = session.info.get(SESSION_KEY)
    if not isinstance(keys, LedgerKeys):
        raise ConfigurationError(
            "this session has no ledger keys: create it with make_session_factory(engine, "
            "ledger=ledger_keys(keys, settings))"
        )
    return keys


# --- collecting events ------------------------------------------------------------------------


def _pending(session: Session) -> dict[str, Any]:
    pending: dict[str, Any] = session.info.setdefault(_PENDING, {})
    return pending


def track_written_events(session: Session, kind: str, rows: Iterable[Sequence[Any]]) -> None:
    """Log rows of ``kind`` written in bulk, given as the values of ``EVENT_COLUMNS[kind]``.

    The values must be the ones stored, as the database gives them back (``verify``
    recomputes each commitment from the stored row): ids allocated before the insert,
    timestamps in UTC.
    """
    names = EVENT_COLUMNS[kind]
    written: list[Mapping[str, Any]] = (
        _pending(session).setdefault(_WRITTEN, {}).setdefault(kind, [])
    )
    for values in rows:
        if len(values) != len(names):
            raise ValueError(f"a {kind} row needs the values of {', '.join(names)}")
        written.append(dict(zip(names, values, strict=True)))


def collect_flushed(session: Session) -> None:
    """After a flush: note the new ledgered ORM rows (they have their ids now)."""
    for instance in session.new:
        kind = _ORM_KINDS.get(type(instance))
        if kind is not None:
            _pending(session).setdefault(kind, set()).add(instance.id)


def discard_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def append_pending(session: Session) -> None:
    """Before commit: append a leaf for every event this transaction wrote."""
    session.flush()
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    keys = session_keys(session)
    connection = session.connection()
    written: dict[str, list[Mapping[Any, Any]]] = pending.pop(_WRITTEN, {})
    entries: list[tuple[str, int, bytes]] = []
    for kind, table in KINDS.items():
        rows = list(written.get(kind, ()))
        for chunk in in_batches(sorted(pending.get(kind, ()))):
            rows.extend(
                connection.execute(event_select(kind).where(table.c.id.in_(chunk))).mappings()
            )
        rows.sort(key=lambda row: row["id"])
        for row in rows:
            entries.append((kind, row["id"], _commitment(keys, kind, row)))
    append_leaves(session, entries)


def _commitment(keys: LedgerKeys, kind: str, row: Mapping[Any, Any]) -> bytes:
    return commit(keys.opening_key(kind, row["id"]), event_bytes(kind, row))


# --- appending --------------------------------------------------------------------------------


def _lock_head(session: Session) -> int:
    statement = select(LedgerHead.size).where(LedgerHead.id == _HEAD_ID)
    dialect = session.connection().dialect.name
    if dialect == "postgresql":
        statement = statement.with_for_update()
    size = session.execute(statement).scalar_one_or_none()
    if size is not None:
        return int(size)
    values = {"id": _HEAD_ID, "size": 0, "updated_at": utcnow()}
    if dialect == "postgresql":
        session.execute(postgresql.insert(LedgerHead).values(values).on_conflict_do_nothing())
    else:
        session.execute(sqlite.insert(LedgerHead).values(values).on_conflict_do_nothing())
    return int(session.execute(statement).scalar_one())


# Subtrees of 2^STORED_LEVEL leaves and larger are stored; a smaller one is recomputed from
# its (at most 2^STORED_LEVEL) leaf commitments, which are stored anyway. That keeps one node
# row per eight leaves instead of two per leaf, and a proof still reads O(log n) rows: the
# low siblings of a leaf all lie in its aligned block of 16 leaves.
STORED_LEVEL = 4

# The stored subtrees and the leaves a set of keys needs, in one statement whose text never
# changes: the keys go in as one parameter each (arrays on PostgreSQL, JSON on SQLite) and
# are joined to the primary keys. The driver's and the server's prepared statements are
# reused, and the planner sees a join instead of hundreds of OR-ed terms. Leaves come as
# level -1. On PostgreSQL the leaves are named one by one, not as ranges: joined on
# equality, the statement's generic plan is estimated at what it costs, so the server keeps
# it instead of planning every execution afresh, as it did while the leaves were joined on
# ranges of unknown bounds (whose generic plan it estimated at four times a custom one).
_FETCH_SQL = {
    "postgresql": (
        "SELECT n.level, n.idx, n.hash FROM unnest(%s::smallint[], %s::bigint[]) AS k(level, idx)"
        " JOIN ledger_nodes n ON n.level = k.level AND n.idx = k.idx"
        " UNION ALL SELECT -1, l.idx, l.commitment FROM unnest(%s::bigint[]) AS r(idx)"
        " JOIN ledger_leaves l ON l.idx = r.idx"
    ),
    # SQLite: each key packed into one integer of a JSON array, unpacked with shifts
    # (cheaper than a JSON path per key): a node as level·2^48 + index, a span of leaves as
    # start·2^16 + length.
    "sqlite": (
        "SELECT n.level, n.idx, n.hash FROM json_each(?) AS k JOIN ledger_nodes n"
        " ON n.level = k.value >> 48 AND n.idx = k.value & 281474976710655"
        " UNION ALL SELECT -1, l.idx, l.commitment FROM json_each(?) AS r JOIN ledger_leaves l"
        " ON l.idx >= r.value >> 16 AND l.idx < (r.value >> 16) + (r.value & 65535)"
    ),
}
_SPAN = 0xFFFF  # the longest span packed in one integer


def _packed_spans(spans: Sequence[tuple[int, int]]) -> list[int]:
    packed: list[int] = []
    for start, end in spans:
        for low in range(start, end, _SPAN):
            packed.append(low << 16 | min(_SPAN, end - low))
    return packed


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _fetch_parameters(
    dialect: str, stored: Sequence[merkle.NodeKey], spans: Sequence[tuple[int, int]]
) -> tuple[Any, ...]:
    if dialect == "postgresql":
        return (
            [level for level, _ in stored],
            [idx for _, idx in stored],
            [idx for start, end in spans for idx in range(start, end)],
        )
    return (
        json.dumps([level << 48 | idx for level, idx in stored]),
        json.dumps(_packed_spans(spans)),
    )


def fetch_nodes(
    session: Session, keys: Iterable[merkle.NodeKey], *, strict: bool = True
) -> dict[merkle.NodeKey, bytes]:
    """Complete-subtree hashes, stored or from their leaves; ``strict``: a missing one is
    an error (else left out)."""
    wanted = set(keys)
    stored = sorted(key for key in wanted if key[0] >= STORED_LEVEL)
    low = [key for key in wanted if key[0] < STORED_LEVEL]
    spans = _merged((index << level, (index + 1) << level) for level, index in low)
    found: dict[merkle.NodeKey, bytes] = {}
    leaves: dict[int, bytes] = {}
    if stored or spans:
        connection = session.connection()
        dialect = connection.dialect.name
        rows = connection.exec_driver_sql(
            _FETCH_SQL[dialect], _fetch_parameters(dialect, stored, spans)
        ).all()
        for level, idx, value in rows:
            if level < 0:
                leaves[idx] = merkle.leaf_hash(bytes(value))
            else:
                found[(level, idx)] = bytes(value)
    for level, index in low:
        value = _subtree_of_leaves(leaves, index << level, (index + 1) << level)
        if value is not None:
            found[(level, index)] = value
    missing = wanted - found.keys()
    if missing and strict:
        raise LedgerError(
            f"the ledger is missing {len(missing)} stored node(s) or leaves, e.g. "
            f"{min(missing)}; run `xinyong ledger verify`"
        )
    return found


def _subtree_of_leaves(leaves: Mapping[int, bytes], start: int, end: int) -> bytes | None:
    """The hash of the complete subtree over leaves ``[start, end)``, if all are there."""
    hashes = [leaves.get(idx) for idx in range(start, end)]
    if None in hashes:
        return None
    return merkle.complete_root(cast(list[bytes], hashes))


def append_leaves(session: Session, entries: Sequence[tuple[str, int, bytes]]) -> range:
    """Append ``(kind, ref_id, commitment)`` leaves in order; returns their indexes."""
    if not entries:
        return range(0)
    size = _lock_head(session)
    frontier = merkle.Frontier.load(size, fetch_nodes(session, merkle.frontier_nodes(size)))
    now = utcnow()
    leaves: list[tuple[object, ...]] = []
    nodes: list[tuple[object, ...]] = []
    for kind, ref_id, commitment in entries:
        leaves.append((frontier.size, kind, ref_id, commitment, now))
        nodes.extend(
            node
            for node in frontier.append(merkle.leaf_hash(commitment))
            if node[0] >= STORED_LEVEL
        )
    bulk_insert(session, LedgerLeaf, ("idx", "kind", "ref_id", "commitment", "created_at"), leaves)
    bulk_insert(session, LedgerNode, ("level", "idx", "hash"), nodes)
    session.execute(
        update(LedgerHead)
        .where(LedgerHead.id == _HEAD_ID)
        .values(size=frontier.size, updated_at=now)
    )
    return range(size, frontier.size)


def tree_size(session: Session) -> int:
    size = session.execute(
        select(LedgerHead.size).where(LedgerHead.id == _HEAD_ID)
    ).scalar_one_or_none()
    return int(size or 0)


def root_at(session: Session, size: int) -> bytes:
    return merkle.root(size, fetch_nodes(session, merkle.root_nodes(size)))


# --- checkpoints ------------------------------------------------------------------------------


def latest_checkpoint(session: Session) -> LedgerCheckpoint | None:
    return session.scalars(
        select(LedgerCheckpoint).order_by(LedgerCheckpoint.size.desc()).limit(1)
    ).first()


def make_checkpoint(session: Session, keys: LedgerKeys | None = None) -> LedgerCheckpoint:
    """Sign the tree at its current size (or return the checkpoint that already does)."""
    keys = keys or session_keys(session)
    size = tree_size(session)
    existing = session.get(LedgerCheckpoint, size)
    if existing is not None:
        return existing
    root = root_at(session, size)
    note = sign_note(Checkpoint(keys.origin, size, root).body(), keys.signer).render()
    values = {"size": size, "root": root, "note": note, "created_at": utcnow()}
    dialect = session.connection().dialect.name
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert_(LedgerCheckpoint).values(values).on_conflict_do_nothing())
    checkpoint = session.get(LedgerCheckpoint, size)
    assert checkpoint is not None
    return checkpoint


def periodic_checkpoint(session: Session, *, min_age_seconds: float) -> bool:
    """The worker's job: a new checkpoint when leaves arrived since the last one."""
    keys = session_keys(session)
    latest = latest_checkpoint(session)
    size = tree_size(session)
    if latest is not None and latest.size >= size:
        return False
    if latest is not None and (utcnow() - latest.created_at).total_seconds() < min_age_seconds:
        return False
    make_checkpoint(session, keys)
    return True


def get_checkpoint(session: Session, size: int | None = None) -> LedgerCheckpoint:
    checkpoint = latest_checkpoint(session) if size is None else session.get(LedgerCheckpoint, size)
    if checkpoint is None:
        raise NotFoundError(
            "no checkpoint yet" if size is None else f"there is no checkpoint of size {size}"
        )
    return checkpoint


def cosigned_note(session: Session, checkpoint: LedgerCheckpoint) -> str:
    """The checkpoint's note with the log's signature and every witness cosignature."""
    lines = session.scalars(
        select(LedgerCosignature.line)
        .where(LedgerCosignature.checkpoint_size == checkpoint.size)
        .order_by(LedgerCosignature.id)
    ).all()
    note = SignedNote.parse(checkpoint.note)
    for line in lines:
        note = note.with_signature(SignatureLine.parse(line))
    return note.render()


# --- witnesses ------------------------------------------------------------------------------


def add_witness(session: Session, vkey: str, description: str = "") -> LedgerWitness:
    verifier = Verifier.parse(vkey)
    if verifier.kind != COSIGNATURE_V1:
        raise NoteError("a witness key is a cosignature/v1 (type 0x04) Ed25519 key")
    existing = session.scalars(
        select(LedgerWitness).where(LedgerWitness.name == verifier.name)
    ).first()
    if existing is not None:
        raise LedgerError(f"a witness named {verifier.name!r} is already registered")
    witness = LedgerWitness(name=verifier.name, vkey=verifier.vkey, description=description)
    session.add(witness)
    session.flush()
    return witness


def list_witnesses(session: Session) -> Sequence[LedgerWitness]:
    return session.scalars(select(LedgerWitness).order_by(LedgerWitness.id)).all()


def add_cosignature(session: Session, size: int, line_text: str) -> LedgerCosignature:
    """Store a registered witness's cosignature on the checkpoint of ``size``."""
    checkpoint = get_checkpoint(session, size)
    line = SignatureLine.parse(line_text)
    witness = session.scalars(
        select(LedgerWitness).where(LedgerWitness.name == line.name, LedgerWitness.active.is_(True))
    ).first()
    if witness is None:
        raise NoteError(f"{line.name!r} is not a registered witness")
    body = SignedNote.parse(checkpoint.note).text
    timestamp = verify_cosignature(body, line, Verifier.parse(witness.vkey))
    existing = session.scalars(
        select(LedgerCosignature).where(
            LedgerCosignature.checkpoint_size == size,
            LedgerCosignature.witness_id == witness.id,
        )
    ).first()
    if existing is not None:
        return existing
    cosignature = LedgerCosignature(
        checkpoint_size=size, witness_id=witness.id, timestamp=timestamp, line=line.text()
    )
    session.add(cosignature)
    session.flush()
    return cosignature


# --- proofs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    proof: tuple[bytes, ...]


def _proof_nodes(
    session: Session, keys: set[merkle.NodeKey], size: int
) -> dict[merkle.NodeKey, bytes]:
    """The nodes of a proof in a tree of ``size`` leaves, in one query.

    Every proof needs a subtree ending at leaf ``size - 1``, which exists only once the
    tree has that many leaves: a missing node means a size beyond the tree (or damage).
    """
    nodes = fetch_nodes(session, keys, strict=False)
    if len(nodes) < len(keys):
        current = tree_size(session)
        if size > current:
            raise LedgerError(f"the tree has {current} leaves; there is no tree of size {size}")
        fetch_nodes(session, keys)  # raises, naming a missing node
    return nodes


def inclusion(session: Session, index: int, size: int | None = None) -> InclusionProof:
    if size is None:
        size = tree_size(session)
    if not 0 <= index < size:
        raise LedgerError(f"leaf {index} is not in the tree of size {size}")
    nodes = _proof_nodes(session, merkle.inclusion_nodes(index, size) | {(0, index)}, size)
    return InclusionProof(
        index, size, nodes[(0, index)], tuple(merkle.inclusion_proof(index, size, nodes))
    )


def consistency(session: Session, first: int, second: int | None = None) -> list[bytes]:
    if second is None:
        second = tree_size(session)
    if not 0 <= first <= second:
        raise LedgerError(f"no consistency proof from size {first} to size {second}")
    if first in (0, second):
        if second > tree_size(session):
            raise LedgerError(f"there is no tree of size {second} yet")
        return []
    nodes = _proof_nodes(session, merkle.consistency_nodes(first, second), second)
    return merkle.consistency_proof(first, second, nodes)


@dataclass(frozen=True)
class EventProof:
    """What a report carries for one item: the event, its opening key and the proof."""

    leaf_index: int
    event: dict[str, Any]
    opening_key: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True)
class CheckpointRow:
    """A signed checkpoint as a report cites it."""

    size: int
    root: bytes
    note: str


@dataclass
class ReportProofs:
    checkpoint: CheckpointRow
    items: dict[int, EventProof] = field(default_factory=dict)


@cache
def _latest_checkpoint_statement() -> Select[int, bytes, str]:
    return (
        select(LedgerCheckpoint.size, LedgerCheckpoint.root, LedgerCheckpoint.note)
        .order_by(LedgerCheckpoint.size.desc())
        .limit(1)
    )


@cache
def _version_leaves_statement() -> Select[int, int]:
    return select(LedgerLeaf.idx, LedgerLeaf.ref_id).where(
        LedgerLeaf.kind == RECORD_VERSION,
        LedgerLeaf.ref_id.in_(bindparam("ref_ids", expanding=True)),
    )


def _latest_checkpoint_row(session: Session) -> CheckpointRow | None:
    row = session.connection().execute(_latest_checkpoint_statement()).first()
    return checkpoint_row(*row) if row else None


@cache
def latest_checkpoint_columns() -> tuple[
    ColumnElement[int], ColumnElement[bytes], ColumnElement[str]
]:
    """The latest checkpoint's size, root and note as columns (all null before the first).

    For a caller that reads it in a statement of its own making (a report reads it with the
    subject's rights flags); :func:`checkpoint_row` turns the values back into a row.
    """
    latest = _latest_checkpoint_statement()
    return (
        latest.with_only_columns(LedgerCheckpoint.size).scalar_subquery(),
        latest.with_only_columns(LedgerCheckpoint.root).scalar_subquery(),
        latest.with_only_columns(LedgerCheckpoint.note).scalar_subquery(),
    )


def checkpoint_row(size: int | None, root: bytes | None, note: str | None) -> CheckpointRow | None:
    """The values of :func:`latest_checkpoint_columns` as a checkpoint, or None."""
    if size is None or root is None or note is None:
        return None
    return CheckpointRow(int(size), bytes(root), note)


class VersionRow(Protocol):
    """A record version as read: an object with (at least) its event's columns."""

    @property
    def id(self) -> int: ...


# Reports prove their items against the latest checkpoint, and every proof of one tree
# size passes through the same few large subtrees. A checkpoint (size and root) fixes the
# hash of every complete subtree below its size, so those of the upper levels are kept per
# checkpoint, for the last two: a report then reads only its lower ones. The levels kept
# hold at most about 2 × 2^_UPPER_BITS subtrees.
_UPPER_BITS = 12
_UPPER_CACHE: dict[tuple[int, bytes], dict[merkle.NodeKey, bytes]] = {}


def _upper_floor(size: int) -> int:
    return max(STORED_LEVEL, size.bit_length() - _UPPER_BITS)


def _upper_nodes(checkpoint: CheckpointRow) -> dict[merkle.NodeKey, bytes]:
    key = (checkpoint.size, checkpoint.root)
    found = _UPPER_CACHE.get(key)
    if found is None:
        if len(_UPPER_CACHE) >= 2:
            _UPPER_CACHE.clear()
        found = _UPPER_CACHE.setdefault(key, {})
    return found


def record_version_proofs(
    session: Session,
    versions: Sequence[VersionRow],
    leaf_indexes: Mapping[int, int] | None = None,
) -> ReportProofs:
    """Inclusion proofs of record versions to a signed checkpoint that covers them all.

    The versions are the rows the caller has read: their events are formed from them, not
    read again. ``leaf_indexes`` maps version ids to their leaves where the caller read
    those with the versions; otherwise they are looked up. The latest checkpoint is read
    here; :func:`prove_record_versions` takes one the caller read.
    """
    leaves: Mapping[int, int] | None = leaf_indexes
    if leaves is None:
        found: dict[int, int] = {}
        connection = session.connection()
        for chunk in in_batches(sorted(version.id for version in versions)):
            for idx, ref_id in connection.execute(_version_leaves_statement(), {"ref_ids": chunk}):
                found[int(ref_id)] = int(idx)
        leaves = found
    return prove_record_versions(session, versions, leaves, _latest_checkpoint_row(session))


def prove_record_versions(
    session: Session,
    versions: Sequence[VersionRow],
    leaves: Mapping[int, int],
    latest: CheckpointRow | None,
) -> ReportProofs:
    """Inclusion proofs of the versions at ``leaves`` (version id to leaf index), to
    ``latest``: the latest checkpoint as the caller read it (None when there was none).

    Where it does not cover every leaf (leaves appended since), the tree is checkpointed
    now and the proofs go to that checkpoint. Versions without a leaf get no proof.
    """
    keys = session_keys(session)
    by_id = {version.id: version for version in versions}
    leaves = {ref_id: idx for ref_id, idx in leaves.items() if ref_id in by_id}
    checkpoint = latest
    if checkpoint is None or (leaves and max(leaves.values()) >= checkpoint.size):
        made = make_checkpoint(session, keys)
        checkpoint = CheckpointRow(made.size, made.root, made.note)
    result = ReportProofs(checkpoint)
    if not leaves:
        return result
    size = checkpoint.size
    needed: set[merkle.NodeKey] = set()
    for idx in leaves.values():
        needed |= merkle.inclusion_nodes(idx, size)
    upper = _upper_nodes(checkpoint)
    kept = {key: upper[key] for key in needed if key in upper}
    fetched = fetch_nodes(session, needed - kept.keys())
    floor = _upper_floor(size)
    upper.update((key, value) for key, value in fetched.items() if key[0] >= floor)
    nodes = kept | fetched
    columns = EVENT_COLUMNS[RECORD_VERSION]
    for ref_id, idx in leaves.items():
        version = by_id[ref_id]
        result.items[ref_id] = EventProof(
            leaf_index=idx,
            event=event_object(RECORD_VERSION, {name: getattr(version, name) for name in columns}),
            opening_key=keys.opening_key(RECORD_VERSION, ref_id),
            proof=tuple(merkle.inclusion_proof(idx, size, nodes)),
        )
    return result


def check_event_proof(
    event: Mapping[str, Any],
    key: bytes,
    leaf_index: int,
    proof: Sequence[bytes],
    checkpoint: Checkpoint,
) -> bool:
    """Offline: does this event sit at ``leaf_index`` of the checkpointed tree?"""
    commitment = commit(key, canonical(event))
    return merkle.verify_inclusion(
        merkle.leaf_hash(commitment), leaf_index, checkpoint.size, proof, checkpoint.root
    )


# --- verification -----------------------------------------------------------------------------


@dataclass
class Finding:
    problem: str  # modified | inserted | deleted | reordered | tree | checkpoint
    detail: str


@dataclass
class VerificationResult:
    size: int = 0
    events: int = 0
    checkpoints: int = 0
    latest_checkpoint: int | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, problem: str, detail: str, limit: int = 1000) -> None:
        if len(self.findings) < limit:
            self.findings.append(Finding(problem, detail))


def _stream(session: Session, statement: Any, rows: int = 5000) -> Iterator[Any]:
    """Rows through Core (no ORM row processing), fetched ``rows`` at a time."""
    return iter(session.connection().execute(statement.execution_options(yield_per=rows)))


def verify(session: Session, keys: LedgerKeys | None = None) -> VerificationResult:
    """Recompute the log from the stored events and compare everything stored and signed.

    Detects an event row modified (its commitment no longer matches), deleted (a leaf whose
    event is gone), inserted (an event with no leaf), versions of a record logged out of
    order, leaves removed, swapped or altered (the recomputed tree differs from the stored
    subtree hashes or from a signed checkpoint), and checkpoints whose signature fails.
    """
    keys = keys or session_keys(session)
    result = VerificationResult(size=tree_size(session))

    # 1. Leaves, in order, against their events.
    leaf_hashes: list[bytes] = []
    by_kind: dict[str, dict[int, tuple[int, bytes]]] = defaultdict(dict)
    expected = 0
    for idx, kind, ref_id, commitment in _stream(
        session,
        select(LedgerLeaf.idx, LedgerLeaf.kind, LedgerLeaf.ref_id, LedgerLeaf.commitment).order_by(
            LedgerLeaf.idx
        ),
    ):
        if idx != expected:
            result.add("deleted", f"leaves {expected}..{idx - 1} are missing from the log")
            leaf_hashes.extend(b"\x00" * 32 for _ in range(idx - expected))
        leaf_hashes.append(merkle.leaf_hash(bytes(commitment)))
        by_kind[kind][int(ref_id)] = (int(idx), bytes(commitment))
        expected = idx + 1
    if expected != result.size:
        result.add("tree", f"the head says {result.size} leaves, the log holds {expected}")

    for kind, table in KINDS.items():
        leaves = by_kind.pop(kind, {})
        seen: set[int] = set()
        last_version: dict[int, tuple[int, int]] = {}
        for row in _stream(session, event_select(kind).order_by(table.c.id)):
            mapping = row._mapping
            ref_id = int(mapping["id"])
            result.events += 1
            leaf = leaves.get(ref_id)
            if leaf is None:
                result.add("inserted", f"{kind} {ref_id} is in the database but not in the log")
                continue
            seen.add(ref_id)
            if _commitment(keys, kind, mapping) != leaf[1]:
                result.add("modified", f"{kind} {ref_id} differs from what leaf {leaf[0]} logged")
            if kind == RECORD_VERSION:
                record_id, version = int(mapping["record_id"]), int(mapping["version"])
                previous = last_version.get(record_id)
                last_version[record_id] = (version, leaf[0])
                # Ordered by id; a record's versions must also be logged in version order.
                if previous is not None and (previous[0] >= version or previous[1] >= leaf[0]):
                    result.add(
                        "reordered",
                        f"record {record_id}: version {version} (leaf {leaf[0]}) is out of "
                        f"order with version {previous[0]} (leaf {previous[1]})",
                    )
        for ref_id in sorted(leaves.keys() - seen):
            result.add("deleted", f"{kind} {ref_id} (leaf {leaves[ref_id][0]}) is gone")
    for kind in by_kind:
        result.add("tree", f"leaves of unknown kind {kind!r}")

    # 2. Every stored subtree hash against the recomputed tree, level by level.
    level_hashes = leaf_hashes
    level = 0
    stored = _stream(
        session,
        select(LedgerNode.level, LedgerNode.idx, LedgerNode.hash).order_by(
            LedgerNode.level, LedgerNode.idx
        ),
    )
    levels: list[list[bytes]] = []
    pending_row = next(stored, None)
    while level_hashes:
        levels.append(level_hashes)
        count = 0
        while pending_row is not None and pending_row[0] == level:
            _, idx, value = pending_row
            if idx >= len(level_hashes) or bytes(value) != level_hashes[idx]:
                result.add("tree", f"stored node ({level}, {idx}) does not match the leaves")
            count += 1
            pending_row = next(stored, None)
        expected = len(level_hashes) if level >= STORED_LEVEL else 0
        if count != expected:
            result.add("tree", f"level {level} stores {count} nodes, the leaves make {expected}")
        level_hashes = [
            merkle.node_hash(level_hashes[i], level_hashes[i + 1])
            for i in range(0, len(level_hashes) - 1, 2)
        ]
        level += 1
    if pending_row is not None:
        result.add("tree", "stored nodes beyond the tree's height")

    # 3. Every signed checkpoint against the recomputed root at its size.
    verifier = keys.verifier
    for checkpoint in session.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.size)):
        result.checkpoints += 1
        result.latest_checkpoint = checkpoint.size
        try:
            body = open_checkpoint(checkpoint.note, verifier, keys.origin)
        except NoteError as exc:
            result.add("checkpoint", f"checkpoint {checkpoint.size}: {exc.detail}")
            continue
        if (body.size, body.root) != (checkpoint.size, bytes(checkpoint.root)):
            result.add(
                "checkpoint", f"checkpoint {checkpoint.size}: stored columns differ from its note"
            )
        if checkpoint.size > len(leaf_hashes):
            result.add(
                "checkpoint",
                f"checkpoint {checkpoint.size} is beyond the log's {len(leaf_hashes)} leaves",
            )
            continue
        recomputed = {key: levels[key[0]][key[1]] for key in merkle.root_nodes(checkpoint.size)}
        if merkle.root(checkpoint.size, recomputed) != body.root:
            result.add(
                "tree",
                f"the log's first {checkpoint.size} leaves no longer give the root signed in "
                "that checkpoint: leaves were changed, removed, inserted or reordered",
            )
    return result
