"""The record ledger on the database (SQLite and PostgreSQL): appending, proofs, tampering.

Events come from the real flows: record versions from batches through the ingestion runner,
a list entry from a court listing record and from an operator, dispute events from a filed
dispute, repair events from a repair application. Tampering goes around the application,
straight to the database with SQL, after a checkpoint; :func:`service.verify` must name it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Date, bindparam, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from reports.helpers import Furnish, enterprise_row, make_subject, operator, person_row
from support import (
    MakeInstitution,
    account_row,
    ingest_path,
    new_resident_id,
    new_uscc,
    write_jsonl,
)
from xinyong.config import Settings
from xinyong.db import make_session_factory, transaction, utcnow
from xinyong.errors import ConfigurationError, NotFoundError
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.ledger import merkle, service
from xinyong.ledger.models import LedgerLeaf, LedgerNode
from xinyong.ledger.note import (
    COSIGNATURE_V1,
    Checkpoint,
    NoteError,
    SignedNote,
    Signer,
    cosign,
    open_checkpoint,
    verify_cosignature,
)
from xinyong.lists import service as lists_service
from xinyong.lists.schemas import EntryCreate
from xinyong.records.models import RecordVersion
from xinyong.reports.profiles import get_profile
from xinyong.reports.schemas import SubjectSelector
from xinyong.reports.service import assemble_file
from xinyong.rights import repair
from xinyong.rights.disputes import file_dispute
from xinyong.rights.schemas import DisputeFiling, DisputeReason

CN = get_profile("cn")
LEDGERED = ("record_versions", "list_entry_events", "dispute_events", "repair_events")
KIND_OF_TABLE = dict(zip(LEDGERED, service.KINDS, strict=True))


# --- a small credit file, through the real flows ------------------------------------------------


@dataclass
class World:
    person: str
    account: int  # a credit_account record with two versions
    other_account: int
    listed_person: str
    company_id: int
    dispute_id: int
    repair_id: int


def build_world(
    tmp_path: Path,
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_institution: MakeInstitution,
) -> World:
    bank = make_institution("bank-l", record_types=["credit_account"])
    court = make_institution("court-l", record_types=["dishonest_debtor_listing"])
    regulator = make_institution("regulator-l", record_types=["administrative_penalty"])
    by_bank = Furnish(tmp_path, factory, keys, bank)
    by_court = Furnish(tmp_path, factory, keys, court)
    by_regulator = Furnish(tmp_path, factory, keys, regulator)

    person = new_resident_id()
    by_bank(account_row(person, "ACC-1"), account_row(person, "ACC-2", balance="800.00"))
    by_bank(account_row(person, "ACC-1", balance="11000.00"))  # version 2 of ACC-1
    # Enough leaves for stored subtrees (16 leaves and up) under the events below.
    by_bank(*(account_row(person, f"ACC-F{n}") for n in range(2 * 2**service.STORED_LEVEL)))

    listed = new_resident_id()
    today = date.today()
    by_court(
        person_row(
            listed,
            "dishonest_debtor_listing",
            "L-1",
            valid_from=today.replace(day=1).isoformat(),
            case_number="(2026)京0105执1号",
            court="北京市朝阳区人民法院",
            ground="evades_enforcement",
            obligation="支付货款及利息",
            performance="not_performed",
            listing_date=today.replace(day=1).isoformat(),
        )
    )

    company = new_uscc()
    decided = date(today.year - 1, 1, 15)
    by_regulator(
        enterprise_row(
            company,
            "administrative_penalty",
            "P-1",
            valid_from=decided.isoformat(),
            decision_number="京朝市监罚〔2025〕1号",
            violation_type="虚假宣传",
            penalty_type="fine",
            fine_amount="5000.00",
            severity="general",
            authority="北京市朝阳区市场监督管理局",
            decision_date=decided.isoformat(),
        )
    )
    company_id = make_subject(factory, keys, "uscc", company)
    # An operator's list entry on the company: a list event from the ORM path.
    with transaction(factory) as session:
        subject = session.get(Subject, company_id)
        assert subject is not None
        lists_service.create_entry(
            session,
            operator(),
            subject,
            EntryCreate(
                subject=SubjectSelector(subject_id=company_id),
                list_type="abnormal_operations",
                ground="no_annual_report",
                authority="北京市朝阳区市场监督管理局",
                reference="京朝市监异〔2026〕1号",
                reason="annual report not published",
            ),
        )

    account = by_bank.record_id("ACC-1")
    person_id = make_subject(factory, keys, "resident_id", person)
    with transaction(factory) as session:
        dispute = file_dispute(
            session,
            keys,
            CN,
            operator(),
            person_id,
            DisputeFiling(
                record_ids=[account], reason_code=DisputeReason.WRONG_AMOUNT, text="余额不对。"
            ),
        )
        dispute_id = dispute.id
    penalty = by_regulator.record_id("P-1", "administrative_penalty")
    with transaction(factory) as session:
        case = repair.apply_for_repair(
            session,
            keys,
            CN,
            operator(),
            company_id,
            repair.RepairApplication.model_validate(
                {
                    "target_kind": "penalty",
                    "target_id": penalty,
                    "evidence": ["罚款已缴纳"],
                    "commitment": "本企业承诺依法诚信经营。",
                    "commitment_signed": True,
                }
            ),
        )
        repair_id = case.id
    return World(
        person=person,
        account=account,
        other_account=by_bank.record_id("ACC-2"),
        listed_person=listed,
        company_id=company_id,
        dispute_id=dispute_id,
        repair_id=repair_id,
    )


@pytest.fixture
def world(
    tmp_path: Path,
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_institution: MakeInstitution,
) -> World:
    return build_world(tmp_path, factory, keys, make_institution)


@pytest.fixture
def checkpointed(world: World, factory: sessionmaker[Session]) -> World:
    """The world, clean, with a signed checkpoint over all of it."""
    with transaction(factory) as session:
        service.make_checkpoint(session)
    assert problems(factory) == Counter()
    return world


# --- helpers --------------------------------------------------------------------------------


def problems(factory: sessionmaker[Session]) -> Counter[str]:
    with factory() as session:
        return Counter(finding.problem for finding in service.verify(session).findings)


def findings(factory: sessionmaker[Session]) -> list[service.Finding]:
    with factory() as session:
        return service.verify(session).findings


def raw(db: Engine, sql: str, **params: Any) -> int:
    """Run SQL straight on the database, around the application; rows affected."""
    statement = text(sql)
    dates = [name for name, value in params.items() if isinstance(value, date)]
    if dates:
        statement = statement.bindparams(*(bindparam(name, type_=Date()) for name in dates))
    with db.begin() as connection:
        return int(connection.execute(statement, params).rowcount)


def scalar(db: Engine, sql: str, **params: Any) -> Any:
    with db.connect() as connection:
        return connection.execute(text(sql), params).scalar_one()


def ids(db: Engine, table: str, where: str = "1 = 1", **params: Any) -> list[int]:
    with db.connect() as connection:
        rows = connection.execute(
            text(f"SELECT id FROM {table} WHERE {where} ORDER BY id"), params
        ).scalars()
        return [int(value) for value in rows]


def leaves(db: Engine) -> list[tuple[int, str, int, bytes]]:
    with db.connect() as connection:
        rows = connection.execute(
            text("SELECT idx, kind, ref_id, commitment FROM ledger_leaves ORDER BY idx")
        ).all()
    return [(int(i), str(k), int(r), bytes(c)) for i, k, r, c in rows]


def leaf_of(db: Engine, kind: str, ref_id: int) -> int:
    return int(
        scalar(
            db,
            "SELECT idx FROM ledger_leaves WHERE kind = :kind AND ref_id = :ref",
            kind=kind,
            ref=ref_id,
        )
    )


def versions_of(db: Engine, record_id: int) -> list[int]:
    return ids(db, "record_versions", "record_id = :record", record=record_id)


def event_count(db: Engine) -> int:
    return sum(int(scalar(db, f"SELECT count(*) FROM {table}")) for table in LEDGERED)


# --- appending through the real flows -----------------------------------------------------------


def test_every_new_row_gets_its_leaf_and_the_log_verifies(
    db: Engine, factory: sessionmaker[Session], keys: KeyRing, settings: Settings, world: World
) -> None:
    logged = leaves(db)
    by_kind = Counter(kind for _, kind, _, _ in logged)
    # Three account versions (and 32 more accounts), a listing and a penalty; a list entry
    # from the listing and one from the operator; the dispute's and the repair case's
    # timelines.
    assert by_kind["record.version"] == 5 + 2 * 2**service.STORED_LEVEL
    assert by_kind["list.event"] == 2
    assert by_kind["dispute.event"] >= 1
    assert by_kind["repair.event"] >= 1
    assert [idx for idx, _, _, _ in logged] == list(range(len(logged)))
    for table, kind in KIND_OF_TABLE.items():
        assert sorted(ref for _, k, ref, _ in logged if k == kind) == ids(db, table)
    # A record's versions are logged in version order, each batch's rows in id order.
    account_leaves = [leaf_of(db, "record.version", v) for v in versions_of(db, world.account)]
    assert account_leaves == sorted(account_leaves)

    lkeys = service.ledger_keys(keys, settings)
    events = event_count(db)
    # (On SQLite a session holds the database from its first statement: no second
    # connection inside it.)
    with factory() as session:
        assert service.tree_size(session) == len(logged)
        result = service.verify(session)
        assert result.ok, result.findings
        assert (result.size, result.events) == (len(logged), events)
        # Each commitment opens with its own key on the row as stored.
        committed = {(kind, ref): c for _, kind, ref, c in logged}
        for kind, table in service.KINDS.items():
            for row in session.connection().execute(select(table)).mappings():
                assert service._commitment(lkeys, kind, row) == committed[(kind, row["id"])]
        # The stored nodes are the tree of the leaves.
        hashes = [merkle.leaf_hash(c) for _, _, _, c in logged]
        assert service.root_at(session, len(logged)) == merkle.root_of(hashes)


def test_a_checkpoint_signs_the_tree_and_every_leaf_is_proved(
    factory: sessionmaker[Session], keys: KeyRing, settings: Settings, world: World
) -> None:
    lkeys = service.ledger_keys(keys, settings)
    with transaction(factory) as session:
        stored = service.make_checkpoint(session)
        size, root_bytes, note = stored.size, stored.root, stored.note
        # Asked again at the same size, the same checkpoint.
        assert service.make_checkpoint(session).note == note
        assert not service.periodic_checkpoint(session, min_age_seconds=0)
    checkpoint = open_checkpoint(note, lkeys.verifier, origin=settings.ledger_origin)
    assert (checkpoint.size, checkpoint.root) == (size, bytes(root_bytes))
    # A verifier key string is all an outsider needs.
    assert open_checkpoint(note, type(lkeys.verifier).parse(lkeys.verifier.vkey)) == checkpoint
    with factory() as session:
        assert service.get_checkpoint(session).size == size
        assert service.get_checkpoint(session, size).note == note
        with pytest.raises(NotFoundError):
            service.get_checkpoint(session, size + 1)
        for index in range(size):
            proof = service.inclusion(session, index, size)
            assert (proof.leaf_index, proof.tree_size) == (index, size)
            assert merkle.verify_inclusion(
                proof.leaf_hash, index, size, list(proof.proof), checkpoint.root
            )
            assert not merkle.verify_inclusion(
                proof.leaf_hash, index, size, list(proof.proof), merkle.EMPTY_ROOT
            )
        with pytest.raises(service.LedgerError):
            service.inclusion(session, size, size)
        with pytest.raises(service.LedgerError):
            service.inclusion(session, 0, size + 1)


def test_report_proofs_open_offline(
    db: Engine, factory: sessionmaker[Session], keys: KeyRing, settings: Settings, world: World
) -> None:
    """What a report carries for its items checks against the signed checkpoint alone."""
    lkeys = service.ledger_keys(keys, settings)
    version_ids = ids(db, "record_versions")
    with transaction(factory) as session:
        # The events are formed from the versions as loaded; each must open its leaf.
        versions = session.scalars(select(RecordVersion).order_by(RecordVersion.id)).all()
        proofs = service.record_version_proofs(session, versions)
        # Leaf indexes the caller read with its versions (a report's file) give the same,
        # as do the upper subtrees kept for the checkpoint from the first call.
        indexes = {ref_id: item.leaf_index for ref_id, item in proofs.items.items()}
        assert service.record_version_proofs(session, versions, indexes) == proofs
        kept = service._upper_nodes(proofs.checkpoint)
        floor = service._upper_floor(proofs.checkpoint.size)
        assert all(level >= floor for level, _ in kept)
        fetched = service.fetch_nodes(session, kept)
        assert fetched == kept
    checkpoint = open_checkpoint(proofs.checkpoint.note, lkeys.verifier)
    assert checkpoint.size == service_size(factory)
    assert sorted(proofs.items) == version_ids
    for ref_id, item in proofs.items.items():
        event = json.loads(json.dumps(item.event))  # as a report's reader gets it
        assert (event["id"], event["kind"]) == (ref_id, "record.version")
        assert item.opening_key == lkeys.opening_key("record.version", ref_id)
        assert service.check_event_proof(
            event, item.opening_key, item.leaf_index, item.proof, checkpoint
        )
        altered = {**event, "valid_from": "1999-01-01"}
        assert not service.check_event_proof(
            altered, item.opening_key, item.leaf_index, item.proof, checkpoint
        )
        other_key = lkeys.opening_key("record.version", ref_id + 1)
        assert not service.check_event_proof(
            event, other_key, item.leaf_index, item.proof, checkpoint
        )


def test_a_file_read_with_its_leaves_names_each_versions_leaf(
    factory: sessionmaker[Session], keys: KeyRing, world: World
) -> None:
    """A report reads its items' leaves with the file: the same leaves the ledger holds."""
    seen = 0
    with factory() as session:
        for subject in session.scalars(select(Subject).order_by(Subject.id)):
            credit_file = assemble_file(
                session, keys, get_profile("cn"), subject, date.today(), for_report=True
            )
            for item in credit_file.items:
                assert item.leaf_index is not None
                assert item.leaf_index == session.scalar(
                    select(LedgerLeaf.idx).where(
                        LedgerLeaf.kind == "record.version", LedgerLeaf.ref_id == item.version.id
                    )
                )
                seen += 1
            plain = assemble_file(session, keys, get_profile("cn"), subject, date.today())
            assert [item.leaf_index for item in plain.items] == [None] * len(plain.items)
    assert seen > 0


def service_size(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return service.tree_size(session)


def test_consistency_between_two_checkpoints(
    tmp_path: Path,
    db: Engine,
    factory: sessionmaker[Session],
    keys: KeyRing,
    settings: Settings,
    world: World,
    make_institution: MakeInstitution,
) -> None:
    lkeys = service.ledger_keys(keys, settings)
    with transaction(factory) as session:
        first = open_checkpoint(service.make_checkpoint(session).note, lkeys.verifier)
    more = make_institution("bank-m", record_types=["credit_account"])
    Furnish(tmp_path, factory, keys, more)(
        account_row(new_resident_id(), "M-1"), account_row(new_resident_id(), "M-2")
    )
    with transaction(factory) as session:
        assert service.periodic_checkpoint(session, min_age_seconds=0)
        second = open_checkpoint(service.get_checkpoint(session).note, lkeys.verifier)
    assert second.size == first.size + 2
    with factory() as session:
        proof = service.consistency(session, first.size, second.size)
        assert merkle.verify_consistency(first.size, second.size, first.root, second.root, proof)
        assert not merkle.verify_consistency(
            first.size, second.size, first.root, second.root, proof[:-1]
        )
        # From every earlier size, too.
        for size in range(1, second.size + 1):
            earlier = service.root_at(session, size)
            assert merkle.verify_consistency(
                size, second.size, earlier, second.root, service.consistency(session, size)
            )
        assert service.consistency(session, second.size) == []
        with pytest.raises(service.LedgerError):
            service.consistency(session, second.size + 1)
        assert service.verify(session).ok


def test_witness_cosignatures(
    factory: sessionmaker[Session], keys: KeyRing, settings: Settings, world: World
) -> None:
    lkeys = service.ledger_keys(keys, settings)
    witness = Signer.from_seed("witness.example.org", b"\x0b" * 32, COSIGNATURE_V1)
    with transaction(factory) as session:
        with pytest.raises(NoteError):  # a log (0x01) key is no witness key
            service.add_witness(session, Signer.from_seed("w2", b"\x01" * 32).verifier.vkey)
        service.add_witness(session, witness.verifier.vkey, "a test witness")
        with pytest.raises(service.LedgerError):
            service.add_witness(session, witness.verifier.vkey)
        checkpoint = service.make_checkpoint(session)
        body = SignedNote.parse(checkpoint.note).text
        line = cosign(body, witness, 1_764_000_000)
        service.add_cosignature(session, checkpoint.size, line.text())
        stranger = Signer.from_seed("stranger.example", b"\x0c" * 32, COSIGNATURE_V1)
        with pytest.raises(NoteError):
            service.add_cosignature(session, checkpoint.size, cosign(body, stranger, 1).text())
        with pytest.raises(NoteError):  # the witness's signature on another body
            service.add_cosignature(
                session,
                checkpoint.size,
                cosign(Checkpoint("x", 1, b"\x00" * 32).body(), witness, 1).text(),
            )
        note = service.cosigned_note(session, checkpoint)
    assert open_checkpoint(note, lkeys.verifier).size == checkpoint.size
    found = SignedNote.parse(note).find(witness.verifier)
    assert found is not None
    assert verify_cosignature(body, found, witness.verifier) == 1_764_000_000
    assert problems(factory) == Counter()


def test_an_empty_ledger_verifies_and_checkpoints(
    db: Engine, factory: sessionmaker[Session], keys: KeyRing, settings: Settings
) -> None:
    with transaction(factory) as session:
        assert service.tree_size(session) == 0
        assert service.verify(session).ok
        checkpoint = service.make_checkpoint(session)
    opened = open_checkpoint(checkpoint.note, service.ledger_keys(keys, settings).verifier)
    assert (opened.size, opened.root) == (0, merkle.EMPTY_ROOT)


# --- transactions ---------------------------------------------------------------------------


def _operator_entry(session: Session, subject_id: int) -> None:
    subject = session.get(Subject, subject_id)
    assert subject is not None
    lists_service.create_entry(
        session,
        operator(),
        subject,
        EntryCreate(
            subject=SubjectSelector(subject_id=subject_id),
            list_type="abnormal_operations",
            ground="no_annual_report",
            authority="北京市朝阳区市场监督管理局",
            reason="annual report not published",
        ),
    )


def test_a_rolled_back_transaction_leaves_no_leaf_and_no_row(
    db: Engine, factory: sessionmaker[Session], keys: KeyRing, world: World
) -> None:
    company = make_subject(factory, keys, "uscc", new_uscc())
    size, events = service_size(factory), event_count(db)
    with factory() as session:
        _operator_entry(session, company)
        session.flush()
        session.rollback()
        # Nothing of the rolled-back work is appended by a later commit of the session.
        session.commit()
    assert (service_size(factory), event_count(db)) == (size, events)

    # The append fails inside the commit: the event rows go with it.
    original = service.append_leaves

    def failing(session: Session, entries: Any) -> range:
        original(session, entries)
        raise RuntimeError("disk full")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "append_leaves", failing)
        with pytest.raises(RuntimeError, match="disk full"), transaction(factory) as session:
            _operator_entry(session, company)
    assert (service_size(factory), event_count(db)) == (size, events)
    assert int(scalar(db, "SELECT count(*) FROM ledger_leaves")) == size

    # And a committed one appends exactly its event.
    with transaction(factory) as session:
        _operator_entry(session, company)
    assert (service_size(factory), event_count(db)) == (size + 1, events + 1)
    assert leaves(db)[-1][1] == "list.event"
    assert problems(factory) == Counter()


def test_a_session_without_ledger_keys_refuses_to_commit_a_record_event(
    tmp_path: Path,
    db: Engine,
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_institution: MakeInstitution,
) -> None:
    bare = make_session_factory(db)
    company = make_subject(factory, keys, "uscc", new_uscc())
    before = event_count(db)
    with pytest.raises(ConfigurationError), transaction(bare) as session:
        _operator_entry(session, company)
    assert event_count(db) == before
    # Work that logs nothing commits as before.
    make_subject(bare, keys, "uscc", new_uscc())
    # Nor does a batch commit record versions without the keys.
    bank = make_institution("bank-n", record_types=["credit_account"])
    with pytest.raises(ConfigurationError):
        Furnish(tmp_path, bare, keys, bank)(account_row(new_resident_id(), "N-1"))
    assert int(scalar(db, "SELECT count(*) FROM record_versions")) == 0
    assert service_size(factory) == 0


def test_ledger_keys_from_configuration(tmp_path: Path, keys: KeyRing) -> None:
    base = Settings(data_dir=tmp_path, database_url="sqlite://")
    derived = service.ledger_keys(keys, base)
    assert derived.verifier == service.ledger_keys(keys, base).verifier  # stable
    assert derived.origin == base.ledger_origin == derived.signer.name
    assert "<keys>" in repr(derived)
    other_ring = KeyRing(b"\x01" * 32, b"\x02" * 32)
    assert service.ledger_keys(other_ring, base).verifier != derived.verifier
    own = Signer.from_seed("credit.example.cn/ledger", b"\x03" * 32)
    configured = service.ledger_keys(
        keys, Settings(data_dir=tmp_path, database_url="sqlite://", ledger_signing_key=own.skey)
    )
    assert configured.verifier == own.verifier
    assert configured.commitment_key == derived.commitment_key
    witness_key = Signer.from_seed("w", b"\x03" * 32, COSIGNATURE_V1).skey
    for bad in ("not a key", witness_key):
        with pytest.raises(ConfigurationError):
            service.ledger_keys(keys, Settings(data_dir=tmp_path, ledger_signing_key=bad))


# --- tampering, straight on the database, after a checkpoint --------------------------------------


def test_modified_record_version_columns_are_detected(
    db: Engine, factory: sessionmaker[Session], checkpointed: World
) -> None:
    first, second = versions_of(db, checkpointed.account)
    assert (
        raw(
            db,
            "UPDATE record_versions SET valid_from = :d WHERE id = :id",
            d=date(2020, 1, 1),
            id=first,
        )
        == 1
    )
    assert (
        raw(
            db,
            "UPDATE record_versions SET content_ct = :ct WHERE id = :id",
            ct=b"\x00" * 48,
            id=second,
        )
        == 1
    )
    found = findings(factory)
    assert Counter(f.problem for f in found) == Counter({"modified": 2})
    assert {f.detail.split(" differs")[0] for f in found} == {
        f"record.version {first}",
        f"record.version {second}",
    }


@pytest.mark.parametrize("table", ["list_entry_events", "dispute_events", "repair_events"])
def test_a_modified_event_reason_is_detected(
    db: Engine, factory: sessionmaker[Session], checkpointed: World, table: str
) -> None:
    event = ids(db, table)[0]
    assert raw(db, f"UPDATE {table} SET reason = 'rewritten' WHERE id = :id", id=event) == 1
    [finding] = findings(factory)
    assert finding.problem == "modified"
    assert finding.detail.startswith(f"{KIND_OF_TABLE[table]} {event} ")


@pytest.mark.parametrize("table", ["dispute_events", "list_entry_events", "record_versions"])
def test_a_deleted_event_row_is_detected(
    db: Engine, factory: sessionmaker[Session], checkpointed: World, table: str
) -> None:
    if table == "record_versions":  # the newest version of the record with two
        event = versions_of(db, checkpointed.account)[-1]
    else:
        event = ids(db, table)[-1]
    assert raw(db, f"DELETE FROM {table} WHERE id = :id", id=event) == 1
    [finding] = findings(factory)
    assert finding.problem == "deleted"
    assert finding.detail.startswith(f"{KIND_OF_TABLE[table]} {event} ")


def test_an_inserted_record_version_is_detected(
    db: Engine, factory: sessionmaker[Session], checkpointed: World
) -> None:
    last = versions_of(db, checkpointed.account)[-1]
    columns = (
        "record_id, version, operation, content_ct, content_hash, catalog_version, valid_from, "
        "valid_to, furnisher_id, batch_id, batch_row, received_at, reason_ct"
    )
    copied = columns.replace("version,", "version + 1,", 1).replace("batch_row", "batch_row + 1000")
    assert (
        raw(
            db,
            f"INSERT INTO record_versions ({columns}) "
            f"SELECT {copied} FROM record_versions WHERE id = :id",
            id=last,
        )
        == 1
    )
    inserted = versions_of(db, checkpointed.account)[-1]
    [finding] = findings(factory)
    assert finding.problem == "inserted"
    assert finding.detail.startswith(f"record.version {inserted} ")


def test_an_inserted_list_event_is_detected(
    db: Engine, factory: sessionmaker[Session], checkpointed: World
) -> None:
    entry = ids(db, "list_entries")[0]
    raw(
        db,
        "INSERT INTO list_entry_events (entry_id, event, status, occurred_at, actor, role, "
        "reason, details) SELECT entry_id, 'removed', 'removed', occurred_at, actor, role, "
        "'quietly', details FROM list_entry_events WHERE entry_id = :entry",
        entry=entry,
    )
    assert problems(factory) == Counter({"inserted": 1})


def test_swapped_version_numbers_are_detected(
    db: Engine, factory: sessionmaker[Session], checkpointed: World
) -> None:
    first, second = versions_of(db, checkpointed.account)
    update = "UPDATE record_versions SET version = :v WHERE id = :id"
    raw(db, update, v=-1, id=first)
    raw(db, update, v=1, id=second)
    raw(db, update, v=2, id=first)
    found = problems(factory)
    assert found["reordered"] == 1
    assert set(found) == {"reordered", "modified"}


def _swap_leaves(db: Engine, a: int, b: int, columns: tuple[str, ...]) -> None:
    """Swap the given columns of leaves ``a`` and ``b`` (around the (kind, ref_id) key)."""
    with db.connect() as connection:
        values = {
            idx: connection.execute(
                text(f"SELECT {', '.join(columns)} FROM ledger_leaves WHERE idx = :idx"),
                {"idx": idx},
            ).one()
            for idx in (a, b)
        }
    sets = ", ".join(f"{c} = :{c}" for c in columns)
    if "ref_id" in columns:  # out of the way of the unique (kind, ref_id) first
        raw(db, "UPDATE ledger_leaves SET ref_id = -1 - ref_id WHERE idx = :idx", idx=a)
    raw(db, f"UPDATE ledger_leaves SET {sets} WHERE idx = :idx", idx=b, **dict(values[a]._mapping))
    raw(db, f"UPDATE ledger_leaves SET {sets} WHERE idx = :idx", idx=a, **dict(values[b]._mapping))


def test_reordered_leaves_are_detected(
    db: Engine, factory: sessionmaker[Session], checkpointed: World
) -> None:
    """Two versions' leaves swapped whole: each commitment still opens, the order does not."""
    first, second = versions_of(db, checkpointed.account)
    a, b = leaf_of(db, "record.version", first), leaf_of(db, "record.version", second)
    _swap_leaves(db, a, b, ("ref_id", "commitment"))
    assert leaf_of(db, "record.version", first) == b
    found = problems(factory)
    assert found["reordered"] == 1
    assert "modified" not in found
    assert set(found) == {"reordered", "tree"}


def test_swapped_leaf_commitments_are_detected(
    db: Engine, factory: sessionmaker[Session], checkpointed: World
) -> None:
    logged = leaves(db)
    _swap_leaves(db, 0, len(logged) - 1, ("commitment",))
    found = problems(factory)
    assert found["modified"] == 2
    assert set(found) == {"modified", "tree"}


def test_swapped_leaf_kinds_are_detected(
    db: Engine, factory: sessionmaker[Session], checkpointed: World
) -> None:
    logged = leaves(db)
    taken = {(kind, ref) for _, kind, ref, _ in logged}
    pair = next(
        (x, y)
        for x in logged
        for y in logged
        if x[1] == "list.event"
        and y[1] == "dispute.event"
        and (x[2] == y[2] or ({(y[1], x[2]), (x[1], y[2])}.isdisjoint(taken)))
    )
    _swap_leaves(
        db, pair[0][0], pair[1][0], ("kind", "ref_id") if pair[0][2] == pair[1][2] else ("kind",)
    )
    found = problems(factory)
    # A leaf hash covers the commitment only, which is keyed by kind and id: the tree is
    # intact, but each relabelled leaf no longer opens on its event.
    if pair[0][2] == pair[1][2]:  # same ids: both leaves now name the other's event
        assert found == Counter({"modified": 2})
    else:  # each event lost its leaf, each leaf names an event that does not exist
        assert found == Counter({"inserted": 2, "deleted": 2})


def test_a_deleted_leaf_is_detected(
    db: Engine, factory: sessionmaker[Session], checkpointed: World
) -> None:
    size = service_size(factory)
    middle = size // 2
    _, kind, ref_id, _ = leaves(db)[middle]
    assert raw(db, "DELETE FROM ledger_leaves WHERE idx = :idx", idx=middle) == 1
    found = findings(factory)
    problem_set = Counter(f.problem for f in found)
    assert problem_set["deleted"] == 1
    assert problem_set["inserted"] == 1
    assert f"leaves {middle}..{middle} are missing from the log" in {f.detail for f in found}
    assert f"{kind} {ref_id} is in the database but not in the log" in {f.detail for f in found}
    assert set(problem_set) <= {"deleted", "inserted", "tree"}
    assert problem_set["tree"] >= 1  # the stored leaf node and the checkpoint's root


def test_the_newest_leaf_deleted_is_detected(
    db: Engine, factory: sessionmaker[Session], checkpointed: World
) -> None:
    size = service_size(factory)
    assert raw(db, "DELETE FROM ledger_leaves WHERE idx = :idx", idx=size - 1) == 1
    found = problems(factory)
    assert found["inserted"] == 1
    assert found["tree"] >= 1  # the head says one more leaf than the log holds
    assert found["checkpoint"] == 1  # the checkpoint covers a leaf that is gone
    # Hiding it from the head as well does not help.
    raw(db, "UPDATE ledger_head SET size = size - 1")
    for level in range(service.STORED_LEVEL, size.bit_length()):
        if size % (1 << level) == 0:  # a stored subtree ends at that leaf
            raw(
                db,
                "DELETE FROM ledger_nodes WHERE level = :l AND idx = :i",
                l=level,
                i=(size >> level) - 1,
            )
    assert {"inserted", "checkpoint"} <= set(problems(factory))


def test_a_modified_leaf_commitment_is_detected(
    db: Engine, factory: sessionmaker[Session], checkpointed: World
) -> None:
    raw(db, "UPDATE ledger_leaves SET commitment = :c WHERE idx = 1", c=b"\x11" * 32)
    found = problems(factory)
    assert found["modified"] == 1
    assert set(found) == {"modified", "tree"}


def test_a_changed_stored_node_is_detected_and_breaks_its_proofs(
    db: Engine,
    factory: sessionmaker[Session],
    keys: KeyRing,
    settings: Settings,
    checkpointed: World,
) -> None:
    size = service_size(factory)
    assert size > 20
    assert (
        raw(db, "UPDATE ledger_nodes SET hash = :h WHERE level = 4 AND idx = 0", h=b"\x22" * 32)
        == 1
    )
    [finding] = findings(factory)
    assert finding.problem == "tree"
    assert "(4, 0)" in finding.detail
    # Proofs are served from stored nodes: one that reads the altered node fails to verify.
    with factory() as session:
        checkpoint = open_checkpoint(
            service.get_checkpoint(session).note, service.ledger_keys(keys, settings).verifier
        )
        proof = service.inclusion(session, 20, size)  # its sibling: leaves 0..15
    assert not merkle.verify_inclusion(
        proof.leaf_hash, 20, size, list(proof.proof), checkpoint.root
    )


def test_a_missing_stored_node_is_detected_and_refuses_proofs(
    db: Engine, factory: sessionmaker[Session], checkpointed: World
) -> None:
    size = service_size(factory)
    raw(db, "DELETE FROM ledger_nodes WHERE level = 4 AND idx = 0")
    assert set(problems(factory)) == {"tree"}
    with factory() as session, pytest.raises(service.LedgerError, match="missing"):
        service.inclusion(session, 20, size)


def test_low_subtrees_come_from_the_leaves(
    db: Engine, factory: sessionmaker[Session], checkpointed: World
) -> None:
    """Below 16 leaves nothing is stored: proofs hash the leaves, so a changed or missing
    leaf shows in them."""
    size = service_size(factory)
    with db.connect() as connection:
        low = connection.execute(
            text("SELECT COUNT(*) FROM ledger_nodes WHERE level < :l"), {"l": service.STORED_LEVEL}
        ).scalar_one()
    assert low == 0
    tree = merkle.Frontier()
    for _, _, _, value in leaves(db):
        tree.append(merkle.leaf_hash(value))
    with factory() as session:
        proof = service.inclusion(session, 5, size)
        assert service.root_at(session, size) == tree.root()
    assert merkle.verify_inclusion(proof.leaf_hash, 5, size, list(proof.proof), tree.root())
    raw(db, "UPDATE ledger_leaves SET commitment = :c WHERE idx = 4", c=b"\x11" * 32)
    with factory() as session:
        altered = service.inclusion(session, 5, size)
    assert not merkle.verify_inclusion(altered.leaf_hash, 5, size, list(altered.proof), tree.root())
    raw(db, "DELETE FROM ledger_leaves WHERE idx = 4")
    with factory() as session, pytest.raises(service.LedgerError, match="missing"):
        service.inclusion(session, 5, size)


@pytest.mark.parametrize(
    "sql",
    [
        # The size in the note's text: the signature no longer verifies.
        "UPDATE ledger_checkpoints SET note = REPLACE(note, :size_line, :other_line)",
        # A character of the signature.
        "UPDATE ledger_checkpoints SET note = REPLACE(note, :sig, :other_sig)",
        # The stored root beside a still valid note.
        "UPDATE ledger_checkpoints SET root = :root",
        # A note signed by someone else.
        "UPDATE ledger_checkpoints SET note = :foreign",
    ],
    ids=["text", "signature", "root-column", "foreign-key"],
)
def test_an_altered_checkpoint_is_detected(
    db: Engine, factory: sessionmaker[Session], checkpointed: World, sql: str
) -> None:
    with factory() as session:
        stored = service.get_checkpoint(session)
        note, size = stored.note, stored.size
    signed = SignedNote.parse(note)
    encoded = signed.signatures[0].text().split(" ")[-1].strip()
    other_sig = encoded[:10] + ("A" if encoded[10] != "A" else "B") + encoded[11:]
    foreign = (
        SignedNote(signed.text, ())
        .with_signature(
            SignedNote.parse(
                _sign(
                    signed.text,
                    Signer.from_seed(Checkpoint.parse(signed.text).origin, b"\x0d" * 32),
                )
            ).signatures[0]
        )
        .render()
    )
    params = {
        "size_line": f"\n{size}\n",
        "other_line": f"\n{size + 1}\n",
        "sig": encoded,
        "other_sig": other_sig,
        "root": b"\x33" * 32,
        "foreign": foreign,
    }
    used = {name: value for name, value in params.items() if f":{name}" in sql}
    assert raw(db, sql, **used) == 1
    [finding] = findings(factory)
    assert finding.problem == "checkpoint"
    assert finding.detail.startswith(f"checkpoint {size}:")


def _sign(body: str, signer: Signer) -> str:
    from xinyong.ledger.note import sign_note

    return sign_note(body, signer).render()


def test_a_rewritten_history_fails_the_checkpoint_even_with_nodes_recomputed(
    db: Engine,
    factory: sessionmaker[Session],
    keys: KeyRing,
    settings: Settings,
    checkpointed: World,
) -> None:
    """Someone who can write the database but not sign: rewrite an event, its leaf and every
    stored node consistently. Only the signed checkpoint still tells."""
    lkeys = service.ledger_keys(keys, settings)
    event = ids(db, "dispute_events")[0]
    raw(db, "UPDATE dispute_events SET reason = 'rewritten' WHERE id = :id", id=event)
    with factory() as session:
        row = (
            session.connection()
            .execute(
                select(service.KINDS["dispute.event"]).where(
                    service.KINDS["dispute.event"].c.id == event
                )
            )
            .mappings()
            .one()
        )
        # The insider knows the commitment key (it derives from the data keys).
        commitment = service._commitment(lkeys, "dispute.event", row)
    idx = leaf_of(db, "dispute.event", event)
    raw(db, "UPDATE ledger_leaves SET commitment = :c WHERE idx = :idx", c=commitment, idx=idx)
    tree = merkle.Frontier()
    raw(db, "DELETE FROM ledger_nodes")
    for _, _, _, value in leaves(db):
        for level, index, digest in tree.append(merkle.leaf_hash(value)):
            if level < service.STORED_LEVEL:
                continue
            raw(
                db,
                "INSERT INTO ledger_nodes (level, idx, hash) VALUES (:l, :i, :h)",
                l=level,
                i=index,
                h=digest,
            )
    [finding] = findings(factory)
    assert finding.problem == "tree"
    assert "root signed in that checkpoint" in finding.detail


def test_appending_goes_on_after_a_checkpoint(
    tmp_path: Path,
    db: Engine,
    factory: sessionmaker[Session],
    keys: KeyRing,
    checkpointed: World,
    make_institution: MakeInstitution,
) -> None:
    """The head, the frontier and the stored nodes carry over from one commit to the next."""
    bank = make_institution("bank-o", record_types=["credit_account"])
    furnish = Furnish(tmp_path, factory, keys, bank)
    for n in range(3):
        furnish(account_row(new_resident_id(), f"O-{n}"))
        with transaction(factory) as session:
            service.make_checkpoint(session)
    with factory() as session:
        result = service.verify(session)
    assert result.ok, result.findings
    assert result.checkpoints == 4
    assert (
        result.latest_checkpoint
        == result.size
        == int(scalar(db, "SELECT count(*) FROM ledger_leaves"))
    )
    assert result.events == event_count(db)
    with factory() as session:
        assert (
            session.scalars(select(LedgerLeaf.kind).order_by(LedgerLeaf.idx.desc())).first()
            == "record.version"
        )


@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_a_batch_in_chunks_logs_each_new_version_once(
    tmp_path: Path,
    db: Engine,
    factory: sessionmaker[Session],
    keys: KeyRing,
    make_institution: MakeInstitution,
    workers: int,
) -> None:
    """Chunks commit one by one; unchanged and rejected rows make no version and no leaf."""
    bank = make_institution("bank-p", record_types=["credit_account"])
    people = [new_resident_id() for _ in range(5)]
    rows = [account_row(p, f"P-{i}") for i, p in enumerate(people)]
    path = write_jsonl(tmp_path / "first.jsonl", rows)
    result = ingest_path(factory, keys, bank.id, path, chunk_rows=2, workers=workers)
    assert result.rows.rejected == 0
    assert service_size(factory) == 5
    # Again, with one row changed, one row invalid and the rest unchanged.
    rows[1] = {**rows[1], "balance": "1.00"}
    rows.append(account_row("123", "P-bad"))
    path = write_jsonl(tmp_path / "second.jsonl", rows)
    result = ingest_path(factory, keys, bank.id, path, chunk_rows=2, workers=workers)
    assert result.rows.rejected == 1
    assert service_size(factory) == 6
    assert int(scalar(db, "SELECT count(*) FROM record_versions")) == 6
    assert problems(factory) == Counter()


def test_a_rolled_back_savepoint_logs_nothing(
    db: Engine, factory: sessionmaker[Session], keys: KeyRing
) -> None:
    first = make_subject(factory, keys, "uscc", new_uscc())
    second = make_subject(factory, keys, "uscc", new_uscc())
    with transaction(factory) as session:
        nested = session.begin_nested()
        _operator_entry(session, first)
        session.flush()
        nested.rollback()
        _operator_entry(session, second)
    assert event_count(db) == service_size(factory) == 1
    assert problems(factory) == Counter()


def test_concurrent_writers_append_in_turn(
    db: Engine, factory: sessionmaker[Session], keys: KeyRing
) -> None:
    """Writers in several threads: every event gets one leaf, the tree stays whole."""
    subjects = [make_subject(factory, keys, "uscc", new_uscc()) for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(subjects))

    def write(subject_id: int) -> None:
        try:
            start.wait()
            for _ in range(3):
                with transaction(factory) as session:
                    _operator_entry(session, subject_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s,)) for s in subjects]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert event_count(db) == service_size(factory) == 12
    assert [idx for idx, _, _, _ in leaves(db)] == list(range(12))
    assert problems(factory) == Counter()


def test_the_low_nodes_migration_goes_both_ways(
    db: Engine, factory: sessionmaker[Session], checkpointed: World
) -> None:
    """Downgrading to 0010 recomputes the subtrees below level 4 that 0011 dropped."""
    from xinyong import migrate

    size = service_size(factory)
    tree = merkle.Frontier()
    expected: set[tuple[int, int, bytes]] = set()
    for _, _, _, value in leaves(db):
        expected.update(tree.append(merkle.leaf_hash(value)))

    def stored() -> set[tuple[int, int, bytes]]:
        with db.connect() as connection:
            rows = connection.execute(text("SELECT level, idx, hash FROM ledger_nodes"))
            return {(int(level), int(idx), bytes(value)) for level, idx, value in rows}

    assert stored() == {node for node in expected if node[0] >= service.STORED_LEVEL}
    try:
        migrate.downgrade(db, "0010")
        assert stored() == expected
        # Every complete subtree, leaves included: 2n minus one per set bit of n.
        assert len(expected) == 2 * size - bin(size).count("1")
    finally:
        migrate.upgrade(db)
    assert stored() == {node for node in expected if node[0] >= service.STORED_LEVEL}
    assert set(problems(factory)) == set()


def test_nodes_and_leaves_far_out_in_a_large_tree(session: Session) -> None:
    """Keys are passed to the database packed or as arrays: large indexes and spans longer
    than one packed span come back whole."""
    far = 2**40
    commitments = {far + offset: bytes([offset]) * 32 for offset in range(16)}
    session.execute(
        LedgerLeaf.__table__.insert(),
        [
            {"idx": idx, "kind": "test", "ref_id": idx, "commitment": value, "created_at": utcnow()}
            for idx, value in commitments.items()
        ],
    )
    high = (37, far >> 37)
    session.execute(
        LedgerNode.__table__.insert(), [{"level": 37, "idx": high[1], "hash": b"h" * 32}]
    )
    low = (3, far >> 3)  # the first 8 far leaves, hashed from the leaves
    found = service.fetch_nodes(session, {high, low, (0, far + 15)})
    leaves = [merkle.leaf_hash(commitments[far + offset]) for offset in range(8)]
    assert found == {
        high: b"h" * 32,
        low: merkle.root_of(leaves),
        (0, far + 15): merkle.leaf_hash(commitments[far + 15]),
    }
    assert service._packed_spans([(far, far + 70_000)]) == [
        far << 16 | 0xFFFF,
        (far + 0xFFFF) << 16 | (70_000 - 0xFFFF),
    ]


def test_upper_subtrees_are_kept_per_checkpoint() -> None:
    """Kept subtrees belong to one (size, root): another tree of the same size, or a later
    checkpoint, starts afresh; only the last two checkpoints are kept."""
    first = service.CheckpointRow(1000, b"a" * 32, "note")
    same_size_other_tree = service.CheckpointRow(1000, b"b" * 32, "note")
    later = service.CheckpointRow(2000, b"c" * 32, "note")
    service._upper_nodes(first)[(9, 0)] = b"x" * 32
    assert service._upper_nodes(first) == {(9, 0): b"x" * 32}
    assert service._upper_nodes(same_size_other_tree) == {}
    assert service._upper_nodes(later) == {}
    assert service._upper_nodes(first) == {}  # evicted when a third came
    assert service._upper_floor(1000) == service.STORED_LEVEL
    assert service._upper_floor(1_000_000) == 20 - 12
