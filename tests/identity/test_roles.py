"""Granted roles: who may grant what (the Secret Key Administrator only by a platform
super-admin), over HTTP and the CLI's service, and permissions read live on the next request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.support.factories import UserInfo, grant_role, revoke_role
from tests.support.oauth import authorize, exchange_code
from tests.support.web import login, session_csrf


class Browser:
    """A signed-in browser calling the JSON API with its session cookie and CSRF header."""

    def __init__(self, client: FlaskClient, who: UserInfo) -> None:
        assert login(client, who.email, who.password).status_code == 302
        self.client = client
        self.headers = {"X-CSRFToken": session_csrf(client)}

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def grant(self, prefix: str, user: UserInfo, role: str) -> Any:
        return self.client.post(
            f"/api/v1/{prefix}/users/{user.id}/roles", json={"role": role}, headers=self.headers
        )

    def revoke(self, prefix: str, user: UserInfo, role: str) -> Any:
        return self.client.delete(
            f"/api/v1/{prefix}/users/{user.id}/roles/{role}", headers=self.headers
        )


@pytest.fixture
def browser(app: Flask) -> Callable[[UserInfo], Browser]:
    return lambda who: Browser(app.test_client(), who)


def test_a_super_admin_grants_the_secret_key_administrator_role(browser, make_user, app) -> None:
    operator = make_user(role="super_admin")
    target = make_user()
    response = browser(operator).grant("platform", target, "secret_key_administrator")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "user_id": str(target.id),
        "email": target.email,
        "roles": ["member", "secret_key_administrator"],
    }
    # Idempotent, and visible to the platform's read.
    again = browser(operator).grant("platform", target, "secret_key_administrator")
    assert again.get_json()["roles"] == ["member", "secret_key_administrator"]
    listed = browser(operator).get(f"/api/v1/platform/users/{target.id}/roles")
    assert listed.get_json()["roles"] == ["member", "secret_key_administrator"]

    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "role.granted")
        ).all()
        assert len(events) == 1
        assert events[0].details["role"] == "secret_key_administrator"
        assert events[0].actor_user_id == operator.id


@pytest.mark.parametrize("granter_role", ["admin", "member"])
def test_nobody_below_the_platform_grants_the_secret_key_administrator_role(
    browser, make_user, granter_role
) -> None:
    granter = make_user(role=granter_role)
    colleague = make_user(family_id=granter.family_id)
    for target in (colleague, granter):
        tenant = browser(granter).grant("admin", target, "secret_key_administrator")
        assert tenant.status_code == 403
        platform = browser(granter).grant("platform", target, "secret_key_administrator")
        assert platform.status_code == 403


def test_a_tenant_admin_grants_securecloud_roles_in_their_family_only(browser, make_user) -> None:
    admin = make_user(role="admin")
    colleague = make_user(family_id=admin.family_id)
    stranger = make_user()
    granted = browser(admin).grant("admin", colleague, "global_viewer")
    assert granted.status_code == 200
    assert granted.get_json()["roles"] == ["member", "global_viewer"]
    # Another family's user does not exist for this admin.
    assert browser(admin).grant("admin", stranger, "global_viewer").status_code == 404
    assert browser(admin).get(f"/api/v1/admin/users/{stranger.id}/roles").status_code == 404
    revoked = browser(admin).revoke("admin", colleague, "global_viewer")
    assert revoked.status_code == 200 and revoked.get_json()["roles"] == ["member"]


def test_a_tenant_admin_cannot_revoke_the_secret_key_administrator_role(
    browser, make_user, app
) -> None:
    admin = make_user(role="admin")
    ska = make_user(family_id=admin.family_id)
    grant_role(app, ska, "secret_key_administrator")
    assert browser(admin).revoke("admin", ska, "secret_key_administrator").status_code == 403
    assert _roles(app, ska) == ["member", "secret_key_administrator"]


@pytest.mark.parametrize(
    "body",
    [{"role": "owner"}, {"role": "admin"}, {"role": ""}, {}, {"role": "global_admin", "x": 1}],
)
def test_an_unknown_role_or_malformed_body_is_a_422(browser, make_user, body) -> None:
    operator = make_user(role="super_admin")
    target = make_user()
    operator_browser = browser(operator)
    response = operator_browser.client.post(
        f"/api/v1/platform/users/{target.id}/roles", json=body, headers=operator_browser.headers
    )
    assert response.status_code == 422
    assert response.get_json()["error"] == "validation_failed"


def test_an_unknown_user_is_a_404(browser, make_user) -> None:
    operator = make_user(role="super_admin")
    b = browser(operator)
    for user_id in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        response = b.client.post(
            f"/api/v1/platform/users/{user_id}/roles",
            json={"role": "global_viewer"},
            headers=b.headers,
        )
        assert response.status_code == 404


def test_a_grant_applies_to_the_next_request_of_an_existing_token(
    app, client, make_user, make_client
) -> None:
    """Permissions are read live: a token issued before the grant gains it, and loses it on
    revocation, with no new sign-in."""
    admin = make_user(role="admin")
    member = make_user(family_id=admin.family_id)
    first_party = make_client(first_party=True)
    assert login(client, member.email, member.password).status_code == 302
    token = exchange_code(client, first_party, authorize(client, first_party)).get_json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    # An admin's route, needing admin.users: the member's token has it only while granted.
    path = f"/api/v1/admin/users/{member.id}/roles"
    assert app.test_client().get(path, headers=bearer).status_code == 403
    grant_role(app, member, "global_admin")
    assert app.test_client().get(path, headers=bearer).status_code == 200
    revoke_role(app, member, "global_admin")
    assert app.test_client().get(path, headers=bearer).status_code == 403


def test_a_third_party_token_never_grants_roles(app, client, make_user, make_client) -> None:
    operator = make_user(role="super_admin")
    target = make_user()
    third_party = make_client()
    assert login(client, operator.email, operator.password).status_code == 302
    auth = authorize(client, third_party, scope="read_write")
    token = exchange_code(client, third_party, auth).get_json()
    response = app.test_client().post(
        f"/api/v1/platform/users/{target.id}/roles",
        json={"role": "secret_key_administrator"},
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert response.status_code == 403
    assert _roles(app, target) == ["member"]


def _roles(app: Flask, who: UserInfo) -> list[str]:
    from app.extensions import db
    from app.identity import grants
    from app.identity.models import User

    with app.app_context():
        user = db.session.get(User, who.id)
        assert user is not None
        return grants.roles_of(user)
