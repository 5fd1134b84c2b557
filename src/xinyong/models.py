"""Every table of the platform, imported so that ``Base.metadata`` is complete."""

from xinyong.audit.models import AccessEvent
from xinyong.db import Base
from xinyong.identity.models import Subject
from xinyong.ingestion.models import BatchRejection, BatchUnchangedRow, IngestionBatch
from xinyong.institutions.models import ApiKey, Institution
from xinyong.records.models import CreditRecord, RecordVersion

__all__ = [
    "AccessEvent",
    "ApiKey",
    "Base",
    "BatchRejection",
    "BatchUnchangedRow",
    "CreditRecord",
    "IngestionBatch",
    "Institution",
    "RecordVersion",
    "Subject",
]
