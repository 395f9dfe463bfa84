"""The OAuth 2.0 authorization code flow (with PKCE), refresh and introspection, driven through
the Flask test client as a signed-in browser and its client app would."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.factories import ClientInfo
from tests.support.web import csrf_from


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Authorized:
    code: str
    verifier: str
    state: str
    location: str


def authorize(
    client: FlaskClient,
    oauth: ClientInfo,
    *,
    scope: str | None = "read",
    approve: bool = True,
    **extra: str,
) -> Authorized:
    """Drive the consent page as a signed-in browser would; returns the code."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(12)
    params = {
        "response_type": "code",
        "client_id": oauth.client_id,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if oauth.redirect_uri:
        params["redirect_uri"] = oauth.redirect_uri
    if scope:
        params["scope"] = scope
    params.update(extra)
    page = client.get("/oauth/authorize", query_string=params)
    assert page.status_code == 200, page.get_data(as_text=True)
    form = {
        **params,
        "csrf_token": csrf_from(page.get_data(as_text=True)),
        "confirm": "yes" if approve else "no",
    }
    response = client.post("/oauth/authorize", data=form)
    assert response.status_code == 302
    location = response.headers["Location"]
    return Authorized(query_of(location).get("code", ""), verifier, state, location)


def exchange_code(
    client: FlaskClient, oauth: ClientInfo, auth: Authorized, **extra: str
) -> TestResponse:
    data = {"grant_type": "authorization_code", "code": auth.code, "code_verifier": auth.verifier}
    if oauth.redirect_uri:
        data["redirect_uri"] = oauth.redirect_uri
    headers = {}
    if oauth.client_secret:
        headers = oauth.basic_auth
    else:
        data["client_id"] = oauth.client_id
    data.update(extra)
    return client.post("/oauth/token", data=data, headers=headers)


def refresh(
    client: FlaskClient, oauth: ClientInfo, refresh_token: str, **extra: str
) -> TestResponse:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    headers = {}
    if oauth.client_secret:
        headers = oauth.basic_auth
    else:
        data["client_id"] = oauth.client_id
    return client.post("/oauth/token", data=data, headers=headers)


def introspect(client: FlaskClient, oauth: ClientInfo, token: str) -> TestResponse:
    return client.post("/oauth/introspect", data={"token": token}, headers=oauth.basic_auth)
