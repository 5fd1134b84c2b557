"""List entries and the checks against them ("dishonest in one place, restricted everywhere").

Entries come from furnisher records (a court's listing record creates and updates its
entry, in the ingestion transaction) or from operators with a recorded reason. An entry's
term is evaluated at read time as well as by the scheduled job (:func:`run_maintenance`), so
a check never depends on the job having run: an active entry past its planned end is
expired, and an abnormal-operations entry past its escalation period counts as the list it
escalates to. Every change writes a history event and an outbox event in the same
transaction.

A restriction check answers whether a subject may be served under a measure (or which
measures apply), naming the entries, measures, legal bases, applying bodies and the date the
restriction ends. An eligibility check does the same for incentives, from trustworthy
lists and from score tiers; any active negative entry bars every incentive. Both are query
records of the calling institution (product ``check``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any, Final

from sqlalchemy import String, bindparam, cast, literal, null, or_, select, union_all
from sqlalchemy.orm import Session

from xinyong.audit.schemas import StaffAction
from xinyong.audit.service import record_staff_action
from xinyong.db import utcnow
from xinyong.errors import ConflictError, NotFoundError, PermissionDeniedError, XinyongError
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.identity.service import IdentifiedSubject
from xinyong.institutions.schemas import Principal, Role
from xinyong.lists.definitions import (
    BindingRole,
    ListDefinitions,
    ListType,
    Measure,
    Memorandum,
    MemorandumMeasure,
    get_definitions,
)
from xinyong.lists.models import EntryBinding, ListEntry, ListEntryEvent
from xinyong.lists.schemas import (
    AppliedMeasure,
    BindingView,
    CheckDecision,
    EntryCreate,
    EntryRef,
    EntryStatus,
    ListEntryDetail,
    ListEntryEventView,
    ListEntryView,
    ScoreTier,
)
from xinyong.records.service import CONTENT_CONTEXT
from xinyong.reports.schemas import Channel

CHECK_PRODUCT: Final = "check"
RESTRICTION_PURPOSE: Final = "restriction_check"
ELIGIBILITY_PURPOSE: Final = "eligibility_check"


class ListEntryNotFoundError(NotFoundError):
    code = "list_entry_not_found"
    title = "List entry not found"


class InvalidListEntryError(XinyongError):
    code = "invalid_list_entry"
    title = "Invalid list entry"


class ListEntryStateError(ConflictError):
    code = "list_entry_not_active"
    title = "List entry is not active"


class ListRoleError(PermissionDeniedError):
    code = "role_not_permitted"
    title = "Role not permitted"


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months; the 31st becomes the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    for candidate in range(day.day, 0, -1):
        try:
            return date(year, month + 1, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


# --- effective state -----------------------------------------------------------------------------


def effective_status(entry: ListEntry, today: date) -> EntryStatus:
    """The entry's status as of ``today``: active entries past their planned end are expired."""
    status = EntryStatus(entry.status)
    if (
        status is EntryStatus.ACTIVE
        and entry.planned_end_date is not None
        and entry.planned_end_date < today
    ):
        return EntryStatus.EXPIRED
    return status


def effective_list_type(entry: ListEntry, today: date, definitions: ListDefinitions) -> ListType:
    """The list an active entry counts as today: an entry past its escalation period counts
    as the list it escalates to (RULES.md: abnormal operations → serious violation)."""
    return _counts_as(definitions, entry.list_type, entry.start_date, today)


def _counts_as(definitions: ListDefinitions, code: str, start: date, today: date) -> ListType:
    list_type = definitions.list_type(code)
    if (
        list_type.escalates_to is not None
        and list_type.escalate_after_months is not None
        and add_months(start, list_type.escalate_after_months) <= today
    ):
        return definitions.list_type(list_type.escalates_to)
    return list_type


def view_entry(entry: ListEntry, today: date) -> ListEntryView:
    definitions = get_definitions()
    return ListEntryView(
        id=entry.id,
        list_type=entry.list_type,
        polarity=definitions.list_type(entry.list_type).polarity,
        subject_id=entry.subject_id,
        status=effective_status(entry, today),
        ground=entry.ground,
        authority=entry.authority,
        reference=entry.reference,
        source=entry.source,
        record_id=entry.record_id,
        start_date=entry.start_date,
        planned_end_date=entry.planned_end_date,
        ended_on=entry.ended_on,
        end_reason=entry.end_reason,
    )


# --- history and events --------------------------------------------------------------------------


def _event(
    session: Session,
    entry: ListEntry,
    event: str,
    *,
    actor: str,
    role: str,
    reason: str | None = None,
    details: dict[str, object] | None = None,
) -> None:
    """An entry's history event and its outbox event, in the caller's transaction."""
    session.flush()  # the entry has an id
    session.add(
        ListEntryEvent(
            entry_id=entry.id,
            event=event,
            status=entry.status,
            actor=actor,
            role=role,
            reason=reason,
            details=details or {},
        )
    )
    from xinyong.events.service import emit

    list_type = get_definitions().list_type(entry.list_type)
    # Organisations' entries are public information; persons' only where the law says so.
    listed = session.get(Subject, entry.subject_id)
    public = list_type.public_persons or (listed is not None and listed.kind != "person")
    emit(
        session,
        f"list_entry.{event}",
        subject_id=entry.subject_id,
        public=public,
        payload={
            "entry_id": entry.id,
            "list_type": entry.list_type,
            "polarity": list_type.polarity,
            "status": entry.status,
            "start_date": entry.start_date.isoformat(),
            "planned_end_date": (
                entry.planned_end_date.isoformat() if entry.planned_end_date else None
            ),
            "ended_on": entry.ended_on.isoformat() if entry.ended_on else None,
        },
    )


# --- entries from furnisher records --------------------------------------------------------------


@dataclass(frozen=True)
class SourceRecord:
    """A record version just written by ingestion, of a type that feeds a list."""

    record_id: int
    subject_id: int
    record_type: str
    operation: str  # create | correct | delete | restore
    content_ct: bytes | None
    valid_from: date


@dataclass(frozen=True)
class _Derived:
    ground: str
    authority: str
    reference: str | None
    start: date
    planned_end: date | None
    # None while active; else (status, day, reason).
    ended: tuple[EntryStatus, date, str] | None


def _day(value: object) -> date | None:
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _derive(list_type: ListType, record: SourceRecord, fields: dict[str, Any]) -> _Derived | None:
    """What a record says about its entry; None when it makes no entry (e.g. grade B)."""
    term = list_type.term_months
    if list_type.code == "court_dishonest_debtors":
        ground = str(fields.get("ground") or "")
        rule = list_type.ground(ground)
        if rule is None:
            return None
        start = _day(fields.get("listing_date")) or record.valid_from
        planned = _day(fields.get("term_end_date"))
        if planned is None and not rule.until_performance and term is not None:
            planned = add_months(start, term)
        ended: tuple[EntryStatus, date, str] | None = None
        removal = _day(fields.get("removal_date"))
        reason = str(fields.get("removal_reason") or "removed")
        if removal is not None:
            status = EntryStatus.EXPIRED if reason == "term_expired" else EntryStatus.REMOVED
            ended = (status, removal, reason)
        elif fields.get("performance") == "performed":
            # Removal on performance (法释〔2017〕7号 Art. 10): at once, not by the court's
            # later removal record.
            ended = (EntryStatus.REMOVED, record.valid_from, "performed")
        return _Derived(
            ground,
            str(fields.get("court") or list_type.authority),
            fields.get("case_number") if isinstance(fields.get("case_number"), str) else None,
            start,
            planned,
            ended,
        )
    if list_type.code == "a_grade_taxpayers":
        if fields.get("grade") != "A":
            return None
        year = fields.get("tax_year")
        start = date(int(year) + 1, 1, 1) if isinstance(year, int) else record.valid_from
        return _Derived(
            "grade_a",
            str(fields.get("authority") or list_type.authority),
            None,
            start,
            add_months(start, term or 12),
            None,
        )
    if list_type.code == "commended":
        start = _day(fields.get("award_date")) or record.valid_from
        planned = _day(fields.get("valid_until")) or (add_months(start, term) if term else None)
        return _Derived(
            "commendation",
            str(fields.get("awarding_body") or list_type.authority),
            None,
            start,
            planned,
            None,
        )
    return None


def sync_from_records(
    session: Session, keys: KeyRing, records: Sequence[SourceRecord], *, actor: str
) -> int:
    """Create or update the entries that new record versions make; returns entries touched.

    Called by ingestion in the same transaction as the versions.
    """
    definitions = get_definitions()
    sources = definitions.by_source_record_type()
    touched = 0
    for record in records:
        list_type = sources.get(record.record_type)
        if list_type is None:
            continue
        entry = session.scalar(
            select(ListEntry).where(
                ListEntry.list_type == list_type.code, ListEntry.record_id == record.record_id
            )
        )
        fields: dict[str, Any] = {}
        if record.content_ct is not None and record.operation != "delete":
            fields = json.loads(keys.decrypt(record.content_ct, CONTENT_CONTEXT))
        derived = None if record.operation == "delete" else _derive(list_type, record, fields)
        if entry is None:
            if derived is None:
                continue
            entry = ListEntry(
                list_type=list_type.code,
                subject_id=record.subject_id,
                status=EntryStatus.ACTIVE.value,
                ground=derived.ground,
                authority=derived.authority[:200],
                reference=derived.reference,
                source="record",
                record_id=record.record_id,
                start_date=derived.start,
                planned_end_date=derived.planned_end,
            )
            session.add(entry)
            _event(session, entry, "created", actor=actor, role=Role.FURNISHER.value)
            if derived.ended is not None:
                _end(session, entry, derived.ended, actor=actor, role=Role.FURNISHER.value)
            touched += 1
            continue
        if derived is None:
            # The record was deleted, or no longer makes an entry (a corrected grade).
            if entry.status == EntryStatus.ACTIVE.value:
                reason = "record_deleted" if record.operation == "delete" else "record_corrected"
                _end(
                    session,
                    entry,
                    (EntryStatus.REMOVED, record.valid_from, reason),
                    actor=actor,
                    role=Role.FURNISHER.value,
                )
                touched += 1
            continue
        touched += _update_from_record(session, entry, derived, actor=actor)
    return touched


def _update_from_record(
    session: Session, entry: ListEntry, derived: _Derived, *, actor: str
) -> int:
    role = Role.FURNISHER.value
    changed = 0
    if entry.status != EntryStatus.ACTIVE.value and derived.ended is None:
        # A restored or corrected record reopens the entry.
        entry.status = EntryStatus.ACTIVE.value
        entry.ended_on = entry.end_reason = None
        entry.updated_at = utcnow()
        _event(session, entry, "restored", actor=actor, role=role)
        changed = 1
    old_end = entry.planned_end_date
    if derived.planned_end != old_end:
        entry.planned_end_date = derived.planned_end
        entry.updated_at = utcnow()
        later = old_end is not None and (
            derived.planned_end is None or derived.planned_end > old_end
        )
        _event(
            session,
            entry,
            "extended" if later else "corrected",
            actor=actor,
            role=role,
            details={
                "planned_end_date": {
                    "from": old_end.isoformat() if old_end else None,
                    "to": derived.planned_end.isoformat() if derived.planned_end else None,
                }
            },
        )
        changed = 1
    if derived.ended is not None and entry.status == EntryStatus.ACTIVE.value:
        _end(session, entry, derived.ended, actor=actor, role=role)
        changed = 1
    return changed


def _end(
    session: Session,
    entry: ListEntry,
    ended: tuple[EntryStatus, date, str],
    *,
    actor: str,
    role: str,
    reason: str | None = None,
) -> None:
    status, day, why = ended
    entry.status = status.value
    entry.ended_on = day
    entry.end_reason = why[:64]
    entry.updated_at = utcnow()
    _event(session, entry, status.value, actor=actor, role=role, reason=reason or why)


# --- entries by operators ------------------------------------------------------------------------


def _require_operator(principal: Principal) -> None:
    if principal.role is not Role.OPERATOR:
        raise ListRoleError("only operators change list entries")


def get_entry(session: Session, entry_id: int) -> ListEntry:
    entry = session.get(ListEntry, entry_id)
    if entry is None:
        raise ListEntryNotFoundError(f"no list entry {entry_id}", entry_id=entry_id)
    return entry


def create_entry(
    session: Session, principal: Principal, subject: Subject, data: EntryCreate
) -> ListEntry:
    """An entry made by an operator, with the decision behind it and a recorded reason."""
    _require_operator(principal)
    definitions = get_definitions()
    list_type = definitions.list_type(data.list_type)
    if list_type.source_record_type is not None and list_type.polarity == "negative":
        raise InvalidListEntryError(
            f"entries of {list_type.code} come from the {list_type.source_record_type} records "
            "the authority furnishes, not from operators",
            list_type=list_type.code,
        )
    if subject.kind not in list_type.subject_kinds:
        raise InvalidListEntryError(
            f"{list_type.code} lists {', '.join(list_type.subject_kinds)}, not {subject.kind}",
            list_type=list_type.code,
        )
    ground = list_type.ground(data.ground)
    if ground is None:
        raise InvalidListEntryError(
            f"{data.ground!r} is not a ground of {list_type.code}; grounds: "
            + ", ".join(g.code for g in list_type.grounds),
            list_type=list_type.code,
        )
    today = utcnow().date()
    start = data.start_date or today
    planned = data.planned_end_date
    if planned is None and not ground.until_performance and list_type.term_months is not None:
        planned = add_months(start, list_type.term_months)
    if planned is not None and planned < start:
        raise InvalidListEntryError("planned_end_date is before start_date")
    entry = ListEntry(
        list_type=list_type.code,
        subject_id=subject.id,
        status=EntryStatus.ACTIVE.value,
        ground=ground.code,
        authority=data.authority,
        reference=data.reference,
        source="operator",
        start_date=start,
        planned_end_date=planned,
    )
    session.add(entry)
    _event(
        session,
        entry,
        "created",
        actor=principal.label,
        role=principal.role.value,
        reason=data.reason,
    )
    record_staff_action(
        session,
        principal,
        StaffAction.LIST_ENTRY_CREATE,
        target_type="list_entry",
        target_id=entry.id,
        reason=data.reason,
        details={"list_type": list_type.code, "ground": ground.code},
    )
    return entry


def extend_entry(
    session: Session, principal: Principal, entry_id: int, months: int, reason: str
) -> ListEntry:
    """Extend an active entry's term within the list's extension range (court list: 1-3 y)."""
    _require_operator(principal)
    entry = get_entry(session, entry_id)
    today = utcnow().date()
    if effective_status(entry, today) is not EntryStatus.ACTIVE:
        raise ListEntryStateError(f"list entry {entry.id} is {effective_status(entry, today)}")
    list_type = get_definitions().list_type(entry.list_type)
    bounds = list_type.extension_months
    if bounds is None:
        raise InvalidListEntryError(f"entries of {list_type.code} cannot be extended")
    if not bounds[0] <= months <= bounds[1]:
        raise InvalidListEntryError(
            f"{list_type.code} entries are extended by {bounds[0]} to {bounds[1]} months"
        )
    if entry.planned_end_date is None:
        raise InvalidListEntryError("the entry lasts until performance; it has no term to extend")
    old = entry.planned_end_date
    entry.planned_end_date = add_months(old, months)
    entry.updated_at = utcnow()
    _event(
        session,
        entry,
        "extended",
        actor=principal.label,
        role=principal.role.value,
        reason=reason,
        details={
            "planned_end_date": {"from": old.isoformat(), "to": entry.planned_end_date.isoformat()}
        },
    )
    record_staff_action(
        session,
        principal,
        StaffAction.LIST_ENTRY_EXTEND,
        target_type="list_entry",
        target_id=entry.id,
        reason=reason,
        details={"months": months},
    )
    return entry


def end_entry(
    session: Session,
    principal: Principal,
    entry_id: int,
    status: str,
    reason: str,
    on: date | None = None,
) -> ListEntry:
    """Remove an active entry (e.g. on performance) or mark it repaired."""
    _require_operator(principal)
    entry = get_entry(session, entry_id)
    today = utcnow().date()
    if effective_status(entry, today) is not EntryStatus.ACTIVE:
        raise ListEntryStateError(f"list entry {entry.id} is {effective_status(entry, today)}")
    ended = EntryStatus(status)
    if ended not in (EntryStatus.REMOVED, EntryStatus.REPAIRED):
        raise InvalidListEntryError("an operator ends an entry as removed or repaired")
    _end(
        session,
        entry,
        (ended, on or today, ended.value),
        actor=principal.label,
        role=principal.role.value,
        reason=reason,
    )
    record_staff_action(
        session,
        principal,
        StaffAction.LIST_ENTRY_END,
        target_type="list_entry",
        target_id=entry.id,
        reason=reason,
        details={"status": ended.value},
    )
    return entry


def add_binding(
    session: Session,
    principal: Principal,
    entry_id: int,
    person: Subject,
    role: BindingRole,
    reason: str,
) -> EntryBinding:
    """Bind an organisation's entry to its legal representative or actual controller."""
    _require_operator(principal)
    entry = get_entry(session, entry_id)
    listed = session.get(Subject, entry.subject_id)
    if listed is None or listed.kind == "person":
        raise InvalidListEntryError("only an organisation's entry binds other persons")
    if person.kind != "person":
        raise InvalidListEntryError("a legal representative or actual controller is a person")
    existing = session.scalar(
        select(EntryBinding).where(
            EntryBinding.entry_id == entry.id,
            EntryBinding.subject_id == person.id,
            EntryBinding.role == role.value,
        )
    )
    if existing is not None:
        return existing
    binding = EntryBinding(
        entry_id=entry.id,
        subject_id=person.id,
        role=role.value,
        created_by=principal.label,
        reason=reason,
    )
    session.add(binding)
    session.flush()
    record_staff_action(
        session,
        principal,
        StaffAction.LIST_ENTRY_BIND,
        target_type="list_entry",
        target_id=entry.id,
        reason=reason,
        details={"role": role.value, "subject_id": person.id},
    )
    return binding


def entry_detail(session: Session, entry: ListEntry, today: date) -> ListEntryDetail:
    events = session.scalars(
        select(ListEntryEvent)
        .where(ListEntryEvent.entry_id == entry.id)
        .order_by(ListEntryEvent.id)
    )
    bindings = session.scalars(
        select(EntryBinding).where(EntryBinding.entry_id == entry.id).order_by(EntryBinding.id)
    )
    return ListEntryDetail(
        **view_entry(entry, today).model_dump(),
        events=[
            ListEntryEventView(
                id=e.id,
                event=e.event,
                status=EntryStatus(e.status),
                occurred_at=e.occurred_at,
                actor=e.actor,
                role=e.role,
                reason=e.reason,
                details=e.details,
            )
            for e in events
        ],
        bindings=[
            BindingView(
                id=b.id,
                entry_id=b.entry_id,
                subject_id=b.subject_id,
                role=BindingRole(b.role),
                created_at=b.created_at,
                created_by=b.created_by,
            )
            for b in bindings
        ],
    )


def list_entries(
    session: Session,
    *,
    subject_id: int | None = None,
    list_type: str | None = None,
    status: EntryStatus | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[ListEntryView]:
    today = utcnow().date()
    query = select(ListEntry).order_by(ListEntry.id.desc())
    if subject_id is not None:
        query = query.where(ListEntry.subject_id == subject_id)
    if list_type is not None:
        get_definitions().list_type(list_type)
        query = query.where(ListEntry.list_type == list_type)
    if status is EntryStatus.ACTIVE:
        query = query.where(
            ListEntry.status == "active",
            or_(ListEntry.planned_end_date.is_(None), ListEntry.planned_end_date >= today),
        )
    elif status is EntryStatus.EXPIRED:
        query = query.where(
            or_(
                ListEntry.status == "expired",
                (ListEntry.status == "active") & (ListEntry.planned_end_date < today),
            )
        )
    elif status is not None:
        query = query.where(ListEntry.status == status.value)
    rows = session.scalars(query.offset(offset).limit(limit))
    return [view_entry(entry, today) for entry in rows]


# --- the scheduled job ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MaintenanceResult:
    expired: int
    escalated: int


def run_maintenance(session: Session, today: date | None = None) -> MaintenanceResult:
    """End entries at their term and escalate entries past their escalation period.

    Checks already treat both lazily; the job makes the stored state and the outbox catch up.
    Idempotent: a second run the same day changes nothing.
    """
    day = today or utcnow().date()
    definitions = get_definitions()
    expired = 0
    for entry in session.scalars(
        select(ListEntry).where(ListEntry.status == "active", ListEntry.planned_end_date < day)
    ):
        assert entry.planned_end_date is not None
        _end(
            session,
            entry,
            (EntryStatus.EXPIRED, entry.planned_end_date, "term_ended"),
            actor="scheduler",
            role=Role.OPERATOR.value,
        )
        expired += 1
    escalated = 0
    for list_type in definitions.list_types:
        if list_type.escalates_to is None or list_type.escalate_after_months is None:
            continue
        target = definitions.list_type(list_type.escalates_to)
        cutoff = add_months(day, -list_type.escalate_after_months)
        for entry in session.scalars(
            select(ListEntry).where(
                ListEntry.list_type == list_type.code,
                ListEntry.status == "active",
                ListEntry.start_date <= cutoff,
            )
        ):
            start = add_months(entry.start_date, list_type.escalate_after_months)
            successor = ListEntry(
                list_type=target.code,
                subject_id=entry.subject_id,
                status=EntryStatus.ACTIVE.value,
                ground=target.grounds[0].code,
                authority=entry.authority,
                reference=entry.reference,
                source="escalation",
                escalated_from_id=entry.id,
                start_date=start,
                planned_end_date=(
                    add_months(start, target.term_months) if target.term_months else None
                ),
            )
            session.add(successor)
            _end(
                session,
                entry,
                (EntryStatus.ESCALATED, start, f"escalated_to_{target.code}"[:64]),
                actor="scheduler",
                role=Role.OPERATOR.value,
            )
            session.flush()
            _event(
                session,
                successor,
                "created",
                actor="scheduler",
                role=Role.OPERATOR.value,
                details={"escalated_from": entry.id},
            )
            escalated += 1
    return MaintenanceResult(expired, escalated)


# --- checks --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    """What a check reads of an entry: a row, not an ORM object."""

    id: int
    list_type: str
    subject_id: int
    ground: str
    authority: str
    reference: str | None
    start_date: date
    planned_end_date: date | None


@dataclass(frozen=True, slots=True)
class _Held:
    entry: _Entry
    list_type: ListType
    bound_as: BindingRole | None


def _held_query() -> Any:
    """The subject's own active entries, then the active entries that bind it, in one Core
    statement built once: a check runs it for every subject it is asked about."""
    entries, bindings = ListEntry.__table__, EntryBinding.__table__
    columns = (
        entries.c.id,
        entries.c.list_type,
        entries.c.subject_id,
        entries.c.ground,
        entries.c.authority,
        entries.c.reference,
        entries.c.start_date,
        entries.c.planned_end_date,
    )
    own = select(literal(0).label("bound"), *columns, cast(null(), String(32)).label("role")).where(
        entries.c.subject_id == bindparam("subject_id"), entries.c.status == "active"
    )
    bound = (
        select(literal(1).label("bound"), *columns, bindings.c.role)
        .join_from(entries, bindings, bindings.c.entry_id == entries.c.id)
        .where(bindings.c.subject_id == bindparam("subject_id"), entries.c.status == "active")
    )
    query = union_all(own, bound)
    return query.order_by(query.selected_columns.bound, query.selected_columns.id)


_HELD_QUERY: Final = _held_query()


def _active_entries(session: Session, subject_id: int, today: date) -> list[_Held]:
    """The subject's own active entries and the organisations' entries that bind it.

    Active as of ``today`` (see :func:`effective_status`), each with the list it counts as
    (see :func:`effective_list_type`).
    """
    definitions = get_definitions()
    held: list[_Held] = []
    # A Core statement on the session's connection: the ORM's execute adds nothing here but
    # cost. Entries written in this session but not yet flushed are flushed first, as
    # session.execute would.
    session.flush()
    for row in session.connection().execute(_HELD_QUERY, {"subject_id": subject_id}):
        if row.planned_end_date is not None and row.planned_end_date < today:
            continue  # past its term: expired, whether or not the job has run
        entry = _Entry(
            id=row.id,
            list_type=row.list_type,
            subject_id=row.subject_id,
            ground=row.ground,
            authority=row.authority,
            reference=row.reference,
            start_date=row.start_date,
            planned_end_date=row.planned_end_date,
        )
        held.append(
            _Held(
                entry,
                _counts_as(definitions, entry.list_type, entry.start_date, today),
                BindingRole(row.role) if row.bound else None,
            )
        )
    return held


def _ref(held: _Held) -> EntryRef:
    entry = held.entry
    return EntryRef(
        entry_id=entry.id,
        list_type=held.list_type.code,
        list_name_zh=held.list_type.name_zh,
        list_name_en=held.list_type.name_en,
        ground=entry.ground,
        authority=entry.authority,
        reference=entry.reference,
        start_date=entry.start_date,
        planned_end_date=entry.planned_end_date,
        bound_as=held.bound_as,
        listed_subject_id=entry.subject_id,
    )


def _until(entries: Iterable[_Held]) -> date | None:
    ends = [held.entry.planned_end_date for held in entries]
    if any(end is None for end in ends):
        return None
    return max(end for end in ends if end is not None)


_MemorandumMeasures = tuple[tuple[Measure, MemorandumMeasure, Memorandum], ...]
# The definitions last indexed, and their memoranda's measures by kind (one slot: the
# definitions are loaded once per process).
_memoranda_index: dict[int, tuple[ListDefinitions, dict[str, _MemorandumMeasures]]] = {}


def _memoranda_measures(definitions: ListDefinitions, kind: str) -> _MemorandumMeasures:
    """Every (measure, memorandum item, memorandum) of ``kind``, in the memoranda's order."""
    indexed = _memoranda_index.get(id(definitions))
    if indexed is None or indexed[0] is not definitions:
        by_kind: dict[str, list[tuple[Measure, MemorandumMeasure, Memorandum]]] = {}
        for memo in definitions.memoranda:
            for item in memo.measures:
                measure = definitions.measure(item.measure)
                by_kind.setdefault(measure.kind, []).append((measure, item, memo))
        indexed = (definitions, {k: tuple(v) for k, v in by_kind.items()})
        _memoranda_index.clear()
        _memoranda_index[id(definitions)] = indexed
    return indexed[1].get(kind, ())


def _applied(
    held: Sequence[_Held], kind: str, wanted: str | None, definitions: ListDefinitions
) -> list[AppliedMeasure]:
    """Measures of ``kind`` that the memoranda apply to these entries."""
    if not held:
        return []
    found: dict[tuple[str, str], tuple[Measure, MemorandumMeasure, str, str, list[_Held]]] = {}
    for measure, item, memo in _memoranda_measures(definitions, kind):
        if wanted is not None and measure.code != wanted:
            continue
        for entry in held:
            if entry.list_type.code not in memo.list_types:
                continue
            if entry.bound_as is not None and entry.bound_as not in item.binds:
                continue
            key = (measure.code, memo.code)
            found.setdefault(key, (measure, item, memo.code, memo.source, []))[4].append(entry)
    # An entry usually supports many measures: describe it once.
    refs = {id(entry): _ref(entry) for entry in held}
    applied = []
    for measure, item, memo_code, memo_source, entries in found.values():
        applied.append(
            AppliedMeasure(
                measure=measure.code,
                kind=measure.kind,
                name_zh=measure.name_zh,
                name_en=measure.name_en,
                legal_basis=measure.legal_basis,
                applying_body=item.applying_body,
                memorandum=memo_code,
                memorandum_source=memo_source,
                entries=[refs[id(entry)] for entry in entries],
                until=_until(entries),
            )
        )
    applied.sort(key=lambda m: (m.measure, m.memorandum or ""))
    return applied


def check_restriction(
    session: Session, subject: IdentifiedSubject, measure: str | None, today: date | None = None
) -> CheckDecision:
    """May ``subject`` be served under ``measure`` (or: which restrictions apply)?"""
    day = today or utcnow().date()
    definitions = get_definitions()
    if measure is not None and definitions.measure(measure).kind != "restriction":
        raise InvalidListEntryError(f"{measure} is an incentive; ask the eligibility check")
    held = [
        h for h in _active_entries(session, subject.id, day) if h.list_type.polarity == "negative"
    ]
    applied = _applied(held, "restriction", measure, definitions)
    return CheckDecision(
        check="restriction",
        subject_id=subject.id,
        as_of=day,
        measure=measure,
        allowed=not applied,
        measures=applied,
        definitions_version=definitions.version,
    )


def check_eligibility(
    session: Session,
    keys: KeyRing,
    subject: IdentifiedSubject,
    measure: str | None,
    today: date | None = None,
) -> CheckDecision:
    """Is ``subject`` eligible for ``measure`` (or: which incentives apply)?"""
    day = today or utcnow().date()
    definitions = get_definitions()
    if measure is not None and definitions.measure(measure).kind != "incentive":
        raise InvalidListEntryError(f"{measure} is a restriction; ask the restriction check")
    held = _active_entries(session, subject.id, day)
    negative = [h for h in held if h.list_type.polarity == "negative" and h.bound_as is None]
    applied: list[AppliedMeasure] = []
    if not negative:
        positive = [h for h in held if h.list_type.polarity == "positive" and h.bound_as is None]
        applied = _applied(positive, "incentive", measure, definitions)
        applied += _score_incentives(session, keys, subject, measure, day, definitions)
    return CheckDecision(
        check="eligibility",
        subject_id=subject.id,
        as_of=day,
        measure=measure,
        allowed=bool(applied),
        measures=applied,
        blocking_entries=[_ref(h) for h in negative],
        definitions_version=definitions.version,
    )


@cache
def _recent_score_query() -> Any:
    """Whether the subject has a score as of ``since`` or later (built once)."""
    from xinyong.scoring.models import SubjectScore

    scores = SubjectScore.__table__
    return (
        select(scores.c.id)
        .where(scores.c.subject_id == bindparam("subject_id"), scores.c.as_of >= bindparam("since"))
        .limit(1)
    )


def _score_incentives(
    session: Session,
    keys: KeyRing,
    subject: IdentifiedSubject,
    measure: str | None,
    today: date,
    definitions: ListDefinitions,
) -> list[AppliedMeasure]:
    from xinyong.scoring.features import segment_of_kind
    from xinyong.scoring.registry import score_history

    segment = segment_of_kind(subject.kind)
    rules = [
        rule
        for rule in definitions.score_incentives
        if rule.segment == segment and (measure is None or rule.measure == measure)
    ]
    if not rules:
        return []
    # A tier needs a score at most max_age_days old: without any that recent, none applies,
    # and the history (decrypted) need not be read.
    oldest = today - timedelta(days=max(rule.max_age_days for rule in rules))
    session.flush()
    recent = session.connection().execute(
        _recent_score_query(), {"subject_id": subject.id, "since": oldest}
    )
    if recent.first() is None:
        return []
    latest = next(
        (s for s in score_history(session, keys, subject.id, limit=5) if s.score is not None),
        None,
    )
    if latest is None:
        return []
    applied = []
    for rule in rules:
        if latest.as_of < today - timedelta(days=rule.max_age_days):
            continue
        if latest.score is None or latest.score < rule.min_score:
            continue
        incentive = definitions.measure(rule.measure)
        applied.append(
            AppliedMeasure(
                measure=incentive.code,
                kind="incentive",
                name_zh=incentive.name_zh,
                name_en=incentive.name_en,
                legal_basis=rule.legal_basis,
                applying_body=rule.applying_body,
                memorandum=None,
                memorandum_source=None,
                entries=[],
                score_tier=ScoreTier(
                    min_score=rule.min_score,
                    scored_on=latest.as_of,
                    model_name=latest.model_name,
                    model_version=latest.model_version,
                ),
                until=latest.as_of + timedelta(days=rule.max_age_days),
            )
        )
    return applied


def record_check(
    session: Session,
    principal: Principal,
    subject: IdentifiedSubject,
    decision: CheckDecision,
    *,
    channel: Channel,
    operator_user: str | None = None,
) -> CheckDecision:
    """Record a check as a query record of the caller (product ``check``), in the caller's
    transaction (one Core insert: the record is written, never read back or changed)."""
    # The reports domain owns query records; it imports this module, so not at the top.
    from xinyong.reports.service import QueryRequest, insert_query_record, query_record_values

    purpose = RESTRICTION_PURPOSE if decision.check == "restriction" else ELIGIBILITY_PURPOSE
    request = QueryRequest(purpose=purpose, operator_user=operator_user, product=CHECK_PRODUCT)
    record_id = insert_query_record(
        session,
        query_record_values(
            principal, channel, subject.id, request, outcome="served", as_of=decision.as_of
        ),
    )
    return decision.model_copy(update={"query_record_id": record_id})
