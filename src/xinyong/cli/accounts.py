"""`xinyong subjects enrol`: give a data subject a portal account after an identity check."""

from __future__ import annotations

from typing import Annotated

import typer

from xinyong.accounts import service
from xinyong.cli.context import platform
from xinyong.db import transaction
from xinyong.identity.identifiers import IdentifierType, InvalidIdentifierError, validate_identifier
from xinyong.identity.service import find_subject, subject_ref
from xinyong.institutions.schemas import LOCAL_OPERATOR


def _identifier_type(identifier: str) -> IdentifierType:
    """The one identifier type ``identifier`` is valid as (resident ID or USCC)."""
    valid: list[IdentifierType] = []
    first_error: InvalidIdentifierError | None = None
    for candidate in IdentifierType:
        try:
            validate_identifier(candidate, identifier)
        except InvalidIdentifierError as exc:
            first_error = first_error or exc
        else:
            valid.append(candidate)
    if len(valid) == 1:
        return valid[0]
    if not valid:
        assert first_error is not None
        raise first_error
    from xinyong.cli.main import fail

    raise fail("the identifier is valid as more than one type: pass --id-type", 2)


def enrol(
    reason: Annotated[
        str,
        typer.Option(
            help="The identity check performed, e.g. 'ID card checked at counter, ticket 123'."
        ),
    ],
    identifier: Annotated[
        str | None,
        typer.Argument(
            help="The subject's identifier; omit it to be prompted (keeps it out of shell "
            "history), or use --subject-id.",
            show_default=False,
        ),
    ] = None,
    id_type: Annotated[
        IdentifierType | None,
        typer.Option(help="resident_id or uscc (default: the type the identifier is valid as)."),
    ] = None,
    subject_id: Annotated[
        int | None, typer.Option(help="The subject's id, instead of its identifier.")
    ] = None,
) -> None:
    """Enrol a subject for the portal; prints a one-time enrolment code to hand over.

    Enrolling a subject that has an account issues a new code and resets the password.
    """
    from xinyong.cli.main import console, fail

    if subject_id is not None and identifier is not None:
        raise fail("give an IDENTIFIER or --subject-id, not both", 2)
    if not reason.strip():
        raise fail("--reason must say which identity check was performed", 2)
    if subject_id is None and identifier is None:
        identifier = typer.prompt("Identifier", hide_input=True)
    p = platform()
    with transaction(p.factory) as session:
        if subject_id is None:
            assert identifier is not None
            kind = id_type or _identifier_type(identifier)
            subject_id = find_subject(session, subject_ref(p.keys, kind, identifier)).id
        issued = service.enrol_subject(session, LOCAL_OPERATOR, subject_id, reason=reason)
    console.print(
        f"subject {issued.subject_id}: account {issued.account_id} enrolled; "
        f"one-time enrolment code (shown once, valid until "
        f"{issued.expires_at.strftime('%Y-%m-%d %H:%M')} UTC):"
    )
    console.print(issued.enrolment_code, highlight=False)
