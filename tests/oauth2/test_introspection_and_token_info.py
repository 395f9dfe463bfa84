"""Introspection (RFC 7662) and Doorkeeper's token info, black box over HTTP (security
checklist items 65, 66, 68-70, 73, 79-82; Sure contract §3.8).

The database is only touched to move a token's expiry into the past (no sleeping).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.support.factories import ClientInfo, UserInfo
from tests.support.oauth import authorize, exchange_code, introspect, refresh

ISSUER = "https://auth.tollgate.test"
ONE_YEAR = 31536000
CHALLENGE = 'Bearer realm="Tollgate"'


# --- helpers -----------------------------------------------------------------------------


def assert_no_store(response: Any) -> None:
    assert response.headers.get("Cache-Control") == "no-store"
    assert response.headers.get("Pragma") == "no-cache"


def assert_oauth_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == error, body
    assert set(body) <= {"error", "error_description"}, body
    assert_no_store(response)
    return body


def assert_inactive(response: Any) -> None:
    """RFC 7662 §2.2: an inactive token gets ``{"active": false}`` and nothing else."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.get_json() == {"active": False}
    assert_no_store(response)


def token_info(client: FlaskClient, authorization: str | None = None, **kwargs: Any) -> Any:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return client.get("/oauth/token/info", headers=headers, **kwargs)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def assert_invalid_token(response: Any) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.headers["WWW-Authenticate"].startswith(CHALLENGE)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    body = response.get_json()
    assert body["error"] == "invalid_token"
    assert "resource_owner_id" not in body


def expire_access_token(app: Flask, access_token: str) -> None:
    from app import crypto
    from app.clock import utcnow
    from app.extensions import db
    from app.oauth2.models import OAuthToken

    with app.app_context():
        row = db.session.scalar(
            select(OAuthToken).where(OAuthToken.access_token_digest == crypto.digest(access_token))
        )
        assert row is not None
        row.access_expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()


def deactivate(app: Flask, user: UserInfo) -> None:
    """Switch the account off in the database only (no token revocation with it)."""
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        row = db.session.get(User, user.id)
        assert row is not None
        row.active = False
        db.session.commit()


def revoke(client: FlaskClient, oauth: ClientInfo, token: str) -> None:
    response = client.post("/oauth/revoke", data={"token": token}, headers=oauth.basic_auth)
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.fixture
def other_client(make_client: Callable[..., ClientInfo]) -> ClientInfo:
    return make_client(name="Other App", redirect_uris=["https://other.example/cb"])


# --- introspection: who may ask ----------------------------------------------------------


@pytest.mark.parametrize(
    "auth", ["none", "client_id_only", "wrong_secret", "unknown_client", "bearer"]
)
def test_unauthenticated_introspection_is_401_invalid_client(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any], auth: str
) -> None:
    data = {"token": tokens["access_token"]}
    headers: dict[str, str] = {}
    if auth == "client_id_only":
        data["client_id"] = oauth_client.client_id
    elif auth == "wrong_secret":
        raw = f"{oauth_client.client_id}:tgs_wrong".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    elif auth == "unknown_client":
        headers = {"Authorization": "Basic " + base64.b64encode(b"nobody:secret").decode()}
    elif auth == "bearer":
        headers = {"Authorization": bearer(tokens["access_token"])}
    response = signed_in.post("/oauth/introspect", data=data, headers=headers)
    body = assert_oauth_error(response, 401, "invalid_client")
    assert "active" not in body


def test_a_public_client_cannot_introspect(
    signed_in: FlaskClient, public_client: ClientInfo
) -> None:
    response = exchange_code(signed_in, public_client, authorize(signed_in, public_client))
    issued = response.get_json()
    response = signed_in.post(
        "/oauth/introspect",
        data={"token": issued["access_token"], "client_id": public_client.client_id},
    )
    body = assert_oauth_error(response, 401, "invalid_client")
    assert "active" not in body


def test_client_secret_post_may_introspect(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    response = signed_in.post(
        "/oauth/introspect",
        data={
            "token": tokens["access_token"],
            "client_id": oauth_client.client_id,
            "client_secret": oauth_client.client_secret,
        },
    )
    assert response.status_code == 200
    assert response.get_json()["active"] is True


@pytest.mark.parametrize("value", [None, ""])
def test_missing_token_is_invalid_request(
    client: FlaskClient, oauth_client: ClientInfo, value: str | None
) -> None:
    data = {"token": value} if value is not None else {}
    response = client.post("/oauth/introspect", data=data, headers=oauth_client.basic_auth)
    assert_oauth_error(response, 400, "invalid_request")


# --- introspection: inactive tokens ----------------------------------------------------------


def test_expired_access_token_is_inactive(
    app: Flask, signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    expire_access_token(app, tokens["access_token"])
    assert_inactive(introspect(signed_in, oauth_client, tokens["access_token"]))


def test_revoked_access_token_is_inactive(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    revoke(signed_in, oauth_client, tokens["access_token"])
    assert_inactive(introspect(signed_in, oauth_client, tokens["access_token"]))


def test_revoked_refresh_token_and_its_access_token_are_inactive(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    revoke(signed_in, oauth_client, tokens["refresh_token"])
    assert_inactive(introspect(signed_in, oauth_client, tokens["refresh_token"]))
    assert_inactive(introspect(signed_in, oauth_client, tokens["access_token"]))


def test_rotated_refresh_token_is_inactive(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    assert refresh(signed_in, oauth_client, tokens["refresh_token"]).status_code == 200
    assert_inactive(introspect(signed_in, oauth_client, tokens["refresh_token"]))
    assert_inactive(introspect(signed_in, oauth_client, tokens["access_token"]))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("tga_" + "A" * 43, id="unknown-access"),
        pytest.param("tgr_" + "A" * 43, id="unknown-refresh"),
        pytest.param("garbage", id="garbage"),
        pytest.param("tga_", id="prefix-only"),
        pytest.param("tga_" + "A" * 1000, id="very-long"),
        pytest.param("\u00e9\u00e8 \u2603", id="non-ascii"),
        pytest.param("tga_%00' OR 1=1 --", id="sql"),
    ],
)
def test_unknown_and_malformed_tokens_are_inactive(
    client: FlaskClient, oauth_client: ClientInfo, value: str
) -> None:
    assert_inactive(introspect(client, oauth_client, value))


def test_authorization_code_is_inactive(signed_in: FlaskClient, oauth_client: ClientInfo) -> None:
    auth = authorize(signed_in, oauth_client)
    assert_inactive(introspect(signed_in, oauth_client, auth.code))


def test_another_clients_token_is_inactive(
    signed_in: FlaskClient,
    oauth_client: ClientInfo,
    other_client: ClientInfo,
    tokens: dict[str, Any],
) -> None:
    assert_inactive(introspect(signed_in, other_client, tokens["access_token"]))
    assert_inactive(introspect(signed_in, other_client, tokens["refresh_token"]))
    # Asking changed nothing for the owner.
    assert introspect(signed_in, oauth_client, tokens["access_token"]).get_json()["active"]


def test_any_token_type_hint_is_ignored(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    for hint in ("refresh_token", "access_token", "foo"):
        response = signed_in.post(
            "/oauth/introspect",
            headers=oauth_client.basic_auth,
            data={"token": tokens["access_token"], "token_type_hint": hint},
        )
        assert response.status_code == 200
        assert response.get_json()["token_use"] == "access_token"


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_token_of_a_deactivated_user_is_inactive(
    app: Flask,
    signed_in: FlaskClient,
    oauth_client: ClientInfo,
    tokens: dict[str, Any],
    user: UserInfo,
    kind: str,
) -> None:
    """Token info (views.token_info), the resource-server verifier and the refresh grant all
    refuse a token whose owner is no longer active; introspection must agree, or a resource
    server that introspects accepts what Tollgate itself refuses."""
    deactivate(app, user)
    assert_invalid_token(token_info(signed_in, bearer(tokens["access_token"])))
    assert refresh(signed_in, oauth_client, tokens["refresh_token"]).status_code == 400
    assert_inactive(introspect(signed_in, oauth_client, tokens[kind]))


# --- introspection: active tokens --------------------------------------------------------


def test_active_access_token_is_described_consistently_with_its_issuance(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any], user: UserInfo
) -> None:
    response = introspect(signed_in, oauth_client, tokens["access_token"])
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert_no_store(response)
    body = response.get_json()
    assert body["active"] is True
    assert body["scope"] == tokens["scope"] == "read_write"
    assert body["client_id"] == oauth_client.client_id
    assert body["sub"] == str(user.id)
    assert body["token_type"] == "Bearer"
    assert body["token_use"] == "access_token"
    assert body["iss"] == ISSUER
    assert body["family_id"] == str(user.family_id)
    assert isinstance(body["exp"], int) and isinstance(body["iat"], int)
    assert body["exp"] - body["iat"] == tokens["expires_in"] == ONE_YEAR
    assert abs(body["iat"] - tokens["created_at"]) <= 1
    assert abs(body["iat"] - time.time()) < 120
    assert set(body) <= {
        "active",
        "scope",
        "client_id",
        "sub",
        "exp",
        "iat",
        "token_type",
        "token_use",
        "iss",
        "family_id",
        "aud",
        "nbf",
        "username",
        "jti",
    }


@pytest.mark.config(
    OAUTH2_TOKEN_EXPIRES_IN={
        "authorization_code": 600,
        "refresh_token": 900,
        "password": 600,
        "client_credentials": 600,
    }
)
def test_exp_follows_the_configured_lifetime(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    assert tokens["expires_in"] == 600
    body = introspect(signed_in, oauth_client, tokens["access_token"]).get_json()
    assert body["exp"] - body["iat"] == 600
    rotated = refresh(signed_in, oauth_client, tokens["refresh_token"]).get_json()
    assert rotated["expires_in"] == 900
    body = introspect(signed_in, oauth_client, rotated["access_token"]).get_json()
    assert body["exp"] - body["iat"] == 900


def test_active_refresh_token_is_described_as_a_refresh_token(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any], user: UserInfo
) -> None:
    response = introspect(signed_in, oauth_client, tokens["refresh_token"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["active"] is True
    assert body["token_use"] == "refresh_token"
    assert body["scope"] == "read_write"
    assert body["client_id"] == oauth_client.client_id
    assert body["sub"] == str(user.id)
    assert body["iss"] == ISSUER
    assert abs(body["iat"] - tokens["created_at"]) <= 1
    assert "exp" not in body  # OAUTH2_REFRESH_TOKEN_LIFETIME = 0: lives until revoked


# --- token info -----------------------------------------------------------------------------


def test_token_info_describes_the_access_token(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any], user: UserInfo
) -> None:
    response = token_info(signed_in, bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"resource_owner_id", "scope", "expires_in", "application", "created_at"}
    assert body["resource_owner_id"] == str(user.id)
    assert body["scope"] == ["read_write"]
    assert isinstance(body["expires_in"], int)
    assert ONE_YEAR - 120 < body["expires_in"] <= ONE_YEAR
    assert body["application"] == {"uid": oauth_client.client_id}
    assert isinstance(body["created_at"], int)
    assert abs(body["created_at"] - tokens["created_at"]) <= 1


def test_token_info_lists_a_read_scope(signed_in: FlaskClient, oauth_client: ClientInfo) -> None:
    issued = exchange_code(
        signed_in, oauth_client, authorize(signed_in, oauth_client, scope="read")
    ).get_json()
    assert token_info(signed_in, bearer(issued["access_token"])).get_json()["scope"] == ["read"]


def test_no_authorization_header_is_401_with_a_bare_challenge(client: FlaskClient) -> None:
    response = token_info(client)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert "error=" not in response.headers["WWW-Authenticate"]


def test_unknown_token_is_invalid_token(client: FlaskClient) -> None:
    assert_invalid_token(token_info(client, bearer("tga_" + "A" * 43)))


def test_revoked_token_is_invalid_token(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    revoke(signed_in, oauth_client, tokens["access_token"])
    assert_invalid_token(token_info(signed_in, bearer(tokens["access_token"])))


def test_expired_token_is_invalid_token(
    app: Flask, signed_in: FlaskClient, tokens: dict[str, Any]
) -> None:
    expire_access_token(app, tokens["access_token"])
    assert_invalid_token(token_info(signed_in, bearer(tokens["access_token"])))


def test_token_of_a_deactivated_user_is_invalid_token(
    app: Flask, signed_in: FlaskClient, tokens: dict[str, Any], user: UserInfo
) -> None:
    deactivate(app, user)
    assert_invalid_token(token_info(signed_in, bearer(tokens["access_token"])))


@pytest.mark.parametrize("kind", ["refresh_token", "code"])
def test_other_kinds_of_token_are_invalid_token(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any], kind: str
) -> None:
    value = (
        tokens["refresh_token"]
        if kind == "refresh_token"
        else authorize(signed_in, oauth_client).code
    )
    assert_invalid_token(token_info(signed_in, bearer(value)))


def test_access_token_in_the_query_is_refused(
    signed_in: FlaskClient, tokens: dict[str, Any]
) -> None:
    response = token_info(signed_in, query_string={"access_token": tokens["access_token"]})
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert "resource_owner_id" not in body
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


def test_access_token_in_the_query_is_refused_even_with_a_valid_header(
    signed_in: FlaskClient, tokens: dict[str, Any]
) -> None:
    response = token_info(
        signed_in,
        bearer(tokens["access_token"]),
        query_string={"access_token": tokens["access_token"]},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Basic {basic}", id="basic"),
        pytest.param("Bearer", id="bearer-no-token"),
        pytest.param("Bearer ", id="bearer-empty"),
        pytest.param("Bearer    ", id="bearer-spaces"),
        pytest.param("Bearer {token} {token}", id="two-tokens"),
        pytest.param("Bearer {token}, Bearer {token}", id="two-credentials"),
        pytest.param("Bearer a b", id="bearer-a-b"),
        pytest.param("{token}", id="no-scheme"),
        pytest.param("Token {token}", id="other-scheme"),
        pytest.param("Bearer\t{token}", id="tab"),
        pytest.param("Bearer " + "x" * 10000, id="huge"),
        pytest.param("Bearer \u00e9\u00e8", id="non-ascii"),
        pytest.param("Bearer tga_%00", id="percent-nul"),
    ],
)
def test_malformed_authorization_is_401_never_500(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any], header: str
) -> None:
    basic = base64.b64encode(
        f"{oauth_client.client_id}:{oauth_client.client_secret}".encode()
    ).decode()
    value = header.format(token=tokens["access_token"], basic=basic)
    response = token_info(signed_in, value)
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.headers["WWW-Authenticate"].startswith(CHALLENGE)
    assert "resource_owner_id" not in response.get_json()


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_the_scheme_name_is_case_insensitive(
    signed_in: FlaskClient, tokens: dict[str, Any], user: UserInfo, scheme: str
) -> None:
    response = token_info(signed_in, f"{scheme} {tokens['access_token']}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["resource_owner_id"] == str(user.id)


# --- introspection: the per-client budget ----------------------------------------------------


@pytest.mark.config(RATE_LIMIT_INTROSPECT_CLIENT="3 per 1 minute")
def test_introspection_has_a_per_client_budget(
    signed_in: FlaskClient,
    oauth_client: ClientInfo,
    other_client: ClientInfo,
    tokens: dict[str, Any],
) -> None:
    for _ in range(3):
        assert introspect(signed_in, oauth_client, tokens["access_token"]).status_code == 200
    refused = introspect(signed_in, oauth_client, tokens["access_token"])
    body = assert_oauth_error(refused, 429, "temporarily_unavailable")
    assert body["error_description"] == "Introspection rate limit exceeded. Try again later."
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # Failed client authentication spends nothing of the client it names, and another
    # client's budget is its own.
    raw = f"{other_client.client_id}:tgs_wrong".encode()
    for _ in range(5):
        wrong = signed_in.post(
            "/oauth/introspect",
            data={"token": tokens["access_token"]},
            headers={"Authorization": "Basic " + base64.b64encode(raw).decode()},
        )
        assert wrong.status_code == 401
    for _ in range(3):
        assert introspect(signed_in, other_client, tokens["access_token"]).status_code == 200
