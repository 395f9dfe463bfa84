"""Creating, listing and showing organisations (seed 002, reference §4.6): only partners create
them (002.3, 002.22), with the partner's own user-bound credentials and never an API key or a
service credential (§3.6, T17); the answer carries organizationId and the ssoSecret once
(002.7, 002.8, 002.25); the secret is derived, never stored (C4, T13) and never listed
(002.17); each partner sees its own organisations only (another partner's is 404)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from app.clock import utcnow
from tests.support.factories import grant_role
from tests.support.http import api_error, assert_no_store, bearer
from tests.support.partners import ORGANIZATIONS, UUID4_RE, Partner, admin_token
from tests.support.sure import mobile_login
from tests.support.web import login, session_csrf

SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def expected_secret(app, organization_id: str, version: int) -> str:  # type: ignore[no-untyped-def]
    """C4, computed here from the documented formula (not with the server's code)."""
    key = app.config["PARTNER_SSO_KEY"].encode()
    mac = hmac.new(key, f"sso:{organization_id}:{version}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


# --- creating an organisation ----------------------------------------------------------------


def test_a_partner_creates_an_organization_and_gets_its_sso_secret_once(
    app, partner: Partner, partner_user
) -> None:
    response = partner.create("organization 1")
    assert response.status_code == 201, response.get_json()
    assert_no_store(response)
    body = response.get_json()
    assert set(body) == {"organizationId", "ssoSecret", "name", "created_at"}
    assert body["name"] == "organization 1"
    assert re.match(UUID4_RE, body["organizationId"])
    assert SECRET_RE.match(body["ssoSecret"])
    assert body["ssoSecret"] == expected_secret(app, body["organizationId"], 1)

    from app.extensions import db
    from app.identity.models import Family

    with app.app_context():
        organization = db.session.get(Family, uuid.UUID(body["organizationId"]))
        assert organization is not None
        assert organization.kind == "organization"
        assert organization.partner_family_id == partner_user.family_id
        assert organization.sso_secret_version == 1
        assert organization.region == app.config["REGION"]
        assert organization.active is True
        # Neither the secret nor a hash of it is anywhere in the database (C4, T13).
        hashed = hashlib.sha256(body["ssoSecret"].encode()).hexdigest()
        for table in ("families", "audit_events", "org_admin_tokens", "partner_assertions"):
            rows = repr(db.session.execute(db.text(f"SELECT * FROM {table}")).all())
            assert body["ssoSecret"] not in rows and hashed not in rows, table


def test_creation_is_audited_without_the_secret(app, partner: Partner, partner_user) -> None:
    body = partner.organization("Audited Org")
    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "organization.created")
        ).one()
        assert event.actor_user_id == partner_user.id
        assert event.family_id == partner_user.family_id
        assert event.details["organization_id"] == body["organizationId"]
        assert body["ssoSecret"] not in repr(event.details)


def test_the_root_path_and_its_api_v1_twin_both_create(partner: Partner) -> None:
    at_root = partner.client.post(
        "/organizations", json={"name": "organization 1"}, headers=partner.headers
    )
    assert at_root.status_code == 201, at_root.get_json()
    twin = partner.create("organization 2")
    assert twin.status_code == 201
    assert at_root.get_json()["organizationId"] != twin.get_json()["organizationId"]
    assert at_root.get_json()["ssoSecret"] != twin.get_json()["ssoSecret"]


def test_the_name_is_trimmed(partner: Partner) -> None:
    assert partner.organization("  Spaced Out  ")["name"] == "Spaced Out"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "name_required"),
        ({"name": ""}, "name_required"),
        ({"name": "   "}, "name_required"),
        ({"name": None}, "name_required"),
        ({"name": 42}, "name_required"),
        ({"name": "x" * 201}, "name_too_long"),
    ],
)
def test_a_missing_blank_or_too_long_name_is_a_400(partner: Partner, body, error) -> None:
    response = partner.client.post(ORGANIZATIONS, json=body, headers=partner.headers)
    assert response.status_code == 400, response.get_json()
    assert api_error(response)["error"] == error


def test_a_name_of_200_characters_is_accepted(partner: Partner) -> None:
    assert len(partner.organization("x" * 200)["name"]) == 200


@pytest.mark.parametrize("payload", [b"[]", b'"organization"', b"{not json"])
def test_a_body_that_is_not_a_json_object_is_a_400(partner: Partner, payload) -> None:
    response = partner.client.post(
        ORGANIZATIONS,
        data=payload,
        headers={**partner.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert api_error(response)["error"] == "bad_request"


def test_nothing_is_created_when_the_name_is_refused(app, partner: Partner) -> None:
    assert partner.create("").status_code == 400
    from app.extensions import db
    from app.identity.models import Family

    with app.app_context():
        count = db.session.scalar(
            select(db.func.count(Family.id)).where(Family.kind == "organization")
        )
    assert count == 0


# --- who may create one -----------------------------------------------------------------------


def test_a_user_who_is_not_a_partner_gets_403_not_a_partner(api, user) -> None:
    token = mobile_login(api, user.email, user.password)["access_token"]
    response = api.post(ORGANIZATIONS, json={"name": "nope"}, headers=bearer(token))
    assert response.status_code == 403
    assert api_error(response) == {
        "error": "not_a_partner",
        "message": "Only partner users can manage organizations",
    }


def test_a_tenant_admin_who_is_not_a_partner_gets_403(api, make_user) -> None:
    admin = make_user(email="boss@example.com", role="admin")
    token = mobile_login(api, admin.email, admin.password)["access_token"]
    response = api.post(ORGANIZATIONS, json={"name": "nope"}, headers=bearer(token))
    assert response.status_code == 403
    assert response.get_json()["code"] == "NOT_A_PARTNER"


def test_no_credential_is_a_401(api) -> None:
    response = api.post(ORGANIZATIONS, json={"name": "x"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_partners_api_key_cannot_create_an_organization(api, partner_user, make_key, app) -> None:
    key = make_key(partner_user, scope="read_write")
    response = api.post(ORGANIZATIONS, json={"name": "x"}, headers={"X-Api-Key": key})
    assert response.status_code == 403
    assert "not an API key" in response.get_json()["message"]
    # The same key may list (a read), which shows the partner's organisations.
    assert api.get(ORGANIZATIONS, headers={"X-Api-Key": key}).status_code == 200


def test_an_org_admin_token_cannot_create_an_organization(
    api, partner: Partner, organization
) -> None:
    token = admin_token(api, organization["ssoSecret"], organization["organizationId"])
    response = api.post(ORGANIZATIONS, json={"name": "escalated"}, headers=bearer(token))
    assert response.status_code == 403
    assert api_error(response)["error"] == "forbidden"
    assert len(partner.list().get_json()) == 1


def test_a_read_scoped_oauth_token_cannot_create(app, partner_user, make_client) -> None:
    from tests.support.oauth import authorize, exchange_code

    client = app.test_client()
    assert login(client, partner_user.email, partner_user.password).status_code == 302
    oauth = make_client(scope="read read_write")
    auth = authorize(client, oauth, scope="read")
    token = exchange_code(client, oauth, auth).get_json()["access_token"]
    api = app.test_client()
    response = api.post(ORGANIZATIONS, json={"name": "x"}, headers=bearer(token))
    assert response.status_code == 403
    assert api_error(response)["error"] == "insufficient_scope"
    assert api.get(ORGANIZATIONS, headers=bearer(token)).status_code == 200


def test_the_partners_browser_session_creates_with_the_csrf_header(app, partner_user) -> None:
    client = app.test_client()
    assert login(client, partner_user.email, partner_user.password).status_code == 302
    refused = client.post(ORGANIZATIONS, json={"name": "no csrf"})
    assert refused.status_code in (400, 403)
    created = client.post(
        ORGANIZATIONS, json={"name": "with csrf"}, headers={"X-CSRFToken": session_csrf(client)}
    )
    assert created.status_code == 201, created.get_json()
    assert [o["name"] for o in client.get(ORGANIZATIONS).get_json()] == ["with csrf"]


def test_the_partners_session_jwt_from_auth_login_creates(api, partner_user) -> None:
    """The partner's "basic authentication token" (002.4, 002.24): the session login's JWT."""
    signed_in = api.post(
        "/auth/login", json={"email": partner_user.email, "password": partner_user.password}
    )
    assert signed_in.status_code == 200, signed_in.get_json()
    token = signed_in.get_json()["access_token"]
    response = api.post("/organizations", json={"name": "via session"}, headers=bearer(token))
    assert response.status_code == 201, response.get_json()


def test_the_partners_secret_key_jwt_creates(app, api, partner_user) -> None:
    from app.extensions import db
    from app.identity.models import User
    from app.mail import services as mail
    from app.secretkeys.services import keys, reveal, tokens

    with app.app_context():
        owner = db.session.get(User, partner_user.id)
        keys.add_secret_key(owner, actor_id=None, now=utcnow(), request_base_url="http://t")
        body = mail.outbox(to=owner.email, limit=1)[0]["body"]
        link = re.search(r"/secret_key/reveal/(\S+)", body)
        assert link
        secret = reveal.reveal(link.group(1), user_id=owner.id, now=utcnow())
        jwt = tokens.issue_token(owner.email, secret, now=utcnow()).token
    response = api.post(ORGANIZATIONS, json={"name": "via secret key"}, headers=bearer(jwt))
    assert response.status_code == 201, response.get_json()


def test_a_deactivated_partner_cannot_create(app, api, partner: Partner, partner_user) -> None:
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        db.session.get(User, partner_user.id).active = False
        db.session.commit()
    assert partner.create("after deactivation").status_code == 401


# --- listing and showing ----------------------------------------------------------------------


def test_get_organizations_lists_the_partners_own_and_never_a_secret(
    partner: Partner, make_partner, sign_in
) -> None:
    first = partner.organization("organization 1")
    second = partner.organization("organization 2")
    other = sign_in(make_partner("rival@example.com")).organization("rival org")

    listed = partner.list()
    assert listed.status_code == 200
    body = listed.get_json()
    assert [o["organizationId"] for o in body] == [
        first["organizationId"],
        second["organizationId"],
    ]
    assert body[0] == {k: v for k, v in first.items() if k != "ssoSecret"}
    text = listed.get_data(as_text=True)
    assert first["ssoSecret"] not in text and second["ssoSecret"] not in text
    assert other["organizationId"] not in text
    assert "ssoSecret" not in text


def test_the_organization_id_can_be_read_again_by_id(partner: Partner, organization) -> None:
    response = partner.client.get(
        f"{ORGANIZATIONS}/{organization['organizationId']}", headers=partner.headers
    )
    assert response.status_code == 200
    assert response.get_json() == {k: v for k, v in organization.items() if k != "ssoSecret"}


@pytest.mark.parametrize("organization_id", ["not-a-uuid", str(uuid.uuid4())])
def test_an_unknown_organization_is_a_404(partner: Partner, organization_id: str) -> None:
    response = partner.client.get(f"{ORGANIZATIONS}/{organization_id}", headers=partner.headers)
    assert response.status_code == 404


def test_another_partners_organization_is_a_404(partner: Partner, make_partner, sign_in) -> None:
    other = sign_in(make_partner("rival@example.com")).organization("rival org")
    response = partner.client.get(
        f"{ORGANIZATIONS}/{other['organizationId']}", headers=partner.headers
    )
    assert response.status_code == 404
    assert api_error(response)["error"] == "record_not_found"


def test_a_user_who_is_not_a_partner_sees_their_own_tenant(api, app, user) -> None:
    from app.extensions import db
    from app.identity.models import Family

    token = mobile_login(api, user.email, user.password)["access_token"]
    response = api.get(ORGANIZATIONS, headers=bearer(token))
    assert response.status_code == 200
    with app.app_context():
        family = db.session.get(Family, user.family_id)
        assert family is not None
        assert response.get_json() == [
            {
                "organizationId": str(user.family_id),
                "name": family.name,
                "created_at": family.created_at.isoformat() + "Z",
            }
        ]


def test_an_org_admin_token_lists_its_one_organization(api, partner: Partner, organization) -> None:
    partner.organization("organization 2")  # the partner's other one: never shown
    token = admin_token(api, organization["ssoSecret"], organization["organizationId"])
    response = api.get("/organizations", headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json() == [{k: v for k, v in organization.items() if k != "ssoSecret"}]


def test_listing_needs_a_credential(api) -> None:
    assert api.get(ORGANIZATIONS).status_code == 401


def test_a_super_admins_tenant_switch_is_no_partner_action(app, api, make_partner) -> None:
    """A partner acting in another tenant through X-Tenant-ID (a platform super-admin) is not
    acting as that tenant's partner: partner actions happen in the partner's own tenant."""
    from app.extensions import db
    from app.identity.models import User

    chief = make_partner("chief@example.com")
    with app.app_context():
        db.session.get(User, chief.id).role = "super_admin"
        db.session.commit()
    grant_role(app, chief, "global_admin")
    token = mobile_login(api, chief.email, chief.password)["access_token"]
    created = api.post(ORGANIZATIONS, json={"name": "mine"}, headers=bearer(token))
    assert created.status_code == 201
    elsewhere: dict[str, Any] = {
        **bearer(token),
        "X-Tenant-ID": created.get_json()["organizationId"],
    }
    refused = api.post(ORGANIZATIONS, json={"name": "switched"}, headers=elsewhere)
    assert refused.status_code == 403
    assert "own tenant" in refused.get_json()["message"]
