"""The ledger over HTTP.

Reading the log is public, as in Certificate Transparency: checkpoints, proofs and the log's
key reveal no personal data (leaves are keyed commitments), and witnesses and auditors
outside the platform must be able to check it. Operators sign checkpoints on demand and
register witnesses; a registered witness adds its cosignature, which authenticates itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from xinyong.api.deps import DbSession, Operator
from xinyong.audit.schemas import StaffAction
from xinyong.audit.service import record_staff_action
from xinyong.ledger import service
from xinyong.ledger.models import LedgerCheckpoint, LedgerWitness
from xinyong.ledger.note import NoteError, b64

router = APIRouter(tags=["ledger"])

NOTE_MEDIA_TYPE = "text/plain; charset=utf-8"
MAX_LINE_BYTES = 1000


class CheckpointView(BaseModel):
    size: int
    root_hash: str = Field(description="Base64 RFC 9162 root hash of the first `size` leaves.")
    note: str = Field(
        description="The signed checkpoint (C2SP signed-note), cosignatures included."
    )
    created_at: str


class InclusionProofView(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    proof: list[str] = Field(description="Base64 hashes, leaf upwards (RFC 9162 2.1.3).")


class ConsistencyProofView(BaseModel):
    first: int
    second: int
    proof: list[str] = Field(description="Base64 hashes (RFC 9162 2.1.4).")


class WitnessCreate(BaseModel):
    vkey: str = Field(
        max_length=400,
        description="The witness's cosignature/v1 verifier key, <name>+<hex id>+<base64>.",
    )
    description: str = Field(default="", max_length=500)


class WitnessView(BaseModel):
    id: int
    name: str
    vkey: str
    description: str
    active: bool


def _checkpoint_view(session: DbSession, checkpoint: LedgerCheckpoint) -> CheckpointView:
    return CheckpointView(
        size=checkpoint.size,
        root_hash=b64(checkpoint.root),
        note=service.cosigned_note(session, checkpoint),
        created_at=checkpoint.created_at.isoformat(),
    )


def _witness_view(witness: LedgerWitness) -> WitnessView:
    return WitnessView(
        id=witness.id,
        name=witness.name,
        vkey=witness.vkey,
        description=witness.description,
        active=witness.active,
    )


def _note_response(session: DbSession, checkpoint: LedgerCheckpoint) -> Response:
    return Response(service.cosigned_note(session, checkpoint), media_type=NOTE_MEDIA_TYPE)


@router.get(
    "/v1/ledger/key",
    summary="The log's verifier key (signed-note vkey) and origin (public)",
)
def read_key(request: Request) -> dict[str, str]:
    keys: service.LedgerKeys = request.app.state.ledger
    return {"origin": keys.origin, "vkey": keys.verifier.vkey}


@router.get(
    "/v1/ledger/checkpoint",
    summary="The latest signed checkpoint, as a signed note (public)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def read_latest_checkpoint(session: DbSession) -> Response:
    return _note_response(session, service.get_checkpoint(session))


@router.get(
    "/v1/ledger/checkpoints/{size}",
    summary="The signed checkpoint of a tree size, with cosignatures (public)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def read_checkpoint(session: DbSession, size: Annotated[int, Path(ge=0)]) -> Response:
    return _note_response(session, service.get_checkpoint(session, size))


@router.post(
    "/v1/ledger/checkpoints",
    status_code=status.HTTP_201_CREATED,
    summary="Sign a checkpoint of the log as it is now (operators)",
)
def create_checkpoint(session: DbSession, principal: Operator) -> CheckpointView:
    checkpoint = service.make_checkpoint(session)
    record_staff_action(
        session,
        principal,
        StaffAction.LEDGER_CHECKPOINT,
        target_type="ledger_checkpoint",
        target_id=checkpoint.size,
    )
    return _checkpoint_view(session, checkpoint)


@router.post(
    "/v1/ledger/checkpoints/{size}/cosignatures",
    status_code=status.HTTP_201_CREATED,
    summary="Add a registered witness's cosignature/v1 line to a checkpoint",
    description="The body is the signature line, `— <witness name> <base64>`, as text. The "
    "signature authenticates the witness; no API key is needed.",
)
def add_cosignature(
    session: DbSession,
    size: Annotated[int, Path(ge=0)],
    line: Annotated[bytes, Body(media_type="text/plain")],
) -> CheckpointView:
    if len(line) > MAX_LINE_BYTES:
        raise NoteError(f"a cosignature line is at most {MAX_LINE_BYTES} bytes")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteError("the cosignature line is not UTF-8") from exc
    service.add_cosignature(session, size, text)
    return _checkpoint_view(session, service.get_checkpoint(session, size))


@router.get(
    "/v1/ledger/proofs/inclusion",
    summary="Inclusion proof of a leaf in a tree size (public)",
)
def read_inclusion_proof(
    session: DbSession,
    index: Annotated[int, Query(ge=0)],
    size: Annotated[int | None, Query(ge=1, description="Default: the current size.")] = None,
) -> InclusionProofView:
    proof = service.inclusion(session, index, size)
    return InclusionProofView(
        leaf_index=proof.leaf_index,
        tree_size=proof.tree_size,
        leaf_hash=b64(proof.leaf_hash),
        proof=[b64(p) for p in proof.proof],
    )


@router.get(
    "/v1/ledger/proofs/consistency",
    summary="Consistency proof between two tree sizes (public)",
)
def read_consistency_proof(
    session: DbSession,
    first: Annotated[int, Query(ge=0)],
    second: Annotated[int | None, Query(ge=0, description="Default: the current size.")] = None,
) -> ConsistencyProofView:
    size = second if second is not None else service.tree_size(session)
    proof = service.consistency(session, first, size)
    return ConsistencyProofView(first=first, second=size, proof=[b64(p) for p in proof])


@router.get("/v1/ledger/witnesses", summary="Registered witnesses and their keys (public)")
def read_witnesses(session: DbSession) -> list[WitnessView]:
    return [_witness_view(w) for w in service.list_witnesses(session)]


@router.post(
    "/v1/ledger/witnesses",
    status_code=status.HTTP_201_CREATED,
    summary="Register a witness's key (operators)",
)
def create_witness(session: DbSession, principal: Operator, body: WitnessCreate) -> WitnessView:
    witness = service.add_witness(session, body.vkey, body.description)
    record_staff_action(
        session,
        principal,
        StaffAction.LEDGER_WITNESS_ADD,
        target_type="ledger_witness",
        target_id=witness.id,
        details={"name": witness.name},
    )
    return _witness_view(witness)
