"""RedCloud's tenancy rules at the gate, black-box over HTTP.

- The tenant comes from the credential; ``X-Tenant-ID`` may only name it, except for a
  platform super-admin holding admin.users and admin.settings (C10, T6); anyone else naming
  another tenant gets 403 TENANT_FORBIDDEN, and the refusal is audited.
- The tenant the request acted in is echoed in ``X-Tenant-ID`` on every response once it is
  known, errors included (T23).
- MFA-gated permissions need TOTP enrolled in production, read live (T35).
- A credential issued in another region is a 401 (C18, T27).
- The legacy global key is a read-only service principal, restricted in production (T29).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from app.audit.models import AuditEvent
from app.config import ConfigurationError
from app.extensions import db
from app.identity.roles import LEGACY_GLOBAL_PERMISSIONS
from tests.support.config import base_config
from tests.support.factories import UserInfo, enable_mfa
from tests.support.http import api_error, bearer
from tests.support.oauth import authorize, exchange_code
from tests.support.sure import mobile_login
from tests.support.totp import totp_now
from tests.support.web import login

ACCOUNTS = "/api/v1/accounts"
GLOBAL_KEY = "g" * 40


def _token(client: FlaskClient, who: UserInfo) -> str:
    token: str = mobile_login(client, who.email)["access_token"]
    return token


def _events(app: Flask, event: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == event)))


# --- X-Tenant-ID ---------------------------------------------------------------------------


def test_the_tenant_comes_from_the_credential_and_is_echoed(client, user) -> None:
    response = client.get(ACCOUNTS, headers=bearer(_token(client, user)))
    assert response.status_code == 200
    assert response.headers["X-Tenant-ID"] == str(user.family_id)


def test_naming_your_own_tenant_changes_nothing(client, user) -> None:
    headers = {**bearer(_token(client, user)), "X-Tenant-ID": str(user.family_id).upper()}
    response = client.get(ACCOUNTS, headers=headers)
    assert response.status_code == 200
    assert response.headers["X-Tenant-ID"] == str(user.family_id)


@pytest.mark.parametrize("role", ["member", "admin"])
def test_another_tenant_is_403_tenant_forbidden_and_audited(app, client, make_user, role) -> None:
    caller = make_user(role=role)
    other = make_user()
    token = _token(client, caller)
    response = client.get(ACCOUNTS, headers={**bearer(token), "X-Tenant-ID": str(other.family_id)})
    assert response.status_code == 403
    assert api_error(response) == {
        "error": "tenant_forbidden",
        "message": "You may not act in this tenant",
    }
    # The error still says which tenant the request was bound to: the caller's own.
    assert response.headers["X-Tenant-ID"] == str(caller.family_id)
    [denied] = _events(app, "tenant.denied")
    assert denied.outcome == "denied"
    assert denied.family_id == caller.family_id
    assert denied.actor_user_id == caller.id
    assert denied.details["requested_tenant"] == str(other.family_id)
    assert denied.correlation_id == response.headers["X-Correlation-ID"]
    assert token not in str(denied.details)


def test_a_malformed_tenant_header_is_400(client, user) -> None:
    headers = {**bearer(_token(client, user)), "X-Tenant-ID": "family-1"}
    response = client.get(ACCOUNTS, headers=headers)
    assert response.status_code == 400
    assert api_error(response)["error"] == "bad_request"


def test_a_super_admin_with_both_permissions_may_act_in_another_tenant(
    app, client, make_user
) -> None:
    operator = make_user(role="super_admin")
    tenant = make_user(role="admin")
    headers = {**bearer(_token(client, operator)), "X-Tenant-ID": str(tenant.family_id)}
    response = client.get(ACCOUNTS, headers=headers)
    assert response.status_code == 200
    assert response.headers["X-Tenant-ID"] == str(tenant.family_id)
    [switched] = _events(app, "tenant.switched")
    assert switched.family_id == operator.family_id
    assert switched.details["requested_tenant"] == str(tenant.family_id)


def test_a_switched_super_admin_is_not_the_account_holder(client, make_user) -> None:
    """Acting in another tenant never manages credentials there (no first-party rights)."""
    operator = make_user(role="super_admin")
    tenant = make_user(role="admin")
    headers = {**bearer(_token(client, operator)), "X-Tenant-ID": str(tenant.family_id)}
    response = client.post(
        "/api/v1/api_keys", json={"api_key": {"name": "x", "scopes": ["read"]}}, headers=headers
    )
    assert response.status_code == 403


def test_a_super_admin_cannot_name_an_unknown_tenant(client, make_user) -> None:
    operator = make_user(role="super_admin")
    headers = {**bearer(_token(client, operator)), "X-Tenant-ID": str(uuid.uuid4())}
    response = client.get(ACCOUNTS, headers=headers)
    assert response.status_code == 403
    assert api_error(response)["error"] == "tenant_forbidden"


def test_no_tenant_header_on_a_401(client, user) -> None:
    response = client.get(ACCOUNTS, headers={"X-Tenant-ID": str(user.family_id)})
    assert response.status_code == 401
    assert "X-Tenant-ID" not in response.headers


def test_the_tenant_is_echoed_on_a_403_for_scope(client, user, signed_in, oauth_client) -> None:
    auth = authorize(signed_in, oauth_client, scope="read")
    token = exchange_code(signed_in, oauth_client, auth).get_json()["access_token"]
    response = client.post("/api/v1/sync", headers=bearer(token))
    assert response.status_code == 403
    assert response.headers["X-Tenant-ID"] == str(user.family_id)
    assert response.headers["X-Correlation-ID"]


# --- the MFA gate (production) --------------------------------------------------------------


def _grant_viewer(client: FlaskClient, admin_token: str, member: UserInfo) -> Any:
    return client.post(
        f"/api/v1/admin/users/{member.id}/roles",
        json={"role": "global_viewer"},
        headers=bearer(admin_token),
    )


@pytest.mark.config(APP_ENV="production")
def test_admin_routes_need_totp_in_production(app, client, make_user) -> None:
    admin = make_user(role="admin")
    member = make_user(family_id=admin.family_id)
    response = _grant_viewer(client, _token(client, admin), member)
    assert response.status_code == 403
    assert api_error(response) == {
        "error": "mfa_required",
        "message": "Enable two-factor authentication to perform this action",
    }


@pytest.mark.config(APP_ENV="production")
def test_the_mfa_gate_reads_the_live_flag(app, client, make_user) -> None:
    admin = enable_mfa(app, make_user(role="admin"))
    member = make_user(family_id=admin.family_id)
    token = mobile_login(client, admin.email, otp_code=totp_now(admin.secret))["access_token"]
    assert _grant_viewer(client, token, member).status_code == 200

    from app.identity.models import User

    with app.app_context():  # TOTP turned off since the token was issued (T35)
        row = db.session.get(User, admin.id)
        row.otp_required = False
        db.session.commit()
    assert _grant_viewer(client, token, member).status_code == 403


def test_outside_production_the_mfa_gate_is_off(client, make_user) -> None:
    admin = make_user(role="admin")
    member = make_user(family_id=admin.family_id)
    assert _grant_viewer(client, _token(client, admin), member).status_code == 200


@pytest.mark.config(APP_ENV="production")
def test_non_admin_routes_do_not_need_totp(client, user) -> None:
    assert client.get(ACCOUNTS, headers=bearer(_token(client, user))).status_code == 200


@pytest.mark.config(APP_ENV="production")
def test_the_browser_session_is_gated_too(app, client, make_user) -> None:
    admin = make_user(role="admin")
    member = make_user(family_id=admin.family_id)
    login(client, admin.email, admin.password)
    response = client.get(f"/api/v1/admin/users/{member.id}/roles", base_url="https://localhost")
    assert response.status_code == 403
    assert api_error(response)["error"] == "mfa_required"


# --- regions ---------------------------------------------------------------------------------


def _app_in(database_url: str, instance_dir: Any, region: str) -> Flask:
    return create_app({**base_config(database_url, instance_dir), "REGION": region})


def test_a_token_of_another_region_is_401(app, client, user, database_url, instance_dir) -> None:
    token = _token(client, user)
    assert client.get(ACCOUNTS, headers=bearer(token)).status_code == 200
    elsewhere = _app_in(database_url, instance_dir, "eu").test_client()
    response = elsewhere.get(ACCOUNTS, headers=bearer(token))
    assert response.status_code == 401
    assert api_error(response)["error"] == "unauthorized"
    assert "X-Tenant-ID" not in response.headers


def test_an_api_key_of_another_region_is_401(
    app, client, user, make_key, database_url, instance_dir
) -> None:
    key = make_key(user)
    assert client.get(ACCOUNTS, headers={"X-Api-Key": key}).status_code == 200
    elsewhere = _app_in(database_url, instance_dir, "eu").test_client()
    assert elsewhere.get(ACCOUNTS, headers={"X-Api-Key": key}).status_code == 401


def test_a_browser_session_of_another_region_is_401(
    app, client, user, database_url, instance_dir
) -> None:
    login(client, user.email, user.password)
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    elsewhere = _app_in(database_url, instance_dir, "eu").test_client()
    elsewhere.set_cookie(cookie.key, cookie.value)
    assert elsewhere.get(ACCOUNTS).status_code == 401


def test_new_users_and_tokens_carry_the_region_of_their_instance(
    database_url, instance_dir
) -> None:
    eu = _app_in(database_url, instance_dir, "eu")
    client = eu.test_client()
    from app.identity import users

    with eu.app_context():
        created = users.create_user(
            email="eu@example.com", password="correct horse battery", now=_now()
        )
        assert created.region == "eu" and created.family.region == "eu"
    token = mobile_login(client, "eu@example.com", "correct horse battery")
    assert client.get(ACCOUNTS, headers=bearer(token["access_token"])).status_code == 200


@pytest.mark.parametrize("region", ["", " ", "r" * 33])
def test_a_bad_region_stops_start_up(database_url, instance_dir, region) -> None:
    with pytest.raises(ConfigurationError, match="REGION"):
        _app_in(database_url, instance_dir, region)


# --- the legacy global key -------------------------------------------------------------------


def _global_app(database_url: str, instance_dir: Any, family: uuid.UUID, **extra: Any) -> Flask:
    return create_app(
        {
            **base_config(database_url, instance_dir),
            "GLOBAL_API_KEY": GLOBAL_KEY,
            "GLOBAL_API_KEY_FAMILY_ID": str(family),
            **extra,
        }
    )


def test_the_global_key_is_read_only(app, user, database_url, instance_dir) -> None:
    api = _global_app(database_url, instance_dir, user.family_id).test_client()
    assert api.get(ACCOUNTS, headers={"X-Api-Key": GLOBAL_KEY}).status_code == 200
    assert api.post("/api/v1/sync", headers={"X-Api-Key": GLOBAL_KEY}).status_code == 403


def test_outside_production_the_global_key_takes_configured_views(
    app, user, database_url, instance_dir
) -> None:
    api = _global_app(
        database_url, instance_dir, user.family_id, GLOBAL_API_KEY_PERMISSIONS="tags.view"
    ).test_client()
    assert api.get("/api/v1/tags", headers={"X-Api-Key": GLOBAL_KEY}).status_code == 200
    assert api.get(ACCOUNTS, headers={"X-Api-Key": GLOBAL_KEY}).status_code == 403


def test_in_production_the_global_key_has_the_legacy_set_whatever_is_configured(
    app, user, database_url, instance_dir
) -> None:
    from app.apikeys.verifier import global_key_permissions

    production = _global_app(
        database_url,
        instance_dir,
        user.family_id,
        APP_ENV="production",
        GLOBAL_API_KEY_PERMISSIONS="tags.view",
    )
    assert global_key_permissions(production.config) == LEGACY_GLOBAL_PERMISSIONS
    api = production.test_client()
    assert api.get(ACCOUNTS, headers={"X-Api-Key": GLOBAL_KEY}).status_code == 200


@pytest.mark.parametrize("permissions", ["admin.users", "tags.view,tags.write", "*"])
def test_the_global_key_never_gets_more_than_views(
    user, database_url, instance_dir, permissions
) -> None:
    with pytest.raises(ConfigurationError, match="GLOBAL_API_KEY_PERMISSIONS"):
        _global_app(
            database_url, instance_dir, user.family_id, GLOBAL_API_KEY_PERMISSIONS=permissions
        )


def test_a_global_key_shaped_like_a_personal_key_stops_start_up(
    user, database_url, instance_dir
) -> None:
    with pytest.raises(ConfigurationError, match="API_KEY_PREFIX"):
        create_app(
            {
                **base_config(database_url, instance_dir),
                "GLOBAL_API_KEY": "tgk_" + "x" * 40,
                "GLOBAL_API_KEY_FAMILY_ID": str(user.family_id),
            }
        )


def _now() -> Any:
    from app.clock import utcnow

    return utcnow()
