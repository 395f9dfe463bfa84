"""Tenant administrators and their users' external identities: ``GET
/api/v1/admin/users/<id>/sso_identities`` and ``PATCH /api/v1/admin/sso_identities/<id>``
(admin.users; changes by the account holder in person). Another tenant's identity is a 404;
a member is refused; a block is audited and takes effect on the next sign-in."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.clock import utcnow
from tests.support.factories import UserInfo
from tests.support.http import api_error
from tests.support.tenantadmin import bearer, token_of

ISSUER = "https://login.example.test"


def _linked(app: Flask, owner: UserInfo, subject: str = "sub-1") -> str:
    from app.extensions import db
    from app.identity.models import User
    from app.sso.services import identities
    from app.sso.services.identities import UpstreamIdentity

    with app.app_context():
        row = identities.link(
            db.session.get(User, owner.id),
            UpstreamIdentity("corp", ISSUER, subject, owner.email, True, None, None),
            now=utcnow(),
        )
        return str(row.id)


def test_an_admin_lists_and_blocks_a_users_identity(
    app: Flask, client: FlaskClient, make_user: Any
) -> None:
    from app.audit.models import AuditEvent
    from app.extensions import db

    admin = make_user(role="admin")
    member = make_user(family_id=admin.family_id)
    identity_id = _linked(app, member)
    token = bearer(token_of(client, admin))

    listed = client.get(f"/api/v1/admin/users/{member.id}/sso_identities", headers=token)
    assert listed.status_code == 200
    [shown] = listed.get_json()["sso_identities"]
    assert (shown["id"], shown["issuer"], shown["subject"], shown["blocked"]) == (
        identity_id,
        ISSUER,
        "sub-1",
        False,
    )

    blocked = client.patch(
        f"/api/v1/admin/sso_identities/{identity_id}", json={"blocked": True}, headers=token
    )
    assert blocked.status_code == 200
    assert blocked.get_json()["blocked"] is True
    assert blocked.get_json()["blocked_at"].endswith("Z")
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.event == "sso.identity_blocked")
        )
        assert event.actor_user_id == admin.id
        assert event.family_id == admin.family_id
        assert event.details["identity_id"] == identity_id

    unblocked = client.patch(
        f"/api/v1/admin/sso_identities/{identity_id}", json={"blocked": False}, headers=token
    )
    assert unblocked.get_json()["blocked"] is False


def test_another_tenants_identity_is_not_found(
    app: Flask, client: FlaskClient, make_user: Any
) -> None:
    admin = make_user(role="admin")
    stranger = make_user()
    identity_id = _linked(app, stranger)
    token = bearer(token_of(client, admin))
    listed = client.get(f"/api/v1/admin/users/{stranger.id}/sso_identities", headers=token)
    assert listed.status_code == 404
    patched = client.patch(
        f"/api/v1/admin/sso_identities/{identity_id}", json={"blocked": True}, headers=token
    )
    assert patched.status_code == 404
    assert api_error(patched)["error"] == "sso_identity_not_found"
    missing = client.patch(
        "/api/v1/admin/sso_identities/not-a-uuid", json={"blocked": True}, headers=token
    )
    assert missing.status_code == 404


def test_a_member_may_not(app: Flask, client: FlaskClient, make_user: Any) -> None:
    admin = make_user(role="admin")
    member = make_user(family_id=admin.family_id)
    identity_id = _linked(app, admin)
    token = bearer(token_of(client, member))
    assert (
        client.get(f"/api/v1/admin/users/{admin.id}/sso_identities", headers=token).status_code
        == 403
    )
    patched = client.patch(
        f"/api/v1/admin/sso_identities/{identity_id}", json={"blocked": True}, headers=token
    )
    assert patched.status_code == 403
    assert client.get(f"/api/v1/admin/users/{admin.id}/sso_identities").status_code == 401


def test_bad_bodies_are_validation_errors(app: Flask, client: FlaskClient, make_user: Any) -> None:
    admin = make_user(role="admin")
    identity_id = _linked(app, admin)
    token = bearer(token_of(client, admin))
    path = f"/api/v1/admin/sso_identities/{identity_id}"
    assert client.patch(path, data="nope", headers=token).status_code == 400
    for body in ({}, {"blocked": "maybe"}, {"blocked": True, "extra": 1}):
        answer = client.patch(path, json=body, headers=token)
        assert answer.status_code == 422, body
