"""RedCloud's ``/scans`` over HTTP, with a per-user API key (``X-API-Key: …``) and with a
bearer token, at the root and under ``/api/v1``.

- Permissions per role: admin runs, lists and deletes; an analyst runs and lists; a viewer
  (granted to a guest) only lists; a plain member has no scans.* at all (403).
- Scopes as on the other resources: a read credential lists but never runs or deletes, even
  for an admin.
- Tenancy: a tenant sees only its scans; another tenant's scan is a 404 (and stays); the
  tenant is echoed in ``X-Tenant-ID`` on every answer once known, errors included.
- Live roles: a role change or a grant applies to the user's next request.
- Service credentials: an access key with Global Admin runs scans as nobody (no user); the
  legacy global key only lists.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.clock import utcnow
from tests.support.config import base_config
from tests.support.factories import UserInfo, grant_role, revoke_role
from tests.support.http import api_error
from tests.support.tenantadmin import (
    SCANS,
    api_key,
    bearer,
    error_of,
    make_scan,
    token_of,
)

Headers = Callable[[UserInfo], dict[str, str]]


@pytest.fixture(params=["api_key", "bearer"])
def credential(request: pytest.FixtureRequest, client: FlaskClient, make_key) -> Headers:
    """Headers of a read_write credential of a user: their API key, or a bearer token."""

    def headers(who: UserInfo) -> dict[str, str]:
        if request.param == "api_key":
            return api_key(make_key(who))
        return bearer(token_of(client, who))

    return headers


def _run(client: FlaskClient, headers: dict[str, str], target: str = "10.0.0.0/24", **kw):  # type: ignore[no-untyped-def]
    return client.post(SCANS, json={"target": target}, headers=headers, **kw)


# --- the contract ---------------------------------------------------------------------------


def test_a_scan_is_queued_and_listed_newest_first(client, admin, credential) -> None:
    headers = credential(admin)
    first = _run(client, headers, "https://one.example.com")
    assert first.status_code == 201, first.get_json()
    scan = first.get_json()
    assert set(scan) == {"id", "target", "status", "created_at", "created_by_user_id"}
    assert scan["target"] == "https://one.example.com"
    assert scan["status"] == "queued"
    assert scan["created_by_user_id"] == str(admin.id)
    assert first.headers["X-Tenant-ID"] == str(admin.family_id)
    second = _run(client, headers, "  https://two.example.com  ").get_json()
    assert second["target"] == "https://two.example.com"  # trimmed

    listed = client.get(SCANS, headers=headers)
    assert listed.status_code == 200
    body = listed.get_json()
    assert [s["id"] for s in body["scans"]] == [second["id"], scan["id"]]
    assert body["pagination"] == {"page": 1, "per_page": 25, "total_count": 2, "total_pages": 1}
    assert listed.headers["X-Tenant-ID"] == str(admin.family_id)


def test_the_list_is_paginated(app, client, admin, make_key) -> None:
    ids = [make_scan(app, admin.family_id, f"host-{n}") for n in range(3)]
    headers = api_key(make_key(admin))
    page = client.get(SCANS + "?page=2&per_page=2", headers=headers).get_json()
    assert [s["id"] for s in page["scans"]] == [ids[0]]  # the oldest, on the last page
    assert page["pagination"] == {"page": 2, "per_page": 2, "total_count": 3, "total_pages": 2}
    assert client.get(SCANS + "?page=0", headers=headers).status_code == 422


def test_the_api_v1_twin_is_the_same_route(client, admin, make_key) -> None:
    headers = api_key(make_key(admin))
    made = client.post("/api/v1/scans", json={"target": "db.internal"}, headers=headers)
    assert made.status_code == 201
    listed = client.get("/api/v1/scans", headers=headers)
    assert [s["id"] for s in listed.get_json()["scans"]] == [made.get_json()["id"]]
    assert listed.headers["X-Tenant-ID"] == str(admin.family_id)
    gone = client.delete(f"/api/v1/scans/{made.get_json()['id']}", headers=headers)
    assert gone.status_code == 200
    assert gone.get_json() == {"message": "Scan deleted successfully"}


def test_deleting_a_scan(app, client, admin, credential) -> None:
    scan_id = make_scan(app, admin.family_id)
    headers = credential(admin)
    assert client.delete(f"{SCANS}/{scan_id}", headers=headers).status_code == 200
    assert client.get(SCANS, headers=headers).get_json()["scans"] == []
    again = client.delete(f"{SCANS}/{scan_id}", headers=headers)
    assert again.status_code == 404
    assert error_of(again) == "record_not_found"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (None, 400),
        ([], 400),
        ("10.0.0.1", 400),
        ({}, 422),
        ({"target": ""}, 422),
        ({"target": "   "}, 422),
        ({"target": None}, 422),
        ({"target": 5}, 422),
        ({"target": ["a"]}, 422),
        ({"target": "x" * 256}, 422),
        ({"target": "a\nb"}, 422),
        ({"target": "ok", "status": "completed"}, 422),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(client, admin, make_key, body, status) -> None:
    headers = api_key(make_key(admin))
    response = client.post(SCANS, json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    assert response.headers["X-Tenant-ID"] == str(admin.family_id)
    assert client.get(SCANS, headers=headers).get_json()["scans"] == []


def test_a_nul_character_is_refused_before_any_view(client, admin, make_key) -> None:
    headers = api_key(make_key(admin))
    response = client.post(SCANS, json={"target": "a\x00b"}, headers=headers)
    assert response.status_code == 400
    assert error_of(response) == "bad_request"
    assert client.get(SCANS, headers=headers).get_json()["scans"] == []


def test_without_a_credential_the_root_route_answers_in_the_api_envelope(client) -> None:
    response = client.get(SCANS)
    assert response.status_code == 401
    assert api_error(response)["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "X-Tenant-ID" not in response.headers
    assert response.headers["X-Correlation-ID"]


# --- permissions per role ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "list_status", "run_status", "delete_status"),
    [
        ("admin", 200, 201, 200),
        ("analyst", 200, 201, 403),
        ("viewer", 200, 403, 403),
        ("member", 403, 403, 403),
    ],
)
def test_permissions_per_role(
    request, app, client, credential, who, list_status, run_status, delete_status
) -> None:
    user: UserInfo = request.getfixturevalue(who)
    scan_id = make_scan(app, user.family_id)
    headers = credential(user)
    listed = client.get(SCANS, headers=headers)
    run = _run(client, headers)
    deleted = client.delete(f"{SCANS}/{scan_id}", headers=headers)
    assert (listed.status_code, run.status_code, deleted.status_code) == (
        list_status,
        run_status,
        delete_status,
    )
    for response in (listed, run, deleted):
        # Refusals carry the tenant too (the gate bound the request to it first).
        assert response.headers["X-Tenant-ID"] == str(user.family_id)
        if response.status_code == 403:
            assert api_error(response) == {
                "error": "forbidden",
                "message": "You are not authorized to perform this action",
            }


def test_a_read_key_never_writes_even_for_an_admin(app, client, admin, make_key) -> None:
    scan_id = make_scan(app, admin.family_id)
    headers = api_key(make_key(admin, scope="read"))
    assert client.get(SCANS, headers=headers).status_code == 200
    for response in (_run(client, headers), client.delete(f"{SCANS}/{scan_id}", headers=headers)):
        assert response.status_code == 403
        assert error_of(response) == "insufficient_scope"
        assert response.headers["X-Tenant-ID"] == str(admin.family_id)


# --- tenancy ----------------------------------------------------------------------------------


def test_a_tenant_sees_only_its_scans(app, client, admin, stranger, make_key) -> None:
    mine = make_scan(app, admin.family_id, "mine.example.com")
    make_scan(app, stranger.family_id, "theirs.example.com")
    listed = client.get(SCANS, headers=api_key(make_key(admin))).get_json()
    assert [s["id"] for s in listed["scans"]] == [mine]


@pytest.mark.parametrize("scan_id", ["theirs", "00000000-0000-4000-8000-000000000000", "nope"])
def test_another_tenants_scan_is_404_and_stays(
    app, client, admin, stranger, make_key, scan_id
) -> None:
    theirs = make_scan(app, stranger.family_id)
    target = theirs if scan_id == "theirs" else scan_id
    response = client.delete(f"{SCANS}/{target}", headers=api_key(make_key(admin)))
    assert response.status_code == 404
    assert error_of(response) == "record_not_found"
    assert response.headers["X-Tenant-ID"] == str(admin.family_id)
    still = client.get(SCANS, headers=api_key(make_key(stranger))).get_json()["scans"]
    assert [s["id"] for s in still] == [theirs]


def test_naming_another_tenant_in_x_tenant_id_is_refused(client, admin, stranger, make_key) -> None:
    headers = {**api_key(make_key(admin)), "X-Tenant-ID": str(stranger.family_id)}
    response = client.get(SCANS, headers=headers)
    assert response.status_code == 403
    assert error_of(response) == "tenant_forbidden"
    assert response.headers["X-Tenant-ID"] == str(admin.family_id)
    own = client.get(SCANS, headers={**headers, "X-Tenant-ID": str(admin.family_id)})
    assert own.status_code == 200
    assert own.headers["X-Tenant-ID"] == str(admin.family_id)


# --- live roles -----------------------------------------------------------------------------


def _set_role(app: Flask, who: UserInfo, role: str) -> None:
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        row = db.session.get(User, who.id)
        assert row is not None
        row.role = role
        db.session.commit()


def test_a_base_role_change_applies_to_the_next_request(app, client, admin, credential) -> None:
    headers = credential(admin)
    assert _run(client, headers).status_code == 201
    _set_role(app, admin, "member")
    assert _run(client, headers).status_code == 403
    assert client.get(SCANS, headers=headers).status_code == 403
    _set_role(app, admin, "admin")
    assert _run(client, headers).status_code == 201


def test_a_grant_and_its_revocation_apply_to_the_next_request(
    app, client, member, credential
) -> None:
    headers = credential(member)
    assert client.get(SCANS, headers=headers).status_code == 403
    grant_role(app, member, "viewer")
    assert client.get(SCANS, headers=headers).status_code == 200
    assert _run(client, headers).status_code == 403
    grant_role(app, member, "analyst")
    assert _run(client, headers).status_code == 201
    revoke_role(app, member, "analyst")
    revoke_role(app, member, "viewer")
    assert client.get(SCANS, headers=headers).status_code == 403


# --- service credentials --------------------------------------------------------------------


def test_an_access_key_runs_scans_as_nobody(app, client, admin) -> None:
    from app.accesskeys import services as accesskeys
    from app.extensions import db
    from app.identity.models import User

    grant_role(app, admin, "global_admin")
    with app.app_context():
        creator = db.session.get(User, admin.id)
        token = accesskeys.create_access_key(
            creator, name="scanner", roles=[{"role": "global_admin"}], now=utcnow()
        ).token
    made = _run(client, bearer(token))
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["created_by_user_id"] is None
    assert made.headers["X-Tenant-ID"] == str(admin.family_id)


def test_the_legacy_global_key_only_lists(app, admin, database_url, instance_dir) -> None:
    from app import create_app

    key = "g" * 40
    legacy = create_app(
        {
            **base_config(database_url, instance_dir),
            "GLOBAL_API_KEY": key,
            "GLOBAL_API_KEY_FAMILY_ID": str(admin.family_id),
        }
    ).test_client()
    scan_id = make_scan(app, admin.family_id)
    listed = legacy.get(SCANS, headers=api_key(key))
    assert listed.status_code == 200
    assert [s["id"] for s in listed.get_json()["scans"]] == [scan_id]
    assert _run(legacy, api_key(key)).status_code == 403
    assert legacy.delete(f"{SCANS}/{scan_id}", headers=api_key(key)).status_code == 403


# --- family data ----------------------------------------------------------------------------


def test_a_family_reset_deletes_its_scans_only(app, admin, stranger) -> None:
    from app.extensions import db
    from app.resources import services
    from app.resources.scans import services as scans

    make_scan(app, admin.family_id)
    make_scan(app, stranger.family_id)
    with app.app_context():
        assert services.delete_family_data(admin.family_id)["scans"] == 1
        db.session.commit()
        assert scans.list_scans(admin.family_id).total_count == 0
        assert scans.list_scans(stranger.family_id).total_count == 1


def test_purging_the_user_who_ran_a_scan_keeps_the_scan(app, admin, analyst) -> None:
    from datetime import timedelta

    from app.extensions import db
    from app.firstparty import purge
    from app.identity.models import User
    from app.resources.models import Scan

    scan_id = make_scan(app, admin.family_id, by=analyst.id)
    now = utcnow()
    with app.app_context():
        row = db.session.get(User, analyst.id)
        assert row is not None
        row.active = False
        row.deactivated_at = now - timedelta(days=60)
        db.session.commit()
        assert purge.purge_user(analyst.id, cutoff=now, now=now)
        scan = db.session.scalar(select(Scan).where(Scan.id == uuid.UUID(scan_id)))
        assert scan is not None
        assert scan.created_by_user_id is None


def test_a_redcloud_session_token_from_auth_login_lists_and_runs_scans(client, admin) -> None:
    """The seed's own flow: ``POST /auth/login`` (email, password), then the access token as
    ``Authorization: Bearer`` on ``/scans``."""
    login = client.post("/auth/login", json={"email": admin.email, "password": admin.password})
    assert login.status_code == 200, login.get_json()
    headers = bearer(login.get_json()["access_token"])
    assert _run(client, headers).status_code == 201
    listed = client.get(SCANS, headers=headers)
    assert listed.status_code == 200
    assert len(listed.get_json()["scans"]) == 1
    assert listed.headers["X-Tenant-ID"] == str(admin.family_id)
