"""Encryption of personal data at rest and keyed blind indexes.

Identifiers, names and record contents are stored as AES-256-GCM ciphertexts bound to
their purpose (associated data), so a ciphertext copied into another column does not
decrypt. Equality lookups go through a blind index: HMAC-SHA256 under a separate key, so
the database alone reveals neither values nor, without the key, which rows share one.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from xinyong.config import Settings
from xinyong.errors import ConfigurationError, XinyongError

_TOKEN_VERSION = b"\x01"
_NONCE_BYTES = 12
_KEY_BYTES = 32


class DecryptionError(XinyongError):
    status = 500
    code = "decryption_failed"
    title = "Stored data could not be decrypted"


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The platform's data keys. Never logged, never stored in the database."""

    encryption_key: bytes
    blind_index_key: bytes

    def __post_init__(self) -> None:
        for name in ("encryption_key", "blind_index_key"):
            if len(getattr(self, name)) != _KEY_BYTES:
                raise ConfigurationError(f"{name} must be {_KEY_BYTES} bytes (base64 of 32 bytes)")
        if hmac.compare_digest(self.encryption_key, self.blind_index_key):
            raise ConfigurationError("encryption_key and blind_index_key must differ")

    def __repr__(self) -> str:
        return "KeyRing(<redacted>)"

    @property
    def aead(self) -> AESGCM:
        return AESGCM(self.encryption_key)

    def encrypt(self, plaintext: bytes, context: bytes) -> bytes:
        """Encrypt with a fresh random nonce; ``context`` is authenticated, not stored."""
        nonce = os.urandom(_NONCE_BYTES)
        return _TOKEN_VERSION + nonce + self.aead.encrypt(nonce, plaintext, context)

    def decrypt(self, token: bytes, context: bytes) -> bytes:
        if len(token) < 1 + _NONCE_BYTES + 16 or token[:1] != _TOKEN_VERSION:
            raise DecryptionError("ciphertext is malformed or of an unknown version")
        try:
            return self.aead.decrypt(
                token[1 : 1 + _NONCE_BYTES], token[1 + _NONCE_BYTES :], context
            )
        except InvalidTag as exc:
            raise DecryptionError(
                "ciphertext failed authentication (wrong key or wrong column)"
            ) from exc

    def encrypt_text(self, text: str, context: bytes) -> bytes:
        return self.encrypt(text.encode("utf-8"), context)

    def decrypt_text(self, token: bytes, context: bytes) -> str:
        return self.decrypt(token, context).decode("utf-8")

    def blind_index(self, context: bytes, value: str) -> bytes:
        """HMAC-SHA256 of ``value`` under the index key, separated by ``context``."""
        return hmac.new(
            self.blind_index_key, context + b"\x00" + value.encode("utf-8"), hashlib.sha256
        ).digest()

    def encryptor(self, context: bytes) -> Encryptor:
        """A bound encryptor reusing one cipher object: cheaper in per-row loops."""
        return Encryptor(self.aead, context)


@dataclass(frozen=True, slots=True)
class Encryptor:
    aead: AESGCM
    context: bytes

    def __call__(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _TOKEN_VERSION + nonce + self.aead.encrypt(nonce, plaintext, self.context)


def _decode_key(value: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ConfigurationError(f"{name} is not valid base64") from exc
    return raw


def generate_key_file(path: Path) -> None:
    """Create a new key file with mode 0600; refuse to overwrite an existing one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    content = json.dumps(
        {
            "format": 1,
            "created_at": datetime.now(UTC).isoformat(),
            "encryption_key": base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode(),
            "blind_index_key": base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode(),
        },
        indent=2,
    )
    # O_EXCL: two processes starting at once must not each write a different key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content + "\n")


def load_keyring(settings: Settings, *, create: bool = True) -> KeyRing:
    """Keys from ``XINYONG_ENCRYPTION_KEY``/``XINYONG_BLIND_INDEX_KEY`` or the key file.

    With neither configured, the key file is generated on first use (``create``).
    """
    if settings.encryption_key is not None or settings.blind_index_key is not None:
        if settings.encryption_key is None or settings.blind_index_key is None:
            raise ConfigurationError(
                "set both XINYONG_ENCRYPTION_KEY and XINYONG_BLIND_INDEX_KEY, or neither"
            )
        return KeyRing(
            _decode_key(settings.encryption_key.get_secret_value(), "XINYONG_ENCRYPTION_KEY"),
            _decode_key(settings.blind_index_key.get_secret_value(), "XINYONG_BLIND_INDEX_KEY"),
        )
    path = settings.resolved_key_file
    if not path.exists():
        if not create:
            raise ConfigurationError(f"key file {path} does not exist; run `xinyong init`")
        # Another process may create it first; then read theirs.
        with contextlib.suppress(FileExistsError):
            generate_key_file(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return KeyRing(
            _decode_key(data["encryption_key"], "encryption_key"),
            _decode_key(data["blind_index_key"], "blind_index_key"),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"key file {path} is unreadable or malformed") from exc
