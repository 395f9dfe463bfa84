"""The Reveal Secret page in a real Chromium against a real gunicorn: the mailed link, sign-in
and return, a keyboard-only confirmation (the form posts with ``Origin: null`` under the
page's no-referrer policy), the key shown once with a working copy button, 410 afterwards, a
JWT from the token endpoint, and no reveal-link token in gunicorn's access log."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.browser import needs_browser
from tests.support.servers import PASSWORD, LiveServer, free_port, running_server, server_env

pytestmark = needs_browser
LINK = re.compile(r"(https?://\S+/secret_key/reveal/(tgv_[A-Za-z0-9_-]+))")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    workdir = tmp_path_factory.mktemp("reveal")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_env(workdir, base_url, MAIL_BACKEND="file")
    log = workdir / "gunicorn.log"
    with running_server(env, port, log, extra_args=("--access-logfile", "-")):
        yield LiveServer(base_url, env), str(log)


def test_reveal_in_chromium(server, browser) -> None:  # type: ignore[no-untyped-def]
    live, log_path = server
    email = f"reveal-{uuid.uuid4().hex[:8]}@example.com"
    live.cli("users", "create", "--email", email, "--password", PASSWORD, "--first-name", "Rae")
    created = live.cli("secretkeys", "create", "--email", email)
    assert created["status"] == "pending_reveal"
    [message] = live.cli("mail", "outbox", "--to", email)["messages"]
    assert message["subject"] == "SureCloud: Restful API Secret Key"
    link, link_token = LINK.search(message["body"]).groups()  # type: ignore[union-attr]
    assert link.startswith(live.base_url)

    # The one Chromium of the run (tests/e2e/conftest.py): Playwright's sync API allows one.
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    posted: list[dict[str, str]] = []
    page.on(
        "request",
        lambda request: posted.append(request.headers) if request.method == "POST" else None,
    )
    page.goto(link)
    assert urlsplit(page.url).path == "/login"  # signed out: sign in first, then come back
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(link)
    assert page.locator("h1").inner_text() == "Reveal Secret"

    page.keyboard.press("Enter")  # the confirm button has the focus: keyboard alone
    page.wait_for_selector("[data-testid=secret-key]")
    key = page.input_value("[data-testid=secret-key]")
    assert uuid.UUID(key).version == 4
    assert posted[-1].get("origin") == "null"  # what no-referrer does to a form POST
    assert "referer" not in posted[-1]

    page.click("#copy-secret-key")
    # A locator wait, not wait_for_function: the page's CSP (no 'unsafe-eval') refuses the
    # string-to-function evaluation that wait_for_function needs.
    page.locator("#copy-status").filter(has_text=re.compile(r"\S")).wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == key

    page.goto(link)
    assert page.locator("[data-error=reveal_link_gone]").count() == 1
    context.close()

    issued = requests.post(
        live.base_url + "/api/v1/auth/token",
        headers={"Accept": "text/plain", "X-email": email, "X-client-secret": key},
        timeout=10,
    )
    assert issued.status_code == 200, issued.text
    tasks = requests.get(
        live.base_url + "/api/v1/tasks",
        headers={"Authorization": f"Bearer {issued.text}"},
        timeout=10,
    )
    assert tasks.status_code == 200, tasks.text

    logged = Path(log_path).read_text()
    assert "/secret_key/reveal/tgv_[redacted]" in logged
    assert link_token not in logged
    assert key not in logged
