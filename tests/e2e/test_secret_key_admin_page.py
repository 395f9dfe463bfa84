"""The Secret Key Administrator's pages in a real Chromium against a real server, driven with
the keyboard alone: from the home page to the user list, add a key for a user through the
confirmation step (the mail goes to the outbox, the row says "pending reveal"), set IP
restrictions (a bad entry is named next to the field and what was typed is kept; then a good
list), re-send the reveal link, cancel a revocation, then revoke the key after confirming."""

from __future__ import annotations

import os
import re
import sqlite3
import uuid

from tests.support.browser import needs_browser, tab_to, wait_focused
from tests.support.servers import PASSWORD, LiveServer

pytestmark = needs_browser

LINK = re.compile(r"/secret_key/reveal/tgv_[A-Za-z0-9_-]+")


def follow(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    """Tab to a link or button and press Enter, waiting for the next page."""
    tab_to(page, selector)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def key_statuses(live: LiveServer, user_id: str) -> list[str]:
    """The user's keys in the server's database, oldest first."""
    path = live.env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT status FROM secret_keys WHERE replace(user_id, '-', '') = ? "
            "ORDER BY generation",
            (user_id.replace("-", ""),),
        ).fetchall()
    return [row[0] for row in rows]


def messages(live: LiveServer, email: str) -> list[dict[str, str]]:
    found: list[dict[str, str]] = live.cli("mail", "outbox", "--to", email)["messages"]
    return found


def test_an_administrator_manages_a_secret_key_with_the_keyboard(
    browser, live_server, tmp_path
) -> None:
    base = live_server.base_url
    tag = uuid.uuid4().hex[:8]
    ska_email, target = f"ska-{tag}@example.com", f"dev-{tag}@example.com"
    ska = live_server.cli(
        "users", "create", "--email", ska_email, "--password", PASSWORD, "--first-name", "Sam"
    )
    user = live_server.cli(
        "users",
        "create",
        "--email",
        target,
        "--password",
        PASSWORD,
        "--first-name",
        "Dev",
        "--family-id",
        ska["family_id"],
    )
    granted = live_server.cli(
        "users", "grant-role", "--email", ska_email, "--role", "secret_key_administrator"
    )
    assert "secret_key_administrator" in granted["roles"]

    context = browser.new_context()
    page = context.new_page()
    page.goto(base + "/admin/secret_keys")
    assert page.url.startswith(base + "/login")  # signed out: sign in, then come back
    page.fill("input[name=email]", ska_email)
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/admin/secret_keys")

    # From the home page to the list, by keyboard.
    page.goto(base + "/")
    follow(page, "a[href='/admin/secret_keys']")
    assert page.locator("h1").inner_text() == "Secret keys"
    row = page.locator(f"tr[data-user-id='{user['id']}']")
    assert row.locator("[data-testid=key-status]").inner_text().strip() == "none"

    # Add: the confirmation page, OK has the focus; Enter confirms.
    follow(page, f"a[aria-label='Add a secret key for {target}']")
    assert page.locator("[data-testid=question]").inner_text() == (
        f"Add a secret key for {target}? An email with a reveal link will be sent."
    )
    assert messages(live_server, target) == []  # the confirmation page sent nothing
    wait_focused(page, "button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == base + "/admin/secret_keys"
    assert "reveal link was emailed" in page.locator("[data-testid=notice]").inner_text()
    assert row.locator("[data-testid=key-status]").inner_text().startswith("pending reveal")
    [mail] = messages(live_server, target)
    assert mail["subject"] == "SureCloud: Restful API Secret Key"
    first_link = LINK.search(mail["body"])
    assert first_link
    assert key_statuses(live_server, user["id"]) == ["pending_reveal"]

    # IP restrictions: one bad entry is named next to the field, the typed text kept.
    follow(page, f"a[aria-label='IP restrictions of {target}']")
    assert page.locator("[data-testid=no-restrictions]").count() == 1
    wait_focused(page, "#restrictions")
    typed = "203.0.113.7, 10.0.0.0/33"
    page.keyboard.type(typed)
    follow(page, "button[type=submit]")
    errors = page.locator("[data-testid=restrictions-errors]")
    assert "10.0.0.0/33" in errors.inner_text()
    assert "203.0.113.7" not in errors.inner_text()
    assert page.input_value("#restrictions") == typed
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(
            path=os.path.join(os.environ["SCREENSHOT_DIR"], "secret-key-restrictions.png"),
            full_page=True,
        )
    wait_focused(page, "#restrictions")
    page.keyboard.press("Control+A")
    page.keyboard.type("203.0.113.7, 10.0.0.0/8, office.example.com")
    follow(page, "button[type=submit]")
    assert page.url == base + "/admin/secret_keys"
    assert "3 entries" in page.locator("[data-testid=notice]").inner_text()
    assert "3 entries" in row.inner_text()
    follow(page, f"a[aria-label='IP restrictions of {target}']")
    entries = page.locator("[data-testid=current-entries] tbody tr").all_inner_texts()
    assert [e.split() for e in entries] == [
        ["ip", "203.0.113.7"],
        ["cidr", "10.0.0.0/8"],
        ["hostname", "office.example.com"],
    ]
    follow(page, "a.button.secondary")  # Cancel

    # Resend the link: a second mail, and a different link.
    follow(page, f"a[aria-label='Resend the reveal link to {target}']")
    assert "earlier links stop working" in page.locator("[data-testid=detail]").inner_text()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "new reveal link was emailed" in page.locator("[data-testid=notice]").inner_text()
    sent = messages(live_server, target)
    assert len(sent) == 2
    second_link = LINK.search(sent[0]["body"])
    assert second_link and second_link.group(0) != first_link.group(0)

    # Revoke: Cancel first (nothing changes), then OK.
    follow(page, f"a[aria-label='Revoke the secret key of {target}']")
    assert (
        "Every token issued with this key stops working at once."
        in page.locator("[data-testid=detail]").inner_text()
    )
    follow(page, "a.button.secondary")  # Cancel
    assert page.url == base + "/admin/secret_keys"
    assert key_statuses(live_server, user["id"]) == ["pending_reveal"]
    follow(page, f"a[aria-label='Revoke the secret key of {target}']")
    wait_focused(page, "button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "revoked" in page.locator("[data-testid=notice]").inner_text()
    assert row.locator("[data-testid=key-status]").inner_text().strip() == "none"
    assert key_statuses(live_server, user["id"]) == ["revoked"]
    page.screenshot(path=str(tmp_path / "secret-keys.png"))
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(
            path=os.path.join(os.environ["SCREENSHOT_DIR"], "secret-keys.png"), full_page=True
        )
    context.close()
