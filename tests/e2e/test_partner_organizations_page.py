"""The partner's organisations page in a real Chromium against a real server, by keyboard: sign
in as a partner, create an organisation, see its ssoSecret once with a working copy button,
exchange an HS256 assertion signed with the copied secret for an admin token and use it, find
the organisation listed (never its secret), rotate the secret behind the confirmation step, and
see the old secret and the old admin token refused while the new secret works."""

from __future__ import annotations

import os
import re
import uuid

import requests

from tests.support.browser import needs_browser, tab_to
from tests.support.partners import UUID4_RE, assertion
from tests.support.servers import PASSWORD

pytestmark = needs_browser

PAGE = "/partner/organizations"
SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _exchange(base: str, secret: str, organization_id: str) -> requests.Response:
    jwt = assertion(secret, organization_id, jti=uuid.uuid4().hex)
    return requests.get(
        base + "/api/v1/organizations/sso", headers={"Authorization": f"Bearer {jwt}"}, timeout=10
    )


def test_create_copy_use_list_and_rotate_an_organization_with_the_keyboard(
    browser, live_server, tmp_path
) -> None:
    base = live_server.base_url
    email = "pat.partner@example.com"
    created = live_server.cli(
        "users", "create", "--email", email, "--password", PASSWORD, "--partner"
    )
    assert created["partner"] is True

    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/")

    page.goto(base + PAGE)
    assert page.locator("h1").inner_text() == "Organizations"
    assert page.locator("[data-testid=no-organizations]").count() == 1
    tab_to(page, "input#name")
    page.keyboard.type("Fleet West")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # The ssoSecret, once, with a copy button (made visible by the page's script file).
    assert page.locator("h1").inner_text() == "Organization created"
    organization_id = page.locator("#organization-id").input_value()
    secret = page.locator("#sso-secret").input_value()
    assert re.match(UUID4_RE, organization_id), organization_id
    assert SECRET.match(secret), secret
    tab_to(page, "button[data-copy='sso-secret']")
    page.keyboard.press("Enter")
    # A locator wait: wait_for_function evaluates a string, which the page's CSP refuses.
    page.locator("#copy-status", has_text="Copied").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == secret
    shots = os.environ.get("SCREENSHOT_DIR") or str(tmp_path)
    page.screenshot(path=os.path.join(shots, "organization-created.png"), full_page=True)

    # The partner's backend signs an HS256 assertion with the copied secret; the exchange
    # gives a 24-hour admin token that answers for this organisation.
    exchanged = _exchange(base, copied, organization_id)
    assert exchanged.status_code == 200, exchanged.text
    old_token = exchanged.json()["token"]
    auth = {"Authorization": f"Bearer {old_token}"}
    listed = requests.get(base + "/api/v1/organizations", headers=auth, timeout=10)
    assert [o["organizationId"] for o in listed.json()] == [organization_id]

    # Done -> the list shows the organisation, never its secret.
    tab_to(page, f"a[href='{PAGE}']")
    # The created page was the POST's answer at the same URL: wait for the navigation itself.
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("h1").inner_text() == "Organizations"
    row = page.locator("table.organizations tbody tr")
    assert row.count() == 1
    assert row.locator("th").inner_text() == "Fleet West"
    assert organization_id in row.inner_text()
    assert secret not in page.content()
    page.screenshot(path=os.path.join(shots, "organizations.png"), full_page=True)

    # Rotate, behind the confirmation step (revoking the admin tokens is the default).
    tab_to(page, "a[aria-label='Rotate the ssoSecret of Fleet West']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf".*{PAGE}/[0-9a-f-]+/rotate$"))
    assert page.locator("[data-testid=organization-name]").inner_text() == "Fleet West"
    assert page.locator("input[name=revoke_tokens]").is_checked()
    tab_to(page, "button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("h1").inner_text() == "ssoSecret rotated"
    rotated = page.locator("#sso-secret").input_value()
    assert SECRET.match(rotated) and rotated != secret

    assert requests.get(base + "/api/v1/organizations", headers=auth, timeout=10).status_code == 401
    assert _exchange(base, secret, organization_id).status_code == 401
    assert _exchange(base, rotated, organization_id).status_code == 200
    context.close()


def test_a_user_who_is_not_a_partner_gets_a_403_page(browser, live_server) -> None:
    email = "not.a.partner@example.com"
    live_server.cli("users", "create", "--email", email, "--password", PASSWORD)
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server.base_url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    response = page.goto(live_server.base_url + PAGE)
    assert response is not None and response.status == 403
    assert "Only partner users can manage organizations." in page.content()
    context.close()
