"""Evidence files of disputes and credit repair: checked, hashed, encrypted in the database.

One place for what both kinds of case do with an uploaded file (docs/disputes.md,
"Evidence and information" and "Credit repair"):

- :func:`check_file` — at most :data:`MAX_EVIDENCE_BYTES`; the declared type must be PDF,
  PNG or JPEG *and* the content must start with that type's signature, so a renamed file is
  refused; the file name is reduced to its last part;
- :func:`check_room` — at most :data:`MAX_EVIDENCE_FILES` per case;
- :func:`seal` — the SHA-256 of the file as uploaded (kept in clear), the content and the
  name encrypted under the platform key with the case kind's contexts;
- :func:`unseal`, :func:`views_by_case` — read a file back, list a case's files.

The tables share their columns through :class:`xinyong.rights.models.EvidenceFile`; each
case kind has its own table, contexts, access rules and timeline event.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, defer

from xinyong.audit.schemas import AccessAction
from xinyong.audit.service import record_access
from xinyong.errors import ConflictError, NotFoundError, XinyongError
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.schemas import Principal, Role
from xinyong.rights.models import EvidenceFile
from xinyong.rights.schemas import EvidenceView

# PDF, PNG or JPEG, at most 5 MiB each and 10 per case.
MAX_EVIDENCE_BYTES = 5 * 1024 * 1024
MAX_EVIDENCE_FILES = 10
EVIDENCE_TYPES: dict[str, bytes] = {
    "application/pdf": b"%PDF-",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
}
MAX_FILENAME = 200

Row = TypeVar("Row", bound=EvidenceFile)


# --- errors -----------------------------------------------------------------------------------


class EvidenceTooLargeError(XinyongError):
    status = 413
    code = "evidence_too_large"
    title = "The evidence file is too large"


class EvidenceTypeError(XinyongError):
    status = 415
    code = "evidence_type_not_allowed"
    title = "Evidence must be a PDF, PNG or JPEG file"


class EvidenceLimitError(ConflictError):
    code = "evidence_limit_reached"
    title = "The case has as many evidence files as it may"


class EvidenceNotFoundError(NotFoundError):
    code = "evidence_not_found"
    title = "Evidence not found"


class InvalidEvidenceError(XinyongError):
    status = 422
    code = "invalid_evidence"
    title = "The evidence file cannot be accepted"


# --- checking and sealing -----------------------------------------------------------------------


@dataclass(frozen=True)
class Contexts:
    """The encryption contexts of one kind of case's files (content, file name)."""

    content: bytes
    filename: bytes


@dataclass(frozen=True)
class CheckedFile:
    content: bytes
    content_type: str
    filename: str | None
    sha256: str

    @property
    def size(self) -> int:
        return len(self.content)


def sniff_content_type(data: bytes) -> str | None:
    """The allowed type whose signature the content starts with, if any."""
    for content_type, magic in EVIDENCE_TYPES.items():
        if data.startswith(magic):
            return content_type
    return None


def too_large() -> EvidenceTooLargeError:
    return EvidenceTooLargeError(
        f"an evidence file has at most {MAX_EVIDENCE_BYTES} bytes", limit=MAX_EVIDENCE_BYTES
    )


def check_file(
    content: bytes | None,
    content_type: str | None,
    filename: str | None = None,
    *,
    invalid: type[XinyongError] = InvalidEvidenceError,
) -> CheckedFile:
    """The upload if it may be kept: size, declared type and content signature checked.

    ``content`` is ``None`` when a multipart form had no ``file`` part. ``invalid`` is the
    error for an upload with no file in it (disputes keep their ``invalid_dispute``).
    """
    if content is None:
        raise invalid("the multipart form needs a `file` part")
    if len(content) > MAX_EVIDENCE_BYTES:
        raise too_large()
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared == "image/jpg":
        declared = "image/jpeg"
    if declared not in EVIDENCE_TYPES:
        raise EvidenceTypeError(
            f"evidence must be one of {', '.join(EVIDENCE_TYPES)}, not {declared or 'untyped'}",
            allowed=list(EVIDENCE_TYPES),
        )
    if not content:
        raise invalid("the evidence file is empty")
    if sniff_content_type(content) != declared:
        raise EvidenceTypeError(
            f"the file's content is not {declared}", allowed=list(EVIDENCE_TYPES)
        )
    name = (filename or "").strip().replace("\\", "/").rsplit("/", 1)[-1][:MAX_FILENAME]
    return CheckedFile(content, declared, name or None, hashlib.sha256(content).hexdigest())


def check_room(session: Session, case_column: InstrumentedAttribute[int], case_id: int) -> None:
    """Refuse an upload to a case that holds as many files as it may."""
    count = session.scalar(select(func.count()).where(case_column == case_id))
    if (count or 0) >= MAX_EVIDENCE_FILES:
        raise EvidenceLimitError(
            f"a case has at most {MAX_EVIDENCE_FILES} evidence files", limit=MAX_EVIDENCE_FILES
        )


def seal(
    keys: KeyRing, row: Row, checked: CheckedFile, contexts: Contexts, *, uploaded_by: str
) -> Row:
    """Fill ``row``'s file columns: the hash in clear, the content and name encrypted."""
    row.filename_ct = (
        keys.encrypt_text(checked.filename, contexts.filename) if checked.filename else None
    )
    row.content_type = checked.content_type
    row.size = checked.size
    row.sha256 = checked.sha256
    row.content_ct = keys.encrypt(checked.content, contexts.content)
    row.uploaded_by = uploaded_by
    return row


def filename_of(keys: KeyRing, row: EvidenceFile, contexts: Contexts) -> str | None:
    return keys.decrypt_text(row.filename_ct, contexts.filename) if row.filename_ct else None


def unseal(keys: KeyRing, row: EvidenceFile, contexts: Contexts) -> tuple[bytes, str | None]:
    """The file as uploaded and its name."""
    return keys.decrypt(row.content_ct, contexts.content), filename_of(keys, row, contexts)


def read_file(
    session: Session,
    keys: KeyRing,
    principal: Principal,
    model: type[Row],
    case_column: InstrumentedAttribute[int],
    case: CaseRef,
    evidence_id: int,
    contexts: Contexts,
) -> tuple[Row, bytes, str | None]:
    """A case's evidence file (row, content, name); a read by anyone but the subject goes to
    the access log."""
    evidence = session.scalars(
        select(model).where(model.id == evidence_id, case_column == case.case_id)
    ).first()
    if evidence is None:
        raise EvidenceNotFoundError(f"{case.label} {case.case_id} has no evidence {evidence_id}")
    if principal.role is not Role.SUBJECT:
        record_access(
            session,
            principal,
            case.read_action,
            subject_id=case.subject_id,
            details={"case_id": case.case_id, "evidence_id": evidence.id},
        )
    content, name = unseal(keys, evidence, contexts)
    return evidence, content, name


@dataclass(frozen=True)
class CaseRef:
    """Whose evidence: the case, its subject, how it is named and how a read is logged."""

    label: str
    case_id: int
    subject_id: int
    read_action: AccessAction


def added_details(row: EvidenceFile) -> dict[str, Any]:
    """What a timeline event records of an added file: ids and the hash, no name."""
    return {
        "evidence_id": row.id,
        "sha256": row.sha256,
        "size": row.size,
        "content_type": row.content_type,
    }


def views_by_case(
    session: Session,
    keys: KeyRing,
    model: type[Row],
    case_column: InstrumentedAttribute[int],
    case_ids: Sequence[int],
    contexts: Contexts,
    *,
    names: bool = True,
) -> dict[int, list[EvidenceView]]:
    """The files of each case (without their content), oldest first.

    ``names``: decrypt the file names (``False``: readers who see no personal data).
    """
    found: dict[int, list[EvidenceView]] = defaultdict(list)
    if not case_ids:
        return found
    rows = session.execute(
        select(case_column, model)
        .options(defer(model.content_ct))
        .where(case_column.in_(list(case_ids)))
        .order_by(model.id)
    )
    for case_id, row in rows:
        found[case_id].append(
            EvidenceView(
                id=row.id,
                filename=filename_of(keys, row, contexts) if names else None,
                content_type=row.content_type,
                size=row.size,
                sha256=row.sha256,
                uploaded_by=row.uploaded_by,
                uploaded_at=row.uploaded_at,
            )
        )
    return found
