"""POST /api/v1/auth/login: contract §2.3, §3.2, §6.3 and §7.1 cases 10-17, §7.8; bodies as
JSON and as bracket-notation form data (§2.2). Plus what Tollgate adds: TOTP and backup codes
cannot be replayed, and sign-in attempts are throttled per account and per IP."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.clock import utcnow
from app.identity.models import Device
from app.oauth2.models import OAuthClient, OAuthToken
from tests.support.http import FORMATS, assert_no_store, bearer, send
from tests.support.sure import (
    ACCOUNTS,
    DEVICE,
    DEVICE_REQUIRED,
    INVALID_CREDENTIALS,
    LOGIN,
    MFA_REQUIRED,
    REFRESH,
    THROTTLED,
    assert_token_block,
    assert_user_object,
    device,
    login_body,
    mobile_login,
    status_of,
)
from tests.support.totp import totp_now, totp_pair, wrong_totp


@pytest.fixture(params=FORMATS)
def fmt(request: pytest.FixtureRequest) -> str:
    return request.param


# --- §7.1 login cases ----------------------------------------------------------------------


def test_10_login_with_password_and_device(app, client, user, count, fmt):
    devices, tokens = count(Device), count(OAuthToken)

    response = send(client, LOGIN, login_body(user.email, user.password), fmt)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
        "created_at",
        "user",
    }
    assert_token_block(body)
    assert_no_store(response)
    assert_user_object(body["user"])
    assert body["user"]["id"] == str(user.id)
    assert body["user"]["email"] == user.email
    assert body["user"]["first_name"] == "Alice"
    assert body["user"]["ui_layout"] == "dashboard"
    assert body["user"]["ai_enabled"] is False
    assert count(Device) == devices + 1
    assert count(OAuthToken) == tokens + 1
    from app.extensions import db

    with app.app_context():
        saved = db.session.scalar(select(Device).where(Device.user_id == user.id))
        # "active" in Sure: seen within the last 90 days
        assert saved.last_seen_at > utcnow() - timedelta(days=90)
        assert saved.device_id == DEVICE["device_id"]
    assert client.get(ACCOUNTS, headers=bearer(body["access_token"])).status_code == 200


def test_11_mfa_user_without_code_is_asked_for_one(client, mfa_user, count, fmt):
    response = send(client, LOGIN, login_body(mfa_user.email), fmt)

    assert response.status_code == 401
    assert response.get_json() == MFA_REQUIRED
    assert count(OAuthToken) == 0


def test_12_mfa_user_with_current_totp_gets_a_token(client, mfa_user, count, fmt):
    response = send(
        client, LOGIN, login_body(mfa_user.email, otp_code=totp_now(mfa_user.secret)), fmt
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["access_token"]
    assert count(OAuthToken) == 1


def test_13_a_new_login_revokes_the_devices_earlier_token(client, user, fmt):
    first = mobile_login(client, user.email, fmt=fmt)
    other = mobile_login(
        client,
        user.email,
        device_info=device(device_id="ipad-456", device_name="Test iPad"),
        fmt=fmt,
    )

    second = mobile_login(client, user.email, fmt=fmt)

    assert second["access_token"] != first["access_token"]
    assert status_of(client, bearer(first["access_token"])) == 401
    refused = send(client, REFRESH, {"refresh_token": first["refresh_token"]})
    assert (refused.status_code, refused.get_json()) == (401, {"error": "Invalid refresh token"})
    assert status_of(client, bearer(second["access_token"])) == 200
    # Other devices keep theirs.
    assert status_of(client, bearer(other["access_token"])) == 200


def test_14_wrong_password_is_401_and_issues_nothing(client, user, count, fmt):
    response = send(client, LOGIN, login_body(user.email, "wrong password"), fmt)

    assert response.status_code == 401
    assert response.get_json() == INVALID_CREDENTIALS
    assert count(OAuthToken) == 0


def test_15_unknown_email_gets_the_same_answer(client, fmt):
    response = send(client, LOGIN, login_body("nobody@example.com"), fmt)

    assert response.status_code == 401
    assert response.get_json() == INVALID_CREDENTIALS


def test_16_sure_mobile_app_is_created_on_demand_and_once(app, client, user, count, fmt):
    assert count(OAuthClient) == 0

    body = mobile_login(client, user.email, fmt=fmt)

    assert body["access_token"] and body["refresh_token"]
    assert count(OAuthClient) == 1
    from app.extensions import db

    with app.app_context():
        sure_mobile = db.session.scalar(select(OAuthClient))
        assert sure_mobile.client_id == "sure-mobile"
        assert sure_mobile.name == "Sure Mobile"
        assert sure_mobile.redirect_uris == ["sureapp://oauth/callback"]
        assert sure_mobile.scope == "read_write"
        assert sure_mobile.is_public
        assert sure_mobile.client_secret_digest is None

    mobile_login(client, user.email, device_info=device(device_id="second"), fmt=fmt)
    assert count(OAuthClient) == 1


@pytest.mark.parametrize(
    "bad",
    [
        None,
        device(device_type="windows"),
        device(device_id=""),
        device(device_name=None),
        device(os_version="  "),
        device(app_version=None),
    ],
)
def test_17_login_without_a_valid_device_is_400(client, user, count, fmt, bad):
    response = send(client, LOGIN, login_body(user.email, device_info=bad), fmt)

    assert response.status_code == 400
    assert response.get_json() == DEVICE_REQUIRED
    assert count(OAuthToken) == 0


# --- §7.8 mobile device -------------------------------------------------------------------


def test_7_8_an_inactive_user_is_issued_no_token(client, user, set_user, count, fmt):
    set_user(user.id, active=False)

    response = send(client, LOGIN, login_body(user.email), fmt)

    assert response.status_code in (401, 422)
    assert count(OAuthToken) == 0


def test_7_8_an_inactive_user_with_the_right_password_gets_failed_to_register_device(
    client, user, set_user, count, fmt
):
    """Contract §3.2 step 4 and checklist 17: the password is right, token issuance refuses
    the inactive user -> 422 {"error": "Failed to register device"}."""
    set_user(user.id, active=False)

    response = send(client, LOGIN, login_body(user.email), fmt)

    assert (response.status_code, response.get_json()) == (
        422,
        {"error": "Failed to register device"},
    )
    assert count(OAuthToken) == 0


# --- credentials ------------------------------------------------------------------------------


def test_email_match_is_case_insensitive(client, user, fmt):
    body = mobile_login(client, "  ALICE@Example.COM ", fmt=fmt)
    assert body["user"]["id"] == str(user.id)


def test_account_without_a_local_password_cannot_log_in(client, user, set_user, fmt):
    set_user(user.id, password_hash=None)

    response = send(client, LOGIN, login_body(user.email), fmt)

    assert (response.status_code, response.get_json()) == (401, INVALID_CREDENTIALS)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "alice@example.com"},
        {"password": "correct horse battery", "device": DEVICE},
        {"email": ["alice@example.com"], "password": {"x": 1}, "device": DEVICE},
    ],
)
def test_missing_or_odd_credentials_are_401(client, user, body):
    response = client.post(LOGIN, json=body)
    assert (response.status_code, response.get_json()) == (401, INVALID_CREDENTIALS)


def test_the_device_is_upserted_and_refreshed(app, client, user, count, fmt):
    mobile_login(client, user.email, fmt=fmt)
    mobile_login(
        client,
        user.email,
        device_info=device(
            device_name="Renamed", os_version="18.1", app_version="2.0.0", device_type="android"
        ),
        fmt=fmt,
    )

    assert count(Device) == 1
    from app.extensions import db

    with app.app_context():
        saved = db.session.scalar(select(Device))
        assert (saved.device_name, saved.device_type, saved.os_version, saved.app_version) == (
            "Renamed",
            "android",
            "18.1",
            "2.0.0",
        )


def test_one_live_token_per_device_across_many_logins(client, user, count):
    bodies = [mobile_login(client, user.email) for _ in range(3)]

    assert [status_of(client, bearer(b["access_token"])) for b in bodies] == [401, 401, 200]
    assert count(OAuthToken, OAuthToken.revoked_at.is_(None)) == 1


def test_devices_are_per_user(client, user, make_user, count):
    bob = make_user(email="bob@example.com")
    alice_tokens = mobile_login(client, user.email)
    bob_tokens = mobile_login(client, bob.email)  # same device_id, another user

    assert count(Device) == 2
    assert status_of(client, bearer(alice_tokens["access_token"])) == 200
    assert status_of(client, bearer(bob_tokens["access_token"])) == 200


# --- MFA (§3.2 step 2, §6.3, checklist 15-16) -------------------------------------------------


def test_wrong_code_gets_the_same_body_as_no_code(client, mfa_user, count, fmt):
    response = send(
        client, LOGIN, login_body(mfa_user.email, otp_code=wrong_totp(mfa_user.secret)), fmt
    )

    assert response.status_code == 401
    assert response.get_json() == MFA_REQUIRED
    assert count(OAuthToken) == 0


def test_mfa_is_checked_before_the_device(client, mfa_user):
    without = send(client, LOGIN, login_body(mfa_user.email, device_info=None))
    assert (without.status_code, without.get_json()) == (401, MFA_REQUIRED)

    with_code = send(
        client,
        LOGIN,
        login_body(mfa_user.email, device_info=None, otp_code=totp_now(mfa_user.secret)),
    )
    assert (with_code.status_code, with_code.get_json()) == (400, DEVICE_REQUIRED)


def test_wrong_password_with_mfa_is_still_invalid_credentials(client, mfa_user):
    response = send(
        client,
        LOGIN,
        login_body(mfa_user.email, "wrong password", otp_code=totp_now(mfa_user.secret)),
    )
    assert (response.status_code, response.get_json()) == (401, INVALID_CREDENTIALS)


def test_a_totp_code_accepted_once_is_refused_when_replayed(client, mfa_user, count, fmt):
    code = totp_now(mfa_user.secret)
    assert send(client, LOGIN, login_body(mfa_user.email, otp_code=code), fmt).status_code == 200

    replay = send(
        client,
        LOGIN,
        login_body(mfa_user.email, otp_code=code, device_info=device(device_id="attacker")),
        fmt,
    )

    assert (replay.status_code, replay.get_json()) == (401, MFA_REQUIRED)
    assert count(OAuthToken) == 1


def test_previous_step_is_accepted_but_never_after_a_later_one(client, mfa_user):
    previous, current = totp_pair(mfa_user.secret)
    assert previous != current

    assert send(client, LOGIN, login_body(mfa_user.email, otp_code=previous)).status_code == 200
    assert send(client, LOGIN, login_body(mfa_user.email, otp_code=current)).status_code == 200
    late = send(client, LOGIN, login_body(mfa_user.email, otp_code=previous))
    assert (late.status_code, late.get_json()) == (401, MFA_REQUIRED)


def test_codes_older_than_one_step_are_refused(client, mfa_user):
    import pyotp

    stale = pyotp.TOTP(mfa_user.secret).at(time.time() - 90)
    if stale in totp_pair(mfa_user.secret):
        pytest.skip("the stale code happens to equal a live one")
    response = send(client, LOGIN, login_body(mfa_user.email, otp_code=stale))
    assert (response.status_code, response.get_json()) == (401, MFA_REQUIRED)


def test_a_backup_code_works_once(client, mfa_user, count, fmt):
    code = mfa_user.backup_codes[0]

    first = send(client, LOGIN, login_body(mfa_user.email, otp_code=code), fmt)
    again = send(client, LOGIN, login_body(mfa_user.email, otp_code=code), fmt)

    assert first.status_code == 200
    assert_token_block(first.get_json())
    assert (again.status_code, again.get_json()) == (401, MFA_REQUIRED)
    # The other seven still work (trimmed and case-insensitive, as in Sure).
    other = send(
        client,
        LOGIN,
        login_body(mfa_user.email, otp_code=f" {mfa_user.backup_codes[1].upper()} "),
        fmt,
    )
    assert other.status_code == 200


@pytest.mark.config(RATE_LIMIT_OTP_ACCOUNT="3 per 5 minutes")
def test_wrong_codes_are_throttled_per_account(client, mfa_user, fmt):
    wrong = wrong_totp(mfa_user.secret)
    for _ in range(3):
        response = send(client, LOGIN, login_body(mfa_user.email, otp_code=wrong), fmt)
        assert (response.status_code, response.get_json()) == (401, MFA_REQUIRED)

    # The budget is spent: even the right code (or a backup code) must wait.
    blocked = send(
        client, LOGIN, login_body(mfa_user.email, otp_code=totp_now(mfa_user.secret)), fmt
    )
    assert blocked.status_code == 429
    assert blocked.get_json() == THROTTLED
    assert int(blocked.headers["Retry-After"]) > 0
    backup = send(client, LOGIN, login_body(mfa_user.email, otp_code=mfa_user.backup_codes[0]), fmt)
    assert backup.status_code == 429
    # Another address does not get a fresh budget for this account.
    elsewhere = send(
        client,
        LOGIN,
        login_body(mfa_user.email, otp_code=wrong),
        fmt,
        environ_base={"REMOTE_ADDR": "198.51.100.40"},
    )
    assert elsewhere.status_code == 429


@pytest.mark.config(RATE_LIMIT_OTP_ACCOUNT="3 per 5 minutes")
def test_missing_codes_do_not_spend_the_otp_budget(client, mfa_user):
    for _ in range(5):
        assert send(client, LOGIN, login_body(mfa_user.email)).status_code == 401
    assert (
        send(
            client, LOGIN, login_body(mfa_user.email, otp_code=totp_now(mfa_user.secret))
        ).status_code
        == 200
    )


# --- throttling (per account, per IP) ----------------------------------------------------------


@pytest.mark.config(RATE_LIMIT_LOGIN_ACCOUNT="3 per 15 minutes")
def test_failed_logins_are_throttled_per_account(client, user, make_user, fmt):
    for _ in range(3):
        assert send(client, LOGIN, login_body(user.email, "wrong"), fmt).status_code == 401

    blocked = send(client, LOGIN, login_body(user.email), fmt)  # right password, too late

    assert blocked.status_code == 429
    assert blocked.get_json() == THROTTLED
    assert int(blocked.headers["Retry-After"]) > 0
    # Not an IP matter: another address is refused too, a spoofed header changes nothing.
    assert (
        send(
            client,
            LOGIN,
            login_body(user.email),
            fmt,
            environ_base={"REMOTE_ADDR": "198.51.100.41"},
        ).status_code
        == 429
    )
    assert (
        send(
            client, LOGIN, login_body(user.email), fmt, headers={"X-Forwarded-For": "198.51.100.42"}
        ).status_code
        == 429
    )
    # Other accounts are unaffected.
    bob = make_user(email="bob@example.com")
    assert send(client, LOGIN, login_body(bob.email), fmt).status_code == 200


@pytest.mark.config(RATE_LIMIT_LOGIN_ACCOUNT="3 per 15 minutes")
def test_the_account_budget_is_keyed_on_the_normalised_email(client, user):
    for variant in ("ALICE@example.com", " alice@EXAMPLE.com", "Alice@Example.Com"):
        assert send(client, LOGIN, login_body(variant, "wrong")).status_code == 401
    assert send(client, LOGIN, login_body(user.email)).status_code == 429


@pytest.mark.config(RATE_LIMIT_LOGIN_IP="3 per 15 minutes")
def test_failed_logins_are_throttled_per_ip(client, user, fmt):
    here = {"REMOTE_ADDR": "203.0.113.7"}
    for n in range(3):
        response = send(client, LOGIN, login_body(f"nobody{n}@example.com"), fmt, environ_base=here)
        assert response.status_code == 401

    blocked = send(client, LOGIN, login_body(user.email), fmt, environ_base=here)
    assert blocked.status_code == 429
    assert blocked.get_json() == THROTTLED
    assert int(blocked.headers["Retry-After"]) > 0
    # A spoofed X-Forwarded-For is not trusted (no proxy configured): still the same IP.
    spoofed = send(
        client,
        LOGIN,
        login_body(user.email),
        fmt,
        environ_base=here,
        headers={"X-Forwarded-For": "198.51.100.77"},
    )
    assert spoofed.status_code == 429
    # Another address is fine.
    elsewhere = send(
        client, LOGIN, login_body(user.email), fmt, environ_base={"REMOTE_ADDR": "203.0.113.8"}
    )
    assert elsewhere.status_code == 200


@pytest.mark.config(RATE_LIMIT_LOGIN_ACCOUNT="3 per 15 minutes")
def test_a_successful_login_resets_the_account_budget(client, user):
    for _ in range(2):
        assert send(client, LOGIN, login_body(user.email, "wrong")).status_code == 401
    assert send(client, LOGIN, login_body(user.email)).status_code == 200
    for _ in range(2):
        assert send(client, LOGIN, login_body(user.email, "wrong")).status_code == 401
    assert send(client, LOGIN, login_body(user.email)).status_code == 200
