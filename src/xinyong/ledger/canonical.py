"""Canonical bytes of a ledgered row (RFC 8785) and the keyed commitment to them.

A row becomes a JSON object of all its columns plus ``kind``. Values map one way only:
timestamps to ISO 8601 in UTC with microseconds, dates to ISO dates, binary columns
(ciphertexts, content hashes) to ``"sha256:<hex>"`` of their bytes — so the canonical form
carries no personal data and needs no key to recompute. The commitment is
``HMAC-SHA256(opening key, canonical bytes)`` with a per-event opening key
``HMAC-SHA256(ledger key, kind ":" id)``: revealing one event's opening key (a report does,
for its items) lets anyone check that event and reveals nothing about any other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import rfc8785

_SCALARS = (str, int, float, type(None))
_BINARY = (bytes, bytearray, memoryview)


def jsonable(value: Any) -> Any:
    if isinstance(value, _SCALARS):  # bool is an int
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive timestamp in a ledgered row")
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, _BINARY):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    raise TypeError(f"cannot put a {type(value).__name__} in a ledger event")


def event_object(kind: str, row: Mapping[Any, Any]) -> dict[str, Any]:
    document = {str(name): jsonable(value) for name, value in row.items()}
    document["kind"] = kind
    return document


def _plain(value: Any) -> bool:
    """Values whose ``json.dumps`` form is already RFC 8785's: no floats, ASCII keys."""
    if isinstance(value, float):
        return False
    if isinstance(value, dict):
        return all(k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return True


def canonical(document: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of a JSON object.

    Without floats and with ASCII keys, RFC 8785 is ``json.dumps`` with sorted keys, no
    whitespace and unescaped non-ASCII (same string escapes, code-point key order equals
    UTF-16 order for ASCII), which is fifteen times faster than the general encoder; a
    property test holds the two to the same output.
    """
    if _plain(document):
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
    return rfc8785.dumps(dict(document))


def opening_key(ledger_key: bytes, kind: str, ref_id: int) -> bytes:
    return hmac.new(ledger_key, f"{kind}:{ref_id}".encode(), hashlib.sha256).digest()


def commit(key: bytes, data: bytes) -> bytes:
    """The commitment under an opening key."""
    return hmac.new(key, data, hashlib.sha256).digest()
