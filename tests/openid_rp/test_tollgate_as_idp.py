"""One Tollgate signs people in through another: server A is the OpenID Provider (its
/oauth/authorize, ID tokens, JWKS), server B the relying party with A added as a provider
(``flask sso providers add``). Two real server processes; the person is a ``requests`` session
that keeps each server's cookies, as a browser does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from tests.support.config import TEST_REDIS_URL
from tests.support.oidc_rp import sign_in_and_consent_at_tollgate
from tests.support.servers import PASSWORD, LiveServer, free_port, running_server, server_env

pytestmark = pytest.mark.slow

PROVIDER = "tollgate-a"
A_EMAIL = "ada@a.example"
B_EMAIL = "bea@b.example"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Pair:
    a: LiveServer
    b: LiveServer


@pytest.fixture
def pair(database_url: str, tmp_path: Path) -> Iterator[Pair]:
    """A on the suite's migrated database (PostgreSQL with TEST_DATABASE_URL), B on a SQLite
    file of its own."""
    workdir_a, workdir_b = tmp_path / "a", tmp_path / "b"
    workdir_a.mkdir()
    workdir_b.mkdir()
    port_a, port_b = free_port(), free_port()
    base_a, base_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    # Both listen on 127.0.0.1 and cookies ignore the port: A's session cookie gets its own
    # name, or it would overwrite B's (and B's state) in the one browser, as separate hosts
    # never would.
    env_a = server_env(
        workdir_a, base_a, SESSION_COOKIE_NAME="tollgate_a_session",
        DATABASE_URL=database_url, AUTO_MIGRATE="false", REDIS_URL=TEST_REDIS_URL or "",
    )  # fmt: skip
    # B talks to A's token endpoint over plain http on loopback: Authlib needs telling.
    env_b = server_env(workdir_b, base_b, AUTHLIB_INSECURE_TRANSPORT="1")
    with (
        running_server(env_a, port_a, workdir_a / "gunicorn.log"),
        running_server(env_b, port_b, workdir_b / "gunicorn.log"),
    ):
        a, b = LiveServer(base_a, env_a), LiveServer(base_b, env_b)
        a.cli(
            "users", "create", "--email", A_EMAIL, "--password", PASSWORD,
            "--first-name", "Ada", "--last-name", "Upstream",
        )  # fmt: skip
        b.cli("users", "create", "--email", B_EMAIL, "--password", PASSWORD)
        client = a.cli(
            "clients", "create", "--name", "Tollgate B",
            "--redirect-uri", f"{base_b}/auth/{PROVIDER}/callback",
            "--scope", "openid email profile",
        )  # fmt: skip
        b.cli(
            "sso", "providers", "add", "--key", PROVIDER, "--issuer", base_a,
            "--client-id", client["client_id"], "--client-secret", client["client_secret"],
            "--display-name", "Tollgate A",
        )  # fmt: skip
        yield Pair(a, b)


def start_at_b(browser: requests.Session, b: LiveServer) -> str:
    """B's sign-in page, its "Sign in with Tollgate A" button: the authorization URL at A."""
    page = browser.get(f"{b.base_url}/login", timeout=10)
    assert "Sign in with Tollgate A" in page.text
    started = browser.post(
        f"{b.base_url}/auth/{PROVIDER}",
        data={"csrf_token": CSRF.search(page.text).group(1), "flow": "web"},  # type: ignore[union-attr]
        allow_redirects=False,
        timeout=10,
    )
    assert started.status_code == 302, started.text
    return started.headers["Location"]


def back_at_b(browser: requests.Session, callback_url: str) -> requests.Response:
    """Follow A's redirect to B's callback (and B's own redirects)."""
    return browser.get(callback_url, timeout=10)


def signed_in_as(browser: requests.Session, b: LiveServer) -> str | None:
    """Whose session the browser holds at B (the home page names the user), or None."""
    home = browser.get(f"{b.base_url}/", timeout=10)
    if B_EMAIL in home.text:
        return B_EMAIL
    return None


def test_an_identity_from_another_tollgate_is_linked_then_signs_in_alone(pair: Pair) -> None:
    browser = requests.Session()
    authorize_url = start_at_b(browser, pair.b)
    assert authorize_url.startswith(f"{pair.a.base_url}/oauth/authorize?")
    callback = sign_in_and_consent_at_tollgate(
        browser, pair.a.base_url, authorize_url, email=A_EMAIL, password=PASSWORD
    )
    assert urlsplit(callback).path == f"/auth/{PROVIDER}/callback"

    # A vouches for ada@a.example but not that the address is verified (no email_verified), and
    # B has no account for it: B asks the person to prove an account of its own to link.
    link_page = back_at_b(browser, callback)
    assert urlsplit(link_page.url).path == "/auth/link", link_page.text[:500]
    assert A_EMAIL in unescape(link_page.text)
    assert signed_in_as(browser, pair.b) is None
    linked = browser.post(
        f"{pair.b.base_url}/auth/link",
        data={
            "csrf_token": CSRF.search(link_page.text).group(1),  # type: ignore[union-attr]
            "email": B_EMAIL,
            "password": PASSWORD,
        },
        timeout=10,
    )
    assert linked.status_code == 200 and signed_in_as(browser, pair.b) == B_EMAIL
    identities = pair.b.cli("sso", "identities", "list", "--email", B_EMAIL)
    assert [i["issuer"] for i in identities["sso_identities"]] == [pair.a.base_url]

    # A fresh browser: A's sign-in alone now leads into B's linked account, no link page.
    fresh = requests.Session()
    callback = sign_in_and_consent_at_tollgate(
        fresh, pair.a.base_url, start_at_b(fresh, pair.b), email=A_EMAIL, password=PASSWORD
    )
    landed = back_at_b(fresh, callback)
    assert urlsplit(landed.url).path == "/", landed.url
    assert signed_in_as(fresh, pair.b) == B_EMAIL


def test_a_denied_consent_at_the_provider_is_a_failure_at_the_relying_party(pair: Pair) -> None:
    browser = requests.Session()
    authorize_url = start_at_b(browser, pair.b)
    page = browser.get(authorize_url, timeout=10)  # to A's login page
    login = browser.post(
        f"{pair.a.base_url}/login",
        data={
            "email": A_EMAIL,
            "password": PASSWORD,
            "next": parse_qs(urlsplit(page.url).query)["next"][0],
            "csrf_token": CSRF.search(page.text).group(1),  # type: ignore[union-attr]
        },
        allow_redirects=False,
        timeout=10,
    )
    assert login.status_code == 302
    consent = browser.get(urljoin(pair.a.base_url, login.headers["Location"]), timeout=10)
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', consent.text))
    denied = browser.post(
        f"{pair.a.base_url}/oauth/authorize",
        data={**{k: unescape(v) for k, v in form.items()}, "confirm": "no"},
        allow_redirects=False,
        timeout=10,
    )
    assert denied.status_code == 302 and "error=access_denied" in denied.headers["Location"]
    failed = back_at_b(browser, denied.headers["Location"])
    assert urlsplit(failed.url).path == "/auth/failure", failed.url
    assert "Signing in with the provider failed." in unescape(failed.text)
    assert signed_in_as(browser, pair.b) is None
