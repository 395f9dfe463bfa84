"""The database goes away under a real multi-worker server: every credential kind is answered
503, never a 401 and never a fall-through to a weaker credential (RedCloud 003.12, T8, T9).

The server reaches PostgreSQL through a TCP forwarder the test cuts, so the outage is real for
the server's workers (pooled connections reset, new ones refused) while the test still holds
one credential of every kind, obtained through the server before the cut.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import requests

from tests.support.database import ON_POSTGRES, TEST_DATABASE_URL
from tests.support.servers import PASSWORD, LiveServer, free_port, running_server, server_env
from tests.support.tcpproxy import TcpProxy
from tests.support.web import csrf_from

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ON_POSTGRES, reason="needs TEST_DATABASE_URL (PostgreSQL)"),
]

MASTER_KEY = "m" * 40
GLOBAL_KEY = "g" * 40
LINK = re.compile(r"https?://\S+(/secret_key/reveal/tgv_[A-Za-z0-9_-]+)")
DEVICE = {
    "device_id": "store-down-device",
    "device_name": "Test phone",
    "device_type": "ios",
    "os_version": "17.0",
    "app_version": "1.0.0",
}


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A fresh database for this module on the test PostgreSQL server."""
    name = f"tollgate_down_{uuid.uuid4().hex[:8]}"
    admin_url = TEST_DATABASE_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def outage(
    tmp_path_factory: pytest.TempPathFactory, database: str
) -> Iterator[tuple[LiveServer, TcpProxy]]:
    upstream = urlsplit(TEST_DATABASE_URL)
    proxy = TcpProxy((upstream.hostname or "127.0.0.1", upstream.port or 5432))
    workdir = tmp_path_factory.mktemp("store-down")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    user = upstream.username or "postgres"
    env = server_env(
        workdir,
        base_url,
        DATABASE_URL=f"postgresql://{user}@127.0.0.1:{proxy.port}/{database}?connect_timeout=3",
        MAIL_BACKEND="file",
        BREAK_GLASS_ENABLED="true",
        MASTER_KEY=MASTER_KEY,
        BREAK_GLASS_EXPIRES_AT=(datetime.now(UTC) + timedelta(days=1)).isoformat(),
    )
    live = LiveServer(base_url, env)
    # The family the global key reads is known only once its first user exists.
    owner = live_user(live, "owner@example.com")
    env["GLOBAL_API_KEY"] = GLOBAL_KEY
    env["GLOBAL_API_KEY_FAMILY_ID"] = owner["family_id"]
    with running_server(env, port, workdir / "gunicorn.log", workers=2):
        yield live, proxy
    proxy.cut()


def live_user(live: LiveServer, email: str, *extra: str) -> dict[str, Any]:
    return live.cli("users", "create", "--email", email, "--password", PASSWORD, *extra)


def _signed_in(live: LiveServer, email: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(live.base_url + "/login")
    signed = browser.post(
        live.base_url + "/login",
        data={
            "email": email,
            "password": PASSWORD,
            "next": "/",
            "csrf_token": csrf_from(page.text),
        },
        headers={"Origin": live.base_url},
    )
    assert signed.status_code in (200, 302), signed.text[:300]
    return browser


def _secret_key_jwt(live: LiveServer, email: str) -> str:
    live.cli("secretkeys", "create", "--email", email)
    [message] = live.cli("mail", "outbox", "--to", email)["messages"]
    path = LINK.search(message["body"]).group(1)  # type: ignore[union-attr]
    browser = _signed_in(live, email)
    page = browser.get(live.base_url + path)
    revealed = browser.post(
        live.base_url + path,
        data={"csrf_token": csrf_from(page.text)},
        headers={"Origin": live.base_url},
    )
    key = re.search(r'data-testid="secret-key"[^>]*value="([0-9a-f-]{36})"', revealed.text)
    assert key is not None, revealed.text[:500]
    issued = requests.post(
        live.base_url + "/api/v1/auth/token",
        headers={"Accept": "text/plain", "X-email": email, "X-client-secret": key.group(1)},
        timeout=10,
    )
    assert issued.status_code == 200, issued.text
    return issued.text


def _assertion(organization_id: str, secret: str) -> str:
    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    signing_input = (
        part({"alg": "HS256", "typ": "JWT"})
        + "."
        + part({"organizationId": organization_id, "timestamp": now})
    )
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def _credentials(live: LiveServer) -> dict[str, dict[str, str]]:
    """One credential of every kind, each checked to work before the outage."""
    url = live.base_url
    live_user(live, "member@example.com", "--role", "admin")
    live.cli("users", "grant-role", "--email", "member@example.com", "--role", "global_admin")

    mobile = requests.post(
        url + "/api/v1/auth/login",
        json={"email": "member@example.com", "password": PASSWORD, "device": DEVICE},
        timeout=10,
    ).json()
    oauth = {"Authorization": f"Bearer {mobile['access_token']}"}
    session = requests.post(
        url + "/auth/login",
        json={"email": "member@example.com", "password": PASSWORD},
        timeout=10,
    ).json()
    key = live.cli(
        "apikeys", "create", "--email", "member@example.com", "--name", "ci", "--scope", "read"
    )["key"]
    access_key = requests.post(
        url + "/api/v1/access_keys",
        json={"name": "store-down", "roles": [{"role": "global_viewer"}]},
        headers=oauth,
        timeout=10,
    )
    assert access_key.status_code == 201, access_key.text

    live_user(live, "partner@example.com", "--partner")
    partner = requests.post(
        url + "/auth/login",
        json={"email": "partner@example.com", "password": PASSWORD},
        timeout=10,
    ).json()
    organization = requests.post(
        url + "/organizations",
        json={"name": "Store-down Org"},
        headers={"Authorization": f"Bearer {partner['access_token']}"},
        timeout=10,
    ).json()
    exchanged = requests.get(
        url + "/organizations/sso",
        headers={
            "Authorization": "Bearer "
            + _assertion(organization["organizationId"], organization["ssoSecret"])
        },
        timeout=10,
    )
    assert exchanged.status_code == 200, exchanged.text

    family = live_user(live, "tenant@example.com")["family_id"]
    credentials = {
        "oauth": oauth,
        "session_token": {"Authorization": f"Bearer {session['access_token']}"},
        "secret_key": {"Authorization": f"Bearer {_secret_key_jwt(live, 'member@example.com')}"},
        "access_key": {"Authorization": f"Bearer {access_key.json()['token']}"},
        "org_admin": {"Authorization": f"Bearer {exchanged.json()['token']}"},
        "api_key": {"X-Api-Key": key},
        "global_api_key": {"X-Api-Key": GLOBAL_KEY},
        "break_glass": {
            "X-Master-Key": MASTER_KEY,
            "X-Break-Glass-Reason": "store-down drill",
            "X-Tenant-ID": family,
        },
    }
    for kind, headers in credentials.items():
        answer = requests.get(url + "/scans", headers=headers, timeout=10)
        assert answer.status_code == 200, (kind, answer.status_code, answer.text)
    return credentials


def test_every_credential_kind_is_503_when_the_database_is_down(outage) -> None:
    live, proxy = outage
    credentials = _credentials(live)
    browser = _signed_in(live, "member@example.com")
    assert browser.get(live.base_url + "/scans").status_code == 200

    proxy.cut()

    for kind, headers in credentials.items():
        for _ in range(3):  # both workers, pooled and new connections alike
            answer = requests.get(live.base_url + "/scans", headers=headers, timeout=30)
            assert answer.status_code == 503, (kind, answer.status_code, answer.text)
            assert answer.json()["error"] == "service_unavailable", kind
            assert answer.headers["X-Correlation-ID"]
    assert browser.get(live.base_url + "/scans", timeout=30).status_code == 503

    # A credential the store cannot check is never traded for a weaker one that needs no
    # store: a personal key with the global key's family, a bad master key with a good
    # global key, a bearer token with the global key.
    for first in ("api_key", "break_glass", "oauth", "session_token"):
        headers = {**credentials["global_api_key"], **credentials[first]}
        answer = requests.get(live.base_url + "/scans", headers=headers, timeout=30)
        assert answer.status_code == 503, (first, answer.status_code, answer.text)
