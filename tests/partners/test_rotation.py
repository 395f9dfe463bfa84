"""Rotating the ssoSecret (002.23, T13): the owning partner gets a new secret once (version + 1,
so assertions signed with the old one fail their signature) and, unless it asks otherwise,
the organisation's outstanding admin tokens are revoked in the same step."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.http import api_error, assert_no_store, bearer
from tests.support.partners import ORGANIZATIONS, Partner, admin_token, assertion, exchange
from tests.support.sure import mobile_login


def _version(app, organization_id: str) -> int:  # type: ignore[no-untyped-def]
    from app.extensions import db
    from app.identity.models import Family

    with app.app_context():
        family = db.session.get(Family, uuid.UUID(organization_id))
        assert family is not None and family.sso_secret_version is not None
        return family.sso_secret_version


def test_rotation_returns_a_new_secret_once_and_bumps_the_version(
    app, partner: Partner, organization: dict[str, Any]
) -> None:
    organization_id = organization["organizationId"]
    response = partner.rotate(organization_id)
    assert response.status_code == 200, response.get_json()
    assert_no_store(response)
    body = response.get_json()
    assert set(body) == {"organizationId", "ssoSecret"}
    assert body["organizationId"] == organization_id
    assert body["ssoSecret"] != organization["ssoSecret"]
    assert _version(app, organization_id) == 2

    again = partner.rotate(organization_id).get_json()["ssoSecret"]
    assert again not in (organization["ssoSecret"], body["ssoSecret"])
    assert _version(app, organization_id) == 3
    # Never shown again afterwards.
    listed = partner.list().get_data(as_text=True)
    assert again not in listed and "ssoSecret" not in listed


def test_rotation_revokes_outstanding_admin_tokens_by_default(
    api, partner: Partner, organization
) -> None:
    organization_id = organization["organizationId"]
    token = admin_token(api, organization["ssoSecret"], organization_id)
    assert partner.rotate(organization_id).status_code == 200
    assert api.get("/api/v1/tasks", headers=bearer(token)).status_code == 401


@pytest.mark.parametrize("body", [{"revoke_tokens": True}, {}, None])
def test_revoke_tokens_defaults_to_true(api, partner: Partner, organization, body) -> None:
    token = admin_token(api, organization["ssoSecret"], organization["organizationId"])
    assert partner.rotate(organization["organizationId"], body).status_code == 200
    assert api.get("/api/v1/tasks", headers=bearer(token)).status_code == 401


def test_revoke_tokens_false_keeps_them(api, partner: Partner, organization) -> None:
    organization_id = organization["organizationId"]
    token = admin_token(api, organization["ssoSecret"], organization_id)
    rotated = partner.rotate(organization_id, {"revoke_tokens": False})
    assert rotated.status_code == 200
    assert api.get("/api/v1/tasks", headers=bearer(token)).status_code == 200
    # The old secret still signs nothing any more.
    old = exchange(api, assertion(organization["ssoSecret"], organization_id))
    assert old.status_code == 401


@pytest.mark.parametrize("body", [{"revoke_tokens": "no"}, {"revoke_tokens": 0}, ["x"]])
def test_a_malformed_body_is_a_400_and_rotates_nothing(
    app, partner: Partner, organization, body
) -> None:
    response = partner.rotate(organization["organizationId"], body)
    assert response.status_code == 400
    assert _version(app, organization["organizationId"]) == 1


def test_another_partners_organization_is_a_404(app, organization, make_partner, sign_in) -> None:
    rival = sign_in(make_partner("rival@example.com"))
    response = rival.rotate(organization["organizationId"])
    assert response.status_code == 404
    assert api_error(response)["error"] == "record_not_found"
    assert _version(app, organization["organizationId"]) == 1


@pytest.mark.parametrize("organization_id", ["nope", str(uuid.uuid4())])
def test_an_unknown_organization_is_a_404(partner: Partner, organization_id: str) -> None:
    assert partner.rotate(organization_id).status_code == 404


def test_a_user_who_is_not_a_partner_cannot_rotate(app, api, user, organization) -> None:
    token = mobile_login(api, user.email, user.password)["access_token"]
    response = api.post(
        f"{ORGANIZATIONS}/{organization['organizationId']}/sso_secret/rotate",
        json={},
        headers=bearer(token),
    )
    assert response.status_code == 403
    assert api_error(response)["error"] == "not_a_partner"
    assert _version(app, organization["organizationId"]) == 1


def test_a_partners_api_key_cannot_rotate(app, api, partner_user, organization, make_key) -> None:
    key = make_key(partner_user)
    response = api.post(
        f"{ORGANIZATIONS}/{organization['organizationId']}/sso_secret/rotate",
        json={},
        headers={"X-Api-Key": key},
    )
    assert response.status_code == 403
    assert _version(app, organization["organizationId"]) == 1


def test_rotation_is_audited_without_the_secret(app, partner: Partner, organization) -> None:
    from app.audit.models import AuditEvent
    from app.extensions import db

    api = partner.client
    admin_token(api, organization["ssoSecret"], organization["organizationId"])
    new_secret = partner.rotate(organization["organizationId"]).get_json()["ssoSecret"]
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "organization.sso_secret_rotated")
        ).one()
        assert event.details["organization_id"] == organization["organizationId"]
        assert event.details["version"] == 2
        assert event.details["admin_tokens_revoked"] == 1
        assert new_secret not in repr(event.details)
