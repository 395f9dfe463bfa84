"""API keys an admin makes for a user (RedCloud: Administration → User Management → API Keys;
``/api/v1/admin/users/<id>/api_keys``, admin.users).

- The key is shown once (no-store), defaults to read_write, follows Sure's rules (one active
  key per source, names unique among active keys), and the admin is the audit's actor.
- It carries its user's LIVE role permissions capped by its scope (C13): a role change of the
  user applies to the key's next request; a read key stays read-only even for an admin user.
- Revoking it fails it at once; the list never shows a key.
- Minting is for the account holder in person (T17): an API key, an access key, an
  organisation admin token or the global key gets 403; another tenant's user is a 404; no key
  carries a permission the admin lacks; a deactivated user gets no key.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.clock import utcnow
from tests.support.config import base_config
from tests.support.factories import UserInfo, grant_role
from tests.support.http import api_error, assert_no_store
from tests.support.partners import Partner, admin_token
from tests.support.sure import mobile_login
from tests.support.tenantadmin import (
    SCANS,
    api_key,
    bearer,
    error_of,
    keys_path,
    make_scan,
    user_path,
)


def _create(client: FlaskClient, headers: dict[str, str], who: Any, **body: Any) -> Any:
    body.setdefault("name", "automation")
    return client.post(keys_path(who), json=body, headers=headers)


def _key(client: FlaskClient, headers: dict[str, str], who: Any, **body: Any) -> str:
    response = _create(client, headers, who, **body)
    assert response.status_code == 201, response.get_json()
    key: str = response.get_json()["key"]
    return key


def _run(client: FlaskClient, key: str) -> int:
    return client.post(SCANS, json={"target": "10.0.0.1"}, headers=api_key(key)).status_code


# --- making, listing, revoking ----------------------------------------------------------------


def test_a_key_is_shown_once_and_defaults_to_read_write(
    app, client, admin, member, admin_headers
) -> None:
    response = _create(client, admin_headers, member, name="CI", source="monitoring")
    assert response.status_code == 201, response.get_json()
    assert_no_store(response)
    made = response.get_json()
    assert made["key"].startswith(app.config["API_KEY_PREFIX"])
    assert (made["name"], made["scope"], made["source"], made["user_id"]) == (
        "CI",
        "read_write",
        "monitoring",
        str(member.id),
    )
    assert made["expires_at"] is None

    listed = client.get(keys_path(member), headers=admin_headers)
    assert listed.status_code == 200
    [shown] = listed.get_json()["api_keys"]
    assert shown["id"] == made["id"] and shown["user_id"] == str(member.id)
    assert "key" not in shown and made["key"] not in listed.get_data(as_text=True)

    with app.app_context():
        from app.extensions import db

        [event] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "api_key.created")
        ).all()
        assert event.actor_user_id == admin.id  # made by the admin
        assert event.details["user_id"] == str(member.id)  # for the member
        assert made["key"] not in str(event.details)


def test_the_key_acts_as_its_user(app, client, member, admin_headers) -> None:
    key = _key(client, admin_headers, member)
    assert client.get("/api/v1/tags", headers=api_key(key)).status_code == 200
    assert client.get(SCANS, headers=api_key(key)).status_code == 403  # members hold no scans.*
    # The admin's own API key listing is the member's, not the admin's.
    assert client.get("/api/v1/usage", headers=api_key(key)).get_json()["api_key"]["name"] == (
        "automation"
    )


def test_an_expiry_can_be_given(client, member, admin_headers) -> None:
    made = _create(client, admin_headers, member, expires_in_days=30).get_json()
    assert made["expires_at"].endswith("Z")


def test_a_new_key_of_a_source_replaces_the_previous_one(client, member, admin_headers) -> None:
    first = _key(client, admin_headers, member, name="one")
    other_source = _key(client, admin_headers, member, name="two", source="mobile")
    second = _key(client, admin_headers, member, name="three")  # web again
    assert client.get("/api/v1/tags", headers=api_key(first)).status_code == 401
    for key in (other_source, second):
        assert client.get("/api/v1/tags", headers=api_key(key)).status_code == 200
    names = [
        k["name"]
        for k in client.get(keys_path(member), headers=admin_headers).get_json()["api_keys"]
    ]
    assert sorted(names) == ["three", "two"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x" * 101},
        {"scope": "admin"},
        {"scope": "write"},
        {"source": "cli"},
        {"expires_in_days": 0},
        {"tier": "enterprise"},
        {"user_id": "someone"},
    ],
)
def test_bad_keys_are_refused(client, member, admin_headers, body) -> None:
    response = _create(client, admin_headers, member, **body)
    assert response.status_code == 422, response.get_json()
    assert client.get(keys_path(member), headers=admin_headers).get_json()["api_keys"] == []


def test_revoking_fails_the_key_at_once(app, client, admin, member, admin_headers) -> None:
    made = _create(client, admin_headers, member).get_json()
    response = client.delete(f"{keys_path(member)}/{made['id']}", headers=admin_headers)
    assert response.status_code == 200
    assert response.get_json()["revoked_at"] is not None
    assert client.get("/api/v1/tags", headers=api_key(made["key"])).status_code == 401
    assert client.get(keys_path(member), headers=admin_headers).get_json()["api_keys"] == []
    again = client.delete(f"{keys_path(member)}/{made['id']}", headers=admin_headers)
    assert again.status_code == 404


def test_a_key_is_revoked_only_through_its_own_user(
    client, admin, member, make_user, admin_headers
) -> None:
    other = make_user(family_id=admin.family_id)
    made = _create(client, admin_headers, member).get_json()
    response = client.delete(f"{keys_path(other)}/{made['id']}", headers=admin_headers)
    assert response.status_code == 404
    assert client.get("/api/v1/tags", headers=api_key(made["key"])).status_code == 200


# --- live permissions, capped by the scope (C13) --------------------------------------------


def test_a_role_change_of_the_user_applies_to_the_keys_next_request(
    app, client, admin, member, admin_headers
) -> None:
    grant_role(app, member, "analyst")
    key = _key(client, admin_headers, member)
    assert _run(client, key) == 201
    scan_id = make_scan(app, admin.family_id)
    assert client.delete(f"{SCANS}/{scan_id}", headers=api_key(key)).status_code == 403

    assert (
        client.patch(user_path(member), json={"role": "admin"}, headers=admin_headers).status_code
        == 200
    )
    assert client.delete(f"{SCANS}/{scan_id}", headers=api_key(key)).status_code == 200

    assert (
        client.patch(user_path(member), json={"role": "guest"}, headers=admin_headers).status_code
        == 200
    )
    assert _run(client, key) == 201  # still an analyst (the granted role)
    revoked = client.delete(f"{user_path(member)}/roles/analyst", headers=admin_headers)
    assert revoked.status_code == 200
    assert _run(client, key) == 403
    assert client.get(SCANS, headers=api_key(key)).status_code == 403


def test_a_read_key_stays_read_only_for_an_admin_user(app, client, admin, admin_headers) -> None:
    key = _key(client, admin_headers, admin, scope="read")
    assert client.get(SCANS, headers=api_key(key)).status_code == 200
    response = client.post(SCANS, json={"target": "x"}, headers=api_key(key))
    assert response.status_code == 403
    assert error_of(response) == "insufficient_scope"


def test_deactivating_the_user_fails_the_key(client, admin, member, admin_headers) -> None:
    key = _key(client, admin_headers, member)
    assert (
        client.patch(user_path(member), json={"active": False}, headers=admin_headers).status_code
        == 200
    )
    assert client.get("/api/v1/tags", headers=api_key(key)).status_code == 401
    response = _create(client, admin_headers, member)
    assert response.status_code == 422
    assert api_error(response)["message"] == "The user is deactivated"


# --- who may mint (T17) ---------------------------------------------------------------------


def test_another_tenants_user_is_404(client, stranger, admin_headers, make_key) -> None:
    for response in (
        _create(client, admin_headers, stranger),
        client.get(keys_path(stranger), headers=admin_headers),
        client.delete(
            f"{keys_path(stranger)}/00000000-0000-4000-8000-000000000000", headers=admin_headers
        ),
    ):
        assert response.status_code == 404
        assert error_of(response) == "record_not_found"


def test_a_member_may_not_mint_for_others(client, member, admin, make_key) -> None:
    headers = bearer(mobile_login(client, member.email)["access_token"])
    assert _create(client, headers, admin).status_code == 403


def test_no_key_carries_a_permission_the_admin_lacks(
    app, client, admin, member, make_user, admin_headers
) -> None:
    grant_role(app, member, "secret_key_administrator")  # granted by the platform
    response = _create(client, admin_headers, member)
    assert response.status_code == 403
    assert api_error(response)["message"] == (
        "You cannot make a key carrying permissions you do not hold yourself"
    )
    operator = make_user(role="super_admin", family_id=admin.family_id)
    assert _create(client, admin_headers, operator).status_code == 403  # no platform key


def test_an_api_key_mints_nothing(client, admin, member, make_key) -> None:
    headers = api_key(make_key(admin))  # an admin's read_write key
    for response in (
        _create(client, headers, member),
        client.get(keys_path(member), headers=headers),
    ):
        assert response.status_code == 403
    assert _create(client, headers, admin).status_code == 403  # not even for its own user


def test_an_access_key_mints_nothing(app, client, admin, member) -> None:
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
    assert client.get(SCANS, headers=bearer(token)).status_code == 200  # a live credential
    assert _create(client, bearer(token), member).status_code == 403


def test_the_global_key_mints_nothing(admin, member, database_url, instance_dir) -> None:
    from app import create_app

    key = "g" * 40
    legacy = create_app(
        {
            **base_config(database_url, instance_dir),
            "GLOBAL_API_KEY": key,
            "GLOBAL_API_KEY_FAMILY_ID": str(admin.family_id),
        }
    ).test_client()
    assert legacy.get(SCANS, headers=api_key(key)).status_code == 200  # a live credential
    assert _create(legacy, api_key(key), member).status_code == 403


def test_an_organisation_admin_token_mints_nothing(app, client, make_user) -> None:
    from app.partners import services as partners

    with app.app_context():
        partner_user = partners.create_partner_user(
            email="pat@partner.example", password="correct horse battery", now=utcnow()
        )
        partner_email = partner_user.email
    login = mobile_login(client, partner_email, "correct horse battery")
    organization = Partner(client, login["access_token"]).organization("Acme")
    token = admin_token(client, organization["ssoSecret"], organization["organizationId"])
    org_user: UserInfo = make_user(family_id=uuid.UUID(organization["organizationId"]))
    assert client.get(SCANS, headers=bearer(token)).status_code == 200  # a live credential
    response = _create(client, bearer(token), org_user)
    assert response.status_code == 403
    with app.app_context():
        from app.apikeys.models import ApiKey
        from app.extensions import db

        assert db.session.scalars(select(ApiKey)).all() == []


def test_the_key_minted_for_a_user_belongs_to_their_tenant(
    app: Flask, client, admin, member, admin_headers
) -> None:
    made = _create(client, admin_headers, member).get_json()
    response = client.get(SCANS, headers=api_key(made["key"]))
    assert response.headers["X-Tenant-ID"] == str(admin.family_id)


def test_a_redcloud_session_token_mints_for_the_admin_in_person(client, admin, member) -> None:
    login = client.post("/auth/login", json={"email": admin.email, "password": admin.password})
    assert login.status_code == 200, login.get_json()
    response = _create(client, bearer(login.get_json()["access_token"]), member)
    assert response.status_code == 201, response.get_json()
    assert (
        client.get("/api/v1/tags", headers=api_key(response.get_json()["key"])).status_code == 200
    )
