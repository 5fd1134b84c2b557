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
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import rfc8785

_encode_text: Callable[[str], str] = json.encoder.encode_basestring
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


# A batch repeats the same few timestamps and dates on every row: write each once.
@lru_cache(maxsize=4096)
def _utc_text(value: datetime) -> str:
    if value.tzinfo is not UTC:
        return _encode_text(jsonable(value))
    return '"' + value.isoformat(timespec="microseconds") + '"'


@lru_cache(maxsize=4096)
def _date_text(value: date) -> str:
    return '"' + value.isoformat() + '"'


def _binary_text(value: bytes | bytearray | memoryview) -> str:
    return '"sha256:' + hashlib.sha256(value).hexdigest() + '"'


# The JSON text of a flat row's values, by exact type: what ``canonical(event_object(…))``
# writes for them. Anything else (floats, nested objects, subclasses) takes that slow path.
_VALUE_TEXT: dict[type, Callable[[Any], str]] = {
    str: _encode_text,
    int: int.__repr__,
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "null",
    datetime: _utc_text,
    date: _date_text,
    bytes: _binary_text,
    bytearray: _binary_text,
    memoryview: _binary_text,
    Decimal: lambda value: _encode_text(str(value)),
}


def event_bytes(kind: str, row: Mapping[Any, Any]) -> bytes:
    """``canonical(event_object(kind, row))``, written directly for a flat row.

    The ledger commits to every record version an ingestion writes, so this is on the bulk
    path: one pass over the columns in key order instead of building, checking and dumping
    a document (a property test holds the two to the same bytes).
    """
    layout = _layout(kind, tuple(row.keys()))
    if layout is None:
        return canonical(event_object(kind, row))
    values = list(row.values())
    values.append(kind)
    parts: list[str] = []
    for position, prefix in layout:
        value = values[position]
        text = _VALUE_TEXT.get(type(value))
        if text is None:
            return canonical(event_object(kind, row))
        parts.append(prefix + text(value))
    return ("{" + ",".join(parts) + "}").encode("utf-8")


@lru_cache(maxsize=64)
def _layout(kind: str, names: tuple[Any, ...]) -> tuple[tuple[int, str], ...] | None:
    """Where each member comes from (``kind`` last) and its ``"name":`` text, in key order;
    None where only the general path is exact (non-ASCII or clashing names)."""
    keys = [str(name) for name in names]
    if "kind" in keys or len(set(keys)) != len(keys) or not all(k.isascii() for k in keys):
        return None
    keys.append("kind")
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return tuple((position, _encode_text(keys[position]) + ":") for position in order)


def opening_key(ledger_key: bytes, kind: str, ref_id: int) -> bytes:
    return hmac.digest(ledger_key, f"{kind}:{ref_id}".encode(), "sha256")


def commit(key: bytes, data: bytes) -> bytes:
    """The commitment under an opening key."""
    return hmac.digest(key, data, "sha256")
