"""POST /api/v1/auth/refresh: contract §3.3, §3.9 and §7.1 cases 18-21; bodies as JSON and as
form data (§2.2). Rotation with /oauth/token's guarantees: the old refresh token works once,
a replay revokes the whole lineage."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.identity.models import Device
from app.oauth2.models import OAuthToken
from tests.firstparty.conftest import (
    ACCOUNTS,
    DEVICE,
    FORMATS,
    INVALID_REFRESH,
    ME,
    REFRESH,
    assert_no_store,
    assert_token_block,
    bearer,
    device,
    mobile_login,
    send,
    status_of,
)

TOKEN_BLOCK = {"access_token", "refresh_token", "token_type", "expires_in", "created_at"}


@pytest.fixture(params=FORMATS)
def fmt(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def mobile(client, user) -> dict:
    return mobile_login(client, user.email)


def rotate(client, refresh_token: str, fmt: str = "json", **extra):  # type: ignore[no-untyped-def]
    return send(client, REFRESH, {"refresh_token": refresh_token, **extra}, fmt)


# --- §7.1 refresh cases --------------------------------------------------------------------


def test_18_refresh_rotates_the_token(client, mobile, count, fmt):
    tokens = count(OAuthToken)

    response = rotate(client, mobile["refresh_token"], fmt, device={"device_id": "test-device-123"})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == TOKEN_BLOCK  # the token block only: no user, no scope
    assert_token_block(body)
    assert_no_store(response)
    assert body["access_token"] != mobile["access_token"]
    assert body["refresh_token"] != mobile["refresh_token"]
    assert count(OAuthToken) == tokens + 1
    # The old token row is revoked at once: its access token and its refresh token.
    assert status_of(client, bearer(mobile["access_token"])) == 401
    assert status_of(client, bearer(body["access_token"])) == 200


def test_19_unknown_refresh_token_is_401(client, mobile, count, fmt):
    tokens = count(OAuthToken)

    response = rotate(client, "invalid_token", fmt)

    assert (response.status_code, response.get_json()) == (401, INVALID_REFRESH)
    assert count(OAuthToken) == tokens


def test_20_refresh_after_the_owner_was_deactivated_is_401(client, user, mobile, set_user,
                                                           count, fmt):
    set_user(user.id, active=False)
    tokens = count(OAuthToken)

    response = rotate(client, mobile["refresh_token"], fmt)

    assert (response.status_code, response.get_json()) == (401, INVALID_REFRESH)
    assert count(OAuthToken) == tokens


@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"refresh_token": "   "},
                                  {"refresh_token": None}, {"device": DEVICE}])
def test_21_missing_refresh_token_is_400(client, body, fmt):
    response = send(client, REFRESH, body, fmt) if body else client.post(REFRESH)

    assert (response.status_code, response.get_json()) == (
        400, {"error": "Refresh token is required"})


# --- rotation and replay ------------------------------------------------------------------------


def test_the_old_refresh_token_works_exactly_once(client, mobile, fmt):
    first = rotate(client, mobile["refresh_token"], fmt)
    assert first.status_code == 200

    replay = rotate(client, mobile["refresh_token"], fmt)

    assert (replay.status_code, replay.get_json()) == (401, INVALID_REFRESH)


def test_a_replayed_refresh_token_revokes_the_lineage(client, mobile, fmt):
    second = rotate(client, mobile["refresh_token"], fmt).get_json()
    third = rotate(client, second["refresh_token"], fmt).get_json()
    assert status_of(client, bearer(third["access_token"])) == 200

    # Someone replays the first refresh token (a thief, or a confused client) ...
    assert rotate(client, mobile["refresh_token"], fmt).status_code == 401

    # ... and the whole lineage dies: the newest access and refresh tokens too.
    assert status_of(client, bearer(third["access_token"])) == 401
    assert rotate(client, third["refresh_token"], fmt).get_json() == INVALID_REFRESH


def test_replay_revokes_only_that_lineage(client, user):
    phone = mobile_login(client, user.email)
    tablet = mobile_login(client, user.email, device_info=device(device_id="tablet"))
    rotate(client, phone["refresh_token"])

    assert rotate(client, phone["refresh_token"]).status_code == 401

    assert status_of(client, bearer(tablet["access_token"])) == 200
    assert rotate(client, tablet["refresh_token"]).status_code == 200


def test_refresh_keeps_owner_device_and_scope(app, client, user, mobile):
    body = rotate(client, mobile["refresh_token"]).get_json()

    from app import crypto
    from app.extensions import db
    with app.app_context():
        old = db.session.scalar(select(OAuthToken).where(
            OAuthToken.refresh_token_digest == crypto.digest(mobile["refresh_token"])))
        new = db.session.scalar(select(OAuthToken).where(
            OAuthToken.access_token_digest == crypto.digest(body["access_token"])))
        assert new.user_id == old.user_id == user.id
        assert new.client_id == old.client_id == "sure-mobile"
        assert new.device_id == old.device_id is not None
        assert new.scope == old.scope == "read_write"
        assert old.revoked_at is not None or old.refresh_used_at is not None
    # A rotated token still writes (read_write) and belongs to the same user.
    me = client.get(ACCOUNTS, headers=bearer(body["access_token"]))
    assert me.status_code == 200


def test_refresh_needs_no_device_and_no_client_id(client, mobile):
    response = rotate(client, mobile["refresh_token"])
    assert response.status_code == 200
    assert_token_block(response.get_json())


def test_refresh_bumps_the_named_devices_last_seen(app, client, mobile, count):
    from app.extensions import db
    with app.app_context():
        before = db.session.scalar(select(Device.last_seen_at))

    assert rotate(client, mobile["refresh_token"],
                  device={"device_id": DEVICE["device_id"]}).status_code == 200

    with app.app_context():
        assert db.session.scalar(select(Device.last_seen_at)) >= before
    assert count(Device) == 1


def test_the_access_token_is_not_a_refresh_token(client, mobile):
    response = rotate(client, mobile["access_token"])
    assert (response.status_code, response.get_json()) == (401, INVALID_REFRESH)
    # And presenting it there did not revoke anything.
    assert status_of(client, bearer(mobile["access_token"])) == 200


def test_refresh_after_deactivation_through_the_api_is_401(client, make_user, user, mobile):
    make_user(email="root@example.com", role="super_admin")
    assert client.delete(ME, headers=bearer(mobile["access_token"])).status_code == 200

    response = rotate(client, mobile["refresh_token"])

    assert (response.status_code, response.get_json()) == (401, INVALID_REFRESH)


# --- tokens issued by /oauth/token (§3.3 "Not checked") ----------------------------------------


def test_a_token_issued_by_oauth_token_can_be_refreshed_here(client, tokens):
    response = rotate(client, tokens["refresh_token"])

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == TOKEN_BLOCK
    assert "scope" not in body
    assert status_of(client, bearer(body["access_token"])) == 200
    assert status_of(client, bearer(tokens["access_token"])) == 401
    # The same single use: the old one is spent, a replay kills the new one.
    assert rotate(client, tokens["refresh_token"]).status_code == 401
    assert status_of(client, bearer(body["access_token"])) == 401


def test_refresh_here_always_answers_thirty_days(client, tokens):
    """Contract §3.3 and §3.9: a refresh through /api/v1/auth/refresh mints a 30-day token
    (expires_in 2592000), whatever issued the one it replaces."""
    response = rotate(client, tokens["refresh_token"])

    assert response.status_code == 200
    assert response.get_json()["expires_in"] == 2592000


def test_refresh_token_of_one_lineage_from_oauth_token_replayed_here(client, tokens,
                                                                   oauth_client):
    from tests.conftest import refresh as oauth_refresh

    rotated = oauth_refresh(client, oauth_client, tokens["refresh_token"])
    assert rotated.status_code == 200

    # Replaying the spent one at Sure's endpoint is still reuse: the lineage is revoked.
    assert rotate(client, tokens["refresh_token"]).status_code == 401
    assert status_of(client, bearer(rotated.get_json()["access_token"])) == 401
