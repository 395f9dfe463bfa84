"""The tenant administration pages in a real Chromium against a real server: from the home
page to Users, make an API key for a user (shown once, copied with the copy button, driven by
the keyboard), use it on ``/scans``, change the user's role on the page and see the same key
act with the new role on its next request, revoke the key, deactivate the user (every
credential refused at once), then the read-only Roles page and the Settings page (rename; the
plan's features shown).
"""

from __future__ import annotations

import os

import requests

from tests.support.browser import needs_browser, tab_to, wait_focused
from tests.support.servers import PASSWORD

pytestmark = needs_browser


def _scan(base: str, key: str) -> requests.Response:
    return requests.post(
        base + "/scans", json={"target": "10.0.0.0/24"}, headers={"X-API-Key": key}, timeout=10
    )


def _delete(base: str, key: str, scan_id: str) -> requests.Response:
    return requests.delete(f"{base}/scans/{scan_id}", headers={"X-API-Key": key}, timeout=10)


def test_users_keys_roles_and_settings_in_the_browser(browser, live_server, tmp_path) -> None:
    base = live_server.base_url
    admin = live_server.cli(
        "users", "create", "--email", "tina.admin@example.com", "--password", PASSWORD,
        "--role", "admin",
    )  # fmt: skip
    member = live_server.cli(
        "users", "create", "--email", "otto.ops@example.com", "--password", PASSWORD,
        "--family-id", admin["family_id"],
    )  # fmt: skip
    live_server.cli("users", "grant-role", "--email", member["email"], "--role", "analyst")
    live_server.cli(
        "tenants", "set-features", "--family-id", admin["family_id"], "--features", "reports.export"
    )

    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("input[name=email]", admin["email"])
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/")

    # Home -> Users, by keyboard.
    tab_to(page, "a[href='/admin/users']")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/admin/users")
    assert page.locator("h1").inner_text() == "Users"
    row = page.locator(f"tr[data-user-id='{member['id']}']")
    assert "analyst" in row.inner_text()

    # The member's API keys -> a new key (name typed, source chosen), by keyboard.
    keys_url = f"{base}/admin/users/{member['id']}/api_keys"
    tab_to(page, f"a[href='/admin/users/{member['id']}/api_keys']")
    page.keyboard.press("Enter")
    page.wait_for_url(keys_url)
    wait_focused(page, "#name")
    page.keyboard.type("Nightly scanner")
    tab_to(page, "#source")
    page.select_option("#source", "monitoring")
    tab_to(page, "button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # Shown once, with a working copy button (made visible by the page's script file).
    assert page.locator("h1").inner_text() == "API key created"
    key = page.locator("#api-key").input_value()
    assert key
    copy = page.locator("button[data-copy='api-key']")
    assert copy.is_visible()
    tab_to(page, "button[data-copy='api-key']")
    page.keyboard.press("Enter")
    # A locator wait: wait_for_function evaluates a string, which the page's CSP refuses.
    page.locator("#copy-status", has_text="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == key
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], "admin-key-created.png"))

    # The key acts as the member: an analyst runs scans but does not delete them.
    made = _scan(base, key)
    assert made.status_code == 201, made.text
    scan_id = made.json()["id"]
    assert _delete(base, key, scan_id).status_code == 403

    # The list shows the key, never the key itself.
    page.goto(keys_url)
    listed = page.locator("table[data-testid=api-keys] tbody tr")
    assert listed.count() == 1
    assert listed.locator("th").inner_text() == "Nightly scanner"
    assert key not in page.content()

    # Make the member an admin on the Users page: the same key deletes on its next request.
    page.goto(base + "/admin/users")
    page.select_option(f"#role-{member['id']}", "admin")
    with page.expect_navigation():
        page.click(f"button[aria-label='Change the role of {member['email']}']")
    assert f"{member['email']} is now admin." in page.locator(".notice").inner_text()
    assert _delete(base, key, scan_id).status_code == 200

    # Revoke the key: refused at once.
    page.goto(keys_url)
    with page.expect_navigation():
        page.click("button[aria-label='Revoke API key Nightly scanner']")
    assert page.locator("[data-testid=no-api-keys]").is_visible()
    assert _scan(base, key).status_code == 401

    # A second key, then deactivate the member: every credential refused at once.
    page.fill("#name", "Backup job")
    with page.expect_navigation():
        page.click("button[type=submit]")
    second = page.locator("#api-key").input_value()
    assert _scan(base, second).status_code == 201
    page.goto(base + "/admin/users")
    with page.expect_navigation():
        page.click(f"button[aria-label='Deactivate {member['email']}']")
    assert "every credential of theirs was revoked" in page.locator(".notice").inner_text()
    assert _scan(base, second).status_code == 401
    assert "Deactivated" in page.locator(f"tr[data-user-id='{member['id']}']").inner_text()

    # Roles: read-only, every role with its permissions.
    page.click("nav.admin-nav a[href='/admin/roles']")
    page.wait_for_url(base + "/admin/roles")
    analyst = page.locator("tr[data-role='analyst']")
    assert "scans.run" in analyst.inner_text()
    assert page.locator("table[data-testid=roles] form").count() == 0

    # Settings: rename the tenant; the plan's features are shown, not editable.
    page.click("nav.admin-nav a[href='/admin/settings']")
    page.wait_for_url(base + "/admin/settings")
    assert page.locator("[data-testid=features]").inner_text() == "reports.export"
    page.fill("#name", "Tina's Security Team")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.locator(".notice").inner_text() == "Settings saved."
    assert page.locator("#name").input_value() == "Tina's Security Team"
    page.screenshot(path=str(tmp_path / "tenant-settings.png"))
    context.close()
