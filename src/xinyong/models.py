"""Every table of the platform, imported so that ``Base.metadata`` is complete."""

from xinyong.accounts.models import SubjectAccount, SubjectSession
from xinyong.audit.models import AccessEvent, AuditEntry
from xinyong.db import Base
from xinyong.events.models import (
    MonitoredSubject,
    OutboxCursor,
    OutboxEvent,
    OutboxFanout,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from xinyong.identity.models import Subject
from xinyong.ingestion.models import BatchRejection, BatchUnchangedRow, IngestionBatch
from xinyong.institutions.models import ApiKey, Institution
from xinyong.ledger.models import (
    LedgerCheckpoint,
    LedgerCosignature,
    LedgerHead,
    LedgerLeaf,
    LedgerNode,
    LedgerWitness,
)
from xinyong.lists.models import EntryBinding, ListEntry, ListEntryEvent
from xinyong.records.models import CreditRecord, RecordVersion
from xinyong.reports.models import Consent, IssuedReport, QueryRecord
from xinyong.rights.models import (
    DisputeCase,
    DisputeEvent,
    DisputeEvidence,
    DisputeItem,
    HolidayCalendar,
    HolidayCalendarDay,
    RepairCase,
    RepairEvent,
    SubjectStatement,
)
from xinyong.scoring.models import ModelEvent, ScoringModel, SubjectScore

__all__ = [
    "AccessEvent",
    "ApiKey",
    "AuditEntry",
    "Base",
    "BatchRejection",
    "BatchUnchangedRow",
    "Consent",
    "CreditRecord",
    "DisputeCase",
    "DisputeEvent",
    "DisputeEvidence",
    "DisputeItem",
    "EntryBinding",
    "HolidayCalendar",
    "HolidayCalendarDay",
    "IngestionBatch",
    "Institution",
    "IssuedReport",
    "LedgerCheckpoint",
    "LedgerCosignature",
    "LedgerHead",
    "LedgerLeaf",
    "LedgerNode",
    "LedgerWitness",
    "ListEntry",
    "ListEntryEvent",
    "ModelEvent",
    "MonitoredSubject",
    "OutboxCursor",
    "OutboxEvent",
    "OutboxFanout",
    "QueryRecord",
    "RecordVersion",
    "RepairCase",
    "RepairEvent",
    "ScoringModel",
    "Subject",
    "SubjectAccount",
    "SubjectScore",
    "SubjectSession",
    "SubjectStatement",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
]
