"""Fixtures of the dispute tests: two furnishers, a lender, a signed-in subject."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dispute_support import Person
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from reports.helpers import Furnish, portal_token, subject_id_of
from support import MakeInstitution, MakeKey, account_row, new_resident_id
from xinyong.api.app import create_app
from xinyong.config import Settings
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Role


@pytest.fixture
def bank(make_institution: MakeInstitution) -> Institution:
    return make_institution("bank-d", record_types=["credit_account"])


@pytest.fixture
def card_issuer(make_institution: MakeInstitution) -> Institution:
    return make_institution("card-e", record_types=["credit_account"])


@pytest.fixture
def lender(make_institution: MakeInstitution) -> Institution:
    return make_institution("lender-f", purposes=["loan_approval"])


@pytest.fixture
def by_bank(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, bank: Institution
) -> Furnish:
    return Furnish(tmp_path, factory, keys, bank)


@pytest.fixture
def by_card_issuer(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, card_issuer: Institution
) -> Furnish:
    return Furnish(tmp_path, factory, keys, card_issuer)


@pytest.fixture
def bank_key(make_key: MakeKey, bank: Institution) -> str:
    return make_key(Role.FURNISHER, bank)


@pytest.fixture
def card_key(make_key: MakeKey, card_issuer: Institution) -> str:
    return make_key(Role.FURNISHER, card_issuer)


@pytest.fixture
def lender_key(make_key: MakeKey, lender: Institution) -> str:
    return make_key(Role.QUERIER, lender)


@pytest.fixture
def operator_key(make_key: MakeKey) -> str:
    return make_key(Role.OPERATOR)


@pytest.fixture
def auditor_key(make_key: MakeKey) -> str:
    return make_key(Role.AUDITOR)


def _person(
    factory: sessionmaker[Session],
    keys: KeyRing,
    settings: Settings,
    by_bank: Furnish,
    by_card_issuer: Furnish,
) -> Person:
    identifier = new_resident_id()
    by_bank(account_row(identifier, f"LOAN-{identifier[-6:]}"))
    by_bank(account_row(identifier, f"LOAN2-{identifier[-6:]}", balance="800.00"))
    by_card_issuer(account_row(identifier, f"CARD-{identifier[-6:]}", account_type="credit_card"))
    return Person(
        identifier=identifier,
        subject_id=subject_id_of(factory, keys, identifier),
        token=portal_token(factory, keys, settings, identifier),
        loan=by_bank.record_id(f"LOAN-{identifier[-6:]}"),
        second_loan=by_bank.record_id(f"LOAN2-{identifier[-6:]}"),
        card=by_card_issuer.record_id(f"CARD-{identifier[-6:]}"),
    )


@pytest.fixture
def person(
    factory: sessionmaker[Session],
    keys: KeyRing,
    settings: Settings,
    by_bank: Furnish,
    by_card_issuer: Furnish,
) -> Person:
    return _person(factory, keys, settings, by_bank, by_card_issuer)


@pytest.fixture
def other_person(
    factory: sessionmaker[Session],
    keys: KeyRing,
    settings: Settings,
    by_bank: Furnish,
    by_card_issuer: Furnish,
) -> Person:
    return _person(factory, keys, settings, by_bank, by_card_issuer)


@pytest.fixture
def us_client(db: Engine, settings: Settings, keys: KeyRing) -> Iterator[TestClient]:
    """The API under the us (FCRA) profile."""
    app = create_app(settings.model_copy(update={"profile": "us"}), engine=db, keys=keys)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
