"""Helpers for the sign-in tests through the test OpenID provider (tests/support/idp.py): a
provider configured for it, accounts here with identities there, and a browser (the Flask test
client) walking the flow (web, mobile or desktop), with the provider's pages driven by
``requests`` (sign_in_at_idp)."""

from __future__ import annotations

import uuid
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.factories import UserInfo
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


def fresh(domain: str = "jit.example") -> str:
    """An address nobody has yet (the provider keeps its users for the whole session)."""
    return f"p{uuid.uuid4().hex[:12]}@{domain}"


def linked_person(app: Flask, idp: UpstreamIdp, owner: UserInfo) -> UpstreamUser:
    """A user at the provider (another address) whose identity is already linked to ``owner``."""
    from app.clock import utcnow
    from app.extensions import db
    from app.identity.models import User
    from app.sso.services import identities
    from app.sso.services.identities import UpstreamIdentity

    person = idp.add_user(fresh("elsewhere.example"))
    with app.app_context():
        row = db.session.get(User, owner.id)
        assert row is not None
        identities.link(
            row,
            UpstreamIdentity(KEY, idp.issuer, person.sub, None, False, None, None),
            now=utcnow(),
        )
    return person


def start_on(client: FlaskClient, page_url: str, query: dict[str, Any]) -> TestResponse:
    """Open a start page (mobile or desktop) and post its form, as the system browser does."""
    page = client.get(page_url, query_string=query)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    return client.post(f"/auth/{KEY}", data={"csrf_token": csrf_from(page.get_data(as_text=True))})


def back_from_provider(
    idp: UpstreamIdp,
    started: TestResponse,
    user: UpstreamUser,
    *,
    http: requests.Session | None = None,
    action: Literal["login", "deny"] = "login",
) -> str:
    """From the app's redirect to the provider (``started``) through the provider's pages as
    ``user``: the URL the provider sends the browser back to (not followed)."""
    assert started.status_code == 302, started.get_data(as_text=True)
    return idp.sign_in_at_idp(
        http or requests.Session(),
        started.headers["Location"],
        login=user.login,
        password=user.password,
        action=action,
    )


def through_provider(
    client: FlaskClient,
    idp: UpstreamIdp,
    started: TestResponse,
    user: UpstreamUser,
    *,
    http: requests.Session | None = None,
    action: Literal["login", "deny"] = "login",
) -> TestResponse:
    """:func:`back_from_provider`, then back at our callback. Returns the callback's response
    (not followed)."""
    back = back_from_provider(idp, started, user, http=http, action=action)
    assert back.startswith(CALLBACK + "?"), back
    return client.get(path_of(back))


def sign_in(
    client: FlaskClient,
    idp: UpstreamIdp,
    user: UpstreamUser | None = None,
    *,
    http: requests.Session | None = None,
) -> TestResponse:
    """The whole web round trip: start, the provider's pages, back to the callback. Returns the
    callback's response (not followed)."""
    return through_provider(client, idp, start(client), user or idp.user, http=http)


def signed_in(client: FlaskClient) -> bool:
    """Whether the browser is signed in (the account page answers instead of the login)."""
    return client.get("/account/security").status_code == 200


def session_of(client: FlaskClient) -> dict[str, Any]:
    """The browser's Flask session, as the app stored it."""
    with client.session_transaction() as stored:
        return dict(stored)
