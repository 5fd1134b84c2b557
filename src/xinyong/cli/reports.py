"""`xinyong report`: a credit report from the command line, as the local operator."""

from __future__ import annotations

import sys
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from xinyong.cli.context import platform
from xinyong.db import transaction
from xinyong.errors import XinyongError
from xinyong.institutions.schemas import LOCAL_OPERATOR
from xinyong.reports import service
from xinyong.reports.profiles import get_profile
from xinyong.reports.schemas import Channel, Lang, ReportFormat, SubjectSelector


class BadArgumentError(XinyongError):
    code = "bad_argument"
    title = "Bad argument"


class LangOption(StrEnum):
    ZH_CN = "zh-CN"
    EN = "en"


def subject_selector(subject: str) -> SubjectSelector:
    text = subject.strip()
    # Identifiers are 18 characters; a shorter number is the platform's subject id.
    if text.isdigit() and len(text) < 18:
        return SubjectSelector(subject_id=int(text))
    return SubjectSelector(identifier=text)


def _parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise BadArgumentError(f"--as-of must be a date YYYY-MM-DD, not {value!r}") from None


def report(
    subject: Annotated[
        str,
        typer.Argument(
            help="Subject id, or its Resident ID / Unified Social Credit Code; "
            "'-' to be prompted (keeps the identifier out of shell history)."
        ),
    ],
    purpose: Annotated[
        str, typer.Option(help="Purpose of the query (subject_request, court_order …).")
    ],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Report as of this date (YYYY-MM-DD).")
    ] = None,
    report_format: Annotated[
        ReportFormat, typer.Option("--format", help="json, html or pdf.")
    ] = ReportFormat.JSON,
    lang: Annotated[LangOption, typer.Option(help="zh-CN or en.")] = LangOption.ZH_CN,
    reference: Annotated[
        str | None, typer.Option(help="Legal document behind the query (court order number …).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write to this file (default: stdout; PDF: <id>.pdf).")
    ] = None,
    reveal: Annotated[bool, typer.Option(help="Show the identifier unmasked.")] = False,
) -> None:
    """Issue a credit report as the local operator; the query is recorded like any other."""
    from xinyong.cli.main import err

    if subject == "-":
        subject = typer.prompt("identifier", hide_input=True)
    day = _parse_day(as_of)
    p = platform()
    profile = get_profile(p.settings.profile)
    with transaction(p.factory) as session:
        found = service.resolve_selector(session, p.keys, subject_selector(subject))
        result = service.request_report(
            session,
            p.factory,
            p.keys,
            LOCAL_OPERATOR,
            profile,
            found,
            service.QueryRequest(purpose=purpose, as_of=day, reference=reference),
            channel=Channel.CLI,
            lang=Lang(lang.value),
            reveal=reveal,
        )
    document = result.report
    if report_format is ReportFormat.PDF:
        # Rendering pulls in WeasyPrint: imported only when a report is printed.
        from xinyong.reports.render import render_pdf

        target = out or Path(f"{document.report_id}.pdf")
        target.write_bytes(render_pdf(document, font_file=p.settings.report_font_file))
    else:
        if report_format is ReportFormat.HTML:
            from xinyong.reports.render import render_html

            text = render_html(document)
        else:
            text = document.model_dump_json(indent=2) + "\n"
        if out is None:
            sys.stdout.write(text)
            target = None
        else:
            out.write_text(text, encoding="utf-8")
            target = out
    if target is not None:
        err.print(f"report {document.report_id} written to {target}", highlight=False)
    err.print(f"digest sha256:{document.digest.value}", highlight=False)
