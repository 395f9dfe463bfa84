"""/.well-known/openid-configuration, complete and truthful; registration metadata and the
clients CLI for id_token_signed_response_alg and post_logout_redirect_uris."""

from __future__ import annotations

import json

from tests.support.oidc import ISSUER


def test_openid_configuration(client):
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    data = response.get_json()
    assert data["issuer"] == ISSUER
    endpoints = {
        "authorization_endpoint": "/oauth/authorize",
        "token_endpoint": "/oauth/token",
        "userinfo_endpoint": "/oauth/userinfo",
        "jwks_uri": "/.well-known/jwks.json",
        "end_session_endpoint": "/oauth/end_session",
        "revocation_endpoint": "/oauth/revoke",
        "introspection_endpoint": "/oauth/introspect",
        "registration_endpoint": "/register",
    }
    for key, path in endpoints.items():
        assert data[key] == ISSUER + path, key
        # Every advertised endpoint exists (anything but 404/405 for its method).
        method = "GET" if key in ("authorization_endpoint", "jwks_uri") else "POST"
        assert client.open(path, method=method).status_code not in (404, 405), key
    assert data["response_types_supported"] == ["code"]
    assert data["subject_types_supported"] == ["public"]
    assert data["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert {"openid", "profile", "email"} <= set(data["scopes_supported"])
    assert data["prompt_values_supported"] == ["none", "login", "consent"]
    assert set(data["grant_types_supported"]) >= {"authorization_code", "refresh_token"}
    assert "none" in data["token_endpoint_auth_methods_supported"]
    assert {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "amr"} <= set(
        data["claims_supported"]
    )
    assert {"email", "name", "given_name", "family_name"} <= set(data["claims_supported"])
    # The JWKS holds a key for every advertised algorithm.
    keys = client.get("/.well-known/jwks.json").get_json()["keys"]
    assert {key["alg"] for key in keys} == set(data["id_token_signing_alg_values_supported"])


def test_served_under_api_v1_too(client):
    for path in ("/.well-known/openid-configuration", "/.well-known/jwks.json"):
        assert client.get("/api/v1" + path).status_code == 200


def test_protected_resource_metadata_lists_resource_scopes_only(client):
    data = client.get("/.well-known/oauth-protected-resource").get_json()
    assert data["scopes_supported"] == ["read", "read_write"]


def test_registration_metadata(client):
    response = client.post(
        "/register",
        json={
            "redirect_uris": ["https://rp.example/cb"],
            "scope": "openid profile email admin",
            "post_logout_redirect_uris": ["https://rp.example/bye"],
            "id_token_signed_response_alg": "ES256",
        },
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["scope"] == "read_write openid profile email"  # admin ignored, as before
    assert body["post_logout_redirect_uris"] == ["https://rp.example/bye"]
    assert body["id_token_signed_response_alg"] == "ES256"
    default = client.post("/register", json={"redirect_uris": ["https://rp.example/cb"]})
    assert default.get_json()["id_token_signed_response_alg"] == "RS256"
    assert default.get_json()["scope"] == "read_write"


def test_registration_refuses_bad_openid_metadata(client):
    for body in (
        {"id_token_signed_response_alg": "HS256"},
        {"id_token_signed_response_alg": "none"},
        {"post_logout_redirect_uris": ["http://rp.example/bye"]},  # dynamic: https only
        {"post_logout_redirect_uris": "https://rp.example/bye"},
    ):
        response = client.post(
            "/register", json={"redirect_uris": ["https://rp.example/cb"], **body}
        )
        assert response.status_code == 400, body
        assert response.get_json()["error"] == "invalid_client_metadata"


def test_clients_cli_takes_the_openid_metadata(app):
    result = app.test_cli_runner().invoke(
        args=[
            "clients",
            "create",
            "--name",
            "RP",
            "--redirect-uri",
            "https://rp.example/cb",
            "--scope",
            "openid profile",
            "--post-logout-redirect-uri",
            "https://rp.example/bye",
            "--id-token-signed-response-alg",
            "ES256",
        ]
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["post_logout_redirect_uris"] == ["https://rp.example/bye"]
    assert created["id_token_signed_response_alg"] == "ES256"
    listed = json.loads(app.test_cli_runner().invoke(args=["clients", "list"]).output)
    entry = next(c for c in listed["clients"] if c["client_id"] == created["client_id"])
    assert entry["post_logout_redirect_uris"] == ["https://rp.example/bye"]
    refused = app.test_cli_runner().invoke(
        args=[
            "clients",
            "create",
            "--name",
            "RP",
            "--redirect-uri",
            "https://rp.example/cb",
            "--id-token-signed-response-alg",
            "HS256",
        ]
    )
    assert refused.exit_code != 0
