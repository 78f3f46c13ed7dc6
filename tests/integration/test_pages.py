"""What a browser gets: a landing page at /, the API reference at /api; no script, a
strict Content-Security-Policy."""

from __future__ import annotations

import html
import re

import pytest
import requests

from functions.container.serve import create_wsgi
from lomas_contract import routes as r
from tests.conftest import World
from tests.integration.conftest import IN_PROCESS
from tests.support.wsgi_transport import session_for

URL = IN_PROCESS


@pytest.fixture
def browser(world: World) -> requests.Session:
    return session_for(create_wsgi(world.ctx))


def page(browser: requests.Session, path: str) -> str:
    answer = browser.get(URL + path, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = answer.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none';") and "script-src" not in policy
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script" not in answer.text.lower()
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", answer.text)  # nothing from elsewhere
    return answer.text


def test_the_landing_page_says_what_this_is_and_links_the_api(browser: requests.Session) -> None:
    text = page(browser, "/")
    assert "differentially private" in text
    for link in ("api", "openapi.json", "health"):
        assert f'href="{link}"' in text
        assert browser.get(f"{URL}/{link}", timeout=10).status_code == 200


def test_the_api_reference_shows_every_route_from_the_document(
        browser: requests.Session) -> None:
    text = html.unescape(page(browser, "/api"))
    for route in (*r.QUERY_APP, *r.ADMIN_APP):
        assert f"{route.method} {route.path}" in text, route.name
        assert route.summary in text
    assert "query_str" in text  # a body's fields
