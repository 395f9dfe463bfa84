"""The role catalogue (``/api/v1/admin/roles``, admin.roles: read-only, no custom roles) and
the tenant's settings (``/api/v1/admin/settings``, admin.settings: the name is editable, the
plan features are platform data shown read-only)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.identity.roles import BASE_ROLE_PERMISSIONS, GRANTED_ROLES
from tests.support.http import api_error
from tests.support.tenantadmin import ROLES, SETTINGS, api_key, error_of, set_features

# --- roles --------------------------------------------------------------------------------


def test_the_catalogue_lists_every_built_in_role_with_its_permissions(
    client, admin_headers
) -> None:
    response = client.get(ROLES, headers=admin_headers)
    assert response.status_code == 200
    roles = {role["name"]: role for role in response.get_json()["roles"]}
    assert list(roles) == [*BASE_ROLE_PERMISSIONS, *GRANTED_ROLES]
    assert all(role["built_in"] is True for role in roles.values())
    for name, permissions in BASE_ROLE_PERMISSIONS.items():
        assert roles[name]["kind"] == "base"
        assert roles[name]["permissions"] == sorted(permissions)
    for name, granted in GRANTED_ROLES.items():
        assert roles[name]["kind"] == "granted"
        assert roles[name]["permissions"] == sorted(granted.permissions)
        assert roles[name]["description"] == granted.description
        assert roles[name]["assignable_by"] == granted.assignable_by
    assert roles["admin"]["assignable_by"] == "tenant_admin"
    assert roles["super_admin"]["assignable_by"] == "super_admin"
    assert "*" not in {p for role in roles.values() for p in role["permissions"]}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_roles_cannot_be_written(client, admin_headers, method) -> None:
    response = client.open(ROLES, method=method, json={"name": "custom"}, headers=admin_headers)
    assert response.status_code == 405
    assert client.open(f"{ROLES}/admin", method=method, headers=admin_headers).status_code in (
        404,
        405,
    )


def test_a_member_may_not_read_the_catalogue(client, member, make_key) -> None:
    assert client.get(ROLES, headers=api_key(make_key(member))).status_code == 403


# --- settings -------------------------------------------------------------------------------


def test_the_settings_show_the_tenant_and_its_plan(app, client, admin, admin_headers) -> None:
    set_features(app, admin.family_id, "reports.export", "ai")
    response = client.get(SETTINGS, headers=admin_headers)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"tenant_id", "name", "kind", "region", "features", "created_at"}
    assert body["tenant_id"] == str(admin.family_id)
    assert body["name"] == "Ada's family"
    assert (body["kind"], body["region"]) == ("family", "default")
    assert body["features"] == ["ai", "reports.export"]


def test_renaming_the_tenant_is_audited(app, client, admin, admin_headers) -> None:
    response = client.patch(SETTINGS, json={"name": "  Acme Security  "}, headers=admin_headers)
    assert response.status_code == 200
    assert response.get_json()["name"] == "Acme Security"
    assert client.get(SETTINGS, headers=admin_headers).get_json()["name"] == "Acme Security"
    from app.extensions import db

    with app.app_context():
        [event] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "tenant.renamed")
        ).all()
        assert (event.actor_user_id, event.family_id) == (admin.id, admin.family_id)
        assert (event.details["previous"], event.details["name"]) == (
            "Ada's family",
            "Acme Security",
        )


def test_plan_features_are_not_editable_here(app, client, admin, admin_headers) -> None:
    response = client.patch(
        SETTINGS, json={"name": "Acme", "features": ["reports.export"]}, headers=admin_headers
    )
    assert response.status_code == 422
    assert api_error(response)["message"] == (
        "Plan features are platform data; they cannot be changed here"
    )
    body = client.get(SETTINGS, headers=admin_headers).get_json()
    assert (body["name"], body["features"]) == ("Ada's family", [])


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"name": ""}, 422),
        ({"name": "   "}, 422),
        ({"name": "x" * 201}, 422),
        ({"name": "a\tb"}, 422),
        ({"name": 5}, 422),
        ({"name": "ok", "region": "eu"}, 422),
        ([], 400),
    ],
)
def test_bad_settings_are_refused(client, admin_headers, body, status) -> None:
    response = client.patch(SETTINGS, json=body, headers=admin_headers)
    assert response.status_code == status, response.get_json()
    assert client.get(SETTINGS, headers=admin_headers).get_json()["name"] == "Ada's family"


def test_each_tenant_sees_its_own_settings(client, stranger, make_key) -> None:
    body = client.get(SETTINGS, headers=api_key(make_key(stranger))).get_json()
    assert body["tenant_id"] == str(stranger.family_id)


def test_an_api_key_reads_but_never_renames(client, admin, make_key) -> None:
    headers = api_key(make_key(admin))
    assert client.get(SETTINGS, headers=headers).status_code == 200
    response = client.patch(SETTINGS, json={"name": "Pwned"}, headers=headers)
    assert response.status_code == 403
    assert error_of(response) == "forbidden"


def test_a_member_may_not_touch_the_settings(client, member, make_key) -> None:
    headers = api_key(make_key(member))
    assert client.get(SETTINGS, headers=headers).status_code == 403
    assert client.patch(SETTINGS, json={"name": "x"}, headers=headers).status_code == 403
