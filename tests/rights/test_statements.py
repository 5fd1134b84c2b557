"""A subject's statements on items of its file stay with the item (征信业管理条例 Art. 16)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from reports.helpers import (
    Furnish,
    backdate,
    days_ago,
    issue,
    midday,
    operator,
    portal_token,
    querier,
    subject_id_of,
    subject_principal,
)
from support import MakeInstitution, MakeKey, account_row, auth, new_resident_id
from xinyong.config import Settings
from xinyong.db import transaction
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Role
from xinyong.rights.models import SubjectStatement
from xinyong.rights.service import (
    MAX_STATEMENT_CHARS,
    STATEMENT_CONTEXT,
    InvalidStatementError,
    StatementNotFoundError,
    add_statement,
    list_statements,
    withdraw_statement,
)

TEXT = "该笔逾期系银行系统扣款失败所致，本人已于次日还清。"


@pytest.fixture
def bank(make_institution: MakeInstitution) -> Institution:
    return make_institution(
        "bank-s", record_types=["credit_account"], purposes=["post_loan_management"]
    )


@pytest.fixture
def by_bank(
    tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing, bank: Institution
) -> Furnish:
    return Furnish(tmp_path, factory, keys, bank)


def state(factory: sessionmaker[Session], keys: KeyRing, subject_id: int, record_id: int) -> int:
    with transaction(factory) as session:
        return add_statement(session, keys, subject_id, record_id, TEXT, made_by="subject").id


def test_a_statement_is_shown_with_its_item(
    factory: sessionmaker[Session], keys: KeyRing, bank: Institution, by_bank: Furnish
) -> None:
    person = new_resident_id()
    by_bank(account_row(person, "LOAN-1"), account_row(person, "LOAN-2"))
    subject_id = subject_id_of(factory, keys, person)
    record_id = by_bank.record_id("LOAN-1")
    statement_id = state(factory, keys, subject_id, record_id)
    with factory() as session:
        stored = session.get(SubjectStatement, statement_id)
        assert stored is not None
        assert TEXT.encode() not in stored.text_ct  # encrypted at rest
        assert keys.decrypt_text(stored.text_ct, STATEMENT_CONTEXT) == TEXT

    for principal in (subject_principal(subject_id), querier(bank), operator()):
        purpose = "post_loan_management" if principal.role is Role.QUERIER else "subject_request"
        report = issue(factory, keys, principal, subject_id, purpose)
        by_record = {item.record_id: item for item in report.credit_accounts}
        assert [(s.statement_id, s.text) for s in by_record[record_id].statements] == [
            (statement_id, TEXT)
        ]
        assert by_record[by_bank.record_id("LOAN-2")].statements == []
        (annotation,) = report.annotations.statements
        assert (annotation.statement_id, annotation.record_id, annotation.record_type) == (
            statement_id,
            record_id,
            "credit_account",
        )
        assert annotation.text == TEXT


def test_a_withdrawn_statement_stays_in_earlier_reports(
    factory: sessionmaker[Session], keys: KeyRing, by_bank: Furnish
) -> None:
    person = new_resident_id()
    by_bank(account_row(person, "LOAN-1", valid_from=days_ago(60).isoformat()))
    record_id = by_bank.record_id("LOAN-1")
    backdate(factory, record_id, midday(days_ago(50)))
    subject_id = subject_id_of(factory, keys, person)
    statement_id = state(factory, keys, subject_id, record_id)
    with transaction(factory) as session:
        session.execute(
            update(SubjectStatement)
            .where(SubjectStatement.id == statement_id)
            .values(created_at=midday(days_ago(20)))
        )
    me = subject_principal(subject_id)
    with transaction(factory) as session:
        withdrawn = withdraw_statement(session, subject_id, statement_id)
        assert withdrawn.withdrawn_at is not None
        first_withdrawal = withdrawn.withdrawn_at
    # Withdrawing twice changes nothing.
    with transaction(factory) as session:
        assert withdraw_statement(session, subject_id, statement_id).withdrawn_at == (
            first_withdrawal
        )

    earlier = issue(factory, keys, me, subject_id, "subject_request", as_of=days_ago(10))
    assert [s.statement_id for s in earlier.credit_accounts[0].statements] == [statement_id]
    assert [a.statement_id for a in earlier.annotations.statements] == [statement_id]
    before_it = issue(factory, keys, me, subject_id, "subject_request", as_of=days_ago(30))
    assert before_it.credit_accounts[0].statements == []
    today = issue(factory, keys, me, subject_id, "subject_request")
    assert today.credit_accounts[0].statements == []
    assert today.annotations.statements == []

    with factory() as session:
        (listed,) = list_statements(session, keys, subject_id)
    assert (listed.id, listed.text, listed.withdrawn_at) == (statement_id, TEXT, first_withdrawal)
    assert listed.made_at == midday(days_ago(20))


def test_statements_only_on_ones_own_records(
    factory: sessionmaker[Session], keys: KeyRing, by_bank: Furnish
) -> None:
    me, them = new_resident_id(), new_resident_id()
    by_bank(account_row(me, "MINE"), account_row(them, "THEIRS"))
    my_id, their_id = subject_id_of(factory, keys, me), subject_id_of(factory, keys, them)
    theirs = by_bank.record_id("THEIRS")
    with transaction(factory) as session:
        with pytest.raises(StatementNotFoundError) as other:
            add_statement(session, keys, my_id, theirs, TEXT, made_by="subject")
        with pytest.raises(StatementNotFoundError) as missing:
            add_statement(session, keys, my_id, 987654, TEXT, made_by="subject")
    assert other.value.status == 404
    # Someone else's record and a missing one get the same answer.
    assert other.value.detail == missing.value.detail.replace("987654", str(theirs))

    their_statement = state(factory, keys, their_id, theirs)
    with transaction(factory) as session, pytest.raises(StatementNotFoundError):
        withdraw_statement(session, my_id, their_statement)
    with factory() as session:
        assert list_statements(session, keys, my_id) == []
        assert [s.id for s in list_statements(session, keys, their_id)] == [their_statement]


@pytest.mark.parametrize("text", ["", "   \n", "x" * (MAX_STATEMENT_CHARS + 1)])
def test_an_invalid_statement(
    factory: sessionmaker[Session], keys: KeyRing, by_bank: Furnish, text: str
) -> None:
    person = new_resident_id()
    by_bank(account_row(person))
    subject_id = subject_id_of(factory, keys, person)
    with transaction(factory) as session, pytest.raises(InvalidStatementError) as raised:
        add_statement(
            session, keys, subject_id, by_bank.record_id("ACC-1"), text, made_by="subject"
        )
    assert raised.value.code == "invalid_statement"


def test_statements_in_the_portal(
    client: TestClient,
    factory: sessionmaker[Session],
    keys: KeyRing,
    settings: Settings,
    by_bank: Furnish,
    make_key: MakeKey,
) -> None:
    me, them = new_resident_id(), new_resident_id()
    by_bank(account_row(me, "MINE"), account_row(them, "THEIRS"))
    mine = by_bank.record_id("MINE")
    my_token = portal_token(factory, keys, settings, me)
    their_token = portal_token(factory, keys, settings, them)

    created = client.post(
        "/v1/portal/statements", json={"record_id": mine, "text": TEXT}, headers=auth(my_token)
    )
    assert created.status_code == 201, created.text
    statement = created.json()
    assert (statement["record_id"], statement["record_type"], statement["text"]) == (
        mine,
        "credit_account",
        TEXT,
    )
    assert (statement["made_by"], statement["withdrawn_at"]) == ("subject", None)

    report = client.get("/v1/portal/report", headers=auth(my_token)).json()
    assert [s["text"] for s in report["credit_accounts"][0]["statements"]] == [TEXT]

    # The other subject neither sees nor withdraws it.
    assert client.get("/v1/portal/statements", headers=auth(their_token)).json() == []
    other = client.delete(f"/v1/portal/statements/{statement['id']}", headers=auth(their_token))
    assert other.status_code == 404
    assert other.json()["code"] == "statement_not_found"
    their_report = client.get("/v1/portal/report", headers=auth(their_token)).json()
    assert their_report["annotations"]["statements"] == []

    withdrawn = client.delete(f"/v1/portal/statements/{statement['id']}", headers=auth(my_token))
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["withdrawn_at"] is not None
    listed = client.get("/v1/portal/statements", headers=auth(my_token)).json()
    assert [(s["id"], s["withdrawn_at"] is not None) for s in listed] == [(statement["id"], True)]

    blank = client.post(
        "/v1/portal/statements", json={"record_id": mine, "text": "   "}, headers=auth(my_token)
    )
    assert (blank.status_code, blank.json()["code"]) == (400, "invalid_statement")
    operator_key = make_key(Role.OPERATOR)
    forbidden = client.get("/v1/portal/statements", headers=auth(operator_key))
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "role_not_permitted")
