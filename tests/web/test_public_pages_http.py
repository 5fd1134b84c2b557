"""The public pages through the ASGI app: statuses, headers, languages, escaping, paging.

The same journeys in a real browser are in ``test_public_pages.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from web_support import (
    GALAXY,
    GALAXY_EN,
    PERSON_NAME,
    TODAY,
    Population,
    furnish_population,
    licence,
    make_regulator,
    penalty,
    penalty_ends,
)

from reports.helpers import Furnish
from support import new_uscc
from xinyong.identity.crypto import KeyRing
from xinyong.identity.identifiers import make_uscc, mask_identifier
from xinyong.lists import public
from xinyong.reports.schemas import Lang
from xinyong.web.i18n import format_date
from xinyong.web.pages import SECURITY_HEADERS

BAD_USCC = "91110000600037341N"  # 18 characters, wrong check character


@pytest.fixture
def population(
    client: TestClient, tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing
) -> Population:
    return furnish_population(tmp_path, factory, keys)


def assert_page(response: httpx.Response, status: int, lang: str = "zh-CN") -> str:
    """An HTML page with the security headers, in ``lang``; its text."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert f'<html lang="{lang}">' in response.text
    return response.text


def test_every_page_and_error_is_html_with_security_headers(
    client: TestClient, population: Population
) -> None:
    cases = [
        ("/public", 200),
        ("/public?q=星河", 200),
        (f"/public?q={population.galaxy}", 200),
        ("/public?q=星", 400),  # too short
        (f"/public?q={BAD_USCC}", 400),
        ("/public?q=星河&page=0", 400),
        ("/public?q=星河&page=x", 400),
        ("/public?q=星河&page=999", 400),
        (f"/public?q={'星' * 101}", 400),
        (f"/public/enterprises/{population.galaxy}", 200),
        (f"/public/enterprises/{population.galaxy.lower()}", 200),
        (f"/public/enterprises/{BAD_USCC}", 400),
        ("/public/enterprises/9111", 400),
        (f"/public/enterprises/{new_uscc()}", 404),  # valid, unknown
        (f"/public/enterprises/{population.person}", 400),  # a person's ID is no USCC
        ("/public/dishonest-debtors", 200),
        ("/public/nothing-here", 404),
        ("/public/enterprises/a/b", 404),
    ]
    for path, status in cases:
        assert_page(client.get(path), status)
    # Errors say what is wrong, in the reader's language, and lead back to the search.
    text = assert_page(client.get("/public?q=星"), 400)
    assert "查询内容应为2至100个字" in text
    assert 'aria-invalid="true"' in text
    text = assert_page(client.get(f"/public/enterprises/{BAD_USCC}?lang=en"), 400, "en")
    assert "not a valid Unified Social Credit Code" in text
    assert '<a href="/public?lang=en">Back to the search</a>' in text
    text = assert_page(client.get(f"/public/enterprises/{new_uscc()}"), 404)
    assert "未找到使用该统一社会信用代码的企业或其他组织" in text
    # /public/ is the search page.
    moved = client.get("/public/?lang=en", follow_redirects=False)
    assert moved.status_code == 308
    assert moved.headers["location"] == "/public?lang=en"


def test_the_stylesheet_is_served_and_no_page_needs_script(
    client: TestClient, population: Population
) -> None:
    css = client.get("/static/xinyong.css")
    assert css.status_code == 200
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert css.headers["x-content-type-options"] == "nosniff"
    assert "font-family" in css.text
    for path in ("/public?q=星河", f"/public/enterprises/{population.galaxy}"):
        page = client.get(path).text
        assert '<link rel="stylesheet" href="/static/xinyong.css">' in page
        assert "<script" not in page
        assert "style=" not in page  # no inline style: the CSP would block it


def test_the_court_list_lookup_is_posted_masked_and_not_stored(
    client: TestClient, population: Population
) -> None:
    form = assert_page(client.get("/public/dishonest-debtors"), 200)
    assert '<form class="lookup" method="post" action="/public/dishonest-debtors">' in form
    response = client.post("/public/dishonest-debtors", data={"identifier": population.person})
    text = assert_page(response, 200)
    assert response.headers["cache-control"] == "no-store"
    assert mask_identifier(population.person) in text
    assert "欧***" in text
    assert population.person not in text
    assert PERSON_NAME not in text
    # The organisation is named; an unlisted number gets the empty answer.
    text = assert_page(
        client.post("/public/dishonest-debtors?lang=en", data={"identifier": population.galaxy}),
        200,
        "en",
    )
    assert GALAXY in text
    assert "List of dishonest judgment debtors" in text
    text = assert_page(
        client.post("/public/dishonest-debtors", data={"identifier": population.quiet}), 200
    )
    assert "该号码在失信被执行人名单上没有有效记录" in text
    for bad in ("360426199101010072", "", "x" * 500):
        text = assert_page(client.post("/public/dishonest-debtors", data={"identifier": bad}), 400)
        assert "既不是有效的居民身份证号码" in text
        assert 'value="' not in text.split('id="identifier"')[1].split(">")[0]


def test_the_profile_in_both_languages(client: TestClient, population: Population) -> None:
    zh = assert_page(client.get(f"/public/enterprises/{population.galaxy}"), 200)
    assert f"<h1>{GALAXY}</h1>" in zh
    assert "京朝市监罚〔2026〕P1号" in zh
    assert "5,000.00元" in zh
    ends = penalty_ends(population.penalty_decided)
    assert f'<time datetime="{ends.isoformat()}">{format_date(ends, Lang.ZH_CN)}</time>' in zh
    assert "失信被执行人名单" in zh
    assert "个人信息不予公示" in zh
    # The switch leads to the same page in English.
    assert f'href="/public/enterprises/{population.galaxy}?lang=en" lang="en"' in zh

    en = assert_page(client.get(f"/public/enterprises/{population.galaxy}?lang=en"), 200, "en")
    assert f"<h1>{GALAXY_EN}</h1>" in en
    assert "Published until" in en
    assert format_date(ends, Lang.EN) in en
    assert "CNY 5,000.00" in en
    assert "Fine" in en
    assert "General" in en
    assert "List of dishonest judgment debtors" in en
    assert "Personal data is never shown" in en
    assert f'href="/public/enterprises/{population.galaxy}" lang="zh-CN"' in en
    # An unknown ?lang= is the default.
    assert_page(client.get(f"/public/enterprises/{population.galaxy}?lang=fr"), 200)

    quiet = assert_page(client.get(f"/public/enterprises/{population.quiet}?lang=en"), 200, "en")
    for empty in (
        "No administrative licence is in its publicity period.",
        "No administrative penalty is in its publicity period.",
        "Not on any list.",
    ):
        assert empty in quiet


def test_names_and_queries_are_shown_as_text(
    client: TestClient, tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing
) -> None:
    furnish = Furnish(tmp_path, factory, keys, make_regulator(factory, keys, "regulator-xss"))
    uscc = new_uscc()
    name = '<script>alert("x")</script>星河&"有限公司'
    furnish(
        licence(uscc, "X1", name),
        penalty(uscc, "X2", name, decided=TODAY, violation="<img src=x onerror=alert(1)>"),
    )
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;星河&amp;&#34;有限公司"
    for path in ("/public?q=星河", f"/public/enterprises/{uscc}"):
        page = assert_page(client.get(path), 200)
        assert escaped in page
        assert "<script" not in page
        assert "<img" not in page
    query = '"><script>alert(1)</script>'
    page = assert_page(client.get("/public", params={"q": query}), 200)
    assert "<script" not in page
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page
    # Links built from input keep it inside their query string.
    page = assert_page(client.get("/public", params={"q": 'a" onclick="x'}), 200)
    assert 'href="/public?q=a%22+onclick%3D%22x&amp;lang=en"' in page


def test_search_results_are_paged(
    client: TestClient, tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing
) -> None:
    furnish = Furnish(tmp_path, factory, keys, make_regulator(factory, keys, "regulator-pages"))
    furnish(*(licence(new_uscc(), f"G{n:02d}", f"杭州云栖{n:02d}科技有限公司") for n in range(25)))
    first = assert_page(client.get("/public?q=云栖"), 200)
    assert first.count('<a href="/public/enterprises/') == 20
    assert "第1至20条" in first
    assert 'href="/public?q=%E4%BA%91%E6%A0%96&amp;page=2" rel="next"' in first
    assert 'rel="prev"' not in first
    second = assert_page(client.get("/public?q=云栖&page=2&lang=en"), 200, "en")
    assert second.count('<a href="/public/enterprises/') == 5
    assert "Results 21 to 25" in second
    assert 'rel="next"' not in second
    assert 'href="/public?q=%E4%BA%91%E6%A0%96&amp;page=1&amp;lang=en" rel="prev"' in second
    names = re.findall(r"杭州云栖(\d\d)科技有限公司", first + second)
    assert sorted(names) == [f"{n:02d}" for n in range(25)]


def test_an_individual_business_is_found_by_code_without_its_name(
    client: TestClient, tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing
) -> None:
    furnish = Furnish(tmp_path, factory, keys, make_regulator(factory, keys, "regulator-shop"))
    shop = make_uscc("9", "2", "110101", "39999999")
    furnish(licence(shop, "B1", "欧阳修远便利店"))
    assert "欧阳修远" not in client.get("/public?q=便利店").text
    for path in (f"/public?q={shop}", f"/public/enterprises/{shop}"):
        page = assert_page(client.get(path), 200)
        assert "个体工商户（名称不予公示）" in page
        assert "欧阳修远" not in page


def test_pages_are_not_in_the_api_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/public", "/static"))]


def test_a_failure_is_a_page_without_details(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(public, "search_enterprises", broken)
    text = assert_page(client.get("/public?q=星河&lang=en"), 500, "en")
    assert "Something went wrong on our side" in text
    assert "secret detail" not in text
