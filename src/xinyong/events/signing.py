"""Webhook signatures: the Standard Webhooks scheme (https://www.standardwebhooks.com).

Each request carries three headers:

- ``webhook-id``: the event's id, the same on every redelivery (the deduplication key);
- ``webhook-timestamp``: the attempt's time, integer seconds since the Unix epoch;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, one per
  secret in force, separated by spaces (two for a while after a secret is rotated).

The timestamp is inside the signed content, so a receiver that refuses timestamps far from
its clock refuses a captured request replayed later. Secrets are shown to the subscriber as
``whsec_`` followed by the base64 of 32 random bytes; the HMAC key is the decoded bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 (a format prefix, not a secret)
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"
# How far a receiver should let the timestamp stray from its clock (the spec's example).
DEFAULT_TOLERANCE_SECONDS = 300


class InvalidSecretError(ValueError):
    """A string that is not a ``whsec_`` secret."""


def generate_secret() -> str:
    """A fresh signing secret, as the subscriber sees it once: ``whsec_<base64>``."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (the prefix is optional)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSecretError("the secret is not base64") from exc
    if not key:
        raise InvalidSecretError("the secret is empty")
    return key


def signed_content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    """What is signed: ``{id}.{timestamp}.{body}``, the body byte for byte."""
    if "." in msg_id:
        raise ValueError("a webhook id must not contain a full stop")
    return f"{msg_id}.{timestamp}.".encode() + body


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature."""
    digest = hmac.new(key, signed_content(msg_id, timestamp, body), hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_headers(
    keys: Iterable[bytes], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every key given."""
    signatures = [sign(key, msg_id, timestamp, body) for key in keys]
    if not signatures:
        raise ValueError("at least one signing key is required")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Whether a received request is authentic and fresh: a receiver's check.

    ``now`` is the receiver's clock in Unix seconds. A request whose timestamp is more than
    ``tolerance`` seconds away is refused even with a valid signature (a replay).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    presented = lowered.get("webhook-signature")
    if not msg_id or not stamp or not presented or not stamp.isdigit():
        return False
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance:
        return False
    try:
        expected = sign(secret_key(secret), msg_id, timestamp, body)
    except (InvalidSecretError, ValueError):
        return False
    return any(
        hmac.compare_digest(candidate.encode(), expected.encode())
        for candidate in presented.split(" ")
    )
