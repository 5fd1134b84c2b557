"""Disputes (异议): a subject contests items of its credit file (征信业管理条例 Art. 25;
FCRA §1681i; RULES.md 10, 22).

The workflow (docs/disputes.md):

1. :func:`file_dispute` — the subject (portal), an operator, or a querying institution with
   the subject's current consent files a case: one or more of the subject's records, a
   reason code, the subject's text (encrypted). Each record becomes an item with its own
   verification task for the record's furnisher. From that moment every report flags the
   items (:func:`dispute_annotations`). Deadlines come from the jurisdiction profile's
   dispute rules in force on the filing day, counted in its day type and holiday calendar,
   and are kept with the case.
2. The furnisher answers each task (:func:`answer_task`): ``corrected`` (a new record
   version through the ingestion service), ``confirmed``, or ``deleted`` (a tombstone
   version through ingestion).
3. :func:`run_dispute_deadlines` (daily) notifies furnishers that could not be notified at
   filing, flags notifications that are overdue, and applies the profile's outcome to items
   still unanswered after the deadline: ``delete`` (us) or ``unresolved`` (cn, the dispute
   text kept alongside the item).
4. When every item has ended, the case is resolved and the subject's written answer is
   stored with it; reports show each item's outcome in their annotations.

Every change of a case is an append-only :class:`DisputeEvent` (its timeline) that bumps the
case's version, an outbox event (``dispute.*``), and an audit entry when staff act.
"""

from __future__ import annotations

import hashlib
import json
import logging
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyong.audit.schemas import AccessAction, StaffAction
from xinyong.audit.service import record_access, record_staff_action
from xinyong.catalog.service import ENVELOPE_KEYS, get_catalog
from xinyong.db import utcnow
from xinyong.errors import ConflictError, NotFoundError, PermissionDeniedError, XinyongError
from xinyong.events.service import emit
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.identity.service import IDENTIFIER_CONTEXT
from xinyong.ingestion.models import IngestionBatch
from xinyong.ingestion.service import (
    IngestContext,
    apply_chunk,
    list_rejections,
    open_batch,
    prepare_row,
    record_chunk,
)
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Principal, Role
from xinyong.records.models import CreditRecord, RecordVersion
from xinyong.records.service import RECORD_KEY_CONTEXT
from xinyong.reports.models import Consent
from xinyong.reports.profiles import (
    DeadlineOutcome,
    DisputeRules,
    JurisdictionProfile,
    get_profile,
)
from xinyong.rights import evidence as evidence_files
from xinyong.rights.calendar import period_end, working_calendar
from xinyong.rights.models import (
    DisputeCase,
    DisputeEvent,
    DisputeEvidence,
    DisputeItem,
)
from xinyong.rights.schemas import (
    AnswerOutcome,
    CaseStatus,
    DisputeFiling,
    DisputeItemView,
    DisputeKpis,
    DisputeReason,
    DisputeSummary,
    DisputeView,
    EvidenceView,
    Filer,
    ItemStatus,
    Outcome,
    TaskAnswer,
    TaskFilter,
    TimelineEntry,
    VerificationTaskView,
)

logger = logging.getLogger("xinyong.rights")

TEXT_CONTEXT = b"dispute.text"
NOTE_CONTEXT = b"dispute.note"
OUTCOME_CONTEXT = b"dispute.written_outcome"
EVIDENCE_CONTEXT = b"dispute.evidence"
EVIDENCE_NAME_CONTEXT = b"dispute.evidence.filename"
EVIDENCE = evidence_files.Contexts(EVIDENCE_CONTEXT, EVIDENCE_NAME_CONTEXT)

MAX_ITEMS = 20
MAX_TEXT = 4000
ACTIVE_CASE = (CaseStatus.OPEN.value, CaseStatus.AWAITING_FURNISHER.value)
ACTIVE_ITEM = (ItemStatus.PENDING.value, ItemStatus.OPEN.value)


# --- errors -----------------------------------------------------------------------------------


class DisputeNotFoundError(NotFoundError):
    code = "dispute_not_found"
    title = "Dispute not found"


class DisputedRecordNotFoundError(NotFoundError):
    code = "record_not_found"
    title = "Record not found"


class RecordNotOfSubjectError(XinyongError):
    status = 422
    code = "record_not_of_subject"
    title = "The record is not about this subject"


class RecordDeletedError(ConflictError):
    code = "record_deleted"
    title = "The record has been deleted"


class DisputeAlreadyOpenError(ConflictError):
    code = "dispute_already_open"
    title = "The item is already in an open dispute"


class InvalidDisputeError(XinyongError):
    status = 422
    code = "invalid_dispute"
    title = "The dispute cannot be filed"


class DisputeClosedError(ConflictError):
    code = "dispute_closed"
    title = "The dispute is closed"


class DisputeConsentRequiredError(PermissionDeniedError):
    code = "consent_required"
    title = "No current consent of the subject"


class NotYourDisputeError(PermissionDeniedError):
    code = "not_your_dispute"
    title = "You may not act on this dispute"


class VerificationTaskNotFoundError(NotFoundError):
    code = "verification_task_not_found"
    title = "Verification task not found"


class VerificationTaskClosedError(ConflictError):
    code = "verification_task_closed"
    title = "The verification task is closed"


class CorrectionRejectedError(XinyongError):
    status = 422
    code = "correction_rejected"
    title = "The corrected record was rejected"


class CorrectionUnchangedError(ConflictError):
    code = "correction_unchanged"
    title = "The correction changes nothing"


class CorrectionVersionError(XinyongError):
    status = 422
    code = "correction_version_invalid"
    title = "That version is not a correction of the disputed record"


# --- who acts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    role: str
    label: str
    institution_id: int | None = None
    api_key_id: int | None = None


# The platform itself: the deadline job.
SCHEDULER = Actor(role="system", label="scheduler")


def _actor(principal: Principal) -> Actor:
    return Actor(
        principal.role.value, principal.label, principal.institution_id, principal.api_key_id
    )


def _filer(principal: Principal) -> Filer:
    if principal.role is Role.SUBJECT:
        return Filer.SUBJECT
    if principal.role is Role.OPERATOR:
        return Filer.OPERATOR
    if principal.role is Role.QUERIER:
        return Filer.INSTITUTION
    raise NotYourDisputeError(f"the {principal.role.value} role may not file disputes")


# --- the timeline -----------------------------------------------------------------------------


def _event(
    session: Session,
    case: DisputeCase,
    event: str,
    actor: Actor,
    *,
    item: DisputeItem | None = None,
    reason: str | None = None,
    note_ct: bytes | None = None,
    details: dict[str, Any] | None = None,
    when: datetime | None = None,
) -> DisputeEvent:
    """Append one timeline event; it makes the case's next version."""
    session.flush()  # ids
    case.version += 1
    row = DisputeEvent(
        case_id=case.id,
        case_version=case.version,
        item_id=item.id if item is not None else None,
        event=event,
        status=case.status,
        occurred_at=when or utcnow(),
        role=actor.role,
        actor=actor.label[:200],
        institution_id=actor.institution_id,
        reason=reason[:500] if reason else None,
        note_ct=note_ct,
        details=details or {},
    )
    session.add(row)
    session.flush()
    return row


def _refresh_status(case: DisputeCase, items: Sequence[DisputeItem]) -> None:
    if case.status == CaseStatus.WITHDRAWN.value:
        return
    statuses = {item.status for item in items}
    if statuses <= {ItemStatus.RESOLVED.value}:
        case.status = CaseStatus.RESOLVED.value
    elif ItemStatus.PENDING.value in statuses:
        case.status = CaseStatus.OPEN.value
    else:
        case.status = CaseStatus.AWAITING_FURNISHER.value


def _items(session: Session, case: DisputeCase) -> list[DisputeItem]:
    return list(
        session.scalars(
            select(DisputeItem).where(DisputeItem.case_id == case.id).order_by(DisputeItem.id)
        )
    )


def _rules(case: DisputeCase) -> DisputeRules:
    return DisputeRules.model_validate(case.rules)


def _today(case: DisputeCase, now: datetime) -> date:
    """``now``'s date in the time zone of the case's profile."""
    return get_profile(case.profile).today(now)


# --- filing -----------------------------------------------------------------------------------


def _has_current_consent(
    session: Session, institution_id: int, subject_id: int, now: datetime
) -> bool:
    """Whether the institution holds a consent of the subject in force now (any purpose)."""
    found = session.scalar(
        select(Consent.id)
        .where(
            Consent.institution_id == institution_id,
            Consent.subject_id == subject_id,
            Consent.granted_at <= now,
            Consent.expires_at > now,
            Consent.revoked_at.is_(None),
        )
        .limit(1)
    )
    return found is not None


def _current_versions(session: Session, record_ids: Sequence[int]) -> dict[int, RecordVersion]:
    newest = (
        select(RecordVersion.record_id, func.max(RecordVersion.version).label("version"))
        .where(RecordVersion.record_id.in_(list(record_ids)))
        .group_by(RecordVersion.record_id)
        .subquery()
    )
    rows = session.scalars(
        select(RecordVersion).join(
            newest,
            (RecordVersion.record_id == newest.c.record_id)
            & (RecordVersion.version == newest.c.version),
        )
    )
    return {version.record_id: version for version in rows}


def _furnisher_active(session: Session, furnisher_id: int) -> bool:
    furnisher = session.get(Institution, furnisher_id)
    return furnisher is not None and furnisher.status == "active" and furnisher.is_furnisher


def file_dispute(
    session: Session,
    keys: KeyRing,
    profile: JurisdictionProfile,
    principal: Principal,
    subject_id: int,
    filing: DisputeFiling,
    *,
    now: datetime | None = None,
) -> DisputeCase:
    """File a dispute of the subject's records; the items are flagged from now on.

    A subject files for itself, an operator for any subject, a querying institution only
    while it holds a current consent of the subject.
    """
    now = now or utcnow()
    filer = _filer(principal)
    if filer is Filer.SUBJECT and principal.subject_id != subject_id:
        raise NotYourDisputeError("you may dispute only your own credit file")
    if filer is Filer.INSTITUTION:
        assert principal.institution_id is not None  # querier keys have one
        if not _has_current_consent(session, principal.institution_id, subject_id, now):
            raise DisputeConsentRequiredError(
                "an institution files a dispute on a subject's behalf only while it holds a "
                "current consent of the subject"
            )
    text = filing.text.strip()
    if not text:
        raise InvalidDisputeError("say what is wrong: the text is empty")
    if len(text) > MAX_TEXT:
        raise InvalidDisputeError(f"the text has at most {MAX_TEXT} characters")
    record_ids = list(dict.fromkeys(filing.record_ids))
    if len(record_ids) != len(filing.record_ids):
        raise InvalidDisputeError("a record is listed twice")
    if len(record_ids) > MAX_ITEMS:
        raise InvalidDisputeError(f"a dispute names at most {MAX_ITEMS} records")
    records = {
        record.id: record
        for record in session.scalars(select(CreditRecord).where(CreditRecord.id.in_(record_ids)))
    }
    for record_id in record_ids:
        record = records.get(record_id)
        if record is None or (filer is Filer.SUBJECT and record.subject_id != subject_id):
            # The same answer for someone else's record as for a missing one.
            raise DisputedRecordNotFoundError(
                f"there is no record {record_id} in the credit file", record_id=record_id
            )
        if record.subject_id != subject_id:
            raise RecordNotOfSubjectError(
                f"record {record_id} is not about subject {subject_id}", record_id=record_id
            )
    current = _current_versions(session, record_ids)
    for record_id in record_ids:
        if current[record_id].operation == "delete":
            raise RecordDeletedError(
                f"record {record_id} has been deleted; there is nothing to dispute",
                record_id=record_id,
            )
    _refuse_open_disputes(session, record_ids)

    filed_on = profile.today(now)
    rules = profile.dispute_rules(filed_on)
    calendar = working_calendar(session, rules.calendar)
    due_on = period_end(filed_on, rules.answer, calendar)
    case = DisputeCase(
        subject_id=subject_id,
        status=CaseStatus.OPEN.value,
        version=0,
        filed_by=filer.value,
        filed_by_institution_id=principal.institution_id if filer is Filer.INSTITUTION else None,
        filed_by_label=principal.label[:200],
        reason_code=filing.reason_code.value,
        text_ct=keys.encrypt_text(text, TEXT_CONTEXT),
        profile=profile.code,
        profile_version=profile.version,
        rules=rules.model_dump(mode="json"),
        filed_at=now,
        filed_on=filed_on,
        notify_by=period_end(filed_on, rules.furnisher_notice, calendar),
        original_due_on=due_on,
        due_on=due_on,
    )
    session.add(case)
    session.flush()
    actor = _actor(principal)
    _event(
        session,
        case,
        "opened",
        actor,
        reason=case.reason_code,
        details={
            "items": len(record_ids),
            "due_on": due_on.isoformat(),
            "notify_by": case.notify_by.isoformat(),
            "filed_by": filer.value,
        },
        when=now,
    )
    items = [
        DisputeItem(
            case_id=case.id,
            record_id=record_id,
            open_record_id=record_id,
            furnisher_id=records[record_id].furnisher_id,
            disputed_version=current[record_id].version,
            status=ItemStatus.PENDING.value,
        )
        for record_id in record_ids
    ]
    try:
        with session.begin_nested():
            session.add_all(items)
    except IntegrityError:
        # Another dispute of the same record committed between the check and the insert.
        _refuse_open_disputes(session, record_ids)
        raise
    emit(
        session,
        "dispute.opened",
        subject_id=subject_id,
        payload={
            "case_id": case.id,
            "record_ids": record_ids,
            "filed_by": filer.value,
            "due_on": due_on.isoformat(),
        },
    )
    for item in items:
        if _furnisher_active(session, item.furnisher_id):
            _notify(session, case, item, now)
    _refresh_status(case, items)
    if principal.role is Role.OPERATOR:
        record_staff_action(
            session,
            principal,
            StaffAction.DISPUTE_FILE,
            target_type="dispute",
            target_id=case.id,
            details={"subject_id": subject_id, "records": len(record_ids)},
        )
    session.flush()
    return case


def _refuse_open_disputes(session: Session, record_ids: Sequence[int]) -> None:
    clash = session.execute(
        select(DisputeItem.record_id, DisputeItem.case_id)
        .where(DisputeItem.open_record_id.in_(list(record_ids)))
        .limit(1)
    ).first()
    if clash is not None:
        raise DisputeAlreadyOpenError(
            f"record {clash.record_id} is already disputed in case {clash.case_id}",
            record_id=clash.record_id,
            case_id=clash.case_id,
        )


def _notify(session: Session, case: DisputeCase, item: DisputeItem, now: datetime) -> None:
    """Give the furnisher its verification task (the API lists it from now on)."""
    item.status = ItemStatus.OPEN.value
    item.notified_at = now
    _refresh_status(case, _items(session, case))
    late = _today(case, now) > case.notify_by
    _event(
        session,
        case,
        "furnisher_notified",
        SCHEDULER,
        item=item,
        details={
            "task_id": item.id,
            "record_id": item.record_id,
            "furnisher_id": item.furnisher_id,
            "due_on": case.due_on.isoformat(),
            "late": late,
        },
        when=now,
    )
    emit(
        session,
        "dispute.verification_requested",
        subject_id=case.subject_id,
        payload={
            "case_id": case.id,
            "task_id": item.id,
            "record_id": item.record_id,
            "due_on": case.due_on.isoformat(),
        },
    )


# --- access -----------------------------------------------------------------------------------


def get_case(session: Session, case_id: int) -> DisputeCase:
    case = session.get(DisputeCase, case_id)
    if case is None:
        raise DisputeNotFoundError(f"there is no dispute {case_id}")
    return case


def case_for(
    session: Session, principal: Principal, case_id: int, *, lock: bool = False
) -> DisputeCase:
    """The case if ``principal`` may see it: the subject, the filing institution, a furnisher
    with an item in it, staff. Others get the answer a missing case gets.

    ``lock``: for a change, the case's row is locked (PostgreSQL; SQLite serialises writers)
    and re-read, so concurrent answers, withdrawals and the deadline job see each other.
    """
    case = _locked_case(session, case_id) if lock else session.get(DisputeCase, case_id)
    if case is None or not _may_see(session, principal, case):
        raise DisputeNotFoundError(f"there is no dispute {case_id}")
    return case


def _locked_case(session: Session, case_id: int) -> DisputeCase | None:
    case = session.scalar(
        select(DisputeCase)
        .where(DisputeCase.id == case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if case is not None:
        # The items change only under the case's lock: read them afresh too.
        session.execute(
            select(DisputeItem)
            .where(DisputeItem.case_id == case_id)
            .execution_options(populate_existing=True)
        ).all()
    return case


def _may_see(session: Session, principal: Principal, case: DisputeCase) -> bool:
    if principal.role in (Role.OPERATOR, Role.AUDITOR):
        return True
    if principal.role is Role.SUBJECT:
        return case.subject_id == principal.subject_id
    if principal.role is Role.QUERIER:
        return (
            case.filed_by_institution_id is not None
            and case.filed_by_institution_id == principal.institution_id
        )
    if principal.role is Role.FURNISHER:
        return (
            session.scalar(
                select(DisputeItem.id)
                .where(
                    DisputeItem.case_id == case.id,
                    DisputeItem.furnisher_id == principal.institution_id,
                )
                .limit(1)
            )
            is not None
        )
    return False


def _check_may_act(principal: Principal, case: DisputeCase) -> None:
    """Adding evidence or information and withdrawing: the subject, the filer, operators."""
    if principal.role is Role.OPERATOR:
        return
    if principal.role is Role.SUBJECT and case.subject_id == principal.subject_id:
        return
    if (
        principal.role is Role.QUERIER
        and case.filed_by_institution_id is not None
        and case.filed_by_institution_id == principal.institution_id
    ):
        return
    raise NotYourDisputeError("only the subject, the institution that filed or an operator may")


def _check_active(case: DisputeCase) -> None:
    if case.status not in ACTIVE_CASE:
        raise DisputeClosedError(f"dispute {case.id} is {case.status}", case_status=case.status)


# --- evidence and information -----------------------------------------------------------------


def add_evidence(
    session: Session,
    keys: KeyRing,
    principal: Principal,
    case_id: int,
    *,
    content: bytes | None,
    content_type: str | None,
    filename: str | None = None,
) -> DisputeEvidence:
    """Store an evidence file with the case: size- and type-checked, hashed, encrypted
    (:mod:`xinyong.rights.evidence`).

    The declared type must be PDF, PNG or JPEG and the content must start with that type's
    signature (a renamed file is refused).
    """
    case = case_for(session, principal, case_id, lock=True)
    _check_may_act(principal, case)
    _check_active(case)
    checked = evidence_files.check_file(
        content, content_type, filename, invalid=InvalidDisputeError
    )
    evidence_files.check_room(session, DisputeEvidence.case_id, case.id)
    evidence = evidence_files.seal(
        keys,
        DisputeEvidence(case_id=case.id),
        checked,
        EVIDENCE,
        uploaded_by=_actor(principal).role,
    )
    session.add(evidence)
    session.flush()
    _event(
        session,
        case,
        "evidence_added",
        _actor(principal),
        details=evidence_files.added_details(evidence),
    )
    if principal.role is Role.OPERATOR:
        record_staff_action(
            session,
            principal,
            StaffAction.DISPUTE_EVIDENCE_ADD,
            target_type="dispute",
            target_id=case.id,
            details={"evidence_id": evidence.id, "sha256": evidence.sha256},
        )
    return evidence


def read_evidence(
    session: Session, keys: KeyRing, principal: Principal, case_id: int, evidence_id: int
) -> tuple[DisputeEvidence, bytes, str | None]:
    """An evidence file (row, content, filename) for someone who may see the case."""
    case = case_for(session, principal, case_id)
    ref = evidence_files.CaseRef(
        "dispute", case.id, case.subject_id, AccessAction.DISPUTE_EVIDENCE_READ
    )
    return evidence_files.read_file(
        session,
        keys,
        principal,
        DisputeEvidence,
        DisputeEvidence.case_id,
        ref,
        evidence_id,
        EVIDENCE,
    )


def add_information(
    session: Session,
    keys: KeyRing,
    principal: Principal,
    case_id: int,
    text: str,
    *,
    now: datetime | None = None,
) -> DisputeCase:
    """The subject (or its filer) adds information to an open case.

    Under a profile with an extension rule (us: FCRA §1681i(a)(1)(B)), information received
    by the deadline extends it once.
    """
    now = now or utcnow()
    case = case_for(session, principal, case_id, lock=True)
    _check_may_act(principal, case)
    _check_active(case)
    cleaned = text.strip()
    if not cleaned:
        raise InvalidDisputeError("the information is empty")
    if len(cleaned) > MAX_TEXT:
        raise InvalidDisputeError(f"the information has at most {MAX_TEXT} characters")
    actor = _actor(principal)
    _event(
        session,
        case,
        "information_added",
        actor,
        note_ct=keys.encrypt_text(cleaned, NOTE_CONTEXT),
        when=now,
    )
    rules = _rules(case)
    extension = rules.extension_on_new_information
    today = _today(case, now)
    extended = False
    if extension is not None and case.extended_on is None and today <= case.due_on:
        calendar = working_calendar(session, rules.calendar)
        before = case.due_on
        case.due_on = period_end(before, extension, calendar)
        case.extended_on = today
        extended = True
        _event(
            session,
            case,
            "deadline_extended",
            actor,
            reason="information_added",
            details={"from": before.isoformat(), "to": case.due_on.isoformat()},
            when=now,
        )
    emit(
        session,
        "dispute.information_added",
        subject_id=case.subject_id,
        payload={"case_id": case.id, "due_on": case.due_on.isoformat(), "extended": extended},
    )
    if principal.role is Role.OPERATOR:
        record_staff_action(
            session,
            principal,
            StaffAction.DISPUTE_INFORMATION_ADD,
            target_type="dispute",
            target_id=case.id,
            details={"extended": extended},
        )
    session.flush()
    return case


def withdraw_dispute(
    session: Session,
    principal: Principal,
    case_id: int,
    reason: str | None = None,
    *,
    now: datetime | None = None,
) -> DisputeCase:
    """Withdraw an open case: its open items end and their flags go."""
    now = now or utcnow()
    case = case_for(session, principal, case_id, lock=True)
    _check_may_act(principal, case)
    _check_active(case)
    for item in _items(session, case):
        if item.status in ACTIVE_ITEM:
            item.status = ItemStatus.WITHDRAWN.value
            item.open_record_id = None
    case.status = CaseStatus.WITHDRAWN.value
    case.withdrawn_at = now
    _event(session, case, "withdrawn", _actor(principal), reason=reason, when=now)
    emit(session, "dispute.withdrawn", subject_id=case.subject_id, payload={"case_id": case.id})
    if principal.role is Role.OPERATOR:
        record_staff_action(
            session,
            principal,
            StaffAction.DISPUTE_WITHDRAW,
            target_type="dispute",
            target_id=case.id,
            reason=reason,
        )
    session.flush()
    return case


# --- versions through the ingestion service ---------------------------------------------------


def _submit_version(
    session: Session,
    keys: KeyRing,
    record: CreditRecord,
    *,
    idempotency_key: str,
    fields: dict[str, Any] | None = None,
    valid_from: date | None = None,
    valid_to: date | None = None,
    reason: str | None = None,
) -> int:
    """Submit a correction (``fields``) or a tombstone (``reason``) of ``record`` through
    the ingestion service, in the furnisher's name (batch source ``dispute``); the record's
    version afterwards.

    Raises :class:`CorrectionRejectedError` when validation rejects the row and
    :class:`CorrectionUnchangedError` when a correction repeats the current fact.
    """
    subject = session.get(Subject, record.subject_id)
    assert subject is not None  # a foreign key
    current = _current_versions(session, [record.id])[record.id]
    row: dict[str, object] = {
        "record_type": record.record_type,
        "record_key": keys.decrypt_text(record.record_key_ct, RECORD_KEY_CONTEXT),
        "subject_id_type": subject.id_type,
        "subject_identifier": keys.decrypt_text(subject.identifier_ct, IDENTIFIER_CONTEXT),
        "valid_from": (valid_from or current.valid_from).isoformat(),
    }
    end = valid_to or current.valid_to
    if end is not None:
        row["valid_to"] = end.isoformat()
    if fields is None:
        row["action"] = "delete"
        row["reason"] = (reason or "deleted after a dispute")[:500]
    else:
        envelope = sorted(set(fields) & ENVELOPE_KEYS)
        if envelope:
            raise CorrectionRejectedError(
                f"fields holds only the record's fields, not {', '.join(envelope)}",
                errors=[{"field": key, "code": "envelope_field"} for key in envelope],
            )
        row.update(fields)
    ctx = IngestContext(
        keys=keys,
        catalog=get_catalog(),
        furnisher_id=record.furnisher_id,
        # A dispute answer touches only the disputed record, whose type the furnisher
        # already furnishes.
        permitted_record_types=frozenset({record.record_type}),
        received_at=utcnow(),
    )
    body = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    batch, existed = open_batch(
        session,
        furnisher_id=record.furnisher_id,
        idempotency_key=idempotency_key,
        content_sha256=hashlib.sha256(body).hexdigest(),
        source="dispute",
        file_format="json",
        filename=None,
        default_record_type=None,
    )
    if not existed:
        counts = apply_chunk(session, ctx, batch.id, [prepare_row(ctx, 1, row)])
        record_chunk(batch, counts, 2)
        batch.status = "completed"
        batch.completed_at = ctx.received_at
        session.flush()
    _check_batch(session, batch, deleting=fields is None)
    return _current_versions(session, [record.id])[record.id].version


def _check_batch(session: Session, batch: IngestionBatch, *, deleting: bool) -> None:
    if batch.rows_rejected:
        rejections = list_rejections(session, batch.id)
        raise CorrectionRejectedError(
            "; ".join(f"{r.field or 'row'}: {r.message}" for r in rejections),
            errors=[r.model_dump() for r in rejections],
        )
    if batch.rows_unchanged and not deleting:
        raise CorrectionUnchangedError(
            "the corrected fields equal the record's current version; answer confirmed instead"
        )


# --- answers and outcomes ---------------------------------------------------------------------


def _task_for(session: Session, principal: Principal, task_id: int) -> DisputeItem:
    item = session.get(DisputeItem, task_id)
    if (
        item is None
        or item.furnisher_id != principal.institution_id
        or item.status == ItemStatus.PENDING.value
    ):
        raise VerificationTaskNotFoundError(f"you have no verification task {task_id}")
    return item


def answer_task(
    session: Session,
    keys: KeyRing,
    principal: Principal,
    task_id: int,
    answer: TaskAnswer,
    *,
    now: datetime | None = None,
) -> DisputeItem:
    """The furnisher's answer to a verification task: corrected, confirmed or deleted."""
    now = now or utcnow()
    item = _task_for(session, principal, task_id)
    locked = _locked_case(session, item.case_id)
    assert locked is not None  # a foreign key
    case = locked
    if item.status != ItemStatus.OPEN.value:
        raise VerificationTaskClosedError(
            f"verification task {task_id} is {item.status}", task_status=item.status
        )
    record = session.get(CreditRecord, item.record_id)
    assert record is not None  # a foreign key
    note = answer.note.strip() if answer.note else None
    resulting: int | None = None
    if answer.outcome is AnswerOutcome.CORRECTED:
        if answer.version is not None:
            version = session.scalar(
                select(RecordVersion).where(
                    RecordVersion.record_id == record.id, RecordVersion.version == answer.version
                )
            )
            if (
                version is None
                or version.version <= item.disputed_version
                or version.operation not in ("correct", "restore")
            ):
                raise CorrectionVersionError(
                    f"version {answer.version} of record {record.id} is not a correction made "
                    f"after the disputed version {item.disputed_version}",
                    version=answer.version,
                )
            resulting = version.version
        else:
            assert answer.fields is not None  # the answer's validator
            resulting = _submit_version(
                session,
                keys,
                record,
                idempotency_key=f"dispute-task:{item.id}:corrected",
                fields=answer.fields,
                valid_from=answer.valid_from,
                valid_to=answer.valid_to,
            )
    elif answer.outcome is AnswerOutcome.DELETED:
        resulting = _submit_version(
            session,
            keys,
            record,
            idempotency_key=f"dispute-task:{item.id}:deleted",
            reason=f"dispute {case.id}: deleted after verification" + (f": {note}" if note else ""),
        )
    _resolve_item(
        session,
        keys,
        case,
        item,
        Outcome(answer.outcome.value),
        _actor(principal),
        resolved_by="furnisher",
        now=now,
        note=note,
        resulting_version=resulting,
    )
    return item


def _names(session: Session, record: CreditRecord) -> tuple[str, str, str, str]:
    """Words for the written answer: furnisher (zh, en) and record type (zh, en)."""
    furnisher = session.get(Institution, record.furnisher_id)
    record_type = get_catalog().record_types.get(record.record_type)
    zh = furnisher.name if furnisher else str(record.furnisher_id)
    en = (furnisher.name_en or furnisher.name) if furnisher else zh
    type_zh = record_type.name_zh if record_type else record.record_type
    type_en = record_type.name_en if record_type else record.record_type
    return zh, en, type_zh, type_en


def _written_item(
    session: Session,
    case: DisputeCase,
    item: DisputeItem,
    outcome: Outcome,
    resolved_by: str,
    note: str | None,
) -> dict[str, str]:
    """The written answer about one item, in Chinese and English."""
    record = session.get(CreditRecord, item.record_id)
    assert record is not None
    furnisher_zh, furnisher_en, type_zh, type_en = _names(session, record)
    what_zh = f"{type_zh} #{record.id}"
    what_en = f"{type_en} #{record.id}"
    due = case.due_on.isoformat()
    source = _rules(case).outcome_source
    if resolved_by == "deadline" and outcome is Outcome.DELETED:
        zh = f"{what_zh}未能在期限（{due}）内核实，已予删除。依据：{source}。"
        en = (
            f"{what_en} could not be verified by the deadline ({due}) and was deleted. "
            f"Basis: {source}."
        )
    elif resolved_by == "deadline":
        zh = (
            f"{what_zh}经核查仍不能确认（期限 {due}），已记载核查情况，"
            f"您的异议内容与该记录一并保存和展示。依据：{source}。"
        )
        en = (
            f"{what_en} could not be confirmed by the deadline ({due}); it is recorded as "
            f"unresolved and your dispute is kept and shown with it. Basis: {source}."
        )
    elif outcome is Outcome.CORRECTED:
        version = item.resulting_version
        zh = f"经核查，{furnisher_zh}已更正{what_zh}（第 {version} 版），信用报告展示更正后的内容。"
        en = (
            f"After verification, {furnisher_en} corrected {what_en} (version {version}); "
            "your credit report shows the corrected item."
        )
    elif outcome is Outcome.CONFIRMED:
        zh = f"经核查，{furnisher_zh}确认{what_zh}无误，异议标注已取消。"
        en = (
            f"After verification, {furnisher_en} confirmed {what_en} as reported; "
            "the dispute flag has been removed."
        )
    elif outcome is Outcome.DELETED:
        zh = f"经核查，{furnisher_zh}已删除{what_zh}。"
        en = f"After verification, {furnisher_en} deleted {what_en}."
    else:
        zh = f"{what_zh}经核查仍不能确认，已记载核查情况，您的异议内容与该记录一并保存和展示。"
        en = (
            f"{what_en} could not be confirmed; it is recorded as unresolved and your dispute "
            "is kept and shown with it."
        )
    if note:
        zh += f" 核查说明：{note}"
        en += f" Explanation: {note}"
    return {"zh-CN": zh, "en": en}


def _encrypt_json(keys: KeyRing, value: dict[str, str]) -> bytes:
    return keys.encrypt(json.dumps(value, ensure_ascii=False).encode("utf-8"), OUTCOME_CONTEXT)


def _decrypt_json(keys: KeyRing, token: bytes | None) -> dict[str, str] | None:
    if token is None:
        return None
    value: dict[str, str] = json.loads(keys.decrypt(token, OUTCOME_CONTEXT))
    return value


def _resolve_item(
    session: Session,
    keys: KeyRing,
    case: DisputeCase,
    item: DisputeItem,
    outcome: Outcome,
    actor: Actor,
    *,
    resolved_by: str,
    now: datetime,
    today: date | None = None,
    note: str | None = None,
    resulting_version: int | None = None,
) -> None:
    item.status = ItemStatus.RESOLVED.value
    item.outcome = outcome.value
    item.open_record_id = None
    item.resolved_by = resolved_by
    item.resolved_at = now
    item.resulting_version = resulting_version
    item.answer_note_ct = keys.encrypt_text(note, NOTE_CONTEXT) if note else None
    item.written_outcome_ct = _encrypt_json(
        keys, _written_item(session, case, item, outcome, resolved_by, note)
    )
    items = _items(session, case)
    _refresh_status(case, items)
    _event(
        session,
        case,
        "deadline_outcome" if resolved_by == "deadline" else "answered",
        actor,
        item=item,
        reason=outcome.value,
        note_ct=item.answer_note_ct,
        details={
            "task_id": item.id,
            "record_id": item.record_id,
            "outcome": outcome.value,
            "resulting_version": resulting_version,
        },
        when=now,
    )
    emit(
        session,
        "dispute.item_resolved",
        subject_id=case.subject_id,
        payload={
            "case_id": case.id,
            "task_id": item.id,
            "record_id": item.record_id,
            "outcome": outcome.value,
        },
    )
    if case.status == CaseStatus.RESOLVED.value:
        at_deadline = resolved_by == "deadline"
        _close_case(session, keys, case, items, actor, now, today, at_deadline=at_deadline)


def _close_case(
    session: Session,
    keys: KeyRing,
    case: DisputeCase,
    items: Sequence[DisputeItem],
    actor: Actor,
    now: datetime,
    today: date | None,
    *,
    at_deadline: bool,
) -> None:
    """Every item has ended: the case is resolved and the written answer stored."""
    outcomes = {item.outcome for item in items}
    case.outcome = outcomes.pop() if len(outcomes) == 1 else "mixed"
    case.resolved_at = now
    case.resolved_on = today or _today(case, now)
    # On time: by the due date, or, for an outcome the deadline job applies, on its run the
    # day after the due date.
    allowed = case.due_on + timedelta(days=1 if at_deadline else 0)
    case.resolved_on_time = case.resolved_on <= allowed
    texts = [_decrypt_json(keys, item.written_outcome_ct) or {} for item in items]
    filed = case.filed_on.isoformat()
    heads = {
        "zh-CN": f"关于您于 {filed} 提出的异议（编号 {case.id}）的书面答复：",
        "en": f"Written answer to your dispute no. {case.id} filed on {filed}:",
    }
    case.written_outcome_ct = _encrypt_json(
        keys,
        {
            lang: "\n".join(
                [head, *(f"{n}. {t.get(lang, '')}" for n, t in enumerate(texts, start=1))]
            )
            for lang, head in heads.items()
        },
    )
    _event(
        session,
        case,
        "resolved",
        actor,
        reason=case.outcome,
        details={"outcome": case.outcome, "on_time": case.resolved_on_time},
        when=now,
    )
    emit(
        session,
        "dispute.resolved",
        subject_id=case.subject_id,
        payload={
            "case_id": case.id,
            "outcome": case.outcome,
            "record_ids": [item.record_id for item in items],
        },
    )


# --- the deadline job -------------------------------------------------------------------------


@dataclass
class DeadlineRun:
    """What one run of the deadline job did."""

    notified: int = 0
    notification_overdue: int = 0
    deleted: int = 0
    unresolved: int = 0
    cases_resolved: int = 0
    failed: int = 0


def run_dispute_deadlines(
    session: Session, today: date, *, keys: KeyRing, now: datetime | None = None
) -> DeadlineRun:
    """Move cases at their deadlines, as of ``today`` (idempotent; run daily).

    1. Tasks not yet notified go to furnishers that are active again; a notification still
       not made after its ``notify_by`` day is flagged once (``notification_overdue``).
    2. Items still unanswered after the case's due day get the outcome of the rules kept
       with the case: ``delete`` (a tombstone version through ingestion, with the reason)
       or ``unresolved`` (the item stays, the dispute text alongside it).

    One item failing (say, ingestion refuses its tombstone) is logged and counted; the
    others go on.
    """
    now = now or utcnow()
    run = DeadlineRun()
    pending = session.execute(
        select(DisputeItem, DisputeCase)
        .join(DisputeCase, DisputeCase.id == DisputeItem.case_id)
        .where(DisputeItem.status == ItemStatus.PENDING.value)
        .order_by(DisputeItem.id)
    ).all()
    for item, case in pending:
        _locked_case(session, case.id)
        if item.status != ItemStatus.PENDING.value:
            continue  # changed meanwhile (withdrawn)
        if _furnisher_active(session, item.furnisher_id):
            _notify(session, case, item, now)
            run.notified += 1
        elif today > case.notify_by and item.notification_overdue_at is None:
            item.notification_overdue_at = now
            _event(
                session,
                case,
                "notification_overdue",
                SCHEDULER,
                item=item,
                details={"task_id": item.id, "notify_by": case.notify_by.isoformat()},
                when=now,
            )
            emit(
                session,
                "dispute.notification_overdue",
                subject_id=case.subject_id,
                payload={"case_id": case.id, "task_id": item.id},
            )
            run.notification_overdue += 1

    due = session.execute(
        select(DisputeItem, DisputeCase)
        .join(DisputeCase, DisputeCase.id == DisputeItem.case_id)
        .where(
            DisputeItem.status.in_(ACTIVE_ITEM),
            DisputeCase.status.in_(ACTIVE_CASE),
            DisputeCase.due_on < today,
        )
        .order_by(DisputeCase.id, DisputeItem.id)
    ).all()
    for item, case in due:
        try:
            with session.begin_nested():
                _locked_case(session, case.id)
                if item.status not in ACTIVE_ITEM or case.status not in ACTIVE_CASE:
                    continue  # answered or withdrawn meanwhile
                outcome = _apply_deadline(session, keys, case, item, now, today)
        except XinyongError:
            logger.exception("dispute %s item %s: the deadline outcome failed", case.id, item.id)
            run.failed += 1
            continue
        if outcome is Outcome.DELETED:
            run.deleted += 1
        else:
            run.unresolved += 1
        if case.status == CaseStatus.RESOLVED.value:
            run.cases_resolved += 1
    session.flush()
    return run


def _apply_deadline(
    session: Session,
    keys: KeyRing,
    case: DisputeCase,
    item: DisputeItem,
    now: datetime,
    today: date,
) -> Outcome:
    rules = _rules(case)
    resulting: int | None = None
    if rules.outcome_at_deadline is DeadlineOutcome.DELETE:
        outcome = Outcome.DELETED
        record = session.get(CreditRecord, item.record_id)
        assert record is not None
        resulting = _submit_version(
            session,
            keys,
            record,
            idempotency_key=f"dispute-task:{item.id}:deadline",
            reason=f"dispute {case.id}: not verified by {case.due_on.isoformat()}; "
            f"{rules.outcome_source}",
        )
    else:
        outcome = Outcome.UNRESOLVED
    _resolve_item(
        session,
        keys,
        case,
        item,
        outcome,
        SCHEDULER,
        resolved_by="deadline",
        now=now,
        today=today,
        resulting_version=resulting,
    )
    return outcome


# --- reports: flags and annotations -----------------------------------------------------------


@dataclass(frozen=True)
class DisputeFlag:
    """One disputed item as a report made at ``cutoff`` shows it."""

    dispute_id: int
    record_id: int
    record_type: str
    # open | under_review | corrected | confirmed | deleted | unresolved
    status: str
    opened_at: datetime
    due_on: date
    outcome: str | None
    resolved_at: datetime | None
    written_outcome: dict[str, str] | None
    # The subject's dispute text, kept alongside an unresolved item.
    dispute_text: str | None

    @property
    def flagged(self) -> bool:
        """Whether the item is shown as disputed: in progress, or left unresolved."""
        return self.status in ("open", "under_review", Outcome.UNRESOLVED.value)


def dispute_flags(
    session: Session,
    keys: KeyRing,
    subject_id: int,
    record_ids: Iterable[int],
    cutoff: datetime,
    *,
    include_deleted: bool = False,
) -> list[DisputeFlag]:
    """The disputes of the subject's items as they stood at ``cutoff``, oldest first.

    Items on ``record_ids`` (the report's file) count; with ``include_deleted``, also items
    deleted by their dispute (for the subject's and staff's reports). Withdrawn disputes and
    those filed after ``cutoff`` are left out.
    """
    wanted = set(record_ids)
    rows = session.execute(
        select(DisputeItem, DisputeCase, CreditRecord.record_type)
        .join(DisputeCase, DisputeCase.id == DisputeItem.case_id)
        .join(CreditRecord, CreditRecord.id == DisputeItem.record_id)
        .where(DisputeCase.subject_id == subject_id, DisputeCase.filed_at < cutoff)
        .order_by(DisputeCase.id, DisputeItem.id)
    ).all()
    flags = []
    for item, case, record_type in rows:
        resolved = item.resolved_at is not None and item.resolved_at < cutoff
        if resolved:
            status = str(item.outcome)
        elif case.withdrawn_at is not None and case.withdrawn_at < cutoff:
            continue
        elif item.notified_at is not None and item.notified_at < cutoff:
            status = "under_review"
        else:
            status = "open"
        in_file = item.record_id in wanted
        if not in_file and not (include_deleted and status == Outcome.DELETED.value):
            continue
        flags.append(
            DisputeFlag(
                dispute_id=case.id,
                record_id=item.record_id,
                record_type=record_type,
                status=status,
                opened_at=case.filed_at,
                due_on=case.due_on,
                outcome=item.outcome if resolved else None,
                resolved_at=item.resolved_at if resolved else None,
                written_outcome=_decrypt_json(keys, item.written_outcome_ct) if resolved else None,
                dispute_text=(
                    keys.decrypt_text(case.text_ct, TEXT_CONTEXT)
                    if status == Outcome.UNRESOLVED.value
                    else None
                ),
            )
        )
    return flags


# --- views ------------------------------------------------------------------------------------


def _institution_codes(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = session.execute(
        select(Institution.id, Institution.code).where(Institution.id.in_(wanted))
    )
    return dict(rows.all())


def _evidence_views(
    session: Session, keys: KeyRing, case_ids: Sequence[int]
) -> dict[int, list[EvidenceView]]:
    return evidence_files.views_by_case(
        session, keys, DisputeEvidence, DisputeEvidence.case_id, case_ids, EVIDENCE
    )


def view_case(
    session: Session, keys: KeyRing, principal: Principal, case: DisputeCase
) -> DisputeView:
    """The case as ``principal`` sees it, with its timeline.

    A furnisher sees the case's own events and those of its items only (another furnisher's
    item would tell it where else the subject has business); staff also see which key or
    account acted. A staff read is recorded in the access log.
    """
    items = _items(session, case)
    furnisher_view = principal.role is Role.FURNISHER
    staff = principal.role in (Role.OPERATOR, Role.AUDITOR)
    if furnisher_view:
        items = [item for item in items if item.furnisher_id == principal.institution_id]
    visible_items = {item.id for item in items}
    events = [
        event
        for event in session.scalars(
            select(DisputeEvent).where(DisputeEvent.case_id == case.id).order_by(DisputeEvent.id)
        )
        if not furnisher_view or event.item_id is None or event.item_id in visible_items
    ]
    records = {
        record.id: record
        for record in session.scalars(
            select(CreditRecord).where(CreditRecord.id.in_([item.record_id for item in items]))
        )
    }
    codes = _institution_codes(
        session,
        [case.filed_by_institution_id]
        + [item.furnisher_id for item in items]
        + [event.institution_id for event in events],
    )
    if staff:
        record_access(
            session,
            principal,
            AccessAction.DISPUTE_READ,
            subject_id=case.subject_id,
            details={"case_id": case.id},
        )
    return DisputeView(
        id=case.id,
        subject_id=case.subject_id,
        status=CaseStatus(case.status),
        outcome=case.outcome,
        version=case.version,
        filed_by=Filer(case.filed_by),
        filed_by_institution_code=codes.get(case.filed_by_institution_id or 0),
        reason_code=DisputeReason(case.reason_code),
        text=keys.decrypt_text(case.text_ct, TEXT_CONTEXT),
        profile=case.profile,
        profile_version=case.profile_version,
        filed_at=case.filed_at,
        filed_on=case.filed_on,
        notify_by=case.notify_by,
        original_due_on=case.original_due_on,
        due_on=case.due_on,
        extended_on=case.extended_on,
        resolved_at=case.resolved_at,
        resolved_on=case.resolved_on,
        resolved_on_time=case.resolved_on_time,
        withdrawn_at=case.withdrawn_at,
        # The combined answer covers every furnisher's items: not for a furnisher.
        written_outcome=None if furnisher_view else _decrypt_json(keys, case.written_outcome_ct),
        items=[
            DisputeItemView(
                id=item.id,
                record_id=item.record_id,
                record_type=records[item.record_id].record_type,
                furnisher_code=codes.get(item.furnisher_id, str(item.furnisher_id)),
                disputed_version=item.disputed_version,
                status=ItemStatus(item.status),
                outcome=Outcome(item.outcome) if item.outcome else None,
                notified_at=item.notified_at,
                notification_overdue=item.notification_overdue_at is not None,
                resolved_at=item.resolved_at,
                resolved_by=item.resolved_by,
                resulting_version=item.resulting_version,
                answer_note=(
                    keys.decrypt_text(item.answer_note_ct, NOTE_CONTEXT)
                    if item.answer_note_ct
                    else None
                ),
                written_outcome=_decrypt_json(keys, item.written_outcome_ct),
            )
            for item in items
        ],
        evidence=_evidence_views(session, keys, [case.id]).get(case.id, []),
        timeline=[
            TimelineEntry(
                version=event.case_version,
                occurred_at=event.occurred_at,
                event=event.event,
                status=CaseStatus(event.status),
                item_id=event.item_id,
                role=event.role,
                institution_code=codes.get(event.institution_id or 0),
                actor=event.actor if staff else None,
                reason=event.reason,
                note=keys.decrypt_text(event.note_ct, NOTE_CONTEXT) if event.note_ct else None,
                details=event.details,
            )
            for event in events
        ],
    )


def list_cases(
    session: Session,
    *,
    subject_id: int | None = None,
    filed_by_institution_id: int | None = None,
    status: CaseStatus | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[DisputeSummary]:
    """Cases, newest first."""
    counts = (
        select(DisputeItem.case_id, func.count().label("item_count"))
        .group_by(DisputeItem.case_id)
        .subquery()
    )
    query = (
        select(DisputeCase, counts.c.item_count)
        .join(counts, counts.c.case_id == DisputeCase.id)
        .order_by(DisputeCase.id.desc())
        .offset(offset)
        .limit(limit)
    )
    if subject_id is not None:
        query = query.where(DisputeCase.subject_id == subject_id)
    if filed_by_institution_id is not None:
        query = query.where(DisputeCase.filed_by_institution_id == filed_by_institution_id)
    if status is not None:
        query = query.where(DisputeCase.status == status.value)
    return [
        DisputeSummary(
            id=case.id,
            subject_id=case.subject_id,
            status=CaseStatus(case.status),
            outcome=case.outcome,
            reason_code=DisputeReason(case.reason_code),
            filed_by=Filer(case.filed_by),
            filed_at=case.filed_at,
            due_on=case.due_on,
            items=count,
            resolved_on=case.resolved_on,
        )
        for case, count in session.execute(query)
    ]


def list_tasks(
    session: Session,
    keys: KeyRing,
    furnisher_id: int,
    *,
    status: TaskFilter = TaskFilter.OPEN,
    today: date | None = None,
    task_id: int | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[VerificationTaskView]:
    """A furnisher's verification tasks (notified ones), earliest due first.

    ``overdue``: still open after the due day (default: today in each case's profile zone).
    """
    now = utcnow()
    query = (
        select(DisputeItem, DisputeCase, CreditRecord)
        .join(DisputeCase, DisputeCase.id == DisputeItem.case_id)
        .join(CreditRecord, CreditRecord.id == DisputeItem.record_id)
        .where(
            DisputeItem.furnisher_id == furnisher_id,
            DisputeItem.status != ItemStatus.PENDING.value,
        )
        .order_by(DisputeCase.due_on, DisputeItem.id)
        .offset(offset)
        .limit(limit)
    )
    if task_id is not None:
        query = query.where(DisputeItem.id == task_id)
    if status is TaskFilter.OPEN:
        query = query.where(DisputeItem.status == ItemStatus.OPEN.value)
    elif status is TaskFilter.RESOLVED:
        query = query.where(DisputeItem.status != ItemStatus.OPEN.value)
    rows = session.execute(query).all()
    case_ids = sorted({case.id for _, case, _ in rows})
    evidence = _evidence_views(session, keys, case_ids)
    information: dict[int, list[str]] = defaultdict(list)
    if case_ids:
        for case_id, note_ct in session.execute(
            select(DisputeEvent.case_id, DisputeEvent.note_ct)
            .where(
                DisputeEvent.case_id.in_(case_ids),
                DisputeEvent.event == "information_added",
            )
            .order_by(DisputeEvent.id)
        ):
            if note_ct is not None:
                information[case_id].append(keys.decrypt_text(note_ct, NOTE_CONTEXT))
    return [
        VerificationTaskView(
            id=item.id,
            case_id=case.id,
            subject_id=case.subject_id,
            record_id=record.id,
            record_type=record.record_type,
            record_key=keys.decrypt_text(record.record_key_ct, RECORD_KEY_CONTEXT),
            disputed_version=item.disputed_version,
            reason_code=DisputeReason(case.reason_code),
            dispute_text=keys.decrypt_text(case.text_ct, TEXT_CONTEXT),
            information=information.get(case.id, []),
            evidence=evidence.get(case.id, []),
            status=ItemStatus(item.status),
            outcome=Outcome(item.outcome) if item.outcome else None,
            notified_at=item.notified_at,
            due_on=case.due_on,
            overdue=item.status == ItemStatus.OPEN.value
            and (today or _today(case, now)) > case.due_on,
            resolved_at=item.resolved_at,
            resulting_version=item.resulting_version,
        )
        for item, case, record in rows
    ]


def view_task(
    session: Session, keys: KeyRing, principal: Principal, task_id: int
) -> VerificationTaskView:
    assert principal.institution_id is not None  # furnisher keys have one
    found = list_tasks(
        session, keys, principal.institution_id, status=TaskFilter.ALL, task_id=task_id
    )
    if not found:
        raise VerificationTaskNotFoundError(f"you have no verification task {task_id}")
    return found[0]


# --- KPIs -------------------------------------------------------------------------------------


def dispute_kpis(
    session: Session,
    today: date,
    *,
    filed_from: date | None = None,
    filed_to: date | None = None,
) -> DisputeKpis:
    """Cases open (on time, overdue), resolved (on time, late), outcomes by item, overdue
    furnisher notifications and the median days from filing to resolution, optionally for
    cases filed within [``filed_from``, ``filed_to``]."""
    cases = select(
        DisputeCase.id,
        DisputeCase.status,
        DisputeCase.due_on,
        DisputeCase.filed_on,
        DisputeCase.resolved_on,
        DisputeCase.resolved_on_time,
    )
    if filed_from is not None:
        cases = cases.where(DisputeCase.filed_on >= filed_from)
    if filed_to is not None:
        cases = cases.where(DisputeCase.filed_on <= filed_to)
    rows = session.execute(cases).all()
    active = [row for row in rows if row.status in ACTIVE_CASE]
    resolved = [row for row in rows if row.status == CaseStatus.RESOLVED.value]
    ids = [row.id for row in rows]
    outcomes: Counter[str] = Counter()
    overdue_notices = 0
    for some in (ids[i : i + 1000] for i in range(0, len(ids), 1000)):
        for outcome, count in session.execute(
            select(DisputeItem.outcome, func.count())
            .where(DisputeItem.case_id.in_(some), DisputeItem.outcome.is_not(None))
            .group_by(DisputeItem.outcome)
        ):
            outcomes[str(outcome)] += count
        overdue_notices += (
            session.scalar(
                select(func.count())
                .select_from(DisputeItem)
                .where(
                    DisputeItem.case_id.in_(some),
                    DisputeItem.status == ItemStatus.PENDING.value,
                    DisputeItem.notification_overdue_at.is_not(None),
                )
            )
            or 0
        )
    durations = [
        (row.resolved_on - row.filed_on).days for row in resolved if row.resolved_on is not None
    ]
    return DisputeKpis(
        as_of=today,
        cases_filed=len(rows),
        cases_open=len(active),
        open_on_time=sum(1 for row in active if row.due_on >= today),
        open_overdue=sum(1 for row in active if row.due_on < today),
        resolved=len(resolved),
        resolved_on_time=sum(1 for row in resolved if row.resolved_on_time),
        resolved_late=sum(1 for row in resolved if row.resolved_on_time is False),
        withdrawn=sum(1 for row in rows if row.status == CaseStatus.WITHDRAWN.value),
        items_by_outcome={outcome.value: outcomes.get(outcome.value, 0) for outcome in Outcome},
        notification_overdue=overdue_notices,
        median_days_to_resolve=float(statistics.median(durations)) if durations else None,
    )
