"""The account security page (TOTP enrolment, backup codes, turning MFA off) through the Flask
test client: who may see it, what each form answers, and the shared attempt budgets."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.factories import PASSWORD, MfaUser, UserInfo, enable_mfa
from tests.support.totp import totp_now, totp_pair, wrong_totp
from tests.support.web import csrf_from, login, session_csrf

SECURITY = "/account/security"
ENROL = "/account/security/enrol"
CONFIRM = "/account/security/confirm"
BACKUP_CODES = "/account/security/backup_codes"
DISABLE = "/account/security/disable"
ERROR_RE = re.compile(r'<p class="error" role="alert">([^<]*)</p>')
SECRET_RE = re.compile(r'<code data-testid="secret">([A-Z2-7]+)</code>')
CODES_RE = re.compile(r"<li><code>([^<]+)</code></li>")


def _error(response: TestResponse) -> str:
    match = ERROR_RE.search(response.get_data(as_text=True))
    assert match, "page shows no error"
    return match.group(1)


def _post(client: FlaskClient, path: str, **form: str) -> TestResponse:
    return client.post(path, data={**form, "csrf_token": session_csrf(client)})


@pytest.fixture
def mfa_signed_in(app, client: FlaskClient, user: UserInfo) -> tuple[FlaskClient, MfaUser]:
    mfa_user = enable_mfa(app, user)
    assert login(client, user.email, otp_code=mfa_user.backup_codes[0]).status_code == 302
    return client, mfa_user


# --- signed out ------------------------------------------------------------------------------


def test_signed_out_page_sends_to_sign_in_and_back(client):
    response = client.get(SECURITY)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/account/security"


@pytest.mark.parametrize("path", [ENROL, CONFIRM, BACKUP_CODES, DISABLE])
def test_signed_out_forms_send_to_sign_in(client, path):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post(path, data={"csrf_token": token, "password": PASSWORD, "code": "123456"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={path}"


# --- enrolment ---------------------------------------------------------------------------------


def test_page_offers_enrolment_while_mfa_is_off(signed_in):
    response = signed_in.get(SECURITY)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "is <strong>off</strong>" in html
    assert f'action="{ENROL}"' in html
    assert response.headers["Cache-Control"] == "no-store"


def test_enrolment_with_a_wrong_password_is_refused(signed_in):
    response = _post(signed_in, ENROL, password="not the password")
    assert response.status_code == 422
    assert _error(response) == "The password is not valid"


def test_enrolment_then_confirmation_turns_mfa_on(signed_in):
    started = _post(signed_in, ENROL, password=PASSWORD)
    assert started.status_code == 200
    match = SECRET_RE.search(started.get_data(as_text=True))
    assert match, "no secret shown"
    secret = match.group(1)
    assert "<svg" in started.get_data(as_text=True)

    wrong = _post(signed_in, CONFIRM, code=wrong_totp(secret))
    assert wrong.status_code == 422
    assert _error(wrong) == "The code is not valid"

    confirmed = _post(signed_in, CONFIRM, code=totp_now(secret))
    assert confirmed.status_code == 200
    assert len(CODES_RE.findall(confirmed.get_data(as_text=True))) >= 8
    # The session continues (the confirmation signed it in again under the new epoch).
    page = signed_in.get(SECURITY)
    assert page.status_code == 200
    assert "is <strong>on</strong>" in page.get_data(as_text=True)


def test_confirmation_without_enrolment_is_refused(signed_in):
    response = _post(signed_in, CONFIRM, code="123456")
    assert response.status_code == 422
    assert _error(response) == "Start the enrolment first"


@pytest.mark.config(RATE_LIMIT_LOGIN_ACCOUNT="2 per 15 minutes")
def test_enrolment_password_guesses_are_throttled(signed_in):
    for _ in range(2):
        assert _post(signed_in, ENROL, password="a wrong guess").status_code == 422
    response = _post(signed_in, ENROL, password=PASSWORD)
    assert response.status_code == 429
    assert _error(response) == "Too many attempts. Try again later."
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.config(RATE_LIMIT_OTP_ACCOUNT="1 per 5 minutes")
def test_confirmation_code_guesses_are_throttled(signed_in):
    started = _post(signed_in, ENROL, password=PASSWORD)
    match = SECRET_RE.search(started.get_data(as_text=True))
    assert match
    secret = match.group(1)
    assert _post(signed_in, CONFIRM, code=wrong_totp(secret)).status_code == 422
    response = _post(signed_in, CONFIRM, code=totp_now(secret))
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


# --- with MFA on ---------------------------------------------------------------------------------


def test_page_offers_backup_codes_and_turning_off_while_mfa_is_on(mfa_signed_in):
    client, _ = mfa_signed_in
    html = client.get(SECURITY).get_data(as_text=True)
    assert "is <strong>on</strong>" in html
    assert f'action="{BACKUP_CODES}"' in html
    assert f'action="{DISABLE}"' in html


def test_enrolment_while_mfa_is_on_is_refused(mfa_signed_in):
    client, _ = mfa_signed_in
    response = _post(client, ENROL, password=PASSWORD)
    assert response.status_code == 422
    assert _error(response) == "Two-factor authentication is already enabled"


def test_new_backup_codes_need_a_current_code(mfa_signed_in):
    client, mfa_user = mfa_signed_in
    wrong = _post(client, BACKUP_CODES, code=wrong_totp(mfa_user.secret))
    assert wrong.status_code == 422
    assert _error(wrong) == "The code is not valid"

    response = _post(client, BACKUP_CODES, code=totp_now(mfa_user.secret))
    assert response.status_code == 200
    codes = CODES_RE.findall(response.get_data(as_text=True))
    assert codes and not set(codes) & set(mfa_user.backup_codes)


@pytest.mark.config(RATE_LIMIT_OTP_ACCOUNT="1 per 5 minutes")
def test_backup_code_regeneration_is_throttled(mfa_signed_in):
    client, mfa_user = mfa_signed_in
    assert _post(client, BACKUP_CODES, code=wrong_totp(mfa_user.secret)).status_code == 422
    response = _post(client, BACKUP_CODES, code=totp_now(mfa_user.secret))
    assert response.status_code == 429
    assert _error(response) == "Too many attempts. Try again later."


def test_turning_off_needs_the_password_and_a_code(mfa_signed_in):
    client, mfa_user = mfa_signed_in
    wrong = _post(client, DISABLE, password="not the password", code=totp_now(mfa_user.secret))
    assert wrong.status_code == 422
    assert _error(wrong) == "The password or the code is not valid"

    _, current = totp_pair(mfa_user.secret)
    response = _post(client, DISABLE, password=PASSWORD, code=current)
    assert response.status_code == 200
    assert "is <strong>off</strong>" in response.get_data(as_text=True)
    # This session continues; the page now offers enrolment again.
    assert "is <strong>off</strong>" in client.get(SECURITY).get_data(as_text=True)


@pytest.mark.config(RATE_LIMIT_LOGIN_ACCOUNT="1 per 15 minutes")
def test_turning_off_is_throttled(mfa_signed_in):
    client, mfa_user = mfa_signed_in
    assert (
        _post(client, DISABLE, password="a wrong guess", code=totp_now(mfa_user.secret)).status_code
        == 422
    )
    response = _post(client, DISABLE, password=PASSWORD, code=totp_now(mfa_user.secret))
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


def test_turning_off_while_mfa_is_off_is_refused(signed_in):
    response = _post(signed_in, DISABLE, password=PASSWORD, code="123456")
    assert response.status_code == 422
    assert _error(response) == "Two-factor authentication is not enabled"


# --- sign-in with a second factor ------------------------------------------------------------


def test_sign_in_of_an_mfa_user_asks_for_the_code(app, client, user):
    enable_mfa(app, user)
    response = login(client, user.email)
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert _error(response) == "Enter the 6-digit code from your authenticator app."
    assert 'name="otp_code"' in html
