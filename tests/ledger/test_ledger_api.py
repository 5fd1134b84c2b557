"""The ledger over real HTTP and from the command line: proofs in reports checked offline,
checkpoints, witnesses and their cosignatures, public proofs."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from reports.helpers import Furnish, new_consent, subject_id_of
from support import MakeInstitution, MakeKey, account_row, auth, cli_in_process, new_resident_id
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Role
from xinyong.ledger import merkle
from xinyong.ledger.note import (
    COSIGNATURE_V1,
    SignedNote,
    Signer,
    Verifier,
    cosign,
    open_checkpoint,
    verify_cosignature,
)
from xinyong.ledger.service import check_event_proof

PROBLEM = "application/problem+json"


@pytest.fixture
def bank(make_institution: MakeInstitution) -> Institution:
    return make_institution("bank-l", record_types=["credit_account"], purposes=["loan_approval"])


@pytest.fixture
def by_bank(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, bank: Institution
) -> Furnish:
    return Furnish(tmp_path, factory, keys, bank)


def _report(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    by_bank: Furnish,
    make_key: MakeKey,
) -> dict[str, Any]:
    person = new_resident_id()
    by_bank(account_row(person, "LOAN-1"), account_row(person, "CARD-2"))
    # A correction: the report carries the second version, proved in the log.
    by_bank(account_row(person, "LOAN-1", balance="999.00"))
    subject_id = subject_id_of(factory, keys, person)
    new_consent(factory, keys, bank, subject_id, ["loan_approval"])
    response = client.post(
        "/v1/reports",
        json={"subject": {"subject_id": subject_id}, "purpose": "loan_approval"},
        headers=auth(make_key(Role.QUERIER, bank)),
    )
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def test_every_report_item_carries_a_proof_to_a_signed_checkpoint(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    by_bank: Furnish,
    make_key: MakeKey,
) -> None:
    report = _report(client, factory, keys, bank, by_bank, make_key)
    assert report["schema_version"] == "1.2"
    vkey = client.get("/v1/ledger/key").json()["vkey"]
    assert report["ledger"]["vkey"] == vkey
    log = Verifier.parse(vkey)
    checkpoint = open_checkpoint(report["ledger"]["checkpoint"], log)
    assert checkpoint.size == report["ledger"]["tree_size"]
    items = report["credit_accounts"]
    assert {(i["record_id"], i["version"]) for i in items} == {
        (items[0]["record_id"], items[0]["version"]),
        (items[1]["record_id"], items[1]["version"]),
    }
    assert sorted(i["version"] for i in items) == [1, 2]
    for item in items:
        ledger = item["ledger"]
        event = ledger["event"]
        assert event["kind"] == "record.version"
        assert (event["record_id"], event["version"]) == (item["record_id"], item["version"])
        # Nothing personal in the logged event: ciphertexts appear only as hashes.
        assert str(event["content_ct"]).startswith("sha256:")
        proof = [base64.b64decode(p) for p in ledger["inclusion_proof"]]
        key = base64.b64decode(ledger["opening_key"])
        assert check_event_proof(event, key, ledger["leaf_index"], proof, checkpoint)
        # The same leaf, proved by the public endpoint, against the same root.
        public = client.get(
            "/v1/ledger/proofs/inclusion",
            params={"index": ledger["leaf_index"], "size": checkpoint.size},
        ).json()
        assert public["proof"] == ledger["inclusion_proof"]
        assert merkle.verify_inclusion(
            base64.b64decode(public["leaf_hash"]),
            ledger["leaf_index"],
            checkpoint.size,
            proof,
            checkpoint.root,
        )


def test_verify_report_offline(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    by_bank: Furnish,
    make_key: MakeKey,
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = _report(client, factory, keys, bank, by_bank, make_key)
    size = report["ledger"]["tree_size"]
    work = tmp_path / "verifier"
    work.mkdir()
    (work / "report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    (work / "log.vkey").write_text(client.get("/v1/ledger/key").json()["vkey"] + "\n")
    note = client.get(f"/v1/ledger/checkpoints/{size}")
    assert note.status_code == 200
    assert note.headers["content-type"].startswith("text/plain")
    (work / "checkpoint.txt").write_text(note.text, encoding="utf-8")
    run = cli_in_process(db_url, work, monkeypatch)
    args = ["--checkpoint", "checkpoint.txt", "--key", "log.vkey"]

    code, out, err = run("ledger", "verify-report", "report.json", *args)
    assert code == 0, err
    assert "report verified" in out
    assert "2 item proof(s)" in out

    def tampered(change: Any) -> tuple[int, str, str]:
        document = json.loads(json.dumps(report))
        change(document)
        (work / "bad.json").write_text(json.dumps(document, ensure_ascii=False))
        return run("ledger", "verify-report", "bad.json", *args)

    def other_leaf(doc: dict[str, Any]) -> None:
        doc["credit_accounts"][0]["ledger"]["leaf_index"] ^= 1

    def other_event(doc: dict[str, Any]) -> None:
        doc["credit_accounts"][0]["ledger"]["event"]["valid_from"] = "2001-01-01"

    def other_content(doc: dict[str, Any]) -> None:
        doc["credit_accounts"][0]["fields"]["balance"] = "1.00"

    for change in (other_leaf, other_event, other_content):
        code, out, err = tampered(change)
        assert code == 1, (change.__name__, out)
        assert "does not verify" in err

    # A checkpoint signed by another key, or a different trusted checkpoint, is refused.
    stranger = Signer.from_seed("xinyong.local/ledger", secrets.token_bytes(32))
    (work / "stranger.vkey").write_text(stranger.verifier.vkey)
    code, _, err = run(
        "ledger",
        "verify-report",
        "report.json",
        "--checkpoint",
        "checkpoint.txt",
        "--key",
        "stranger.vkey",
    )
    assert code == 1
    assert "signature" in err
    code, _, err = run("ledger", "verify-report", "missing.json", *args)
    assert code == 2
    assert "cannot read" in err


def test_checkpoints_consistency_and_witness_cosignatures(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    bank: Institution,
    by_bank: Furnish,
    make_key: MakeKey,
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    operator = auth(make_key(Role.OPERATOR))
    assert client.get("/v1/ledger/checkpoint").status_code == 404
    by_bank(account_row(new_resident_id(), "A-1"))
    first = client.post("/v1/ledger/checkpoints", headers=operator)
    assert first.status_code == 201, first.text
    by_bank(account_row(new_resident_id(), "A-2"), account_row(new_resident_id(), "A-3"))
    # Only operators sign checkpoints on demand.
    querier = auth(make_key(Role.QUERIER, bank))
    denied = client.post("/v1/ledger/checkpoints", headers=querier)
    assert denied.status_code == 403
    assert denied.headers["content-type"] == PROBLEM
    second = client.post("/v1/ledger/checkpoints", headers=operator).json()
    old, new = first.json()["size"], second["size"]
    assert new == old + 2

    log = Verifier.parse(client.get("/v1/ledger/key").json()["vkey"])
    latest = client.get("/v1/ledger/checkpoint").text
    assert open_checkpoint(latest, log).size == new
    proof = client.get("/v1/ledger/proofs/consistency", params={"first": old, "second": new})
    hashes = [base64.b64decode(h) for h in proof.json()["proof"]]
    old_root = base64.b64decode(first.json()["root_hash"])
    new_root = base64.b64decode(second["root_hash"])
    assert merkle.verify_consistency(old, new, old_root, new_root, hashes)
    bad = client.get("/v1/ledger/proofs/consistency", params={"first": new + 5})
    assert bad.status_code == 409
    assert bad.headers["content-type"] == PROBLEM

    # A witness: registered by an operator, cosigns through the CLI, posts its line.
    witness = Signer.from_seed("regulator.example/witness", secrets.token_bytes(32), COSIGNATURE_V1)
    registered = client.post(
        "/v1/ledger/witnesses", json={"vkey": witness.verifier.vkey}, headers=operator
    )
    assert registered.status_code == 201, registered.text
    assert client.get("/v1/ledger/witnesses").json()[0]["name"] == "regulator.example/witness"
    work = tmp_path / "witness"
    work.mkdir()
    (work / "old.txt").write_text(first.json()["note"])
    (work / "new.txt").write_text(latest)
    (work / "proof.json").write_text(proof.text)
    (work / "log.vkey").write_text(log.vkey)
    (work / "witness.key").write_text(witness.skey)
    run = cli_in_process(db_url, work, monkeypatch)
    cosign_args = ["--checkpoint", "new.txt", "--log-key", "log.vkey", "--key", "witness.key"]
    code, line, err = run(
        "ledger",
        "witness",
        "cosign",
        *cosign_args,
        "--previous",
        "old.txt",
        "--proof",
        "proof.json",
    )
    assert code == 0, err
    # A forged history: the witness refuses to cosign.
    (work / "forged.json").write_text(json.dumps({"proof": proof.json()["proof"][::-1]}))
    code, _, err = run(
        "ledger",
        "witness",
        "cosign",
        *cosign_args,
        "--previous",
        "old.txt",
        "--proof",
        "forged.json",
    )
    assert code == 1
    assert "NOT consistent" in err

    posted = client.post(
        f"/v1/ledger/checkpoints/{new}/cosignatures",
        content=line.encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert posted.status_code == 201, posted.text
    cosigned = client.get(f"/v1/ledger/checkpoints/{new}").text
    note = SignedNote.parse(cosigned)
    assert len(note.signatures) == 2
    assert open_checkpoint(cosigned, log).size == new
    found = note.find(witness.verifier)
    assert found is not None
    verify_cosignature(note.text, found, witness.verifier)

    # A cosignature by an unregistered key, or over another checkpoint, is refused.
    intruder = Signer.from_seed("intruder.example", secrets.token_bytes(32), COSIGNATURE_V1)
    for size, signed_line in (
        (new, cosign(note.text, intruder, 1).text()),
        (old, line),
    ):
        refused = client.post(
            f"/v1/ledger/checkpoints/{size}/cosignatures",
            content=signed_line.encode(),
            headers={"Content-Type": "text/plain"},
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == PROBLEM
    missing = client.get("/v1/ledger/checkpoints/999999")
    assert missing.status_code == 404


def test_status_checkpoint_and_verify_from_the_cli(
    fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli_in_process(fresh_db_url, tmp_path, monkeypatch)
    code, out, err = run("ledger", "status")
    assert code == 0, err
    assert "tree size:  0" in out
    code, out, err = run("ledger", "checkpoint")
    assert code == 0, err
    assert out.splitlines()[:2] == ["xinyong.local/ledger", "0"]
    code, out, err = run("ledger", "verify")
    assert code == 0, err
    assert "nothing was altered" in out
    code, out, _ = run("ledger", "keygen", "bank.example/witness", "--witness")
    assert code == 0
    vkey = out.split("vkey: ")[1].strip()
    assert Verifier.parse(vkey).kind == COSIGNATURE_V1
    code, out, err = run("ledger", "witness", "add", vkey, "--description", "a bank")
    assert code == 0, err
    code, out, err = run("ledger", "witness", "add", "not-a-key")
    assert code != 0
    assert "verifier key" in err
    code, out, err = run("ledger", "prove", "0")
    assert code != 0
    assert "not in the tree" in err
