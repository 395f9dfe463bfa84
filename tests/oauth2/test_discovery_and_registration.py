"""Discovery (RFC 8414, RFC 9728) and dynamic client registration (RFC 7591, Sure's rules:
contract §2.8 and the nine registration tests of §7.9)."""

from __future__ import annotations

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from sqlalchemy import select

from tests.support.factories import ClientInfo
from tests.support.oauth import authorize, exchange_code, query_of, refresh
from tests.support.web import login

ISSUER = "https://auth.tollgate.test"
SUPPORTED_GRANTS = {"authorization_code", "refresh_token", "password", "client_credentials"}
ENDPOINTS = {
    "authorization_endpoint": ("/oauth/authorize", "GET"),
    "token_endpoint": ("/oauth/token", "POST"),
    "revocation_endpoint": ("/oauth/revoke", "POST"),
    "introspection_endpoint": ("/oauth/introspect", "POST"),
    "registration_endpoint": ("/register", "POST"),
}


def _metadata(client, **kwargs):  # type: ignore[no-untyped-def]
    response = client.get("/.well-known/oauth-authorization-server", **kwargs)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


# --- authorization server metadata -------------------------------------------------------------


def test_authorization_server_metadata(client):
    data = _metadata(client)
    assert data["issuer"] == ISSUER
    for key, (path, _method) in ENDPOINTS.items():
        assert data[key] == ISSUER + path, key
    assert data["response_types_supported"] == ["code"]
    assert "token" not in data["response_types_supported"]
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert "plain" not in data["code_challenge_methods_supported"]
    assert set(data["grant_types_supported"]) == SUPPORTED_GRANTS
    assert len(data["grant_types_supported"]) == len(SUPPORTED_GRANTS)
    assert "implicit" not in data["grant_types_supported"]
    assert data["authorization_response_iss_parameter_supported"] is True
    assert data["scopes_supported"] == ["read", "read_write", "openid", "profile", "email"]
    assert data["response_modes_supported"] == ["query"]
    assert "none" in data["token_endpoint_auth_methods_supported"]
    assert "none" not in data["introspection_endpoint_auth_methods_supported"]
    AuthorizationServerMetadata(data).validate()


def test_metadata_endpoints_are_routed(app, client):
    """Every URL the metadata advertises is a real route for the method it is used with."""
    data = _metadata(client)
    adapter = app.url_map.bind("auth.tollgate.test", url_scheme="https")
    for key, (path, method) in ENDPOINTS.items():
        assert data[key].removeprefix(ISSUER) == path
        endpoint, _ = adapter.match(path, method=method)
        assert endpoint.startswith("oauth2."), (key, endpoint)


def test_advertised_grant_types_are_the_ones_the_token_endpoint_knows(client, make_client):
    """Everything in grant_types_supported reaches a grant; anything else is
    unsupported_grant_type."""
    oauth = make_client(grant_types=["client_credentials"], redirect_uris=[])
    for grant_type in _metadata(client)["grant_types_supported"]:
        response = client.post(
            "/oauth/token", data={"grant_type": grant_type}, headers=oauth.basic_auth
        )
        assert response.get_json().get("error") != "unsupported_grant_type", grant_type
    for grant_type in (
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ):
        response = client.post(
            "/oauth/token", data={"grant_type": grant_type}, headers=oauth.basic_auth
        )
        assert response.status_code == 400
        assert response.get_json()["error"] == "unsupported_grant_type", grant_type


def test_token_response_type_is_refused(signed_in, oauth_client):
    response = signed_in.get(
        "/oauth/authorize",
        query_string={
            "response_type": "token",
            "client_id": oauth_client.client_id,
            "redirect_uri": oauth_client.redirect_uri,
            "scope": "read",
            "state": "s1",
        },
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(oauth_client.redirect_uri + "?")
    params = query_of(location)
    assert params["error"] == "unsupported_response_type"
    assert params["state"] == "s1"
    assert params["iss"] == ISSUER
    assert "access_token" not in location and "#" not in location


def test_metadata_is_served_under_api_v1_too(client):
    response = client.get("/api/v1/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response.get_json()["issuer"] == ISSUER


@pytest.mark.config(APP_URL="")
def test_issuer_comes_from_the_request_without_app_url(client):
    data = _metadata(client, base_url="https://login.example.org")
    assert data["issuer"] == "https://login.example.org"
    assert data["token_endpoint"] == "https://login.example.org/oauth/token"
    AuthorizationServerMetadata(data).validate()
    resource = client.get(
        "/.well-known/oauth-protected-resource", base_url="https://login.example.org"
    ).get_json()
    assert resource["resource"] == "https://login.example.org"
    assert resource["authorization_servers"] == ["https://login.example.org"]


@pytest.mark.config(APP_URL="")
def test_forwarded_host_is_not_trusted_without_proxy_config(client):
    data = _metadata(
        client,
        base_url="https://login.example.org",
        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
    )
    assert data["issuer"] == "https://login.example.org"


@pytest.mark.config(APP_URL="https://auth.tollgate.test/")
def test_trailing_slash_of_app_url_is_dropped(client):
    assert _metadata(client)["issuer"] == ISSUER


def test_protected_resource_metadata(client):
    response = client.get("/.well-known/oauth-protected-resource")
    assert response.status_code == 200
    data = response.get_json()
    assert data["resource"] == ISSUER
    assert data["authorization_servers"] == [ISSUER]
    assert data["bearer_methods_supported"] == ["header"]
    assert data["scopes_supported"] == ["read", "read_write"]


# --- dynamic client registration: Sure's nine tests ------------------------------------------


def _register(client, body=None, *, raw: str | None = None, **kwargs):  # type: ignore[no-untyped-def]
    if raw is not None:
        return client.post("/register", data=raw, content_type="application/json", **kwargs)
    return client.post("/register", json=body, **kwargs)


def _assert_metadata_error(
    response,
    description: str,  # type: ignore[no-untyped-def]
    error: str = "invalid_client_metadata",
) -> None:
    assert response.status_code == 400, response.get_json()
    assert response.get_json() == {"error": error, "error_description": description}
    assert response.headers["Cache-Control"] == "no-store"


def test_register_public_client(app, client):
    response = _register(
        client,
        {"client_name": "Claude", "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"]},
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["client_id"]
    assert body["client_name"] == "Claude"
    assert body["redirect_uris"] == ["https://claude.ai/api/mcp/auth_callback"]
    assert "authorization_code" in body["grant_types"]
    assert body["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in body
    assert body["scope"] == "read_write"
    assert response.headers["Cache-Control"] == "no-store"

    from app.extensions import db
    from app.models import OAuthClient

    with app.app_context():
        row = db.session.scalar(
            select(OAuthClient).where(OAuthClient.client_id == body["client_id"])
        )
        assert row is not None
        assert row.is_public and row.client_secret_digest is None
        assert row.scope == "read_write"
        assert row.dynamically_registered is True
        assert row.first_party is False
        assert "password" not in row.grant_types
        assert "client_credentials" not in row.grant_types


def test_register_invalid_json(client):
    _assert_metadata_error(_register(client, raw="{not json"), "Invalid JSON")


@pytest.mark.parametrize("raw", ["[]", '"https://a.example/cb"', "null", "42", ""])
def test_register_non_object_json(client, raw):
    _assert_metadata_error(_register(client, raw=raw), "Invalid JSON")


def test_register_form_body_is_invalid_json(client):
    response = client.post("/register", data={"redirect_uris": "https://a.example/cb"})
    _assert_metadata_error(response, "Invalid JSON")


def test_register_missing_redirect_uris(client):
    _assert_metadata_error(_register(client, {"client_name": "x"}), "redirect_uris is required")


@pytest.mark.parametrize("uris", [[""], ["", "   "], [], "", "   ", None, [42], {"a": 1}])
def test_register_blank_or_malformed_redirect_uris(client, uris):
    _assert_metadata_error(_register(client, {"redirect_uris": uris}), "redirect_uris is required")


def test_register_default_client_name(client):
    response = _register(client, {"redirect_uris": ["https://a.example/cb"]})
    assert response.status_code == 201
    assert response.get_json()["client_name"] == "MCP Client"


def test_register_blank_uris_are_dropped(client):
    response = _register(client, {"redirect_uris": ["", " https://a.example/cb ", "  "]})
    assert response.status_code == 201
    assert response.get_json()["redirect_uris"] == ["https://a.example/cb"]


def test_register_single_string_redirect_uri(client):
    response = _register(client, {"redirect_uris": "https://a.example/cb"})
    assert response.status_code == 201
    assert response.get_json()["redirect_uris"] == ["https://a.example/cb"]


@pytest.mark.parametrize(
    "uri",
    [
        "http://evil.example/cb",
        "myapp://callback",
        "http://localhost.evil.example/cb",
        "http://127.0.0.1.nip.io/cb",
        "ftp://a.example/cb",
    ],
)
def test_register_refuses_non_https_non_loopback(client, uri):
    # RFC 7591 §3.2.2: a redirect URI that is there but not acceptable is
    # invalid_redirect_uri (Sure says invalid_client_metadata for every error).
    _assert_metadata_error(
        _register(client, {"redirect_uris": [uri]}),
        "redirect_uris must use https or loopback http",
        error="invalid_redirect_uri",
    )


@pytest.mark.parametrize(
    "uri",
    [
        "http://localhost:3456/callback",
        "http://[::1]:3456/callback",
        "http://127.0.0.1:3456/callback",
        "http://127.0.0.1/callback",
    ],
)
def test_register_accepts_loopback_http(client, uri):
    response = _register(client, {"redirect_uris": [uri]})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["redirect_uris"] == [uri]


@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "javascript://localhost/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https://a.example/cb#fragment",
        "https://user:pass@a.example/cb",
        "https://*.example/cb",
        "https:///cb",
        "/relative/cb",
    ],
)
def test_register_refuses_dangerous_uris(client, uri):
    response = _register(client, {"redirect_uris": [uri]})
    assert response.status_code == 400, (uri, response.get_json())
    assert response.get_json()["error"] == "invalid_redirect_uri"


def test_register_refuses_when_any_uri_is_bad(client):
    response = _register(
        client, {"redirect_uris": ["https://a.example/cb", "http://evil.example/cb"]}
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_redirect_uri"


def test_register_ignores_requested_secret_auth_and_extra_grants(client):
    """A registrant cannot ask its way to a confidential client or the password grant."""
    response = _register(
        client,
        {
            "redirect_uris": ["https://a.example/cb"],
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["password", "client_credentials"],
            "scope": "admin",
        },
    )
    assert response.status_code == 201
    body = response.get_json()
    assert "client_secret" not in body
    assert body["token_endpoint_auth_method"] == "none"
    assert set(body["grant_types"]) <= {"authorization_code", "refresh_token"}
    assert body["scope"] == "read_write"


def test_register_non_string_client_name(client):
    response = _register(client, {"redirect_uris": ["https://a.example/cb"], "client_name": ["x"]})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_client_metadata"


def test_register_too_long_client_name(client):
    response = _register(
        client, {"redirect_uris": ["https://a.example/cb"], "client_name": "x" * 201}
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_client_metadata"


def test_registered_client_completes_code_flow(client, user):
    registered = _register(
        client, {"client_name": "MCP", "redirect_uris": ["http://127.0.0.1:4567/callback"]}
    )
    assert registered.status_code == 201
    body = registered.get_json()
    oauth = ClientInfo(body["client_id"], None, body["redirect_uris"][0], body["scope"])
    assert login(client, user.email, user.password).status_code == 302

    auth = authorize(client, oauth, scope=None)  # no scope: read_write for such clients
    assert auth.code
    assert query_of(auth.location)["iss"] == ISSUER
    assert query_of(auth.location)["state"] == auth.state
    response = exchange_code(client, oauth, auth)
    assert response.status_code == 200, response.get_json()
    tokens = response.get_json()
    assert tokens["scope"] == "read_write"
    assert tokens["token_type"].lower() == "bearer"
    assert tokens["refresh_token"]

    rotated = refresh(client, oauth, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.get_json()


def test_registered_public_client_needs_pkce(client, user):
    body = _register(client, {"redirect_uris": ["https://a.example/cb"]}).get_json()
    oauth = ClientInfo(body["client_id"], None, "https://a.example/cb", "read_write")
    login(client, user.email, user.password)
    auth = authorize(client, oauth, scope="read_write")
    no_verifier = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": auth.code,
            "redirect_uri": oauth.redirect_uri,
            "client_id": oauth.client_id,
        },
    )
    assert no_verifier.status_code == 400
    assert no_verifier.get_json()["error"] in ("invalid_request", "invalid_grant")
    assert "access_token" not in no_verifier.get_json()
    # Client credentials are not available to it.
    cc = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": oauth.client_id}
    )
    assert cc.status_code in (400, 401)
    assert "access_token" not in cc.get_json()


@pytest.mark.config(RATE_LIMIT_REGISTER_IP="2 per 1 minute")
def test_registration_is_throttled_per_ip(client):
    body = {"redirect_uris": ["https://a.example/cb"]}
    assert _register(client, body).status_code == 201
    assert _register(client, {"redirect_uris": []}).status_code == 400  # failures count too
    third = _register(client, body)
    assert third.status_code == 429
    assert int(third.headers["Retry-After"]) > 0
    assert "client_id" not in (third.get_json() or {})
    spoofed = _register(client, body, headers={"X-Forwarded-For": "203.0.113.5"})
    assert spoofed.status_code == 429
    elsewhere = _register(client, body, environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert elsewhere.status_code == 201
