"""The Flutter client's journey, end to end over HTTP (mobile/lib/services/auth_service.dart):
signup -> login with a device -> MFA turned on -> 401 mfa_required -> retry with the TOTP code
-> refresh twice -> a replayed old refresh token revokes the lineage -> deactivation kills
every credential (tokens, refresh tokens, API key, browser session)."""

from __future__ import annotations

import uuid

import pytest

from tests.support.factories import UserInfo
from tests.support.http import bearer, send
from tests.support.sure import (
    ACCOUNTS,
    DEVICE,
    INVALID_CREDENTIALS,
    INVALID_REFRESH,
    LOGIN,
    ME,
    MFA,
    MFA_REQUIRED,
    REFRESH,
    SIGNUP,
    STRONG_PASSWORD,
    assert_token_block,
    device,
    signup_body,
)
from tests.support.totp import totp_pair
from tests.support.web import login as web_login
from tests.support.web import signed_in_as


@pytest.mark.parametrize("fmt", ["json", "form"])
def test_the_flutter_clients_journey(app, client, make_user, make_key, read_user, fmt):
    # Someone already runs this instance (so our user is a family admin, free to leave).
    make_user(email="root@example.com", role="super_admin")
    email = "flutter@example.com"

    # 1. Sign up from the phone.
    signed_up = send(client, SIGNUP, signup_body(email, first_name="Flo", last_name="Utter"), fmt)
    assert signed_up.status_code == 201, signed_up.get_json()
    first = signed_up.get_json()
    assert_token_block(first)
    user_id = first["user"]["id"]
    assert client.get(ACCOUNTS, headers=bearer(first["access_token"])).status_code == 200

    # 2. Log in again from the same phone: the signup token of that device is replaced.
    logged_in = send(
        client, LOGIN, {"email": email, "password": STRONG_PASSWORD, "device": DEVICE}, fmt
    )
    assert logged_in.status_code == 200
    session = logged_in.get_json()
    assert session["user"]["id"] == user_id
    assert client.get(ACCOUNTS, headers=bearer(first["access_token"])).status_code == 401
    auth = bearer(session["access_token"])

    # 3. Turn on two-factor authentication from the app (a step-up: the password again).
    enrolment = client.post(f"{MFA}/enrolment", json={"password": STRONG_PASSWORD}, headers=auth)
    assert enrolment.status_code == 200
    secret = enrolment.get_json()["secret"]
    previous, current = totp_pair(secret)
    confirmed = client.post(f"{MFA}/enrolment/confirm", json={"code": previous}, headers=auth)
    assert confirmed.status_code == 200
    backup_codes = confirmed.get_json()["backup_codes"]
    assert len(backup_codes) == 8

    # 4. The next login is asked for a code (401 + mfa_required) ...
    asked = send(
        client, LOGIN, {"email": email, "password": STRONG_PASSWORD, "device": DEVICE}, fmt
    )
    assert (asked.status_code, asked.get_json()) == (401, MFA_REQUIRED)
    assert asked.get_json()["mfa_required"] is True

    # 5. ... and the app retries with the TOTP code.
    retried = send(
        client,
        LOGIN,
        {"email": email, "password": STRONG_PASSWORD, "otp_code": current, "device": DEVICE},
        fmt,
    )
    assert retried.status_code == 200, retried.get_json()
    tokens = retried.get_json()
    assert_token_block(tokens)
    # The code cannot be replayed by someone who saw it.
    replay = send(
        client,
        LOGIN,
        {
            "email": email,
            "password": STRONG_PASSWORD,
            "otp_code": current,
            "device": device(device_id="evil"),
        },
        fmt,
    )
    assert (replay.status_code, replay.get_json()) == (401, MFA_REQUIRED)

    # 6. Refresh twice (the app does this when the access token expires).
    second = send(
        client,
        REFRESH,
        {"refresh_token": tokens["refresh_token"], "device": {"device_id": DEVICE["device_id"]}},
        fmt,
    )
    assert second.status_code == 200
    second_tokens = second.get_json()
    assert_token_block(second_tokens)
    assert "user" not in second_tokens
    third = send(client, REFRESH, {"refresh_token": second_tokens["refresh_token"]}, fmt)
    assert third.status_code == 200
    newest = third.get_json()
    assert client.get(ACCOUNTS, headers=bearer(newest["access_token"])).status_code == 200
    assert client.get(ACCOUNTS, headers=bearer(tokens["access_token"])).status_code == 401
    assert client.get(ACCOUNTS, headers=bearer(second_tokens["access_token"])).status_code == 401

    # 7. A stolen, already-used refresh token is replayed: the whole lineage is revoked.
    stolen = send(client, REFRESH, {"refresh_token": tokens["refresh_token"]}, fmt)
    assert (stolen.status_code, stolen.get_json()) == (401, INVALID_REFRESH)
    assert client.get(ACCOUNTS, headers=bearer(newest["access_token"])).status_code == 401
    assert (
        send(client, REFRESH, {"refresh_token": newest["refresh_token"]}, fmt).get_json()
        == INVALID_REFRESH
    )

    # 8. The user logs in again (backup code), also has an API key and a browser session ...
    again = send(
        client,
        LOGIN,
        {
            "email": email,
            "password": STRONG_PASSWORD,
            "otp_code": backup_codes[0],
            "device": DEVICE,
        },
        fmt,
    )
    assert again.status_code == 200
    live = again.get_json()
    me = UserInfo(
        uuid.UUID(user_id),
        email,
        STRONG_PASSWORD,
        read_user(uuid.UUID(user_id))["family_id"],
        "admin",
    )
    key = make_key(me, scope="read", source="monitoring")
    browser = app.test_client()
    assert web_login(browser, email, STRONG_PASSWORD, otp_code=backup_codes[1]).status_code == 302
    assert signed_in_as(browser)
    assert client.get(ACCOUNTS, headers={"X-Api-Key": key}).status_code == 200

    # 9. ... and deletes the account from the app: every credential dies at once.
    deleted = client.delete(ME, headers=bearer(live["access_token"]))
    assert (deleted.status_code, deleted.get_json()) == (
        200,
        {"message": "Account has been deleted"},
    )
    assert client.get(ACCOUNTS, headers=bearer(live["access_token"])).status_code == 401
    assert client.get(ACCOUNTS, headers={"X-Api-Key": key}).status_code == 401
    assert (
        send(client, REFRESH, {"refresh_token": live["refresh_token"]}, fmt).get_json()
        == INVALID_REFRESH
    )
    assert not signed_in_as(browser)
    gone = send(
        client,
        LOGIN,
        {
            "email": email,
            "password": STRONG_PASSWORD,
            "otp_code": backup_codes[2],
            "device": DEVICE,
        },
        fmt,
    )
    assert (gone.status_code, gone.get_json()) == (401, INVALID_CREDENTIALS)
    state = read_user(uuid.UUID(user_id))
    assert state["active"] is False
    assert state["email"].startswith("flutter-deactivated-")
    assert state["email"].endswith("@example.com")
    assert web_login(browser, email, STRONG_PASSWORD, otp_code=backup_codes[3]).status_code == 401
