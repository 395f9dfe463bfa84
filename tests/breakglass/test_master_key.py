"""The master key over HTTP: off by default, one generic 401 when off or wrong and never a
fall-through (T9), the reason in production, one named tenant, the configured permission
set, the rate limits (003.3-003.5, 003.21-003.26, 003.32-003.34, 003.42, C16, C23, T7)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.config import DefaultConfig
from tests.breakglass.helpers import ENABLED, MASTER_KEY, TAGS, events, expiry, master
from tests.support.config import base_config
from tests.support.factories import UserInfo
from tests.support.http import api_error, api_key, bearer
from tests.support.sure import mobile_login

pytestmark = pytest.mark.config(**ENABLED)

GENERIC_401 = {
    "error": "unauthorized",
    "message": "Access token or API key is invalid, expired, or missing",
}


@pytest.fixture
def make_app(database_url: str, instance_dir: Path) -> Callable[..., Flask]:
    """Another app on the test's database, configured otherwise (same tenants, same rows)."""

    def factory(**overrides: Any) -> Flask:
        return create_app({**base_config(database_url, instance_dir), **overrides})

    return factory


def _refusal(response: Any) -> tuple[int, dict[str, Any], str | None]:
    return response.status_code, api_error(response), response.headers.get("WWW-Authenticate")


# --- on, off, right, wrong -----------------------------------------------------------------------


def test_the_key_acts_in_the_named_tenant_only(client, tenant, other_tenant, make_tag) -> None:
    make_tag(tenant, "ours")
    make_tag(other_tenant, "theirs")
    response = client.get(TAGS, headers=master(tenant))
    assert response.status_code == 200, response.get_json()
    assert [tag["name"] for tag in response.get_json()["tags"]] == ["ours"]
    assert response.headers["X-Tenant-ID"] == str(tenant)
    assert response.headers["X-Correlation-ID"]


def test_it_writes_with_a_permission_of_its_set(client, tenant, tag_names) -> None:
    response = client.post(TAGS, json={"tag": {"name": "incident"}}, headers=master(tenant))
    assert response.status_code == 201, response.get_json()
    assert tag_names(tenant) == ["incident"]


@pytest.mark.config(BREAK_GLASS_PERMISSIONS="tags.view")
def test_a_permission_outside_its_set_is_403(client, tenant, tag_names) -> None:
    assert client.get(TAGS, headers=master(tenant)).status_code == 200
    response = client.post(TAGS, json={"tag": {"name": "incident"}}, headers=master(tenant))
    assert response.status_code == 403
    assert api_error(response)["error"] == "forbidden"
    assert tag_names(tenant) == []


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({}, id="not-configured"),
        pytest.param({**ENABLED, "BREAK_GLASS_ENABLED": False}, id="flag-off"),
        pytest.param({**ENABLED, "BREAK_GLASS_EXPIRES_AT": ""}, id="no-expiry"),
        pytest.param({**ENABLED, "BREAK_GLASS_EXPIRES_AT": expiry(seconds=-1)}, id="expired"),
    ],
)
def test_off_the_right_key_gets_the_same_401_as_a_wrong_one(app, make_app, tenant, config) -> None:
    """Off by default; with the flag off, no expiry or a past one it stays off (fail closed),
    and the answer is the wrong key's: nothing says which."""
    wrong = _refusal(app.test_client().get(TAGS, headers=master(tenant, key="w" * 50)))
    assert wrong[0] == 401
    assert wrong[1] == GENERIC_401
    off = make_app(**config).test_client()
    assert _refusal(off.get(TAGS, headers=master(tenant))) == wrong
    assert events(app, "break_glass.used") == []


@pytest.mark.parametrize(
    "key",
    [
        "",
        "   ",
        MASTER_KEY[:-1],
        MASTER_KEY + "x",
        MASTER_KEY.upper(),
        "w" * len(MASTER_KEY),
    ],
)
def test_a_wrong_or_empty_key_is_the_generic_401(client, tenant, key) -> None:
    response = client.get(TAGS, headers=master(tenant, key=key))
    assert response.status_code == 401
    assert api_error(response) == GENERIC_401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "X-Tenant-ID" not in response.headers


# --- T9: the first credential present decides ---------------------------------------------------


@pytest.mark.parametrize("key", ["", "w" * 50])
def test_a_bad_master_key_never_falls_through_to_a_valid_token_or_api_key(
    client, tenant, owner: UserInfo, make_key, key
) -> None:
    token = mobile_login(client, owner.email)["access_token"]
    personal = make_key(owner)
    assert client.get(TAGS, headers=bearer(token)).status_code == 200
    assert client.get(TAGS, headers=api_key(personal)).status_code == 200
    headers = {**master(tenant, key=key), **bearer(token), **api_key(personal)}
    response = client.get(TAGS, headers=headers)
    assert response.status_code == 401
    assert api_error(response) == GENERIC_401


def test_a_master_key_while_off_never_falls_through_either(
    make_app, tenant, owner: UserInfo, make_key
) -> None:
    off = make_app().test_client()
    personal = make_key(owner)
    response = off.get(TAGS, headers={**master(tenant), **api_key(personal)})
    assert response.status_code == 401


# --- the reason (production) ---------------------------------------------------------------------


@pytest.mark.config(APP_ENV="production")
@pytest.mark.parametrize("reason", [None, "", "   ", "\x01\x02\x7f", "\u200b\u202e"])
def test_production_requires_a_reason(client, tenant, reason) -> None:
    response = client.get(TAGS, headers=master(tenant, reason=reason))
    assert response.status_code == 400
    assert api_error(response) == {
        "error": "break_glass_reason_required",
        "message": "X-Break-Glass-Reason is required with X-Master-Key",
    }
    assert events(client.application, "break_glass.used") == []


@pytest.mark.config(APP_ENV="production")
def test_production_with_a_reason_is_let_through(client, tenant) -> None:
    assert client.get(TAGS, headers=master(tenant)).status_code == 200


@pytest.mark.config(APP_ENV="production")
def test_production_checks_the_key_before_the_reason(client, tenant) -> None:
    """Without the key nobody learns that a reason is required."""
    response = client.get(TAGS, headers=master(tenant, key="w" * 50, reason=None))
    assert response.status_code == 401


def test_outside_production_the_reason_is_optional(client, tenant) -> None:
    assert client.get(TAGS, headers=master(tenant, reason=None)).status_code == 200


# --- the tenant (C16) ----------------------------------------------------------------------------


def test_a_tenant_is_required(client) -> None:
    response = client.get(TAGS, headers=master(None))
    assert response.status_code == 400
    assert api_error(response)["error"] == "tenant_required"
    response = client.get(TAGS, headers=master("  "))
    assert response.status_code == 400
    assert api_error(response)["error"] == "tenant_required"


def test_the_tenant_must_exist_be_active_and_live_in_this_region(
    client: FlaskClient, make_family
) -> None:
    for named in (
        "acme",
        str(uuid.uuid4()),
        make_family("Closed", active=False),
        make_family("Abroad", region="eu"),
    ):
        response = client.get(TAGS, headers=master(named))
        assert response.status_code == 403, named
        assert api_error(response) == {
            "error": "tenant_forbidden",
            "message": "You may not act in this tenant",
        }
        assert "X-Tenant-ID" not in response.headers


def test_the_allowlist_admits_only_its_tenants(make_app, tenant, other_tenant) -> None:
    allowlisted = make_app(**ENABLED, BREAK_GLASS_TENANTS=f"{uuid.uuid4()}, {tenant}")
    api = allowlisted.test_client()
    assert api.get(TAGS, headers=master(tenant)).status_code == 200
    response = api.get(TAGS, headers=master(other_tenant))
    assert response.status_code == 403
    assert api_error(response)["error"] == "tenant_forbidden"


def test_two_tenant_headers_are_refused(client, tenant, other_tenant, make_tag) -> None:
    """One tenant per request: naming two is refused, not resolved to either."""
    make_tag(other_tenant, "theirs")
    headers = [
        ("X-Master-Key", MASTER_KEY),
        ("X-Tenant-ID", str(tenant)),
        ("X-Tenant-ID", str(other_tenant)),
    ]
    response = client.get(TAGS, headers=headers)
    assert response.status_code == 403
    assert api_error(response)["error"] == "tenant_forbidden"
    assert "theirs" not in response.get_data(as_text=True)


# --- the rate limits (C23) -----------------------------------------------------------------------


def _from(ip: str) -> dict[str, Any]:
    return {"environ_base": {"REMOTE_ADDR": ip}}


@pytest.mark.config(
    BREAK_GLASS_RATE_LIMIT="100 per 1 hour", BREAK_GLASS_RATE_LIMIT_IP="2 per 1 hour"
)
def test_the_per_ip_limit(client, tenant) -> None:
    # Wrong keys do not spend the budget (the gate's failure throttle counts those).
    for _ in range(3):
        assert client.get(TAGS, headers=master(tenant, key="w" * 50)).status_code == 401
    statuses = [
        client.get(TAGS, headers=master(tenant), **_from("10.0.0.1")).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    refused = client.get(TAGS, headers=master(tenant), **_from("10.0.0.1"))
    assert refused.status_code == 429
    assert api_error(refused)["error"] == "rate_limit_exceeded"
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert client.get(TAGS, headers=master(tenant), **_from("10.0.0.2")).status_code == 200


@pytest.mark.config(
    BREAK_GLASS_RATE_LIMIT="3 per 1 hour", BREAK_GLASS_RATE_LIMIT_IP="100 per 1 hour"
)
def test_the_deployment_wide_limit(client, tenant) -> None:
    statuses = [
        client.get(TAGS, headers=master(tenant), **_from(f"10.0.1.{i}")).status_code
        for i in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]


@pytest.mark.config(
    RATE_LIMIT_ENABLED=False,
    SELF_HOSTED=True,
    BREAK_GLASS_RATE_LIMIT="1 per 1 hour",
    BREAK_GLASS_RATE_LIMIT_IP="100 per 1 hour",
)
def test_no_switch_turns_the_break_glass_limits_off(client, tenant) -> None:
    assert client.get(TAGS, headers=master(tenant)).status_code == 200
    assert client.get(TAGS, headers=master(tenant)).status_code == 429


# --- never a user, never the account holder ------------------------------------------------------


@pytest.mark.config(BREAK_GLASS_PERMISSIONS="tags.view,account.delete_self,family.reset")
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/mfa"),
        ("DELETE", "/api/v1/users/me"),
        ("DELETE", "/api/v1/users/reset"),
        ("GET", "/api/v1/users/reset/status"),
    ],
)
def test_routes_that_need_a_user_refuse_it(client, tenant, method, path) -> None:
    response = client.open(path, method=method, headers=master(tenant))
    assert response.status_code == 403, response.get_json()


def test_it_is_audited_with_its_reason_even_utf8(client, tenant) -> None:
    """HTTP headers travel as bytes: a UTF-8 reason comes back as the text that was sent."""
    sent = "Störung im Rechenzentrum, Zugang wiederherstellen"
    response = client.get(
        TAGS,
        headers=master(tenant, reason=None),
        environ_overrides={"HTTP_X_BREAK_GLASS_REASON": sent.encode().decode("latin-1")},
    )
    assert response.status_code == 200
    [used] = events(client.application, "break_glass.used")
    assert used.details["reason"] == sent


@pytest.mark.config(BREAK_GLASS_PERMISSIONS=DefaultConfig.BREAK_GLASS_PERMISSIONS)
@pytest.mark.config(APP_ENV="production")
def test_the_default_set_reads_redclouds_scans_and_dashboard_but_never_runs_one(
    client, tenant
) -> None:
    """The seed's own example, at the root and under /api/v1, with the default set
    (audit.view, admin.users, scans.view, dashboard.view): reads pass; running a scan needs
    scans.run, which break-glass does not hold."""
    for path in ("/scans", "/api/v1/scans", "/dashboard"):
        response = client.get(path, headers=master(tenant))
        assert response.status_code == 200, (path, response.get_json())
        assert response.headers["X-Tenant-ID"] == str(tenant)
    refused = client.post("/scans", json={"target": "prod"}, headers=master(tenant))
    assert refused.status_code == 403
    assert client.get("/scans", headers=master(tenant)).get_json()["scans"] == []
