"""Subjects of credit information: persons, enterprises and other organisations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import Base, utcnow


class Subject(Base):
    """A data subject. The identifier and names are stored only encrypted.

    ``identifier_index`` is the keyed blind index of (id_type, normalized identifier): the
    one way to find a subject by identifier.
    """

    __tablename__ = "subjects"
    __table_args__ = (UniqueConstraint("identifier_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    id_type: Mapped[str] = mapped_column(String(24))
    identifier_index: Mapped[bytes] = mapped_column(LargeBinary(32))
    identifier_ct: Mapped[bytes] = mapped_column(LargeBinary)
    name_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    name_en_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrganisationName(Base):
    """An organisation's registered name in clear, for the public search by name.

    Organisation names are public by law (business registration publicity), so this copy
    of the encrypted names is kept for organisations only, never for persons or individual
    businesses (whose names are personal data): see docs/lists.md, "Public disclosure".
    ``name_key`` and ``name_en_key`` are the names NFKC-normalized and case-folded, matched
    by substring.
    """

    __tablename__ = "organisation_names"

    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subjects.id"), primary_key=True, autoincrement=False
    )
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    name_en: Mapped[str | None] = mapped_column(String(200), default=None)
    name_key: Mapped[str | None] = mapped_column(Text, default=None)
    name_en_key: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
