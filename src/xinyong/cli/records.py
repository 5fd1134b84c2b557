"""`xinyong records`: the versioned history of a record."""

from __future__ import annotations

from typing import Annotated

import typer

from xinyong.audit.schemas import AccessAction
from xinyong.audit.service import record_access
from xinyong.cli.context import platform
from xinyong.db import transaction
from xinyong.institutions.schemas import LOCAL_OPERATOR
from xinyong.records import service

app = typer.Typer(help="Read credit records and their full history.", no_args_is_help=True)


@app.command("history")
def history(record_id: Annotated[int, typer.Argument(help="Record id.")]) -> None:
    """Every version of a record, oldest first."""
    from xinyong.cli.main import console

    p = platform()
    with transaction(p.factory) as session:
        record = service.get_record(session, record_id)
        view = service.record_history(session, p.keys, record)
        record_access(
            session,
            LOCAL_OPERATOR,
            AccessAction.RECORD_HISTORY_READ,
            subject_id=record.subject_id,
            record_id=record.id,
        )
    console.print_json(view.model_dump_json())
