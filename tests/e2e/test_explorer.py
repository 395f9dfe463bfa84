"""The API explorer (/api/docs) in a real headless Chromium (Debian's, driven by Playwright):
Swagger UI served from this origin only, and "try it out" riding on the signed-in browser
session (app/web/static/explorer.js adds the CSRF header to writes).

Skipped with a reason when /usr/bin/chromium is missing, unless REQUIRE_BROWSER=1 (set by
.ci/run, which installs it): there a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.browser import needs_browser
from tests.support.servers import PASSWORD

pytestmark = needs_browser

EMAIL = "explorer@example.com"
TIMEOUT_MS = 15_000
LIVE_RESPONSE = ".responses-wrapper .live-responses-table tbody"  # what Execute returned


@pytest.fixture(scope="module")
def explorer_user(live_server) -> dict:
    created = live_server.cli(
        "users", "create", "--email", EMAIL, "--password", PASSWORD, "--first-name", "Explorer"
    )
    account = live_server.cli(
        "accounts",
        "create",
        "--family-id",
        created["family_id"],
        "--name",
        "Explorer checking",
        "--balance",
        "12.5",
    )
    assert account["family_id"] == created["family_id"]
    return {**created, "account": account}


@pytest.fixture
def context(browser):
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


def sign_in(page, base_url: str) -> None:
    page.goto(base_url + "/login?next=/api/docs")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/api/docs")


def operation(page, method: str, path: str):  # type: ignore[no-untyped-def]
    """The Swagger UI block of one operation, expanded."""
    block = (
        page.locator(f".opblock.opblock-{method.lower()}")
        .filter(has=page.locator(".opblock-summary-path", has_text=path))
        .filter(has_not=page.locator(".opblock-summary-path", has_text=path + "/"))
    )
    block = block.first
    if "is-open" not in (block.get_attribute("class") or ""):
        block.locator(".opblock-summary").first.click()
    block.locator(".opblock-body").wait_for()
    # tryItOutEnabled may already have switched the block into edit mode ("Cancel").
    try_out = block.locator(".try-out__btn")
    if (
        try_out.count()
        and "cancel" not in (try_out.first.get_attribute("class") or "")
        and try_out.first.inner_text().strip().lower() == "try it out"
    ):
        try_out.first.click()
    return block


def execute(page, block):  # type: ignore[no-untyped-def]
    """Click Execute; return (status shown by Swagger UI, the network response)."""
    with page.expect_response(
        lambda r: "/api/v1/" in r.url and r.request.resource_type in ("fetch", "xhr")
    ) as info:
        block.locator("button.execute").click()
    status = block.locator(f"{LIVE_RESPONSE} .response-col_status")
    status.first.wait_for()
    return status.first.inner_text().strip(), info.value


def test_explorer_loads_from_local_assets_only(context, live_server) -> None:
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    broken: list[str] = []
    page.on(
        "response",
        lambda r: (
            broken.append(f"{r.status} {r.url}")
            if r.status >= 400 and urlsplit(r.url).path != "/favicon.ico"
            else None
        ),
    )

    response = page.goto(live_server.base_url + "/api/docs")
    assert response.status == 200
    page.locator(".opblock").first.wait_for()
    page.wait_for_load_state("networkidle")

    origin = urlsplit(live_server.base_url)
    for url in requested:
        parts = urlsplit(url)
        if parts.scheme == "data":
            continue
        assert (parts.scheme, parts.netloc) == (origin.scheme, origin.netloc), (
            f"the explorer fetched {url} from another origin"
        )
    paths = {urlsplit(url).path for url in requested}
    assert "/api/v1/openapi.json" in paths
    assert any(p.endswith("swagger-ui-bundle.js") for p in paths)
    assert any(p.endswith("swagger-ui.css") for p in paths)
    assert failed == []
    assert broken == []

    # Every operation of the document is rendered.
    document = requests.get(live_server.base_url + "/api/v1/openapi.json", timeout=10).json()
    count = sum(len(item) for item in document["paths"].values())
    assert page.locator(".opblock").count() == count
    assert page.locator(".opblock-summary-path", has_text="/api/v1/transactions").count() >= 2
    # The document's security schemes are offered by the Authorize dialog.
    assert page.locator(".auth-wrapper .authorize").count() == 1
    # Scripts come from this origin only (CSP) and the page cannot be framed.
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_try_it_out_with_the_session(context, live_server, explorer_user, tmp_path) -> None:
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, live_server.base_url)
    page.locator(".opblock").first.wait_for()

    # A read: GET /api/v1/tags with nothing but the session cookie.
    block = operation(page, "GET", "/api/v1/tags")
    status, response = execute(page, block)
    assert status == "200"
    assert response.status == 200
    assert response.json()["tags"] == []
    assert "x-csrftoken" not in response.request.headers  # reads carry no CSRF header

    # A write: POST /api/v1/tags, CSRF header added by explorer.js.
    block = operation(page, "POST", "/api/v1/tags")
    body = block.locator("textarea.body-param__text")
    body.wait_for()
    body.fill(json.dumps({"tag": {"name": "from-explorer"}}))
    status, response = execute(page, block)
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], "explorer.png"))
    page.screenshot(path=str(tmp_path / "explorer.png"))
    assert status == "201", block.locator(".responses-wrapper").inner_text()
    assert response.status == 201
    assert response.request.headers.get("x-csrftoken")
    assert "authorization" not in response.request.headers  # the session, not a token
    assert "x-api-key" not in response.request.headers
    created = response.json()
    assert created["name"] == "from-explorer"
    shown = block.locator(f"{LIVE_RESPONSE} .response-col_description")
    assert "from-explorer" in shown.first.inner_text()

    # The tag really exists in the user's family: read it back in the explorer.
    block = operation(page, "GET", "/api/v1/tags")
    status, response = execute(page, block)
    assert status == "200"
    assert [t["name"] for t in response.json()["tags"]] == ["from-explorer"]

    # The family's account is visible too (seeded by the CLI).
    block = operation(page, "GET", "/api/v1/accounts")
    status, response = execute(page, block)
    assert status == "200"
    assert [a["name"] for a in response.json()["accounts"]] == ["Explorer checking"]
    assert response.json()["accounts"][0]["balance"] == "$12.50"  # Sure's Money#format

    origin = urlsplit(live_server.base_url)
    assert all(urlsplit(u).netloc == origin.netloc for u in requested if not u.startswith("data:"))


def test_try_it_out_without_a_session_is_401(context, live_server) -> None:
    page = context.new_page()
    page.goto(live_server.base_url + "/api/docs")
    page.locator(".opblock").first.wait_for()
    block = operation(page, "GET", "/api/v1/tags")
    status, response = execute(page, block)
    assert status == "401"
    assert response.json()["error"] == "unauthorized"
