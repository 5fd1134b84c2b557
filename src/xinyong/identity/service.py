"""Subjects: find or create by identifier, read them back decrypted and masked."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from xinyong.db import allocate_ids, bulk_insert, bytes_in, in_batches, utcnow
from xinyong.errors import NotFoundError, XinyongError
from xinyong.identity.crypto import KeyRing
from xinyong.identity.identifiers import (
    IdentifierType,
    InvalidIdentifierError,
    SubjectKind,
    is_individual_business,
    mask_identifier,
    subject_kind_for,
    validate_identifier,
)
from xinyong.identity.models import OrganisationName, Subject
from xinyong.identity.schemas import SubjectView

IDENTIFIER_CONTEXT = b"subject.identifier"
NAME_CONTEXT = b"subject.name"
NAME_EN_CONTEXT = b"subject.name_en"
_SUBJECT_COLUMNS = (
    "id",
    "kind",
    "id_type",
    "identifier_index",
    "identifier_ct",
    "name_ct",
    "name_en_ct",
    "created_at",
)


class SubjectNotFoundError(NotFoundError):
    code = "subject_not_found"
    title = "Subject not found"


def identifier_index(keys: KeyRing, id_type: IdentifierType | str, normalized: str) -> bytes:
    """The blind index under which a (type, identifier) pair is found."""
    return keys.blind_index(IDENTIFIER_CONTEXT, f"{IdentifierType(id_type).value}:{normalized}")


@dataclass(frozen=True, slots=True)
class SubjectRef:
    """A subject to find or create: validated identifier and optional names."""

    id_type: IdentifierType
    identifier: str
    index: bytes
    kind: SubjectKind
    name: str | None = None
    name_en: str | None = None


def subject_ref(
    keys: KeyRing,
    id_type: IdentifierType | str,
    identifier: str,
    name: str | None = None,
    name_en: str | None = None,
) -> SubjectRef:
    """Validate an identifier and prepare the lookup (raises InvalidIdentifierError)."""
    normalized = validate_identifier(id_type, identifier)
    kind_type = IdentifierType(id_type)
    return SubjectRef(
        id_type=kind_type,
        identifier=normalized,
        index=identifier_index(keys, kind_type, normalized),
        kind=subject_kind_for(kind_type, normalized),
        name=name or None,
        name_en=name_en or None,
    )


def resolve_subjects(
    session: Session, keys: KeyRing, refs: Iterable[SubjectRef]
) -> dict[bytes, tuple[int, str]]:
    """Map each ref's blind index to (subject id, kind), creating unknown subjects.

    One SELECT and at most one bulk insert for the whole set. A new subject takes
    its names from the first ref that mentions it.
    """
    wanted: dict[bytes, SubjectRef] = {}
    for ref in refs:
        wanted.setdefault(ref.index, ref)
    if not wanted:
        return {}
    found: dict[bytes, tuple[int, str]] = {}
    for indexes in in_batches(list(wanted)):
        existing = session.execute(
            select(Subject.id, Subject.kind, Subject.identifier_index).where(
                bytes_in(Subject.identifier_index, "indexes")
            ),
            {"indexes": list(indexes)},
        )
        found.update({row.identifier_index: (row.id, row.kind) for row in existing})
    missing = [ref for index, ref in wanted.items() if index not in found]
    if missing:
        enc_id = keys.encryptor(IDENTIFIER_CONTEXT)
        enc_name = keys.encryptor(NAME_CONTEXT)
        enc_name_en = keys.encryptor(NAME_EN_CONTEXT)
        ids = allocate_ids(session, Subject, len(missing))
        now = utcnow()
        rows = [
            (
                subject_id,
                ref.kind.value,
                ref.id_type.value,
                ref.index,
                enc_id(ref.identifier.encode()),
                enc_name(ref.name.encode()) if ref.name else None,
                enc_name_en(ref.name_en.encode()) if ref.name_en else None,
                now,
            )
            for subject_id, ref in zip(ids, missing, strict=True)
        ]
        bulk_insert(session, Subject, _SUBJECT_COLUMNS, rows)
        for subject_id, ref in zip(ids, missing, strict=True):
            found[ref.index] = (subject_id, ref.kind.value)
        names = [
            _name_row(subject_id, ref.name, ref.name_en, now)
            for subject_id, ref in zip(ids, missing, strict=True)
            if publishes_name(ref.kind, ref.id_type, ref.identifier) and (ref.name or ref.name_en)
        ]
        bulk_insert(session, OrganisationName, _NAME_COLUMNS, names)
    return found


# --- the public organisation-name index ----------------------------------------------------------
#
# Organisation names are public by law (business registration publicity); the public search
# by name needs them in clear. They are copied into ``organisation_names`` when a subject is
# created, for organisations only: never a person's name, never an individual business's
# (个体工商户, USCC prefix 92), whose name often is its owner's. A future path that renames a
# subject must call :func:`index_organisation_name`; :func:`sync_organisation_names` rebuilds
# the whole index (``xinyong lists index-names``).

_NAME_COLUMNS = ("subject_id", "name", "name_en", "name_key", "name_en_key", "updated_at")


def name_key(name: str | None) -> str | None:
    """A name as the public search matches it: NFKC-normalized (full-width forms become
    ASCII) and case-folded."""
    return unicodedata.normalize("NFKC", name).casefold() if name else None


def publishes_name(kind: SubjectKind | str, id_type: IdentifierType | str, identifier: str) -> bool:
    """Whether a subject's name is public register data: organisations other than individual
    businesses. ``identifier`` is the normalized identifier."""
    if SubjectKind(kind) is SubjectKind.PERSON:
        return False
    return not (
        IdentifierType(id_type) is IdentifierType.USCC and is_individual_business(identifier)
    )


def _name_row(
    subject_id: int, name: str | None, name_en: str | None, now: datetime
) -> tuple[Any, ...]:
    return (subject_id, name, name_en, name_key(name), name_key(name_en), now)


def index_organisation_name(
    session: Session, keys: KeyRing, subject: Subject
) -> OrganisationName | None:
    """Bring the subject's entry in the name index in line with its (decrypted) names.

    Adds, updates or removes the row; returns it, or None when the name is not public.
    """
    identifier = keys.decrypt_text(subject.identifier_ct, IDENTIFIER_CONTEXT)
    name = keys.decrypt_text(subject.name_ct, NAME_CONTEXT) if subject.name_ct else None
    name_en = keys.decrypt_text(subject.name_en_ct, NAME_EN_CONTEXT) if subject.name_en_ct else None
    row = session.get(OrganisationName, subject.id)
    if not publishes_name(subject.kind, subject.id_type, identifier) or not (name or name_en):
        if row is not None:
            session.delete(row)
        return None
    if row is None:
        row = OrganisationName(subject_id=subject.id)
        session.add(row)
    elif (row.name, row.name_en) == (name, name_en):
        return row
    row.name, row.name_en = name, name_en
    row.name_key, row.name_en_key = name_key(name), name_key(name_en)
    row.updated_at = utcnow()
    return row


def sync_organisation_names(session: Session, keys: KeyRing, *, batch: int = 1000) -> int:
    """Rebuild the name index from the subjects (a backfill; idempotent).

    Returns how many index rows were added, changed or removed.
    """
    changed = 0
    after = 0
    while True:
        subjects: Sequence[Subject] = session.scalars(
            select(Subject)
            .where(Subject.kind != SubjectKind.PERSON.value, Subject.id > after)
            .order_by(Subject.id)
            .limit(batch)
        ).all()
        if not subjects:
            return changed
        for subject in subjects:
            before = session.get(OrganisationName, subject.id)
            state = None if before is None else (before.name, before.name_en)
            row = index_organisation_name(session, keys, subject)
            if (None if row is None else (row.name, row.name_en)) != state:
                changed += 1
        session.flush()
        after = subjects[-1].id


# Built once: checks and reports look a subject up by identifier on every request.
_BY_IDENTIFIER = select(Subject).where(Subject.identifier_index == bindparam("index"))


def find_subject(session: Session, ref: SubjectRef) -> Subject:
    subject = session.scalar(_BY_IDENTIFIER, {"index": ref.index})
    if subject is None:
        raise SubjectNotFoundError("no subject with this identifier")
    return subject


class InvalidSubjectSelectorError(XinyongError):
    code = "invalid_subject_selector"
    title = "Say which subject"


_ID_TYPES = (IdentifierType.RESIDENT_ID, IdentifierType.USCC)
_NEITHER = "the identifier is neither a valid Resident ID nor a valid Unified Social Credit Code"


def guess_identifier_type(identifier: str) -> IdentifierType:
    """Resident ID or Unified Social Credit Code, whichever the value validates as."""
    for id_type in _ID_TYPES:
        try:
            validate_identifier(id_type, identifier)
        except InvalidIdentifierError:
            continue
        return id_type
    raise InvalidIdentifierError(_NEITHER, reason="unrecognised")


def _selected(
    keys: KeyRing,
    subject_id: int | None,
    id_type: IdentifierType | None,
    identifier: str | None,
) -> int | SubjectRef:
    """What a request's subject selector names: a platform id, or a validated identifier
    (its type guessed when absent)."""
    if subject_id is not None:
        if identifier is not None:
            raise InvalidSubjectSelectorError("give either subject_id or an identifier, not both")
        return subject_id
    if not identifier:
        raise InvalidSubjectSelectorError("give subject_id, or identifier_type and identifier")
    if id_type is not None:
        return subject_ref(keys, id_type, identifier)
    for candidate in _ID_TYPES:
        try:
            return subject_ref(keys, candidate, identifier)
        except InvalidIdentifierError:
            continue
    raise InvalidIdentifierError(_NEITHER, reason="unrecognised")


def locate_subject(
    session: Session,
    keys: KeyRing,
    *,
    subject_id: int | None = None,
    id_type: IdentifierType | None = None,
    identifier: str | None = None,
) -> Subject:
    """The subject a request names: by platform id, or by identifier (type guessed if absent)."""
    selected = _selected(keys, subject_id, id_type, identifier)
    if isinstance(selected, int):
        return get_subject(session, selected)
    return find_subject(session, selected)


@dataclass(frozen=True, slots=True)
class SubjectKey:
    """A subject's id and kind: all a restriction or eligibility check needs."""

    id: int
    kind: str


class IdentifiedSubject(Protocol):
    """A subject as far as its id and kind (a :class:`Subject` or a :class:`SubjectKey`)."""

    @property
    def id(self) -> int: ...

    @property
    def kind(self) -> str: ...


_KEY_BY_IDENTIFIER = select(Subject.id, Subject.kind).where(
    Subject.identifier_index == bindparam("index")
)
_KEY_BY_ID = select(Subject.id, Subject.kind).where(Subject.id == bindparam("id"))


def locate_subject_key(
    session: Session,
    keys: KeyRing,
    *,
    subject_id: int | None = None,
    id_type: IdentifierType | None = None,
    identifier: str | None = None,
) -> SubjectKey:
    """As :func:`locate_subject`, the same rules and errors, but only the id and kind, read
    in one Core statement without loading the ORM object (the checks' hot path)."""
    selected = _selected(keys, subject_id, id_type, identifier)
    connection = session.connection()
    if isinstance(selected, int):
        row = connection.execute(_KEY_BY_ID, {"id": selected}).first()
        if row is None:
            raise SubjectNotFoundError(f"subject {selected} does not exist")
    else:
        row = connection.execute(_KEY_BY_IDENTIFIER, {"index": selected.index}).first()
        if row is None:
            raise SubjectNotFoundError("no subject with this identifier")
    return SubjectKey(row.id, row.kind)


# Session.get builds its statement anew on every call that misses the identity map; this
# one is built once, and like Session.get it does not flush pending changes.
_SUBJECT_BY_ID = (
    select(Subject).where(Subject.id == bindparam("id")).execution_options(autoflush=False)
)


def get_subject(session: Session, subject_id: int) -> Subject:
    subject: Subject | None
    if identity_key(Subject, subject_id) in session.identity_map:
        subject = session.get(Subject, subject_id)
    else:
        subject = session.scalars(_SUBJECT_BY_ID, {"id": subject_id}).first()
    if subject is None:
        raise SubjectNotFoundError(f"subject {subject_id} does not exist")
    return subject


def view_subject(keys: KeyRing, subject: Subject, *, reveal: bool) -> SubjectView:
    """Decrypt a subject for output; identifiers stay masked unless ``reveal``."""
    identifier = keys.decrypt_text(subject.identifier_ct, IDENTIFIER_CONTEXT)
    return SubjectView(
        id=subject.id,
        kind=SubjectKind(subject.kind),
        id_type=IdentifierType(subject.id_type),
        identifier=identifier if reveal else mask_identifier(identifier),
        identifier_masked=not reveal,
        name=keys.decrypt_text(subject.name_ct, NAME_CONTEXT) if subject.name_ct else None,
        name_en=(
            keys.decrypt_text(subject.name_en_ct, NAME_EN_CONTEXT) if subject.name_en_ct else None
        ),
        created_at=subject.created_at,
    )


def count_subjects_by_kind(session: Session) -> dict[str, int]:
    rows = session.execute(select(Subject.kind, func.count()).group_by(Subject.kind))
    return {str(kind): int(count) for kind, count in rows}
