"""The access-key management API (seed 001, reference §4.5): who may call it, the shape of
what it answers, the unique and immutable name, the role rules, the expiry presets, the JWT
shown once, removal, and the audit trail."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from app.clock import epoch
from tests.support.accesskeys import KEYS, bearer
from tests.support.factories import grant_role as grant
from tests.support.http import assert_no_store
from tests.support.sure import mobile_login

GLOBAL_KEY = "g" * 40
FIRST_PARTY_ONLY = (
    "Only the account holder's own session or app can manage credentials and account security"
)


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def header_of(token: str) -> dict[str, Any]:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))


def parse_time(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.removesuffix("Z"))


def _routes(key_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", KEYS, None),
        ("POST", KEYS, {"name": "minted", "roles": [{"role": "global_admin"}]}),
        ("GET", f"{KEYS}/{key_id}", None),
        ("PATCH", f"{KEYS}/{key_id}", {"roles": [{"role": "global_admin"}]}),
        ("DELETE", f"{KEYS}/{key_id}", None),
    ]


# --- adding a key: the JWT once ------------------------------------------------------------


def test_a_global_admin_adds_a_key_and_gets_its_jwt_once(manager, app) -> None:
    response = manager.create(name="CI pipeline", roles=[{"role": "global_viewer"}])
    assert response.status_code == 201, response.get_json()
    assert_no_store(response)
    body = response.get_json()
    assert set(body) == {"id", "name", "token", "roles", "created_at", "expires_at"}
    assert body["name"] == "CI pipeline"
    assert body["roles"] == [{"role": "global_viewer", "accounts": "all"}]

    token = body["token"]
    assert header_of(token)["typ"] == "ak+jwt" and header_of(token)["alg"] == "HS256"
    claims = claims_of(token)
    assert claims["jti"] == body["id"]
    assert claims["tid"] == str(manager.user.family_id)
    # The roles are not in the JWT: they are looked up by key id at use.
    assert "roles" not in claims and "role" not in claims
    assert claims["exp"] == epoch(parse_time(body["expires_at"]))
    assert claims["iat"] == epoch(parse_time(body["created_at"]))

    # Afterwards the JWT cannot be retrieved: not in the list, not in the key's own answer.
    listed = manager.list()
    assert listed.status_code == 200
    assert listed.get_json() == [{k: v for k, v in body.items() if k != "token"}]
    shown = manager.client.get(f"{KEYS}/{body['id']}")
    assert shown.status_code == 200
    assert "token" not in shown.get_json()
    assert token not in listed.get_data(as_text=True) + shown.get_data(as_text=True)

    # Nor in the database (only the key id, which is the jti, is stored).
    from app.extensions import db

    with app.app_context():
        for table in ("access_keys", "access_key_roles", "audit_events"):
            rows = db.session.execute(db.text(f"SELECT * FROM {table}")).all()
            assert token not in repr(rows)


def test_the_default_expiry_is_six_calendar_months(manager) -> None:
    from app.accesskeys.services import add_months

    body = manager.issue([{"role": "global_viewer"}])
    created, expires = parse_time(body["created_at"]), parse_time(body["expires_at"])
    assert created.microsecond == 0
    assert expires == add_months(created, 6)


@pytest.mark.parametrize(("preset", "months"), [("1m", 1), ("3m", 3), ("6m", 6), ("12m", 12)])
def test_expiry_presets_are_calendar_months(manager, preset, months) -> None:
    from app.accesskeys.services import add_months

    body = manager.issue([{"role": "global_viewer"}], expiration=preset)
    created, expires = parse_time(body["created_at"]), parse_time(body["expires_at"])
    assert expires == add_months(created, months)
    assert claims_of(body["token"])["exp"] == epoch(expires)


@pytest.mark.parametrize("days", [1, 90, 730])
def test_custom_days_within_the_maximum(manager, days) -> None:
    body = manager.issue([{"role": "global_viewer"}], custom_days=days)
    created, expires = parse_time(body["created_at"]), parse_time(body["expires_at"])
    assert (expires - created).total_seconds() == days * 86400
    assert claims_of(body["token"])["exp"] == epoch(expires)


@pytest.mark.parametrize(
    "expiry",
    [
        {"custom_days": 0},
        {"custom_days": -5},
        {"custom_days": 731},
        {"custom_days": "30"},
        {"custom_days": 1.5},
        {"custom_days": True},
        {"custom_days": None},
        {"expiration": "2m"},
        {"expiration": "6M"},
        {"expiration": ""},
        {"expiration": "6m", "custom_days": 30},
    ],
    ids=lambda e: json.dumps(e),
)
def test_a_bad_expiry_is_422(manager, expiry) -> None:
    response = manager.create(roles=[{"role": "global_viewer"}], **expiry)
    assert response.status_code == 422, response.get_json()
    assert manager.list().get_json() == []


@pytest.mark.config(ACCESS_KEY_MAX_CUSTOM_DAYS=30, ACCESS_KEY_DEFAULT_EXPIRATION="1m")
def test_the_custom_maximum_and_the_default_preset_are_configurable(manager) -> None:
    from app.accesskeys.services import add_months

    assert manager.create(roles=[{"role": "global_viewer"}], custom_days=31).status_code == 422
    assert manager.create(roles=[{"role": "global_viewer"}], custom_days=30).status_code == 201
    body = manager.issue([{"role": "global_viewer"}])
    assert parse_time(body["expires_at"]) == add_months(parse_time(body["created_at"]), 1)


# --- the name: unique per tenant, never changed ----------------------------------------------


def test_the_name_is_unique_in_the_tenant(manager, make_user, as_manager, app) -> None:
    first = manager.create(name="deploy", roles=[{"role": "global_viewer"}])
    assert first.status_code == 201
    again = manager.create(name="  deploy ", roles=[{"role": "global_admin"}])
    assert again.status_code == 409, again.get_json()
    assert again.get_json()["error"] == "name_taken"
    assert [k["name"] for k in manager.list().get_json()] == ["deploy"]

    # Another tenant may use the same name.
    stranger = make_user(email="bob@other.example")
    grant(app, stranger, "global_admin")
    assert as_manager(stranger).create(name="deploy").status_code == 201

    # A removed key's name is free again.
    assert manager.delete(first.get_json()["id"]).status_code == 204
    assert manager.create(name="deploy").status_code == 201


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, None, 12])
def test_a_bad_name_is_422(manager, name) -> None:
    response = manager.create({"name": name, "roles": [{"role": "global_viewer"}]})
    assert response.status_code == 422, response.get_json()


def test_the_name_cannot_be_changed(manager) -> None:
    key = manager.issue([{"role": "global_viewer"}], name="original")
    for body in (
        {"name": "renamed", "roles": [{"role": "global_viewer"}]},
        {"name": "original"},
        {"name": "renamed"},
    ):
        response = manager.patch(key["id"], body)
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["error"] == "name_immutable"
    assert [k["name"] for k in manager.list().get_json()] == ["original"]


# --- roles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "roles",
    [
        None,
        [],
        [{"role": "owner"}],
        [{"role": "secret_key_administrator"}],
        [{"role": "member"}],
        [{"role": "global_viewer"}, {"role": "global_viewer"}],
        [{"role": "cloud_account_viewer"}],
        [{"role": "cloud_account_viewer", "accounts": []}],
        [{"role": "cloud_account_viewer", "accounts": None}],
        [{"role": "cloud_account_viewer", "accounts": "some"}],
        [{"role": "cloud_account_viewer", "accounts": ["not-a-uuid"]}],
        [{"role": "cloud_account_viewer", "accounts": [str(uuid.uuid4())]}],
        [{"role": "global_admin", "accounts": [str(uuid.uuid4())]}],
        [{"role": "global_viewer", "extra": 1}],
        "global_admin",
    ],
    ids=lambda r: json.dumps(r),
)
def test_bad_roles_are_422(manager, roles) -> None:
    body: dict[str, Any] = {"name": "bad roles"}
    if roles is not None:
        body["roles"] = roles
    response = manager.create(body)
    assert response.status_code == 422, response.get_json()
    assert manager.list().get_json() == []


def test_a_cloud_account_viewer_needs_accounts_of_its_own_tenant(
    manager, make_user, make_cloud_account
) -> None:
    mine = make_cloud_account(manager.user.family_id, "Mine")
    theirs = make_cloud_account(make_user(email="bob@other.example").family_id, "Theirs")

    refused = manager.create(roles=[{"role": "cloud_account_viewer", "accounts": [mine, theirs]}])
    assert refused.status_code == 422
    assert theirs in refused.get_json()["message"]
    assert mine not in refused.get_json()["message"]

    selected = manager.issue([{"role": "cloud_account_viewer", "accounts": [mine, mine]}])
    assert selected["roles"] == [{"role": "cloud_account_viewer", "accounts": [mine]}]
    everything = manager.issue([{"role": "cloud_account_viewer", "accounts": "all"}])
    assert everything["roles"] == [{"role": "cloud_account_viewer", "accounts": "all"}]


def test_a_key_has_one_or_more_roles_in_catalogue_order(manager, make_cloud_account) -> None:
    account = make_cloud_account(manager.user.family_id)
    key = manager.issue(
        [
            {"role": "cloud_account_viewer", "accounts": [account]},
            {"role": "global_viewer", "accounts": "all"},
            {"role": "global_admin"},
        ]
    )
    assert key["roles"] == [
        {"role": "global_admin", "accounts": "all"},
        {"role": "global_viewer", "accounts": "all"},
        {"role": "cloud_account_viewer", "accounts": [account]},
    ]


def test_editing_roles(manager, make_cloud_account) -> None:
    account = make_cloud_account(manager.user.family_id)
    key = manager.issue([{"role": "global_viewer"}], name="editable")

    response = manager.patch(
        key["id"], {"roles": [{"role": "cloud_account_viewer", "accounts": [account]}]}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        **{k: v for k, v in key.items() if k != "token"},
        "roles": [{"role": "cloud_account_viewer", "accounts": [account]}],
    }
    assert manager.list().get_json() == [response.get_json()]

    # The same rules as at creation; a refused edit changes nothing.
    for bad in ({"roles": []}, {"roles": [{"role": "cloud_account_viewer"}]}, {}, {"x": 1}):
        assert manager.patch(key["id"], bad).status_code == 422, bad
    assert manager.list().get_json() == [response.get_json()]
    # Expiry is not editable either.
    assert manager.patch(key["id"], {"roles": key["roles"], "custom_days": 5}).status_code == 422


def test_unknown_removed_and_other_tenants_keys_are_404(manager, make_user, as_manager, app):
    stranger = make_user(email="bob@other.example")
    grant(app, stranger, "global_admin")
    theirs = as_manager(stranger).issue([{"role": "global_viewer"}])
    removed = manager.issue([{"role": "global_viewer"}])
    assert manager.delete(removed["id"]).status_code == 204
    for key_id in (theirs["id"], removed["id"], str(uuid.uuid4()), "not-a-uuid"):
        assert manager.client.get(f"{KEYS}/{key_id}").status_code == 404
        assert manager.patch(key_id, {"roles": [{"role": "global_admin"}]}).status_code == 404
        assert manager.delete(key_id).status_code == 404
    # The stranger's key is untouched.
    assert [k["id"] for k in as_manager(stranger).list().get_json()] == [theirs["id"]]


def test_removing_a_key(manager) -> None:
    keep = manager.issue([{"role": "global_viewer"}], name="keep")
    drop = manager.issue([{"role": "global_viewer"}], name="drop")
    response = manager.delete(drop["id"])
    assert response.status_code == 204
    assert response.get_data() == b""
    assert [k["id"] for k in manager.list().get_json()] == [keep["id"]]


# --- who may manage keys: Global Admins, in person -----------------------------------------


@pytest.mark.parametrize(
    ("base_role", "granted"),
    [
        ("member", None),
        ("guest", None),
        ("admin", None),  # a tenant admin is not a Global Admin
        ("super_admin", None),
        ("member", "global_viewer"),
        ("member", "cloud_account_viewer"),
    ],
)
def test_only_global_admins_manage_keys(
    manager, make_user, as_manager, app, base_role, granted
) -> None:
    target = manager.issue([{"role": "global_viewer"}])
    colleague = make_user(role=base_role, family_id=manager.user.family_id)
    if granted:
        grant(app, colleague, granted)
    other = as_manager(colleague)
    for method, path, body in _routes(target["id"]):
        response = other.client.open(path, method=method, json=body, headers=other.headers)
        assert response.status_code == 403, (method, path, response.get_json())
    assert [k["id"] for k in manager.list().get_json()] == [target["id"]]


def test_losing_the_global_admin_role_applies_to_the_next_request(manager, app) -> None:
    from tests.support.factories import revoke_role as revoke

    assert manager.list().status_code == 200
    revoke(app, manager.user, "global_admin")
    assert manager.list().status_code == 403


def _assert_first_party_refusal(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 403, response.get_json()
    assert response.get_json()["message"] == FIRST_PARTY_ONLY


def test_an_api_key_of_a_global_admin_cannot_manage_keys(manager, make_key, api) -> None:
    target = manager.issue([{"role": "global_viewer"}])
    key = make_key(manager.user, scope="read_write")
    for method, path, body in _routes(target["id"]):
        response = api.open(path, method=method, json=body, headers={"X-Api-Key": key})
        _assert_first_party_refusal(response)


def test_a_third_party_token_of_a_global_admin_cannot_manage_keys(manager, tokens, api) -> None:
    target = manager.issue([{"role": "global_viewer"}])
    auth = bearer(tokens["access_token"])  # alice's read_write token of a third-party app
    for method, path, body in _routes(target["id"]):
        _assert_first_party_refusal(api.open(path, method=method, json=body, headers=auth))


@pytest.mark.parametrize("role", ["global_admin", "global_viewer"])
def test_an_access_key_cannot_manage_keys(manager, api, role) -> None:
    """Not even a Global Admin key: a key never mints its successors (T17)."""
    target = manager.issue([{"role": "global_viewer"}])
    auth = bearer(manager.issue([{"role": role}])["token"])
    for method, path, body in _routes(target["id"]):
        _assert_first_party_refusal(api.open(path, method=method, json=body, headers=auth))
    assert len(manager.list().get_json()) == 2


@pytest.mark.config(GLOBAL_API_KEY=GLOBAL_KEY)
def test_the_global_key_cannot_manage_keys(manager, api, app) -> None:
    app.config["GLOBAL_API_KEY_FAMILY_ID"] = str(manager.user.family_id)
    target = manager.issue([{"role": "global_viewer"}])
    for method, path, body in _routes(target["id"]):
        response = api.open(path, method=method, json=body, headers={"X-Api-Key": GLOBAL_KEY})
        _assert_first_party_refusal(response)


def test_a_first_party_device_token_of_a_global_admin_manages_keys(manager, api) -> None:
    token = mobile_login(api, manager.user.email)["access_token"]
    created = api.post(
        KEYS,
        json={"name": "from the app", "roles": [{"role": "global_viewer"}]},
        headers=bearer(token),
    )
    assert created.status_code == 201, created.get_json()
    assert [k["name"] for k in api.get(KEYS, headers=bearer(token)).get_json()] == ["from the app"]


def test_a_session_write_needs_the_csrf_token(manager) -> None:
    response = manager.client.post(KEYS, json={"name": "x", "roles": [{"role": "global_admin"}]})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_csrf_token"
    assert manager.list().get_json() == []


def test_no_credential_is_401(api) -> None:
    assert api.get(KEYS).status_code == 401
    assert api.post(KEYS, json={}).status_code == 401


def test_a_body_that_is_not_an_object_is_400(manager) -> None:
    for body in ([], "text", 3):
        response = manager.client.post(KEYS, json=body, headers=manager.headers)
        assert response.status_code == 400, body


# --- audit ---------------------------------------------------------------------------------


def test_every_lifecycle_step_is_audited_without_the_token(manager, make_cloud_account, app):
    account = make_cloud_account(manager.user.family_id)
    response = manager.client.post(
        KEYS,
        json={"name": "audited", "roles": [{"role": "global_viewer"}], "expiration": "1m"},
        headers={**manager.headers, "X-Correlation-ID": "corr-create-1"},
    )
    assert response.status_code == 201
    created = response.get_json()
    roles = [{"role": "cloud_account_viewer", "accounts": [account]}]
    assert manager.patch(created["id"], {"roles": roles}).status_code == 200
    assert manager.delete(created["id"]).status_code == 204

    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.event.like("access_key.%"))
            .order_by(AuditEvent.occurred_at, AuditEvent.id)
        ).all()
        assert [e.event for e in events] == [
            "access_key.created",
            "access_key.updated",
            "access_key.removed",
        ]
        for event in events:
            assert event.actor_user_id == manager.user.id
            assert event.family_id == manager.user.family_id
            assert event.details["access_key_id"] == created["id"]
            assert event.details["name"] == "audited"
            assert created["token"] not in json.dumps(event.details)
        assert events[0].correlation_id == "corr-create-1"
        assert events[0].details["roles"] == [{"role": "global_viewer", "accounts": "all"}]
        assert events[0].details["expires_at"] == created["expires_at"]
        assert events[1].details["roles_before"] == [{"role": "global_viewer", "accounts": "all"}]
        assert events[1].details["roles"] == roles


# --- the OpenAPI document ------------------------------------------------------------------


def test_the_routes_are_documented_for_bearer_callers_only(client) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    operations = {
        (path, method): op
        for path in (KEYS, f"{KEYS}/{{key_id}}")
        for method, op in paths[path].items()
    }
    assert set(operations) == {
        (KEYS, "get"),
        (KEYS, "post"),
        (f"{KEYS}/{{key_id}}", "get"),
        (f"{KEYS}/{{key_id}}", "patch"),
        (f"{KEYS}/{{key_id}}", "delete"),
    }
    for op in operations.values():
        assert op["security"] == [{"bearerAuth": []}]
        assert "Only the account holder" in op["description"]
    assert "201" in operations[(KEYS, "post")]["responses"]
    assert "204" in operations[(f"{KEYS}/{{key_id}}", "delete")]["responses"]
    for path in ("/api/v1/cloud_accounts", "/api/v1/cloud_accounts/{cloud_account_id}"):
        assert "get" in paths[path]
    assert "post" in paths["/api/v1/cloud_accounts"]
