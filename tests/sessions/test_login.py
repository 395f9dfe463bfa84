"""POST /auth/login and Surfsight's POST /authenticate (seed 003.13-003.14, §4.2, D5): the
same sign-in rules as every other (one answer for an unknown email, throttles, the second
factor with each TOTP step and backup code usable once), a session access JWT (at+jwt,
15 minutes) and an opaque 14-day refresh token, digests only at rest, audited."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from flask import Flask

from app import crypto
from app.jwtprofile import unverified_header
from tests.sessions.conftest import AUTHENTICATE, LOGIN, ME, TOKEN_KEYS, bearer, me_status
from tests.support.factories import MfaUser, UserInfo
from tests.support.http import api_error, assert_no_store
from tests.support.totp import totp_now, wrong_totp

INVALID = {"error": "invalid_credentials", "message": "Invalid email or password"}
MFA = {
    "error": "mfa_required",
    "message": "Two-factor authentication required",
    "mfa_required": True,
}


def post(api, path: str = LOGIN, **body):  # type: ignore[no-untyped-def]
    return api.post(path, json=body)


def claims_of(app: Flask, token: str) -> dict:
    from app.clock import utcnow
    from app.sessions.tokens import PROFILE

    with app.app_context():
        return PROFILE.decode(token, now=utcnow())


# --- a successful sign-in -------------------------------------------------------------------


def test_login_returns_a_session_jwt_and_a_refresh_token(app, api, user, token_rows) -> None:
    response = post(api, email=user.email, password=user.password)

    assert response.status_code == 200, response.get_json()
    assert_no_store(response)
    body = response.get_json()
    assert set(body) == TOKEN_KEYS | {"user"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert abs(body["created_at"] - time.time()) < 60
    assert body["user"] == {
        "id": str(user.id),
        "email": "alice@example.com",
        "first_name": "Alice",
        "last_name": None,
    }
    header = unverified_header(body["access_token"])
    assert header is not None
    assert (header["typ"], header["alg"]) == ("at+jwt", "HS256")
    claims = claims_of(app, body["access_token"])
    [row] = token_rows()
    assert claims["sub"] == str(user.id)
    assert claims["tenant_id"] == str(user.family_id)
    assert claims["sid"] == str(row.lineage_id)
    assert claims["jti"] == str(row.id)
    assert claims["ver"] == 0
    assert claims["rgn"] == "default"
    assert claims["exp"] - claims["iat"] == 900
    assert body["refresh_token"].startswith(crypto.PREFIX_REFRESH_TOKEN)
    # Only digests at rest, of the built-in first-party client, with the session profile.
    assert row.access_token_digest == crypto.digest(body["access_token"])
    assert row.refresh_token_digest == crypto.digest(body["refresh_token"])
    assert (row.client_id, row.profile, row.scope) == ("sure-mobile", "session", "read_write")
    assert row.access_expires_at - row.issued_at == timedelta(seconds=900)
    assert row.refresh_expires_at - row.issued_at == timedelta(days=14)
    assert me_status(api, body["access_token"]) == 200


@pytest.mark.config(SESSION_ACCESS_TOKEN_LIFETIME=120, SESSION_REFRESH_TOKEN_LIFETIME=3600)
def test_lifetimes_are_configurable(app, api, user, token_rows) -> None:
    body = post(api, email=user.email, password=user.password).get_json()

    assert body["expires_in"] == 120
    claims = claims_of(app, body["access_token"])
    assert claims["exp"] - claims["iat"] == 120
    [row] = token_rows()
    assert row.refresh_expires_at - row.issued_at == timedelta(hours=1)


def test_login_and_the_new_session_are_audited(api, user, session, audit) -> None:
    [login] = audit("login")
    assert login["outcome"] == "success"
    assert login["actor_user_id"] == user.id
    assert login["channel"] == "session"
    [created] = audit("session.created")
    assert created["actor_user_id"] == user.id
    assert created["family_id"] == user.family_id
    assert created["session_id"] == claims_of_sid(session)
    uuid.UUID(created["session_id"])
    assert session["access_token"] not in str(created)
    assert session["refresh_token"] not in str(created)


def claims_of_sid(session: dict) -> str:
    import base64
    import json

    payload = session["access_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"]


def test_each_login_is_its_own_session(api, user) -> None:
    first = post(api, email=user.email, password=user.password).get_json()
    second = post(api, email=user.email, password=user.password).get_json()

    assert claims_of_sid(first) != claims_of_sid(second)
    assert me_status(api, first["access_token"]) == 200
    assert me_status(api, second["access_token"]) == 200


def test_email_is_matched_case_insensitively(api, user) -> None:
    response = post(api, email="  ALICE@Example.com ", password=user.password)
    assert response.status_code == 200, response.get_json()


# --- refusals ---------------------------------------------------------------------------------


def test_unknown_email_and_wrong_password_get_the_same_answer(api, user, audit) -> None:
    wrong = post(api, email=user.email, password="not the password")
    unknown = post(api, email="nobody@example.com", password=user.password)

    for response in (wrong, unknown):
        assert response.status_code == 401
        assert api_error(response) == INVALID
    assert [e["outcome"] for e in audit("login")] == ["failure", "failure"]
    assert audit("session.created") == []


def test_a_deactivated_account_cannot_sign_in(api, user, set_user) -> None:
    set_user(user.id, active=False)

    response = post(api, email=user.email, password=user.password)

    assert response.status_code == 401
    assert api_error(response) == INVALID


def test_a_user_of_another_region_does_not_exist_here(api, user, set_user) -> None:
    set_user(user.id, region="eu")

    response = post(api, email=user.email, password=user.password)

    assert response.status_code == 401
    assert api_error(response) == INVALID


@pytest.mark.config(RATE_LIMIT_LOGIN_ACCOUNT="3 per 15 minutes")
def test_failed_sign_ins_are_throttled_per_account(api, user) -> None:
    for _ in range(3):
        assert post(api, email=user.email, password="wrong").status_code == 401

    throttled = post(api, email=user.email, password=user.password)

    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    assert api_error(throttled)["error"] == "rate_limit_exceeded"


@pytest.mark.config(RATE_LIMIT_LOGIN_IP="2 per 15 minutes")
def test_failed_sign_ins_are_throttled_per_client_ip(api) -> None:
    for n in range(2):
        assert post(api, email=f"ghost{n}@example.com", password="wrong").status_code == 401

    assert post(api, email="ghost9@example.com", password="wrong").status_code == 429


def test_the_built_in_client_disabled_stops_session_logins(app, api, user) -> None:
    from app.oauth2.services.clients import SURE_MOBILE_CLIENT_ID, disable_client

    session = post(api, email=user.email, password=user.password).get_json()
    with app.app_context():
        from app.clock import utcnow

        disable_client(SURE_MOBILE_CLIENT_ID, now=utcnow())

    refused = post(api, email=user.email, password=user.password)

    assert refused.status_code == 403
    assert api_error(refused) == {"error": "forbidden", "message": "This app has been disabled"}
    assert me_status(api, session["access_token"]) == 401


# --- the second factor ---------------------------------------------------------------------


def test_an_mfa_user_without_a_code_is_asked_for_one(api, mfa_user: MfaUser, audit) -> None:
    response = post(api, email=mfa_user.email, password=mfa_user.password)

    assert response.status_code == 401
    assert api_error(response) == MFA
    assert audit("session.created") == []


@pytest.mark.parametrize("field", ["totp_code", "otp_code"])
def test_a_totp_code_signs_in_under_either_name(api, mfa_user: MfaUser, field: str) -> None:
    response = post(
        api, email=mfa_user.email, password=mfa_user.password, **{field: totp_now(mfa_user.secret)}
    )

    assert response.status_code == 200, response.get_json()
    assert me_status(api, response.get_json()["access_token"]) == 200


def test_a_wrong_code_is_refused_and_audited(api, mfa_user: MfaUser, audit) -> None:
    response = post(
        api,
        email=mfa_user.email,
        password=mfa_user.password,
        totp_code=wrong_totp(mfa_user.secret),
    )

    assert response.status_code == 401
    assert api_error(response) == MFA
    assert [e.get("reason") for e in audit("login")] == ["bad_otp"]


def test_a_totp_step_is_accepted_once(api, mfa_user: MfaUser) -> None:
    code = totp_now(mfa_user.secret)
    first = post(api, email=mfa_user.email, password=mfa_user.password, totp_code=code)
    replay = post(api, email=mfa_user.email, password=mfa_user.password, totp_code=code)

    assert first.status_code == 200
    assert replay.status_code == 401
    assert api_error(replay) == MFA


def test_a_backup_code_works_once(api, mfa_user: MfaUser) -> None:
    code = mfa_user.backup_codes[0]
    first = post(api, email=mfa_user.email, password=mfa_user.password, totp_code=code)
    again = post(api, email=mfa_user.email, password=mfa_user.password, totp_code=code)

    assert first.status_code == 200, first.get_json()
    assert again.status_code == 401
    assert api_error(again) == MFA


def test_a_right_code_with_a_wrong_password_is_just_invalid(api, mfa_user: MfaUser) -> None:
    response = post(
        api, email=mfa_user.email, password="wrong", totp_code=totp_now(mfa_user.secret)
    )

    assert response.status_code == 401
    assert api_error(response) == INVALID


@pytest.mark.config(RATE_LIMIT_OTP_ACCOUNT="2 per 5 minutes")
def test_one_time_code_guesses_are_throttled(api, mfa_user: MfaUser) -> None:
    for _ in range(2):
        response = post(
            api,
            email=mfa_user.email,
            password=mfa_user.password,
            totp_code=wrong_totp(mfa_user.secret),
        )
        assert response.status_code == 401

    throttled = post(
        api, email=mfa_user.email, password=mfa_user.password, totp_code=totp_now(mfa_user.secret)
    )

    assert throttled.status_code == 429


# --- malformed bodies -------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["[1, 2]", '"alice"', "{not json", "null"])
def test_a_body_that_is_not_a_json_object_is_400(api, raw: str) -> None:
    response = api.post(LOGIN, data=raw, content_type="application/json")

    assert response.status_code == 400, response.get_json()
    assert api_error(response)["error"] == "bad_request"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "x"}, "email"),
        ({"email": "alice@example.com"}, "password"),
        ({"email": 42, "password": "x"}, "email"),
        ({"email": "alice@example.com", "password": ["x"]}, "password"),
        ({"email": "alice@example.com", "password": "x", "totp_code": 123456}, "totp_code"),
        ({"email": "", "password": "x"}, "email"),
        ({"email": "a" * 300 + "@example.com", "password": "x"}, "email"),
    ],
)
def test_missing_or_mistyped_fields_are_422(api, user, audit, body: dict, field: str) -> None:
    response = api.post(LOGIN, json=body)

    assert response.status_code == 422, response.get_json()
    error = api_error(response)
    assert error["error"] == "validation_failed"
    assert any(message.startswith(field) for message in error["errors"]), error
    assert audit("login") == []  # refused before any sign-in work


def test_form_fields_are_accepted_too(api, user) -> None:
    response = api.post(LOGIN, data={"email": user.email, "password": user.password})
    assert response.status_code == 200, response.get_json()


def test_sures_login_path_stays_sures(api, user) -> None:
    """/api/v1/auth/login is Sure's device login (a device is required), not a twin."""
    response = api.post("/api/v1/auth/login", json={"email": user.email, "password": user.password})

    assert response.status_code == 400
    assert response.get_json() == {"error": "Device information is required"}


# --- Surfsight's /authenticate ---------------------------------------------------------------


@pytest.mark.parametrize("path", [AUTHENTICATE, "/api/v1" + AUTHENTICATE])
def test_authenticate_returns_a_session_token(api, user: UserInfo, path: str) -> None:
    response = post(api, path, email=user.email, password=user.password)

    assert response.status_code == 200, response.get_json()
    assert_no_store(response)
    body = response.get_json()
    assert set(body) == {"token", "refresh_token", "expires_in"}
    assert body["expires_in"] == 900
    assert unverified_header(body["token"])["typ"] == "at+jwt"  # type: ignore[index]
    me = api.get(ME, headers=bearer(body["token"])).get_json()
    assert me["user"]["id"] == str(user.id)
    refreshed = api.post("/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200


@pytest.mark.parametrize("path", [AUTHENTICATE, "/api/v1" + AUTHENTICATE])
def test_authenticate_refuses_wrong_credentials_with_401(api, user, path: str) -> None:
    response = post(api, path, email=user.email, password="wrong")

    assert response.status_code == 401
    assert api_error(response) == INVALID


def test_authenticate_asks_mfa_users_for_their_code(api, mfa_user: MfaUser) -> None:
    asked = post(api, AUTHENTICATE, email=mfa_user.email, password=mfa_user.password)
    answered = post(
        api,
        AUTHENTICATE,
        email=mfa_user.email,
        password=mfa_user.password,
        totp_code=totp_now(mfa_user.secret),
    )

    assert asked.status_code == 401 and api_error(asked) == MFA
    assert answered.status_code == 200
