"""Resource indicators (RFC 8707) and the protected resource metadata that names them
(RFC 9728), black box over HTTP: ``resource`` on the authorization and token requests, the
audience it binds the access token to, introspection's ``aud`` and the gate refusing a token
on a route its audience does not cover."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from tests.support.factories import ClientInfo
from tests.support.oauth import authorize, exchange_code, pkce_pair, refresh
from tests.support.web import csrf_from

BASE = "https://auth.tollgate.test"  # APP_URL in tests/support/config.py
API = f"{BASE}/api/v1"


# --- helpers -----------------------------------------------------------------------------


def tokens_for(
    client: FlaskClient, oauth: ClientInfo, authorized: list[str], **token_extra: Any
) -> dict[str, Any]:
    auth = authorize(client, oauth, scope="read_write", resource=authorized)  # type: ignore[arg-type]
    assert "code" in parse_qs(urlsplit(auth.location).query), auth.location
    response = exchange_code(client, oauth, auth, **token_extra)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def aud(client: FlaskClient, oauth: ClientInfo, token: str) -> Any:
    response = client.post("/oauth/introspect", data={"token": token}, headers=oauth.basic_auth)
    assert response.status_code == 200
    body = response.get_json()
    assert body["active"] is True, body
    return body["aud"]


def me(client: FlaskClient, token: str, path: str = "/api/v1/auth/me") -> Any:
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def assert_invalid_target(response: Any) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == "invalid_target", body
    assert "access_token" not in body
    assert response.headers["Cache-Control"] == "no-store"


def assert_foreign_audience(response: Any) -> None:
    """RFC 6750 §3.1: invalid_token, with the challenge naming the resource metadata."""
    assert response.status_code == 401, response.get_data(as_text=True)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert f'resource_metadata="{BASE}/.well-known/oauth-protected-resource"' in challenge


def authorization_redirect(
    client: FlaskClient, oauth: ClientInfo, resource: list[str]
) -> dict[str, list[str]]:
    _, challenge = pkce_pair()
    params: dict[str, Any] = {
        "response_type": "code",
        "client_id": oauth.client_id,
        "redirect_uri": oauth.redirect_uri,
        "scope": "read",
        "state": "xyz-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": resource,
    }
    response = client.get("/oauth/authorize", query_string=params)
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(str(oauth.redirect_uri))
    return parse_qs(urlsplit(location).query)


# --- authorization + token ---------------------------------------------------------------


def test_a_token_for_the_resource_api_works_there_and_nowhere_else(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    body = tokens_for(signed_in, oauth_client, [API], resource=API)
    assert aud(signed_in, oauth_client, body["access_token"]) == API
    assert me(signed_in, body["access_token"]).status_code == 200
    assert (
        signed_in.get(
            "/api/v1/accounts", headers={"Authorization": f"Bearer {body['access_token']}"}
        ).status_code
        == 200
    )
    # /auth/me is a protected route of this server, but not under /api/v1.
    assert_foreign_audience(me(signed_in, body["access_token"], "/auth/me"))


def test_the_consent_page_carries_every_resource_to_the_decision(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    _, challenge = pkce_pair()
    page = signed_in.get(
        "/oauth/authorize",
        query_string={
            "response_type": "code",
            "client_id": oauth_client.client_id,
            "redirect_uri": oauth_client.redirect_uri,
            "scope": "read",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": [BASE, API],
        },
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'<input type="hidden" name="resource" value="{BASE}">' in html
    assert f'<input type="hidden" name="resource" value="{API}">' in html
    assert csrf_from(html)


def test_without_resource_at_the_token_endpoint_the_token_gets_everything_authorized(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    body = tokens_for(signed_in, oauth_client, [BASE, API])
    assert aud(signed_in, oauth_client, body["access_token"]) == [BASE, API]
    assert me(signed_in, body["access_token"], "/auth/me").status_code == 200
    assert me(signed_in, body["access_token"]).status_code == 200


def test_the_token_request_may_narrow_to_one_authorized_resource(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    body = tokens_for(signed_in, oauth_client, [BASE, API], resource=API)
    assert aud(signed_in, oauth_client, body["access_token"]) == API
    assert_foreign_audience(me(signed_in, body["access_token"], "/auth/me"))


def test_the_token_request_may_repeat_resource(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    body = tokens_for(signed_in, oauth_client, [BASE, API], resource=[API, BASE])
    assert aud(signed_in, oauth_client, body["access_token"]) == [API, BASE]


def test_a_resource_outside_the_authorization_is_invalid_target_and_spares_the_code(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    auth = authorize(signed_in, oauth_client, scope="read", resource=API)
    assert_invalid_target(exchange_code(signed_in, oauth_client, auth, resource=BASE))
    # Refused before the code was claimed: the right request still redeems it.
    response = exchange_code(signed_in, oauth_client, auth, resource=API)
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(
    "resource",
    [
        "https://elsewhere.example/api",  # not a resource of this server
        f"{BASE}/api/v2",  # a path this server does not name as a resource
        "/api/v1",  # not absolute
        f"{API}#frag",  # a fragment (RFC 8707 §2)
        "urn:example:thing",  # not a URL this server protects
        "",
    ],
)
def test_an_unknown_resource_at_the_token_endpoint_is_invalid_target(
    signed_in: FlaskClient, oauth_client: ClientInfo, resource: str
) -> None:
    auth = authorize(signed_in, oauth_client, scope="read")
    assert_invalid_target(exchange_code(signed_in, oauth_client, auth, resource=resource))


def test_an_unknown_resource_at_the_authorization_endpoint_is_redirected_with_state_and_iss(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    query = authorization_redirect(signed_in, oauth_client, [API, "https://elsewhere.example/"])
    assert query["error"] == ["invalid_target"]
    assert query["state"] == ["xyz-state"]
    assert query["iss"] == [BASE]
    assert "code" not in query


def test_a_fragment_at_the_authorization_endpoint_is_invalid_target(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    query = authorization_redirect(signed_in, oauth_client, [f"{BASE}/#top"])
    assert query["error"] == ["invalid_target"]


def test_identifiers_compare_in_canonical_spelling(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    # What an MCP client sends after reading "resource" through pydantic: a trailing slash.
    body = tokens_for(signed_in, oauth_client, ["HTTPS://Auth.Tollgate.Test/"], resource=f"{BASE}/")
    assert aud(signed_in, oauth_client, body["access_token"]) == BASE


def test_a_token_without_resource_keeps_working_everywhere(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    assert aud(signed_in, oauth_client, tokens["access_token"]) == BASE
    assert me(signed_in, tokens["access_token"], "/auth/me").status_code == 200
    assert me(signed_in, tokens["access_token"]).status_code == 200


def test_an_unrestricted_grant_allows_any_resource_at_the_token_endpoint(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    auth = authorize(signed_in, oauth_client, scope="read")
    response = exchange_code(signed_in, oauth_client, auth, resource=API)
    assert response.status_code == 200
    assert aud(signed_in, oauth_client, response.get_json()["access_token"]) == API


# --- refresh -----------------------------------------------------------------------------


def test_refresh_narrows_and_a_later_refresh_gets_the_whole_grant_back(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    first = tokens_for(signed_in, oauth_client, [BASE, API])
    narrowed = refresh(signed_in, oauth_client, first["refresh_token"], resource=API)
    assert narrowed.status_code == 200, narrowed.get_json()
    narrowed_body = narrowed.get_json()
    assert aud(signed_in, oauth_client, narrowed_body["access_token"]) == API
    assert_foreign_audience(me(signed_in, narrowed_body["access_token"], "/auth/me"))
    # The refresh token keeps the authorization's resources (introspection says so) ...
    assert aud(signed_in, oauth_client, narrowed_body["refresh_token"]) == [BASE, API]
    # ... so the next refresh without resource covers all of them again.
    again = refresh(signed_in, oauth_client, narrowed_body["refresh_token"])
    assert again.status_code == 200, again.get_json()
    assert aud(signed_in, oauth_client, again.get_json()["access_token"]) == [BASE, API]


def test_refresh_cannot_widen_and_the_refused_request_spares_the_refresh_token(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    first = tokens_for(signed_in, oauth_client, [API])
    assert_invalid_target(refresh(signed_in, oauth_client, first["refresh_token"], resource=BASE))
    assert_invalid_target(
        refresh(signed_in, oauth_client, first["refresh_token"], resource="https://x.example/")
    )
    response = refresh(signed_in, oauth_client, first["refresh_token"])
    assert response.status_code == 200, response.get_json()
    assert aud(signed_in, oauth_client, response.get_json()["access_token"]) == API


# --- other grants ------------------------------------------------------------------------


def test_the_password_grant_binds_the_audience_too(
    client: FlaskClient, make_client: Any, user: Any
) -> None:
    app_client = make_client(grant_types=["password", "refresh_token"], first_party=True)
    data = {
        "grant_type": "password",
        "username": user.email,
        "password": user.password,
        "scope": "read",
        "resource": API,
    }
    response = client.post("/oauth/token", data=data, headers=app_client.basic_auth)
    assert response.status_code == 200, response.get_json()
    token = response.get_json()["access_token"]
    assert aud(client, app_client, token) == API
    assert_foreign_audience(me(client, token, "/auth/me"))
    data["resource"] = "https://elsewhere.example/"
    assert_invalid_target(client.post("/oauth/token", data=data, headers=app_client.basic_auth))


# --- another host --------------------------------------------------------------------------


@pytest.mark.config(APP_URL="")
def test_a_token_for_this_host_is_refused_on_another_host(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    # Without APP_URL the server is whatever host it is reached at: a token minted for
    # http://localhost (the test client's host) is not for http://api.other.example.
    auth = authorize(signed_in, oauth_client, scope="read", resource="http://localhost/api/v1")
    response = exchange_code(signed_in, oauth_client, auth)
    assert response.status_code == 200, response.get_json()
    token = response.get_json()["access_token"]
    assert me(signed_in, token).status_code == 200
    refused = signed_in.get(
        "/api/v1/auth/me",
        headers={"Authorization": f"Bearer {token}"},
        base_url="http://api.other.example",
    )
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]


# --- RFC 9728 metadata -------------------------------------------------------------------


def test_the_root_metadata_names_the_whole_server(client: FlaskClient) -> None:
    body = client.get("/.well-known/oauth-protected-resource").get_json()
    assert body["resource"] == BASE
    assert body["authorization_servers"] == [BASE]
    assert body["bearer_methods_supported"] == ["header"]


def test_the_resource_api_has_path_suffixed_metadata(client: FlaskClient) -> None:
    response = client.get("/.well-known/oauth-protected-resource/api/v1")
    assert response.status_code == 200
    body = response.get_json()
    # RFC 9728 §3.3: the resource must be the one whose metadata URL this is.
    assert body["resource"] == API
    assert body["authorization_servers"] == [BASE]


def test_no_metadata_for_a_path_that_is_not_a_resource(client: FlaskClient) -> None:
    assert client.get("/.well-known/oauth-protected-resource/api/v2").status_code == 404
    assert client.get("/.well-known/oauth-protected-resource/api").status_code == 404


def test_every_metadata_resource_is_accepted_at_the_authorization_endpoint(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    resources = [
        signed_in.get(path).get_json()["resource"]
        for path in (
            "/.well-known/oauth-protected-resource",
            "/.well-known/oauth-protected-resource/api/v1",
        )
    ]
    body = tokens_for(signed_in, oauth_client, resources)
    assert aud(signed_in, oauth_client, body["access_token"]) == resources


def test_the_client_credentials_grant_checks_resource_too(
    client: FlaskClient, make_client: Any
) -> None:
    service = make_client(grant_types=["client_credentials"], redirect_uris=[])
    data = {"grant_type": "client_credentials", "scope": "read", "resource": API}
    response = client.post("/oauth/token", data=data, headers=service.basic_auth)
    assert response.status_code == 200, response.get_json()
    assert aud(client, service, response.get_json()["access_token"]) == API
    data["resource"] = f"{BASE}/api/v2"
    assert_invalid_target(client.post("/oauth/token", data=data, headers=service.basic_auth))


def test_a_dynamically_registered_client_gets_the_error_page_not_a_redirect(
    signed_in: FlaskClient,
) -> None:
    # Anyone can register one with any https URI: its errors are never redirected
    # (RFC 9700 §4.11.2), an unknown resource included.
    registered = signed_in.post(
        "/register", json={"redirect_uris": ["https://mcp.example/cb"], "client_name": "MCP"}
    ).get_json()
    _, challenge = pkce_pair()
    response = signed_in.get(
        "/oauth/authorize",
        query_string={
            "response_type": "code",
            "client_id": registered["client_id"],
            "redirect_uri": "https://mcp.example/cb",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": "https://elsewhere.example/",
        },
    )
    assert response.status_code == 400
    assert "invalid_target" in response.get_data(as_text=True)
    assert "Location" not in response.headers


@pytest.mark.config(OAUTH2_RESOURCE_PATHS=[])
def test_without_resource_paths_the_server_is_the_only_resource(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    assert signed_in.get("/.well-known/oauth-protected-resource/api/v1").status_code == 404
    auth = authorize(signed_in, oauth_client, scope="read")
    assert_invalid_target(exchange_code(signed_in, oauth_client, auth, resource=API))
    response = exchange_code(signed_in, oauth_client, auth, resource=BASE)
    assert response.status_code == 200, response.get_json()
