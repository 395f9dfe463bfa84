"""PATCH /api/v1/auth/enable_ai: contract §3.7, §6.6 and §7.1 cases 22-25."""

from __future__ import annotations

import pytest

from tests.support.http import api_key, bearer, error_body
from tests.support.oauth import authorize, exchange_code
from tests.support.sure import ENABLE_AI, UNAUTHORIZED, USER_KEYS, mobile_login

WRITE_SCOPE = {"error": "insufficient_scope", "message": "This action requires the 'write' scope"}


@pytest.fixture
def mobile(client, user) -> dict:
    return mobile_login(client, user.email)


def test_22_read_write_token_enables_ai(client, user, mobile, read_user):
    assert mobile["user"]["ai_enabled"] is False

    response = client.patch(ENABLE_AI, headers=bearer(mobile["access_token"]))

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"user"}
    assert set(body["user"]) == USER_KEYS
    assert body["user"]["id"] == str(user.id)
    assert body["user"]["ai_enabled"] is True
    assert body["user"]["ui_layout"] == "dashboard"
    assert read_user(user.id)["ai_enabled"] is True  # persisted
    # ... and reported by the next login.
    assert mobile_login(client, user.email)["user"]["ai_enabled"] is True


def test_22_is_idempotent(client, mobile):
    for _ in range(2):
        response = client.patch(ENABLE_AI, headers=bearer(mobile["access_token"]))
        assert response.status_code == 200
        assert response.get_json()["user"]["ai_enabled"] is True


def test_23_read_scope_token_is_403(signed_in, user, oauth_client, read_user):
    auth = authorize(signed_in, oauth_client, scope="read")
    token = exchange_code(signed_in, oauth_client, auth).get_json()["access_token"]
    client = signed_in.application.test_client()  # no browser session: the token alone

    response = client.patch(ENABLE_AI, headers=bearer(token))

    assert response.status_code == 403
    assert error_body(response) == WRITE_SCOPE
    assert read_user(user.id)["ai_enabled"] is False


def test_24_no_credentials_is_401(client, user, read_user):
    response = client.patch(ENABLE_AI)

    assert response.status_code == 401
    assert error_body(response) == UNAUTHORIZED
    assert read_user(user.id)["ai_enabled"] is False


@pytest.mark.config(AI_AVAILABLE=False)
def test_25_ai_not_available_is_403(client, user, mobile, read_user):
    response = client.patch(ENABLE_AI, headers=bearer(mobile["access_token"]))

    assert response.status_code == 403
    assert response.get_json() == {"error": "AI is not available for your account"}
    assert read_user(user.id)["ai_enabled"] is False


@pytest.mark.config(AI_AVAILABLE=False)
def test_reported_flag_is_ai_enabled_and_ai_available(client, user, set_user):
    set_user(user.id, ai_enabled=True)
    assert mobile_login(client, user.email)["user"]["ai_enabled"] is False


def test_api_keys_work_with_their_scope(client, user, make_key, read_user):
    read_key = make_key(user, scope="read", source="monitoring")
    write_key = make_key(user, scope="read_write", source="mobile")

    refused = client.patch(ENABLE_AI, headers=api_key(read_key))
    assert (refused.status_code, error_body(refused)) == (403, WRITE_SCOPE)
    assert read_user(user.id)["ai_enabled"] is False

    accepted = client.patch(ENABLE_AI, headers=api_key(write_key))
    assert accepted.status_code == 200
    assert accepted.get_json()["user"]["ai_enabled"] is True
    # API keys are rate limited here (Sure's per-key headers).
    assert "X-RateLimit-Limit" in accepted.headers


def test_invalid_bearer_is_401(client, user):
    response = client.patch(ENABLE_AI, headers=bearer("tga_not-a-real-token"))
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_deactivated_owner_is_401(client, user, mobile, set_user):
    set_user(user.id, active=False)
    response = client.patch(ENABLE_AI, headers=bearer(mobile["access_token"]))
    assert response.status_code == 401
    assert error_body(response) == {
        "error": "unauthorized",
        "message": "Account has been deactivated",
    }


def test_only_patch(client, mobile):
    assert client.post(ENABLE_AI, headers=bearer(mobile["access_token"])).status_code == 405
