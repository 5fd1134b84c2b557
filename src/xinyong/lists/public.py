"""Public disclosure: what anyone may read without signing in (docs/lists.md).

Enterprises' administrative licences and penalties (dual publicity, RULES.md 14-15) and
their list entries, each only within its publicity period as of the day of the request
(``[publicity]`` in ``data/lists.toml``); a search of organisations by Unified Social Credit
Code or by name; and the court list of dishonest judgment debtors by identifier, persons
masked. Everything is evaluated at read time, so nothing depends on a job having run.

Personal data never leaves here: persons are not found by the enterprise search, their
entries appear only on lists whose persons are public by law (``public_persons``) and then
masked, and individual businesses (个体工商户) are never named, since their names often
are their owners'. No platform ids, record keys or furnisher details are disclosed. The
functions take a session and never commit.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from xinyong.db import utcnow
from xinyong.errors import NotFoundError, XinyongError
from xinyong.identity.crypto import KeyRing
from xinyong.identity.identifiers import (
    IdentifierType,
    SubjectKind,
    is_individual_business,
    mask_identifier,
    normalize_identifier,
    validate_identifier,
    validate_uscc,
)
from xinyong.identity.models import OrganisationName, Subject
from xinyong.identity.service import (
    IDENTIFIER_CONTEXT,
    NAME_CONTEXT,
    NAME_EN_CONTEXT,
    guess_identifier_type,
    identifier_index,
    name_key,
)
from xinyong.lists.definitions import (
    LicencePublicity,
    ListDefinitions,
    ListType,
    PenaltyPublicity,
    get_definitions,
)
from xinyong.lists.models import ListEntry
from xinyong.lists.schemas import EntryStatus
from xinyong.lists.service import add_months, effective_list_type, effective_status
from xinyong.records.models import CreditRecord, RecordVersion
from xinyong.records.service import CONTENT_CONTEXT
from xinyong.rights.repaired import repaired_record_ids

MIN_QUERY_CHARS: Final = 2
MAX_QUERY_CHARS: Final = 100
MAX_PAGE: Final = 50
MAX_OFFSET: Final = 1000
_ORGANISATION_KINDS: Final = (SubjectKind.ENTERPRISE.value, SubjectKind.OTHER_ORGANISATION.value)


class InvalidPublicQueryError(XinyongError):
    code = "invalid_public_query"
    title = "Invalid search"


class EnterpriseNotFoundError(NotFoundError):
    code = "enterprise_not_found"
    title = "Enterprise not found"


# --- output ------------------------------------------------------------------------------------


class PublicEnterprise(BaseModel):
    uscc: str
    # None for an individual business: its name is usually its owner's (personal data).
    name: str | None
    name_en: str | None
    kind: Literal["enterprise", "other_organisation"]
    individual_business: bool


class EnterpriseSearch(BaseModel):
    query: str
    match: Literal["uscc", "name"]
    offset: int
    limit: int
    items: list[PublicEnterprise]
    # More matches follow this page (refine the query beyond the offset cap).
    more: bool


class PublicLicence(BaseModel):
    decision_number: str | None
    licence_name: str | None
    licence_category: str | None
    authority: str | None
    decision_date: date
    valid_until: date | None


class PublicPenalty(BaseModel):
    decision_number: str | None
    violation_type: str | None
    penalty_type: str | None
    fine_amount: str | None
    severity: str
    authority: str | None
    decision_date: date
    publicity_ends_on: date = Field(description="The last day the penalty is published.")


class PublicListEntry(BaseModel):
    list_type: str
    list_name_zh: str
    list_name_en: str
    polarity: Literal["negative", "positive"]
    ground: str
    ground_name_zh: str | None
    ground_name_en: str | None
    authority: str
    case_number: str | None = Field(
        description="The decision behind it: a case or decision number."
    )
    start_date: date
    planned_end_date: date | None = Field(description="None: until the obligation is performed.")


class EnterpriseProfile(PublicEnterprise):
    as_of: date
    licences: list[PublicLicence]
    penalties: list[PublicPenalty]
    list_entries: list[PublicListEntry]
    definitions_version: str


class DishonestDebtorEntry(PublicListEntry):
    # Persons and individual businesses: masked.
    name: str | None
    identifier: str
    kind: SubjectKind


class DishonestDebtorAnswer(BaseModel):
    as_of: date
    entries: list[DishonestDebtorEntry]


# --- publicity rules -----------------------------------------------------------------------------


def _day(value: object) -> date | None:
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _text(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    return None if value is None else str(value)


def penalty_publicity_ends(
    fields: Mapping[str, Any],
    today: date,
    rules: PenaltyPublicity | None = None,
    *,
    repaired: bool = False,
) -> date | None:
    """The last day a penalty is published, when it is published on ``today``; else None.

    Not published: a warning alone; a severity without a rule, or whose period is 0; a
    decision not yet taken; a penalty past its period (counted from the decision date); or a
    repaired one: a penalty whose credit repair was approved (:func:`repaired_penalties`) is
    passed ``repaired=True`` and stops being published at once (RULES.md 12). A revoked
    decision is withdrawn by deleting its record, which takes it off at once.
    """
    rules = rules or get_definitions().publicity.penalties
    if repaired or fields.get("penalty_type") in rules.unpublished_penalty_types:
        return None
    rule = rules.for_severity(fields.get("severity"))
    start = _day(fields.get(rules.period_from))
    if rule is None or rule.months == 0 or start is None or start > today:
        return None
    last = add_months(start, rule.months) - timedelta(days=1)
    return last if today <= last else None


def licence_is_public(
    fields: Mapping[str, Any], today: date, rules: LicencePublicity | None = None
) -> bool:
    """Whether a licence is published on ``today``: decided, valid, and not run out."""
    rules = rules or get_definitions().publicity.licences
    decided = _day(fields.get("decision_date"))
    until = _day(fields.get("valid_until"))
    return (
        fields.get("status") in rules.published_statuses
        and decided is not None
        and decided <= today
        and (until is None or until >= today)
    )


@dataclass(frozen=True)
class _PublicEntry:
    """An entry as it stands today: escalated entries count as the list they escalate to."""

    list_type: ListType
    ground: str
    authority: str
    reference: str | None
    start: date
    planned_end: date | None


def _public_entry(
    entry: ListEntry, today: date, definitions: ListDefinitions
) -> _PublicEntry | None:
    """The entry as the public sees it today, or None when it is not active today.

    Only active entries are public: an entry that ended — expired, removed, repaired,
    escalated — never is, nor one whose start is still ahead.
    """
    if effective_status(entry, today) is not EntryStatus.ACTIVE or entry.start_date > today:
        return None
    stored = definitions.list_type(entry.list_type)
    current = effective_list_type(entry, today, definitions)
    if current.code == stored.code:
        return _PublicEntry(
            current,
            entry.ground,
            entry.authority,
            entry.reference,
            entry.start_date,
            entry.planned_end_date,
        )
    # Escalated at read time, before the job wrote the successor entry: show the entry the
    # job will write (lists.service.run_maintenance).
    assert stored.escalate_after_months is not None
    start = add_months(entry.start_date, stored.escalate_after_months)
    planned = add_months(start, current.term_months) if current.term_months else None
    if planned is not None and planned < today:
        return None
    return _PublicEntry(
        current, current.grounds[0].code, entry.authority, entry.reference, start, planned
    )


def _entry_fields(public: _PublicEntry) -> dict[str, Any]:
    ground = public.list_type.ground(public.ground)
    return {
        "list_type": public.list_type.code,
        "list_name_zh": public.list_type.name_zh,
        "list_name_en": public.list_type.name_en,
        "polarity": public.list_type.polarity,
        "ground": public.ground,
        "ground_name_zh": ground.name_zh if ground else None,
        "ground_name_en": ground.name_en if ground else None,
        "authority": public.authority,
        "case_number": public.reference,
        "start_date": public.start,
        "planned_end_date": public.planned_end,
    }


def _active_entries(
    session: Session,
    subject_id: int,
    today: date,
    definitions: ListDefinitions,
    list_types: Iterable[str] | None = None,
) -> list[_PublicEntry]:
    query = select(ListEntry).where(
        ListEntry.subject_id == subject_id, ListEntry.status == EntryStatus.ACTIVE.value
    )
    if list_types is not None:
        query = query.where(ListEntry.list_type.in_(sorted(list_types)))
    found = [
        public
        for entry in session.scalars(query.order_by(ListEntry.start_date.desc(), ListEntry.id))
        if (public := _public_entry(entry, today, definitions)) is not None
    ]
    return found


# --- names and masking ---------------------------------------------------------------------------


def mask_name(name: str) -> str:
    """A person's name as the public sees it: the first character, the rest ``*``."""
    if len(name) <= 1:
        return "*" * len(name)
    return name[0] + "*" * (len(name) - 1)


def _decrypt(keys: KeyRing, token: bytes | None, context: bytes) -> str | None:
    return keys.decrypt_text(token, context) if token else None


def _enterprise(keys: KeyRing, subject: Subject) -> PublicEnterprise:
    uscc = keys.decrypt_text(subject.identifier_ct, IDENTIFIER_CONTEXT)
    individual = is_individual_business(uscc)
    return PublicEnterprise(
        uscc=uscc,
        name=None if individual else _decrypt(keys, subject.name_ct, NAME_CONTEXT),
        name_en=None if individual else _decrypt(keys, subject.name_en_ct, NAME_EN_CONTEXT),
        kind="enterprise" if subject.kind == SubjectKind.ENTERPRISE.value else "other_organisation",
        individual_business=individual,
    )


def _organisation_by_uscc(session: Session, keys: KeyRing, uscc: str) -> Subject | None:
    subject = session.scalar(
        select(Subject).where(
            Subject.identifier_index == identifier_index(keys, IdentifierType.USCC, uscc)
        )
    )
    if subject is None or subject.kind not in _ORGANISATION_KINDS:
        return None
    return subject


# --- search --------------------------------------------------------------------------------------


def _looks_like_uscc(query: str) -> bool:
    code = normalize_identifier(query)
    # Letters outside the USCC alphabet count too: a mistyped code is reported as one.
    return len(code) == 18 and code.isascii() and code.isalnum()


def _like_pattern(key: str) -> str:
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_enterprises(
    session: Session, keys: KeyRing, query: str, *, offset: int = 0, limit: int = 20
) -> EnterpriseSearch:
    """Organisations by Unified Social Credit Code (exact) or by a fragment of their name.

    An 18-character code-shaped query is a USCC: it must be valid (else
    ``invalid_identifier``) and is found through the blind index. Anything else is a name
    fragment of at least two characters, matched case-insensitively (NFKC) against the
    organisation-name index, which holds no person's and no individual business's name.
    """
    text = " ".join(unicodedata.normalize("NFKC", query).split())
    if len(text) < MIN_QUERY_CHARS or len(text) > MAX_QUERY_CHARS:
        raise InvalidPublicQueryError(
            f"a search needs {MIN_QUERY_CHARS} to {MAX_QUERY_CHARS} characters"
        )
    if not 0 <= offset <= MAX_OFFSET or not 1 <= limit <= MAX_PAGE:
        raise InvalidPublicQueryError(
            f"offset is 0 to {MAX_OFFSET} and limit 1 to {MAX_PAGE}; refine the query"
        )
    if _looks_like_uscc(text):
        uscc = validate_uscc(text)
        subject = _organisation_by_uscc(session, keys, uscc)
        items = [_enterprise(keys, subject)] if subject is not None and offset == 0 else []
        return EnterpriseSearch(
            query=uscc, match="uscc", offset=offset, limit=limit, items=items, more=False
        )
    key = name_key(text) or ""
    pattern = _like_pattern(key)
    rows = session.scalars(
        select(Subject)
        .join(OrganisationName, OrganisationName.subject_id == Subject.id)
        .where(
            Subject.kind.in_(_ORGANISATION_KINDS),
            or_(
                OrganisationName.name_key.like(pattern, escape="\\"),
                OrganisationName.name_en_key.like(pattern, escape="\\"),
            ),
        )
        .order_by(
            func.coalesce(OrganisationName.name_key, OrganisationName.name_en_key),
            Subject.id,
        )
        .offset(offset)
        .limit(limit + 1)
    ).all()
    items = [_enterprise(keys, subject) for subject in rows[:limit]]
    return EnterpriseSearch(
        query=text, match="name", offset=offset, limit=limit, items=items, more=len(rows) > limit
    )


# --- an enterprise's public profile ------------------------------------------------------------


def repaired_penalties(session: Session, record_ids: Iterable[int]) -> set[int]:
    """The penalty records among ``record_ids`` whose credit repair was approved."""
    return repaired_record_ids(session, record_ids)


def _current_fields(
    session: Session, keys: KeyRing, subject_id: int, record_types: Iterable[str], today: date
) -> list[tuple[int, str, dict[str, Any]]]:
    """The fields of the subject's current records of these types, as of ``today``.

    The newest version in force counts; a deleted (revoked, withdrawn) record is gone.
    """
    rows = session.execute(
        select(
            CreditRecord.id,
            CreditRecord.record_type,
            RecordVersion.operation,
            RecordVersion.content_ct,
        )
        .join(RecordVersion, RecordVersion.record_id == CreditRecord.id)
        .where(
            CreditRecord.subject_id == subject_id,
            CreditRecord.record_type.in_(sorted(set(record_types))),
            RecordVersion.valid_from <= today,
        )
        .order_by(CreditRecord.id, RecordVersion.version)
    )
    latest: dict[int, tuple[str, str, bytes | None]] = {}
    for record_id, record_type, operation, content_ct in rows:
        latest[record_id] = (record_type, operation, content_ct)
    return [
        (record_id, record_type, json.loads(keys.decrypt(content_ct, CONTENT_CONTEXT)))
        for record_id, (record_type, operation, content_ct) in latest.items()
        if operation != "delete" and content_ct is not None
    ]


def enterprise_profile(
    session: Session, keys: KeyRing, uscc: str, today: date | None = None
) -> EnterpriseProfile:
    """An organisation's public profile: licences and penalties in publicity, active entries."""
    day = today or utcnow().date()
    code = validate_uscc(uscc)
    subject = _organisation_by_uscc(session, keys, code)
    if subject is None:
        raise EnterpriseNotFoundError("no organisation with this Unified Social Credit Code")
    definitions = get_definitions()
    publicity = definitions.publicity
    licences: list[PublicLicence] = []
    penalties: list[PublicPenalty] = []
    record_types = (publicity.licences.record_type, publicity.penalties.record_type)
    current = _current_fields(session, keys, subject.id, record_types, day)
    repaired = repaired_penalties(session, [record_id for record_id, _, _ in current])
    for record_id, record_type, fields in current:
        decided = _day(fields.get("decision_date"))
        if decided is None:
            continue
        if record_type == publicity.licences.record_type:
            if licence_is_public(fields, day, publicity.licences):
                licences.append(
                    PublicLicence(
                        decision_number=_text(fields, "decision_number"),
                        licence_name=_text(fields, "licence_name"),
                        licence_category=_text(fields, "licence_category"),
                        authority=_text(fields, "authority"),
                        decision_date=decided,
                        valid_until=_day(fields.get("valid_until")),
                    )
                )
            continue
        ends = penalty_publicity_ends(
            fields, day, publicity.penalties, repaired=record_id in repaired
        )
        if ends is not None:
            penalties.append(
                PublicPenalty(
                    decision_number=_text(fields, "decision_number"),
                    violation_type=_text(fields, "violation_type"),
                    penalty_type=_text(fields, "penalty_type"),
                    fine_amount=_text(fields, "fine_amount"),
                    severity=str(fields.get("severity")),
                    authority=_text(fields, "authority"),
                    decision_date=decided,
                    publicity_ends_on=ends,
                )
            )
    licences.sort(key=lambda item: (item.decision_date, item.decision_number or ""), reverse=True)
    penalties.sort(key=lambda item: (item.decision_date, item.decision_number or ""), reverse=True)
    entries = [
        PublicListEntry(**_entry_fields(public))
        for public in _active_entries(session, subject.id, day, definitions)
    ]
    return EnterpriseProfile(
        **_enterprise(keys, subject).model_dump(),
        as_of=day,
        licences=licences,
        penalties=penalties,
        list_entries=entries,
        definitions_version=definitions.version,
    )


# --- the court list by identifier ----------------------------------------------------------------


def dishonest_debtors(
    session: Session, keys: KeyRing, identifier: str, today: date | None = None
) -> DishonestDebtorAnswer:
    """Active entries of the subject with this exact Resident ID or USCC on the lists whose
    persons are public by law (the court list), names and persons' identifiers masked.

    A subject the platform does not know and one that is not listed get the same empty
    answer, by the same queries: the answer says nothing about who is on the platform.
    """
    day = today or utcnow().date()
    id_type = guess_identifier_type(identifier)
    normalized = validate_identifier(id_type, identifier)
    subject = session.scalar(
        select(Subject).where(
            Subject.identifier_index == identifier_index(keys, id_type, normalized)
        )
    )
    definitions = get_definitions()
    public_types = [t.code for t in definitions.list_types if t.public_persons]
    # -1 matches nothing: an unknown subject costs the same query as an unlisted one.
    subject_id = subject.id if subject is not None else -1
    found = _active_entries(session, subject_id, day, definitions, public_types)
    entries: list[DishonestDebtorEntry] = []
    if subject is not None and found:
        kind = SubjectKind(subject.kind)
        name = _decrypt(keys, subject.name_ct, NAME_CONTEXT)
        if kind is SubjectKind.PERSON:
            shown_name = mask_name(name) if name else None
            shown_identifier = mask_identifier(normalized)
        else:
            shown_name = mask_name(name) if name and is_individual_business(normalized) else name
            shown_identifier = normalized
        entries = [
            DishonestDebtorEntry(
                **_entry_fields(public),
                name=shown_name,
                identifier=shown_identifier,
                kind=kind,
            )
            for public in found
            # A list type may be public for persons and still list only some kinds.
            if public.list_type.public_persons
        ]
    return DishonestDebtorAnswer(as_of=day, entries=entries)
