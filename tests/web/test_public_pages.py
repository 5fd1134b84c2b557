"""The public pages in a real browser: Debian's Chromium, driven by Playwright.

The app is served by uvicorn on a free loopback port, in a thread of this process, on the
SQLite test database, filled once for the module through the real ingestion path. A reader
searches by a fragment of a name, opens the organisation, reads its penalty and its list
entry, switches to English, looks up a person on the court list and mistypes a code.

Chromium comes from Debian (``make setup`` installs it): Playwright's own browser download
is not used. Without it these tests fail, they are never skipped; ``XINYONG_TEST_CHROMIUM``
points at another binary.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy.engine import Engine
from web_support import (
    GALAXY,
    GALAXY_EN,
    PERSON_NAME,
    Population,
    furnish_population,
    penalty_ends,
)

from xinyong.api.app import create_app
from xinyong.config import Settings
from xinyong.db import make_session_factory
from xinyong.identity.crypto import KeyRing
from xinyong.identity.identifiers import mask_identifier
from xinyong.ledger.service import ledger_keys
from xinyong.models import Base
from xinyong.reports.schemas import Lang
from xinyong.web.i18n import format_date

# One database is enough for the browser; the pages' HTTP behaviour is tested on both.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
]

CHROMIUM = os.environ.get("XINYONG_TEST_CHROMIUM") or "/usr/bin/chromium"
# As the machines' probe starts it: no sandbox as root (Playwright's default), and none of
# the background connections that a closed network refuses.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class Site:
    url: str
    population: Population


def _wipe(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(scope="module")
def site(engine: Engine, keys: KeyRing, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The records furnished, and the app served by uvicorn on a free loopback port."""
    tmp = tmp_path_factory.mktemp("web")
    population = furnish_population(
        tmp, make_session_factory(engine, ledger=ledger_keys(keys, Settings())), keys
    )
    settings = Settings(data_dir=tmp / "data", database_url=str(engine.url), events_worker="off")
    app = create_app(settings, engine=engine, keys=keys)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="uvicorn", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start in 30 s"
        time.sleep(0.05)
    try:
        yield Site(f"http://127.0.0.1:{port}", population)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
        _wipe(engine)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `make setup` installs Debian's chromium "
            "(or set XINYONG_TEST_CHROMIUM)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page that records what the browser refused or failed to load."""
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda message: (
            problems.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    page.on(
        "response",
        lambda response: (
            problems.append(f"{response.status}: {response.url}")
            if response.url.endswith(".css") and response.status != 200
            else None
        ),
    )
    yield page
    context.close()
    # The stylesheet loaded and no Content-Security-Policy violation was reported.
    assert problems == []


def assert_lang(page: Page, lang: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", lang)


def test_search_open_a_profile_and_read_it_in_english(site: Site, page: Page) -> None:
    population = site.population
    response = page.goto(f"{site.url}/public")
    assert response is not None
    assert response.status == 200
    assert_lang(page, "zh-CN")
    expect(page.get_by_role("heading", level=1)).to_have_text("信用信息公示")
    # The stylesheet applies (served by the app, allowed by the CSP).
    expect(page.locator("header.site")).to_have_css("border-bottom-style", "solid")

    page.get_by_label("企业名称或统一社会信用代码").fill("星河")
    page.get_by_role("button", name="查询").click()
    results = page.get_by_role("list").filter(has_text=GALAXY)
    expect(results.get_by_role("listitem")).to_have_count(2)
    expect(page.get_by_text(population.galaxy)).to_be_visible()
    page.get_by_role("link", name=GALAXY).click()

    expect(page).to_have_url(f"{site.url}/public/enterprises/{population.galaxy}")
    expect(page.get_by_role("heading", level=1)).to_have_text(GALAXY)
    expect(page.get_by_role("heading", name="关于本页信息")).to_be_visible()
    penalties = page.locator("section#penalties")
    expect(penalties.get_by_role("columnheader", name="公示截止日期")).to_be_visible()
    row = penalties.get_by_role("row").filter(has_text="京朝市监罚〔2026〕P1号")
    expect(row).to_contain_text("虚假宣传")
    expect(row).to_contain_text("5,000.00元")
    ends = penalty_ends(population.penalty_decided)
    expect(row).to_contain_text(format_date(ends, Lang.ZH_CN))
    entries = page.locator("section#list-entries")
    expect(entries).to_contain_text("失信被执行人名单")
    expect(entries).to_contain_text("(2026)京0105执D1号")
    expect(page.locator("section#licences")).to_contain_text("食品经营许可证")

    page.get_by_role("link", name="English").click()
    assert_lang(page, "en")
    expect(page).to_have_url(f"{site.url}/public/enterprises/{population.galaxy}?lang=en")
    expect(page.get_by_role("heading", level=1)).to_have_text(GALAXY_EN)
    penalties = page.locator("section#penalties")
    expect(penalties.get_by_role("heading")).to_have_text("Administrative penalties")
    expect(penalties.get_by_role("columnheader", name="Published until")).to_be_visible()
    expect(penalties).to_contain_text(format_date(ends, Lang.EN))
    expect(penalties).to_contain_text("CNY 5,000.00")
    expect(page.locator("section#list-entries")).to_contain_text(
        "List of dishonest judgment debtors"
    )
    expect(page.get_by_role("complementary")).to_contain_text("Personal data is never shown")

    # Back to the search, still in English: the other organisation has nothing public.
    page.get_by_role("link", name="Search organisations").click()
    assert_lang(page, "en")
    page.get_by_label("Name or Unified Social Credit Code").fill(population.quiet)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="北京星河物流有限公司").click()
    assert_lang(page, "en")
    for empty in (
        "No administrative licence is in its publicity period.",
        "No administrative penalty is in its publicity period.",
        "Not on any list.",
    ):
        expect(page.get_by_text(empty)).to_be_visible()


def test_a_court_listed_person_is_shown_masked(site: Site, page: Page) -> None:
    person = site.population.person
    page.goto(f"{site.url}/public?lang=en")
    page.get_by_role("link", name="Dishonest judgment debtors").click()
    assert_lang(page, "en")
    page.get_by_label("Resident ID or Unified Social Credit Code").fill(person)
    with page.expect_response(f"{site.url}/public/dishonest-debtors?lang=en") as posted:
        page.get_by_role("button", name="Look up").click()
    assert posted.value.status == 200
    table = page.locator("section#debtors")
    expect(table.get_by_role("heading")).to_have_text("Result")
    row = table.get_by_role("row").filter(has_text="(2026)京0105执D2号")
    expect(row).to_contain_text("欧***")
    expect(row).to_contain_text(mask_identifier(person))
    expect(row).to_contain_text("List of dishonest judgment debtors")
    expect(row).to_contain_text("Person")
    # Neither the name nor the number is anywhere: page, form or address.
    content = page.content()
    assert person not in content
    assert PERSON_NAME not in content
    assert person not in page.url
    expect(page.get_by_label("Resident ID or Unified Social Credit Code")).to_have_value("")


def test_a_malformed_code_gets_an_error_page(site: Site, page: Page) -> None:
    page.goto(f"{site.url}/public")
    page.get_by_label("企业名称或统一社会信用代码").fill("91110000600037341N")
    with page.expect_response(lambda response: "/public?q=" in response.url) as searched:
        page.get_by_role("button", name="查询").click()
    assert searched.value.status == 400
    assert_lang(page, "zh-CN")
    expect(page.get_by_role("alert")).to_have_text(
        "这不是有效的统一社会信用代码，请核对后重新输入。"
    )
    expect(page.get_by_label("企业名称或统一社会信用代码")).to_have_value("91110000600037341N")

    response = page.goto(f"{site.url}/public/enterprises/91110000600037341N?lang=en")
    assert response is not None
    assert response.status == 400
    assert_lang(page, "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Please check what you entered")
    expect(page.get_by_role("alert")).to_have_text(
        "This is not a valid Unified Social Credit Code: check it and try again."
    )
    page.get_by_role("link", name="Back to the search").click()
    expect(page).to_have_url(f"{site.url}/public?lang=en")
