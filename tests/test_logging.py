"""No log record, at any level, carries a credential: logging is set to DEBUG everywhere
(root and Authlib, whose grants log every issued token response at DEBUG), the main flows
run, and every captured record is searched for the secrets they handled."""

from __future__ import annotations

import logging
import re

import pyotp
import pytest

from tests.support.factories import PASSWORD
from tests.support.oauth import authorize, exchange_code, introspect, refresh
from tests.support.sure import LOGIN, REFRESH, SIGNUP, STRONG_PASSWORD, login_body, signup_body
from tests.support.web import login

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """DEBUG for the root logger and for Authlib explicitly (as a deployer chasing a bug
    would), set after the app exists so nothing of ours can raise it again."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="authlib")
    caplog.set_level(logging.DEBUG, logger="authlib.oauth2.rfc6749.grants.authorization_code")
    return caplog


def _texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    texts = []
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
        texts.append(str(record.msg))
        if record.exc_text:
            texts.append(record.exc_text)
    return texts


def test_no_log_record_carries_a_credential(app, client, make_user, make_client, debug_logs):
    secrets: dict[str, str] = {}
    user = make_user(email="logs@example.com")
    secrets["password"] = user.password

    # authorization code + PKCE, refresh, introspection, revocation
    web = make_client(name="Web App")
    secrets["client_secret"] = web.client_secret or ""
    assert login(client, user.email, user.password).status_code == 302
    auth = authorize(client, web, scope="read_write")
    secrets["code"] = auth.code
    secrets["code_verifier"] = auth.verifier
    issued = exchange_code(client, web, auth).get_json()
    secrets["access_token"] = issued["access_token"]
    secrets["refresh_token"] = issued["refresh_token"]
    rotated = refresh(client, web, issued["refresh_token"]).get_json()
    secrets["rotated_access_token"] = rotated["access_token"]
    secrets["rotated_refresh_token"] = rotated["refresh_token"]
    assert introspect(client, web, rotated["access_token"]).get_json()["active"] is True

    # API key creation (from the browser session) and use
    csrf = CSRF_RE.search(client.get("/").get_data(as_text=True))
    assert csrf
    created = client.post(
        "/api/v1/api_keys",
        json={"name": "logged", "scopes": ["read"]},
        headers={"X-CSRFToken": csrf.group(1)},
    )
    assert created.status_code == 201, created.get_json()
    secrets["api_key"] = created.get_json()["key"]
    assert (
        client.get("/api/v1/accounts", headers={"X-Api-Key": secrets["api_key"]}).status_code == 200
    )
    assert (
        client.post(
            "/oauth/revoke", data={"token": rotated["refresh_token"]}, headers=web.basic_auth
        ).status_code
        == 200
    )

    # the password grant (first-party client)
    first = make_client(name="First", grant_types=["password", "refresh_token"], first_party=True)
    secrets["first_party_secret"] = first.client_secret or ""
    grant = client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": user.email,
            "password": PASSWORD,
            "scope": "read",
        },
        headers=first.basic_auth,
    ).get_json()
    secrets["password_grant_access"] = grant["access_token"]
    secrets["password_grant_refresh"] = grant["refresh_token"]

    # Sure: signup, login, refresh
    signup = client.post(SIGNUP, json=signup_body("sure-logs@example.com")).get_json()
    secrets["signup_password"] = STRONG_PASSWORD
    secrets["signup_access"] = signup["access_token"]
    secrets["signup_refresh"] = signup["refresh_token"]
    sure = client.post(LOGIN, json=login_body("sure-logs@example.com", STRONG_PASSWORD)).get_json()
    secrets["sure_access"] = sure["access_token"]
    secrets["sure_refresh"] = sure["refresh_token"]
    again = client.post(REFRESH, json={"refresh_token": sure["refresh_token"]}).get_json()
    secrets["sure_refreshed_access"] = again["access_token"]
    secrets["sure_refreshed_refresh"] = again["refresh_token"]

    # MFA enrolment through the JSON API (a first-party device token)
    bearer = {"Authorization": f"Bearer {again['access_token']}"}
    started = client.post(
        "/api/v1/mfa/enrolment", json={"password": STRONG_PASSWORD}, headers=bearer
    )
    assert started.status_code == 200, started.get_json()
    secrets["totp_secret"] = started.get_json()["secret"]
    confirmed = client.post(
        "/api/v1/mfa/enrolment/confirm",
        headers=bearer,
        json={"code": pyotp.TOTP(secrets["totp_secret"]).now()},
    )
    assert confirmed.status_code == 200, confirmed.get_json()
    for n, code in enumerate(confirmed.get_json()["backup_codes"]):
        secrets[f"backup_code_{n}"] = code

    texts = _texts(debug_logs)
    # the capture works, and Authlib really logged at DEBUG
    assert any(
        r.name.startswith("authlib") and r.levelno == logging.DEBUG for r in debug_logs.records
    )
    assert any("Issue token" in t for t in texts)
    leaks = {name for name, value in secrets.items() if value for text in texts if value in text}
    assert not leaks, f"logged: {sorted(leaks)}"
