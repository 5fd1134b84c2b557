"""The public pages (no login, no JavaScript): organisation search and profile, the court list.

Every answer comes from :mod:`xinyong.lists.public`, whose rules decide what is public; the
pages only lay it out in zh-CN (default) or English (``?lang=en``). Errors are pages too,
with the status the API would give: a malformed code ``400``, an unknown organisation
``404``. Parameters are read as plain text and judged by the service, so that no request
ends in the API's JSON validation error.

The court-list lookup is a form posted to the page: a Resident ID typed there never appears
in an address, a browser history or a ``Referer``, and the answer is not stored.
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyong.api.deps import DbSession, Keys
from xinyong.errors import XinyongError
from xinyong.identity.identifiers import InvalidIdentifierError
from xinyong.lists import public
from xinyong.reports.schemas import Lang
from xinyong.web import pages
from xinyong.web.i18n import TEXT, parse_lang, text

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
# The last page a search can show: the service pages up to its offset cap.
LAST_PAGE = public.MAX_OFFSET // PAGE_SIZE + 1
_SEARCH_TEMPLATE = "search.html.j2"
_DEBTORS_TEMPLATE = "debtors.html.j2"


def _message(exc: XinyongError, lang: Lang, *, identifier_key: str = "error.bad_uscc") -> str:
    """A domain error in the reader's words (the service's own detail is English)."""
    if isinstance(exc, InvalidIdentifierError):
        return text(identifier_key, lang)
    if isinstance(exc, public.InvalidPublicQueryError):
        return text("error.bad_query", lang, min=public.MIN_QUERY_CHARS, max=public.MAX_QUERY_CHARS)
    if isinstance(exc, public.EnterpriseNotFoundError):
        return text("error.enterprise_not_found", lang)
    return text("error.other", lang)


def _error_page(lang: Lang, path: str, status: int, message: str) -> HTMLResponse:
    title = f"error.title.{status}"
    return pages.render(
        "error.html.j2",
        lang=lang,
        title=text(title if title in TEXT else "error.title", lang),
        path=path,
        status=status,
        message=message,
    )


def _unexpected(session: Session, lang: Lang, path: str, exc: Exception) -> HTMLResponse:
    # Details stay in the server log, as for the API's internal_error.
    session.rollback()
    logger.error("public page %s failed", path, exc_info=exc)
    return _error_page(lang, path, 500, text("error.internal", lang))


def _page_number(value: str | None) -> int | None:
    """``?page=`` as 1 to :data:`LAST_PAGE`; None if it is anything else."""
    if value is None or value == "":
        return 1
    number = int(value) if value.isascii() and value.isdigit() else 0
    return number if 1 <= number <= LAST_PAGE else None


@router.get("/public", response_class=HTMLResponse)
def search_page(
    session: DbSession,
    keys: Keys,
    q: str | None = None,
    page: str | None = None,
    lang: str | None = None,
) -> HTMLResponse:
    """Search organisations by name or Unified Social Credit Code; results in pages."""
    language = parse_lang(lang)
    params: dict[str, str | int | None] = {"q": q, "page": page}

    def show(status: int = 200, error: str | None = None, **results: object) -> HTMLResponse:
        return pages.render(
            _SEARCH_TEMPLATE,
            lang=language,
            title=text("site.name", language),
            path="/public",
            params=params,
            status=status,
            query=q or "",
            error=error,
            min_chars=public.MIN_QUERY_CHARS,
            max_chars=public.MAX_QUERY_CHARS,
            results=results or None,
        )

    if q is None:
        return show()
    number = _page_number(page)
    if number is None:
        return show(400, text("error.bad_page", language))
    try:
        found = public.search_enterprises(
            session, keys, q, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
    except XinyongError as exc:
        return show(exc.status, _message(exc, language))
    except Exception as exc:
        return _unexpected(session, language, "/public", exc)
    first = found.offset + 1
    has_next = found.more and number < LAST_PAGE
    return show(
        items=pages.found(found.items, language),
        heading=text("search.results", language, query=found.query),
        range_text=text("search.range", language, first=first, last=first + len(found.items) - 1),
        previous_href=(
            pages.link("/public", language, q=q, page=number - 1) if number > 1 else None
        ),
        next_href=pages.link("/public", language, q=q, page=number + 1) if has_next else None,
        narrow=found.more and not has_next,
    )


@router.get("/public/enterprises/{uscc}", response_class=HTMLResponse)
def enterprise_page(
    uscc: str, session: DbSession, keys: Keys, lang: str | None = None
) -> HTMLResponse:
    """An organisation's licences, penalties and list entries in their publicity periods."""
    language = parse_lang(lang)
    path = f"/public/enterprises/{quote(uscc, safe='')}"
    try:
        profile = public.enterprise_profile(session, keys, uscc)
    except XinyongError as exc:
        return _error_page(language, path, exc.status, _message(exc, language))
    except Exception as exc:
        return _unexpected(session, language, path, exc)
    return pages.render(
        "enterprise.html.j2",
        lang=language,
        title=pages.enterprise_name(profile, language),
        path=pages.enterprise_link(profile.uscc, Lang.ZH_CN),
        facts=pages.profile_facts(profile, language),
        tables=[
            pages.licences_table(profile.licences, language),
            pages.penalties_table(profile.penalties, language),
            pages.entries_table(profile.list_entries, language),
        ],
    )


@router.get("/public/dishonest-debtors", response_class=HTMLResponse)
def debtors_form(lang: str | None = None) -> HTMLResponse:
    """The court-list lookup form."""
    language = parse_lang(lang)
    return pages.render(
        _DEBTORS_TEMPLATE,
        lang=language,
        title=text("nav.debtors", language),
        path="/public/dishonest-debtors",
        action=pages.link("/public/dishonest-debtors", language),
        error=None,
        table=None,
        as_of=None,
    )


@router.post("/public/dishonest-debtors", response_class=HTMLResponse)
def debtors_lookup(
    session: DbSession,
    keys: Keys,
    identifier: Annotated[str, Form()] = "",
    lang: str | None = None,
) -> HTMLResponse:
    """Active court-list entries of an exact Resident ID or USCC, names and persons masked.

    The identifier is never echoed back: the form comes back empty.
    """
    language = parse_lang(lang)
    path = "/public/dishonest-debtors"

    def show(
        status: int, error: str | None, table: pages.Table | None, as_of: pages.Cell | None
    ) -> HTMLResponse:
        return pages.render(
            _DEBTORS_TEMPLATE,
            lang=language,
            title=text("nav.debtors", language),
            path=path,
            status=status,
            no_store=True,
            action=pages.link(path, language),
            error=error,
            table=table,
            as_of=as_of,
        )

    try:
        answer = public.dishonest_debtors(session, keys, identifier)
    except XinyongError as exc:
        return show(
            exc.status, _message(exc, language, identifier_key="error.bad_identifier"), None, None
        )
    except Exception as exc:
        return _unexpected(session, language, path, exc)
    table = pages.debtors_table(answer.entries, language)
    return show(200, None, table, pages.date_cell(answer.as_of, language))


@router.get(pages.CSS_PATH)
def stylesheet() -> Response:
    return pages.stylesheet()


@router.get("/public/{rest:path}", response_class=HTMLResponse)
def not_found_page(rest: str, lang: str | None = None) -> Response:
    """Any other address under /public: a page, not the API's JSON."""
    language = parse_lang(lang)
    if rest == "":
        return RedirectResponse(pages.link("/public", language), status_code=308)
    return _error_page(language, f"/public/{quote(rest)}", 404, text("error.not_found", language))
