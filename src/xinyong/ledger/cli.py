"""`xinyong ledger`: checkpoints, proofs, full verification, witnesses, offline report checks."""

from __future__ import annotations

import base64
import binascii
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from xinyong.ledger import merkle
from xinyong.ledger.note import (
    COSIGNATURE_V1,
    ED25519,
    NoteError,
    SignedNote,
    Signer,
    Verifier,
    b64,
    cosign,
    open_checkpoint,
)

ledger_app = typer.Typer(
    help="The record ledger: an RFC 9162 Merkle log with signed checkpoints (docs/ledger.md).",
    no_args_is_help=True,
)
witness_app = typer.Typer(help="Witnesses that cosign the log's checkpoints.", no_args_is_help=True)
ledger_app.add_typer(witness_app, name="witness")


def _fail(message: str, code: int = 1) -> typer.Exit:
    from xinyong.cli.main import fail

    return fail(message, code)


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read the {what} {path}: {exc}", 2) from None


def _key_text(value: str) -> str:
    """A key given inline, or the path of a file holding it."""
    path = Path(value)
    return _read(path, "key file").strip() if path.is_file() else value.strip()


def _unb64(values: list[Any], what: str) -> list[bytes]:
    try:
        return [base64.b64decode(str(v), validate=True) for v in values]
    except (binascii.Error, ValueError):
        raise _fail(f"the {what} holds a value that is not base64", 2) from None


@ledger_app.command("status")
def status() -> None:
    """Tree size, the latest checkpoint and the log's public key."""
    from xinyong.cli.context import platform
    from xinyong.cli.main import console
    from xinyong.db import transaction
    from xinyong.ledger import service

    p = platform()
    with transaction(p.factory) as session:
        keys = service.session_keys(session)
        size = service.tree_size(session)
        latest = service.latest_checkpoint(session)
    console.print(f"origin:     {keys.origin}")
    console.print(f"tree size:  {size}")
    if latest is None:
        console.print("checkpoint: none yet (`xinyong ledger checkpoint`)")
    else:
        console.print(
            f"checkpoint: size {latest.size}, signed {latest.created_at.isoformat()}, "
            f"root {b64(latest.root)}"
        )
    console.print(f"vkey:       {keys.verifier.vkey}")


@ledger_app.command("key")
def key() -> None:
    """Print the log's verifier key (give it to witnesses and auditors)."""
    from xinyong.cli.context import platform
    from xinyong.cli.main import console
    from xinyong.ledger.service import ledger_keys

    p = platform()
    console.print(ledger_keys(p.keys, p.settings).verifier.vkey, highlight=False)


@ledger_app.command("keygen")
def keygen(
    name: Annotated[str, typer.Argument(help="Key name: the log's origin, or the witness's name.")],
    witness: Annotated[
        bool, typer.Option("--witness", help="A witness's cosignature/v1 key (type 0x04).")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Write the private key here (mode 0600), not to stdout.")
    ] = None,
) -> None:
    """Generate an Ed25519 signing key and print its verifier key.

    For the log: set the private key as XINYONG_LEDGER_SIGNING_KEY. For a witness: register
    the verifier key with `xinyong ledger witness add` and keep the private key yourself.
    """
    import os
    import secrets

    from xinyong.cli.main import console

    try:
        signer = Signer.from_seed(
            name, secrets.token_bytes(32), COSIGNATURE_V1 if witness else ED25519
        )
    except NoteError as exc:
        raise _fail(exc.detail, 2) from None
    if out is None:
        console.print(signer.skey, highlight=False)
    else:
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise _fail(f"cannot create {out}: {exc}", 2) from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(signer.skey + "\n")
        console.print(f"private key written to {out}")
    console.print(f"vkey: {signer.verifier.vkey}", highlight=False)


@ledger_app.command("checkpoint")
def checkpoint() -> None:
    """Sign a checkpoint of the log as it is now and print it."""
    from xinyong.audit.schemas import StaffAction
    from xinyong.audit.service import record_staff_action
    from xinyong.cli.context import platform
    from xinyong.cli.main import console
    from xinyong.db import transaction
    from xinyong.institutions.schemas import LOCAL_OPERATOR
    from xinyong.ledger import service

    p = platform()
    with transaction(p.factory) as session:
        made = service.make_checkpoint(session)
        record_staff_action(
            session,
            LOCAL_OPERATOR,
            StaffAction.LEDGER_CHECKPOINT,
            target_type="ledger_checkpoint",
            target_id=made.size,
        )
        note = service.cosigned_note(session, made)
    console.print(note, end="", highlight=False, markup=False)


@ledger_app.command("verify")
def verify() -> None:
    """Recompute the whole log from the stored events; exit 1 if anything was altered."""
    from xinyong.cli.context import platform
    from xinyong.cli.main import console
    from xinyong.db import transaction
    from xinyong.ledger import service

    p = platform()
    started = time.perf_counter()
    with transaction(p.factory) as session:
        result = service.verify(session)
    elapsed = time.perf_counter() - started
    console.print(
        f"{result.size} leaves, {result.events} events, {result.checkpoints} checkpoints "
        f"checked in {elapsed:.1f} s",
        highlight=False,
    )
    if result.latest_checkpoint is not None and result.latest_checkpoint < result.size:
        console.print(
            f"{result.size - result.latest_checkpoint} leaves are newer than the latest "
            "checkpoint: sign one (`xinyong ledger checkpoint`) so witnesses can hold them"
        )
    if result.ok:
        console.print("[green]ledger verified: nothing was altered[/green]")
        return
    for finding in result.findings:
        console.print(f"{finding.problem}: {finding.detail}", highlight=False, markup=False)
    raise _fail(f"the ledger does not verify: {len(result.findings)} problem(s)", 1)


@ledger_app.command("prove")
def prove(
    index: Annotated[int, typer.Argument(min=0, help="Leaf index.")],
    size: Annotated[int | None, typer.Option(min=1, help="Tree size (default: now).")] = None,
) -> None:
    """Print the inclusion proof of a leaf as JSON."""
    from xinyong.cli.context import platform
    from xinyong.cli.main import console
    from xinyong.db import transaction
    from xinyong.ledger import service

    p = platform()
    with transaction(p.factory) as session:
        proof = service.inclusion(session, index, size)
    document = {
        "leaf_index": proof.leaf_index,
        "tree_size": proof.tree_size,
        "leaf_hash": b64(proof.leaf_hash),
        "proof": [b64(h) for h in proof.proof],
    }
    console.print_json(json.dumps(document))


@ledger_app.command("consistency")
def consistency(
    first: Annotated[int, typer.Argument(min=0, help="The older tree size.")],
    second: Annotated[
        int | None, typer.Argument(help="The newer tree size (default: now).")
    ] = None,
) -> None:
    """Print the consistency proof between two tree sizes as JSON."""
    from xinyong.cli.context import platform
    from xinyong.cli.main import console
    from xinyong.db import transaction
    from xinyong.ledger import service

    p = platform()
    with transaction(p.factory) as session:
        size = second if second is not None else service.tree_size(session)
        proof = service.consistency(session, first, size)
    document = {"first": first, "second": size, "proof": [b64(h) for h in proof]}
    console.print_json(json.dumps(document))


@witness_app.command("add")
def witness_add(
    vkey: Annotated[str, typer.Argument(help="The witness's verifier key (or a file with it).")],
    description: Annotated[str, typer.Option(help="Who the witness is.")] = "",
) -> None:
    """Register a witness's cosignature/v1 key."""
    from xinyong.audit.schemas import StaffAction
    from xinyong.audit.service import record_staff_action
    from xinyong.cli.context import platform
    from xinyong.cli.main import console
    from xinyong.db import transaction
    from xinyong.institutions.schemas import LOCAL_OPERATOR
    from xinyong.ledger import service

    p = platform()
    with transaction(p.factory) as session:
        witness = service.add_witness(session, _key_text(vkey), description)
        record_staff_action(
            session,
            LOCAL_OPERATOR,
            StaffAction.LEDGER_WITNESS_ADD,
            target_type="ledger_witness",
            target_id=witness.id,
            details={"name": witness.name},
        )
        console.print(f"witness {witness.name} registered (id {witness.id})")


@witness_app.command("list")
def witness_list() -> None:
    """The registered witnesses."""
    from xinyong.cli.context import platform
    from xinyong.cli.main import console
    from xinyong.db import transaction
    from xinyong.ledger import service

    p = platform()
    with transaction(p.factory) as session:
        for witness in service.list_witnesses(session):
            state = "active" if witness.active else "inactive"
            console.print(f"{witness.id}\t{witness.name}\t{state}\t{witness.vkey}", highlight=False)


@witness_app.command("cosign")
def witness_cosign(
    checkpoint_file: Annotated[
        Path, typer.Option("--checkpoint", help="The log's new signed checkpoint.")
    ],
    key_file: Annotated[Path, typer.Option("--key", help="The witness's private key file.")],
    log_key: Annotated[str, typer.Option(help="The log's verifier key (or a file with it).")],
    previous: Annotated[
        Path | None,
        typer.Option(help="The last checkpoint this witness cosigned (omit only the first time)."),
    ] = None,
    proof_file: Annotated[
        Path | None,
        typer.Option("--proof", help="Consistency proof JSON from previous to new size."),
    ] = None,
) -> None:
    """As a witness: check the new checkpoint extends the last one, then print a cosignature.

    Fetch the checkpoint from /v1/ledger/checkpoint and the proof from
    /v1/ledger/proofs/consistency?first=<old>&second=<new>; send the printed line to
    POST /v1/ledger/checkpoints/<new>/cosignatures.
    """
    from xinyong.cli.main import console

    try:
        log = Verifier.parse(_key_text(log_key))
        new = open_checkpoint(_read(checkpoint_file, "checkpoint"), log)
        if previous is not None:
            old = open_checkpoint(_read(previous, "previous checkpoint"), log, new.origin)
            if proof_file is None and old.size not in (0, new.size):
                raise _fail("--proof is needed to check the new checkpoint against --previous", 2)
            proof_doc = json.loads(_read(proof_file, "proof")) if proof_file else {"proof": []}
            hashes = _unb64(list(proof_doc.get("proof", [])), "proof")
            if not merkle.verify_consistency(old.size, new.size, old.root, new.root, hashes):
                raise _fail(
                    f"the checkpoint of size {new.size} is NOT consistent with size {old.size}: "
                    "do not cosign; the log rewrote its history",
                    1,
                )
        signer = Signer.parse(_key_text(str(key_file)))
        body = SignedNote.parse(_read(checkpoint_file, "checkpoint")).text
        line = cosign(body, signer, int(time.time()))
    except NoteError as exc:
        raise _fail(exc.detail, 1) from None
    except json.JSONDecodeError:
        raise _fail("the proof file is not JSON", 2) from None
    console.print(line.text(), end="", highlight=False, markup=False)


@ledger_app.command("verify-report")
def verify_report(
    report_file: Annotated[Path, typer.Argument(help="A credit report as JSON (schema 1.2).")],
    checkpoint_file: Annotated[
        Path,
        typer.Option(
            "--checkpoint", help="A checkpoint you trust, e.g. one fetched from a witness."
        ),
    ],
    key: Annotated[str, typer.Option("--key", help="The log's verifier key (or a file).")],
) -> None:
    """Offline: check a report's digest and every item's ledger proof against a checkpoint."""
    from xinyong.cli.main import console
    from xinyong.ledger.service import check_event_proof
    from xinyong.reports.service import report_digest

    try:
        report = json.loads(_read(report_file, "report"))
    except json.JSONDecodeError:
        raise _fail(f"{report_file} is not JSON", 2) from None
    if not isinstance(report, dict) or "ledger" not in report:
        raise _fail("the report carries no ledger section (schema 1.2 or later)", 2)
    try:
        log = Verifier.parse(_key_text(key))
        trusted = open_checkpoint(_read(checkpoint_file, "checkpoint"), log)
        carried = open_checkpoint(str(report["ledger"]["checkpoint"]), log, trusted.origin)
    except (NoteError, KeyError, TypeError) as exc:
        detail = exc.detail if isinstance(exc, NoteError) else "the report's ledger is malformed"
        raise _fail(detail, 1) from None
    if carried.size != trusted.size or carried.root != trusted.root:
        raise _fail(
            f"the report's checkpoint (size {carried.size}) is not the trusted one (size "
            f"{trusted.size}); fetch /v1/ledger/checkpoints/{carried.size} from the log or a "
            "witness and check that one",
            1,
        )
    problems: list[str] = []
    digest = report.get("digest", {}).get("value")
    if digest != report_digest(report):
        problems.append("the report's digest does not match its content")
    checked = 0
    for item in _items(report):
        ledger = item.get("ledger")
        label = f"record {item.get('record_id')} version {item.get('version')}"
        if not ledger:
            problems.append(f"{label}: no ledger proof")
            continue
        event = ledger.get("event", {})
        if (event.get("record_id"), event.get("version")) != (
            item.get("record_id"),
            item.get("version"),
        ) or event.get("content_hash") != "sha256:" + _sha_hex(item.get("content_hash")):
            problems.append(f"{label}: the logged event is not this item's version")
            continue
        keys = _unb64([ledger.get("opening_key", "")], "opening key")
        proof = _unb64(list(ledger.get("inclusion_proof", [])), "inclusion proof")
        if not check_event_proof(event, keys[0], int(ledger.get("leaf_index", -1)), proof, carried):
            problems.append(f"{label}: the inclusion proof does not verify")
        checked += 1
    for problem in problems:
        console.print(problem, highlight=False, markup=False)
    if problems:
        raise _fail(f"the report does not verify: {len(problems)} problem(s)", 1)
    console.print(
        f"[green]report verified[/green]: digest and {checked} item proof(s) against checkpoint "
        f"{carried.origin} size {carried.size}",
        highlight=False,
    )


def _sha_hex(content_hash: Any) -> str:
    """The event logs sha256 of the stored content hash bytes."""
    import hashlib

    try:
        return hashlib.sha256(bytes.fromhex(str(content_hash))).hexdigest()
    except ValueError:
        return ""


def _items(report: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = list(report.get("credit_accounts", []))
    for section in (report.get("public_records") or {}).values():
        if isinstance(section, list):
            items.extend(section)
    return items
