"""A browser on the server-rendered pages, through the Flask test client: CSRF tokens and the
sign-in form."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.factories import PASSWORD
from tests.support.sure import MFA

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no csrf_token"
    return match.group(1)


def login(
    client: FlaskClient,
    email: str,
    password: str = PASSWORD,
    next_path: str = "/",
    *,
    otp_code: str | None = None,
) -> TestResponse:
    """Post the sign-in form (with a TOTP or backup code when given)."""
    page = client.get("/login")
    form = {
        "email": email,
        "password": password,
        "next": next_path,
        "csrf_token": csrf_from(page.get_data(as_text=True)),
    }
    if otp_code is not None:
        form["otp_code"] = otp_code
    return client.post("/login", data=form)


def session_csrf(client: FlaskClient) -> str:
    """The CSRF token of a signed-in browser (from the account security page)."""
    page = client.get("/account/security")
    assert page.status_code == 200
    return csrf_from(page.get_data(as_text=True))


def signed_in_as(client: FlaskClient) -> bool:
    """Whether this browser is still signed in (the session-authenticated MFA status)."""
    status = client.get(MFA).status_code
    assert status in (200, 401)
    return status == 200
