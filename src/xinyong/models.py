"""Every table of the platform, imported so that ``Base.metadata`` is complete."""

from xinyong.accounts.models import SubjectAccount, SubjectSession
from xinyong.audit.models import AccessEvent, AuditEntry
from xinyong.db import Base
from xinyong.identity.models import Subject
from xinyong.ingestion.models import BatchRejection, BatchUnchangedRow, IngestionBatch
from xinyong.institutions.models import ApiKey, Institution
from xinyong.records.models import CreditRecord, RecordVersion
from xinyong.reports.models import Consent, IssuedReport, QueryRecord
from xinyong.rights.models import SubjectStatement
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
    "IngestionBatch",
    "Institution",
    "IssuedReport",
    "ModelEvent",
    "QueryRecord",
    "RecordVersion",
    "ScoringModel",
    "Subject",
    "SubjectAccount",
    "SubjectScore",
    "SubjectSession",
    "SubjectStatement",
]
