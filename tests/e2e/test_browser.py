"""The sign-in and consent pages in a real headless Chromium (Debian's, driven by Playwright).

Skipped with a reason when /usr/bin/chromium is missing, unless REQUIRE_BROWSER=1 (set by
.ci/run, which installs it): there a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.support.browser import needs_browser
from tests.support.oauth import pkce_pair
from tests.support.servers import PASSWORD, REDIRECT_URI

pytestmark = needs_browser


def _authorize_url(base: str, client_id: str, state: str) -> str:
    _, challenge = pkce_pair()
    return (
        base
        + "/oauth/authorize?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": REDIRECT_URI,
                "scope": "read",
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
    )


def test_sign_in_and_consent_in_chromium(
    browser, live_server, live_user, live_client, tmp_path
) -> None:
    page = browser.new_page()
    landed: list[str] = []

    def client_callback(route) -> None:  # the client's redirect URI, answered locally
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>client got it</p>")

    page.route("https://client.example/**", client_callback)
    page.goto(_authorize_url(live_server.base_url, live_client["client_id"], "st-1"))
    assert urlsplit(page.url).path == "/login"

    page.fill("input[name=email]", live_user["email"])
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert page.locator(".error").inner_text() == "Invalid email or password."

    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    assert urlsplit(page.url).path == "/oauth/authorize"
    assert page.locator("h1").inner_text() == "Authorize Live Client"
    page.screenshot(path=str(tmp_path / "consent.png"))
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], "consent.png"))

    page.click("button[name=confirm][value=yes]")
    page.wait_for_url("https://client.example/**")
    params = parse_qs(urlsplit(landed[-1]).query)
    assert params["state"] == ["st-1"]
    assert params["iss"] == [live_server.base_url]
    assert params["code"][0].startswith("tgc_")


def test_deny_returns_access_denied(browser, live_server, live_user, live_client) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.route("https://client.example/**", lambda route: route.fulfill(status=200, body="denied"))
    page.goto(_authorize_url(live_server.base_url, live_client["client_id"], "st-2"))
    page.fill("input[name=email]", live_user["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    with page.expect_request("https://client.example/**") as request_info:
        page.click("button[name=confirm][value=no]")
    params = parse_qs(urlsplit(request_info.value.url).query)
    assert params["error"] == ["access_denied"] and params["state"] == ["st-2"]
    context.close()


def test_consent_page_cannot_be_framed(browser, live_server, live_user, live_client) -> None:
    context = browser.new_context()
    page = context.new_page()
    response = page.goto(live_server.base_url + "/login")
    headers = response.headers
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "same-origin"
    context.close()
