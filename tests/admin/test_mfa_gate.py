"""The MFA gate on tenant administration in production (RedCloud 003.38, T35): every admin.*
route asks a user-bound caller for TOTP enrolment, read live on each request. Without TOTP
403 MFA_REQUIRED; with it 200; turning TOTP off applies to the very next request of the same
token. API keys are gated too; outside production the gate is off."""

from __future__ import annotations

import pytest

from tests.support.factories import enable_mfa
from tests.support.http import api_error
from tests.support.tenantadmin import (
    ROLES,
    SETTINGS,
    USERS,
    api_key,
    bearer,
    keys_path,
    token_of,
    user_path,
)
from tests.support.totp import totp_now, totp_pair

production = pytest.mark.config(APP_ENV="production")
MFA_REQUIRED = {
    "error": "mfa_required",
    "message": "Enable two-factor authentication to perform this action",
}


def _calls(client, headers, member):  # type: ignore[no-untyped-def]
    return [
        client.get(USERS, headers=headers),
        client.patch(user_path(member), json={"role": "guest"}, headers=headers),
        client.get(keys_path(member), headers=headers),
        client.post(keys_path(member), json={"name": "ci"}, headers=headers),
        client.get(ROLES, headers=headers),
        client.get(SETTINGS, headers=headers),
        client.patch(SETTINGS, json={"name": "Acme"}, headers=headers),
    ]


@production
def test_without_totp_every_admin_route_is_403_mfa_required(client, admin, member) -> None:
    headers = bearer(token_of(client, admin))
    for response in _calls(client, headers, member):
        assert response.status_code == 403, response.request.path
        assert api_error(response) == MFA_REQUIRED
        assert response.get_json()["code"] == "MFA_REQUIRED"
        assert response.headers["X-Tenant-ID"] == str(admin.family_id)


@production
def test_with_totp_the_admin_routes_answer(app, client, admin, member) -> None:
    enrolled = enable_mfa(app, admin)
    headers = bearer(token_of(client, enrolled, otp_code=totp_now(enrolled.secret)))
    statuses = [r.status_code for r in _calls(client, headers, member)]
    assert statuses == [200, 200, 200, 201, 200, 200, 200]


@production
def test_turning_totp_off_applies_to_the_next_request(app, client, admin) -> None:
    enrolled = enable_mfa(app, admin)
    login_code, disable_code = totp_pair(enrolled.secret)
    headers = bearer(token_of(client, enrolled, otp_code=login_code))
    assert client.get(USERS, headers=headers).status_code == 200
    off = client.delete(
        "/api/v1/mfa", json={"password": enrolled.password, "code": disable_code}, headers=headers
    )
    assert off.status_code == 200, off.get_json()
    response = client.get(USERS, headers=headers)  # the same token, the next request
    assert response.status_code == 403
    assert api_error(response) == MFA_REQUIRED


@production
def test_an_admins_api_key_is_gated_too(app, client, admin, make_key) -> None:
    key = api_key(make_key(admin))
    assert api_error(client.get(USERS, headers=key)) == MFA_REQUIRED
    enable_mfa(app, admin)
    assert client.get(USERS, headers=key).status_code == 200


@production
def test_the_gate_is_only_on_admin_routes(client, admin) -> None:
    assert client.get("/scans", headers=bearer(token_of(client, admin))).status_code == 200


def test_outside_production_the_gate_is_off(client, admin, member) -> None:
    headers = bearer(token_of(client, admin))
    statuses = [r.status_code for r in _calls(client, headers, member)]
    assert statuses == [200, 200, 200, 201, 200, 200, 200]
