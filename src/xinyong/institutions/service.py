"""Institutions, their permissions and their API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyong.audit.schemas import StaffAction
from xinyong.audit.service import record_staff_action
from xinyong.catalog.service import get_catalog
from xinyong.db import utcnow
from xinyong.errors import AuthenticationError, ConflictError, NotFoundError, XinyongError
from xinyong.identity.crypto import KeyRing
from xinyong.identity.identifiers import validate_uscc
from xinyong.institutions.models import ApiKey, Institution
from xinyong.institutions.schemas import (
    KNOWN_PURPOSES,
    ApiKeyView,
    InstitutionCreate,
    InstitutionKind,
    InstitutionView,
    IssuedApiKey,
    Principal,
    Role,
)

USCC_CONTEXT = b"institution.uscc"
API_KEY_PREFIX = "xy_"


class InstitutionNotFoundError(NotFoundError):
    code = "institution_not_found"
    title = "Institution not found"


class InstitutionExistsError(ConflictError):
    code = "institution_exists"
    title = "Institution already registered"


class InvalidPermissionError(XinyongError):
    code = "invalid_permission"
    title = "Invalid permission"


class ApiKeyNotFoundError(NotFoundError):
    code = "api_key_not_found"
    title = "API key not found"


class InvalidApiKeyError(AuthenticationError):
    code = "invalid_api_key"
    title = "Invalid API key"


def _check_permissions(data: InstitutionCreate) -> None:
    catalog = get_catalog()
    unknown_types = sorted(set(data.permitted_record_types) - set(catalog.record_types))
    if unknown_types:
        raise InvalidPermissionError(
            f"unknown record types: {', '.join(unknown_types)}", unknown=unknown_types
        )
    unknown_purposes = sorted(set(data.permitted_purposes) - set(KNOWN_PURPOSES))
    if unknown_purposes:
        raise InvalidPermissionError(
            f"unknown purposes: {', '.join(unknown_purposes)}; known: {', '.join(KNOWN_PURPOSES)}",
            unknown=unknown_purposes,
        )
    if data.permitted_record_types and not data.is_furnisher:
        raise InvalidPermissionError("only a furnisher may be permitted record types")
    if data.permitted_purposes and not data.is_querier:
        raise InvalidPermissionError("only a querying institution may be permitted purposes")
    if not (data.is_furnisher or data.is_querier):
        raise InvalidPermissionError("an institution must be a furnisher, a querier or both")


def create_institution(
    session: Session, keys: KeyRing, data: InstitutionCreate, *, actor: Principal | None = None
) -> Institution:
    """Register an institution after validating its USCC and permissions.

    ``actor``, when given, is the staff member doing it: the action goes to the audit trail.
    """
    uscc = validate_uscc(data.uscc)
    _check_permissions(data)
    index = keys.blind_index(USCC_CONTEXT, uscc)
    if session.scalar(select(Institution.id).where(Institution.code == data.code)) is not None:
        raise InstitutionExistsError(f"an institution with code {data.code!r} exists")
    if session.scalar(select(Institution.id).where(Institution.uscc_index == index)) is not None:
        raise InstitutionExistsError("an institution with this USCC exists")
    institution = Institution(
        code=data.code,
        name=data.name,
        name_en=data.name_en,
        kind=data.kind.value,
        uscc_ct=keys.encrypt_text(uscc, USCC_CONTEXT),
        uscc_index=index,
        is_furnisher=data.is_furnisher,
        is_querier=data.is_querier,
        permitted_record_types=sorted(set(data.permitted_record_types)),
        permitted_purposes=sorted(set(data.permitted_purposes)),
    )
    # The checks above give clear messages; the unique constraints settle a race.
    try:
        with session.begin_nested():
            session.add(institution)
            session.flush()
    except IntegrityError as exc:
        raise InstitutionExistsError("an institution with this code or USCC exists") from exc
    if actor is not None:
        record_staff_action(
            session,
            actor,
            StaffAction.INSTITUTION_CREATE,
            target_type="institution",
            target_id=institution.id,
            details={"code": institution.code},
        )
    return institution


def get_institution(session: Session, institution_id: int) -> Institution:
    institution = session.get(Institution, institution_id)
    if institution is None:
        raise InstitutionNotFoundError(f"institution {institution_id} does not exist")
    return institution


def get_institution_by_code(session: Session, code: str) -> Institution:
    institution = session.scalar(select(Institution).where(Institution.code == code))
    if institution is None:
        raise InstitutionNotFoundError(f"no institution with code {code!r}")
    return institution


def list_institutions(session: Session) -> Sequence[Institution]:
    return session.scalars(select(Institution).order_by(Institution.id)).all()


def view_institution(keys: KeyRing, institution: Institution) -> InstitutionView:
    """An institution's USCC is public registration data, shown whole."""
    return InstitutionView(
        id=institution.id,
        code=institution.code,
        name=institution.name,
        name_en=institution.name_en,
        kind=InstitutionKind(institution.kind),
        uscc=keys.decrypt_text(institution.uscc_ct, USCC_CONTEXT),
        is_furnisher=institution.is_furnisher,
        is_querier=institution.is_querier,
        permitted_record_types=list(institution.permitted_record_types),
        permitted_purposes=list(institution.permitted_purposes),
        status=institution.status,
        created_at=institution.created_at,
    )


def _hash_key(api_key: str) -> bytes:
    # Keys are 256-bit random secrets, so a fast hash is enough (no password stretching).
    return hashlib.sha256(api_key.encode("utf-8")).digest()


def issue_api_key(
    session: Session,
    role: Role,
    institution: Institution | None,
    label: str = "",
    *,
    actor: Principal | None = None,
) -> IssuedApiKey:
    """Create an API key and return it once; only its hash is kept."""
    if role is Role.SUBJECT:
        raise InvalidPermissionError("data subjects sign in with a subject account, not an API key")
    if role in (Role.OPERATOR, Role.AUDITOR):
        if institution is not None:
            raise InvalidPermissionError(
                f"{role.value} keys belong to platform staff, not to an institution"
            )
    else:
        if institution is None:
            raise InvalidPermissionError(f"a {role.value} key needs an institution")
        if role is Role.FURNISHER and not institution.is_furnisher:
            raise InvalidPermissionError(f"institution {institution.code} is not a furnisher")
        if role is Role.QUERIER and not institution.is_querier:
            raise InvalidPermissionError(
                f"institution {institution.code} is not a querying institution"
            )
        if institution.status != "active":
            raise InvalidPermissionError(f"institution {institution.code} is {institution.status}")
    key_id = secrets.token_hex(6)
    secret = API_KEY_PREFIX + key_id + "_" + secrets.token_urlsafe(32)
    record = ApiKey(
        key_id=key_id,
        secret_hash=_hash_key(secret),
        role=role.value,
        institution_id=institution.id if institution else None,
        label=label
        or (f"{role.value} key for {institution.code}" if institution else f"{role.value} key"),
    )
    session.add(record)
    session.flush()
    if actor is not None:
        record_staff_action(
            session,
            actor,
            StaffAction.API_KEY_ISSUE,
            target_type="api_key",
            target_id=record.key_id,
            details={"role": role.value, "institution_id": record.institution_id},
        )
    return IssuedApiKey(**view_api_key(record).model_dump(), api_key=secret)


def view_api_key(record: ApiKey) -> ApiKeyView:
    return ApiKeyView(
        id=record.id,
        key_id=record.key_id,
        role=Role(record.role),
        institution_id=record.institution_id,
        label=record.label,
        created_at=record.created_at,
        revoked_at=record.revoked_at,
    )


def list_api_keys(session: Session, institution_id: int | None = None) -> Sequence[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.id)
    if institution_id is not None:
        query = query.where(ApiKey.institution_id == institution_id)
    return session.scalars(query).all()


def revoke_api_key(
    session: Session, key_id: str, *, actor: Principal | None = None, reason: str | None = None
) -> ApiKey:
    record = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    if record is None:
        raise ApiKeyNotFoundError(f"no API key {key_id!r}")
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        session.flush()
        if actor is not None:
            record_staff_action(
                session,
                actor,
                StaffAction.API_KEY_REVOKE,
                target_type="api_key",
                target_id=key_id,
                reason=reason,
            )
    return record


# One statement per authentication, built once: the key and its institution together. It
# runs on every request, so it skips the ORM's identity map and unit of work.
_AUTHENTICATE = (
    select(
        ApiKey.id,
        ApiKey.secret_hash,
        ApiKey.role,
        ApiKey.institution_id,
        ApiKey.label,
        ApiKey.revoked_at,
        Institution.code,
        Institution.status,
    )
    .outerjoin(Institution, Institution.id == ApiKey.institution_id)
    .where(ApiKey.key_id == bindparam("key_id"))
)


def authenticate(session: Session, presented: str) -> Principal:
    """Resolve a presented API key to its principal, or raise InvalidApiKeyError.

    Read in the caller's transaction, never cached: a key revoked or an institution
    suspended is refused on the very next request.
    """
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] + "_" != API_KEY_PREFIX:
        raise InvalidApiKeyError("the API key is malformed")
    row = session.connection().execute(_AUTHENTICATE, {"key_id": parts[1]}).first()
    if row is None or not hmac.compare_digest(row.secret_hash, _hash_key(presented)):
        raise InvalidApiKeyError("the API key is not valid")
    if row.revoked_at is not None:
        raise InvalidApiKeyError("the API key has been revoked")
    institution_code = None
    if row.institution_id is not None:
        if row.code is None:
            raise InstitutionNotFoundError(f"institution {row.institution_id} does not exist")
        if row.status != "active":
            raise InvalidApiKeyError(f"institution {row.code} is {row.status}")
        institution_code = row.code
    return Principal(
        api_key_id=row.id,
        role=Role(row.role),
        institution_id=row.institution_id,
        institution_code=institution_code,
        label=row.label,
    )
