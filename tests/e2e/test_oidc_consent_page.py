"""The consent page of an OpenID Connect request in a real Chromium: it names and explains
``openid``, ``profile`` and ``email`` before the user agrees, and the relying party gets its
code (slow: a real server and a browser; ``needs_browser`` marks it)."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.support.browser import needs_browser
from tests.support.oauth import pkce_pair
from tests.support.servers import PASSWORD, REDIRECT_URI

pytestmark = needs_browser


def test_consent_page_explains_openid_profile_email(
    browser, live_server, live_user, tmp_path
) -> None:
    oidc_client = live_server.cli(
        "clients",
        "create",
        "--name",
        "OIDC Relying Party",
        "--redirect-uri",
        REDIRECT_URI,
        "--scope",
        "openid profile email",
    )
    _, challenge = pkce_pair()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": oidc_client["client_id"],
            "redirect_uri": REDIRECT_URI,
            "scope": "openid profile email",
            "state": "st-oidc",
            "nonce": "n-oidc",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "login_hint": live_user["email"],
        }
    )
    page = browser.new_page()
    landed: list[str] = []

    def client_callback(route) -> None:  # type: ignore[no-untyped-def]
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>client got it</p>")

    page.route("https://client.example/**", client_callback)
    page.goto(f"{live_server.base_url}/oauth/authorize?{query}")
    assert urlsplit(page.url).path == "/login"
    # login_hint prefilled the email.
    assert page.input_value("input[name=email]") == live_user["email"]
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    assert urlsplit(page.url).path == "/oauth/authorize"

    items = [text.strip() for text in page.locator("ul.scopes li").all_inner_texts()]
    assert [item.split(" ")[0] for item in items] == ["openid", "profile", "email"]
    assert "confirm who you are" in items[0]
    assert "name" in items[1]
    assert "email address" in items[2]
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], "oidc-consent.png"))
    page.screenshot(path=str(tmp_path / "oidc-consent.png"))

    page.click("button[name=confirm][value=yes]")
    page.wait_for_url("https://client.example/**")
    params = parse_qs(urlsplit(landed[-1]).query)
    assert params["state"] == ["st-oidc"]
    assert params["code"][0].startswith("tgc_")
