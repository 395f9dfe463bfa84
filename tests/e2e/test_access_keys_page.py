"""The SecureCloud access-key pages in a real Chromium against a real server, driven with the
keyboard alone: from the home page to the list, add a key (name, expiry preset, a Cloud
Account Viewer role with one chosen account), see the JWT once with a working copy button, use
it, find the key listed, remove it behind the confirmation step, and see the JWT refused.
"""

from __future__ import annotations

import os
import re

import requests

from tests.support.browser import needs_browser, tab_to, wait_focused
from tests.support.servers import PASSWORD

pytestmark = needs_browser

JWT = re.compile(r"^eyJ[\w-]+\.[\w-]+\.[\w-]+$")


def test_add_copy_use_list_and_remove_an_access_key_with_the_keyboard(
    browser, live_server, tmp_path
) -> None:
    base = live_server.base_url
    email = "ada.admin@example.com"
    live_server.cli("users", "create", "--email", email, "--password", PASSWORD)
    granted = live_server.cli("users", "grant-role", "--email", email, "--role", "global_admin")
    assert "global_admin" in granted["roles"]

    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/")

    # Two cloud accounts of the tenant, made through the API with the browser session.
    page.goto(base + "/access_keys/new")
    csrf = page.locator("input[name=csrf_token]").first.input_value()
    accounts = {}
    for name, provider in (("Prod AWS", "aws"), ("Dev GCP", "gcp")):
        made = page.request.post(
            base + "/api/v1/cloud_accounts",
            data={"cloud_account": {"name": name, "provider": provider}},
            headers={"X-CSRFToken": csrf},
        )
        assert made.status == 201, made.text()
        accounts[name] = made.json()["id"]

    # Home page -> list -> add form, by keyboard.
    page.goto(base + "/")
    tab_to(page, "a[href='/access_keys']")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/access_keys")
    assert page.locator("h1").inner_text() == "API access keys"
    tab_to(page, "a[href='/access_keys/new']")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/access_keys/new")

    # The name field has the focus (autofocus lands after the load event: wait for it, on a
    # busy machine it can trail wait_for_url); type, then walk the form.
    page.locator("#name:focus").wait_for(timeout=5000)
    page.keyboard.type("Nightly export")
    page.keyboard.press("Tab")  # the expiry radio group: focus lands on the checked default
    wait_focused(page, "input[name=expiration][value='6m']")
    page.keyboard.press("ArrowUp")  # 3 months
    assert page.locator("input[name=expiration][value='3m']").is_checked()
    tab_to(page, "input[name=roles][value='cloud_account_viewer']")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # the account choice: "All accounts" first
    wait_focused(page, "input[name=selection][value='all']")
    page.keyboard.press("ArrowDown")  # "Selected accounts"
    assert page.locator("input[name=selection][value='selected']").is_checked()
    tab_to(page, f"input[name=accounts][value='{accounts['Prod AWS']}']")
    page.keyboard.press("Space")
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(
            path=os.path.join(os.environ["SCREENSHOT_DIR"], "access-key-form.png"), full_page=True
        )
    tab_to(page, "button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # The JWT, once, with copy buttons (made visible by the page's script file).
    assert page.locator("h1").inner_text() == "Access key added", page.locator(
        ".error"
    ).all_inner_texts()
    token = page.locator("#access-key-token").input_value()
    assert JWT.match(token), token
    copy = page.locator("button[data-copy='access-key-token']")
    assert copy.is_visible()
    assert page.locator("button[data-copy='access-key-name']").is_visible()
    tab_to(page, "button[data-copy='access-key-token']")
    page.keyboard.press("Enter")
    # A locator wait: wait_for_function evaluates a string, which the page's CSP refuses.
    page.locator("#copy-status", has_text="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == token
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], "access-key-added.png"))

    # The JWT works, on the chosen account only.
    auth = {"Authorization": f"Bearer {token}"}
    listed = requests.get(base + "/api/v1/cloud_accounts", headers=auth, timeout=10)
    assert listed.status_code == 200, listed.text
    assert [a["id"] for a in listed.json()["cloud_accounts"]] == [accounts["Prod AWS"]]

    # Done -> the list shows the key (never the JWT).
    tab_to(page, "a[href='/access_keys']")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/access_keys")
    row = page.locator("table.keys tbody tr")
    assert row.count() == 1
    assert row.locator("th").inner_text() == "Nightly export"
    assert "Cloud Account Viewer: Prod AWS" in row.inner_text()
    assert token not in page.content()
    page.screenshot(path=str(tmp_path / "access-keys.png"))

    # Remove, behind the confirmation step.
    tab_to(page, "a[aria-label='Remove access key Nightly export']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/access_keys/[0-9a-f-]+/remove$"))
    assert "Nightly export" in page.locator("p").first.inner_text()
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/access_keys")
    assert (
        page.locator("[role=status]")
        .first.inner_text()
        .startswith('Access key "Nightly export" removed.')
    )
    assert page.locator("table.keys").count() == 0

    refused = requests.get(base + "/api/v1/cloud_accounts", headers=auth, timeout=10)
    assert refused.status_code == 401
    context.close()


def test_a_user_without_the_role_gets_a_403_page(browser, live_server) -> None:
    email = "no.role@example.com"
    live_server.cli("users", "create", "--email", email, "--password", PASSWORD)
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server.base_url + "/login?next=/access_keys")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    response = page.goto(live_server.base_url + "/access_keys")
    assert response is not None and response.status == 403
    assert "Only Global Admins can manage API access keys." in page.content()
    page.goto(live_server.base_url + "/")
    assert page.locator("a[href='/access_keys']").count() == 0
    context.close()
