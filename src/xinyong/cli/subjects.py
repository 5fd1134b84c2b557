"""`xinyong subjects`: find subjects and list their records."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from xinyong.audit.schemas import AccessAction
from xinyong.audit.service import record_subject_read
from xinyong.cli.context import platform
from xinyong.db import transaction
from xinyong.identity import service
from xinyong.identity.identifiers import IdentifierType
from xinyong.institutions.schemas import LOCAL_OPERATOR
from xinyong.records.service import subject_records

app = typer.Typer(
    help="Find subjects by identifier; identifiers are masked unless --reveal.",
    no_args_is_help=True,
)


@app.command("lookup")
def lookup(
    id_type: Annotated[IdentifierType, typer.Option(help="resident_id or uscc.")],
    identifier: Annotated[str, typer.Option(help="The identifier.", prompt=True, hide_input=True)],
    reveal: Annotated[bool, typer.Option(help="Show the identifier unmasked.")] = False,
) -> None:
    """Find a subject by identifier (prompted, so it stays out of shell history)."""
    from xinyong.cli.main import console

    p = platform()
    with transaction(p.factory) as session:
        subject = service.find_subject(session, service.subject_ref(p.keys, id_type, identifier))
        view = service.view_subject(p.keys, subject, reveal=reveal)
        record_subject_read(
            session, LOCAL_OPERATOR, AccessAction.SUBJECT_LOOKUP, subject.id, revealed=reveal
        )
    console.print_json(view.model_dump_json())


@app.command("show")
def show(
    subject_id: Annotated[int, typer.Argument(help="Subject id.")],
    reveal: Annotated[bool, typer.Option(help="Show the identifier unmasked.")] = False,
) -> None:
    """Show one subject."""
    from xinyong.cli.main import console

    p = platform()
    with transaction(p.factory) as session:
        view = service.view_subject(p.keys, service.get_subject(session, subject_id), reveal=reveal)
        record_subject_read(
            session, LOCAL_OPERATOR, AccessAction.SUBJECT_READ, subject_id, revealed=reveal
        )
    console.print_json(view.model_dump_json())


@app.command("records")
def records(
    subject_id: Annotated[int, typer.Argument(help="Subject id.")],
    include_deleted: Annotated[bool, typer.Option(help="Also list deleted records.")] = False,
) -> None:
    """List the current version of each record of a subject."""
    from xinyong.cli.main import console

    p = platform()
    with transaction(p.factory) as session:
        service.get_subject(session, subject_id)
        items = subject_records(session, p.keys, subject_id, include_deleted=include_deleted)
        record_subject_read(
            session,
            LOCAL_OPERATOR,
            AccessAction.SUBJECT_RECORDS_READ,
            subject_id,
            details={"records": len(items), "include_deleted": include_deleted},
        )
    console.print_json(
        json.dumps([item.model_dump(mode="json") for item in items], ensure_ascii=False)
    )
