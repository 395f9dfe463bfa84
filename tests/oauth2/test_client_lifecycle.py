"""Client lifecycle (disable, enable, delete) seen from the wire: a disabled client's tokens
stop working everywhere at once and work again when it is re-enabled (unless they expired
meanwhile); a deleted client holds nothing any more and can never authenticate again, while
nothing of anybody else is touched.

The operator's actions are the service calls the CLI makes (the CLI itself is tested in
tests/test_cli.py); everything else is HTTP through the Flask test client.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.clock import utcnow
from tests.support.factories import PASSWORD, ClientInfo, UserInfo
from tests.support.http import error_body
from tests.support.oauth import authorize, exchange_code, introspect, refresh

RESOURCE = "/api/v1/accounts"
SURE_REFRESH = "/api/v1/auth/refresh"
SURE_LOGIN = "/api/v1/auth/login"
DEVICE = {
    "device_id": "lifecycle-device",
    "device_name": "Test iPhone",
    "device_type": "ios",
    "os_version": "17.0",
    "app_version": "1.0.0",
}


# --- helpers -----------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def lifecycle(app: Flask, action: str, client_id: str) -> Any:
    """What ``flask clients <action> --client-id ID`` does."""
    from app.oauth2.services import clients as services

    with app.app_context():
        result = getattr(services, f"{action}_client")(client_id, now=utcnow())
        if isinstance(result, services.OAuthClient):  # read it while the session is open
            return SimpleNamespace(disabled_at=result.disabled_at, deleted_at=result.deleted_at)
        return result


def expire_access_token(app: Flask, access_token: str) -> None:
    from app import crypto
    from app.extensions import db
    from app.oauth2.models import OAuthToken

    with app.app_context():
        row = db.session.scalar(
            select(OAuthToken).where(OAuthToken.access_token_digest == crypto.digest(access_token))
        )
        assert row is not None
        row.access_expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()


def audit_events(app: Flask, client_id: str) -> list[tuple[str, dict[str, Any]]]:
    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.client_id == client_id)
            .order_by(AuditEvent.occurred_at)
        ).all()
        return [(row.event, dict(row.details or {})) for row in rows]


def assert_invalid_token(response: Any) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def make_api_key(
    app: Flask, owner: UserInfo, source: str = "monitoring", created_by_client_id: str | None = None
) -> str:
    from app.apikeys import services
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        return services.create_api_key(
            db.session.get(User, owner.id),
            name=f"lifecycle key ({source})",
            scope="read",
            source=source,
            now=utcnow(),
            created_by_client_id=created_by_client_id,
        ).key


@pytest.fixture
def other_client(make_client: Callable[..., ClientInfo]) -> ClientInfo:
    return make_client(name="Other App", redirect_uris=["https://other.example/cb"])


@pytest.fixture
def other_tokens(signed_in: FlaskClient, other_client: ClientInfo) -> dict[str, Any]:
    auth = authorize(signed_in, other_client, scope="read")
    response = exchange_code(signed_in, other_client, auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- disable / enable ----------------------------------------------------------------------


def test_disabling_a_client_stops_its_access_tokens_at_once(
    app: Flask,
    client: FlaskClient,
    oauth_client: ClientInfo,
    other_client: ClientInfo,
    tokens: dict[str, Any],
) -> None:
    access = tokens["access_token"]
    assert client.get(RESOURCE, headers=bearer(access)).status_code == 200
    assert client.get("/oauth/token/info", headers=bearer(access)).status_code == 200
    assert introspect(client, oauth_client, access).get_json()["active"] is True

    lifecycle(app, "disable", oauth_client.client_id)

    # The resource routes (the gate's verifier).
    assert_invalid_token(client.get(RESOURCE, headers=bearer(access)))
    # Token info.
    assert_invalid_token(client.get("/oauth/token/info", headers=bearer(access)))
    # Introspection: the disabled client itself can no longer authenticate to ask...
    own = introspect(client, oauth_client, access)
    assert own.status_code == 401
    assert own.get_json()["error"] == "invalid_client"
    # ...and for anybody else the token is inactive, for both of its halves.
    for token in (access, tokens["refresh_token"]):
        assert introspect(client, other_client, token).get_json() == {"active": False}


def test_introspection_and_token_info_ask_whether_the_client_is_enabled(
    app: Flask, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    """The one decision introspection and token info share (services.token_usable): a token
    of a disabled client is not usable, whoever is allowed to ask about it."""
    from app.oauth2.services import tokens as services

    lifecycle(app, "disable", oauth_client.client_id)
    with app.app_context():
        for value in (tokens["access_token"], tokens["refresh_token"]):
            found = services.find_token(value)
            assert found is not None
            assert services.token_usable(*found, now=utcnow()) is False
    lifecycle(app, "enable", oauth_client.client_id)
    with app.app_context():
        for value in (tokens["access_token"], tokens["refresh_token"]):
            found = services.find_token(value)
            assert found is not None
            assert services.token_usable(*found, now=utcnow()) is True


def test_a_disabled_clients_refresh_token_is_refused_and_not_spent(
    app: Flask, client: FlaskClient, oauth_client: ClientInfo, tokens: dict[str, Any]
) -> None:
    lifecycle(app, "disable", oauth_client.client_id)

    # At /oauth/token the client itself no longer authenticates (RFC 6749 §5.2).
    response = refresh(client, oauth_client, tokens["refresh_token"])
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    # Sure's refresh takes any refresh token Tollgate issued: refused as invalid.
    response = client.post(SURE_REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 401
    assert response.get_json() == {"error": "Invalid refresh token"}

    # Neither attempt used the refresh token up (nor counted as reuse of it).
    lifecycle(app, "enable", oauth_client.client_id)
    response = refresh(client, oauth_client, tokens["refresh_token"])
    assert response.status_code == 200, response.get_json()
    assert (
        client.get(RESOURCE, headers=bearer(response.get_json()["access_token"])).status_code == 200
    )


def test_re_enabling_restores_live_tokens_but_not_expired_ones(
    app: Flask,
    client: FlaskClient,
    signed_in: FlaskClient,
    oauth_client: ClientInfo,
    tokens: dict[str, Any],
) -> None:
    auth = authorize(signed_in, oauth_client, scope="read")
    second = exchange_code(signed_in, oauth_client, auth).get_json()
    lifecycle(app, "disable", oauth_client.client_id)
    expire_access_token(app, second["access_token"])
    lifecycle(app, "enable", oauth_client.client_id)

    live = tokens["access_token"]
    assert client.get(RESOURCE, headers=bearer(live)).status_code == 200
    assert client.get("/oauth/token/info", headers=bearer(live)).status_code == 200
    assert introspect(client, oauth_client, live).get_json()["active"] is True

    expired = second["access_token"]
    assert_invalid_token(client.get(RESOURCE, headers=bearer(expired)))
    assert_invalid_token(client.get("/oauth/token/info", headers=bearer(expired)))
    assert introspect(client, oauth_client, expired).get_json() == {"active": False}


def test_a_disabled_client_cannot_start_an_authorization(
    app: Flask, signed_in: FlaskClient, oauth_client: ClientInfo
) -> None:
    lifecycle(app, "disable", oauth_client.client_id)
    page = signed_in.get(
        "/oauth/authorize",
        query_string={
            "response_type": "code",
            "client_id": oauth_client.client_id,
            "redirect_uri": oauth_client.redirect_uri,
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert page.status_code == 400
    assert "Location" not in page.headers


def test_disable_and_enable_are_audited_and_idempotent(
    app: Flask, oauth_client: ClientInfo
) -> None:
    first = lifecycle(app, "disable", oauth_client.client_id)
    again = lifecycle(app, "disable", oauth_client.client_id)
    assert first.disabled_at is not None and again.disabled_at == first.disabled_at
    lifecycle(app, "enable", oauth_client.client_id)
    assert lifecycle(app, "enable", oauth_client.client_id).disabled_at is None
    events = [event for event, _ in audit_events(app, oauth_client.client_id)]
    # Only changes are events: a repeated command changes nothing.
    assert events == ["client.created", "client.disabled", "client.enabled"]


def test_unknown_client_id_is_a_clear_error(app: Flask) -> None:
    from app.oauth2.services import clients as services

    for action in ("disable", "enable", "delete"):
        with pytest.raises(services.UnknownClient, match="no client with client_id nope"):
            lifecycle(app, action, "nope")


# --- the first-party client ---------------------------------------------------------------


def test_disabling_the_first_party_client_stops_device_tokens_and_logins(
    app: Flask, client: FlaskClient, user: UserInfo
) -> None:
    from app.oauth2.services.clients import SURE_MOBILE_CLIENT_ID

    login = client.post(
        SURE_LOGIN, json={"email": user.email, "password": PASSWORD, "device": DEVICE}
    )
    assert login.status_code == 200, login.get_json()
    device_token = login.get_json()["access_token"]

    lifecycle(app, "disable", SURE_MOBILE_CLIENT_ID)
    assert client.get(RESOURCE, headers=bearer(device_token)).status_code == 401
    refused = client.post(
        SURE_LOGIN, json={"email": user.email, "password": PASSWORD, "device": DEVICE}
    )
    assert refused.status_code == 403, refused.get_data(as_text=True)
    assert error_body(refused) == {"error": "forbidden", "message": "This app has been disabled"}
    signup = client.post(
        "/api/v1/auth/signup",
        json={
            "user": {
                "email": "late@example.com",
                "password": "Str0ng&Secure!",
                "first_name": "Late",
                "last_name": "Comer",
            },
            "device": DEVICE,
        },
    )
    assert signup.status_code == 403, signup.get_data(as_text=True)
    with app.app_context():  # refused as one unit: no account was left behind
        from app.identity import users

        assert users.find_by_email("late@example.com") is None

    lifecycle(app, "enable", SURE_MOBILE_CLIENT_ID)
    assert client.get(RESOURCE, headers=bearer(device_token)).status_code == 200


def test_the_first_party_client_cannot_be_deleted(
    app: Flask, client: FlaskClient, user: UserInfo
) -> None:
    from app.oauth2.services import clients as services

    login = client.post(
        SURE_LOGIN, json={"email": user.email, "password": PASSWORD, "device": DEVICE}
    )
    assert login.status_code == 200
    with pytest.raises(services.ClientLifecycleError, match="disable it instead"):
        lifecycle(app, "delete", services.SURE_MOBILE_CLIENT_ID)
    assert client.get(RESOURCE, headers=bearer(login.get_json()["access_token"])).status_code == 200


# --- delete --------------------------------------------------------------------------------


def test_delete_revokes_everything_the_client_holds_and_nothing_else(
    app: Flask,
    client: FlaskClient,
    signed_in: FlaskClient,
    user: UserInfo,
    oauth_client: ClientInfo,
    other_client: ClientInfo,
    tokens: dict[str, Any],
    other_tokens: dict[str, Any],
) -> None:
    pending = authorize(signed_in, oauth_client, scope="read")  # a code not yet redeemed
    key = make_api_key(app, user)
    # A key the client minted (through a token, before third-party clients were refused).
    minted = make_api_key(app, user, source="web", created_by_client_id=oauth_client.client_id)
    assert client.get(RESOURCE, headers={"X-Api-Key": minted}).status_code == 200

    deleted = lifecycle(app, "delete", oauth_client.client_id)
    assert deleted.revoked_tokens == 1 and deleted.revoked_codes == 1
    assert deleted.revoked_api_keys == 1
    assert client.get(RESOURCE, headers={"X-Api-Key": minted}).status_code == 401

    # Everything the client held is dead, and stays dead.
    assert_invalid_token(client.get(RESOURCE, headers=bearer(tokens["access_token"])))
    assert introspect(client, other_client, tokens["refresh_token"]).get_json() == {"active": False}
    response = client.post(SURE_REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 401
    # Its client_id never authenticates again, with its old secret or without one.
    response = exchange_code(client, oauth_client, pending)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    response = refresh(client, oauth_client, tokens["refresh_token"])
    assert response.status_code == 401
    # A tombstone cannot be brought back.
    from app.oauth2.services import clients as services

    with pytest.raises(services.ClientLifecycleError, match="deleted"):
        lifecycle(app, "enable", oauth_client.client_id)
    with app.app_context():
        from app.extensions import db
        from app.oauth2.models import AuthorizationCode, OAuthClient

        row = db.session.scalar(
            select(OAuthClient).where(OAuthClient.client_id == oauth_client.client_id)
        )
        assert row is not None
        assert row.deleted_at is not None and row.disabled_at is not None
        assert row.client_secret_digest is None
        assert (
            db.session.scalar(
                select(AuthorizationCode.used_at).where(
                    AuthorizationCode.client_id == oauth_client.client_id
                )
            )
            is not None
        )

    # Nothing of anybody else: the other client's tokens, the user's API key, the user.
    assert client.get(RESOURCE, headers=bearer(other_tokens["access_token"])).status_code == 200
    assert refresh(client, other_client, other_tokens["refresh_token"]).status_code == 200
    assert client.get(RESOURCE, headers={"X-Api-Key": key}).status_code == 200
    assert signed_in.get(RESOURCE).status_code == 200
    apps = signed_in.get("/oauth/authorized_applications").get_json()["applications"]
    assert [a["client_id"] for a in apps] == [other_client.client_id]

    # Listed no more; audited with what it revoked.
    with app.app_context():
        listed = [c.client_id for c in services.list_clients()]
    assert oauth_client.client_id not in listed and other_client.client_id in listed
    events = dict(audit_events(app, oauth_client.client_id))
    assert events["client.deleted"] == {
        "revoked_tokens": 1,
        "revoked_codes": 1,
        "revoked_api_keys": 1,
    }
    with pytest.raises(services.ClientLifecycleError, match="deleted"):
        lifecycle(app, "delete", oauth_client.client_id)
