"""Tests of encryption at rest, blind indexes and key loading."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from pathlib import Path

import pytest

from xinyong.config import Settings
from xinyong.errors import ConfigurationError
from xinyong.identity.crypto import DecryptionError, KeyRing, generate_key_file, load_keyring

CONTEXT = b"subject.identifier"


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing(secrets.token_bytes(32), secrets.token_bytes(32))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No XINYONG_* variables and no .env file: only what a test sets counts."""
    for name in list(os.environ):
        if name.startswith("XINYONG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# --- AES-GCM ------------------------------------------------------------------------------------


@pytest.mark.parametrize("plaintext", [b"", b"360426199101010071", "张三 Zhang San".encode()])
def test_round_trip(ring: KeyRing, plaintext: bytes) -> None:
    token = ring.encrypt(plaintext, CONTEXT)
    assert ring.decrypt(token, CONTEXT) == plaintext
    if plaintext:
        assert plaintext not in token


def test_text_round_trip(ring: KeyRing) -> None:
    assert ring.decrypt_text(ring.encrypt_text("王小明", CONTEXT), CONTEXT) == "王小明"


def test_bound_encryptor_matches_the_key_ring(ring: KeyRing) -> None:
    encrypt = ring.encryptor(CONTEXT)
    assert ring.decrypt(encrypt(b"secret"), CONTEXT) == b"secret"
    with pytest.raises(DecryptionError):
        ring.decrypt(encrypt(b"secret"), b"subject.name")


def test_ciphertext_is_bound_to_its_context(ring: KeyRing) -> None:
    token = ring.encrypt(b"91110000600037341L", b"institution.uscc")
    with pytest.raises(DecryptionError) as exc_info:
        ring.decrypt(token, b"subject.identifier")
    assert exc_info.value.status == 500
    assert exc_info.value.code == "decryption_failed"


def test_ciphertext_does_not_decrypt_under_another_key(ring: KeyRing) -> None:
    other = KeyRing(secrets.token_bytes(32), ring.blind_index_key)
    with pytest.raises(DecryptionError):
        other.decrypt(ring.encrypt(b"x", CONTEXT), CONTEXT)


def test_tampered_ciphertext_fails(ring: KeyRing) -> None:
    token = bytearray(ring.encrypt(b"balance=12000.00", CONTEXT))
    token[-1] ^= 0x01
    with pytest.raises(DecryptionError):
        ring.decrypt(bytes(token), CONTEXT)


@pytest.mark.parametrize("token", [b"", b"\x01short", b"\x02" + bytes(40)])
def test_malformed_or_unknown_version_fails(ring: KeyRing, token: bytes) -> None:
    with pytest.raises(DecryptionError):
        ring.decrypt(token, CONTEXT)


def test_nonces_differ(ring: KeyRing) -> None:
    tokens = [ring.encrypt(b"same plaintext", CONTEXT) for _ in range(50)]
    encrypt = ring.encryptor(CONTEXT)
    tokens += [encrypt(b"same plaintext") for _ in range(50)]
    nonces = {token[1:13] for token in tokens}
    assert len(nonces) == len(tokens)
    assert len(set(tokens)) == len(tokens)


def test_key_ring_rejects_bad_keys() -> None:
    with pytest.raises(ConfigurationError):
        KeyRing(secrets.token_bytes(16), secrets.token_bytes(32))
    with pytest.raises(ConfigurationError):
        KeyRing(secrets.token_bytes(32), secrets.token_bytes(31))
    same = secrets.token_bytes(32)
    with pytest.raises(ConfigurationError):
        KeyRing(same, same)


def test_key_ring_never_shows_its_keys(ring: KeyRing) -> None:
    shown = repr(ring) + str(ring)
    assert ring.encryption_key.hex() not in shown
    assert b64(ring.encryption_key) not in shown
    assert "redacted" in shown


# --- blind index --------------------------------------------------------------------------------


def test_blind_index_is_deterministic_and_keyed(ring: KeyRing) -> None:
    index = ring.blind_index(CONTEXT, "resident_id:360426199101010071")
    assert len(index) == 32
    assert ring.blind_index(CONTEXT, "resident_id:360426199101010071") == index
    assert ring.blind_index(CONTEXT, "resident_id:44011320141005001X") != index
    assert ring.blind_index(b"institution.uscc", "resident_id:360426199101010071") != index
    # Another index key: no equality can be learnt across deployments.
    other = KeyRing(ring.encryption_key, secrets.token_bytes(32))
    assert other.blind_index(CONTEXT, "resident_id:360426199101010071") != index
    # The encryption key does not drive the index.
    same_index_key = KeyRing(secrets.token_bytes(32), ring.blind_index_key)
    assert same_index_key.blind_index(CONTEXT, "resident_id:360426199101010071") == index


def test_blind_index_contexts_do_not_collide_by_concatenation(ring: KeyRing) -> None:
    assert ring.blind_index(b"ab", "c") != ring.blind_index(b"a", "bc")


# --- key file and environment keys --------------------------------------------------------------


def test_key_file_is_generated_once_with_mode_0600(clean_env: Path) -> None:
    settings = Settings(data_dir=clean_env / "data")
    path = settings.resolved_key_file
    assert not path.exists()

    first = load_keyring(settings)
    assert path == clean_env / "data" / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_bytes()
    data = json.loads(content)
    assert base64.b64decode(data["encryption_key"]) == first.encryption_key
    assert base64.b64decode(data["blind_index_key"]) == first.blind_index_key

    second = load_keyring(settings)
    assert second == first
    assert path.read_bytes() == content
    token = first.encrypt(b"kept", CONTEXT)
    assert second.decrypt(token, CONTEXT) == b"kept"


def test_explicit_key_file_setting(clean_env: Path) -> None:
    path = clean_env / "secrets" / "xinyong-keys.json"
    settings = Settings(data_dir=clean_env / "data", key_file=path)
    load_keyring(settings)
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (clean_env / "data" / "keys.json").exists()


def test_missing_key_file_without_create_is_an_error(clean_env: Path) -> None:
    settings = Settings(data_dir=clean_env / "data")
    with pytest.raises(ConfigurationError):
        load_keyring(settings, create=False)
    assert not settings.resolved_key_file.exists()


def test_generate_key_file_never_overwrites(clean_env: Path) -> None:
    path = clean_env / "keys.json"
    generate_key_file(path)
    content = path.read_bytes()
    with pytest.raises(FileExistsError):
        generate_key_file(path)
    assert path.read_bytes() == content


@pytest.mark.parametrize(
    "content",
    ["not json", "{}", json.dumps({"encryption_key": "%%%", "blind_index_key": "%%%"})],
)
def test_malformed_key_file_is_a_configuration_error(clean_env: Path, content: str) -> None:
    path = clean_env / "keys.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigurationError):
        load_keyring(Settings(data_dir=clean_env, key_file=path))


def test_environment_keys_override_the_key_file(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encryption_key, index_key = secrets.token_bytes(32), secrets.token_bytes(32)
    monkeypatch.setenv("XINYONG_DATA_DIR", str(clean_env / "data"))
    monkeypatch.setenv("XINYONG_ENCRYPTION_KEY", b64(encryption_key))
    monkeypatch.setenv("XINYONG_BLIND_INDEX_KEY", b64(index_key))
    settings = Settings()
    ring = load_keyring(settings)
    assert ring.encryption_key == encryption_key
    assert ring.blind_index_key == index_key
    assert not settings.resolved_key_file.exists()
    assert b64(encryption_key) not in repr(settings)


def test_environment_keys_win_over_an_existing_key_file(clean_env: Path) -> None:
    settings = Settings(data_dir=clean_env)
    from_file = load_keyring(settings)
    encryption_key, index_key = secrets.token_bytes(32), secrets.token_bytes(32)
    overridden = load_keyring(
        Settings(
            data_dir=clean_env,
            encryption_key=b64(encryption_key),
            blind_index_key=b64(index_key),
        )
    )
    assert overridden != from_file
    assert overridden.encryption_key == encryption_key


@pytest.mark.parametrize("which", ["encryption_key", "blind_index_key"])
def test_one_environment_key_alone_is_an_error(clean_env: Path, which: str) -> None:
    settings = Settings.model_validate({"data_dir": clean_env, which: b64(secrets.token_bytes(32))})
    with pytest.raises(ConfigurationError):
        load_keyring(settings)
    assert not settings.resolved_key_file.exists()


@pytest.mark.parametrize(
    ("encryption_key", "blind_index_key"),
    [
        pytest.param("not base64!", b64(secrets.token_bytes(32)), id="not-base64"),
        pytest.param(b64(secrets.token_bytes(16)), b64(secrets.token_bytes(32)), id="too-short"),
        pytest.param(b64(bytes(32)), b64(bytes(32)), id="identical"),
    ],
)
def test_bad_environment_keys_are_configuration_errors(
    clean_env: Path, encryption_key: str, blind_index_key: str
) -> None:
    settings = Settings(
        data_dir=clean_env, encryption_key=encryption_key, blind_index_key=blind_index_key
    )
    with pytest.raises(ConfigurationError):
        load_keyring(settings)
