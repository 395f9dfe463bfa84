"""Signing in through an external OpenID provider in a real Chromium: the sign-in page's
"Sign in with …" button, the provider's own pages (panva's oidc-provider, tests/support/idp.py),
and back: a new account (JIT), and linking an existing account by signing in to it. The
Tollgate server is a real gunicorn with its providers in the environment (SSO_PROVIDERS as a
JSON array, as an operator would set it)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.support.browser import needs_browser
from tests.support.idp import UpstreamIdp
from tests.support.servers import PASSWORD, LiveServer, free_port, running_server, server_env

pytestmark = needs_browser


@pytest.fixture(scope="module")
def sso_server(
    tmp_path_factory: pytest.TempPathFactory, upstream_idp: UpstreamIdp
) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("sso-live")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    common = {
        "issuer": upstream_idp.issuer,
        "client_id": upstream_idp.client_id,
        "client_secret": upstream_idp.client_secret,
    }
    providers = [
        {"key": "idp", "display_name": "Test IdP", **common},
        {"key": "upstream", "display_name": "Corporate SSO", "jit_mode": "link_only", **common},
    ]
    upstream_idp.allow_redirect_uris(
        f"{base_url}/auth/idp/callback", f"{base_url}/auth/upstream/callback"
    )
    env = server_env(workdir, base_url, SSO_PROVIDERS=json.dumps(providers))
    with running_server(env, port, workdir / "gunicorn.log"):
        yield LiveServer(base_url, env)


def _at_the_provider(page, login: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_selector("form#login")
    page.fill("form#login input[name=login]", login)
    page.fill("form#login input[name=password]", password)
    page.click("form#login button[type=submit]")
    page.wait_for_selector("form#consent")
    page.click("form#consent button[type=submit]")


def test_a_new_person_signs_in_with_the_provider(browser, sso_server, upstream_idp) -> None:
    person = upstream_idp.add_user(f"b{uuid.uuid4().hex[:8]}@browser.example")
    context = browser.new_context()
    page = context.new_page()
    page.goto(sso_server.base_url + "/login")
    page.click("text=Sign in with Test IdP")
    assert page.url.startswith(upstream_idp.issuer)
    _at_the_provider(page, person.login, person.password)
    page.wait_for_url(sso_server.base_url + "/")
    assert page.locator("h1").inner_text() == "Signed in"
    assert page.locator("p strong").first.inner_text() == person.email
    context.close()


def test_linking_an_existing_account_then_signing_in_with_the_provider_alone(
    browser, sso_server, upstream_idp
) -> None:
    email = f"e{uuid.uuid4().hex[:8]}@tollgate.example"
    sso_server.cli("users", "create", "--email", email, "--password", PASSWORD)
    person = upstream_idp.add_user(f"u{uuid.uuid4().hex[:8]}@corp.example")
    context = browser.new_context()
    page = context.new_page()
    page.goto(sso_server.base_url + "/login")
    page.click("text=Sign in with Corporate SSO")
    _at_the_provider(page, person.login, person.password)
    page.wait_for_url(sso_server.base_url + "/auth/link")
    assert page.locator("h1").inner_text() == "Link your Corporate SSO account"
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "wrong password")
    page.click("text=Sign in and link")
    assert page.locator(".error").inner_text() == "Invalid email or password."
    page.fill("input[name=password]", PASSWORD)
    page.click("text=Sign in and link")
    page.wait_for_url(sso_server.base_url + "/")

    # Signed out, the provider alone signs the same account in (its session skips its pages).
    assert page.locator("p strong").first.inner_text() == email
    page.click("text=Sign out")
    page.wait_for_url("**/login")
    page.click("text=Sign in with Corporate SSO")
    page.wait_for_url(sso_server.base_url + "/")
    assert page.locator("h1").inner_text() == "Signed in"
    assert page.locator("p strong").first.inner_text() == email
    context.close()
