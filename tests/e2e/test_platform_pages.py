"""The platform super-admin pages in a real Chromium against a real server with break-glass
on: the break-glass status page (state, expiry, permissions, use in the last hour — never the
key), then, by keyboard, the tenants page (every tenant with its user count); everything from
this server, nothing from a CDN; a tenant admin gets a 403 page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.breakglass.helpers import MASTER_KEY, expiry
from tests.support.browser import needs_browser, tab_to
from tests.support.servers import PASSWORD, LiveServer, free_port, running_server, server_env

pytestmark = needs_browser

OPERATOR = "platform.operator@example.com"
EXPIRES_AT = expiry(days=2)


@pytest.fixture(scope="module")
def platform_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("platform")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_env(
        workdir,
        base_url,
        BREAK_GLASS_ENABLED="true",
        MASTER_KEY=MASTER_KEY,
        BREAK_GLASS_EXPIRES_AT=EXPIRES_AT,
        BREAK_GLASS_PERMISSIONS="tags.view,audit.view",
    )
    with running_server(env, port, workdir / "gunicorn.log"):
        yield LiveServer(base_url, env)


def _sign_in(browser: Any, base: str, email: str) -> tuple[Any, Any]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    return context, page


def test_a_super_admin_sees_the_break_glass_state_and_the_tenants(
    browser, platform_server: LiveServer, tmp_path: Path
) -> None:
    base = platform_server.base_url
    operator = platform_server.cli(
        "users", "create", "--email", OPERATOR, "--password", PASSWORD, "--role", "super_admin"
    )
    tenant = platform_server.cli(
        "users", "create", "--email", "acme.admin@example.com", "--password", PASSWORD,
        "--role", "admin",
    )  # fmt: skip
    used = requests.get(
        base + "/api/v1/tags",
        headers={
            "X-Master-Key": MASTER_KEY,
            "X-Tenant-ID": tenant["family_id"],
            "X-Break-Glass-Reason": "INC-12: browser proof",
        },
        timeout=10,
    )
    assert used.status_code == 200, used.text

    context, page = _sign_in(browser, base, OPERATOR)
    foreign: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base) else foreign.append(r.url))
    page.goto(base + "/platform/break_glass")
    assert page.locator("h1").inner_text() == "Break-glass master key"
    assert page.get_by_test_id("enabled").inner_text() == "yes"
    assert page.get_by_test_id("active").inner_text() == "active"
    assert page.locator("[data-testid=expires-at] time").get_attribute("datetime") == EXPIRES_AT
    assert page.get_by_test_id("permissions").locator("li").all_inner_texts() == [
        "audit.view",
        "tags.view",
    ]
    assert page.get_by_test_id("tenants").inner_text() == "any active tenant of this region"
    assert page.get_by_test_id("requests-last-hour").inner_text() == "1"
    assert MASTER_KEY not in page.content()
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], "break-glass.png"))

    # To the tenants page with the keyboard.
    tab_to(page, "a[href='/platform/tenants']")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == base + "/platform/tenants"
    assert page.locator("h1").inner_text() == "Tenants"
    row = page.locator(f"tr[data-tenant-id='{tenant['family_id']}']")
    assert row.count() == 1
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == tenant["family_id"]
    assert cells[1:4] == ["family", "default", "—"]
    assert cells[4:] == ["active", "1"]
    assert page.locator(f"tr[data-tenant-id='{operator['family_id']}']").count() == 1
    page.screenshot(path=str(tmp_path / "tenants.png"))
    assert foreign == []  # server-rendered, no CDN
    context.close()


def test_a_tenant_admin_gets_a_403_page(browser, platform_server: LiveServer) -> None:
    email = "tenant.admin@example.com"
    platform_server.cli(
        "users", "create", "--email", email, "--password", PASSWORD, "--role", "admin"
    )
    context, page = _sign_in(browser, platform_server.base_url, email)
    for path in ("/platform/break_glass", "/platform/tenants"):
        response = page.goto(platform_server.base_url + path)
        assert response is not None and response.status == 403
        assert "Only platform super-admins can do this" in page.content()
    context.close()
