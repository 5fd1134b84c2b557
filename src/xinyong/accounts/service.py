"""Subject accounts: enrolment by an operator, activation, sign-in, sessions.

An operator checks a data subject's identity (at a counter, by video, by post) and enrols
the subject: the account gets a one-time enrolment code, handed over once. The subject
activates the account with the code and chooses a password, then signs in to the portal
with identifier and password and gets a bearer token ``xs_<token_id>_<secret>``.

Only hashes are stored: SHA-256 of enrolment codes and session tokens (random secrets, so
a fast hash suffices), Argon2id of passwords (chosen by people, so a slow one). Identifiers,
passwords, codes and tokens never appear in error messages.

Sign-in refusals are deliberately uniform: an unknown identifier, a subject without an
account, a pending or disabled account and a wrong password all give
:class:`InvalidCredentialsError`, after the same Argon2 work, so the answer does not tell
whether a subject has an account.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import unicodedata
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyong.accounts.models import SubjectAccount, SubjectSession
from xinyong.accounts.schemas import (
    AccountStatus,
    IssuedEnrolment,
    IssuedSession,
    PortalMe,
    SubjectAccountView,
    SubjectPrincipal,
)
from xinyong.audit.schemas import StaffAction
from xinyong.audit.service import record_staff_action
from xinyong.config import Settings
from xinyong.db import utcnow
from xinyong.errors import AuthenticationError, NotFoundError, XinyongError
from xinyong.identity.crypto import KeyRing
from xinyong.identity.identifiers import IdentifierType
from xinyong.identity.models import Subject
from xinyong.identity.service import get_subject, subject_ref, view_subject
from xinyong.institutions.schemas import Principal, Role

SUBJECT_TOKEN_PREFIX = "xs_"  # noqa: S105 - a prefix, not a secret

# An enrolment code travels on paper or by phone, so it must survive being read aloud and
# typed: 12 characters from an alphabet without 0/O, 1/I/L, in groups of four. 31^12 ≈ 2^59
# codes, against online guessing bounded by the validity below.
ENROLMENT_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
ENROLMENT_CODE_LENGTH = 12
ENROLMENT_CODE_GROUP = 4
# Long enough to reach a subject by post and let them act on it; short enough that a lost
# letter stops being a standing credential. A platform policy choice, not a legal rule.
ENROLMENT_CODE_VALIDITY = timedelta(days=7)

# Password policy (cf. NIST SP 800-63B §5.1.1.2: length over composition rules).
PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 256

# Online guessing: this many wrong passwords in a row lock the account for a while. The
# counter restarts after the lock, so the attempts an attacker gets are bounded in time.
LOCKOUT_THRESHOLD = 5
LOCKOUT_DURATION = timedelta(minutes=15)

# Argon2id with the library's defaults (RFC 9106 second recommended option: 64 MiB, t=3).
_hasher = PasswordHasher()


# --- errors ---------------------------------------------------------------------------------


class SubjectAccountNotFoundError(NotFoundError):
    code = "subject_account_not_found"
    title = "Subject account not found"


class ReasonRequiredError(XinyongError):
    code = "reason_required"
    title = "A reason is required"


class InvalidEnrolmentCodeError(XinyongError):
    code = "invalid_enrolment_code"
    title = "Invalid enrolment code"


class EnrolmentCodeExpiredError(XinyongError):
    code = "enrolment_code_expired"
    title = "Enrolment code expired"


class WeakPasswordError(XinyongError):
    """The password breaks the policy; ``extensions["rule"]`` says which rule."""

    code = "weak_password"
    title = "Password too weak"


class LoginRefusedError(XinyongError):
    """A refused sign-in; the failure count it leaves in the session must be committed."""


class InvalidCredentialsError(LoginRefusedError, AuthenticationError):
    status = 401
    code = "invalid_credentials"
    title = "Invalid credentials"


class AccountLockedError(LoginRefusedError):
    """Sign-in refused for a while after repeated failures; ``retry_after`` in seconds."""

    status = 429
    code = "account_locked"
    title = "Too many failed sign-ins"


class InvalidSessionError(AuthenticationError):
    code = "invalid_session"
    title = "Invalid session"


class SessionExpiredError(AuthenticationError):
    code = "session_expired"
    title = "Session expired"


# --- helpers --------------------------------------------------------------------------------


def _sha256(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


def _new_enrolment_code() -> str:
    raw = "".join(secrets.choice(ENROLMENT_CODE_ALPHABET) for _ in range(ENROLMENT_CODE_LENGTH))
    return "-".join(
        raw[i : i + ENROLMENT_CODE_GROUP] for i in range(0, len(raw), ENROLMENT_CODE_GROUP)
    )


def normalize_enrolment_code(code: str) -> str:
    """The code as hashed: upper case, without the spaces and hyphens people type."""
    return "".join(c for c in code.upper() if c not in " -\t")


def _normalize_password(password: str) -> str:
    # NFKC so that the same password typed on two keyboards (full-width vs half-width
    # characters, composed vs decomposed accents) is the same password.
    return unicodedata.normalize("NFKC", password)


@cache
def _dummy_hash() -> str:
    """A hash to verify against when there is no account, so refusals take equal time."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def check_password_policy(password: str, identifier: str) -> None:
    """Raise :class:`WeakPasswordError` unless ``password`` meets the policy."""
    password = _normalize_password(password)
    if len(password) < PASSWORD_MIN_LENGTH:
        raise WeakPasswordError(
            f"the password must have at least {PASSWORD_MIN_LENGTH} characters",
            rule="too_short",
            min_length=PASSWORD_MIN_LENGTH,
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        raise WeakPasswordError(
            f"the password may have at most {PASSWORD_MAX_LENGTH} characters",
            rule="too_long",
            max_length=PASSWORD_MAX_LENGTH,
        )
    if len(set(password)) == 1:
        raise WeakPasswordError(
            "the password must not be one character repeated", rule="repeated_character"
        )
    if password.strip().casefold() == identifier.strip().casefold():
        raise WeakPasswordError(
            "the password must not be your identifier", rule="equals_identifier"
        )


def _find_subject_id(session: Session, keys: KeyRing, id_type: str, identifier: str) -> int | None:
    ref = subject_ref(keys, id_type, identifier)  # InvalidIdentifierError if malformed
    subject_id: int | None = session.scalar(
        select(Subject.id).where(Subject.identifier_index == ref.index)
    )
    return subject_id


def _account_of_subject(
    session: Session, subject_id: int, *, for_update: bool = False
) -> SubjectAccount | None:
    query = select(SubjectAccount).where(SubjectAccount.subject_id == subject_id)
    if for_update:
        query = query.with_for_update()
    return session.scalar(query)


def _end_sessions(session: Session, account_id: int, now: datetime) -> int:
    """End every open session of an account; return how many were open."""
    result = session.execute(
        update(SubjectSession)
        .where(SubjectSession.account_id == account_id, SubjectSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- operator side --------------------------------------------------------------------------


def _require_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ReasonRequiredError("a reason is required: say which identity check was performed")
    return reason


def enrol_subject(
    session: Session, principal: Principal, subject_id: int, *, reason: str
) -> IssuedEnrolment:
    """Create the subject's account, or re-issue its code; return the one-time code once.

    Only an operator may enrol (the route and the CLI see to that); ``principal`` is who
    the audit entry names and ``reason`` records the identity check performed. Re-issuing
    is a password reset: open sessions end, the password is cleared and the account is
    pending until the subject activates it with the new code.
    """
    reason = _require_reason(reason)
    get_subject(session, subject_id)  # SubjectNotFoundError
    now = utcnow()
    account = _account_of_subject(session, subject_id, for_update=True)
    created = account is None
    if account is None:
        # The unique constraint on subject_id settles two operators enrolling at once.
        try:
            with session.begin_nested():
                account = SubjectAccount(subject_id=subject_id, created_at=now)
                session.add(account)
                session.flush()
        except IntegrityError:
            created = False
            account = _account_of_subject(session, subject_id, for_update=True)
            if account is None:  # pragma: no cover - the conflicting row vanished
                raise
    previous = account.status
    ended = 0 if created else _end_sessions(session, account.id, now)
    code = _new_enrolment_code()
    account.status = AccountStatus.PENDING.value
    account.enrolment_code_hash = _sha256(normalize_enrolment_code(code))
    account.enrolment_expires_at = now + ENROLMENT_CODE_VALIDITY
    account.password_hash = None
    account.failed_logins = 0
    account.locked_until = None
    account.activated_at = None
    account.disabled_at = None
    session.flush()
    record_staff_action(
        session,
        principal,
        StaffAction.SUBJECT_ACCOUNT_ENROL,
        target_type="subject_account",
        target_id=account.id,
        reason=reason,
        details={
            "subject_id": subject_id,
            "reissued": not created,
            "previous_status": None if created else previous,
            "sessions_ended": ended,
        },
    )
    return IssuedEnrolment(
        account_id=account.id,
        subject_id=subject_id,
        enrolment_code=code,
        expires_at=account.enrolment_expires_at,
    )


def get_account(session: Session, account_id: int) -> SubjectAccount:
    account = session.get(SubjectAccount, account_id)
    if account is None:
        raise SubjectAccountNotFoundError(f"subject account {account_id} does not exist")
    return account


def view_account(account: SubjectAccount) -> SubjectAccountView:
    return SubjectAccountView(
        id=account.id,
        subject_id=account.subject_id,
        status=AccountStatus(account.status),
        created_at=account.created_at,
        activated_at=account.activated_at,
        disabled_at=account.disabled_at,
        enrolment_expires_at=(
            account.enrolment_expires_at if account.enrolment_code_hash is not None else None
        ),
        locked_until=account.locked_until,
    )


def disable_account(
    session: Session, principal: Principal, account_id: int, reason: str
) -> SubjectAccount:
    """Disable an account: its sessions end, its code is void, sign-in is refused.

    Enrolling the subject again (a new identity check) is the way back.
    """
    reason = _require_reason(reason)
    account = get_account(session, account_id)
    now = utcnow()
    previous = account.status
    ended = _end_sessions(session, account.id, now)
    if account.status != AccountStatus.DISABLED.value:
        account.status = AccountStatus.DISABLED.value
        account.disabled_at = now
    account.enrolment_code_hash = None
    account.enrolment_expires_at = None
    session.flush()
    record_staff_action(
        session,
        principal,
        StaffAction.SUBJECT_ACCOUNT_DISABLE,
        target_type="subject_account",
        target_id=account.id,
        reason=reason,
        details={
            "subject_id": account.subject_id,
            "previous_status": previous,
            "sessions_ended": ended,
        },
    )
    return account


# --- subject side ---------------------------------------------------------------------------


def activate_account(
    session: Session,
    keys: KeyRing,
    identifier_type: IdentifierType | str,
    identifier: str,
    code: str,
    password: str,
) -> SubjectAccount:
    """Complete enrolment: check the one-time code, set the password, activate the account.

    An unknown identifier, a subject without an account and a wrong or used code all give
    :class:`InvalidEnrolmentCodeError`; only the holder of the right code learns that it
    expired or that the password is too weak.
    """
    subject_id = _find_subject_id(session, keys, str(identifier_type), identifier)
    account = (
        _account_of_subject(session, subject_id, for_update=True)
        if subject_id is not None
        else None
    )
    presented = _sha256(normalize_enrolment_code(code))
    stored = account.enrolment_code_hash if account is not None else None
    # Compare even when there is nothing to compare with, so the answer takes equal time.
    matches = hmac.compare_digest(stored or bytes(32), presented) and stored is not None
    if account is None or not matches or account.status != AccountStatus.PENDING.value:
        raise InvalidEnrolmentCodeError("the enrolment code is not valid")
    now = utcnow()
    if account.enrolment_expires_at is None or account.enrolment_expires_at <= now:
        raise EnrolmentCodeExpiredError(
            "the enrolment code has expired: ask for a new one",
            expired_at=account.enrolment_expires_at.isoformat()
            if account.enrolment_expires_at
            else None,
        )
    check_password_policy(password, identifier)
    account.password_hash = _hasher.hash(_normalize_password(password))
    account.status = AccountStatus.ACTIVE.value
    account.activated_at = now
    account.enrolment_code_hash = None
    account.enrolment_expires_at = None
    account.failed_logins = 0
    account.locked_until = None
    session.flush()
    return account


def _locked(account: SubjectAccount, now: datetime) -> AccountLockedError:
    assert account.locked_until is not None
    retry_after = max(1, math.ceil((account.locked_until - now).total_seconds()))
    return AccountLockedError(
        f"too many failed sign-ins: try again in {retry_after} seconds",
        retry_after=retry_after,
    )


def login(
    session: Session,
    keys: KeyRing,
    settings: Settings,
    identifier_type: IdentifierType | str,
    identifier: str,
    password: str,
) -> IssuedSession:
    """Sign a subject in and return a new session token, shown once.

    Raises :class:`InvalidCredentialsError` for every kind of refusal except a locked
    account (:class:`AccountLockedError`, with ``retry_after`` seconds). A refusal may have
    changed the account's failure count: the caller commits the session even though this
    raised (both errors are :class:`LoginRefusedError`).
    """
    subject_id = _find_subject_id(session, keys, str(identifier_type), identifier)
    account = (
        _account_of_subject(session, subject_id, for_update=True)
        if subject_id is not None
        else None
    )
    now = utcnow()
    refused = InvalidCredentialsError("the identifier or the password is not correct")
    if account is None or account.status != AccountStatus.ACTIVE.value:
        _verify_password(None, password)  # the same work as a real check
        raise refused
    if account.locked_until is not None and account.locked_until > now:
        raise _locked(account, now)
    normalized = _normalize_password(password)
    if not _verify_password(account.password_hash, normalized):
        account.failed_logins += 1
        if account.failed_logins >= LOCKOUT_THRESHOLD:
            account.failed_logins = 0
            account.locked_until = now + LOCKOUT_DURATION
            session.flush()
            raise _locked(account, now)
        session.flush()
        raise refused
    assert account.password_hash is not None
    account.failed_logins = 0
    account.locked_until = None
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(normalized)
    token_id = secrets.token_hex(6)
    token = f"{SUBJECT_TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    expires_at = now + timedelta(hours=settings.subject_session_hours)
    session.add(
        SubjectSession(
            token_id=token_id,
            secret_hash=_sha256(token),
            account_id=account.id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    return IssuedSession(token=token, expires_at=expires_at)


def authenticate_subject(session: Session, presented_token: str) -> SubjectPrincipal:
    """Resolve a portal session token to the signed-in subject, or raise 401."""
    parts = presented_token.split("_", 2)
    if len(parts) != 3 or parts[0] + "_" != SUBJECT_TOKEN_PREFIX or not parts[1]:
        raise InvalidSessionError("the session token is malformed")
    record = session.scalar(select(SubjectSession).where(SubjectSession.token_id == parts[1]))
    if record is None or not hmac.compare_digest(record.secret_hash, _sha256(presented_token)):
        raise InvalidSessionError("the session token is not valid")
    if record.ended_at is not None:
        raise InvalidSessionError("the session has ended: sign in again")
    if record.expires_at <= utcnow():
        raise SessionExpiredError("the session has expired: sign in again")
    account = session.get(SubjectAccount, record.account_id)
    if account is None or account.status != AccountStatus.ACTIVE.value:
        raise InvalidSessionError("the account is not active")
    return SubjectPrincipal(
        api_key_id=None,
        role=Role.SUBJECT,
        institution_id=None,
        institution_code=None,
        label=f"subject account {account.id}",
        subject_id=account.subject_id,
        subject_account_id=account.id,
        subject_session_id=record.id,
    )


def logout(session: Session, principal: Principal) -> None:
    """End the session the principal signed in with."""
    if not isinstance(principal, SubjectPrincipal):
        raise InvalidSessionError("only a signed-in subject can sign out")
    record = session.get(SubjectSession, principal.subject_session_id)
    if record is not None and record.ended_at is None:
        record.ended_at = utcnow()
        session.flush()


def view_me(session: Session, keys: KeyRing, principal: Principal) -> PortalMe:
    """The signed-in subject, identifier masked; never anyone else's data."""
    if principal.role is not Role.SUBJECT or principal.subject_account_id is None:
        raise InvalidSessionError("only a signed-in subject has a portal identity")
    account = get_account(session, principal.subject_account_id)
    # The subject comes from the account, never from anything the caller sent.
    subject = view_subject(keys, get_subject(session, account.subject_id), reveal=False)
    return PortalMe(
        subject_id=subject.id,
        kind=subject.kind,
        identifier_type=subject.id_type,
        identifier=subject.identifier,
        name=subject.name,
        name_en=subject.name_en,
        account_id=account.id,
        account_status=AccountStatus(account.status),
    )
