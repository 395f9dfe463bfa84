"""Sure's SSO exchanges are in the OpenAPI document (tests/test_openapi.py checks the whole
document; this names ours): path, method, request body, Sure's tag."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("path", "schema", "required"),
    [
        ("/api/v1/auth/sso_exchange", "SsoExchangeIn", ["code"]),
        ("/api/v1/auth/sso_link", "SsoLinkIn", ["email", "linking_code", "password"]),
        ("/api/v1/auth/sso_create_account", "SsoCreateAccountIn", ["linking_code"]),
    ],
)
def test_the_sso_exchanges_are_documented(client, path, schema, required):
    document = client.get("/api/v1/openapi.json").get_json()

    operation = document["paths"][path]["post"]

    assert operation["tags"] == ["auth"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": f"#/components/schemas/{schema}"
    }
    assert sorted(document["components"]["schemas"][schema]["required"]) == required
    assert {"200", "400", "401", "403", "422"} <= set(operation["responses"])


def test_the_browser_routes_are_not_api_operations(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert not [path for path in document["paths"] if "mobile" in path or "desktop" in path]
