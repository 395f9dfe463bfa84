"""The platform super-admins' view: ``GET /api/v1/platform/break_glass`` (the state, never the
key), ``GET /api/v1/platform/tenants`` (the only cross-tenant listing) and their pages.
Only a user-bound super-admin; break-glass itself, tenant admins and API keys get 403
(reference §4.7, §4.8, 003.40)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.clock import utcnow
from tests.breakglass.helpers import ENABLED, MASTER_KEY, STATUS, TAGS, TENANTS, master
from tests.support.config import base_config
from tests.support.factories import UserInfo
from tests.support.http import api_error, api_key, bearer
from tests.support.sure import mobile_login
from tests.support.web import login


@pytest.fixture
def operator(make_user: Callable[..., UserInfo]) -> UserInfo:
    return make_user(email="operator@example.com", role="super_admin")


@pytest.fixture
def browser_of(app: Flask) -> Callable[[UserInfo], FlaskClient]:
    """A signed-in browser (session cookie) of a user."""

    def sign_in(who: UserInfo) -> FlaskClient:
        client = app.test_client()
        assert login(client, who.email, who.password).status_code == 302
        return client

    return sign_in


# --- GET /api/v1/platform/break_glass ------------------------------------------------------------


@pytest.mark.config(**ENABLED, BREAK_GLASS_TENANTS="")
def test_the_state_for_a_super_admin_never_shows_the_key(
    client, operator, browser_of, tenant
) -> None:
    for _ in range(2):
        assert client.get(TAGS, headers=master(tenant)).status_code == 200
    assert client.get(TAGS, headers=master(tenant, key="w" * 50)).status_code == 401
    response = browser_of(operator).get(STATUS)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body == {
        "enabled": True,
        "active": True,
        "expires_at": ENABLED["BREAK_GLASS_EXPIRES_AT"],
        "permissions": ["audit.view", "tags.view", "tags.write"],
        "tenants": None,
        "requests_last_hour": 2,  # let through; the refused attempt is not a request served
    }
    assert MASTER_KEY not in response.get_data(as_text=True)


def test_the_state_when_off(operator, browser_of) -> None:
    body = browser_of(operator).get(STATUS).get_json()
    assert body == {
        "enabled": False,
        "active": False,
        "expires_at": None,
        "permissions": ["admin.users", "audit.view", "dashboard.view", "scans.view"],
        "tenants": None,
        "requests_last_hour": 0,
    }


@pytest.mark.config(**{**ENABLED, "BREAK_GLASS_EXPIRES_AT": "2020-01-01T00:00:00Z"})
def test_an_expired_window_shows_enabled_but_inactive(operator, browser_of) -> None:
    body = browser_of(operator).get(STATUS).get_json()
    assert (body["enabled"], body["active"]) == (True, False)
    assert body["expires_at"] == "2020-01-01T00:00:00Z"


def test_the_allowlist_is_shown(database_url, instance_dir, operator) -> None:
    allowed = uuid.uuid4()
    listed = create_app(
        {**base_config(database_url, instance_dir), **ENABLED, "BREAK_GLASS_TENANTS": str(allowed)}
    ).test_client()
    assert login(listed, operator.email, operator.password).status_code == 302
    assert listed.get(STATUS).get_json()["tenants"] == [str(allowed)]


@pytest.mark.config(**ENABLED)
def test_only_a_user_bound_super_admin_may_see_it(
    app, client, make_user, make_key, browser_of, operator, tenant
) -> None:
    assert client.get(STATUS).status_code == 401
    for role in ("member", "admin"):
        response = browser_of(make_user(role=role)).get(STATUS)
        assert response.status_code == 403, role
        assert api_error(response)["error"] == "forbidden"
    # The super-admin's own first-party app token works; their API key does not (not the
    # account holder in person), and break-glass is never a super-admin.
    token = mobile_login(client, operator.email)["access_token"]
    assert client.get(STATUS, headers=bearer(token)).status_code == 200
    assert client.get(STATUS, headers=api_key(make_key(operator))).status_code == 403
    assert client.get(STATUS, headers=master(tenant)).status_code == 403


# --- GET /api/v1/platform/tenants ----------------------------------------------------------------


@pytest.fixture
def tenants(app: Flask, make_user, make_family, operator) -> dict[str, uuid.UUID]:
    """Four tenants: Acme (2 users, the ai feature), Beta (1 user), Closed (deactivated, no
    users), Abroad (region eu); plus the operator's own."""
    from app.identity.tenants import set_features

    acme = make_user(email="a1@example.com", role="admin").family_id
    make_user(email="a2@example.com", family_id=acme)
    beta = make_user(email="b1@example.com").family_id
    with app.app_context():
        from app.extensions import db
        from app.identity.models import Family

        for family_id, name in ((acme, "Acme"), (beta, "Beta"), (operator.family_id, "Ops")):
            db.session.get(Family, family_id).name = name
        db.session.commit()
        set_features(acme, ["ai"], now=utcnow())
    return {
        "Acme": acme,
        "Beta": beta,
        "Closed": make_family("Closed", active=False),
        "Abroad": make_family("Abroad", region="eu"),
        "Ops": operator.family_id,
    }


def test_the_tenants_with_their_user_counts(operator, browser_of, tenants) -> None:
    response = browser_of(operator).get(TENANTS)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [t["name"] for t in body["tenants"]] == ["Abroad", "Acme", "Beta", "Closed", "Ops"]
    acme = body["tenants"][1]
    assert acme == {
        "id": str(tenants["Acme"]),
        "name": "Acme",
        "kind": "family",
        "region": "default",
        "features": ["ai"],
        "active": True,
        "partner_tenant_id": None,
        "created_at": acme["created_at"],
        "user_count": 2,
    }
    assert acme["created_at"].endswith("Z")
    counts = {t["name"]: (t["user_count"], t["active"], t["region"]) for t in body["tenants"]}
    assert counts["Closed"] == (0, False, "default")
    assert counts["Abroad"] == (0, True, "eu")
    assert counts["Ops"] == (1, True, "default")
    assert body["pagination"] == {"page": 1, "per_page": 25, "total_count": 5, "total_pages": 1}


def test_the_tenants_are_paginated_and_filtered_by_region(operator, browser_of, tenants) -> None:
    browser = browser_of(operator)
    second = browser.get(TENANTS + "?page=2&per_page=2").get_json()
    assert [t["name"] for t in second["tenants"]] == ["Beta", "Closed"]
    assert second["pagination"] == {"page": 2, "per_page": 2, "total_count": 5, "total_pages": 3}
    eu = browser.get(TENANTS + "?region=eu").get_json()
    assert [t["name"] for t in eu["tenants"]] == ["Abroad"]
    for query in ("per_page=0", "per_page=101", "page=0", "page=x", "colour=blue"):
        refused = browser.get(f"{TENANTS}?{query}")
        assert refused.status_code == 422, query
        assert api_error(refused)["error"] == "validation_failed"


@pytest.mark.config(**ENABLED)
def test_only_a_super_admin_lists_tenants(client, make_user, browser_of, tenants) -> None:
    assert client.get(TENANTS).status_code == 401
    assert browser_of(make_user(role="admin")).get(TENANTS).status_code == 403
    assert client.get(TENANTS, headers=master(tenants["Acme"])).status_code == 403


# --- the pages ----------------------------------------------------------------------------------


@pytest.mark.config(**ENABLED)
def test_the_status_page_for_a_super_admin(client, operator, browser_of, tenant) -> None:
    client.get(TAGS, headers=master(tenant))
    page = browser_of(operator).get("/platform/break_glass")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "Break-glass master key" in html
    assert 'data-testid="active"><span class="state on">active' in html
    for permission in ("audit.view", "tags.view", "tags.write"):
        assert f"<code>{permission}</code>" in html
    assert 'data-testid="requests-last-hour">1<' in html
    assert MASTER_KEY not in html
    assert "https://" not in html.replace("https://auth.tollgate.test", "")  # no CDN
    assert page.headers["Cache-Control"] == "no-store"


def test_the_tenants_page_for_a_super_admin(operator, browser_of, tenants) -> None:
    page = browser_of(operator).get("/platform/tenants")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for name, family_id in tenants.items():
        assert f'data-tenant-id="{family_id}"' in html
        assert f">{name}</th>" in html
    assert "5 tenants" in html


def test_the_pages_are_for_super_admins_in_the_browser_only(
    client, make_user, browser_of, tenant
) -> None:
    for path in ("/platform/break_glass", "/platform/tenants"):
        signed_out = client.get(path)
        assert signed_out.status_code == 302
        assert signed_out.headers["Location"].startswith("/login?next=")
        assert browser_of(make_user(role="admin")).get(path).status_code == 403
        # Header credentials do not sign anybody in on a page.
        assert client.get(path, headers=master(tenant)).status_code == 302
