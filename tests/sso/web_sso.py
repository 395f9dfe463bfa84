"""Helpers for the web sign-in tests: a provider configured for the test OpenID provider
(tests/support/idp.py), and a browser (the Flask test client) walking the flow, with the
provider's pages driven by ``requests`` (sign_in_at_idp)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.idp import UpstreamIdp, UpstreamUser
from tests.support.web import csrf_from

APP_URL = "https://auth.tollgate.test"
KEY = "idp"
CALLBACK = f"{APP_URL}/auth/{KEY}/callback"


def configure(app: Flask, idp: UpstreamIdp, **fields: Any) -> dict[str, Any]:
    """The test provider in the instance config (SSO_PROVIDERS), as an operator writes it."""
    idp.allow_redirect_uris(CALLBACK)
    entry = {
        "key": KEY,
        "display_name": "Test IdP",
        "issuer": idp.issuer,
        "client_id": idp.client_id,
        "client_secret": idp.client_secret,
        **fields,
    }
    app.config["SSO_PROVIDERS"] = [entry]
    return entry


def start(client: FlaskClient, key: str = KEY) -> TestResponse:
    """Press "Sign in with …" on the sign-in page."""
    page = client.get("/login")
    csrf = csrf_from(page.get_data(as_text=True))
    return client.post(f"/auth/{key}", data={"csrf_token": csrf, "flow": "web"})


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def sign_in(
    client: FlaskClient,
    idp: UpstreamIdp,
    user: UpstreamUser | None = None,
    *,
    http: requests.Session | None = None,
) -> TestResponse:
    """The whole round trip: start, the provider's pages, back to the callback. Returns the
    callback's response (not followed)."""
    started = start(client)
    assert started.status_code == 302, started.get_data(as_text=True)
    user = user or idp.user
    back = idp.sign_in_at_idp(
        http or requests.Session(),
        started.headers["Location"],
        login=user.login,
        password=user.password,
    )
    assert back.startswith(CALLBACK + "?"), back
    return client.get(path_of(back))


def signed_in(client: FlaskClient) -> bool:
    """Whether the browser is signed in (the account page answers instead of the login)."""
    return client.get("/account/security").status_code == 200
