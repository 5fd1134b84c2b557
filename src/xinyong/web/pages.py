"""Rendering of the web pages: the Jinja2 environment, links, headers and the tables' views.

Templates only lay out; what a reader sees (words, dates, amounts, which columns) is decided
here from the public answers of :mod:`xinyong.lists.public`. Every response carries the
security headers of :data:`SECURITY_HEADERS`; templates are autoescaped, so names and
decision texts from furnishers are shown as text, never as markup.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Final
from urllib.parse import quote, urlencode

import jinja2
from fastapi.responses import HTMLResponse, Response

from xinyong.lists.public import (
    DishonestDebtorEntry,
    EnterpriseProfile,
    PublicEnterprise,
    PublicLicence,
    PublicListEntry,
    PublicPenalty,
)
from xinyong.reports.i18n import code_label, enum_label
from xinyong.reports.schemas import Lang
from xinyong.web.i18n import format_date, text

__all__ = [
    "CSS_PATH",
    "SECURITY_HEADERS",
    "Cell",
    "Table",
    "date_cell",
    "debtors_table",
    "enterprise_name",
    "entries_table",
    "licences_table",
    "link",
    "penalties_table",
    "render",
    "stylesheet",
]

CSS_PATH: Final = "/static/xinyong.css"

# On every page: only the site's own resources (the stylesheet), no inline script or style,
# no framing, forms post only here, and no address (with its search terms) sent elsewhere.
SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_LICENCE: Final = "administrative_licence"
_PENALTY: Final = "administrative_penalty"


# --- links -----------------------------------------------------------------------------------


def link(path: str, lang: Lang, **params: str | int | None) -> str:
    """``path`` with its query: ``params`` that are set, and ``lang=en`` for English.

    Chinese is the default, so its links carry no ``lang``.
    """
    query = [(name, str(value)) for name, value in params.items() if value not in (None, "")]
    if lang is Lang.EN:
        query.append(("lang", Lang.EN.value))
    return f"{path}?{urlencode(query)}" if query else path


def enterprise_link(uscc: str, lang: Lang) -> str:
    return link(f"/public/enterprises/{quote(uscc, safe='')}", lang)


# --- views of the public answers ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    # A date cell: the ISO date for <time datetime>.
    iso: str | None = None


@dataclass(frozen=True, slots=True)
class Table:
    id: str
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    empty: str


@dataclass(frozen=True, slots=True)
class Found:
    """One organisation in a list of search results."""

    name: str
    uscc: str
    kind: str
    href: str


def _none(lang: Lang) -> Cell:
    return Cell(text("value.none", lang))


def _text(value: str | None, lang: Lang) -> Cell:
    return Cell(value) if value else _none(lang)


def date_cell(day: date | None, lang: Lang, missing: str = "value.none") -> Cell:
    if day is None:
        return Cell(text(missing, lang))
    return Cell(format_date(day, lang), day.isoformat())


def _amount(value: str | None, lang: Lang) -> Cell:
    if not value:
        return _none(lang)
    try:
        amount = f"{Decimal(value):,.2f}"
    except InvalidOperation:
        amount = value
    return Cell(text("value.fine", lang, amount=amount))


def _enum(record_type: str, name: str, value: str | None, lang: Lang) -> Cell:
    return Cell(enum_label(record_type, name, value, lang)) if value else _none(lang)


def enterprise_name(enterprise: PublicEnterprise, lang: Lang) -> str:
    """The name a page shows: English when asked for and known; an individual business's never."""
    if enterprise.name is None:
        return text("search.individual_business", lang)
    if lang is Lang.EN and enterprise.name_en:
        return enterprise.name_en
    return enterprise.name


def found(items: Iterable[PublicEnterprise], lang: Lang) -> list[Found]:
    return [
        Found(
            name=enterprise_name(item, lang),
            uscc=item.uscc,
            kind=code_label("subject_kind", item.kind, lang),
            href=enterprise_link(item.uscc, lang),
        )
        for item in items
    ]


def licences_table(licences: Sequence[PublicLicence], lang: Lang) -> Table:
    return Table(
        id="licences",
        title=text("section.licences", lang),
        header=tuple(
            text(f"col.{name}", lang)
            for name in (
                "decision_number",
                "licence_name",
                "licence_category",
                "authority",
                "decision_date",
                "valid_until",
            )
        ),
        rows=tuple(
            (
                _text(item.decision_number, lang),
                _text(item.licence_name, lang),
                _enum(_LICENCE, "licence_category", item.licence_category, lang),
                _text(item.authority, lang),
                date_cell(item.decision_date, lang),
                date_cell(item.valid_until, lang, missing="value.no_end"),
            )
            for item in licences
        ),
        empty=text("empty.licences", lang),
    )


def penalties_table(penalties: Sequence[PublicPenalty], lang: Lang) -> Table:
    return Table(
        id="penalties",
        title=text("section.penalties", lang),
        header=tuple(
            text(f"col.{name}", lang)
            for name in (
                "decision_number",
                "violation_type",
                "penalty_type",
                "fine_amount",
                "severity",
                "authority",
                "decision_date",
                "publicity_ends",
            )
        ),
        rows=tuple(
            (
                _text(item.decision_number, lang),
                _text(item.violation_type, lang),
                _enum(_PENALTY, "penalty_type", item.penalty_type, lang),
                _amount(item.fine_amount, lang),
                _enum(_PENALTY, "severity", item.severity, lang),
                _text(item.authority, lang),
                date_cell(item.decision_date, lang),
                date_cell(item.publicity_ends_on, lang),
            )
            for item in penalties
        ),
        empty=text("empty.penalties", lang),
    )


def _entry_cells(entry: PublicListEntry, lang: Lang) -> tuple[Cell, ...]:
    zh = lang is Lang.ZH_CN
    ground = (entry.ground_name_zh if zh else entry.ground_name_en) or entry.ground
    return (
        Cell(entry.list_name_zh if zh else entry.list_name_en),
        Cell(ground),
        Cell(entry.authority),
        _text(entry.case_number, lang),
        date_cell(entry.start_date, lang),
        date_cell(entry.planned_end_date, lang, missing="value.until_performed"),
    )


_ENTRY_COLUMNS: Final = (
    "list",
    "ground",
    "list_authority",
    "case_number",
    "start_date",
    "planned_end",
)


def entries_table(entries: Sequence[PublicListEntry], lang: Lang) -> Table:
    return Table(
        id="list-entries",
        title=text("section.lists", lang),
        header=tuple(text(f"col.{name}", lang) for name in _ENTRY_COLUMNS),
        rows=tuple(_entry_cells(entry, lang) for entry in entries),
        empty=text("empty.lists", lang),
    )


def debtors_table(entries: Sequence[DishonestDebtorEntry], lang: Lang) -> Table:
    """The court-list answer: names and persons' identifiers come masked from the service."""
    return Table(
        id="debtors",
        title=text("debtors.results", lang),
        header=tuple(
            text(f"col.{name}", lang) for name in ("name", "identifier", "kind", *_ENTRY_COLUMNS)
        ),
        rows=tuple(
            (
                _text(entry.name, lang),
                Cell(entry.identifier),
                Cell(code_label("subject_kind", entry.kind.value, lang)),
                *_entry_cells(entry, lang),
            )
            for entry in entries
        ),
        empty=text("debtors.none", lang),
    )


def profile_facts(profile: EnterpriseProfile, lang: Lang) -> list[tuple[str, Cell]]:
    """The organisation's facts above its sections."""
    facts = [
        (text("field.uscc", lang), Cell(profile.uscc)),
        (text("field.kind", lang), Cell(code_label("subject_kind", profile.kind, lang))),
    ]
    if lang is Lang.ZH_CN and profile.name_en:
        facts.append((text("field.name_en", lang), Cell(profile.name_en)))
    facts.append((text("field.as_of", lang), date_cell(profile.as_of, lang)))
    return facts


# --- rendering ----------------------------------------------------------------------------------


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("xinyong.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(
    template: str,
    *,
    lang: Lang,
    title: str,
    path: str,
    params: Mapping[str, str | int | None] | None = None,
    status: int = 200,
    no_store: bool = False,
    **context: object,
) -> HTMLResponse:
    """A page in ``lang``, with the security headers.

    ``path`` and ``params`` are the page's own address, for the link to the other language.
    ``no_store`` keeps browsers and proxies from storing the page (lookups by identifier).
    """
    other = Lang.EN if lang is Lang.ZH_CN else Lang.ZH_CN
    body = (
        _environment()
        .get_template(template)
        .render(
            lang=lang.value,
            t=functools.partial(text, lang=lang),
            title=title,
            css=CSS_PATH,
            home=link("/public", lang),
            debtors_href=link("/public/dishonest-debtors", lang),
            switch_href=link(path, other, **(params or {})),
            switch_lang=other.value,
            switch_label="English" if other is Lang.EN else "中文",
            status=status,
            **context,
        )
    )
    headers = dict(SECURITY_HEADERS)
    if no_store:
        headers["Cache-Control"] = "no-store"
    return HTMLResponse(body, status_code=status, headers=headers)


@functools.cache
def _stylesheet() -> bytes:
    return resources.files("xinyong.web").joinpath("static", "xinyong.css").read_bytes()


def stylesheet() -> Response:
    """The pages' one stylesheet."""
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"}
    return Response(_stylesheet(), media_type="text/css; charset=utf-8", headers=headers)
