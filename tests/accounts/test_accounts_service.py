"""Tests of the subject-account service: enrolment, activation, sign-in, lockout, sessions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from accounts_support import PASSWORD, Person, make_person
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from support import new_resident_id
from xinyong.accounts import service
from xinyong.accounts.models import SubjectAccount, SubjectSession
from xinyong.accounts.schemas import AccountStatus, SubjectPrincipal
from xinyong.audit.models import AuditEntry
from xinyong.config import Settings
from xinyong.db import utcnow
from xinyong.errors import XinyongError
from xinyong.identity.crypto import KeyRing
from xinyong.identity.identifiers import InvalidIdentifierError
from xinyong.identity.service import SubjectNotFoundError
from xinyong.institutions.schemas import LOCAL_OPERATOR, Role

CODE = re.compile(
    r"^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}(-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}){2}$"
)
TOKEN = re.compile(r"^xs_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")
REASON = "ID card checked at counter, ticket 123"


@pytest.fixture
def person(session: Session, keys: KeyRing) -> Person:
    return make_person(session, keys)


def enrol(session: Session, person: Person) -> str:
    return service.enrol_subject(
        session, LOCAL_OPERATOR, person.subject_id, reason=REASON
    ).enrolment_code


def activate(
    session: Session, keys: KeyRing, person: Person, code: str, password: str = PASSWORD
) -> SubjectAccount:
    return service.activate_account(session, keys, "resident_id", person.identifier, code, password)


def login(
    session: Session, keys: KeyRing, settings: Settings, person: Person, password: str = PASSWORD
) -> str:
    return service.login(session, keys, settings, "resident_id", person.identifier, password).token


@pytest.fixture
def active(session: Session, keys: KeyRing, person: Person) -> SubjectAccount:
    return activate(session, keys, person, enrol(session, person))


def account_of(session: Session, person: Person) -> SubjectAccount:
    account = session.scalar(
        select(SubjectAccount).where(SubjectAccount.subject_id == person.subject_id)
    )
    assert account is not None
    return account


def refused(excinfo: pytest.ExceptionInfo[XinyongError]) -> tuple[int, str, str]:
    return excinfo.value.status, excinfo.value.code, excinfo.value.detail


# --- enrolment ------------------------------------------------------------------------------


def test_enrolment_creates_a_pending_account_with_a_one_time_code(
    session: Session, person: Person
) -> None:
    issued = service.enrol_subject(session, LOCAL_OPERATOR, person.subject_id, reason=REASON)
    assert CODE.match(issued.enrolment_code)
    assert issued.subject_id == person.subject_id
    account = service.get_account(session, issued.account_id)
    assert account.status == "pending"
    assert account.password_hash is None
    assert account.enrolment_code_hash is not None
    assert len(account.enrolment_code_hash) == 32
    assert account.enrolment_expires_at == issued.expires_at
    assert issued.expires_at - account.created_at == service.ENROLMENT_CODE_VALIDITY
    view = service.view_account(account)
    assert view.status is AccountStatus.PENDING
    assert view.enrolment_expires_at == issued.expires_at


def test_enrolment_writes_an_audit_entry_with_the_reason(session: Session, person: Person) -> None:
    issued = service.enrol_subject(
        session, LOCAL_OPERATOR, person.subject_id, reason="  " + REASON + " "
    )
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "subject_account.enrol"))
    assert entry is not None
    assert (entry.target_type, entry.target_id) == ("subject_account", str(issued.account_id))
    assert entry.reason == REASON
    assert entry.actor == "cli"
    assert entry.role == "operator"
    assert entry.details["subject_id"] == person.subject_id
    assert entry.details["reissued"] is False
    assert issued.enrolment_code not in str(entry.details)


def test_enrolment_needs_a_reason(session: Session, person: Person) -> None:
    with pytest.raises(service.ReasonRequiredError) as excinfo:
        service.enrol_subject(session, LOCAL_OPERATOR, person.subject_id, reason="   ")
    assert excinfo.value.code == "reason_required"
    assert session.scalar(select(SubjectAccount.id)) is None


def test_enrolment_of_an_unknown_subject_is_refused(session: Session) -> None:
    with pytest.raises(SubjectNotFoundError):
        service.enrol_subject(session, LOCAL_OPERATOR, 987654, reason=REASON)


def test_codes_are_random(session: Session, keys: KeyRing) -> None:
    codes = {enrol(session, make_person(session, keys)) for _ in range(5)}
    assert len(codes) == 5


# --- activation -----------------------------------------------------------------------------


def test_activation_sets_an_argon2id_hash_and_clears_the_code(
    session: Session, keys: KeyRing, person: Person
) -> None:
    account = activate(session, keys, person, enrol(session, person))
    assert account.status == "active"
    assert account.activated_at is not None
    assert account.enrolment_code_hash is None
    assert account.enrolment_expires_at is None
    assert account.password_hash is not None
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash
    assert PasswordHasher().verify(account.password_hash, PASSWORD)


def test_the_code_may_be_typed_in_lower_case_with_spaces(
    session: Session, keys: KeyRing, person: Person
) -> None:
    code = enrol(session, person)
    typed = " " + code.lower().replace("-", " ") + " "
    assert activate(session, keys, person, typed).status == "active"


def test_a_code_works_once(
    session: Session, keys: KeyRing, settings: Settings, person: Person
) -> None:
    code = enrol(session, person)
    activate(session, keys, person, code)
    with pytest.raises(service.InvalidEnrolmentCodeError):
        activate(session, keys, person, code, "another good password")
    assert TOKEN.match(login(session, keys, settings, person))


def test_a_wrong_code_and_an_unknown_subject_get_the_same_answer(
    session: Session, keys: KeyRing, person: Person
) -> None:
    code = enrol(session, person)
    stranger = make_person(session, keys, "李四")  # a subject without an account
    answers = []
    for who, presented in [
        (person, "2345-6789-ABCD"),
        (person, code[:-1]),
        (stranger, code),
        (Person(0, new_resident_id(), ""), code),  # valid identifier, no subject
    ]:
        with pytest.raises(service.InvalidEnrolmentCodeError) as excinfo:
            activate(session, keys, who, presented)
        answers.append(refused(excinfo))
    assert len(set(answers)) == 1
    assert answers[0][:2] == (400, "invalid_enrolment_code")
    assert account_of(session, person).status == "pending"
    assert activate(session, keys, person, code).status == "active"


def test_an_expired_code_is_refused(session: Session, keys: KeyRing, person: Person) -> None:
    code = enrol(session, person)
    account = account_of(session, person)
    account.enrolment_expires_at = utcnow() - timedelta(seconds=1)
    session.flush()
    with pytest.raises(service.EnrolmentCodeExpiredError) as excinfo:
        activate(session, keys, person, code)
    assert excinfo.value.code == "enrolment_code_expired"
    assert account_of(session, person).status == "pending"
    # A new code (a new identity check) works.
    assert activate(session, keys, person, enrol(session, person)).status == "active"


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("short1234", "too_short"),
        ("x" * 257, "too_long"),
        ("aaaaaaaaaaaa", "repeated_character"),
        ("IDENTIFIER", "equals_identifier"),
    ],
)
def test_weak_passwords_are_refused(
    session: Session, keys: KeyRing, person: Person, password: str, rule: str
) -> None:
    code = enrol(session, person)
    password = password.replace("IDENTIFIER", person.identifier.lower())
    with pytest.raises(service.WeakPasswordError) as excinfo:
        activate(session, keys, person, code, password)
    assert excinfo.value.code == "weak_password"
    assert excinfo.value.extensions["rule"] == rule
    assert password not in excinfo.value.detail
    assert person.identifier not in excinfo.value.detail
    # The code is not spent by a refused password.
    assert activate(session, keys, person, code).status == "active"


def test_password_bounds_are_inclusive(session: Session, keys: KeyRing) -> None:
    for password in ("a" * 9 + "b", "ab" * 128):
        person = make_person(session, keys)
        assert activate(session, keys, person, enrol(session, person), password).status == "active"


def test_a_malformed_identifier_is_an_identifier_error(
    session: Session, keys: KeyRing, settings: Settings
) -> None:
    valid = new_resident_id()
    malformed = valid[:-1] + ("1" if valid[-1] != "1" else "2")
    with pytest.raises(InvalidIdentifierError) as excinfo:
        service.activate_account(session, keys, "resident_id", malformed, "X", PASSWORD)
    assert malformed not in excinfo.value.detail
    with pytest.raises(InvalidIdentifierError):
        service.login(session, keys, settings, "resident_id", malformed, PASSWORD)


# --- sign-in --------------------------------------------------------------------------------


@pytest.mark.usefixtures("active")
def test_login_issues_a_token_whose_hash_only_is_stored(
    session: Session, keys: KeyRing, settings: Settings, person: Person
) -> None:
    issued = service.login(session, keys, settings, "resident_id", person.identifier, PASSWORD)
    assert TOKEN.match(issued.token)
    record = session.scalar(select(SubjectSession))
    assert record is not None
    assert record.token_id == issued.token.split("_")[1]
    assert issued.token.split("_", 2)[2] not in record.secret_hash.hex()
    assert len(record.secret_hash) == 32
    assert record.expires_at == issued.expires_at
    assert record.expires_at - record.created_at == timedelta(hours=settings.subject_session_hours)


def test_every_refusal_looks_the_same(
    session: Session, keys: KeyRing, settings: Settings, person: Person
) -> None:
    activate(session, keys, person, enrol(session, person))
    pending = make_person(session, keys)
    enrol(session, pending)
    disabled = make_person(session, keys)
    account = activate(session, keys, disabled, enrol(session, disabled))
    service.disable_account(session, LOCAL_OPERATOR, account.id, "subject asked")
    no_account = make_person(session, keys)
    unknown = Person(0, new_resident_id(), "")
    answers = {}
    for what, who, password in [
        ("wrong password", person, PASSWORD + "!"),
        ("pending account", pending, PASSWORD),
        ("disabled account", disabled, PASSWORD),
        ("no account", no_account, PASSWORD),
        ("unknown identifier", unknown, PASSWORD),
    ]:
        with pytest.raises(service.InvalidCredentialsError) as excinfo:
            login(session, keys, settings, who, password)
        answers[what] = refused(excinfo)
        assert who.identifier not in excinfo.value.detail
    assert len(set(answers.values())) == 1, answers
    assert next(iter(answers.values()))[:2] == (401, "invalid_credentials")


def test_five_failures_lock_the_account_until_locked_until_passes(
    session: Session, keys: KeyRing, settings: Settings, person: Person, active: SubjectAccount
) -> None:
    for _ in range(service.LOCKOUT_THRESHOLD - 1):
        with pytest.raises(service.InvalidCredentialsError):
            login(session, keys, settings, person, "wrong password!")
    assert active.failed_logins == service.LOCKOUT_THRESHOLD - 1
    with pytest.raises(service.AccountLockedError) as excinfo:
        login(session, keys, settings, person, "wrong password!")
    assert excinfo.value.code == "account_locked"
    assert excinfo.value.status == 429
    retry_after = excinfo.value.extensions["retry_after"]
    assert 0 < retry_after <= service.LOCKOUT_DURATION.total_seconds()
    assert active.locked_until is not None
    # While locked even the right password is refused, and nothing is learnt from it.
    with pytest.raises(service.AccountLockedError):
        login(session, keys, settings, person)

    active.locked_until = utcnow() - timedelta(seconds=1)
    session.flush()
    assert TOKEN.match(login(session, keys, settings, person))
    assert active.failed_logins == 0
    assert active.locked_until is None


def test_a_success_resets_the_failure_count(
    session: Session, keys: KeyRing, settings: Settings, person: Person, active: SubjectAccount
) -> None:
    for _ in range(service.LOCKOUT_THRESHOLD - 1):
        with pytest.raises(service.InvalidCredentialsError):
            login(session, keys, settings, person, "wrong password!")
    login(session, keys, settings, person)
    assert active.failed_logins == 0
    with pytest.raises(service.InvalidCredentialsError):
        login(session, keys, settings, person, "wrong password!")


def test_an_outdated_hash_is_upgraded_at_sign_in(
    session: Session, keys: KeyRing, settings: Settings, person: Person, active: SubjectAccount
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    active.password_hash = weak.hash(PASSWORD)
    session.flush()
    login(session, keys, settings, person)
    assert active.password_hash is not None
    assert not PasswordHasher().check_needs_rehash(active.password_hash)
    assert PasswordHasher().verify(active.password_hash, PASSWORD)


def test_the_same_password_typed_in_full_width_characters_signs_in(
    session: Session, keys: KeyRing, settings: Settings, person: Person
) -> None:
    activate(session, keys, person, enrol(session, person), "Password2026")
    full_width = "Ｐａｓｓｗｏｒｄ２０２６"
    assert TOKEN.match(login(session, keys, settings, person, full_width))


# --- sessions -------------------------------------------------------------------------------


@pytest.mark.usefixtures("active")
def test_a_token_authenticates_its_subject(
    session: Session, keys: KeyRing, settings: Settings, person: Person
) -> None:
    principal = service.authenticate_subject(session, login(session, keys, settings, person))
    account = account_of(session, person)
    assert principal.role is Role.SUBJECT
    assert principal.subject_id == person.subject_id
    assert principal.subject_account_id == account.id
    assert principal.api_key_id is None
    assert principal.institution_id is None
    assert principal.label == f"subject account {account.id}"
    me = service.view_me(session, keys, principal)
    assert me.subject_id == person.subject_id
    assert me.name == person.name
    assert me.identifier == person.identifier[:4] + "*" * 10 + person.identifier[-4:]
    assert me.account_status is AccountStatus.ACTIVE


@pytest.mark.usefixtures("active")
def test_forged_and_malformed_tokens_are_refused(
    session: Session, keys: KeyRing, settings: Settings, person: Person
) -> None:
    token = login(session, keys, settings, person)
    prefix, token_id, secret = token.split("_", 2)
    for presented in [
        f"{prefix}_{token_id}_{'A' * 43}",
        f"{prefix}_{'0' * 12}_{secret}",
        "xs_",
        "xs_garbage",
        token + "x",
    ]:
        with pytest.raises(service.InvalidSessionError):
            service.authenticate_subject(session, presented)


@pytest.mark.usefixtures("active")
def test_logout_ends_the_token(
    session: Session, keys: KeyRing, settings: Settings, person: Person
) -> None:
    token = login(session, keys, settings, person)
    other = login(session, keys, settings, person)
    service.logout(session, service.authenticate_subject(session, token))
    with pytest.raises(service.InvalidSessionError):
        service.authenticate_subject(session, token)
    # Another session of the same account (another device) goes on.
    assert service.authenticate_subject(session, other).subject_id == person.subject_id


@pytest.mark.usefixtures("active")
def test_an_expired_session_is_refused(
    session: Session, keys: KeyRing, settings: Settings, person: Person
) -> None:
    token = login(session, keys, settings, person)
    record = session.scalar(select(SubjectSession))
    assert record is not None
    record.expires_at = utcnow() - timedelta(seconds=1)
    session.flush()
    with pytest.raises(service.SessionExpiredError) as excinfo:
        service.authenticate_subject(session, token)
    assert (excinfo.value.status, excinfo.value.code) == (401, "session_expired")


def test_logout_needs_a_subject_session(session: Session) -> None:
    with pytest.raises(service.InvalidSessionError):
        service.logout(session, LOCAL_OPERATOR)


def test_re_enrolment_resets_the_password_and_ends_sessions(
    session: Session, keys: KeyRing, settings: Settings, person: Person, active: SubjectAccount
) -> None:
    token = login(session, keys, settings, person)
    issued = service.enrol_subject(
        session, LOCAL_OPERATOR, person.subject_id, reason="lost password; passport checked"
    )
    assert issued.account_id == active.id
    assert active.status == "pending"
    assert active.password_hash is None
    with pytest.raises(service.InvalidSessionError):
        service.authenticate_subject(session, token)
    with pytest.raises(service.InvalidCredentialsError):
        login(session, keys, settings, person)
    activate(session, keys, person, issued.enrolment_code, "a brand new password")
    assert TOKEN.match(login(session, keys, settings, person, "a brand new password"))
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "subject_account.enrol")
        .order_by(AuditEntry.id)
    ).all()
    assert [e.details["reissued"] for e in entries] == [False, True]
    assert entries[1].details["sessions_ended"] == 1
    assert entries[1].details["previous_status"] == "active"


def test_disabling_ends_sessions_and_refuses_sign_in(
    session: Session, keys: KeyRing, settings: Settings, person: Person, active: SubjectAccount
) -> None:
    token = login(session, keys, settings, person)
    service.disable_account(session, LOCAL_OPERATOR, active.id, "subject reported a stolen phone")
    assert active.status == "disabled"
    assert active.disabled_at is not None
    with pytest.raises(service.InvalidSessionError):
        service.authenticate_subject(session, token)
    with pytest.raises(service.InvalidCredentialsError):
        login(session, keys, settings, person)
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "subject_account.disable"))
    assert entry is not None
    assert entry.reason == "subject reported a stolen phone"
    assert entry.target_id == str(active.id)
    assert entry.details["sessions_ended"] == 1
    # The way back is a new enrolment.
    code = enrol(session, person)
    activate(session, keys, person, code)
    assert TOKEN.match(login(session, keys, settings, person))


def test_a_disabled_pending_account_voids_its_code(
    session: Session, keys: KeyRing, person: Person
) -> None:
    code = enrol(session, person)
    service.disable_account(
        session, LOCAL_OPERATOR, account_of(session, person).id, "wrong person enrolled"
    )
    with pytest.raises(service.InvalidEnrolmentCodeError):
        activate(session, keys, person, code)


def test_disabling_needs_a_reason_and_an_account(session: Session) -> None:
    with pytest.raises(service.ReasonRequiredError):
        service.disable_account(session, LOCAL_OPERATOR, 1, "")
    with pytest.raises(service.SubjectAccountNotFoundError) as excinfo:
        service.disable_account(session, LOCAL_OPERATOR, 987654, "why")
    assert (excinfo.value.status, excinfo.value.code) == (404, "subject_account_not_found")


def test_the_principal_is_a_subject_principal(
    session: Session, keys: KeyRing, settings: Settings, person: Person, active: SubjectAccount
) -> None:
    principal = service.authenticate_subject(session, login(session, keys, settings, person))
    assert isinstance(principal, SubjectPrincipal)
    record = session.get(SubjectSession, principal.subject_session_id)
    assert record is not None
    assert record.account_id == active.id
