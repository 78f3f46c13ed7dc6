"""The admin dashboard in a real browser (Debian's Chromium, driven by Playwright), against
both apps served over HTTP: sign in, a user, a grant, a researcher's query seen in the
archives and the chart, a top-up; keyboard and contrast on every page; OIDC with PKCE.
Screenshots go to build/test-artifacts/dashboard/ (LOMAS_TEST_ARTIFACTS moves them)."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from playwright.sync_api import expect

from lomas.adapters.sqlite import SqliteStore
from lomas.domain import Job, PrivacyCost, User
from lomas_client import Client, UnauthorizedAccessError
from tests.conftest import LiveServer, World, make_world, serve
from tests.support.browser import ARTIFACTS, AXE, built_dashboard, chromium
from tests.support.oidc_provider import Provider

pytestmark = pytest.mark.slow

SQL = "SELECT COUNT(*) AS n FROM income"
PAGES = ("users", "datasets", "grants", "archives", "usage", "jobs")
SHOTS = ARTIFACTS / "dashboard"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


@pytest.fixture
def site(sqlite_world: tuple[World, Path]) -> Iterator[LiveServer]:
    yield from serve(sqlite_world[0])


class Tab:
    """One page of the dashboard in its own browser context, and what went wrong in it."""

    def __init__(self, browser: Any, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900},
                                           accept_downloads=True)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.first = self.page.goto(url + "/admin/ui")

    def _console(self, message: Any) -> None:
        # An answer the page shows (a 401 to a wrong token) is logged too: not an error here.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def sign_in(self, token: str) -> None:
        self.page.get_by_label("Admin API token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()

    def go(self, page: str) -> None:
        self.page.get_by_role("navigation").get_by_role("link", name=_label(page)).click()
        self.page.get_by_role("heading", level=2).first.wait_for()

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=SHOTS / f"{name}.png", full_page=True)

    def close(self) -> None:
        self.context.close()


def _label(page: str) -> str:
    return {"usage": "Budget use"}.get(page, page.capitalize())


@pytest.fixture
def tab(browser: Any, site: LiveServer) -> Iterator[Tab]:
    opened = Tab(browser, site.url)
    yield opened
    opened.close()


def test_an_admin_grants_a_budget_sees_the_query_and_tops_it_up(
        tab: Tab, site: LiveServer) -> None:
    page, world = tab.page, site.world
    assert page.url.endswith("/admin/ui/index.html")
    assert tab.first.request.redirected_from.url.endswith("/admin/ui")
    assert "script-src 'self';" in tab.first.headers["content-security-policy"]
    tab.shot("01-sign-in")

    tab.sign_in("lomas_not-a-token")
    expect(page.get_by_role("alert")).to_contain_text("Unauthenticated")
    tab.sign_in(world.admin_token)
    page.get_by_role("heading", name="Users").wait_for()
    expect(page.get_by_role("cell", name="alice", exact=True)).to_be_visible()

    page.get_by_label("Name").fill("carol")
    page.get_by_role("button", name="Add user").click()
    token = page.get_by_test_id("token").inner_text()
    assert token.startswith("lomas_") and world.store.get_user("carol") == User("carol")
    kept = page.evaluate("() => JSON.stringify([Object.entries(localStorage), "
                         "Object.entries(sessionStorage), document.cookie])")
    assert world.admin_token not in kept and token not in kept  # in memory only
    tab.shot("02-users")

    tab.go("grants")
    page.get_by_label("User").select_option("carol")
    page.get_by_label("Dataset").select_option("income")
    page.get_by_label("Initial ε").fill("3")
    page.get_by_label("Initial δ").fill("0.0001")
    page.get_by_role("button", name="Set grant").click()
    row = page.locator("[data-grant='carol/income']")
    expect(row.get_by_test_id("remaining-epsilon")).to_have_text("3")
    tab.shot("03-grants")

    researcher = Client(site.url, token, "income")
    researcher.smartnoise_sql.query(SQL, epsilon=1.0, delta=1e-5)
    spent = world.store.get_grant("carol", "income")
    assert spent is not None and spent.spent.epsilon > 0

    tab.go("archives")
    page.get_by_label("User").select_option("carol")
    expect(page.get_by_role("cell", name=SQL)).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export 1 as CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(r["user_name"], r["query"], r["status"]) for r in rows] == [("carol", SQL, "done")]
    assert float(rows[0]["epsilon"]) == pytest.approx(spent.spent.epsilon)
    tab.shot("04-archives")

    tab.go("usage")
    series = page.get_by_test_id("Epsilon spent per grant")
    line = series.get_by_role("row").filter(has_text="carol on income")
    assert line.get_by_role("cell").nth(1).inner_text() == "1"  # one query
    assert float(line.get_by_role("cell").nth(2).inner_text()) == pytest.approx(
        spent.spent.epsilon, rel=1e-3)
    inked = page.evaluate("""() => {
        const c = document.querySelector("canvas[aria-label='Epsilon spent per grant']");
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert inked > 1000  # the chart is drawn, not an empty canvas
    tab.shot("05-usage")

    tab.go("grants")
    row = page.locator("[data-grant='carol/income']")
    row.get_by_label("add ε").fill("2")
    row.get_by_role("button", name="Top up carol on income").click()
    page.get_by_text("Topped up carol on income").wait_for()
    after = world.store.get_grant("carol", "income")
    assert after is not None and after.initial.epsilon == pytest.approx(5.0)
    assert after.spent == spent.spent  # a top-up adds; what was spent stays
    expect(row.get_by_test_id("remaining-epsilon")).to_have_text(
        f"{float(f'{after.remaining.epsilon:.4g}'):g}")
    tab.shot("06-top-up")

    tab.go("users")
    page.get_by_role("button", name="Disable carol").click()
    page.get_by_text("carol may no longer query").wait_for()
    deadline = time.monotonic() + 6  # a user's rights are cached for at most 5 s
    while True:
        try:
            researcher.smartnoise_sql.cost(SQL, epsilon=1.0, delta=1e-5)
        except UnauthorizedAccessError:
            break
        assert time.monotonic() < deadline, "carol may still query"
        time.sleep(0.5)
    page.get_by_role("button", name="Rotate token of carol").click()
    fresh = page.get_by_test_id("token").inner_text()
    assert fresh != token
    def budget(used: str) -> int:
        return requests.post(site.url + "/get_remaining_budget", json={"dataset_name": "income"},
                             headers={"Authorization": f"Bearer {used}"}, timeout=10).status_code

    assert budget(fresh) == 403  # the new token is carol's, and carol may not query
    deadline = time.monotonic() + 6  # tokens are cached for at most 5 s
    while budget(token) != 401:
        assert time.monotonic() < deadline, "the rotated token still works"
        time.sleep(0.5)
    assert tab.errors == []  # no script error, no Content-Security-Policy refusal


def test_datasets_are_checked_and_registered_and_jobs_listed(tab: Tab, site: LiveServer) -> None:
    page, world = tab.page, site.world
    tab.sign_in(world.admin_token)
    tab.go("datasets")
    page.get_by_role("button", name="Check income against its metadata").click()
    checked = page.get_by_role("region", name="Check of income")
    checked.wait_for()
    expect(checked.get_by_text("matches its metadata")).to_have_count(len(
        world.store.get_dataset("income").metadata.columns))  # type: ignore[union-attr]
    kinds = page.get_by_label("Where its rows are").locator("option").all_inner_texts()
    assert sorted(k.split(":")[0] for k in kinds) == ["http", "local", "postgres", "s3", "spark"]
    page.get_by_label("Where its rows are").select_option("postgres")
    expect(page.get_by_label("credentials_name (required)")).to_be_visible()
    page.get_by_label("Where its rows are").select_option("local")

    income = world.store.get_dataset("income")
    assert income is not None
    register = page.get_by_role("form", name="Register a dataset")
    register.get_by_label("Name", exact=True).fill("income_copy")
    page.get_by_label("path (required)").fill(income.access.path)  # type: ignore[attr-defined]
    metadata = page.get_by_role("textbox", name="Metadata")
    metadata.fill(yaml.safe_dump(income.metadata.model_dump(mode="json")))
    page.get_by_role("button", name="Register").click()
    page.get_by_text("Dataset income_copy registered.").wait_for()
    assert world.store.get_dataset("income_copy") is not None
    register.get_by_label("Name", exact=True).fill("broken")
    page.get_by_label("path (required)").fill("income.csv")
    metadata.fill("columns: [unclosed")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid YAML")
    tab.shot("07-datasets")

    now = datetime.now(UTC)
    world.store.create_job(Job(uid="job-1", user="alice", idempotency_key="k", fingerprint="f",
                               kind="query", engine="smartnoise_sql", dataset="income",
                               request={"query_str": SQL}, cost=PrivacyCost(0.5, 0.0),
                               lease_until=now + timedelta(minutes=5),
                               expires_at=now + timedelta(days=1)))
    tab.go("jobs")
    job = page.get_by_role("row").filter(has_text="job-1")
    assert "alice" in job.inner_text() and "waiting" in job.inner_text()
    assert SQL not in page.content()  # an admin sees whose job, never its request
    tab.shot("08-jobs")
    assert tab.errors == []


def test_every_page_is_reached_by_keyboard_and_passes_axe(tab: Tab, site: LiveServer) -> None:
    """Tab and Enter alone reach each page; axe-core finds no WCAG 2 A/AA violation
    (contrast included) on any of them."""
    page = tab.page
    axe = AXE.read_text()
    site.world.store.spend("alice", "income", PrivacyCost(0.5, 0.0))  # a chart to check
    page.get_by_label("Admin API token").wait_for()
    page.keyboard.press("Tab")
    page.keyboard.type(site.world.admin_token)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Users").wait_for()
    for name in PAGES:
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.textContent.trim()") == _label(name):
                break
        else:
            pytest.fail(f"Tab never reached the link to {name}")
        page.keyboard.press("Enter")
        page.get_by_role("heading", level=2).first.wait_for()
        assert page.evaluate("() => location.hash") == f"#{name}"
        page.evaluate(axe)  # Playwright's own evaluation: not subject to the page's CSP
        found = page.evaluate("() => axe.run(document, {runOnly: {type: 'tag', values: "
                              "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})")
        assert [(v["id"], [n["target"] for n in v["nodes"]])
                for v in found["violations"]] == [], name
    assert tab.errors == []


@pytest.fixture
def oidc_site(tmp_path: Path) -> Iterator[tuple[LiveServer, Provider]]:
    provider = Provider()
    provider.clients = {"lomas-dashboard": (None, None)}
    provider.groups = {"olga": ["lomas-admins"]}
    store = SqliteStore.open(tmp_path / "lomas.sqlite3")
    world = make_world(store, tmp_path, PrivacyCost(1.0, 1e-5),
                       oidc_issuer=provider.issuer, oidc_audience="lomas",
                       oidc_admin_value="lomas-admins", oidc_auto_provision=True,
                       oidc_dashboard_client_id="lomas-dashboard")
    yield from ((s, provider) for s in serve(world))
    provider.close()
    store.close()


def test_oidc_sign_in_is_the_code_flow_with_pkce(browser: Any, oidc_site: tuple[
        LiveServer, Provider]) -> None:
    site, provider = oidc_site
    provider.browser_user = "olga"
    config = requests.get(site.url + "/admin/ui/config.json", timeout=10).json()
    assert config == {"oidc": {"issuer": provider.issuer, "client_id": "lomas-dashboard"}}
    tab = Tab(browser, site.url)
    try:
        connect = tab.first.headers["content-security-policy"]
        assert f"connect-src 'self' {provider.base};" in connect
        tab.page.get_by_role("button", name="Sign in with 127.0.0.1").click()
        tab.page.get_by_role("heading", name="Users").wait_for()
        assert tab.page.url.endswith("/admin/ui/index.html")  # the code left the address bar
        assert provider.hits["/realms/nso/auth"] == 1 and provider.hits["/realms/nso/token"] == 1
        assert provider.codes == {}  # the code was redeemed, with its verifier
        kept = tab.page.evaluate("() => JSON.stringify(Object.entries(sessionStorage))")
        assert kept == "[]"  # the verifier is gone once used
        tab.shot("09-oidc-signed-in")
        assert tab.errors == []
    finally:
        tab.close()

    provider.browser_user = None  # the person refuses at the provider
    refused = Tab(browser, site.url)
    try:
        refused.page.get_by_role("button", name="Sign in with 127.0.0.1").click()
        expect(refused.page.get_by_role("alert")).to_contain_text(
            "The issuer refused the sign-in: access_denied.")
        expect(refused.page.get_by_label("Admin API token")).to_be_visible()
    finally:
        refused.close()


def test_the_dashboard_files_carry_no_secret_and_refuse_other_paths(site: LiveServer) -> None:
    built_dashboard()
    base = site.url + "/admin/ui/"
    page = requests.get(base + "index.html", timeout=10)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-cache"
    files = re.findall(r'(?:src|href)="\./([^"]+)"', page.text)
    assert {Path(f).suffix for f in files} == {".js", ".css"}
    bundle = ""
    for name in files:
        answer = requests.get(base + name, timeout=10)
        assert answer.status_code == 200
        assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert answer.headers["Content-Type"].startswith(
            "text/javascript" if name.endswith(".js") else "text/css")
        bundle += answer.text
    world = site.world
    for secret in (world.admin_token, world.token, "mongodb://", "postgresql://",
                   "PRIVATE KEY", "LOMAS_"):
        assert secret not in bundle, secret
    assert not re.search(r"lomas_[A-Za-z0-9_-]{20,}", bundle)
    for path in ("..%2F..%2F..%2F..%2Fdocs%2Fopenapi.json", "..%2F..%2Fpyproject.toml",
                 ".hidden.js", "nope.js", "index.py", "dashboard.py"):
        answer = requests.get(base + path, timeout=10)
        assert answer.status_code == 404 and set(answer.json()) == {"type", "message"}, path
    assert json.loads(requests.get(base + "config.json", timeout=10).text) == {"oidc": None}
