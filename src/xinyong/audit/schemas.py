"""Pydantic I/O models of the audit domain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel


class AccessAction(StrEnum):
    SUBJECT_LOOKUP = "subject.lookup"
    SUBJECT_READ = "subject.read"
    SUBJECT_RECORDS_READ = "subject.records.read"
    RECORD_HISTORY_READ = "record.history.read"
    IDENTIFIER_REVEALED = "subject.identifier.revealed"
    REPORT_READ = "report.read"
    SCORE_HISTORY_READ = "subject.scores.read"
    DISPUTE_READ = "dispute.read"
    DISPUTE_EVIDENCE_READ = "dispute.evidence.read"
    REPAIR_EVIDENCE_READ = "repair.evidence.read"


class StaffAction(StrEnum):
    """What platform staff (operators, the local CLI operator) did: the audit trail."""

    INSTITUTION_CREATE = "institution.create"
    API_KEY_ISSUE = "api_key.issue"
    API_KEY_REVOKE = "api_key.revoke"
    SUBJECT_ACCOUNT_ENROL = "subject_account.enrol"
    SUBJECT_ACCOUNT_DISABLE = "subject_account.disable"
    CONSENT_REVOKE = "consent.revoke"
    REPORT_ISSUE = "report.issue"
    IDENTIFIER_REVEAL = "subject.identifier.reveal"
    MODEL_REGISTER = "model.register"
    MODEL_VALIDATE = "model.validate"
    MODEL_APPROVE = "model.approve"
    MODEL_PROMOTE = "model.promote"
    MODEL_RETIRE = "model.retire"
    WEBHOOK_CREATE = "webhook.create"
    WEBHOOK_DISABLE = "webhook.disable"
    WEBHOOK_ROTATE = "webhook.secret.rotate"
    WEBHOOK_SUBJECT_ADD = "webhook.subject.add"
    WEBHOOK_SUBJECT_REMOVE = "webhook.subject.remove"
    LIST_ENTRY_CREATE = "list_entry.create"
    LIST_ENTRY_EXTEND = "list_entry.extend"
    LIST_ENTRY_END = "list_entry.end"
    LIST_ENTRY_BIND = "list_entry.bind"
    CALENDAR_LOAD = "holiday_calendar.load"
    DISPUTE_FILE = "dispute.file"
    DISPUTE_EVIDENCE_ADD = "dispute.evidence.add"
    DISPUTE_INFORMATION_ADD = "dispute.information.add"
    DISPUTE_WITHDRAW = "dispute.withdraw"
    REPAIR_FILE = "repair.file"
    REPAIR_EVIDENCE_ADD = "repair.evidence.add"
    REPAIR_ACKNOWLEDGE = "repair.acknowledge"
    REPAIR_DECIDE = "repair.decide"
    REPAIR_APPEAL_DECIDE = "repair.appeal_decide"
    LEDGER_CHECKPOINT = "ledger.checkpoint"
    LEDGER_WITNESS_ADD = "ledger.witness.add"


class AccessEventView(BaseModel):
    id: int
    occurred_at: datetime
    action: str
    api_key_id: int | None
    role: str
    institution_id: int | None
    subject_id: int | None
    record_id: int | None
    details: dict[str, Any]


class AuditEntryView(BaseModel):
    id: int
    occurred_at: datetime
    action: str
    role: str
    api_key_id: int | None
    actor: str
    target_type: str
    target_id: str
    reason: str | None
    details: dict[str, Any]
