"""What every CLI command needs: settings, a migrated database, keys, a session factory."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from xinyong import migrate
from xinyong.config import Settings, get_settings
from xinyong.db import make_engine, make_session_factory
from xinyong.identity.crypto import KeyRing, load_keyring
from xinyong.ledger.service import ledger_keys


@dataclass
class Platform:
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.settings.resolved_database_url)
        migrate.upgrade(engine)
        return engine

    @cached_property
    def factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine, ledger=ledger_keys(self.keys, self.settings))

    @cached_property
    def keys(self) -> KeyRing:
        return load_keyring(self.settings)


def platform() -> Platform:
    return Platform(get_settings())
