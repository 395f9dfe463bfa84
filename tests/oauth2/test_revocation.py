"""Token revocation (RFC 7009), black box over HTTP (security checklist items 73-78).

What the server promises (``app/oauth2/services/tokens.py:revoke_token``): revoking an access token
revokes that access token alone; revoking a refresh token revokes its whole lineage, every
access and refresh token issued under the same authorization, rotated ones included.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.support.factories import ClientInfo
from tests.support.oauth import authorize, exchange_code, introspect, refresh

DENIED = {
    "error": "unauthorized_client",
    "error_description": "You are not authorized to revoke this token",
}


# --- helpers -----------------------------------------------------------------------------


def assert_no_store(response: Any) -> None:
    assert response.headers.get("Cache-Control") == "no-store"
    assert response.headers.get("Pragma") == "no-cache"


def revoke(client: FlaskClient, oauth: ClientInfo, token: str | None, **extra: str) -> Any:
    """A revocation as the client would send it: Basic for a confidential client,
    ``client_id`` in the body for a public one."""
    data = {**({"token": token} if token is not None else {}), **extra}
    headers: dict[str, str] = {}
    if oauth.client_secret:
        headers = oauth.basic_auth
    else:
        data.setdefault("client_id", oauth.client_id)
    return client.post("/oauth/revoke", data=data, headers=headers)


def assert_revoked_ok(response: Any) -> None:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.get_json() == {}
    assert_no_store(response)


def assert_oauth_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == error, body
    assert set(body) <= {"error", "error_description"}, body
    assert_no_store(response)
    return body


def is_active(client: FlaskClient, oauth: ClientInfo, token: str) -> bool:
    response = introspect(client, oauth, token)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    if not body["active"]:
        assert body == {"active": False}
    return body["active"]


def token_info_status(client: FlaskClient, access_token: str) -> int:
    return client.get(
        "/oauth/token/info", headers={"Authorization": f"Bearer {access_token}"}
    ).status_code


def issue(client: FlaskClient, oauth: ClientInfo, scope: str = "read_write") -> dict[str, Any]:
    response = exchange_code(client, oauth, authorize(client, oauth, scope=scope))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def rotate(client: FlaskClient, oauth: ClientInfo, refresh_token: str) -> dict[str, Any]:
    response = refresh(client, oauth, refresh_token)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def other_client(make_client: Callable[..., ClientInfo]) -> ClientInfo:
    return make_client(name="Other App", redirect_uris=["https://other.example/cb"])


# --- revoking an access token --------------------------------------------------------------


def test_revoking_an_access_token_revokes_that_access_token(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    assert token_info_status(signed_in, tokens["access_token"]) == 200
    assert_revoked_ok(revoke(signed_in, oauth_client, tokens["access_token"]))

    assert not is_active(signed_in, oauth_client, tokens["access_token"])
    response = signed_in.get(
        "/oauth/token/info", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_revoking_an_access_token_leaves_its_refresh_token_usable(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    """services.revoke_token: an access token is revoked alone (RFC 7009 §2.1 leaves it to
    the server whether the refresh token goes too; Tollgate keeps it)."""
    assert_revoked_ok(revoke(signed_in, oauth_client, tokens["access_token"]))
    assert is_active(signed_in, oauth_client, tokens["refresh_token"])
    rotated = rotate(signed_in, oauth_client, tokens["refresh_token"])
    assert is_active(signed_in, oauth_client, rotated["access_token"])
    assert token_info_status(signed_in, rotated["access_token"]) == 200


def test_revoking_a_token_twice_is_still_200(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    for token in (
        tokens["access_token"],
        tokens["access_token"],
        tokens["refresh_token"],
        tokens["refresh_token"],
    ):
        assert_revoked_ok(revoke(signed_in, oauth_client, token))
    assert not is_active(signed_in, oauth_client, tokens["refresh_token"])


def test_revocation_is_audited(
    app: Flask, signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    from app.audit.models import AuditEvent
    from app.extensions import db

    assert_revoked_ok(revoke(signed_in, oauth_client, tokens["refresh_token"]))
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "token.revoked")
        ).all()
        assert len(events) == 1
        assert events[0].client_id == oauth_client.client_id
        assert events[0].details.get("token_type") == "refresh_token"


# --- revoking a refresh token ------------------------------------------------------------


def test_revoking_a_refresh_token_revokes_its_whole_lineage(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    second = rotate(signed_in, oauth_client, tokens["refresh_token"])
    third = rotate(signed_in, oauth_client, second["refresh_token"])
    assert is_active(signed_in, oauth_client, third["access_token"])

    assert_revoked_ok(revoke(signed_in, oauth_client, third["refresh_token"]))

    for issued in (tokens, second, third):
        assert not is_active(signed_in, oauth_client, issued["access_token"])
        assert not is_active(signed_in, oauth_client, issued["refresh_token"])
        assert token_info_status(signed_in, issued["access_token"]) == 401
    response = refresh(signed_in, oauth_client, third["refresh_token"])
    assert_oauth_error(response, 400, "invalid_grant")


def test_revoking_a_refresh_token_revokes_an_access_token_narrowed_by_refresh(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    response = refresh(signed_in, oauth_client, tokens["refresh_token"], scope="read")
    assert response.status_code == 200
    narrowed = response.get_json()
    assert_revoked_ok(revoke(signed_in, oauth_client, narrowed["refresh_token"]))
    assert not is_active(signed_in, oauth_client, narrowed["access_token"])
    assert token_info_status(signed_in, narrowed["access_token"]) == 401


def test_revoking_a_rotated_out_refresh_token_still_revokes_the_lineage(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    second = rotate(signed_in, oauth_client, tokens["refresh_token"])
    assert_revoked_ok(revoke(signed_in, oauth_client, tokens["refresh_token"]))
    assert not is_active(signed_in, oauth_client, second["access_token"])
    assert not is_active(signed_in, oauth_client, second["refresh_token"])


def test_revoking_one_lineage_leaves_other_authorizations_alone(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    other = issue(signed_in, oauth_client)
    assert_revoked_ok(revoke(signed_in, oauth_client, tokens["refresh_token"]))
    assert is_active(signed_in, oauth_client, other["access_token"])
    assert is_active(signed_in, oauth_client, other["refresh_token"])
    assert token_info_status(signed_in, other["access_token"]) == 200


# --- token_type_hint -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,hint",
    [
        pytest.param("refresh_token", None, id="refresh-no-hint"),
        pytest.param("refresh_token", "refresh_token", id="refresh-right-hint"),
        pytest.param("refresh_token", "access_token", id="refresh-wrong-hint"),
        pytest.param("refresh_token", "foo", id="refresh-garbage-hint"),
        pytest.param("refresh_token", "", id="refresh-empty-hint"),
        pytest.param("access_token", None, id="access-no-hint"),
        pytest.param("access_token", "access_token", id="access-right-hint"),
        pytest.param("access_token", "refresh_token", id="access-wrong-hint"),
        pytest.param("access_token", "foo", id="access-garbage-hint"),
    ],
)
def test_any_token_type_hint_still_revokes(
    signed_in: FlaskClient,
    oauth_client: ClientInfo,
    tokens: dict[str, Any],
    kind: str,
    hint: str | None,
) -> None:
    extra = {"token_type_hint": hint} if hint is not None else {}
    assert_revoked_ok(revoke(signed_in, oauth_client, tokens[kind], **extra))
    assert not is_active(signed_in, oauth_client, tokens[kind])
    assert not is_active(signed_in, oauth_client, tokens["access_token"])
    if kind == "refresh_token":
        assert_oauth_error(
            refresh(signed_in, oauth_client, tokens["refresh_token"]), 400, "invalid_grant"
        )
    else:
        assert is_active(signed_in, oauth_client, tokens["refresh_token"])


# --- unknown tokens and malformed requests ------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("tga_" + "A" * 43, id="unknown-access"),
        pytest.param("tgr_" + "A" * 43, id="unknown-refresh"),
        pytest.param("tgc_" + "A" * 43, id="code-prefix"),
        pytest.param("garbage", id="garbage"),
        pytest.param("tga_" + "A" * 1000, id="very-long"),
        pytest.param("\u00e9\u00e8 \u2603", id="non-ascii"),
        pytest.param("'; DROP TABLE oauth2_tokens; --", id="sql"),
    ],
)
def test_unknown_or_garbage_token_is_200_with_an_empty_object(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any], value: str
) -> None:
    assert_revoked_ok(revoke(signed_in, oauth_client, value))
    assert is_active(signed_in, oauth_client, tokens["access_token"])


def test_unknown_token_from_a_public_client_is_200(
    client: FlaskClient, public_client: ClientInfo
) -> None:
    assert_revoked_ok(revoke(client, public_client, "tga_" + "Z" * 43))


@pytest.mark.parametrize("value", [None, ""])
def test_missing_token_is_invalid_request(
    client: FlaskClient, oauth_client: ClientInfo, value: str | None
) -> None:
    assert_oauth_error(revoke(client, oauth_client, value), 400, "invalid_request")


def test_token_in_the_query_string_is_invalid_request(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    response = signed_in.post(
        "/oauth/revoke",
        query_string={"token": tokens["access_token"]},
        data={},
        headers=oauth_client.basic_auth,
    )
    assert_oauth_error(response, 400, "invalid_request")
    assert is_active(signed_in, oauth_client, tokens["access_token"])


def test_get_is_not_allowed(client: FlaskClient) -> None:
    assert client.get("/oauth/revoke").status_code == 405


# --- binding to the client ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_another_client_cannot_revoke_the_token(
    signed_in: FlaskClient,
    oauth_client: ClientInfo,
    other_client: ClientInfo,
    tokens: dict[str, Any],
    kind: str,
) -> None:
    response = revoke(signed_in, other_client, tokens[kind])
    assert response.status_code == 403
    assert response.get_json() == DENIED
    assert_no_store(response)

    assert is_active(signed_in, oauth_client, tokens["access_token"])
    assert is_active(signed_in, oauth_client, tokens["refresh_token"])
    assert token_info_status(signed_in, tokens["access_token"]) == 200
    assert refresh(signed_in, oauth_client, tokens["refresh_token"]).status_code == 200


def test_a_public_client_cannot_revoke_a_confidential_clients_token(
    signed_in: FlaskClient,
    oauth_client: ClientInfo,
    public_client: ClientInfo,
    tokens: dict[str, Any],
) -> None:
    response = revoke(signed_in, public_client, tokens["refresh_token"])
    assert response.status_code == 403
    assert response.get_json() == DENIED
    assert is_active(signed_in, oauth_client, tokens["refresh_token"])


# --- client authentication ---------------------------------------------------------------


@pytest.mark.parametrize("auth", ["none", "client_id_only", "wrong_secret", "unknown_client"])
def test_confidential_client_must_authenticate_to_revoke(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any], auth: str
) -> None:
    data = {"token": tokens["refresh_token"]}
    headers: dict[str, str] = {}
    if auth == "client_id_only":
        data["client_id"] = oauth_client.client_id
    elif auth == "wrong_secret":
        raw = f"{oauth_client.client_id}:tgs_wrong".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    elif auth == "unknown_client":
        headers = {"Authorization": "Basic " + base64.b64encode(b"nobody:secret").decode()}
    response = signed_in.post("/oauth/revoke", data=data, headers=headers)
    assert_oauth_error(response, 401, "invalid_client")
    assert is_active(signed_in, oauth_client, tokens["access_token"])
    assert is_active(signed_in, oauth_client, tokens["refresh_token"])


def test_confidential_client_may_use_client_secret_post(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    response = signed_in.post(
        "/oauth/revoke",
        data={
            "token": tokens["access_token"],
            "client_id": oauth_client.client_id,
            "client_secret": oauth_client.client_secret,
        },
    )
    assert_revoked_ok(response)
    assert not is_active(signed_in, oauth_client, tokens["access_token"])


def test_public_client_revokes_with_its_client_id_alone(
    signed_in: FlaskClient, public_client: ClientInfo
) -> None:
    issued = issue(signed_in, public_client)
    response = signed_in.post(
        "/oauth/revoke",
        data={"token": issued["refresh_token"], "client_id": public_client.client_id},
    )
    assert "Authorization" not in response.request.headers
    assert_revoked_ok(response)
    assert token_info_status(signed_in, issued["access_token"]) == 401
    assert_oauth_error(
        refresh(signed_in, public_client, issued["refresh_token"]), 400, "invalid_grant"
    )


def test_public_client_revokes_an_access_token(
    signed_in: FlaskClient, public_client: ClientInfo
) -> None:
    issued = issue(signed_in, public_client)
    assert_revoked_ok(revoke(signed_in, public_client, issued["access_token"]))
    assert token_info_status(signed_in, issued["access_token"]) == 401
    assert refresh(signed_in, public_client, issued["refresh_token"]).status_code == 200


def test_public_client_without_client_id_is_invalid_client(
    signed_in: FlaskClient, public_client: ClientInfo
) -> None:
    issued = issue(signed_in, public_client)
    response = signed_in.post("/oauth/revoke", data={"token": issued["access_token"]})
    assert_oauth_error(response, 401, "invalid_client")
    assert token_info_status(signed_in, issued["access_token"]) == 200
