"""MFA management for the signed-in user (/api/v1/mfa*), the CLI that operators and tests use
(`users mfa-enable`, `invites create`), and what turning MFA on or off does to sessions."""

from __future__ import annotations

import time

import pyotp
import pytest

from tests.support import cli as support_cli
from tests.support.factories import PASSWORD, enable_mfa
from tests.support.http import api_key, bearer, error_body, send
from tests.support.sure import (
    HEX8,
    HEX16,
    LOGIN,
    MFA,
    MFA_REQUIRED,
    SIGNUP,
    device,
    login_body,
    mobile_login,
    signup_body,
)
from tests.support.totp import totp_now, totp_pair, wrong_totp
from tests.support.web import login as web_login
from tests.support.web import session_csrf, signed_in_as

ENROL = f"{MFA}/enrolment"
CONFIRM = f"{MFA}/enrolment/confirm"
BACKUP = f"{MFA}/backup_codes"
CODE_INVALID = {"error": "mfa_invalid", "message": "The code is not valid"}
PASSWORD_INVALID = {"error": "mfa_invalid", "message": "The password is not valid"}
PASSWORD_OR_CODE_INVALID = {
    "error": "mfa_invalid",
    "message": "The password or the code is not valid",
}
STEP_UP = {"password": PASSWORD}


@pytest.fixture
def mobile(client, user) -> dict:
    return mobile_login(client, user.email)


@pytest.fixture
def auth(mobile) -> dict[str, str]:
    return bearer(mobile["access_token"])


def enrol(client, headers: dict[str, str]) -> dict:  # type: ignore[no-untyped-def]
    response = client.post(ENROL, json=STEP_UP, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def assert_backup_codes(codes: list[str]) -> None:
    assert len(codes) == 8
    assert len(set(codes)) == 8
    assert all(HEX16.match(c) for c in codes)


# --- enrolment ----------------------------------------------------------------------------------


def test_status_before_enrolment(client, auth):
    response = client.get(MFA, headers=auth)
    assert response.status_code == 200
    assert response.get_json() == {"enabled": False, "backup_codes_remaining": 0}


def test_enrolment_returns_secret_uri_and_inline_qr(client, user, auth):
    response = client.post(ENROL, json=STEP_UP, headers=auth)

    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    body = response.get_json()
    assert set(body) == {"secret", "otpauth_uri", "qr_svg"}
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    assert "issuer=" in body["otpauth_uri"]
    parsed = pyotp.parse_uri(body["otpauth_uri"])
    assert parsed.secret == body["secret"] and parsed.digits == 6 and parsed.interval == 30
    assert body["qr_svg"].lstrip().startswith("<svg")
    assert "http://" not in body["qr_svg"].replace("http://www.w3.org", "")
    # Pending: not on until confirmed, so login still needs no code.
    assert client.get(MFA, headers=auth).get_json()["enabled"] is False
    assert (
        send(client, LOGIN, login_body(user.email, device_info=device(device_id="x"))).status_code
        == 200
    )


def test_confirm_turns_mfa_on_and_returns_backup_codes_once(client, user, auth):
    secret = enrol(client, auth)["secret"]

    response = client.post(CONFIRM, json={"code": totp_now(secret)}, headers=auth)

    assert response.status_code == 200, response.get_json()
    assert "no-store" in response.headers["Cache-Control"]
    codes = response.get_json()["backup_codes"]
    assert_backup_codes(codes)
    assert client.get(MFA, headers=auth).get_json() == {
        "enabled": True,
        "backup_codes_remaining": 8,
    }
    # Login now needs the second factor; a backup code works.
    asked = send(client, LOGIN, login_body(user.email))
    assert (asked.status_code, asked.get_json()) == (401, MFA_REQUIRED)
    assert (
        send(
            client,
            LOGIN,
            login_body(user.email, otp_code=codes[0], device_info=device(device_id="other")),
        ).status_code
        == 200
    )
    assert client.get(MFA, headers=auth).get_json()["backup_codes_remaining"] == 7


def test_confirm_accepts_form_data(client, auth):
    secret = enrol(client, auth)["secret"]
    response = client.post(CONFIRM, data={"code": totp_now(secret)}, headers=auth)
    assert response.status_code == 200
    assert_backup_codes(response.get_json()["backup_codes"])


def test_confirm_with_a_wrong_or_missing_code(client, auth):
    secret = enrol(client, auth)["secret"]

    wrong = client.post(CONFIRM, json={"code": wrong_totp(secret)}, headers=auth)
    assert (wrong.status_code, error_body(wrong)) == (422, CODE_INVALID)
    missing = client.post(CONFIRM, json={}, headers=auth)
    assert missing.status_code == 400
    assert missing.get_json()["error"] == "bad_request"
    assert client.get(MFA, headers=auth).get_json()["enabled"] is False


def test_confirm_before_enrolment_is_refused(client, auth):
    response = client.post(CONFIRM, json={"code": "123456"}, headers=auth)
    assert response.status_code == 422
    assert error_body(response) == {"error": "mfa_invalid", "message": "Start the enrolment first"}


def test_a_new_enrolment_replaces_the_pending_secret(client, auth):
    old = enrol(client, auth)["secret"]
    new = enrol(client, auth)["secret"]
    assert old != new
    stale = totp_now(old)
    if stale in {pyotp.TOTP(new).at(t) for t in (time.time() - 30, time.time())}:
        pytest.skip("the two secrets happen to give the same code right now")

    refused = client.post(CONFIRM, json={"code": stale}, headers=auth)
    assert (refused.status_code, error_body(refused)) == (422, CODE_INVALID)
    assert client.post(CONFIRM, json={"code": totp_now(new)}, headers=auth).status_code == 200


def test_enrolment_when_already_on_is_refused(client, auth):
    secret = enrol(client, auth)["secret"]
    previous, current = totp_pair(secret)
    assert client.post(CONFIRM, json={"code": previous}, headers=auth).status_code == 200

    again = client.post(ENROL, json=STEP_UP, headers=auth)
    assert again.status_code == 422
    assert error_body(again) == {
        "error": "mfa_invalid",
        "message": "Two-factor authentication is already enabled",
    }
    reconfirm = client.post(CONFIRM, json={"code": current}, headers=auth)
    assert reconfirm.status_code == 422


def test_the_confirming_code_cannot_be_replayed_at_login(client, user, auth):
    secret = enrol(client, auth)["secret"]
    code = totp_now(secret)
    assert client.post(CONFIRM, json={"code": code}, headers=auth).status_code == 200

    replay = send(client, LOGIN, login_body(user.email, otp_code=code))
    assert (replay.status_code, replay.get_json()) == (401, MFA_REQUIRED)


# --- backup codes -----------------------------------------------------------------------------


def test_regenerating_backup_codes_needs_a_code(client, mfa_user):
    auth = bearer(
        mobile_login(client, mfa_user.email, otp_code=mfa_user.backup_codes[0])["access_token"]
    )

    missing = client.post(BACKUP, json={}, headers=auth)
    assert missing.status_code == 400
    wrong = client.post(BACKUP, json={"code": wrong_totp(mfa_user.secret)}, headers=auth)
    assert (wrong.status_code, error_body(wrong)) == (422, CODE_INVALID)
    # A backup code is not enough to replace the backup codes.
    backup = client.post(BACKUP, json={"code": mfa_user.backup_codes[1]}, headers=auth)
    assert (backup.status_code, error_body(backup)) == (422, CODE_INVALID)

    response = client.post(BACKUP, json={"code": totp_now(mfa_user.secret)}, headers=auth)

    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    new_codes = response.get_json()["backup_codes"]
    assert_backup_codes(new_codes)
    assert not set(new_codes) & set(mfa_user.backup_codes)
    assert client.get(MFA, headers=auth).get_json()["backup_codes_remaining"] == 8
    # The old codes are dead, the new ones work.
    old = send(client, LOGIN, login_body(mfa_user.email, otp_code=mfa_user.backup_codes[2]))
    assert (old.status_code, old.get_json()) == (401, MFA_REQUIRED)
    assert (
        send(
            client,
            LOGIN,
            login_body(
                mfa_user.email, otp_code=new_codes[0], device_info=device(device_id="other")
            ),
        ).status_code
        == 200
    )


# --- disabling -----------------------------------------------------------------------------------


def test_disable_needs_password_and_code(client, mfa_user, read_user):
    auth = bearer(
        mobile_login(client, mfa_user.email, otp_code=mfa_user.backup_codes[0])["access_token"]
    )
    code = mfa_user.backup_codes[1]

    for body, status in (
        ({"password": mfa_user.password}, 400),
        ({"code": code}, 422),
        ({"password": "wrong password", "code": code}, 422),
        ({"password": mfa_user.password, "code": wrong_totp(mfa_user.secret)}, 422),
    ):
        response = client.delete(MFA, json=body, headers=auth)
        assert response.status_code == status, (body, response.get_json())
    assert read_user(mfa_user.id)["otp_required"] is True

    response = client.delete(
        MFA, json={"password": mfa_user.password, "code": totp_now(mfa_user.secret)}, headers=auth
    )

    assert response.status_code == 200
    assert response.get_json() == {"message": "Two-factor authentication disabled"}
    assert client.get(MFA, headers=auth).get_json() == {
        "enabled": False,
        "backup_codes_remaining": 0,
    }
    assert read_user(mfa_user.id)["otp_required"] is False
    # Plain password login again; the old backup codes are gone with the secret.
    assert (
        send(
            client, LOGIN, login_body(mfa_user.email, device_info=device(device_id="other"))
        ).status_code
        == 200
    )
    again = client.delete(MFA, json={"password": mfa_user.password, "code": code}, headers=auth)
    assert again.status_code == 422


def test_disable_accepts_a_backup_code(client, mfa_user):
    auth = bearer(
        mobile_login(client, mfa_user.email, otp_code=mfa_user.backup_codes[0])["access_token"]
    )
    response = client.delete(
        MFA, json={"password": mfa_user.password, "code": mfa_user.backup_codes[1]}, headers=auth
    )
    assert response.status_code == 200


# --- who may manage MFA ----------------------------------------------------------------------


def test_anonymous_callers_are_401(client):
    for method, path in (
        ("GET", MFA),
        ("POST", ENROL),
        ("POST", CONFIRM),
        ("POST", BACKUP),
        ("DELETE", MFA),
    ):
        assert client.open(path, method=method).status_code == 401


def test_api_keys_cannot_manage_mfa(client, user, make_key):
    key = api_key(make_key(user))
    for method, path in (("GET", MFA), ("POST", ENROL)):
        response = client.open(path, method=method, headers=key)
        assert response.status_code == 403
        assert response.get_json()["error"] == "forbidden"


@pytest.mark.parametrize("scope", ["read", "read_write"])
def test_a_third_party_token_cannot_manage_mfa(signed_in, user, oauth_client, read_user, scope):
    """Not even with read_write and the password (it used to be enough: a third-party app
    enrolled its own TOTP secret and locked the owner out)."""
    from tests.support.oauth import authorize, exchange_code

    auth = authorize(signed_in, oauth_client, scope=scope)
    token = exchange_code(signed_in, oauth_client, auth).get_json()["access_token"]
    client = signed_in.application.test_client()

    for method, path, body in (
        ("GET", MFA, None),
        ("POST", ENROL, STEP_UP),
        ("POST", CONFIRM, {"code": "123456"}),
        ("POST", BACKUP, {"code": "123456"}),
        ("DELETE", MFA, {**STEP_UP, "code": "123456"}),
    ):
        response = client.open(path, method=method, json=body, headers=bearer(token))
        assert response.status_code == 403, (path, response.get_json())
        assert error_body(response) == {
            "error": "forbidden",
            "message": "Only the account holder's own session or app can manage credentials "
            "and account security",
        }
    assert read_user(user.id)["otp_required"] is False


# --- step-up: the password to start, codes to change, both to turn off ---------------------


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"password": ""},
        {"password": "wrong password"},
        {"password": 12345678},
        {"password": None},
    ],
)
def test_enrolment_needs_the_current_password(app, client, user, auth, body):
    response = client.post(ENROL, json=body, headers=auth)

    assert (response.status_code, error_body(response)) == (422, PASSWORD_INVALID)
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        row = db.session.get(User, user.id)
        assert row is not None and row.otp_secret_encrypted is None  # nothing pending
    assert client.post(ENROL, json=STEP_UP, headers=auth).status_code == 200


def test_enrolment_takes_the_password_as_form_data_too(client, auth):
    response = client.post(ENROL, data={"password": PASSWORD}, headers=auth)
    assert response.status_code == 200, response.get_json()


@pytest.mark.config(RATE_LIMIT_LOGIN_ACCOUNT="3 per 15 minutes")
def test_enrolment_password_guesses_spend_the_sign_in_budget(client, user, auth):
    for _ in range(3):
        wrong = client.post(ENROL, json={"password": "a wrong guess"}, headers=auth)
        assert (wrong.status_code, error_body(wrong)) == (422, PASSWORD_INVALID)

    throttled = client.post(ENROL, json=STEP_UP, headers=auth)
    assert throttled.status_code == 429
    assert throttled.get_json()["error"] == "rate_limit_exceeded"
    assert int(throttled.headers["Retry-After"]) > 0
    # One budget for the account's password, wherever it is typed.
    login = send(client, LOGIN, login_body(user.email, device_info=device(device_id="other")))
    assert login.status_code == 429


@pytest.mark.config(RATE_LIMIT_LOGIN_ACCOUNT="3 per 15 minutes")
def test_failed_sign_ins_count_against_enrolment(client, user, auth):
    for _ in range(3):
        failed = send(client, LOGIN, login_body(user.email, password="a wrong guess"))
        assert failed.status_code == 401
    assert client.post(ENROL, json=STEP_UP, headers=auth).status_code == 429


@pytest.mark.config(RATE_LIMIT_LOGIN_ACCOUNT="3 per 15 minutes")
def test_the_right_password_forgives_earlier_misses(client, auth):
    for _ in range(2):
        assert (
            client.post(ENROL, json={"password": "a wrong guess"}, headers=auth).status_code == 422
        )
    assert client.post(ENROL, json=STEP_UP, headers=auth).status_code == 200
    for _ in range(3):  # a fresh budget
        assert (
            client.post(ENROL, json={"password": "a wrong guess"}, headers=auth).status_code == 422
        )


def test_wrong_codes_to_backup_codes_reach_429_after_the_otp_budget(client, mfa_user):
    """RATE_LIMIT_OTP_ACCOUNT (5 per 5 minutes): the sixth attempt is refused unchecked,
    even with the right code (it used to be 300 x 422 and no 429)."""
    auth = bearer(
        mobile_login(client, mfa_user.email, otp_code=mfa_user.backup_codes[0])["access_token"]
    )
    wrong = wrong_totp(mfa_user.secret)
    for _ in range(5):
        response = client.post(BACKUP, json={"code": wrong}, headers=auth)
        assert (response.status_code, error_body(response)) == (422, CODE_INVALID)

    refused = client.post(BACKUP, json={"code": totp_now(mfa_user.secret)}, headers=auth)

    assert refused.status_code == 429
    assert set(error_body(refused)) == {"error", "message"}
    assert refused.get_json()["error"] == "rate_limit_exceeded"
    assert 0 < int(refused.headers["Retry-After"]) <= 300
    assert client.get(MFA, headers=auth).get_json()["backup_codes_remaining"] == 7
    # The same budget guards the code at sign-in.
    login = send(
        client,
        LOGIN,
        login_body(
            mfa_user.email, otp_code=mfa_user.backup_codes[1], device_info=device(device_id="other")
        ),
    )
    assert login.status_code == 429


def test_wrong_codes_at_confirmation_reach_429(client, auth):
    secret = enrol(client, auth)["secret"]
    wrong = wrong_totp(secret)
    for _ in range(5):
        response = client.post(CONFIRM, json={"code": wrong}, headers=auth)
        assert (response.status_code, error_body(response)) == (422, CODE_INVALID)
    refused = client.post(CONFIRM, json={"code": totp_now(secret)}, headers=auth)
    assert refused.status_code == 429
    assert client.get(MFA, headers=auth).get_json()["enabled"] is False


def _comparable(response) -> tuple:  # type: ignore[no-untyped-def]
    headers = sorted(
        (k, v) for k, v in response.headers.items() if k not in ("X-Correlation-ID", "Date")
    )
    return response.status_code, error_body(response), headers


def test_disable_answers_a_wrong_password_and_a_wrong_code_alike(client, mfa_user, read_user):
    """No password oracle: someone holding only the session or the app's token learns
    nothing about the password from DELETE /api/v1/mfa."""
    auth = bearer(
        mobile_login(client, mfa_user.email, otp_code=mfa_user.backup_codes[0])["access_token"]
    )
    right_code = mfa_user.backup_codes[1]

    wrong_password = client.delete(
        MFA, json={"password": "a wrong guess", "code": right_code}, headers=auth
    )
    wrong_code = client.delete(
        MFA, json={"password": mfa_user.password, "code": wrong_totp(mfa_user.secret)}, headers=auth
    )
    both_wrong = client.delete(
        MFA, json={"password": "a wrong guess", "code": wrong_totp(mfa_user.secret)}, headers=auth
    )

    assert (wrong_password.status_code, error_body(wrong_password)) == (
        422,
        PASSWORD_OR_CODE_INVALID,
    )
    assert _comparable(wrong_password) == _comparable(wrong_code) == _comparable(both_wrong)
    assert read_user(mfa_user.id)["otp_required"] is True
    # The right code sent with a wrong password was not used up.
    assert (
        client.delete(
            MFA, json={"password": mfa_user.password, "code": right_code}, headers=auth
        ).status_code
        == 200
    )


@pytest.mark.config(
    RATE_LIMIT_LOGIN_ACCOUNT="3 per 15 minutes", RATE_LIMIT_OTP_ACCOUNT="100 per 5 minutes"
)
def test_disable_password_guesses_spend_the_sign_in_budget(client, mfa_user, read_user):
    auth = bearer(
        mobile_login(client, mfa_user.email, otp_code=mfa_user.backup_codes[0])["access_token"]
    )
    for n in range(3):
        response = client.delete(
            MFA, json={"password": f"guess {n}", "code": mfa_user.backup_codes[1]}, headers=auth
        )
        assert response.status_code == 422
    # Budget spent: even the right pair is refused unchecked.
    refused = client.delete(
        MFA, json={"password": mfa_user.password, "code": mfa_user.backup_codes[1]}, headers=auth
    )
    assert refused.status_code == 429
    assert read_user(mfa_user.id)["otp_required"] is True


def test_disable_code_guesses_spend_the_otp_budget(client, mfa_user, read_user):
    auth = bearer(
        mobile_login(client, mfa_user.email, otp_code=mfa_user.backup_codes[0])["access_token"]
    )
    for _ in range(5):
        response = client.delete(
            MFA,
            json={"password": mfa_user.password, "code": wrong_totp(mfa_user.secret)},
            headers=auth,
        )
        assert response.status_code == 422
    refused = client.delete(
        MFA, json={"password": mfa_user.password, "code": mfa_user.backup_codes[1]}, headers=auth
    )
    assert refused.status_code == 429
    assert read_user(mfa_user.id)["otp_required"] is True


def test_step_up_failures_are_audited(app, client, user, auth):
    from sqlalchemy import select

    from app.extensions import db
    from app.models import AuditEvent

    client.post(ENROL, json={"password": "a wrong guess"}, headers=auth)
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(
                AuditEvent.event == "mfa.enrolment", AuditEvent.outcome == "failure"
            )
        )
    assert event is not None
    assert event.actor_user_id == user.id
    assert event.details["reason"] == "bad_password"


# --- the account security page --------------------------------------------------------------


def _page_form(browser) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from tests.support.web import csrf_from

    page = browser.get("/account/security").get_data(as_text=True)
    assert 'name="password"' in page  # the set-up form asks for the password
    return {"csrf_token": csrf_from(page)}


def test_the_page_enrolment_needs_the_password(signed_in):
    form = _page_form(signed_in)
    missing = signed_in.post("/account/security/enrol", data=form)
    assert missing.status_code == 422
    assert "The password is not valid" in missing.get_data(as_text=True)
    assert 'data-testid="secret"' not in missing.get_data(as_text=True)

    wrong = signed_in.post("/account/security/enrol", data={**form, "password": "a wrong guess"})
    assert wrong.status_code == 422

    ok = signed_in.post("/account/security/enrol", data={**form, "password": PASSWORD})
    assert ok.status_code == 200
    assert 'data-testid="secret"' in ok.get_data(as_text=True)


@pytest.mark.config(RATE_LIMIT_LOGIN_ACCOUNT="2 per 15 minutes")
def test_the_page_says_when_the_budget_is_spent(signed_in):
    form = _page_form(signed_in)
    for _ in range(2):
        assert (
            signed_in.post(
                "/account/security/enrol", data={**form, "password": "a wrong guess"}
            ).status_code
            == 422
        )
    refused = signed_in.post("/account/security/enrol", data={**form, "password": PASSWORD})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many attempts" in refused.get_data(as_text=True)
    assert refused.mimetype == "text/html"


def test_the_page_backup_codes_spend_the_otp_budget(app, mfa_user):
    browser = app.test_client()
    assert web_login(browser, mfa_user.email, otp_code=mfa_user.backup_codes[0]).status_code == 302
    from tests.support.web import csrf_from

    form = {"csrf_token": csrf_from(browser.get("/account/security").get_data(as_text=True))}
    for _ in range(5):
        assert (
            browser.post(
                "/account/security/backup_codes", data={**form, "code": wrong_totp(mfa_user.secret)}
            ).status_code
            == 422
        )
    refused = browser.post(
        "/account/security/backup_codes", data={**form, "code": totp_now(mfa_user.secret)}
    )
    assert refused.status_code == 429


# --- browser sessions: CSRF, and other sessions end -----------------------------------------


def test_session_writes_need_the_csrf_header(signed_in):
    assert signed_in.get(MFA).status_code == 200  # reads need no token

    refused = signed_in.post(ENROL)
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_csrf_token"
    forged = signed_in.post(ENROL, headers={"X-CSRFToken": "forged"})
    assert forged.status_code == 400

    accepted = signed_in.post(ENROL, json=STEP_UP, headers={"X-CSRFToken": session_csrf(signed_in)})
    assert accepted.status_code == 200
    assert accepted.get_json()["otpauth_uri"].startswith("otpauth://totp/")


def test_enabling_mfa_ends_the_other_sessions_but_keeps_this_one(app, signed_in, user):
    other = app.test_client()
    assert web_login(other, user.email).status_code == 302
    assert signed_in_as(other)
    csrf = {"X-CSRFToken": session_csrf(signed_in)}

    secret = signed_in.post(ENROL, json=STEP_UP, headers=csrf).get_json()["secret"]
    confirmed = signed_in.post(CONFIRM, json={"code": totp_now(secret)}, headers=csrf)

    assert confirmed.status_code == 200, confirmed.get_json()
    assert_backup_codes(confirmed.get_json()["backup_codes"])
    assert signed_in_as(signed_in)
    assert signed_in.get(MFA).get_json()["enabled"] is True
    assert not signed_in_as(other)
    page = other.get("/account/security")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    # The surviving session can keep writing (its CSRF token still belongs to it).
    assert (
        signed_in.post(
            BACKUP, json={"code": "000000"}, headers={"X-CSRFToken": session_csrf(signed_in)}
        ).status_code
        == 422
    )


def test_disabling_mfa_ends_the_other_sessions_but_keeps_this_one(app, mfa_user):
    this = app.test_client()
    assert web_login(this, mfa_user.email, otp_code=mfa_user.backup_codes[0]).status_code == 302
    other = app.test_client()
    assert web_login(other, mfa_user.email, otp_code=mfa_user.backup_codes[1]).status_code == 302
    assert signed_in_as(this) and signed_in_as(other)

    response = this.delete(
        MFA,
        json={"password": mfa_user.password, "code": mfa_user.backup_codes[2]},
        headers={"X-CSRFToken": session_csrf(this)},
    )

    assert response.status_code == 200, response.get_json()
    assert signed_in_as(this)
    assert not signed_in_as(other)


def test_enabling_mfa_with_a_token_ends_every_browser_session(app, client, user, auth):
    browser = app.test_client()
    assert web_login(browser, user.email).status_code == 302
    secret = enrol(client, auth)["secret"]

    assert client.post(CONFIRM, json={"code": totp_now(secret)}, headers=auth).status_code == 200

    assert not signed_in_as(browser)
    assert client.get(MFA, headers=auth).status_code == 200  # the token itself is untouched


def test_operator_enable_ends_sessions(app, user):
    browser = app.test_client()
    assert web_login(browser, user.email).status_code == 302
    enable_mfa(app, user)
    assert not signed_in_as(browser)


def test_web_login_of_an_mfa_user_needs_the_code(app, mfa_user):
    browser = app.test_client()
    assert web_login(browser, mfa_user.email).status_code == 401
    assert (
        web_login(browser, mfa_user.email, otp_code=wrong_totp(mfa_user.secret)).status_code == 401
    )
    assert not signed_in_as(browser)
    assert web_login(browser, mfa_user.email, otp_code=totp_now(mfa_user.secret)).status_code == 302
    assert signed_in_as(browser)


# --- CLI ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return support_cli.cli_env(tmp_path_factory.mktemp("fp-cli"), AUTO_MIGRATE="true")


def flask_cli(env: dict[str, str], *args: str) -> dict:
    return support_cli.flask_json(env, *args)


def app_on(env: dict[str, str]):  # type: ignore[no-untyped-def]
    """An in-process app on the CLI's database and keys (as a server on it would be)."""
    from app import create_app

    return create_app(
        {
            "TESTING": True,
            "APP_ENV": "testing",
            "AUTO_MIGRATE": False,
            "SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"],
            "SECRET_KEY": env["SECRET_KEY"],
            "ENCRYPTION_KEYS": env["ENCRYPTION_KEYS"],
            "SECRET_KEY_JWT_KEY": env["SECRET_KEY_JWT_KEY"],
            "ACCESS_KEY_JWT_KEY": env["ACCESS_KEY_JWT_KEY"],
            "REDIS_URL": "",
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 8,
            "ARGON2_PARALLELISM": 1,
            "REQUIRE_INVITE_CODE": True,
        }
    )


@pytest.mark.slow
def test_cli_mfa_enable_prints_secret_and_backup_codes(cli_env):
    flask_cli(
        cli_env,
        "users",
        "create",
        "--email",
        "ops@example.com",
        "--password",
        "a long enough password",
    )

    printed = flask_cli(cli_env, "users", "mfa-enable", "--email", "ops@example.com")

    assert set(printed) == {"secret", "backup_codes"}
    assert len(printed["secret"]) >= 16 and pyotp.TOTP(printed["secret"]).now()
    assert_backup_codes(printed["backup_codes"])

    # What it printed works against a server on that database.
    app = app_on(cli_env)
    try:
        client = app.test_client()
        body = login_body("ops@example.com", "a long enough password")
        asked = send(client, LOGIN, body)
        assert (asked.status_code, asked.get_json()) == (401, MFA_REQUIRED)
        body["otp_code"] = totp_now(printed["secret"])
        assert send(client, LOGIN, body).status_code == 200
        body["otp_code"] = printed["backup_codes"][0]
        assert send(client, LOGIN, body).status_code == 200
        assert send(client, LOGIN, body).status_code == 401
    finally:
        from app.extensions import db

        with app.app_context():
            db.engine.dispose()

    missing = support_cli.flask_cli(cli_env, "users", "mfa-enable", "--email", "nobody@example.com")
    missing.assert_failed()


@pytest.mark.slow
def test_cli_invites_create_prints_codes_that_sign_up(cli_env):
    printed = flask_cli(cli_env, "invites", "create", "--count", "3")

    assert set(printed) == {"codes"}
    codes = printed["codes"]
    assert len(codes) == 3 and len(set(codes)) == 3
    assert all(HEX8.match(code) for code in codes)
    assert flask_cli(cli_env, "invites", "create")["codes"][0] not in codes  # default count 1

    app = app_on(cli_env)
    try:
        client = app.test_client()
        assert send(client, SIGNUP, signup_body("a@example.com")).get_json() == {
            "error": "Invite code is required"
        }
        assert (
            send(client, SIGNUP, signup_body("a@example.com", invite_code=codes[0])).status_code
            == 201
        )
        assert send(
            client, SIGNUP, signup_body("b@example.com", invite_code=codes[0]), "form"
        ).get_json() == {"error": "Invalid invite code"}
        assert (
            send(
                client, SIGNUP, signup_body("b@example.com", invite_code=codes[1].upper()), "form"
            ).status_code
            == 201
        )
    finally:
        from app.extensions import db

        with app.app_context():
            db.engine.dispose()
    # Stored as digests only.
    import sqlite3

    with sqlite3.connect(cli_env["DATABASE_URL"].removeprefix("sqlite:///")) as conn:
        dump = "\n".join(conn.iterdump())
    assert not any(code in dump for code in codes)
