"""Shared set-up for the Sure-compatible first-party account API (contract §2.2-2.4, §3, §6,
§7.1, §7.3, §7.8), black box over HTTP through the Flask test client.

Tokens are always the plaintext values the server returned. The database is read to count
rows (Sure's ``assert_difference``) and written only to set a test's scene the way Sure's
fixtures do (a user, an MFA secret, an inactive account, an invite code).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.clock import utcnow
from tests.conftest import PASSWORD, UserInfo, csrf_from

SIGNUP = "/api/v1/auth/signup"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
ENABLE_AI = "/api/v1/auth/enable_ai"
RESET = "/api/v1/users/reset"
RESET_STATUS = "/api/v1/users/reset/status"
ME = "/api/v1/users/me"
MFA = "/api/v1/mfa"
ACCOUNTS = "/api/v1/accounts"  # any read endpoint: "is this credential still alive?"

# Sure's standard device payload (test/controllers/api/v1/auth_controller_test.rb).
DEVICE = {
    "device_id": "test-device-123",
    "device_name": "Test iPhone",
    "device_type": "ios",
    "os_version": "17.0",
    "app_version": "1.0.0",
}
STRONG_PASSWORD = "Str0ng&Secure!"  # passes Sure's signup policy
TOKEN_BLOCK_KEYS = {"access_token", "refresh_token", "token_type", "expires_in", "created_at"}
USER_KEYS = {"id", "email", "first_name", "last_name", "ui_layout", "ai_enabled"}
THIRTY_DAYS = 2592000
UNAUTHORIZED = {"error": "unauthorized",
                "message": "Access token or API key is invalid, expired, or missing"}
MFA_REQUIRED = {"error": "Two-factor authentication required", "mfa_required": True}
INVALID_CREDENTIALS = {"error": "Invalid email or password"}
DEVICE_REQUIRED = {"error": "Device information is required"}
INVALID_REFRESH = {"error": "Invalid refresh token"}
THROTTLED = {"error": "Rate limit exceeded. Try again later."}
HEX16 = re.compile(r"^[0-9a-f]{16}$")
HEX8 = re.compile(r"^[0-9a-f]{8}$")

FORMATS = ("json", "form")


def device(**changes: Any) -> dict[str, Any]:
    """The standard device, with some fields changed (None removes a field)."""
    info = {**DEVICE, **changes}
    return {key: value for key, value in info.items() if value is not None}


def bracket_form(body: dict[str, Any]) -> dict[str, str]:
    """Rails' bracket notation, as Sure's Minitest suite sends it:
    ``{"user": {"email": e}}`` -> ``{"user[email]": e}``."""
    form: dict[str, str] = {}
    for key, value in body.items():
        if isinstance(value, dict):
            for inner, inner_value in value.items():
                form[f"{key}[{inner}]"] = inner_value
        elif value is not None:
            form[key] = value
    return form


def send(client: FlaskClient, path: str, body: dict[str, Any] | None = None,
         fmt: str = "json", method: str = "POST", **kwargs: Any):  # type: ignore[no-untyped-def]
    """Send ``body`` as JSON (what the Flutter app does) or as bracket-notation form data
    (what Sure's own tests do)."""
    if body is None:
        return client.open(path, method=method, **kwargs)
    if fmt == "json":
        return client.open(path, method=method, json=body, **kwargs)
    assert fmt == "form", fmt
    return client.open(path, method=method, data=bracket_form(body), **kwargs)


def signup_body(email: str = "new@example.com", password: str | None = STRONG_PASSWORD,
                device_info: dict[str, Any] | None = DEVICE, invite_code: str | None = None,
                first_name: str = "New", last_name: str = "User") -> dict[str, Any]:
    user: dict[str, Any] = {"email": email, "first_name": first_name, "last_name": last_name}
    if password is not None:
        user["password"] = password
    body: dict[str, Any] = {"user": user}
    if device_info is not None:
        body["device"] = device_info
    if invite_code is not None:
        body["invite_code"] = invite_code
    return body


def login_body(email: str, password: str = PASSWORD, device_info: dict[str, Any] | None = DEVICE,
               otp_code: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"email": email, "password": password}
    if device_info is not None:
        body["device"] = device_info
    if otp_code is not None:
        body["otp_code"] = otp_code
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_key(key: str) -> dict[str, str]:
    return {"X-Api-Key": key}


def mobile_login(client: FlaskClient, email: str, password: str = PASSWORD,
                 device_info: dict[str, Any] | None = DEVICE, otp_code: str | None = None,
                 fmt: str = "json") -> dict[str, Any]:
    """A successful mobile login; returns the body (tokens + user)."""
    response = send(client, LOGIN, login_body(email, password, device_info, otp_code), fmt)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def status_of(client: FlaskClient, headers: dict[str, str]) -> int:
    """The status a read endpoint gives this credential (200 alive, 401 dead)."""
    return client.get(ACCOUNTS, headers=headers).status_code


def assert_token_block(body: dict[str, Any]) -> None:
    """Sure's token block (§2.3, §3.9): Bearer, 30 days, integer created_at, no scope."""
    assert body["access_token"] and isinstance(body["access_token"], str)
    assert body["refresh_token"] and isinstance(body["refresh_token"], str)
    assert body["access_token"] != body["refresh_token"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == THIRTY_DAYS
    assert isinstance(body["created_at"], int) and not isinstance(body["created_at"], bool)
    assert abs(body["created_at"] - time.time()) < 120
    assert "scope" not in body


def assert_no_store(response) -> None:  # type: ignore[no-untyped-def]
    assert "no-store" in response.headers.get("Cache-Control", "")


def assert_user_object(user: dict[str, Any]) -> None:
    assert set(user) == USER_KEYS
    uuid.UUID(user["id"])
    assert user["ui_layout"] in ("dashboard", "intro")
    assert isinstance(user["ai_enabled"], bool)


# --- TOTP ------------------------------------------------------------------------------------


def _steady() -> None:
    """Stay clear of a 30-second boundary, so a code computed now is judged in the same step."""
    while time.time() % 30 > 26:
        time.sleep(0.2)


def totp_now(secret: str) -> str:
    _steady()
    return pyotp.TOTP(secret).now()


def totp_pair(secret: str) -> tuple[str, str]:
    """(previous step's code, current step's code): two codes usable one after the other
    (each step is accepted once, and never after a later one)."""
    _steady()
    totp = pyotp.TOTP(secret)
    now = time.time()
    return totp.at(now - 30), totp.at(now)


def wrong_totp(secret: str) -> str:
    _steady()
    totp = pyotp.TOTP(secret)
    now = time.time()
    valid = {totp.at(now - 30), totp.at(now), totp.at(now + 30)}
    return next(c for c in (f"{n:06d}" for n in range(1000)) if c not in valid)


@dataclass
class MfaUser:
    id: uuid.UUID
    email: str
    password: str
    family_id: uuid.UUID
    role: str
    secret: str
    backup_codes: list[str]


def enable_mfa(app: Flask, owner: UserInfo) -> MfaUser:
    from app.extensions import db
    from app.identity import mfa
    from app.identity.models import User

    with app.app_context():
        enabled = mfa.enable_immediately(db.session.get(User, owner.id), now=utcnow())
    return MfaUser(owner.id, owner.email, owner.password, owner.family_id, owner.role,
                   enabled["secret"], list(enabled["backup_codes"]))


@pytest.fixture
def mfa_user(app: Flask, user: UserInfo) -> MfaUser:
    """alice with TOTP on (secret and backup codes as `users mfa-enable` prints them)."""
    return enable_mfa(app, user)


# --- database reads (Sure's assert_difference) and scene setting ------------------------------


@pytest.fixture
def count(app: Flask) -> Callable[..., int]:
    from app.extensions import db

    def counter(model: type, *where: Any) -> int:
        with app.app_context():
            return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    return counter


@pytest.fixture
def set_user(app: Flask) -> Callable[..., None]:
    """Change a user's row directly, as Sure's tests do with ``update_column``."""
    from app.extensions import db
    from app.identity.models import User

    def setter(user_id: uuid.UUID, **values: Any) -> None:
        with app.app_context():
            row = db.session.get(User, user_id)
            assert row is not None
            for key, value in values.items():
                setattr(row, key, value)
            db.session.commit()

    return setter


@pytest.fixture
def read_user(app: Flask) -> Callable[[uuid.UUID], dict[str, Any]]:
    from app.extensions import db
    from app.identity.models import User

    def reader(user_id: uuid.UUID) -> dict[str, Any]:
        with app.app_context():
            row = db.session.get(User, user_id)
            assert row is not None
            return {"email": row.email, "active": row.active, "role": row.role,
                    "family_id": row.family_id, "ai_enabled": row.ai_enabled,
                    "otp_required": row.otp_required}

    return reader


@pytest.fixture
def make_invites(app: Flask) -> Callable[[int], list[str]]:
    """Invite codes the way `flask invites create` makes them."""
    from app.identity import services as identity

    def factory(n: int = 1) -> list[str]:
        with app.app_context():
            return identity.create_invite_codes(n, now=utcnow())

    return factory


@pytest.fixture
def make_key(app: Flask) -> Callable[..., str]:
    """A personal API key (plaintext). One active key per user and source: a second key of
    the same user needs another source."""
    from app.apikeys import services
    from app.extensions import db
    from app.identity.models import User

    counter = iter(range(1, 10_000))

    def factory(owner: UserInfo | MfaUser, scope: str = "read_write",
                source: str = "web") -> str:
        with app.app_context():
            return services.create_api_key(
                db.session.get(User, owner.id), name=f"key {next(counter)}", scope=scope,
                source=source, now=utcnow()).key

    return factory


# --- browser sessions -------------------------------------------------------------------------


def web_login(client: FlaskClient, email: str, password: str = PASSWORD,
              otp_code: str | None = None):  # type: ignore[no-untyped-def]
    page = client.get("/login")
    form = {"email": email, "password": password, "next": "/",
            "csrf_token": csrf_from(page.get_data(as_text=True))}
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
