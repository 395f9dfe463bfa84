"""Sure's wire contract, as its clients see it: paths, the standard device, request bodies, the
exact error envelopes, and assertions on the token block and the user object (contract §2.2-2.4,
§3, §6, §7)."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.factories import PASSWORD
from tests.support.http import error_body, send

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
USER_KEYS = {"id", "email", "first_name", "last_name", "ui_layout", "ai_enabled"}
THIRTY_DAYS = 2592000
HEX16 = re.compile(r"^[0-9a-f]{16}$")
HEX8 = re.compile(r"^[0-9a-f]{8}$")

# --- error envelopes ---------------------------------------------------------------------------

UNAUTHORIZED = {
    "error": "unauthorized",
    "message": "Access token or API key is invalid, expired, or missing",
}
NOT_FOUND = {"error": "record_not_found", "message": "The requested resource was not found"}
BAD_REQUEST = {"error": "bad_request", "message": "Required parameters are missing or invalid"}
MFA_REQUIRED = {"error": "Two-factor authentication required", "mfa_required": True}
INVALID_CREDENTIALS = {"error": "Invalid email or password"}
DEVICE_REQUIRED = {"error": "Device information is required"}
INVALID_REFRESH = {"error": "Invalid refresh token"}
THROTTLED = {"error": "Rate limit exceeded. Try again later."}


def insufficient_scope(scope: str) -> dict[str, str]:
    return {"error": "insufficient_scope", "message": f"This action requires the '{scope}' scope"}


def assert_error(response: TestResponse, status: int, body: dict[str, Any]) -> None:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert error_body(response) == body


# --- request bodies ----------------------------------------------------------------------------


def device(**changes: Any) -> dict[str, Any]:
    """The standard device, with some fields changed (None removes a field)."""
    info = {**DEVICE, **changes}
    return {key: value for key, value in info.items() if value is not None}


def signup_body(
    email: str = "new@example.com",
    password: str | None = STRONG_PASSWORD,
    device_info: dict[str, Any] | None = DEVICE,
    invite_code: str | None = None,
    first_name: str = "New",
    last_name: str = "User",
) -> dict[str, Any]:
    user: dict[str, Any] = {"email": email, "first_name": first_name, "last_name": last_name}
    if password is not None:
        user["password"] = password
    body: dict[str, Any] = {"user": user}
    if device_info is not None:
        body["device"] = device_info
    if invite_code is not None:
        body["invite_code"] = invite_code
    return body


def login_body(
    email: str,
    password: str = PASSWORD,
    device_info: dict[str, Any] | None = DEVICE,
    otp_code: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"email": email, "password": password}
    if device_info is not None:
        body["device"] = device_info
    if otp_code is not None:
        body["otp_code"] = otp_code
    return body


# --- calls -------------------------------------------------------------------------------------


def mobile_login(
    client: FlaskClient,
    email: str,
    password: str = PASSWORD,
    device_info: dict[str, Any] | None = DEVICE,
    otp_code: str | None = None,
    fmt: str = "json",
) -> dict[str, Any]:
    """A successful mobile login; returns the body (tokens + user)."""
    response = send(client, LOGIN, login_body(email, password, device_info, otp_code), fmt)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def status_of(client: FlaskClient, headers: dict[str, str]) -> int:
    """The status a read endpoint gives this credential (200 alive, 401 dead)."""
    return client.get(ACCOUNTS, headers=headers).status_code


# --- answers -----------------------------------------------------------------------------------


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


def assert_user_object(user: dict[str, Any]) -> None:
    assert set(user) == USER_KEYS
    uuid.UUID(user["id"])
    assert user["ui_layout"] in ("dashboard", "intro")
    assert isinstance(user["ai_enabled"], bool)
