"""The tenant's audit log page in a real Chromium against a real server, driven with the
keyboard alone: a tenant admin whose plan includes reports.export filters the log by event and
outcome (a failed sign-in), then by correlation id (a refused X-Tenant-ID probe, T6), clears
the filters, downloads the CSV export through its link and finds the export audited. A member
without audit.view gets the 403 page.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

import requests

from tests.support.browser import needs_browser, tab_to, wait_focused
from tests.support.servers import PASSWORD, ROOT, LiveServer

pytestmark = needs_browser

GRANT_EXPORT = """
import sys, uuid
from app import create_app
from app.clock import utcnow
from app.identity.tenants import set_features
app = create_app()
with app.app_context():
    set_features(uuid.UUID(sys.argv[1]), ["reports.export"], now=utcnow())
"""


def _license_exports(live_server: LiveServer, family_id: str) -> None:
    """The plan's features are platform data: set them as an operator would, on the server's
    own database."""
    done = subprocess.run(
        [sys.executable, "-c", GRANT_EXPORT, family_id],
        cwd=ROOT,
        env=live_server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _sign_in(page, base: str, email: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def _rows(page) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(event, outcome) of each table row, top to bottom."""
    rows = page.locator("table.events tbody tr")
    return [
        (rows.nth(i).get_attribute("data-event") or "", rows.nth(i).locator(".badge").inner_text())
        for i in range(rows.count())
    ]


def test_filter_and_export_the_audit_log_with_the_keyboard(browser, live_server, tmp_path) -> None:
    base = live_server.base_url
    email = "audit.keeper@example.com"
    made = live_server.cli(
        "users", "create", "--email", email, "--password", PASSWORD, "--role", "admin"
    )
    family_id = made["family_id"]
    other = live_server.cli(
        "users", "create", "--email", "audit.elsewhere@example.com", "--password", PASSWORD
    )
    _license_exports(live_server, family_id)
    key = live_server.cli(
        "apikeys", "create", "--email", email, "--name", "probe", "--scope", "read"
    )
    probe = requests.get(
        base + "/api/v1/admin/audit_events",
        headers={
            "X-Api-Key": key["key"],
            "X-Tenant-ID": other["family_id"],
            "X-Correlation-ID": "probe-e2e-1",
        },
        timeout=10,
    )
    assert probe.status_code == 403

    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    _sign_in(page, base, email, "a wrong password")  # audited as a failed sign-in
    _sign_in(page, base, email, PASSWORD)
    page.wait_for_url(base + "/")

    page.goto(base + "/admin/audit")
    assert page.locator("h1").inner_text() == "Audit log"
    events = {event for event, _ in _rows(page)}
    assert {"user.created", "api_key.created", "tenant.denied", "login"} <= events
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(
            path=os.path.join(os.environ["SCREENSHOT_DIR"], "audit-log.png"), full_page=True
        )

    # Event "login", outcome "failure", by keyboard: the event field has the focus.
    wait_focused(page, "#event")
    page.keyboard.type("login")
    page.keyboard.press("Tab")
    wait_focused(page, "#outcome")
    page.keyboard.press("ArrowDown")  # success
    page.keyboard.press("ArrowDown")  # failure
    assert page.locator("#outcome").input_value() == "failure"
    tab_to(page, "form.filters button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert _rows(page) == [("login", "failure")]
    assert "reason" in page.locator("table.events td.details").inner_text()
    assert page.locator("#event").input_value() == "login"

    # Clear, then the refused probe by its correlation id (Enter submits from a text field).
    tab_to(page, "form.filters a")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#event").input_value() == ""
    tab_to(page, "#correlation_id")
    page.keyboard.type("probe-e2e-1")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert _rows(page) == [("tenant.denied", "denied")]
    details = page.locator("table.events td.details").inner_text()
    assert other["family_id"] in details

    # The CSV export of what is shown, downloaded through its link.
    tab_to(page, "[data-testid=exports] a[data-format=csv]")
    with page.expect_download() as download_info:
        page.keyboard.press("Enter")
    download = download_info.value
    assert download.suggested_filename.startswith("audit-events-")
    assert download.suggested_filename.endswith(".csv")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert [(row["event"], row["correlation_id"]) for row in rows] == [
        ("tenant.denied", "probe-e2e-1")
    ]

    # The export is in the log now.
    page.goto(base + "/admin/audit?event=audit_log.exported")
    assert _rows(page) == [("audit_log.exported", "success")]
    assert "csv" in page.locator("table.events td.details").inner_text()
    context.close()


def test_a_member_without_audit_view_gets_the_403_page(browser, live_server) -> None:
    email = "audit.member@example.com"
    live_server.cli("users", "create", "--email", email, "--password", PASSWORD)
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, live_server.base_url, email, PASSWORD)
    response = page.goto(live_server.base_url + "/admin/audit")
    assert response is not None and response.status == 403
    assert "Only users who may view the audit log can open it." in page.content()
    context.close()
