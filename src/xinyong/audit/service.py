"""Recording and reading the access log and the audit trail.

Every read of credit data — a subject, its records, a record's history — writes an event in
the same transaction as the read's response, so a read that is served is a read that is
recorded. Every staff action writes an audit entry (who, what, when, why) the same way.
Neither can be changed or deleted through the application (:class:`~xinyong.db.AppendOnly`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.audit.models import AccessEvent, AuditEntry
from xinyong.audit.schemas import AccessAction, AccessEventView, AuditEntryView, StaffAction
from xinyong.institutions.schemas import Principal


def record_access(
    session: Session,
    principal: Principal,
    action: AccessAction,
    *,
    subject_id: int | None = None,
    record_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AccessEvent:
    event = AccessEvent(
        action=action.value,
        api_key_id=principal.api_key_id,
        role=principal.role.value,
        institution_id=principal.institution_id,
        subject_id=subject_id,
        record_id=record_id,
        details=details or {},
    )
    session.add(event)
    session.flush()
    return event


def record_subject_read(
    session: Session,
    principal: Principal,
    action: AccessAction,
    subject_id: int,
    *,
    revealed: bool = False,
    details: dict[str, Any] | None = None,
) -> None:
    """Record a read of a subject; an unmasked identifier is an event of its own."""
    record_access(session, principal, action, subject_id=subject_id, details=details)
    if revealed:
        record_access(session, principal, AccessAction.IDENTIFIER_REVEALED, subject_id=subject_id)


def list_access_events(
    session: Session,
    *,
    subject_id: int | None = None,
    record_id: int | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[AccessEventView]:
    """Access events, newest first, optionally about one subject or record."""
    query = select(AccessEvent).order_by(AccessEvent.id.desc()).offset(offset).limit(limit)
    if subject_id is not None:
        query = query.where(AccessEvent.subject_id == subject_id)
    if record_id is not None:
        query = query.where(AccessEvent.record_id == record_id)
    return [
        AccessEventView.model_validate(event, from_attributes=True)
        for event in session.scalars(query)
    ]


def record_staff_action(
    session: Session,
    principal: Principal,
    action: StaffAction,
    *,
    target_type: str,
    target_id: str | int,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Write the audit entry of one staff action, in the caller's transaction."""
    entry = AuditEntry(
        action=action.value,
        role=principal.role.value,
        api_key_id=principal.api_key_id,
        actor=principal.label,
        target_type=target_type,
        target_id=str(target_id),
        reason=reason,
        details=details or {},
    )
    session.add(entry)
    session.flush()
    return entry


def list_audit_entries(
    session: Session,
    *,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[AuditEntryView]:
    """Audit entries, newest first, optionally filtered."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).offset(offset).limit(limit)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if target_type is not None:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    return [
        AuditEntryView.model_validate(entry, from_attributes=True)
        for entry in session.scalars(query)
    ]
