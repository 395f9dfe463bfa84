"""The organisation admin token (seed 002): an opaque UUID valid 24 hours (002.14, 002.15) that
authenticates organisation-level calls without a role (002.1, 002.2; C17: the built-in
org_admin set), confined to its organisation (002.20): no partner actions, none of the
partner's other organisations (404), no credential minting (T17); revocable by itself, by the
owning partner, and by a rotation (002.23); refused once its organisation or partner is
deactivated, and in another region (C18)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from app.clock import utcnow
from tests.support.http import api_error, bearer
from tests.support.partners import ORGANIZATIONS, SSO_REVOKE, Partner, admin_token, assertion


@pytest.fixture
def token(api, organization: dict[str, Any]) -> str:
    return admin_token(api, organization["ssoSecret"], organization["organizationId"])


@pytest.fixture
def org_id(organization: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(organization["organizationId"])


def _task(app, family_id: uuid.UUID, title: str) -> str:  # type: ignore[no-untyped-def]
    from app.resources import services

    with app.app_context():
        return str(services.create_task(family_id, title=title, now=utcnow()).id)


# --- what it reaches ----------------------------------------------------------------------------


def test_it_reaches_its_organizations_data_and_nothing_else(
    app, api, token, org_id, partner: Partner, partner_user
) -> None:
    mine = _task(app, org_id, "Inside the organization")
    sibling = uuid.UUID(partner.organization("sibling")["organizationId"])
    _task(app, sibling, "In the partner's other organization")
    _task(app, partner_user.family_id, "In the partner's own tenant")

    response = api.get("/api/v1/tasks", headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    assert [t["id"] for t in response.get_json()["tasks"]] == [mine]
    assert response.headers["X-Tenant-ID"] == str(org_id)


def test_it_carries_the_org_admin_permission_set(app, token, org_id) -> None:
    from app.gate.registry import verifiers
    from app.identity.roles import ORG_ADMIN_PERMISSIONS

    with app.test_request_context():
        [verifier] = [v for v in verifiers("bearer") if v.accepts(token)]
        principal = verifier.verify(token)
    assert principal.family_id == org_id
    assert principal.credential_kind == "org_admin"
    assert principal.user_id is None and not principal.user_bound
    assert principal.permissions == ORG_ADMIN_PERMISSIONS
    assert principal.scopes == frozenset({"read_write"})
    assert principal.region == app.config["REGION"]


def test_it_writes_organization_level_resources(api, token) -> None:
    created = api.post("/api/v1/tags", json={"tag": {"name": "shared"}}, headers=bearer(token))
    assert created.status_code == 201, created.get_json()
    listed = api.get("/api/v1/tags", headers=bearer(token)).get_json()
    assert [t["name"] for t in listed["tags"]] == ["shared"]


def test_the_partners_other_organization_is_a_404(api, token, partner: Partner) -> None:
    sibling = partner.organization("sibling")["organizationId"]
    response = api.get(f"{ORGANIZATIONS}/{sibling}", headers=bearer(token))
    assert response.status_code == 404
    assert api_error(response)["error"] == "record_not_found"


def test_it_shows_its_own_organization(api, token, organization) -> None:
    response = api.get(f"{ORGANIZATIONS}/{organization['organizationId']}", headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json()["organizationId"] == organization["organizationId"]


def test_it_cannot_name_another_tenant_in_x_tenant_id(api, token, partner: Partner) -> None:
    sibling = partner.organization("sibling")["organizationId"]
    response = api.get("/api/v1/tasks", headers={**bearer(token), "X-Tenant-ID": sibling})
    assert response.status_code == 403
    assert api_error(response)["error"] == "tenant_forbidden"


# --- what it may not do (002.20, T17) ----------------------------------------------------------


def test_it_cannot_take_partner_actions(api, token, organization, partner: Partner) -> None:
    organization_id = organization["organizationId"]
    for method, path, body in [
        ("POST", ORGANIZATIONS, {"name": "escalated"}),
        ("POST", f"{ORGANIZATIONS}/{organization_id}/sso_secret/rotate", {}),
        ("DELETE", f"{ORGANIZATIONS}/{organization_id}/admin_tokens", None),
    ]:
        response = api.open(path, method=method, json=body, headers=bearer(token))
        assert response.status_code == 403, (method, path, response.get_json())
    # Nothing changed: one organisation, its secret still the same.
    assert len(partner.list().get_json()) == 1
    assert api.get("/api/v1/tasks", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/api_keys", {"name": "forever", "scope": "read_write", "source": "web"}),
        ("/api/v1/access_keys", {"name": "six months", "roles": [{"role": "global_admin"}]}),
    ],
)
def test_it_mints_no_key(api, token, path: str, body: dict[str, Any]) -> None:
    response = api.post(path, json=body, headers=bearer(token))
    assert response.status_code == 403, response.get_json()
    assert api.get(path, headers=bearer(token)).status_code == 403


def test_it_adds_no_secret_key(app, api, token, org_id, make_user) -> None:
    member = make_user(email="org.member@example.com", family_id=org_id)
    response = api.post(f"/api/v1/admin/users/{member.id}/secret_key", headers=bearer(token))
    assert response.status_code == 403, response.get_json()
    from app.extensions import db
    from app.secretkeys.models import SecretKey

    with app.app_context():
        assert db.session.query(SecretKey).count() == 0


def test_it_mints_no_api_key_for_a_member_of_its_organization(
    app, api, token, org_id, make_user
) -> None:
    """admin.users is in the org_admin set, but minting a user's API key is a change only the
    account holder makes in person: a 24-hour shared token must not leave a key behind."""
    member = make_user(email="org.member@example.com", family_id=org_id)
    response = api.post(
        f"/api/v1/admin/users/{member.id}/api_keys",
        json={"name": "forever", "scope": "read_write", "source": "monitoring"},
        headers=bearer(token),
    )
    assert response.status_code == 403, response.get_json()
    from app.apikeys.models import ApiKey
    from app.extensions import db

    with app.app_context():
        assert db.session.query(ApiKey).count() == 0


def test_it_grants_no_role(api, token, org_id, make_user) -> None:
    member = make_user(email="org.member@example.com", family_id=org_id)
    response = api.post(
        f"/api/v1/admin/users/{member.id}/roles",
        json={"role": "global_admin"},
        headers=bearer(token),
    )
    assert response.status_code == 403, response.get_json()


def test_the_org_admin_set_holds_no_minting_permission() -> None:
    from app.identity.roles import CREDENTIAL_MINTING, ORG_ADMIN_PERMISSIONS, PLATFORM

    assert not ORG_ADMIN_PERMISSIONS & CREDENTIAL_MINTING
    assert not ORG_ADMIN_PERMISSIONS & PLATFORM
    assert "admin.roles" not in ORG_ADMIN_PERMISSIONS


# --- its shape and its lifetime ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        str(uuid.uuid4()),  # well-formed, never issued
        "E3D53477-1F85-42C1-8ED0-2BB591700DB8",  # not canonical (upper case)
        "e3d534771f8542c18ed02bb591700db8",  # no hyphens
    ],
)
def test_anything_but_an_issued_token_is_a_401(api, token, value: str) -> None:
    response = api.get("/api/v1/tasks", headers=bearer(value))
    assert response.status_code == 401


def test_an_upper_cased_token_is_refused(api, token) -> None:
    assert api.get("/api/v1/tasks", headers=bearer(token.upper())).status_code == 401


def test_it_expires_after_24_hours(app, api, organization) -> None:
    from app.partners import tokens

    issued_at = utcnow() - timedelta(hours=24, seconds=1)
    jwt = assertion(organization["ssoSecret"], organization["organizationId"], issued_at)
    with app.test_request_context():
        expired = tokens.exchange(jwt, now=issued_at)
    assert api.get("/api/v1/tasks", headers=bearer(expired.token)).status_code == 401

    issued_at = utcnow() - timedelta(hours=23, minutes=59)
    jwt = assertion(organization["ssoSecret"], organization["organizationId"], issued_at)
    with app.test_request_context():
        alive = tokens.exchange(jwt, now=issued_at)
    assert api.get("/api/v1/tasks", headers=bearer(alive.token)).status_code == 200


@pytest.mark.config(ORG_ADMIN_TOKEN_LIFETIME=3600)
def test_the_lifetime_is_configurable(api, organization) -> None:
    response = api.get(
        "/api/v1/organizations/sso",
        headers=bearer(assertion(organization["ssoSecret"], organization["organizationId"])),
    )
    assert response.get_json()["expires_in"] == 3600


# --- revocation --------------------------------------------------------------------------------


def test_it_revokes_itself(app, api, token, organization) -> None:
    other = admin_token(api, organization["ssoSecret"], organization["organizationId"])
    response = api.post(SSO_REVOKE, headers=bearer(token))
    assert response.status_code == 204
    assert api.get("/api/v1/tasks", headers=bearer(token)).status_code == 401
    assert api.post(SSO_REVOKE, headers=bearer(token)).status_code == 401
    # Only itself: a sibling token of the same organisation still works.
    assert api.get("/api/v1/tasks", headers=bearer(other)).status_code == 200
    from sqlalchemy import select

    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "org_admin_token.revoked")
        ).one()
        assert str(event.family_id) == organization["organizationId"]
        assert token not in repr(event.details)


def test_only_an_admin_token_revokes_itself_there(api, partner: Partner) -> None:
    response = api.post(SSO_REVOKE, headers=partner.headers)
    assert response.status_code == 403


def test_the_owning_partner_revokes_every_token_of_an_organization(
    api, partner: Partner, organization, make_partner, sign_in
) -> None:
    organization_id = organization["organizationId"]
    first = admin_token(api, organization["ssoSecret"], organization_id)
    second = admin_token(api, organization["ssoSecret"], organization_id)
    sibling = partner.organization("sibling")
    untouched = admin_token(api, sibling["ssoSecret"], sibling["organizationId"])

    rival = sign_in(make_partner("rival@example.com"))
    assert rival.revoke_all(organization_id).status_code == 404
    assert api.get("/api/v1/tasks", headers=bearer(first)).status_code == 200

    assert partner.revoke_all(organization_id).status_code == 204
    assert api.get("/api/v1/tasks", headers=bearer(first)).status_code == 401
    assert api.get("/api/v1/tasks", headers=bearer(second)).status_code == 401
    assert api.get("/api/v1/tasks", headers=bearer(untouched)).status_code == 200
    # A fresh exchange works again afterwards.
    fresh = admin_token(api, organization["ssoSecret"], organization_id)
    assert api.get("/api/v1/tasks", headers=bearer(fresh)).status_code == 200


def test_a_deactivated_organization_refuses_its_tokens_at_once(app, api, token, org_id) -> None:
    from app.extensions import db
    from app.identity.models import Family

    with app.app_context():
        db.session.get(Family, org_id).active = False
        db.session.commit()
    assert api.get("/api/v1/tasks", headers=bearer(token)).status_code == 401


def test_a_deactivated_partner_tenant_refuses_its_tokens(app, api, token, partner_user) -> None:
    from app.extensions import db
    from app.identity.models import Family

    with app.app_context():
        db.session.get(Family, partner_user.family_id).active = False
        db.session.commit()
    assert api.get("/api/v1/tasks", headers=bearer(token)).status_code == 401


def test_a_token_of_another_region_is_a_401(app, api, token) -> None:
    """The verifier reports the token's region; the gate refuses it on this instance (a real
    second region is in test_regions.py)."""
    from sqlalchemy import update

    from app.extensions import db
    from app.partners.models import OrgAdminToken

    with app.app_context():
        db.session.execute(update(OrgAdminToken).values(region="eu"))
        db.session.commit()
    assert api.get("/api/v1/tasks", headers=bearer(token)).status_code == 401


@pytest.mark.parametrize(
    "database",
    [
        "postgresql+psycopg://postgres@127.0.0.1:9/test?connect_timeout=2",
        "sqlite:////nonexistent-dir/for/tollgate.sqlite3",
    ],
    ids=["postgresql-stopped-port", "sqlite-unopenable"],
)
def test_an_unreachable_store_is_a_503_never_a_fall_through(instance_dir, database: str) -> None:
    """The database really is unreachable: an admin token (even with an API key beside it)
    and the SSO exchange answer 503, never 401 and never the next credential (T8)."""
    from app import create_app
    from tests.support.config import base_config

    down = create_app(base_config(database, instance_dir)).test_client()
    headers = {**bearer(str(uuid.uuid4())), "X-Api-Key": "tgk_" + "b" * 43}
    assert down.get("/api/v1/tasks", headers=headers).status_code == 503
    jwt = assertion("secret", str(uuid.uuid4()))
    assert down.get("/api/v1/organizations/sso", headers=bearer(jwt)).status_code == 503
