"""Credit repair (信用修复): a subject asks for a list entry or a published administrative
penalty to be repaired (RULES.md 12-13; docs/disputes.md, "Credit repair").

1. :func:`apply_for_repair` — the subject (portal) or an operator on its behalf applies for
   one target with a signed credit commitment (and, optionally, text references to its
   evidence). The conditions are checked at once (:func:`check_conditions`): the minimum
   publicity period of the penalty's severity (the lists' ``[publicity.penalties]`` data), a
   repairable list type, evidence files, the commitment, no new violations after the
   target. Court list entries are removed by the courts and refused.
   While the case is open the subject or an operator uploads the evidence files that the
   obligations are performed (:func:`add_evidence`, checked, hashed and encrypted by
   :mod:`xinyong.rights.evidence`); each upload checks the conditions again.
2. An operator acknowledges (:func:`acknowledge`) within the acknowledgement period, and
   decides (:func:`decide`) within the decision period after it, with a reason.
3. A rejection may be appealed once (:func:`appeal`); an operator decides it again
   (:func:`decide_appeal`).
4. Approval ends the list entry as repaired or marks the penalty repaired (no longer
   published nor shared with institutions), re-scores the subject with the champion when
   there is one, and emits ``repair.approved``.

:func:`run_repair_deadlines` (daily) flags overdue acknowledgements and decisions. Every
change is an append-only :class:`RepairEvent`, an outbox event and, for staff, an audit
entry. Repair is free.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.audit.schemas import AccessAction, StaffAction
from xinyong.audit.service import record_staff_action
from xinyong.db import utcnow
from xinyong.errors import ConflictError, NotFoundError, PermissionDeniedError, XinyongError
from xinyong.events.service import emit
from xinyong.identity.crypto import KeyRing
from xinyong.identity.models import Subject
from xinyong.institutions.schemas import Principal, Role
from xinyong.lists import service as lists_service
from xinyong.lists.definitions import get_definitions
from xinyong.lists.models import ListEntry
from xinyong.lists.schemas import EntryStatus
from xinyong.records.models import CreditRecord, RecordVersion
from xinyong.records.service import CONTENT_CONTEXT
from xinyong.reports.profiles import JurisdictionProfile, RepairRules, get_profile
from xinyong.rights import evidence as evidence_files
from xinyong.rights.calendar import period_end, working_calendar
from xinyong.rights.models import RepairCase, RepairEvent, RepairEvidence
from xinyong.rights.schemas import EvidenceView

logger = logging.getLogger("xinyong.rights.repair")

COMMITMENT_CONTEXT = b"repair.commitment"
# The text references given with the application.
EVIDENCE_CONTEXT = b"repair.evidence"
# The evidence files.
EVIDENCE_FILES = evidence_files.Contexts(b"repair.evidence.file", b"repair.evidence.filename")
MAX_TEXT = 4000
MAX_EVIDENCE_ITEMS = 10


class RepairStatus(StrEnum):
    SUBMITTED = "submitted"
    ACKNOWLEDGED = "acknowledged"
    APPROVED = "approved"
    REJECTED = "rejected"
    APPEALED = "appealed"


class TargetKind(StrEnum):
    PENALTY = "penalty"
    LIST_ENTRY = "list_entry"


OPEN = (RepairStatus.SUBMITTED.value, RepairStatus.ACKNOWLEDGED.value, RepairStatus.APPEALED.value)


# --- errors -----------------------------------------------------------------------------------


class RepairNotFoundError(NotFoundError):
    code = "repair_not_found"
    title = "Repair application not found"


class RepairTargetNotFoundError(NotFoundError):
    code = "repair_target_not_found"
    title = "Nothing to repair with this id"


class InvalidRepairError(XinyongError):
    status = 422
    code = "invalid_repair"
    title = "The repair application cannot be made"


class NotRepairableError(XinyongError):
    status = 422
    code = "not_repairable"
    title = "This item cannot be repaired"


class RepairNotApplicableError(XinyongError):
    status = 422
    code = "repair_not_applicable"
    title = "Credit repair does not apply under this jurisdiction profile"


class RepairStateError(ConflictError):
    code = "repair_state"
    title = "The repair application is not in a state that allows this"


class RepairAlreadyOpenError(ConflictError):
    code = "repair_already_open"
    title = "The item already has an open repair application"


class RepairConditionsNotMetError(ConflictError):
    code = "repair_conditions_not_met"
    title = "The conditions of repair are not met"


class AppealNotAllowedError(ConflictError):
    code = "appeal_not_allowed"
    title = "The decision cannot be appealed"


class RepairClosedError(ConflictError):
    code = "repair_closed"
    title = "The repair application is closed"


class NotYourRepairError(PermissionDeniedError):
    code = "not_your_repair"
    title = "You may not act on this repair application"


# --- I/O ----------------------------------------------------------------------------------------


class RepairApplication(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_kind: TargetKind
    # A penalty record id (target_kind penalty) or a list entry id (list_entry).
    target_id: int
    # References to the evidence that the obligations are performed (payment references…).
    # They do not meet the condition: upload the evidence files to the case.
    evidence: list[str] = Field(default_factory=list, max_length=MAX_EVIDENCE_ITEMS)
    commitment: str = Field(max_length=MAX_TEXT)
    commitment_signed: bool


class RepairApplicationOnBehalf(RepairApplication):
    subject_id: int


class RepairDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approved", "rejected"]
    reason: str = Field(min_length=1, max_length=500)


class RepairAppeal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class Condition(BaseModel):
    code: str
    met: bool
    # automatic: checked against the platform's data; declared: given by the applicant, for
    # the operator to verify.
    checked: Literal["automatic", "declared"]
    detail: str
    passes_on: date | None = None
    ids: list[int] = Field(default_factory=list)


class RepairTimelineEntry(BaseModel):
    version: int
    event: str
    status: str
    occurred_at: datetime
    role: str
    actor: str
    reason: str | None
    details: dict[str, Any]


class RepairView(BaseModel):
    id: int
    subject_id: int
    target_kind: str
    record_id: int | None
    list_entry_id: int | None
    status: str
    version: int
    filed_by: str
    filed_on: date
    acknowledge_by: date
    acknowledged_on: date | None
    decide_by: date | None
    decided_on: date | None
    decision: str | None
    decision_reason: str | None
    appeals_used: int
    appeals_left: int
    conditions: list[Condition]
    missing: list[str]
    repaired_at: datetime | None
    commitment: str | None = None
    evidence: list[str] | None = None
    # The evidence files (file names only for the subject and operators).
    evidence_files: list[EvidenceView] = Field(default_factory=list)
    timeline: list[RepairTimelineEntry] = Field(default_factory=list)


class RepairKpis(BaseModel):
    as_of: date
    open: int
    awaiting_acknowledgement: int
    awaiting_decision: int
    acknowledgement_overdue: int
    decision_overdue: int
    approved: int
    rejected: int
    appealed: int


# --- helpers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Actor:
    role: str
    label: str


SCHEDULER = _Actor("system", "scheduler")


def _actor(principal: Principal) -> _Actor:
    return _Actor(principal.role.value, principal.label)


def _event(
    session: Session,
    case: RepairCase,
    event: str,
    actor: _Actor,
    *,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    when: datetime | None = None,
) -> None:
    """Append one timeline event and its outbox event (``payload``, default ``details``)."""
    session.flush()
    case.version += 1
    session.add(
        RepairEvent(
            case_id=case.id,
            case_version=case.version,
            event=event,
            status=case.status,
            occurred_at=when or utcnow(),
            role=actor.role,
            actor=actor.label[:200],
            reason=reason[:500] if reason else None,
            details=details or {},
        )
    )
    emit(
        session,
        f"repair.{event}",
        subject_id=case.subject_id,
        payload={"case_id": case.id, "status": case.status, **(payload or details or {})},
    )
    session.flush()


def _rules(case: RepairCase) -> RepairRules:
    return RepairRules.model_validate(case.rules)


def _day(value: object) -> date | None:
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _current_fields(session: Session, keys: KeyRing, record_id: int) -> dict[str, Any] | None:
    version = session.scalar(
        select(RecordVersion)
        .where(RecordVersion.record_id == record_id)
        .order_by(RecordVersion.version.desc())
        .limit(1)
    )
    if version is None or version.operation == "delete" or version.content_ct is None:
        return None
    fields: dict[str, Any] = json.loads(keys.decrypt(version.content_ct, CONTENT_CONTEXT))
    return fields


@dataclass(frozen=True)
class _Target:
    kind: TargetKind
    subject_id: int
    record_id: int | None
    list_entry_id: int | None
    # The day the violation was decided or listed: new violations count after it.
    since: date
    severity: str | None = None
    list_type: str | None = None


def _target(
    session: Session,
    keys: KeyRing,
    rules: RepairRules,
    kind: TargetKind,
    target_id: int,
    subject_id: int | None,
) -> _Target:
    if kind is TargetKind.PENALTY:
        record = session.get(CreditRecord, target_id)
        penalty_type = get_definitions().publicity.penalties.record_type
        if record is None or (subject_id is not None and record.subject_id != subject_id):
            raise RepairTargetNotFoundError(f"there is no penalty {target_id} in the credit file")
        if record.record_type != penalty_type:
            raise NotRepairableError(
                f"record {target_id} is a {record.record_type}, not an administrative penalty"
            )
        fields = _current_fields(session, keys, record.id)
        decided = _day(fields.get("decision_date")) if fields else None
        if fields is None or decided is None:
            raise NotRepairableError(f"penalty {target_id} has been withdrawn or has no decision")
        return _Target(
            kind, record.subject_id, record.id, None, decided, severity=str(fields.get("severity"))
        )
    entry = session.get(ListEntry, target_id)
    if entry is None or (subject_id is not None and entry.subject_id != subject_id):
        raise RepairTargetNotFoundError(f"there is no list entry {target_id} of yours")
    if entry.list_type in rules.court_list_types:
        raise NotRepairableError(
            "court list entries are removed by the court on performance or expiry, not "
            f"repaired: ask the court that listed you ({rules.court_list_source})",
            list_type=entry.list_type,
        )
    if entry.list_type not in rules.repairable_list_types:
        raise NotRepairableError(
            f"entries of the list {entry.list_type} cannot be repaired; repairable: "
            f"{', '.join(rules.repairable_list_types)}",
            list_type=entry.list_type,
        )
    return _Target(
        kind, entry.subject_id, None, entry.id, entry.start_date, list_type=entry.list_type
    )


def check_conditions(
    session: Session,
    keys: KeyRing,
    target: _Target,
    today: date,
    *,
    files: list[int],
    references: list[str],
    commitment: str,
    commitment_signed: bool,
) -> list[Condition]:
    """The conditions of repair, each met or missing (with the date it passes, the ids).

    ``files``: the ids of the case's evidence files; only files meet
    ``obligations_performed`` (``references``, text given with the application, do not).
    """
    conditions: list[Condition] = []
    if target.kind is TargetKind.PENALTY:
        rule = get_definitions().publicity.penalties.for_severity(target.severity)
        months = rule.min_months if rule is not None else 0
        passes = lists_service.add_months(target.since, months)
        conditions.append(
            Condition(
                code="minimum_publicity_passed",
                met=today >= passes,
                checked="automatic",
                detail=(
                    f"the minimum publicity of a {target.severity} penalty is {months} months "
                    f"from {target.since.isoformat()}"
                    + (f" ({rule.source})" if rule is not None else "")
                ),
                passes_on=passes,
            )
        )
    else:
        entry = session.get(ListEntry, target.list_entry_id)
        active = (
            entry is not None and lists_service.effective_status(entry, today) is EntryStatus.ACTIVE
        )
        conditions.append(
            Condition(
                code="entry_active",
                met=active,
                checked="automatic",
                detail="the entry is active" if active else "the entry has already ended",
            )
        )
    if files:
        performed = (
            f"{len(files)} evidence file(s) that the obligations are performed, for "
            "the operator to verify"
        )
    elif references:
        performed = "evidence references given, but no evidence file: upload the files"
    else:
        performed = "no evidence that the obligations are performed: upload the files"
    conditions.append(
        Condition(
            code="obligations_performed",
            met=bool(files),
            checked="declared",
            detail=performed,
            ids=sorted(files),
        )
    )
    signed = commitment_signed and bool(commitment.strip())
    conditions.append(
        Condition(
            code="credit_commitment",
            met=signed,
            checked="declared",
            detail="a signed credit commitment" if signed else "no signed credit commitment",
        )
    )
    new = _new_violations(session, keys, target)
    conditions.append(
        Condition(
            code="no_new_violations",
            met=not new,
            checked="automatic",
            detail=(
                f"no penalties or negative list entries after {target.since.isoformat()}"
                if not new
                else f"{len(new)} penalties or negative list entries after "
                f"{target.since.isoformat()}"
            ),
            ids=new,
        )
    )
    return conditions


def _new_violations(session: Session, keys: KeyRing, target: _Target) -> list[int]:
    """Penalty record ids and negative list entry ids of the subject after the target's day."""
    definitions = get_definitions()
    found: list[int] = []
    records = session.scalars(
        select(CreditRecord.id).where(
            CreditRecord.subject_id == target.subject_id,
            CreditRecord.record_type == definitions.publicity.penalties.record_type,
        )
    ).all()
    for record_id in records:
        if record_id == target.record_id:
            continue
        fields = _current_fields(session, keys, record_id)
        decided = _day(fields.get("decision_date")) if fields else None
        if decided is not None and decided > target.since:
            found.append(record_id)
    negative = [t.code for t in definitions.list_types if t.polarity == "negative"]
    entries = session.scalars(
        select(ListEntry.id).where(
            ListEntry.subject_id == target.subject_id,
            ListEntry.list_type.in_(negative),
            ListEntry.start_date > target.since,
        )
    ).all()
    found.extend(entry_id for entry_id in entries if entry_id != target.list_entry_id)
    return sorted(found)


def _missing(conditions: list[dict[str, Any]] | list[Condition]) -> list[str]:
    parsed = [c if isinstance(c, Condition) else Condition.model_validate(c) for c in conditions]
    return [c.code for c in parsed if not c.met]


# --- the workflow -------------------------------------------------------------------------------


def apply_for_repair(
    session: Session,
    keys: KeyRing,
    profile: JurisdictionProfile,
    principal: Principal,
    subject_id: int,
    application: RepairApplication,
    *,
    now: datetime | None = None,
) -> RepairCase:
    """File a repair application; its conditions are checked at once and kept with it."""
    now = now or utcnow()
    if principal.role is Role.SUBJECT:
        if principal.subject_id != subject_id:
            raise NotYourRepairError("you may apply only for your own credit file")
        filed_by = "subject"
    elif principal.role is Role.OPERATOR:
        filed_by = "operator"
    else:
        raise NotYourRepairError(f"the {principal.role.value} role may not apply for repair")
    filed_on = profile.today(now)
    rules = profile.repair_rules(filed_on)
    if rules is None:
        raise RepairNotApplicableError(
            f"the {profile.code} profile has no credit-repair rules (see its repair notes)"
        )
    evidence = [text.strip() for text in application.evidence if text.strip()]
    commitment = application.commitment.strip()
    target = _target(
        session,
        keys,
        rules,
        application.target_kind,
        application.target_id,
        subject_id if filed_by == "subject" else None,
    )
    if target.subject_id != subject_id:
        raise InvalidRepairError(f"the target is not about subject {subject_id}")
    open_case = select(RepairCase.id).where(RepairCase.status.in_(OPEN))
    open_case = (
        open_case.where(RepairCase.record_id == target.record_id)
        if target.record_id is not None
        else open_case.where(RepairCase.list_entry_id == target.list_entry_id)
    )
    if session.scalar(open_case.limit(1)) is not None:
        raise RepairAlreadyOpenError("this item already has an open repair application")
    conditions = check_conditions(
        session,
        keys,
        target,
        filed_on,
        files=[],
        references=evidence,
        commitment=commitment,
        commitment_signed=application.commitment_signed,
    )
    calendar = working_calendar(session, rules.calendar)
    case = RepairCase(
        subject_id=subject_id,
        target_kind=target.kind.value,
        record_id=target.record_id,
        list_entry_id=target.list_entry_id,
        status=RepairStatus.SUBMITTED.value,
        version=0,
        filed_by=filed_by,
        commitment_ct=keys.encrypt_text(commitment, COMMITMENT_CONTEXT),
        evidence_ct=keys.encrypt_text(json.dumps(evidence, ensure_ascii=False), EVIDENCE_CONTEXT),
        conditions=[c.model_dump(mode="json") for c in conditions],
        profile=profile.code,
        profile_version=profile.version,
        rules=rules.model_dump(mode="json"),
        filed_at=now,
        filed_on=filed_on,
        acknowledge_by=period_end(filed_on, rules.acknowledgement, calendar),
    )
    session.add(case)
    _event(
        session,
        case,
        "filed",
        _actor(principal),
        details={
            "target_kind": case.target_kind,
            "record_id": case.record_id,
            "list_entry_id": case.list_entry_id,
            "missing": _missing(conditions),
            "acknowledge_by": case.acknowledge_by.isoformat(),
        },
        when=now,
    )
    if principal.role is Role.OPERATOR:
        record_staff_action(
            session,
            principal,
            StaffAction.REPAIR_FILE,
            target_type="repair",
            target_id=case.id,
            details={"subject_id": subject_id},
        )
    return case


def get_case(session: Session, case_id: int) -> RepairCase:
    case = session.get(RepairCase, case_id)
    if case is None:
        raise RepairNotFoundError(f"no repair application {case_id}")
    return case


def case_for(
    session: Session, principal: Principal, case_id: int, *, lock: bool = False
) -> RepairCase:
    """The case if ``principal`` may see it (its subject, staff); others get the answer a
    missing case gets. ``lock``: the row is locked (PostgreSQL) and re-read, for a change."""
    case = (
        session.scalar(
            select(RepairCase)
            .where(RepairCase.id == case_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if lock
        else session.get(RepairCase, case_id)
    )
    if case is None or (principal.role is Role.SUBJECT and case.subject_id != principal.subject_id):
        raise RepairNotFoundError(f"no repair application {case_id}")
    if principal.role not in (Role.SUBJECT, Role.OPERATOR, Role.AUDITOR):
        raise RepairNotFoundError(f"no repair application {case_id}")
    return case


def _require_operator(principal: Principal) -> None:
    if principal.role is not Role.OPERATOR:
        raise NotYourRepairError("only an operator may do this")


def acknowledge(
    session: Session,
    principal: Principal,
    case_id: int,
    *,
    now: datetime | None = None,
) -> RepairCase:
    """Acknowledge (受理) an application; the decision period starts."""
    _require_operator(principal)
    now = now or utcnow()
    case = get_case(session, case_id)
    if case.status != RepairStatus.SUBMITTED.value:
        raise RepairStateError(f"repair application {case.id} is {case.status}")
    today = get_profile(case.profile).today(now)
    rules = _rules(case)
    case.status = RepairStatus.ACKNOWLEDGED.value
    case.acknowledged_on = today
    case.decide_by = period_end(today, rules.decision, working_calendar(session, rules.calendar))
    _event(
        session,
        case,
        "acknowledged",
        _actor(principal),
        details={
            "decide_by": case.decide_by.isoformat(),
            "on_time": today <= case.acknowledge_by,
        },
        when=now,
    )
    record_staff_action(
        session, principal, StaffAction.REPAIR_ACKNOWLEDGE, target_type="repair", target_id=case.id
    )
    return case


def _recheck(session: Session, keys: KeyRing, case: RepairCase, today: date) -> list[Condition]:
    rules = _rules(case)
    target_id = case.record_id if case.record_id is not None else case.list_entry_id
    assert target_id is not None
    target = _target(session, keys, rules, TargetKind(case.target_kind), target_id, None)
    references = json.loads(keys.decrypt_text(case.evidence_ct, EVIDENCE_CONTEXT))
    commitment = keys.decrypt_text(case.commitment_ct, COMMITMENT_CONTEXT)
    return check_conditions(
        session,
        keys,
        target,
        today,
        files=_file_ids(session, case.id),
        references=list(references),
        commitment=commitment,
        commitment_signed=bool(commitment),
    )


def _file_ids(session: Session, case_id: int) -> list[int]:
    return list(
        session.scalars(
            select(RepairEvidence.id)
            .where(RepairEvidence.case_id == case_id)
            .order_by(RepairEvidence.id)
        )
    )


# --- evidence files ---------------------------------------------------------------------------


def add_evidence(
    session: Session,
    keys: KeyRing,
    principal: Principal,
    case_id: int,
    *,
    content: bytes | None,
    content_type: str | None,
    filename: str | None = None,
    now: datetime | None = None,
) -> RepairEvidence:
    """Store a file showing that the obligations are performed, and check the conditions again.

    The subject (its own case) or an operator, while the case is open (submitted,
    acknowledged or appealed). The file is size- and type-checked (the content's signature,
    not the name), hashed and encrypted (:mod:`xinyong.rights.evidence`); the upload is an
    ``evidence_added`` event on the timeline.
    """
    now = now or utcnow()
    case = case_for(session, principal, case_id, lock=True)
    if principal.role not in (Role.SUBJECT, Role.OPERATOR):
        raise NotYourRepairError("only the subject or an operator may add evidence")
    if case.status not in OPEN:
        raise RepairClosedError(
            f"repair application {case.id} is {case.status}: evidence is added while it is "
            "open"
            + (" (appeal the rejection first)" if case.status == RepairStatus.REJECTED else ""),
            case_status=case.status,
        )
    checked = evidence_files.check_file(content, content_type, filename)
    evidence_files.check_room(session, RepairEvidence.case_id, case.id)
    evidence = evidence_files.seal(
        keys,
        RepairEvidence(case_id=case.id),
        checked,
        EVIDENCE_FILES,
        uploaded_by=_actor(principal).role,
    )
    session.add(evidence)
    session.flush()
    conditions = _recheck(session, keys, case, get_profile(case.profile).today(now))
    case.conditions = [c.model_dump(mode="json") for c in conditions]
    missing = _missing(conditions)
    _event(
        session,
        case,
        "evidence_added",
        _actor(principal),
        details={**evidence_files.added_details(evidence), "missing": missing},
        payload={"evidence_id": evidence.id, "missing": missing},
        when=now,
    )
    if principal.role is Role.OPERATOR:
        record_staff_action(
            session,
            principal,
            StaffAction.REPAIR_EVIDENCE_ADD,
            target_type="repair",
            target_id=case.id,
            details={"evidence_id": evidence.id, "sha256": evidence.sha256},
        )
    return evidence


def read_evidence(
    session: Session, keys: KeyRing, principal: Principal, case_id: int, evidence_id: int
) -> tuple[RepairEvidence, bytes, str | None]:
    """An evidence file (row, content, file name) for the subject or an operator; an
    operator's read goes to the access log."""
    case = case_for(session, principal, case_id)
    if principal.role not in (Role.SUBJECT, Role.OPERATOR):
        raise NotYourRepairError("only the subject and operators read the evidence files")
    ref = evidence_files.CaseRef(
        "repair application", case.id, case.subject_id, AccessAction.REPAIR_EVIDENCE_READ
    )
    return evidence_files.read_file(
        session,
        keys,
        principal,
        RepairEvidence,
        RepairEvidence.case_id,
        ref,
        evidence_id,
        EVIDENCE_FILES,
    )


def evidence_view(
    session: Session, keys: KeyRing, principal: Principal, case_id: int, evidence_id: int
) -> EvidenceView:
    """How an evidence file of the case is listed for ``principal``."""
    views = _file_views(session, keys, principal, [case_id]).get(case_id, [])
    found = next((view for view in views if view.id == evidence_id), None)
    if found is None:
        raise evidence_files.EvidenceNotFoundError(
            f"repair application {case_id} has no evidence {evidence_id}"
        )
    return found


def _file_views(
    session: Session, keys: KeyRing, principal: Principal, case_ids: list[int]
) -> dict[int, list[EvidenceView]]:
    return evidence_files.views_by_case(
        session,
        keys,
        RepairEvidence,
        RepairEvidence.case_id,
        case_ids,
        EVIDENCE_FILES,
        names=principal.role in (Role.SUBJECT, Role.OPERATOR),
    )


def _decide(
    session: Session,
    keys: KeyRing,
    principal: Principal,
    case: RepairCase,
    body: RepairDecision,
    event: str,
    now: datetime,
) -> RepairCase:
    profile = get_profile(case.profile)
    today = profile.today(now)
    if body.decision == "approved":
        conditions = _recheck(session, keys, case, today)
        case.conditions = [c.model_dump(mode="json") for c in conditions]
        missing = _missing(conditions)
        if missing:
            raise RepairConditionsNotMetError(f"not met: {', '.join(missing)}", missing=missing)
    on_time = case.decide_by is None or today <= case.decide_by
    case.status = body.decision
    case.decision = body.decision
    case.decision_reason = body.reason
    case.decided_on = today
    details: dict[str, Any] = {"decision": body.decision, "on_time": on_time}
    if body.decision == "approved":
        case.repaired_at = now
        if case.list_entry_id is not None:
            lists_service.end_entry(
                session, principal, case.list_entry_id, "repaired", body.reason, on=today
            )
        details["rescored"] = _rescore(session, keys, profile, case.subject_id, today)
    _event(session, case, event, _actor(principal), reason=body.reason, details=details, when=now)
    return case


def _rescore(
    session: Session, keys: KeyRing, profile: JurisdictionProfile, subject_id: int, today: date
) -> bool:
    """Re-score the subject with its segment's champion, when there is one."""
    from xinyong.scoring.service import NoChampionError, compute_score

    subject = session.get(Subject, subject_id)
    assert subject is not None
    try:
        with session.begin_nested():
            compute_score(session, keys, profile, subject, today, trigger="rescore")
    except NoChampionError:
        return False
    except XinyongError:
        logger.exception("repair: re-scoring subject %s failed", subject_id)
        return False
    return True


def decide(
    session: Session,
    keys: KeyRing,
    principal: Principal,
    case_id: int,
    body: RepairDecision,
    *,
    now: datetime | None = None,
) -> RepairCase:
    """Approve or reject an acknowledged application, with a reason."""
    _require_operator(principal)
    case = get_case(session, case_id)
    if case.status != RepairStatus.ACKNOWLEDGED.value:
        raise RepairStateError(
            f"repair application {case.id} is {case.status}; acknowledge it first"
            if case.status == RepairStatus.SUBMITTED.value
            else f"repair application {case.id} is {case.status}"
        )
    _decide(session, keys, principal, case, body, "decided", now or utcnow())
    record_staff_action(
        session,
        principal,
        StaffAction.REPAIR_DECIDE,
        target_type="repair",
        target_id=case.id,
        reason=body.reason,
        details={"decision": body.decision},
    )
    return case


def appeal(
    session: Session,
    principal: Principal,
    case_id: int,
    body: RepairAppeal,
    *,
    now: datetime | None = None,
) -> RepairCase:
    """Appeal a rejection (as many times as the rules allow: once in cn)."""
    now = now or utcnow()
    case = case_for(session, principal, case_id)
    if principal.role not in (Role.SUBJECT, Role.OPERATOR):
        raise NotYourRepairError("only the subject or an operator may appeal")
    rules = _rules(case)
    if case.status != RepairStatus.REJECTED.value:
        raise AppealNotAllowedError(f"repair application {case.id} is {case.status}")
    if case.appeals_used >= rules.appeals:
        raise AppealNotAllowedError(
            f"a rejection may be appealed {rules.appeals} time(s); this one was already appealed"
        )
    today = get_profile(case.profile).today(now)
    case.appeals_used += 1
    case.status = RepairStatus.APPEALED.value
    case.decide_by = period_end(today, rules.decision, working_calendar(session, rules.calendar))
    case.decision_overdue_at = None
    _event(
        session,
        case,
        "appealed",
        _actor(principal),
        reason=body.reason,
        details={"decide_by": case.decide_by.isoformat()},
        when=now,
    )
    return case


def decide_appeal(
    session: Session,
    keys: KeyRing,
    principal: Principal,
    case_id: int,
    body: RepairDecision,
    *,
    now: datetime | None = None,
) -> RepairCase:
    """The second decision, on an appeal, with a reason."""
    _require_operator(principal)
    case = get_case(session, case_id)
    if case.status != RepairStatus.APPEALED.value:
        raise RepairStateError(f"repair application {case.id} is {case.status}, not appealed")
    _decide(session, keys, principal, case, body, "appeal_decided", now or utcnow())
    record_staff_action(
        session,
        principal,
        StaffAction.REPAIR_APPEAL_DECIDE,
        target_type="repair",
        target_id=case.id,
        reason=body.reason,
        details={"decision": body.decision},
    )
    return case


# --- deadlines --------------------------------------------------------------------------------


@dataclass
class RepairDeadlineRun:
    acknowledgement_overdue: int = 0
    decision_overdue: int = 0


def run_repair_deadlines(
    session: Session, today: date, *, now: datetime | None = None
) -> RepairDeadlineRun:
    """Flag, once each, applications not acknowledged or decided in time (idempotent)."""
    now = now or utcnow()
    run = RepairDeadlineRun()
    for case in session.scalars(
        select(RepairCase)
        .where(
            RepairCase.status == RepairStatus.SUBMITTED.value,
            RepairCase.acknowledge_by < today,
            RepairCase.acknowledgement_overdue_at.is_(None),
        )
        .order_by(RepairCase.id)
    ):
        case.acknowledgement_overdue_at = now
        _event(
            session,
            case,
            "acknowledgement_overdue",
            SCHEDULER,
            details={"acknowledge_by": case.acknowledge_by.isoformat()},
            when=now,
        )
        run.acknowledgement_overdue += 1
    for case in session.scalars(
        select(RepairCase)
        .where(
            RepairCase.status.in_((RepairStatus.ACKNOWLEDGED.value, RepairStatus.APPEALED.value)),
            RepairCase.decide_by < today,
            RepairCase.decision_overdue_at.is_(None),
        )
        .order_by(RepairCase.id)
    ):
        assert case.decide_by is not None
        case.decision_overdue_at = now
        _event(
            session,
            case,
            "decision_overdue",
            SCHEDULER,
            details={"decide_by": case.decide_by.isoformat()},
            when=now,
        )
        run.decision_overdue += 1
    session.flush()
    return run


# --- views ------------------------------------------------------------------------------------


def view_case(
    session: Session,
    keys: KeyRing,
    principal: Principal,
    case: RepairCase,
    *,
    files: list[EvidenceView] | None = None,
) -> RepairView:
    """The case for ``principal`` (auditors: without the personal texts and file names)."""
    rules = _rules(case)
    if files is None:
        files = _file_views(session, keys, principal, [case.id]).get(case.id, [])
    conditions = [Condition.model_validate(c) for c in case.conditions]
    events = session.scalars(
        select(RepairEvent).where(RepairEvent.case_id == case.id).order_by(RepairEvent.id)
    )
    personal = principal.role in (Role.SUBJECT, Role.OPERATOR)
    return RepairView(
        id=case.id,
        subject_id=case.subject_id,
        target_kind=case.target_kind,
        record_id=case.record_id,
        list_entry_id=case.list_entry_id,
        status=case.status,
        version=case.version,
        filed_by=case.filed_by,
        filed_on=case.filed_on,
        acknowledge_by=case.acknowledge_by,
        acknowledged_on=case.acknowledged_on,
        decide_by=case.decide_by,
        decided_on=case.decided_on,
        decision=case.decision,
        decision_reason=case.decision_reason,
        appeals_used=case.appeals_used,
        appeals_left=max(rules.appeals - case.appeals_used, 0),
        conditions=conditions,
        missing=_missing(conditions),
        repaired_at=case.repaired_at,
        commitment=keys.decrypt_text(case.commitment_ct, COMMITMENT_CONTEXT) if personal else None,
        evidence=json.loads(keys.decrypt_text(case.evidence_ct, EVIDENCE_CONTEXT))
        if personal
        else None,
        evidence_files=files,
        timeline=[
            RepairTimelineEntry(
                version=event.case_version,
                event=event.event,
                status=event.status,
                occurred_at=event.occurred_at,
                role=event.role,
                actor=event.actor,
                reason=event.reason,
                details=event.details,
            )
            for event in events
        ],
    )


def list_cases(
    session: Session,
    keys: KeyRing,
    principal: Principal,
    *,
    subject_id: int | None = None,
    status: RepairStatus | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[RepairView]:
    query = select(RepairCase).order_by(RepairCase.id.desc()).offset(offset).limit(limit)
    if subject_id is not None:
        query = query.where(RepairCase.subject_id == subject_id)
    if status is not None:
        query = query.where(RepairCase.status == status.value)
    cases = list(session.scalars(query))
    files = _file_views(session, keys, principal, [case.id for case in cases])
    return [
        view_case(session, keys, principal, case, files=files.get(case.id, [])) for case in cases
    ]


def repair_kpis(session: Session, today: date) -> RepairKpis:
    counts = dict(
        session.execute(select(RepairCase.status, func.count()).group_by(RepairCase.status)).all()
    )

    def count(*conditions: Any) -> int:
        return int(
            session.scalar(select(func.count()).select_from(RepairCase).where(*conditions)) or 0
        )

    return RepairKpis(
        as_of=today,
        open=sum(int(counts.get(status, 0)) for status in OPEN),
        awaiting_acknowledgement=int(counts.get(RepairStatus.SUBMITTED.value, 0)),
        awaiting_decision=int(counts.get(RepairStatus.ACKNOWLEDGED.value, 0))
        + int(counts.get(RepairStatus.APPEALED.value, 0)),
        acknowledgement_overdue=count(
            RepairCase.status == RepairStatus.SUBMITTED.value, RepairCase.acknowledge_by < today
        ),
        decision_overdue=count(
            RepairCase.status.in_((RepairStatus.ACKNOWLEDGED.value, RepairStatus.APPEALED.value)),
            RepairCase.decide_by < today,
        ),
        approved=int(counts.get(RepairStatus.APPROVED.value, 0)),
        rejected=int(counts.get(RepairStatus.REJECTED.value, 0)),
        appealed=count(RepairCase.appeals_used > 0),
    )
