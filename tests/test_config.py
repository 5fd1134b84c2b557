"""Tests of configuration: embedded defaults, XINYONG_* variables and the .env file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from xinyong import migrate
from xinyong.config import Settings, get_settings
from xinyong.db import make_engine
from xinyong.identity.crypto import load_keyring


@pytest.fixture
def workdir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """An empty working directory and no XINYONG_* variables."""
    for name in list(os.environ):
        if name.startswith("XINYONG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_defaults_put_everything_under_xinyong_data(workdir: Path) -> None:
    settings = Settings()
    assert settings.data_dir == Path("xinyong-data")
    assert settings.database_url is None
    assert settings.resolved_database_url == "sqlite:///xinyong-data/xinyong.db"
    assert settings.resolved_key_file == Path("xinyong-data/keys.json")
    assert settings.encryption_key is None
    assert settings.blind_index_key is None
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_embedded_mode_creates_its_files_in_the_working_directory(workdir: Path) -> None:
    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    load_keyring(settings)
    data = workdir / "xinyong-data"
    assert (data / "xinyong.db").is_file()
    assert (data / "keys.json").is_file()
    assert sorted(p.name for p in workdir.iterdir()) == ["xinyong-data"]


def test_environment_variables_are_read(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINYONG_DATA_DIR", str(workdir / "elsewhere"))
    monkeypatch.setenv("XINYONG_DATABASE_URL", "postgresql+psycopg://u@db/xinyong")
    monkeypatch.setenv("XINYONG_PORT", "9001")
    monkeypatch.setenv("XINYONG_INGEST_CHUNK_ROWS", "77")
    monkeypatch.setenv("XINYONG_ENCRYPTION_KEY", "c2VjcmV0")
    settings = Settings()
    assert settings.data_dir == workdir / "elsewhere"
    assert settings.resolved_database_url == "postgresql+psycopg://u@db/xinyong"
    assert settings.resolved_key_file == workdir / "elsewhere" / "keys.json"
    assert settings.port == 9001
    assert settings.ingest_chunk_rows == 77
    assert settings.encryption_key is not None
    assert settings.encryption_key.get_secret_value() == "c2VjcmV0"
    assert "c2VjcmV0" not in repr(settings)


def test_get_settings_is_read_once(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINYONG_PORT", "9100")
    first = get_settings()
    monkeypatch.setenv("XINYONG_PORT", "9200")
    assert get_settings() is first
    assert first.port == 9100
    get_settings.cache_clear()
    assert get_settings().port == 9200


def test_dotenv_file_is_read(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / ".env").write_text(
        "XINYONG_DATA_DIR=from-dotenv\nXINYONG_PORT=8100\nXINYONG_LOG_LEVEL=DEBUG\n"
        "UNRELATED_SETTING=ignored\n",
        encoding="utf-8",
    )
    settings = Settings()
    assert settings.data_dir == Path("from-dotenv")
    assert settings.port == 8100
    assert settings.log_level == "DEBUG"
    assert settings.resolved_database_url == "sqlite:///from-dotenv/xinyong.db"

    # A real environment variable wins over the file.
    monkeypatch.setenv("XINYONG_PORT", "8200")
    assert Settings().port == 8200


def test_invalid_values_are_refused(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINYONG_INGEST_CHUNK_ROWS", "0")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("XINYONG_INGEST_CHUNK_ROWS", "100")
    monkeypatch.setenv("XINYONG_PORT", "not-a-port")
    with pytest.raises(ValidationError):
        Settings()
