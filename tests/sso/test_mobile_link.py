"""``POST /api/v1/auth/sso_link`` (contract §3.5, §7.1 tests 26-32, checklist 23-24): a linking
code from an unlinked mobile SSO, plus the account's email and password, links the identity and
issues a device token for the device captured at the start. Wrong credentials and MFA users keep
the code; a blocked identity burns it; the code works once."""

from __future__ import annotations

import pytest

from app.identity.models import Device
from app.oauth2.models import OAuthToken
from app.sso.models import SsoIdentity
from tests.sso.sure_sso import (
    IDENTITY_REMOVED,
    LINKING_CODE_INVALID,
    LINKING_CODE_REQUIRED,
    SSO_EXCHANGE,
    SSO_LINK,
    SSO_MFA,
    block,
    count_fixture,  # noqa: F401 - fixture
    link,
    linking_payload,
    minutes_ago,
    mobile_callback,
    provider_fixture,  # noqa: F401 - fixture
    query,
    set_user,
    stored_codes,
    upstream,
)
from tests.support.factories import PASSWORD, enable_mfa
from tests.support.http import bearer, send
from tests.support.sure import (
    DEVICE,
    INVALID_CREDENTIALS,
    assert_error,
    assert_token_block,
    assert_user_object,
    status_of,
)

pytestmark = pytest.mark.usefixtures("provider")


@pytest.fixture
def bob(make_user):  # type: ignore[no-untyped-def]
    return make_user(email="bob@bobdylan.com", first_name="Bob", last_name="Dylan")


IDENTITY = upstream(subject="bob-at-idp", email="bob.elsewhere@example.com")


def linking_code(app, identity=IDENTITY, **kwargs) -> str:  # type: ignore[no-untyped-def]
    params = query(mobile_callback(app, identity, **kwargs))
    assert params["status"] == "account_not_linked"
    return params["linking_code"]


def link_body(code: str, email: str = "bob@bobdylan.com", password: str = PASSWORD) -> dict:
    return {"linking_code": code, "email": email, "password": password}


@pytest.mark.parametrize("fmt", ["json", "form"])
def test_valid_code_and_credentials_link_the_identity_and_issue_a_device_token(
    app, client, bob, count, fmt
):
    code = linking_code(app)

    response = send(client, SSO_LINK, link_body(code), fmt)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert_token_block(body)
    assert_user_object(body["user"])
    assert body["user"]["id"] == str(bob.id)
    assert "no-store" in response.headers["Cache-Control"]
    assert count(SsoIdentity, SsoIdentity.user_id == bob.id) == 1
    assert count(Device, Device.device_id == DEVICE["device_id"]) == 1
    assert status_of(client, bearer(body["access_token"])) == 200
    assert linking_payload(app, code) is None  # consumed


def test_the_linked_identity_then_signs_in_directly(app, client, bob):
    send(client, SSO_LINK, link_body(linking_code(app)))

    params = query(mobile_callback(app, IDENTITY))

    assert set(params) == {"code"}
    assert client.post(SSO_EXCHANGE, json=params).get_json()["user"]["id"] == str(bob.id)


def test_wrong_password_is_401_and_keeps_the_code(app, client, bob, count):
    code = linking_code(app)

    response = send(client, SSO_LINK, link_body(code, password="wrong-password"))

    assert_error(response, 401, INVALID_CREDENTIALS)
    assert linking_payload(app, code) is not None
    assert count(SsoIdentity) == 0
    assert send(client, SSO_LINK, link_body(code)).status_code == 200


def test_unknown_email_is_401(app, client, bob):
    code = linking_code(app)
    assert_error(
        send(client, SSO_LINK, link_body(code, email="nobody@example.com")),
        401,
        INVALID_CREDENTIALS,
    )


def test_inactive_user_is_401_and_keeps_the_code(app, client, bob, count):
    code = linking_code(app)
    set_user(app, bob.id, active=False)

    assert_error(send(client, SSO_LINK, link_body(code)), 401, INVALID_CREDENTIALS)
    assert linking_payload(app, code) is not None
    assert count(SsoIdentity) == 0


def test_mfa_user_is_401_mfa_required_and_keeps_the_code(app, client, bob, count):
    enable_mfa(app, bob)
    code = linking_code(app)

    response = send(client, SSO_LINK, link_body(code))

    assert_error(response, 401, SSO_MFA)
    assert "MFA" in response.get_json()["error"]
    assert linking_payload(app, code) is not None
    assert count(SsoIdentity) == 0
    assert count(OAuthToken) == 0


def test_unknown_code_is_401(client, bob):
    assert_error(send(client, SSO_LINK, link_body("unknown")), 401, LINKING_CODE_INVALID)


@pytest.mark.parametrize("body", [{}, {"linking_code": ""}, {"linking_code": None}])
def test_no_code_is_400(client, bob, body):
    response = send(client, SSO_LINK, {**body, "email": "bob@bobdylan.com", "password": PASSWORD})
    assert_error(response, 400, LINKING_CODE_REQUIRED)


def test_the_same_code_twice_first_200_then_401(app, client, bob):
    code = linking_code(app)

    assert send(client, SSO_LINK, link_body(code)).status_code == 200
    assert_error(send(client, SSO_LINK, link_body(code)), 401, LINKING_CODE_INVALID)
    assert linking_payload(app, code) is None


def test_an_expired_code_is_401(app, client, bob):
    code = linking_code(app, now=minutes_ago(10))
    assert_error(send(client, SSO_LINK, link_body(code)), 401, LINKING_CODE_INVALID)


def test_an_exchange_code_is_not_a_linking_code(app, client, bob):
    link(app, bob, IDENTITY)
    exchange_code = query(mobile_callback(app, IDENTITY))["code"]
    assert_error(send(client, SSO_LINK, link_body(exchange_code)), 401, LINKING_CODE_INVALID)


def test_a_blocked_identity_is_403_and_the_code_is_deleted(app, client, bob, make_user, count):
    code = linking_code(app)
    # Meanwhile the identity was linked to someone else and an administrator removed it.
    other = make_user(email="other@example.com")
    link(app, other, IDENTITY)
    block(app, IDENTITY)

    assert_error(send(client, SSO_LINK, link_body(code)), 403, IDENTITY_REMOVED)
    assert linking_payload(app, code) is None
    assert count(SsoIdentity, SsoIdentity.user_id == bob.id) == 0
    assert count(OAuthToken) == 0


def test_an_identity_linked_to_someone_else_meanwhile_is_422(app, client, bob, make_user, count):
    code = linking_code(app)
    other = make_user(email="other@example.com")
    link(app, other, IDENTITY)

    response = send(client, SSO_LINK, link_body(code))

    assert response.status_code == 422
    assert list(response.get_json()) == ["errors"]
    assert count(SsoIdentity, SsoIdentity.user_id == bob.id) == 0
    assert count(OAuthToken) == 0


def test_an_unsaveable_device_is_422_and_keeps_the_code(app, client, bob, count):
    from tests.support.sure import device

    code = linking_code(app, device=device(device_type="windows"))

    response = send(client, SSO_LINK, link_body(code))

    assert_error(response, 422, {"error": "Failed to register device"})
    assert linking_payload(app, code) is not None
    assert count(SsoIdentity) == 0


def test_nothing_secret_is_stored_in_clear(app, bob):
    code = linking_code(app)
    [row] = stored_codes(app)
    assert row["kind"] == "linking"
    assert code not in row["code_digest"]
    assert "bob.elsewhere@example.com" not in row["payload_encrypted"]
    assert (row["expires_at"] - row["created_at"]).total_seconds() == 600
