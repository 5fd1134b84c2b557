"""Configuration from ``XINYONG_*`` environment variables and an optional ``.env`` file.

With no configuration at all the platform runs embedded: everything lives under
``./xinyong-data/`` (the SQLite database and the key file).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Platform settings; each field reads ``XINYONG_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="XINYONG_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(
        default=Path("xinyong-data"),
        description="Directory for the embedded database and the key file.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/xinyong.db. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db",
    )
    key_file: Path | None = Field(
        default=None,
        description="Key file (JSON, mode 0600) holding the encryption and blind-index keys; "
        "default <data_dir>/keys.json, generated on first run.",
    )
    encryption_key: SecretStr | None = Field(
        default=None,
        description="Base64 AES-256 key for personal data; overrides the key file.",
    )
    blind_index_key: SecretStr | None = Field(
        default=None,
        description="Base64 HMAC-SHA256 key for blind indexes; overrides the key file.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    ingest_chunk_rows: int = Field(
        default=2000, ge=1, le=100_000, description="Rows validated and committed together."
    )
    ingest_workers: int = Field(
        default_factory=lambda: min((os.cpu_count() or 1) - 1, 4),
        ge=0,
        le=32,
        description="Extra processes that validate and encrypt rows of large batches "
        "while the main process writes (0: do everything in one process).",
    )
    ingest_worker_min_rows: int = Field(
        default=50_000,
        ge=0,
        description="Smallest batch that is worth starting worker processes for.",
    )
    max_upload_bytes: int = Field(
        default=8 * 1024**3, ge=1, description="Largest batch file the API accepts, in bytes."
    )
    profile: str = Field(
        default="cn",
        description="Jurisdiction profile in force (cn, us): purposes, consent, retention, "
        "free reports. See docs/reports.md.",
    )
    report_font_file: Path | None = Field(
        default=None,
        description="CJK font for PDF reports; default Noto Sans CJK SC from the mplfonts "
        "package that setup installs.",
    )
    subject_session_hours: int = Field(
        default=12, ge=1, le=24 * 30, description="How long a subject's portal login lasts."
    )
    events_worker: Literal["embedded", "off"] = Field(
        default="embedded",
        description="embedded: the API server fans out events and delivers webhooks in a "
        "background thread; off: run `xinyong events run` instead (docs/events.md).",
    )
    events_interval_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="How often the webhook worker looks for work."
    )
    ledger_origin: str = Field(
        default="xinyong.local/ledger",
        pattern=r"^[^\s+]+$",
        description="The record ledger's origin: the first line of its checkpoints and the "
        "name of its signing key. Set a name unique to the deployment, e.g. "
        "credit.example.cn/ledger (docs/ledger.md).",
    )
    ledger_signing_key: SecretStr | None = Field(
        default=None,
        description="Ed25519 key that signs ledger checkpoints, as written by `xinyong ledger "
        "keygen` (PRIVATE+KEY+...); default: derived from the key ring.",
    )
    ledger_checkpoint_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Least time between the worker's periodic checkpoints (one is signed only "
        "when the log has grown).",
    )
    log_level: str = "INFO"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'xinyong.db').as_posix()}"

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file if self.key_file is not None else self.data_dir / "keys.json"


@cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
