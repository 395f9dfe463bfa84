"""Independent OAuth client libraries against a real server process: discovery -> login ->
consent -> code (PKCE S256) -> token -> refresh -> revoke."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from requests_oauthlib import OAuth2Session as OAuthlibSession

from tests.support.servers import PASSWORD, REDIRECT_URI

pytestmark = pytest.mark.slow

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture(autouse=True)
def _plain_http_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # Both libraries refuse http:// unless told; the server here is on loopback only.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def browser_consent(base_url: str, authorization_url: str, email: str) -> str:
    """What a person does in the browser: sign in, approve. Returns the redirect back."""
    browser = requests.Session()
    first = browser.get(authorization_url, allow_redirects=False, timeout=10)
    assert first.status_code == 302 and "/login?next=" in first.headers["Location"]
    login_url = urljoin(base_url, first.headers["Location"])
    page = browser.get(login_url, timeout=10).text
    next_path = parse_qs(urlsplit(login_url).query)["next"][0]
    signed_in = browser.post(
        urljoin(base_url, "/login"),
        data={
            "email": email,
            "password": PASSWORD,
            "next": next_path,
            "csrf_token": CSRF.search(page).group(1),
        },
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 302
    consent = browser.get(urljoin(base_url, signed_in.headers["Location"]), timeout=10)
    assert consent.status_code == 200 and 'name="confirm" value="yes"' in consent.text
    form = dict(HIDDEN.findall(consent.text))
    decision = browser.post(
        urljoin(base_url, "/oauth/authorize"),
        data={**form, "confirm": "yes"},
        allow_redirects=False,
        timeout=10,
    )
    assert decision.status_code == 302
    return decision.headers["Location"]


def test_authlib_client_full_journey(live_server, live_user, live_client) -> None:
    base = live_server.base_url
    metadata = requests.get(base + "/.well-known/oauth-authorization-server", timeout=10).json()
    assert metadata["issuer"] == base

    session = AuthlibSession(
        live_client["client_id"],
        live_client["client_secret"],
        scope="read_write",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = generate_token(64)
    url, state = session.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier
    )
    callback = browser_consent(base, url, live_user["email"])
    params = parse_qs(urlsplit(callback).query)
    assert params["state"] == [state] and params["iss"] == [base]

    token = session.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    assert token["token_type"] == "Bearer" and token["scope"] == "read_write"
    info = session.get(base + "/oauth/token/info", timeout=10)
    assert info.status_code == 200
    assert info.json()["resource_owner_id"] == live_user["id"]

    old_refresh = token["refresh_token"]
    refreshed = session.refresh_token(metadata["token_endpoint"])
    assert refreshed["refresh_token"] != old_refresh
    assert session.get(base + "/oauth/token/info", timeout=10).status_code == 200

    revoked = session.revoke_token(
        metadata["revocation_endpoint"],
        token=refreshed["refresh_token"],
        token_type_hint="refresh_token",
    )
    assert revoked.status_code == 200
    after = session.get(base + "/oauth/token/info", timeout=10)
    assert after.status_code == 401
    assert 'error="invalid_token"' in after.headers["WWW-Authenticate"]


def test_requests_oauthlib_client_full_journey(live_server, live_user, live_client) -> None:
    base = live_server.base_url
    metadata = requests.get(base + "/.well-known/oauth-authorization-server", timeout=10).json()
    session = OAuthlibSession(
        live_client["client_id"], redirect_uri=REDIRECT_URI, scope=["read"], pkce="S256"
    )
    url, state = session.authorization_url(metadata["authorization_endpoint"])
    callback = browser_consent(base, url, live_user["email"])
    assert parse_qs(urlsplit(callback).query)["state"] == [state]
    token = session.fetch_token(
        metadata["token_endpoint"],
        authorization_response=callback,
        client_secret=live_client["client_secret"],
    )
    assert token["scope"] == ["read"]
    assert session.get(base + "/oauth/token/info", timeout=10).json()["scope"] == ["read"]

    auth = (live_client["client_id"], live_client["client_secret"])
    refreshed = session.refresh_token(metadata["token_endpoint"], auth=auth)
    assert refreshed["access_token"] != token["access_token"]
    # The rotated-out refresh token is dead, and presenting it kills the whole lineage.
    replay = requests.post(
        metadata["token_endpoint"],
        auth=auth,
        timeout=10,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
    )
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    introspection = requests.post(
        metadata["introspection_endpoint"],
        auth=auth,
        timeout=10,
        data={"token": refreshed["access_token"]},
    )
    assert introspection.json() == {"active": False}
