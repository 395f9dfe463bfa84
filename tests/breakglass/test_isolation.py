"""Break-glass never bypasses tenant isolation, is never a super-admin and never mints a
credential (003.26, 003.40, C16, §3.6, T7). Every platform route and every credential-minting
route the application serves is called with the master key, over HTTP, holding the widest
set break-glass may ever be given."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from flask import Flask

from tests.breakglass.helpers import ENABLED, STATUS, TAGS, TENANTS, WIDEST_SET, master
from tests.support.http import api_error

pytestmark = pytest.mark.config(
    **{
        **ENABLED,
        "BREAK_GLASS_PERMISSIONS": WIDEST_SET,
        "BREAK_GLASS_RATE_LIMIT": "1000 per 1 hour",
        "BREAK_GLASS_RATE_LIMIT_IP": "1000 per 1 hour",
    }
)

# Credential-minting routes (§3.6), by family: API keys, access keys, secret keys (and their
# reveal and IP restrictions), OAuth clients, partner SSO secrets.
MINTING = {
    "api keys": re.compile(r"^/api/v1/api_keys(/|$)"),
    "access keys": re.compile(r"^/api/v1/access_keys(/|$)"),
    "secret keys": re.compile(r"secret_key|/ip_restrictions$"),
    "oauth clients": re.compile(r"/(oauth_)?clients(/|$)|/oauth/applications"),
    "partner sso secrets": re.compile(r"^(/api/v1)?/organizations(/<[^>]+>/sso_secret/rotate)?$"),
}
# Every family that exists today must be found, so the sweep cannot pass by finding nothing.
MUST_EXIST = ("api keys", "access keys", "secret keys")


def _gated_routes(app: Flask, wanted: Any) -> list[tuple[str, str, str]]:
    """(method, concrete path, rule) of every gate-protected route whose rule ``wanted``."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if not hasattr(view, "required_credentials") or not wanted(rule.rule):
            continue
        path = re.sub(r"<(?:[^:>]+:)?[^>]+>", str(uuid.uuid4()), rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, path, rule.rule))
    return found


def _refusals(app: Flask, tenant: uuid.UUID, routes: list[tuple[str, str, str]]) -> list[str]:
    """Every route that did not answer 403, as ``METHOD rule -> status``."""
    client = app.test_client()
    wrong = []
    for method, path, rule in routes:
        response = client.open(path, method=method, json={}, headers=master(tenant))
        if response.status_code != 403:
            wrong.append(f"{method} {rule} -> {response.status_code}")
    return wrong


def test_every_platform_route_refuses_it(app, tenant) -> None:
    routes = _gated_routes(app, lambda rule: rule.startswith("/api/v1/platform/"))
    assert {rule for _, _, rule in routes} >= {STATUS, TENANTS}
    assert _refusals(app, tenant, routes) == []


def test_every_credential_minting_route_refuses_it(app, tenant) -> None:
    by_family = {family: _gated_routes(app, pattern.search) for family, pattern in MINTING.items()}
    # Partners' organisation listing reads; creating one or rotating its secret mints.
    by_family["partner sso secrets"] = [
        route for route in by_family["partner sso secrets"] if route[0] == "POST"
    ]
    for family in MUST_EXIST:
        assert by_family[family], f"no {family} route found: the sweep would prove nothing"
    routes = [route for family_routes in by_family.values() for route in family_routes]
    assert _refusals(app, tenant, routes) == []


@pytest.mark.parametrize("path", [STATUS, TENANTS])
def test_it_is_never_a_super_admin(client, tenant, path) -> None:
    response = client.get(path, headers=master(tenant))
    assert response.status_code == 403
    assert api_error(response)["error"] == "forbidden"
    assert "tenants" not in (response.get_json() or {})


def test_another_tenants_objects_do_not_exist_for_it(
    client, tenant, other_tenant, make_tag, tag_names
) -> None:
    theirs = make_tag(other_tenant, "theirs")
    ours = make_tag(tenant, "ours")
    assert client.get(f"{TAGS}/{ours}", headers=master(tenant)).status_code == 200
    for method, body in (("GET", None), ("PATCH", {"tag": {"name": "mine now"}}), ("DELETE", None)):
        response = client.open(f"{TAGS}/{theirs}", method=method, json=body, headers=master(tenant))
        assert response.status_code == 404, (method, response.get_json())
    assert tag_names(other_tenant) == ["theirs"]
    listed = client.get(TAGS, headers=master(tenant)).get_json()["tags"]
    assert [tag["name"] for tag in listed] == ["ours"]


def test_what_it_writes_lands_in_its_tenant_only(client, tenant, other_tenant, tag_names) -> None:
    response = client.post(TAGS, json={"tag": {"name": "incident"}}, headers=master(tenant))
    assert response.status_code == 201
    assert tag_names(tenant) == ["incident"]
    assert tag_names(other_tenant) == []
