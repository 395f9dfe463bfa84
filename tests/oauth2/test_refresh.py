"""The refresh_token grant, black box over HTTP (security checklist items 46, 47, 49-53, 70).

Every request goes through the Flask test client. The database is only touched to read the
audit trail and the stored expiry of a lineage, or to put the world in a state HTTP cannot
(a deactivated user, a refresh token past its absolute lifetime).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.clock import epoch
from tests.support.factories import ClientInfo, UserInfo
from tests.support.oauth import authorize, exchange_code, introspect, refresh

ACCESS_RE = re.compile(r"^tga_[A-Za-z0-9_-]{43,}$")
REFRESH_RE = re.compile(r"^tgr_[A-Za-z0-9_-]{43,}$")
ONE_YEAR = 31536000


# --- helpers -----------------------------------------------------------------------------


def assert_no_store(response: Any) -> None:
    assert response.headers.get("Cache-Control") == "no-store"
    assert response.headers.get("Pragma") == "no-cache"


def assert_oauth_error(response: Any, status: int, error: str) -> dict[str, Any]:
    """RFC 6749 §5.2: JSON ``error`` (+ optional ASCII ``error_description``), never cached,
    and no token in sight."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict)
    assert body["error"] == error, body
    assert "access_token" not in body and "refresh_token" not in body
    assert set(body) <= {"error", "error_description"}, body
    if "error_description" in body:
        assert isinstance(body["error_description"], str)
        assert body["error_description"].isascii()
    assert_no_store(response)
    return body


def assert_token_response(response: Any, *, scope: str) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "scope",
        "created_at",
    }, body
    assert ACCESS_RE.match(body["access_token"]), body
    assert REFRESH_RE.match(body["refresh_token"]), body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == ONE_YEAR
    assert body["scope"] == scope
    assert isinstance(body["created_at"], int)
    assert abs(body["created_at"] - time.time()) < 120
    assert_no_store(response)
    return body


def introspection(client: FlaskClient, oauth: ClientInfo, token: str) -> dict[str, Any]:
    response = introspect(client, oauth, token)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def is_active(client: FlaskClient, oauth: ClientInfo, token: str) -> bool:
    body = introspection(client, oauth, token)
    if not body["active"]:
        assert body == {"active": False}
    return body["active"]


def token_info(client: FlaskClient, access_token: str) -> Any:
    return client.get("/oauth/token/info", headers={"Authorization": f"Bearer {access_token}"})


def token_row(app: Flask, *, refresh_token: str) -> Any:
    """The stored row of an issuance, found by the digest of its refresh token (detached)."""
    from app import crypto
    from app.extensions import db
    from app.oauth2.models import OAuthToken

    with app.app_context():
        row = db.session.scalar(
            select(OAuthToken).where(
                OAuthToken.refresh_token_digest == crypto.digest(refresh_token)
            )
        )
        assert row is not None
        db.session.expunge(row)
        return row


def audit_events(app: Flask, event: str) -> list[Any]:
    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.event == event)).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


@pytest.fixture
def other_client(make_client: Callable[..., ClientInfo]) -> ClientInfo:
    return make_client(name="Other App", redirect_uris=["https://other.example/cb"])


# --- rotation ------------------------------------------------------------------------------


def test_refresh_rotates_both_tokens_and_retires_the_old_pair(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    response = refresh(signed_in, oauth_client, tokens["refresh_token"])
    rotated = assert_token_response(response, scope="read_write")
    assert rotated["access_token"] != tokens["access_token"]
    assert rotated["refresh_token"] != tokens["refresh_token"]

    # The server retires the previous access token and refresh token on rotation ...
    assert not is_active(signed_in, oauth_client, tokens["access_token"])
    assert not is_active(signed_in, oauth_client, tokens["refresh_token"])
    assert token_info(signed_in, tokens["access_token"]).status_code == 401
    # ... and the successors are live.
    assert is_active(signed_in, oauth_client, rotated["access_token"])
    assert is_active(signed_in, oauth_client, rotated["refresh_token"])
    assert token_info(signed_in, rotated["access_token"]).status_code == 200


def test_the_old_refresh_token_is_refused_immediately(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    assert_token_response(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), scope="read_write"
    )
    assert_oauth_error(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), 400, "invalid_grant"
    )


def test_every_refresh_in_a_chain_rotates(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    seen_access = {tokens["access_token"]}
    seen_refresh = {tokens["refresh_token"]}
    current = tokens
    for _ in range(3):
        current = assert_token_response(
            refresh(signed_in, oauth_client, current["refresh_token"]), scope="read_write"
        )
        assert current["access_token"] not in seen_access
        assert current["refresh_token"] not in seen_refresh
        seen_access.add(current["access_token"])
        seen_refresh.add(current["refresh_token"])
    live = [t for t in seen_access | seen_refresh if is_active(signed_in, oauth_client, t)]
    assert sorted(live) == sorted([current["access_token"], current["refresh_token"]])


def test_public_client_refreshes_with_its_client_id(
    signed_in: FlaskClient, public_client: ClientInfo
) -> None:
    first = exchange_code(
        signed_in, public_client, authorize(signed_in, public_client, scope="read_write")
    )
    first_body = assert_token_response(first, scope="read_write")
    response = refresh(signed_in, public_client, first_body["refresh_token"])
    assert "Authorization" not in response.request.headers
    rotated = assert_token_response(response, scope="read_write")
    assert token_info(signed_in, rotated["access_token"]).status_code == 200
    assert token_info(signed_in, first_body["access_token"]).status_code == 401
    assert_oauth_error(
        refresh(signed_in, public_client, first_body["refresh_token"]), 400, "invalid_grant"
    )


# --- replay (reuse detection) ------------------------------------------------------------


def test_replaying_a_rotated_refresh_token_revokes_the_whole_lineage(
    app: Flask,
    signed_in: FlaskClient,
    oauth_client: ClientInfo,
    tokens: dict[str, Any],
    user: UserInfo,
) -> None:
    rt1, at1 = tokens["refresh_token"], tokens["access_token"]
    second = assert_token_response(refresh(signed_in, oauth_client, rt1), scope="read_write")
    rt2, at2 = second["refresh_token"], second["access_token"]
    assert is_active(signed_in, oauth_client, at2)
    assert is_active(signed_in, oauth_client, rt2)
    assert audit_events(app, "refresh_token.reused") == []

    assert_oauth_error(refresh(signed_in, oauth_client, rt1), 400, "invalid_grant")

    # Everything of the lineage is dead: RT2, its access token and the original access token.
    for token in (at1, rt1, at2, rt2):
        assert not is_active(signed_in, oauth_client, token), token
    assert token_info(signed_in, at2).status_code == 401
    assert token_info(signed_in, at1).status_code == 401
    assert_oauth_error(refresh(signed_in, oauth_client, rt2), 400, "invalid_grant")

    events = audit_events(app, "refresh_token.reused")
    assert len(events) == 1
    event = events[0]
    assert event.outcome == "failure"
    assert event.client_id == oauth_client.client_id
    assert event.actor_user_id == user.id
    assert event.details.get("revoked_tokens") == 2
    assert event.details.get("lineage_id") == str(token_row(app, refresh_token=rt1).lineage_id)


def test_replay_deep_in_a_chain_revokes_the_newest_tokens(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    second = assert_token_response(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), scope="read_write"
    )
    third = assert_token_response(
        refresh(signed_in, oauth_client, second["refresh_token"]), scope="read_write"
    )
    assert is_active(signed_in, oauth_client, third["access_token"])

    assert_oauth_error(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), 400, "invalid_grant"
    )

    assert not is_active(signed_in, oauth_client, third["access_token"])
    assert not is_active(signed_in, oauth_client, third["refresh_token"])
    assert_oauth_error(
        refresh(signed_in, oauth_client, third["refresh_token"]), 400, "invalid_grant"
    )


def test_replay_leaves_other_lineages_alone(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    other = assert_token_response(
        exchange_code(
            signed_in, oauth_client, authorize(signed_in, oauth_client, scope="read_write")
        ),
        scope="read_write",
    )
    assert_token_response(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), scope="read_write"
    )
    assert_oauth_error(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), 400, "invalid_grant"
    )
    assert is_active(signed_in, oauth_client, other["access_token"])
    assert_token_response(
        refresh(signed_in, oauth_client, other["refresh_token"]), scope="read_write"
    )


# --- binding to the client ---------------------------------------------------------------


def test_another_client_presenting_the_refresh_token_is_invalid_grant_and_revokes_nothing(
    signed_in: FlaskClient,
    oauth_client: ClientInfo,
    other_client: ClientInfo,
    tokens: dict[str, Any],
) -> None:
    assert_oauth_error(
        refresh(signed_in, other_client, tokens["refresh_token"]), 400, "invalid_grant"
    )
    assert is_active(signed_in, oauth_client, tokens["access_token"])
    assert is_active(signed_in, oauth_client, tokens["refresh_token"])
    assert_token_response(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), scope="read_write"
    )


def test_another_client_replaying_a_rotated_refresh_token_does_not_revoke_the_lineage(
    app: Flask,
    signed_in: FlaskClient,
    oauth_client: ClientInfo,
    other_client: ClientInfo,
    tokens: dict[str, Any],
) -> None:
    second = assert_token_response(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), scope="read_write"
    )
    # B holds A's old refresh token: B's attempt must not let B kill A's live lineage.
    assert_oauth_error(
        refresh(signed_in, other_client, tokens["refresh_token"]), 400, "invalid_grant"
    )
    assert audit_events(app, "refresh_token.reused") == []
    assert is_active(signed_in, oauth_client, second["access_token"])
    assert_token_response(
        refresh(signed_in, oauth_client, second["refresh_token"]), scope="read_write"
    )


def test_public_client_presenting_a_confidential_clients_refresh_token_is_invalid_grant(
    signed_in: FlaskClient,
    oauth_client: ClientInfo,
    public_client: ClientInfo,
    tokens: dict[str, Any],
) -> None:
    assert_oauth_error(
        refresh(signed_in, public_client, tokens["refresh_token"]), 400, "invalid_grant"
    )
    assert is_active(signed_in, oauth_client, tokens["refresh_token"])


# --- client authentication -----------------------------------------------------------------


@pytest.mark.parametrize("auth", ["none", "client_id_only", "wrong_secret"])
def test_confidential_client_must_authenticate_to_refresh(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any], auth: str
) -> None:
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    headers: dict[str, str] = {}
    if auth == "client_id_only":
        data["client_id"] = oauth_client.client_id
    elif auth == "wrong_secret":
        headers = ClientInfo(oauth_client.client_id, "tgs_wrong", None, "").basic_auth
    response = signed_in.post("/oauth/token", data=data, headers=headers)
    assert_oauth_error(response, 401, "invalid_client")
    # The failed attempt spent nothing.
    assert is_active(signed_in, oauth_client, tokens["refresh_token"])
    assert_token_response(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), scope="read_write"
    )


def test_missing_refresh_token_parameter_is_invalid_request(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    response = signed_in.post(
        "/oauth/token", data={"grant_type": "refresh_token"}, headers=oauth_client.basic_auth
    )
    assert_oauth_error(response, 400, "invalid_request")


# --- scope ----------------------------------------------------------------------------------


@pytest.mark.parametrize("next_scope", [None, "read_write"])
def test_narrower_scope_narrows_only_the_access_token(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any], next_scope: str | None
) -> None:
    narrowed = assert_token_response(
        refresh(signed_in, oauth_client, tokens["refresh_token"], scope="read"), scope="read"
    )
    at = introspection(signed_in, oauth_client, narrowed["access_token"])
    assert at["active"] is True and at["scope"] == "read"
    assert token_info(signed_in, narrowed["access_token"]).get_json()["scope"] == ["read"]
    # The refresh token keeps the scope of the authorization.
    rt = introspection(signed_in, oauth_client, narrowed["refresh_token"])
    assert rt["active"] is True and rt["scope"] == "read_write"

    extra = {"scope": next_scope} if next_scope else {}
    widened = assert_token_response(
        refresh(signed_in, oauth_client, narrowed["refresh_token"], **extra), scope="read_write"
    )
    at = introspection(signed_in, oauth_client, widened["access_token"])
    assert at["active"] is True and at["scope"] == "read_write"
    assert token_info(signed_in, widened["access_token"]).get_json()["scope"] == ["read_write"]


def test_broader_scope_than_the_authorization_is_invalid_scope(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    issued = assert_token_response(
        exchange_code(signed_in, oauth_client, authorize(signed_in, oauth_client, scope="read")),
        scope="read",
    )
    assert_oauth_error(
        refresh(signed_in, oauth_client, issued["refresh_token"], scope="read_write"),
        400,
        "invalid_scope",
    )
    assert_oauth_error(
        refresh(signed_in, oauth_client, issued["refresh_token"], scope="read read_write"),
        400,
        "invalid_scope",
    )
    # A refused scope spends nothing: the refresh token still works, for its own scope.
    assert_token_response(refresh(signed_in, oauth_client, issued["refresh_token"]), scope="read")


@pytest.mark.parametrize("scope", ["admin", "read admin", "write", "READ_WRITE"])
def test_unknown_scope_is_invalid_scope(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any], scope: str
) -> None:
    assert_oauth_error(
        refresh(signed_in, oauth_client, tokens["refresh_token"], scope=scope), 400, "invalid_scope"
    )
    assert is_active(signed_in, oauth_client, tokens["refresh_token"])


# --- the resource owner -----------------------------------------------------------------


def test_refresh_after_the_user_was_deactivated_is_invalid_grant(
    app: Flask,
    signed_in: FlaskClient,
    oauth_client: ClientInfo,
    tokens: dict[str, Any],
    user: UserInfo,
) -> None:
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        row = db.session.get(User, user.id)
        assert row is not None
        row.active = False
        db.session.commit()
    assert_oauth_error(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), 400, "invalid_grant"
    )


# --- absolute lifetime -----------------------------------------------------------------------


@pytest.mark.config(OAUTH2_REFRESH_TOKEN_LIFETIME=3600)
def test_rotation_keeps_the_absolute_expiry_of_the_lineage(
    app: Flask, signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    first = token_row(app, refresh_token=tokens["refresh_token"])
    assert first.refresh_expires_at is not None
    lifetime = (first.refresh_expires_at - first.issued_at).total_seconds()
    assert lifetime == pytest.approx(3600, abs=1)

    second = assert_token_response(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), scope="read_write"
    )
    third = assert_token_response(
        refresh(signed_in, oauth_client, second["refresh_token"]), scope="read_write"
    )
    child = token_row(app, refresh_token=second["refresh_token"])
    grandchild = token_row(app, refresh_token=third["refresh_token"])
    assert child.parent_id == first.id and grandchild.parent_id == child.id
    assert child.refresh_expires_at == first.refresh_expires_at
    assert grandchild.refresh_expires_at == first.refresh_expires_at

    body = introspection(signed_in, oauth_client, third["refresh_token"])
    assert body["active"] is True
    assert body["token_use"] == "refresh_token"
    assert body["exp"] == epoch(first.refresh_expires_at)
    assert abs(body["exp"] - (time.time() + 3600)) < 120


@pytest.mark.config(OAUTH2_REFRESH_TOKEN_LIFETIME=3600)
def test_refresh_token_past_its_absolute_lifetime_is_invalid_grant(
    app: Flask, signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    from app import crypto
    from app.clock import utcnow
    from app.extensions import db
    from app.oauth2.models import OAuthToken

    with app.app_context():
        row = db.session.scalar(
            select(OAuthToken).where(
                OAuthToken.refresh_token_digest == crypto.digest(tokens["refresh_token"])
            )
        )
        assert row is not None
        row.refresh_expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert not is_active(signed_in, oauth_client, tokens["refresh_token"])
    assert_oauth_error(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), 400, "invalid_grant"
    )


def test_without_a_configured_lifetime_refresh_tokens_do_not_expire(
    app: Flask, signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    assert token_row(app, refresh_token=tokens["refresh_token"]).refresh_expires_at is None
    body = introspection(signed_in, oauth_client, tokens["refresh_token"])
    assert body["active"] is True and "exp" not in body


# --- token kinds are not interchangeable ---------------------------------------------------


def test_access_token_presented_as_refresh_token_is_invalid_grant(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    assert_oauth_error(
        refresh(signed_in, oauth_client, tokens["access_token"]), 400, "invalid_grant"
    )
    assert is_active(signed_in, oauth_client, tokens["access_token"])
    assert is_active(signed_in, oauth_client, tokens["refresh_token"])


def test_authorization_code_presented_as_refresh_token_is_invalid_grant(
    signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    auth = authorize(signed_in, oauth_client)
    assert auth.code.startswith("tgc_")
    assert_oauth_error(refresh(signed_in, oauth_client, auth.code), 400, "invalid_grant")
    # ... and the code was not spent by the attempt.
    assert_token_response(exchange_code(signed_in, oauth_client, auth), scope="read")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("tgr_" + "A" * 43, id="unknown"),
        pytest.param("not-a-token", id="garbage"),
        pytest.param("tgr_" + "A" * 600, id="too-long"),
    ],
)
def test_unknown_refresh_token_is_invalid_grant(
    signed_in: FlaskClient, oauth_client: ClientInfo, value: str
) -> None:
    assert_oauth_error(refresh(signed_in, oauth_client, value), 400, "invalid_grant")


def test_refresh_token_at_token_info_is_invalid_token(
    signed_in: FlaskClient, tokens: dict[str, Any]
) -> None:
    response = token_info(signed_in, tokens["refresh_token"])
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


# --- caching -------------------------------------------------------------------------------


def test_refresh_responses_are_never_cached(
    signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    success = refresh(signed_in, oauth_client, tokens["refresh_token"])
    assert success.status_code == 200
    assert success.headers["Cache-Control"] == "no-store"
    assert success.headers["Pragma"] == "no-cache"
    failure = refresh(signed_in, oauth_client, "tgr_" + "B" * 43)
    assert failure.status_code == 400
    assert failure.headers["Cache-Control"] == "no-store"
    assert failure.headers["Pragma"] == "no-cache"


# --- the reuse interval (third-party clients: strict unless the operator says otherwise) -----


def test_third_party_clients_stay_strict_by_default(
    app: Flask, signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    second = assert_token_response(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), scope="read_write"
    )

    # At once, well within FIRST_PARTY_REFRESH_REUSE_INTERVAL: still a replay (RFC 9700).
    assert_oauth_error(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), 400, "invalid_grant"
    )

    assert not is_active(signed_in, oauth_client, second["access_token"])
    assert audit_events(app, "refresh_token.retried") == []


@pytest.mark.config(OAUTH2_REFRESH_REUSE_INTERVAL=10)
def test_an_operator_interval_lets_third_party_clients_retry_with_exclusive_siblings(
    app: Flask, signed_in: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    first = assert_token_response(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), scope="read_write"
    )
    retry = assert_token_response(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), scope="read_write"
    )
    assert is_active(signed_in, oauth_client, first["refresh_token"])
    assert is_active(signed_in, oauth_client, retry["refresh_token"])
    assert len(audit_events(app, "refresh_token.retried")) == 1

    newest = assert_token_response(
        refresh(signed_in, oauth_client, retry["refresh_token"]), scope="read_write"
    )

    assert not is_active(signed_in, oauth_client, first["access_token"])
    assert not is_active(signed_in, oauth_client, first["refresh_token"])
    assert is_active(signed_in, oauth_client, newest["access_token"])
    # The original token's retry window closed when a successor was used.
    assert_oauth_error(
        refresh(signed_in, oauth_client, tokens["refresh_token"]), 400, "invalid_grant"
    )
    assert not is_active(signed_in, oauth_client, newest["access_token"])
