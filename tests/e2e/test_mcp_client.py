"""The official MCP Python SDK's OAuth client (``mcp.client.auth.OAuthClientProvider``, an
httpx auth) against a real server process, unmodified: a call to a protected route gets the
401, the SDK follows ``resource_metadata`` (RFC 9728) to the authorization server's metadata
(RFC 8414), registers itself (RFC 7591), runs the code flow with PKCE and ``resource``
(RFC 8707) and retries the call with its new token. The person in the middle (sign in,
approve) is played with requests, as in test_real_clients."""

from __future__ import annotations

import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import anyio
import httpx2
import pytest
import requests
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from tests.support.servers import PASSWORD, LiveServer

pytestmark = pytest.mark.slow

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
CALLBACK = "http://127.0.0.1:33418/callback"  # loopback: never listened on, only parsed


class MemoryStorage:
    """The SDK's TokenStorage protocol, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def person_approves(base_url: str, authorization_url: str, email: str) -> str:
    """Sign in and approve in a browser-like session; returns the redirect back. Hidden
    fields are kept as pairs: ``resource`` may repeat."""
    browser = requests.Session()
    first = browser.get(authorization_url, allow_redirects=False, timeout=10)
    assert first.status_code == 302 and "/login?next=" in first.headers["Location"]
    login_url = urljoin(base_url, first.headers["Location"])
    page = browser.get(login_url, timeout=10).text
    signed_in = browser.post(
        urljoin(base_url, "/login"),
        data={
            "email": email,
            "password": PASSWORD,
            "next": parse_qs(urlsplit(login_url).query)["next"][0],
            "csrf_token": CSRF.search(page).group(1),  # type: ignore[union-attr]
        },
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 302
    consent = browser.get(urljoin(base_url, signed_in.headers["Location"]), timeout=10)
    assert consent.status_code == 200 and 'name="confirm" value="yes"' in consent.text
    decision = browser.post(
        urljoin(base_url, "/oauth/authorize"),
        data=[*HIDDEN.findall(consent.text), ("confirm", "yes")],
        allow_redirects=False,
        timeout=10,
    )
    assert decision.status_code == 302
    return decision.headers["Location"]


def stored_audience(live_server: LiveServer) -> list[Any]:
    """The audience column of every issued token, read from the server's own database."""
    path = Path(live_server.env["DATABASE_URL"].removeprefix("sqlite:///"))
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT audience FROM oauth2_tokens")]


def test_the_mcp_sdk_completes_the_flow_unmodified(
    live_server: LiveServer, live_user: dict[str, Any]
) -> None:
    base = live_server.base_url
    seen: list[httpx2.Request] = []
    answers: list[tuple[str, str, int]] = []
    redirect: dict[str, str] = {}

    async def redirect_handler(authorization_url: str) -> None:
        redirect["location"] = await anyio.to_thread.run_sync(
            person_approves, base, authorization_url, live_user["email"]
        )
        redirect["authorization_url"] = authorization_url

    async def callback_handler() -> AuthorizationCodeResult:
        query = {k: v[0] for k, v in parse_qs(urlsplit(redirect["location"]).query).items()}
        return AuthorizationCodeResult(
            code=query["code"], state=query.get("state"), iss=query.get("iss")
        )

    async def on_request(request: httpx2.Request) -> None:
        seen.append(request)

    async def on_response(response: httpx2.Response) -> None:
        request = response.request
        answers.append((request.method, request.url.path, response.status_code))

    provider = OAuthClientProvider(
        server_url=f"{base}/api/v1",
        client_metadata=OAuthClientMetadata(
            client_name="MCP SDK test client",
            redirect_uris=[CALLBACK],  # type: ignore[list-item]
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=MemoryStorage(),
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )

    async def main() -> httpx2.Response:
        async with httpx2.AsyncClient(
            auth=provider,
            timeout=30,
            event_hooks={"request": [on_request], "response": [on_response]},
        ) as http:
            return await http.get(f"{base}/api/v1/auth/me")

    # On a thread of its own: in the slow run, Playwright's sync API (the browser suites of
    # the same process) keeps an asyncio loop running on the main thread, and anyio.run
    # refuses to start a second one there.
    with ThreadPoolExecutor(max_workers=1) as runner:
        response = runner.submit(anyio.run, main).result(timeout=120)

    # The retried call succeeded, as the signed-in user.
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == live_user["email"]

    # The SDK's path: 401 -> RFC 9728 -> RFC 8414 -> register -> token -> retry.
    steps = [(method, path, status) for method, path, status in answers]
    assert steps[0] == ("GET", "/api/v1/auth/me", 401)
    assert ("GET", "/.well-known/oauth-protected-resource", 200) in steps
    assert ("GET", "/.well-known/oauth-authorization-server", 200) in steps
    assert ("POST", "/register", 201) in steps
    assert ("POST", "/oauth/token", 200) in steps
    assert steps[-1] == ("GET", "/api/v1/auth/me", 200)
    order = [path for _, path, _ in steps]
    assert (
        order.index("/.well-known/oauth-protected-resource")
        < order.index("/.well-known/oauth-authorization-server")
        < order.index("/register")
        < order.index("/oauth/token")
    )

    # It sent the resource the metadata names, with PKCE, at both endpoints (RFC 8707) ...
    authorization = parse_qs(urlsplit(redirect["authorization_url"]).query)
    assert authorization["resource"] == [base]
    assert authorization["code_challenge_method"] == ["S256"]
    token_request = next(r for r in seen if r.url.path == "/oauth/token")
    token_form = parse_qs(token_request.content.decode())
    assert token_form["resource"] == [base]
    assert "code_verifier" in token_form
    # ... and the token it got is bound to that audience.
    assert stored_audience(live_server)[-1] == base
