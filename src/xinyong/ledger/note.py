"""Checkpoints as signed notes, in the C2SP formats the transparency-log ecosystem uses.

* A checkpoint (C2SP ``tlog-checkpoint``) is three lines: the log's origin, the tree size
  in decimal, the base64 root hash.
* It is signed as a note (C2SP ``signed-note``): the text, a blank line, then one line per
  signature, ``— <key name> <base64(key id ‖ signature)>``. Ed25519 keys have the id
  ``SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key)[:4]`` and are written as verifier keys
  ``<name>+<id hex>+<base64(0x01 ‖ public key)>`` — the same strings Go's
  ``golang.org/x/mod/sumdb/note`` reads, so other tools can check the platform's notes.
* A witness cosigns (C2SP ``tlog-cosignature``, ``cosignature/v1``): it signs
  ``"cosignature/v1\\ntime <t>\\n" ‖ checkpoint`` with an Ed25519 key of type 0x04, and the
  signature line carries ``key id ‖ t (8 bytes, big-endian) ‖ signature``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from xinyong.errors import XinyongError

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
_DASH = "\u2014 "


class NoteError(XinyongError):
    status = 422
    code = "invalid_note"
    title = "The signed note or key is malformed or does not verify"


def b64(value: bytes) -> str:
    """Standard base64 text, as notes, proofs and keys are written."""
    return base64.b64encode(value).decode()


def key_id(name: str, kind: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")


def _public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    """A public key that checks one kind of signature line (log key or witness key)."""

    name: str
    kind: int
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.kind, self.public_key)

    @property
    def vkey(self) -> str:
        encoded = base64.b64encode(bytes([self.kind]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        # The name has no '+'; base64 may (Go's note package splits the same way).
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("a verifier key is <name>+<hex key id>+<base64 key>")
        name, hex_id, encoded = parts
        _check_name(name)
        try:
            raw = base64.b64decode(encoded, validate=True)
            wanted = bytes.fromhex(hex_id)
        except (binascii.Error, ValueError) as exc:
            raise NoteError("the verifier key's id or key is not valid hex/base64") from exc
        if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
            raise NoteError("only Ed25519 (0x01) and cosignature/v1 (0x04) keys are supported")
        verifier = cls(name, raw[0], raw[1:])
        if verifier.key_id != wanted:
            raise NoteError("the verifier key's id does not match its name and key")
        return verifier

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """An Ed25519 private key with a name: the log's key (0x01) or a witness's (0x04)."""

    name: str
    private_key: Ed25519PrivateKey
    kind: int = ED25519

    def __post_init__(self) -> None:
        _check_name(self.name)

    def __repr__(self) -> str:
        return f"Signer({self.name!r}, <private>)"

    @classmethod
    def from_seed(cls, name: str, seed: bytes, kind: int = ED25519) -> Signer:
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed), kind)

    @classmethod
    def parse(cls, skey: str) -> Signer:
        """``PRIVATE+KEY+<name>+<hex id>+<base64(type ‖ seed)>`` (Go's note format)."""
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a signing key is PRIVATE+KEY+<name>+<hex key id>+<base64 key>")
        try:
            raw = base64.b64decode(parts[4], validate=True)
        except binascii.Error as exc:
            raise NoteError("the signing key is not valid base64") from exc
        if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
            raise NoteError("only Ed25519 (0x01) and cosignature/v1 (0x04) keys are supported")
        signer = cls.from_seed(parts[2], raw[1:], raw[0])
        if signer.verifier.key_id.hex() != parts[3]:
            raise NoteError("the signing key's id does not match its name and key")
        return signer

    @property
    def skey(self) -> str:
        seed = self.private_key.private_bytes_raw()
        encoded = base64.b64encode(bytes([self.kind]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{encoded}"

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.kind, _public_bytes(self.private_key.public_key()))

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


# --- checkpoints --------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
            raise NoteError("a checkpoint is origin, size and root hash, one per line")
        origin, size_text, root_text, *extensions = lines[:-1]
        digits = size_text.isascii() and size_text.isdigit()  # no other scripts' digits
        if not digits or (size_text != "0" and size_text.startswith("0")):
            raise NoteError("the checkpoint's tree size is not a decimal number")
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error as exc:
            raise NoteError("the checkpoint's root hash is not base64") from exc
        if len(root) != 32:
            raise NoteError("the checkpoint's root hash is not 32 bytes")
        return cls(origin, int(size_text), root, tuple(extensions))


@dataclass(frozen=True)
class SignatureLine:
    name: str
    key_id: bytes
    payload: bytes  # after the key id

    def text(self) -> str:
        return f"{_DASH}{self.name} {base64.b64encode(self.key_id + self.payload).decode()}\n"

    @classmethod
    def parse(cls, line: str) -> SignatureLine:
        line = line.rstrip("\n")
        if not line.startswith(_DASH):
            raise NoteError("a signature line starts with an em dash and a space")
        name, _, encoded = line[len(_DASH) :].partition(" ")
        _check_name(name)
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise NoteError("the signature is not valid base64") from exc
        if len(raw) < 5:
            raise NoteError("the signature line is too short")
        return cls(name, raw[:4], raw[4:])


@dataclass(frozen=True)
class SignedNote:
    text: str
    signatures: tuple[SignatureLine, ...]

    def render(self) -> str:
        return self.text + "\n" + "".join(line.text() for line in self.signatures)

    @classmethod
    def parse(cls, note: str) -> SignedNote:
        text, sep, rest = note.partition("\n\n")
        if not sep or not text:
            raise NoteError("a signed note is text, a blank line, then signature lines")
        lines = [line for line in rest.split("\n") if line]
        if not lines or not rest.endswith("\n"):
            raise NoteError("the note has no signature lines")
        return cls(text + "\n", tuple(SignatureLine.parse(line) for line in lines))

    def with_signature(self, line: SignatureLine) -> SignedNote:
        kept = tuple(s for s in self.signatures if (s.name, s.key_id) != (line.name, line.key_id))
        return SignedNote(self.text, (*kept, line))

    def find(self, verifier: Verifier) -> SignatureLine | None:
        for line in self.signatures:
            if line.name == verifier.name and line.key_id == verifier.key_id:
                return line
        return None


def sign_note(text: str, signer: Signer) -> SignedNote:
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("note text must end with a newline and contain no blank line")
    line = SignatureLine(signer.name, signer.verifier.key_id, signer.sign(text.encode()))
    return SignedNote(text, (line,))


def open_checkpoint(note: str, log: Verifier, origin: str | None = None) -> Checkpoint:
    """Parse a signed checkpoint and check the log's signature; raise :class:`NoteError`."""
    signed = SignedNote.parse(note)
    line = signed.find(log)
    if line is None:
        raise NoteError(f"the checkpoint carries no signature by {log.name}")
    if not log.verify(signed.text.encode(), line.payload):
        raise NoteError("the log's signature on the checkpoint does not verify")
    checkpoint = Checkpoint.parse(signed.text)
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"the checkpoint is for {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


# --- cosignatures (cosignature/v1) ----------------------------------------------------------


def cosignature_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()


def cosign(body: str, witness: Signer, timestamp: int) -> SignatureLine:
    if witness.kind != COSIGNATURE_V1:
        raise NoteError("a witness cosigns with a cosignature/v1 (0x04) key")
    signature = witness.sign(cosignature_message(body, timestamp))
    payload = timestamp.to_bytes(8, "big") + signature
    return SignatureLine(witness.name, witness.verifier.key_id, payload)


def verify_cosignature(body: str, line: SignatureLine, witness: Verifier) -> int:
    """Check a witness's cosignature on a checkpoint; returns its timestamp."""
    if witness.kind != COSIGNATURE_V1:
        raise NoteError("the witness key is not a cosignature/v1 key")
    if (line.name, line.key_id) != (witness.name, witness.key_id):
        raise NoteError("the cosignature is not from this witness key")
    if len(line.payload) != 8 + 64:
        raise NoteError("a cosignature is an 8-byte timestamp and a 64-byte signature")
    timestamp = int.from_bytes(line.payload[:8], "big")
    if not witness.verify(cosignature_message(body, timestamp), line.payload[8:]):
        raise NoteError("the witness's cosignature does not verify")
    return timestamp
