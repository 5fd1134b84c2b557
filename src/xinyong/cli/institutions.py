"""`xinyong institutions`: register institutions and manage API keys."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from xinyong.cli.context import platform
from xinyong.db import transaction
from xinyong.institutions import service
from xinyong.institutions.schemas import LOCAL_OPERATOR, InstitutionCreate, InstitutionKind, Role

app = typer.Typer(help="Register institutions and manage their API keys.", no_args_is_help=True)


@app.command("list")
def list_institutions() -> None:
    """List registered institutions."""
    from xinyong.cli.main import console

    p = platform()
    table = Table("id", "code", "name", "kind", "USCC", "furnishes", "queries")
    with transaction(p.factory) as session:
        for institution in service.list_institutions(session):
            view = service.view_institution(p.keys, institution)
            table.add_row(
                str(view.id),
                view.code,
                escape(view.name),  # a registered name may hold `[…]`, which is not markup
                view.kind.value,
                view.uscc,
                ", ".join(view.permitted_record_types) or "-",
                ", ".join(view.permitted_purposes) or "-",
            )
    console.print(table)


_OPTION_NAMES = {"permitted_record_types": "--record-type", "permitted_purposes": "--purpose"}


def _option_name(location: tuple[int | str, ...]) -> str:
    field = str(location[0]) if location else ""
    return _OPTION_NAMES.get(field, "--" + field.replace("_", "-"))


@app.command("create")
def create(
    code: Annotated[str, typer.Option(help="Short slug, e.g. bank-abc.")],
    name: Annotated[str, typer.Option(help="Registered name.")],
    kind: Annotated[InstitutionKind, typer.Option(help="Kind of institution.")],
    uscc: Annotated[str, typer.Option(help="Unified Social Credit Code.")],
    name_en: Annotated[str | None, typer.Option(help="English name.")] = None,
    record_type: Annotated[
        list[str] | None,
        typer.Option(
            "--record-type", help="Permitted record type (repeatable); makes it a furnisher."
        ),
    ] = None,
    purpose: Annotated[
        list[str] | None,
        typer.Option("--purpose", help="Permitted query purpose (repeatable); makes it a querier."),
    ] = None,
) -> None:
    """Register an institution."""
    from xinyong.cli.main import console, fail

    try:
        data = InstitutionCreate(
            code=code,
            name=name,
            name_en=name_en,
            kind=kind,
            uscc=uscc,
            is_furnisher=bool(record_type),
            is_querier=bool(purpose),
            permitted_record_types=record_type or [],
            permitted_purposes=purpose or [],
        )
    except ValidationError as exc:
        # A usage error like any other bad option: one line naming the option, no traceback.
        problems = "; ".join(
            f"{_option_name(error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise fail(f"invalid institution: {problems}", 2) from None
    p = platform()
    with transaction(p.factory) as session:
        institution = service.create_institution(session, p.keys, data, actor=LOCAL_OPERATOR)
    console.print(f"registered institution {institution.id} ({institution.code})")


@app.command("key")
def issue_key(
    role: Annotated[Role, typer.Option(help="operator, auditor (staff) or furnisher, querier.")],
    institution: Annotated[
        str | None, typer.Option(help="Institution code (furnisher and querier keys).")
    ] = None,
    label: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Issue an API key; it is printed once and only its hash is stored."""
    from xinyong.cli.main import console

    p = platform()
    with transaction(p.factory) as session:
        owner = service.get_institution_by_code(session, institution) if institution else None
        issued = service.issue_api_key(session, role, owner, label, actor=LOCAL_OPERATOR)
    console.print(f"{issued.role.value} key {issued.key_id} (shown once):")
    console.print(issued.api_key, highlight=False)


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (the part after xy_).")]) -> None:
    """Revoke an API key."""
    from xinyong.cli.main import console

    p = platform()
    with transaction(p.factory) as session:
        record = service.revoke_api_key(session, key_id, actor=LOCAL_OPERATOR)
    console.print(f"revoked key {record.key_id}")
