"""The tenant's users through ``/api/v1/admin/users`` (admin.users).

- The list: the caller's tenant only, with base role, granted roles, status, MFA, creation.
- ``PATCH /api/v1/admin/users/<id>``: a base-role change (never to super_admin; only a
  super-admin changes a super-admin) or a status change, audited; the tenant keeps an
  active admin (422 last_admin); another tenant's user is a 404.
- Deactivation revokes every credential of the user at once (API keys, OAuth tokens, the
  browser session, the secret key and its JWTs: T28); reactivation brings none back.
- A role change applies to the user's next request, whatever credential it carries.
- Reads take any credential of an admin; changes only the account holder in person: an API
  key, a third-party app's token or a service credential is refused (403).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.clock import utcnow
from tests.support.factories import UserInfo, enable_mfa, grant_role
from tests.support.http import api_error
from tests.support.oauth import authorize, exchange_code
from tests.support.secretkeys import TASKS, issue, latest_link
from tests.support.sure import ME, REFRESH, mobile_login
from tests.support.tenantadmin import (
    SCANS,
    USERS,
    api_key,
    bearer,
    error_of,
    role_of,
    token_of,
    user_path,
)
from tests.support.web import login, session_csrf, signed_in_as


def _events(app: Flask, event: str) -> list[AuditEvent]:
    from app.extensions import db

    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == event)))


def _patch(client: FlaskClient, headers: dict[str, str], who: Any, body: Any) -> Any:
    return client.patch(user_path(who), json=body, headers=headers)


# --- the list ---------------------------------------------------------------------------------


def test_the_list_shows_the_tenants_users_only(
    app, client, admin, member, stranger, admin_headers
) -> None:
    grant_role(app, member, "analyst")
    grant_role(app, member, "viewer")
    enable_mfa(app, admin)
    response = client.get(USERS, headers=admin_headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["pagination"] == {"page": 1, "per_page": 25, "total_count": 2, "total_pages": 1}
    ada, max_ = body["users"]
    assert set(ada) == {
        "id",
        "email",
        "first_name",
        "last_name",
        "role",
        "granted_roles",
        "active",
        "mfa_enabled",
        "created_at",
    }
    assert (ada["id"], ada["email"], ada["first_name"]) == (str(admin.id), admin.email, "Ada")
    assert (ada["role"], ada["granted_roles"], ada["active"], ada["mfa_enabled"]) == (
        "admin",
        [],
        True,
        True,
    )
    assert ada["created_at"].endswith("Z")
    assert (max_["email"], max_["role"], max_["granted_roles"], max_["mfa_enabled"]) == (
        member.email,
        "member",
        ["analyst", "viewer"],
        False,
    )
    assert response.headers["X-Tenant-ID"] == str(admin.family_id)


def test_the_list_is_paginated(client, admin, member, make_user, admin_headers) -> None:
    third = make_user(family_id=admin.family_id)
    page = client.get(USERS + "?page=2&per_page=2", headers=admin_headers).get_json()
    assert [u["id"] for u in page["users"]] == [str(third.id)]
    assert page["pagination"]["total_pages"] == 2
    assert client.get(USERS + "?per_page=101", headers=admin_headers).status_code == 422


def test_an_admins_api_key_may_read_the_list(client, admin, make_key) -> None:
    assert client.get(USERS, headers=api_key(make_key(admin, scope="read"))).status_code == 200


def test_a_member_may_not_read_the_list(client, member, make_key) -> None:
    response = client.get(USERS, headers=api_key(make_key(member)))
    assert response.status_code == 403
    assert error_of(response) == "forbidden"


def test_without_a_credential_the_list_is_401(client) -> None:
    assert client.get(USERS).status_code == 401


# --- changing the base role -----------------------------------------------------------------


def test_a_role_change_is_audited_and_applies_to_the_next_request(
    app, client, admin, member, admin_headers, make_key
) -> None:
    key = api_key(make_key(member))
    assert client.get(SCANS, headers=key).status_code == 403
    response = _patch(client, admin_headers, member, {"role": "admin"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["role"] == "admin"
    assert client.get(SCANS, headers=key).status_code == 200  # the same key, the next request
    assert client.get(USERS, headers=key).status_code == 200

    assert _patch(client, admin_headers, member, {"role": "guest"}).status_code == 200
    assert client.get(SCANS, headers=key).status_code == 403
    assert client.get("/api/v1/tags", headers=key).status_code == 200  # guests read tags

    changes = _events(app, "user.role_changed")
    assert [(e.details["previous"], e.details["role"]) for e in changes] == [
        ("member", "admin"),
        ("admin", "guest"),
    ]
    assert {e.actor_user_id for e in changes} == {admin.id}
    assert {e.family_id for e in changes} == {admin.family_id}
    assert {e.details["user_id"] for e in changes} == {str(member.id)}


def test_the_same_role_again_changes_nothing(app, client, member, admin_headers) -> None:
    assert _patch(client, admin_headers, member, {"role": "member"}).status_code == 200
    assert _events(app, "user.role_changed") == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"role": "super_admin"}, 422),
        ({"role": "global_admin"}, 422),  # a granted role: /admin/users/<id>/roles grants it
        ({"role": "Admin"}, 422),
        ({"role": None}, 422),
        ({}, 422),
        ({"active": "false"}, 422),
        ({"active": 0}, 422),
        ({"active": None}, 422),
        ({"email": "x@example.com"}, 422),
        ([], 400),
        ("admin", 400),
    ],
)
def test_bad_changes_are_refused(app, client, member, admin_headers, body, status) -> None:
    response = _patch(client, admin_headers, member, body)
    assert response.status_code == status, response.get_json()
    assert role_of(app, member)["role"] == "member"
    assert role_of(app, member)["active"] is True


@pytest.mark.parametrize("target", ["stranger", "unknown", "malformed"])
def test_another_tenants_user_is_404(app, client, stranger, admin_headers, target) -> None:
    user_id = {
        "stranger": str(stranger.id),
        "unknown": "00000000-0000-4000-8000-000000000000",
        "malformed": "nope",
    }[target]
    response = _patch(client, admin_headers, user_id, {"role": "guest"})
    assert response.status_code == 404
    assert error_of(response) == "record_not_found"
    assert role_of(app, stranger)["role"] == "admin"


def test_only_a_super_admin_changes_a_super_admin(
    app, client, admin, make_user, admin_headers
) -> None:
    operator = make_user(role="super_admin", family_id=admin.family_id)
    for body in ({"role": "member"}, {"active": False}):
        response = _patch(client, admin_headers, operator, body)
        assert response.status_code == 403
        assert error_of(response) == "forbidden"
    assert role_of(app, operator) == {"role": "super_admin", "active": True, "session_epoch": 0}
    assert (
        _patch(client, bearer(token_of(client, operator)), admin, {"role": "member"}).status_code
        == 200
    )


# --- the last admin -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [{"role": "member"}, {"active": False}, {"role": "guest", "active": False}]
)
def test_the_last_admin_cannot_leave_the_tenant_without_one(
    app, client, admin, member, admin_headers, body
) -> None:
    response = _patch(client, admin_headers, admin, body)
    assert response.status_code == 422
    assert api_error(response) == {
        "error": "last_admin",
        "message": "The tenant needs at least one active admin",
        "errors": ["The tenant needs at least one active admin"],
    }
    assert role_of(app, admin)["role"] == "admin"
    assert role_of(app, admin)["active"] is True
    assert client.get(USERS, headers=admin_headers).status_code == 200  # nothing revoked


def test_an_inactive_admin_does_not_count(app, client, admin, make_user, admin_headers) -> None:
    other = make_user(role="admin", family_id=admin.family_id)
    assert _patch(client, admin_headers, other, {"active": False}).status_code == 200
    assert _patch(client, admin_headers, admin, {"role": "member"}).status_code == 422


def test_with_another_active_admin_you_may_step_down(
    app, client, admin, make_user, admin_headers
) -> None:
    make_user(role="admin", family_id=admin.family_id)
    assert _patch(client, admin_headers, admin, {"role": "member"}).status_code == 200
    # Stepped down: the next request of the same token is no longer an admin's.
    assert client.get(USERS, headers=admin_headers).status_code == 403


# --- deactivation ------------------------------------------------------------------------------


def _secret_key_jwt(app: Flask, client: FlaskClient, admin: UserInfo, who: UserInfo) -> str:
    """A secret-key JWT of ``who``: the key added, revealed from the mailed link, exchanged."""
    from app.extensions import db
    from app.identity.models import User
    from app.secretkeys.services import keys, reveal

    with app.app_context():
        keys.add_secret_key(db.session.get(User, who.id), actor_id=admin.id, now=utcnow())
    token = latest_link(app, who.email).rsplit("/", 1)[1]
    with app.app_context():
        secret = reveal.reveal(token, user_id=who.id, now=utcnow())
    issued = issue(client, who.email, secret)
    assert issued.status_code == 200, issued.get_data(as_text=True)
    return issued.get_data(as_text=True)


def test_deactivation_revokes_every_credential_at_once(
    app, client, admin, member, admin_headers, make_key
) -> None:
    phone = mobile_login(client, member.email)
    key = make_key(member, source="monitoring")
    jwt = _secret_key_jwt(app, client, admin, member)
    browser = app.test_client()
    assert login(browser, member.email).status_code == 302
    credentials = [bearer(phone["access_token"]), api_key(key), bearer(jwt)]
    for headers in credentials:
        assert client.get(TASKS, headers=headers).status_code == 200
    assert signed_in_as(browser)
    epoch = role_of(app, member)["session_epoch"]

    response = _patch(client, admin_headers, member, {"active": False})
    assert response.status_code == 200
    assert response.get_json()["active"] is False

    for headers in credentials:
        assert client.get(TASKS, headers=headers).status_code == 401
    assert not signed_in_as(browser)
    assert client.post(REFRESH, json={"refresh_token": phone["refresh_token"]}).status_code == 401
    assert login(app.test_client(), member.email).status_code != 302  # cannot sign in
    assert role_of(app, member)["session_epoch"] == epoch + 1
    [event] = _events(app, "user.deactivated")
    assert event.actor_user_id == admin.id
    assert event.details["user_id"] == str(member.id)
    assert event.details["by"] == "tenant_admin"
    assert event.details["revoked_api_keys"] == 1
    assert event.details["revoked_secret_keys"] == 1
    assert event.details["revoked_tokens"] >= 1
    assert key not in str(event.details) and jwt not in str(event.details)


def test_reactivation_brings_no_credential_back(
    app, client, admin, member, admin_headers, make_key
) -> None:
    phone = mobile_login(client, member.email)
    key = make_key(member)
    assert _patch(client, admin_headers, member, {"active": False}).status_code == 200
    response = _patch(client, admin_headers, member, {"active": True})
    assert response.status_code == 200
    assert response.get_json()["active"] is True
    assert client.get(TASKS, headers=bearer(phone["access_token"])).status_code == 401
    assert client.get(TASKS, headers=api_key(key)).status_code == 401
    # The user signs in again and gets new credentials.
    assert client.get(TASKS, headers=bearer(token_of(client, member))).status_code == 200
    assert [e.details["user_id"] for e in _events(app, "user.reactivated")] == [str(member.id)]


def test_an_account_its_holder_deleted_is_not_reactivated(
    app, client, member, admin_headers
) -> None:
    assert client.delete(ME, headers=bearer(token_of(client, member))).status_code == 200
    response = _patch(client, admin_headers, member, {"active": True})
    assert response.status_code == 422
    assert api_error(response)["message"] == (
        "This account was deleted by its holder and cannot be reactivated"
    )
    assert role_of(app, member)["active"] is False


# --- who may change users -------------------------------------------------------------------


def test_the_browser_session_changes_users_with_its_csrf_token(app, admin, member) -> None:
    browser = app.test_client()
    assert login(browser, admin.email).status_code == 302
    csrf = session_csrf(browser)
    refused = browser.patch(user_path(member), json={"role": "guest"})
    assert refused.status_code in (400, 403)
    done = browser.patch(user_path(member), json={"role": "guest"}, headers={"X-CSRFToken": csrf})
    assert done.status_code == 200
    assert role_of(app, member)["role"] == "guest"


def test_an_api_key_never_changes_users(app, client, admin, member, make_key) -> None:
    response = _patch(client, api_key(make_key(admin)), member, {"role": "guest"})
    assert response.status_code == 403
    assert role_of(app, member)["role"] == "member"


def test_a_third_party_apps_token_never_changes_users(
    app, client, admin, member, make_client
) -> None:
    third_party = make_client()
    browser = app.test_client()
    login(browser, admin.email)
    code = authorize(browser, third_party, scope="read_write")
    token = exchange_code(browser, third_party, code).get_json()["access_token"]
    assert client.get(USERS, headers=bearer(token)).status_code == 200  # it may read
    response = _patch(client, bearer(token), member, {"role": "guest"})
    assert response.status_code == 403
    assert role_of(app, member)["role"] == "member"


def test_an_access_key_never_changes_users(app, client, admin, member) -> None:
    from app.accesskeys import services as accesskeys
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        token = accesskeys.create_access_key(
            db.session.get(User, admin.id),
            name="ops",
            roles=[{"role": "global_admin"}],
            now=utcnow(),
        ).token
    read = client.get(USERS, headers=bearer(token))
    assert read.status_code == 403
    assert api_error(read)["message"] == "This endpoint needs a user, not a service credential"
    change = _patch(client, bearer(token), member, {"role": "guest"})
    assert change.status_code == 403
    assert role_of(app, member)["role"] == "member"


def test_a_global_admin_member_administers_users(app, client, member, make_user) -> None:
    """admin.users through a granted role (Global Admin) counts as much as the base role."""
    grant_role(app, member, "global_admin")
    other = make_user(family_id=member.family_id)
    headers = bearer(token_of(client, member))
    assert _patch(client, headers, other, {"role": "admin"}).status_code == 200
