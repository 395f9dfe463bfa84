"""GET /auth/me and /api/v1/auth/me (seed 003.16, §4.2): who is calling, with any REST
credential -- the user (null for a service credential), the tenant, the region, the kind of
credential, the live permissions (sorted), the scope, MFA and the partner flag."""

from __future__ import annotations

import pytest

from app.clock import utcnow
from tests.sessions.conftest import ME, bearer
from tests.support.factories import enable_mfa, grant_role
from tests.support.http import api_error
from tests.support.web import login

ME_KEYS = {
    "user",
    "tenant_id",
    "region",
    "credential_type",
    "permissions",
    "scope",
    "mfa_enabled",
    "is_partner",
}


@pytest.mark.parametrize("path", [ME, "/api/v1" + ME])
def test_me_with_a_session_token(app, api, user, session, path: str) -> None:
    from app.identity.roles import permissions_for

    response = api.get(path, headers=bearer(session["access_token"]))

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == ME_KEYS
    assert body["user"] == {
        "id": str(user.id),
        "email": user.email,
        "first_name": "Alice",
        "last_name": None,
        "role": "member",
        "roles": ["member"],
    }
    assert body["tenant_id"] == str(user.family_id)
    assert body["region"] == "default"
    assert body["credential_type"] == "session_token"
    assert body["permissions"] == sorted(permissions_for("member"))
    assert body["scope"] == "read_write"
    assert body["mfa_enabled"] is False
    assert body["is_partner"] is False


def test_granted_roles_and_flags_are_read_live(app, api, user, session, set_user) -> None:
    grant_role(app, user, "viewer")
    set_user(user.id, is_partner=True)

    body = api.get(ME, headers=bearer(session["access_token"])).get_json()

    assert body["user"]["roles"] == ["member", "viewer"]
    assert "scans.view" in body["permissions"]
    assert body["permissions"] == sorted(body["permissions"])
    assert body["is_partner"] is True


def test_mfa_enabled_is_the_users_flag(app, api, user) -> None:
    from tests.support.totp import totp_now

    mfa = enable_mfa(app, user)
    response = api.post(
        "/auth/login",
        json={"email": user.email, "password": user.password, "totp_code": totp_now(mfa.secret)},
    )

    body = api.get(ME, headers=bearer(response.get_json()["access_token"])).get_json()

    assert body["mfa_enabled"] is True


def test_me_with_an_oauth_token(api, user, tokens) -> None:
    body = api.get(ME, headers=bearer(tokens["access_token"])).get_json()

    assert body["credential_type"] == "oauth"
    assert body["user"]["id"] == str(user.id)
    assert body["scope"] == "read_write"


def test_me_with_an_api_key(api, user, make_key) -> None:
    key = make_key(user, scope="read")

    body = api.get(ME, headers={"X-Api-Key": key}).get_json()

    assert body["credential_type"] == "api_key"
    assert body["user"]["email"] == user.email
    assert body["scope"] == "read"


def test_me_with_the_browser_session(client, user) -> None:
    assert login(client, user.email, user.password).status_code == 302

    body = client.get(ME).get_json()

    assert body["credential_type"] == "session"
    assert body["user"]["id"] == str(user.id)


def test_me_with_a_service_credential_has_no_user(app, api, user) -> None:
    from app.accesskeys import services
    from app.extensions import db
    from app.identity.models import User

    grant_role(app, user, "global_admin")
    with app.app_context():
        created = services.create_access_key(
            db.session.get(User, user.id),
            name="automation",
            roles=[{"role": "global_viewer"}],
            now=utcnow(),
        )
        token = created.token

    body = api.get(ME, headers=bearer(token)).get_json()

    assert body["user"] is None
    assert body["credential_type"] == "access_key"
    assert body["tenant_id"] == str(user.family_id)
    assert body["mfa_enabled"] is False and body["is_partner"] is False
    assert body["permissions"] and all(p.endswith(".view") for p in body["permissions"])
    assert body["scope"] == "read"


def test_me_without_a_credential_is_401(api) -> None:
    response = api.get(ME)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert api_error(response)["error"] == "unauthorized"
