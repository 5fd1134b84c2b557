"""Signed notes, checkpoints and cosignatures (C2SP), and the canonical JSON of events."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyong.ledger import canonical as canonical_module
from xinyong.ledger.canonical import (
    canonical,
    commit,
    event_bytes,
    event_object,
    jsonable,
    opening_key,
)
from xinyong.ledger.merkle import EMPTY_ROOT
from xinyong.ledger.note import (
    COSIGNATURE_V1,
    ED25519,
    Checkpoint,
    NoteError,
    SignatureLine,
    SignedNote,
    Signer,
    Verifier,
    cosign,
    cosignature_message,
    key_id,
    open_checkpoint,
    sign_note,
    verify_cosignature,
)

ORIGIN = "credit.example.cn/ledger"
ROOT = hashlib.sha256(b"some root").digest()

# golang.org/x/mod/sumdb/note's example (note.go, note_test.go).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + "\n\u2014 PeterNeumann "
    + "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
    + "\n"
)


def log_signer(name: str = ORIGIN, seed: bytes = b"\x07" * 32) -> Signer:
    return Signer.from_seed(name, seed)


def witness_signer(name: str = "witness.example.org", seed: bytes = b"\x09" * 32) -> Signer:
    return Signer.from_seed(name, seed, COSIGNATURE_V1)


def signed_checkpoint(size: int = 42, signer: Signer | None = None) -> str:
    return sign_note(Checkpoint(ORIGIN, size, ROOT).body(), signer or log_signer()).render()


# --- keys -------------------------------------------------------------------------------------


def test_go_note_vectors() -> None:
    signer = Signer.parse(GO_SKEY)
    assert signer.name == "PeterNeumann"
    assert signer.kind == ED25519
    assert signer.skey == GO_SKEY
    assert signer.verifier.vkey == GO_VKEY
    assert Verifier.parse(GO_VKEY) == signer.verifier
    # Ed25519 is deterministic: the same note, byte for byte.
    assert sign_note(GO_TEXT, signer).render() == GO_NOTE
    parsed = SignedNote.parse(GO_NOTE)
    assert parsed.text == GO_TEXT
    [line] = parsed.signatures
    assert line.name == "PeterNeumann"
    assert line.key_id.hex() == "c74f20a3"
    assert signer.verifier.verify(GO_TEXT.encode(), line.payload)
    tampered = SignedNote.parse(GO_NOTE.replace("cryptography", "cryptographY"))
    assert not signer.verifier.verify(tampered.text.encode(), line.payload)


def test_key_id_known_answer() -> None:
    """SHA-256(name ‖ "\\n" ‖ type ‖ public key), first four bytes."""
    verifier = Verifier.parse(GO_VKEY)
    public = base64.b64decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")[1:]
    assert verifier.public_key == public
    assert key_id("PeterNeumann", ED25519, public) == bytes.fromhex("c74f20a3")
    expected = hashlib.sha256(b"PeterNeumann\n\x01" + public).digest()[:4]
    assert verifier.key_id == expected == bytes.fromhex("c74f20a3")
    # The type byte is part of the id: the same key as a witness key has another id.
    witness_id = hashlib.sha256(b"PeterNeumann\n\x04" + public).digest()[:4]
    assert key_id("PeterNeumann", COSIGNATURE_V1, public) == witness_id != expected
    # And so is the name.
    assert key_id("PeterNeumanN", ED25519, public) != expected


def test_vkey_and_skey_round_trip() -> None:
    for signer in (log_signer(), witness_signer(), Signer.from_seed("a.example/b", b"\x01" * 32)):
        assert Signer.parse(signer.skey).verifier == signer.verifier
        assert Signer.parse(signer.skey).skey == signer.skey
        assert Signer.parse(signer.skey).kind == signer.kind
        assert Verifier.parse(signer.verifier.vkey) == signer.verifier
        name, hex_id, encoded = signer.verifier.vkey.split("+")
        assert name == signer.name
        assert bytes.fromhex(hex_id) == signer.verifier.key_id
        assert base64.b64decode(encoded)[0] == signer.kind
    assert "\\x07" not in repr(log_signer())
    assert "private" in repr(log_signer())


@settings(max_examples=200, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    name=st.text(
        st.characters(blacklist_categories=("Z", "C"), blacklist_characters="+"), min_size=1
    ),
    kind=st.sampled_from([ED25519, COSIGNATURE_V1]),
)
def test_property_keys_round_trip(seed: bytes, name: str, kind: int) -> None:
    """Half of all keys have a '+' in their base64: they must parse too (Go splits at the
    first '+'s only)."""
    signer = Signer.from_seed(name, seed, kind)
    parsed = Signer.parse(signer.skey)
    assert (parsed.name, parsed.kind, parsed.skey) == (name, kind, signer.skey)
    assert Verifier.parse(signer.verifier.vkey) == signer.verifier
    body = Checkpoint(ORIGIN, 1, ROOT).body()
    if kind == ED25519:
        note = sign_note(body, parsed).render()
        assert open_checkpoint(note, Verifier.parse(signer.verifier.vkey)).size == 1
    else:
        line = SignatureLine.parse(cosign(body, parsed, 5).text())
        assert verify_cosignature(body, line, Verifier.parse(signer.verifier.vkey)) == 5


def test_keys_with_plus_in_their_base64() -> None:
    """Go's example key has a '+' in its base64; so does this seed's verifier key."""
    assert "+" in GO_SKEY.split("+", 4)[4]
    signer = Signer.from_seed("plus.example", bytes(range(32)))
    seed_plus = next(
        Signer.from_seed("plus.example", bytes([i]) * 32)
        for i in range(256)
        if "+" in Signer.from_seed("plus.example", bytes([i]) * 32).verifier.vkey.split("+", 2)[2]
    )
    for key in (signer, seed_plus):
        assert Verifier.parse(key.verifier.vkey) == key.verifier
        assert Signer.parse(key.skey).verifier == key.verifier


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "name+c74f20a3",
        "name+c74f20a3+AAAA+extra",
        "PeterNeumann+zzzzzzzz+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+not base64!",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
        "PeterNeumanN+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong name
        "PeterNeumann+c74f20a3+AhpcxQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # type 0x02
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy",  # short key
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # empty name
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(NoteError):
        Verifier.parse(vkey)


@pytest.mark.parametrize(
    "skey",
    [
        "",
        GO_SKEY.replace("PRIVATE+KEY+", "PUBLIC+KEY+"),
        GO_SKEY.replace("c74f20a3", "c74f20a4"),
        GO_SKEY.replace("PeterNeumann", "Peter"),
        GO_SKEY[:-4],
        GO_SKEY + "+more",
        GO_SKEY.replace("+AYEK", "+$YEK"),
        "PRIVATE+KEY+PeterNeumann+c74f20a3+" + base64.b64encode(b"\x02" + b"\x00" * 32).decode(),
    ],
)
def test_malformed_signing_keys_are_refused(skey: str) -> None:
    with pytest.raises(NoteError):
        Signer.parse(skey)


@pytest.mark.parametrize("name", ["", "has space", "has+plus", "tab\there", "new\nline"])
def test_key_names_without_spaces_or_plus(name: str) -> None:
    with pytest.raises(NoteError):
        Signer.from_seed(name, b"\x01" * 32)


# --- checkpoints ----------------------------------------------------------------------------------


def test_sign_parse_open_a_checkpoint() -> None:
    signer = log_signer()
    body = Checkpoint(ORIGIN, 42, ROOT).body()
    assert body == f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\n"
    note = sign_note(body, signer).render()
    assert note.startswith(body + "\n\u2014 " + ORIGIN + " ")
    assert note.endswith("\n")
    checkpoint = open_checkpoint(note, signer.verifier)
    assert checkpoint == Checkpoint(ORIGIN, 42, ROOT)
    assert open_checkpoint(note, signer.verifier, origin=ORIGIN) == checkpoint
    assert Checkpoint.parse(body) == checkpoint
    assert SignedNote.parse(note).render() == note
    # The verifier key string is all a third party needs.
    assert open_checkpoint(note, Verifier.parse(signer.verifier.vkey)) == checkpoint


def test_checkpoints_with_extensions_and_size_zero() -> None:
    signer = log_signer()
    empty = Checkpoint(ORIGIN, 0, EMPTY_ROOT)
    assert open_checkpoint(sign_note(empty.body(), signer).render(), signer.verifier) == empty
    extended = Checkpoint(ORIGIN, 7, ROOT, ("ext one", "ext two"))
    assert extended.body().endswith("\next one\next two\n")
    assert open_checkpoint(sign_note(extended.body(), signer).render(), signer.verifier) == extended


def test_a_note_with_other_signatures_still_opens() -> None:
    signer, other = log_signer(), Signer.from_seed("other.example/log", b"\x05" * 32)
    body = Checkpoint(ORIGIN, 3, ROOT).body()
    note = sign_note(body, other)
    note = note.with_signature(sign_note(body, signer).signatures[0])
    assert [line.name for line in note.signatures] == ["other.example/log", ORIGIN]
    assert open_checkpoint(note.render(), signer.verifier).size == 3
    assert open_checkpoint(note.render(), other.verifier).size == 3
    # Signing again replaces the signer's own line.
    again = note.with_signature(sign_note(body, signer).signatures[0])
    assert len(again.signatures) == 2


@pytest.mark.parametrize(
    "tamper",
    [
        lambda note: note.replace("\n42\n", "\n43\n", 1),
        lambda note: note.replace(ORIGIN + "\n", "credit.example.cn/ledgeR\n", 1),
        lambda note: note.replace(
            base64.b64encode(ROOT).decode(), base64.b64encode(EMPTY_ROOT).decode(), 1
        ),
    ],
    ids=["size", "origin", "root"],
)
def test_tampered_text_is_refused(tamper: Any) -> None:
    signer = log_signer()
    note = signed_checkpoint(42, signer)
    changed = tamper(note)
    assert changed != note
    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(changed, signer.verifier)


def test_a_tampered_signature_is_refused() -> None:
    signer = log_signer()
    note = SignedNote.parse(signed_checkpoint(42, signer))
    line = note.signatures[0]
    for position in (0, 31, 63):
        payload = bytearray(line.payload)
        payload[position] ^= 1
        bad = SignedNote(note.text, (SignatureLine(line.name, line.key_id, bytes(payload)),))
        with pytest.raises(NoteError, match="does not verify"):
            open_checkpoint(bad.render(), signer.verifier)
    truncated = SignedNote(note.text, (SignatureLine(line.name, line.key_id, line.payload[:-1]),))
    with pytest.raises(NoteError):
        open_checkpoint(truncated.render(), signer.verifier)


def test_the_wrong_key_is_refused() -> None:
    signer = log_signer()
    note = signed_checkpoint(42, signer)
    # Another key, another name.
    with pytest.raises(NoteError, match="no signature"):
        open_checkpoint(note, Signer.from_seed("someone.else", b"\x08" * 32).verifier)
    # Another key under the same name: another key id, so no line matches.
    impostor = Signer.from_seed(ORIGIN, b"\x08" * 32)
    with pytest.raises(NoteError, match="no signature"):
        open_checkpoint(note, impostor.verifier)
    # The impostor's note, with the key id forged to the log's: the signature fails.
    forged = SignedNote.parse(signed_checkpoint(42, impostor))
    line = forged.signatures[0]
    forged = SignedNote(
        forged.text, (SignatureLine(line.name, signer.verifier.key_id, line.payload),)
    )
    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(forged.render(), signer.verifier)
    # The log's key, typed as a witness key: another key id.
    as_witness = Verifier(ORIGIN, COSIGNATURE_V1, signer.verifier.public_key)
    with pytest.raises(NoteError):
        open_checkpoint(note, as_witness)


def test_the_wrong_origin_is_refused() -> None:
    signer = log_signer()
    note = signed_checkpoint(42, signer)
    with pytest.raises(NoteError, match=re.escape("not 'other.example/ledger'")):
        open_checkpoint(note, signer.verifier, origin="other.example/ledger")


def _checkpoint_note(body: str, signer: Signer | None = None) -> str:
    """A note over any text (bypassing sign_note's own checks), signed correctly."""
    signer = signer or log_signer()
    line = SignatureLine(signer.name, signer.verifier.key_id, signer.sign(body.encode()))
    return SignedNote(body, (line,)).render()


ROOT64 = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    "body",
    [
        f"{ORIGIN}\n42\n",  # no root
        f"{ORIGIN}\n{ROOT64}\n",  # no size
        f"{ORIGIN}\n042\n{ROOT64}\n",  # leading zero
        f"{ORIGIN}\n-1\n{ROOT64}\n",
        f"{ORIGIN}\n4 2\n{ROOT64}\n",
        f"{ORIGIN}\n\u0664\u0662\n{ROOT64}\n",  # Arabic-Indic digits: str.isdigit() says yes
        f"{ORIGIN}\n42\nnot-base64!\n",
        f"{ORIGIN}\n42\n{base64.b64encode(ROOT[:31]).decode()}\n",
        f"{ORIGIN}\n42\n{ROOT64}",  # no final newline
        f"\n42\n{ROOT64}\n",  # empty origin
    ],
)
def test_malformed_checkpoints_are_refused(body: str) -> None:
    signer = log_signer()
    with pytest.raises(NoteError):
        Checkpoint.parse(body)
    with pytest.raises(NoteError):
        open_checkpoint(_checkpoint_note(body, signer), signer.verifier)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda note: note.replace("\n\n", "\n", 1),  # no blank line
        lambda note: note.split("\n\n")[0] + "\n\n",  # no signature lines
        lambda note: note.rstrip("\n"),  # no final newline
        lambda note: note.replace("\u2014 ", "- ", 1),  # not an em dash
        lambda note: note.replace("\u2014 ", "\u2014", 1),
        lambda note: note.replace(f"\u2014 {ORIGIN} ", f"\u2014 {ORIGIN} !!", 1),  # base64
        lambda note: note.split("\u2014 ")[0] + f"\u2014 {ORIGIN} AAAA\n",  # too short
        lambda note: note.split("\u2014 ")[0] + "\u2014  AAAAAAAAAA==\n",  # empty name
        lambda note: "\n" + note,  # empty text
        lambda note: "",
    ],
)
def test_malformed_notes_are_refused(mangle: Any) -> None:
    signer = log_signer()
    with pytest.raises(NoteError):
        open_checkpoint(mangle(signed_checkpoint(42, signer)), signer.verifier)


@pytest.mark.parametrize("text", ["no newline", "blank\n\nline\n", "two\nblank\n\n"])
def test_sign_note_refuses_text_it_cannot_sign(text: str) -> None:
    with pytest.raises(NoteError):
        sign_note(text, log_signer())


# --- cosignatures ---------------------------------------------------------------------------------


def test_cosignature_round_trip() -> None:
    signer, witness = log_signer(), witness_signer()
    body = Checkpoint(ORIGIN, 42, ROOT).body()
    assert base64.b64decode(witness.verifier.vkey.split("+", 2)[2])[0] == 0x04
    timestamp = 1_764_000_000
    line = cosign(body, witness, timestamp)
    assert line.payload[:8] == timestamp.to_bytes(8, "big")
    assert len(line.payload) == 72
    assert witness.verifier.verify(
        b"cosignature/v1\ntime 1764000000\n" + body.encode(), line.payload[8:]
    )
    assert cosignature_message(body, timestamp) == (
        f"cosignature/v1\ntime {timestamp}\n{body}".encode()
    )
    assert verify_cosignature(body, line, witness.verifier) == timestamp
    # Through text and a note carrying both signatures.
    assert verify_cosignature(body, SignatureLine.parse(line.text()), witness.verifier) == timestamp
    note = sign_note(body, signer).with_signature(line).render()
    assert open_checkpoint(note, signer.verifier).size == 42
    found = SignedNote.parse(note).find(Verifier.parse(witness.verifier.vkey))
    assert found == line
    assert verify_cosignature(SignedNote.parse(note).text, found, witness.verifier) == timestamp
    # A cosignature is no log signature.
    with pytest.raises(NoteError):
        open_checkpoint(note, Verifier(witness.name, ED25519, witness.verifier.public_key))


def test_cosignature_failures() -> None:
    witness = witness_signer()
    body = Checkpoint(ORIGIN, 42, ROOT).body()
    line = cosign(body, witness, 1000)
    with pytest.raises(NoteError):  # a log key does not cosign
        cosign(body, log_signer(), 1000)
    with pytest.raises(NoteError):  # nor is a log key a witness key
        verify_cosignature(body, line, log_signer().verifier)
    other = witness_signer("other.witness", b"\x0a" * 32)
    with pytest.raises(NoteError, match="not from this witness"):
        verify_cosignature(body, line, other.verifier)
    with pytest.raises(NoteError, match="does not verify"):  # another checkpoint
        verify_cosignature(Checkpoint(ORIGIN, 43, ROOT).body(), line, witness.verifier)
    later = SignatureLine(line.name, line.key_id, (1001).to_bytes(8, "big") + line.payload[8:])
    with pytest.raises(NoteError, match="does not verify"):  # another time
        verify_cosignature(body, later, witness.verifier)
    flipped = bytearray(line.payload)
    flipped[-1] ^= 1
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignature(
            body, SignatureLine(line.name, line.key_id, bytes(flipped)), witness.verifier
        )
    with pytest.raises(NoteError, match="8-byte"):
        verify_cosignature(
            body, SignatureLine(line.name, line.key_id, line.payload[:-1]), witness.verifier
        )
    with pytest.raises(NoteError, match="8-byte"):  # a plain signature, no timestamp
        verify_cosignature(
            body,
            SignatureLine(line.name, line.key_id, witness.sign(body.encode())),
            witness.verifier,
        )


# --- canonical JSON (RFC 8785) ------------------------------------------------------------

SAFE = 2**53 - 1  # I-JSON: integers an IEEE double holds exactly

scalars = st.none() | st.booleans() | st.integers(-SAFE, SAFE) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
ascii_keys = st.text(st.characters(max_codepoint=127), max_size=8)
objects = st.dictionaries(st.text(max_size=8), json_values, max_size=6)
ascii_objects = st.dictionaries(
    ascii_keys,
    st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(ascii_keys, children, max_size=4)
        ),
        max_leaves=20,
    ),
    max_size=6,
)
finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(document=objects)
def test_canonical_equals_rfc8785_without_floats(document: dict[str, Any]) -> None:
    assert canonical(document) == rfc8785.dumps(document)


@settings(max_examples=300, deadline=None)
@given(document=ascii_objects)
def test_the_fast_path_equals_rfc8785(document: dict[str, Any]) -> None:
    """ASCII keys, no floats: canonical must not need the general encoder at all."""
    assert canonical_module._plain(document)
    expected = rfc8785.dumps(document)
    original = canonical_module.rfc8785
    canonical_module.rfc8785 = None  # type: ignore[assignment]
    try:
        assert canonical(document) == expected
    finally:
        canonical_module.rfc8785 = original


@settings(max_examples=200, deadline=None)
@given(document=objects, extra=finite, key=st.text(max_size=6))
def test_canonical_equals_rfc8785_with_floats(
    document: dict[str, Any], extra: float, key: str
) -> None:
    document = {**document, key: {"nested": [extra, 1, "x"]}}
    assert not canonical_module._plain(document)
    assert canonical(document) == rfc8785.dumps(document)


def test_canonical_known_answers() -> None:
    assert canonical({}) == b"{}"
    assert canonical({"b": 1, "a": [True, None, "é\n\u2028"]}) == (
        '{"a":[true,null,"é\\n\u2028"],"b":1}'.encode()
    )
    assert canonical({"\u20ac": 1, "\r": 2, "1": 3}) == '{"\\r":2,"1":3,"\u20ac":1}'.encode()
    assert (
        canonical({"a": 1.0, "b": 1e21, "c": 0.1, "d": -0.0}) == b'{"a":1,"b":1e+21,"c":0.1,"d":0}'
    )
    assert canonical({"c": "\x00\x1f\x7f"}) == b'{"c":"\\u0000\\u001f\x7f"}'
    # UTF-16 order of keys: U+10000 (a surrogate pair) sorts before U+FB01.
    assert canonical({"\ufb01": 1, "\U00010000": 2}) == rfc8785.dumps(
        {"\ufb01": 1, "\U00010000": 2}
    )
    assert canonical({"\ufb01": 1, "\U00010000": 2}).index("\U00010000".encode()) < canonical(
        {"\ufb01": 1, "\U00010000": 2}
    ).index("\ufb01".encode())


def test_event_objects_and_commitments() -> None:
    row = {
        "id": 7,
        "received_at": datetime(2026, 11, 27, 20, 0, tzinfo=timezone(timedelta(hours=8))),
        "valid_from": date(2026, 10, 31),
        "content_ct": b"\x00secret",
        "amount": Decimal("12000.50"),
        "details": {"ids": [1, 2], "when": date(2026, 1, 2)},
        "reason": None,
    }
    event = event_object("record.version", row)
    assert event == {
        "id": 7,
        "received_at": "2026-11-27T12:00:00.000000+00:00",
        "valid_from": "2026-10-31",
        "content_ct": "sha256:" + hashlib.sha256(b"\x00secret").hexdigest(),
        "amount": "12000.50",
        "details": {"ids": [1, 2], "when": "2026-01-02"},
        "reason": None,
        "kind": "record.version",
    }
    # The event survives a JSON round trip (a report carries it) with the same bytes.
    assert canonical(json.loads(json.dumps(event))) == canonical(event)
    key = opening_key(b"k" * 32, "record.version", 7)
    assert key != opening_key(b"k" * 32, "record.version", 8)
    assert key != opening_key(b"k" * 32, "list.event", 7)
    assert commit(key, canonical(event)) != commit(key, canonical({**event, "reason": "x"}))
    with pytest.raises(ValueError, match="naive"):
        jsonable(datetime(2026, 1, 1))
    with pytest.raises(TypeError):
        jsonable(object())
    assert jsonable(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000000+00:00"
    assert jsonable(memoryview(b"x")) == jsonable(b"x") == jsonable(bytearray(b"x"))


zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))])
column_values = (
    scalars
    | st.datetimes(timezones=zones)
    | st.dates()
    | st.binary(max_size=16)
    | st.decimals(allow_nan=False, allow_infinity=False, places=2)
    | finite
    | st.dictionaries(ascii_keys, scalars, max_size=2)
)


@settings(max_examples=300, deadline=None)
@given(row=st.dictionaries(st.text(max_size=8), column_values, max_size=14), kind=ascii_keys)
def test_event_bytes_equals_the_canonical_event(row: dict[str, Any], kind: str) -> None:
    """The bulk path writes exactly the bytes of the general one, or falls back to it."""
    assert event_bytes(kind, row) == canonical(event_object(kind, row))


def test_event_bytes_of_a_record_version_row() -> None:
    row = {
        "id": 7,
        "record_id": 3,
        "operation": "create",
        "content_ct": memoryview(b"\x00secret"),
        "received_at": datetime(2026, 11, 27, 20, 0, tzinfo=timezone(timedelta(hours=8))),
        "valid_from": date(2026, 10, 31),
        "valid_to": None,
        "note": 'say "hi"\n',
        "flag": True,
    }
    assert (
        event_bytes("record.version", row)
        == (
            '{"content_ct":"sha256:' + hashlib.sha256(b"\x00secret").hexdigest() + '",'
            '"flag":true,"id":7,"kind":"record.version","note":"say \\"hi\\"\\n",'
            '"operation":"create","received_at":"2026-11-27T12:00:00.000000+00:00",'
            '"record_id":3,"valid_from":"2026-10-31","valid_to":null}'
        ).encode()
    )
    with pytest.raises(ValueError, match="naive"):
        event_bytes("record.version", {"at": datetime(2026, 1, 1)})
