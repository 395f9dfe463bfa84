"""POST /auth/refresh and Sure's POST /api/v1/auth/refresh (seed 003.15; PRODUCT.md "Login
paths"): one implementation for both first-party lineages, each keeping its profile (a session
gets a new 15-minute JWT and a 14-day refresh token, a Sure device lineage its 30-day opaque
pair); sessions rotate strictly, a replay ends the whole session and is audited; a
third-party client's refresh token is refused there, and a session's is refused at
/oauth/token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app import crypto
from app.clock import utcnow
from app.jwtprofile import unverified_header
from tests.sessions.conftest import REFRESH, SURE_REFRESH, TOKEN_KEYS, bearer, me_status, sign_in
from tests.support.http import assert_no_store
from tests.support.oauth import refresh as oauth_refresh
from tests.support.sure import DEVICE, INVALID_REFRESH, THIRTY_DAYS

BOTH_PATHS = pytest.mark.parametrize("path", [REFRESH, SURE_REFRESH])


def rotate(api, refresh_token: str, path: str = REFRESH):  # type: ignore[no-untyped-def]
    return api.post(path, json={"refresh_token": refresh_token})


def sid_of(token: str) -> str:
    import base64
    import json

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"]


def device_login(api, user) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = api.post(
        "/api/v1/auth/login",
        json={"email": user.email, "password": user.password, "device": DEVICE},
    )
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


# --- a session keeps its profile at both paths --------------------------------------------------


@BOTH_PATHS
def test_a_session_refresh_gives_a_new_jwt_and_refresh_token(
    api, user, session, token_rows, audit, path: str
) -> None:
    response = rotate(api, session["refresh_token"], path)

    assert response.status_code == 200, response.get_json()
    assert_no_store(response)
    body = response.get_json()
    assert set(body) == TOKEN_KEYS
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert unverified_header(body["access_token"])["typ"] == "at+jwt"  # type: ignore[index]
    assert body["refresh_token"].startswith(crypto.PREFIX_REFRESH_TOKEN)
    assert body["refresh_token"] != session["refresh_token"]
    assert sid_of(body["access_token"]) == sid_of(session["access_token"])  # same session
    first, second = token_rows(sid_of(session["access_token"]))
    assert second.parent_id == first.id and second.profile == "session"
    assert second.refresh_expires_at - second.issued_at == timedelta(days=14)
    # The old access JWT is rotated away at once; the new one works.
    assert me_status(api, session["access_token"]) == 401
    assert me_status(api, body["access_token"]) == 200
    [refreshed] = audit("session.refreshed")
    assert refreshed["session_id"] == sid_of(session["access_token"])
    assert refreshed["actor_user_id"] == user.id


@BOTH_PATHS
def test_a_sure_device_lineage_keeps_its_profile(api, user, token_rows, path: str) -> None:
    mobile = device_login(api, user)

    response = rotate(api, mobile["refresh_token"], path)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == TOKEN_KEYS
    assert body["expires_in"] == THIRTY_DAYS
    assert body["access_token"].startswith(crypto.PREFIX_ACCESS_TOKEN)  # opaque, not a JWT
    assert all(row.profile == "mobile" for row in token_rows())
    assert api.get("/api/v1/accounts", headers=bearer(body["access_token"])).status_code == 200
    assert me_status(api, body["access_token"]) == 200


def test_a_chain_of_refreshes_stays_one_session(api, user, session) -> None:
    current = session
    for _ in range(3):
        current = rotate(api, current["refresh_token"]).get_json()
    assert sid_of(current["access_token"]) == sid_of(session["access_token"])
    assert me_status(api, current["access_token"]) == 200


def test_each_refresh_token_lives_fourteen_days(app, api, user, session) -> None:
    from app.audit.services import SYSTEM
    from app.firstparty import tokens

    with app.app_context():
        later = utcnow() + timedelta(days=13)
        second = tokens.rotate_refresh_token(session["refresh_token"], now=later, caller=SYSTEM)
        # The successor's 14 days start at its own issuance.
        third = tokens.rotate_refresh_token(
            second["refresh_token"], now=later + timedelta(days=13), caller=SYSTEM
        )
        assert third["expires_in"] == 900
        with pytest.raises(tokens.InvalidRefreshToken):
            tokens.rotate_refresh_token(
                third["refresh_token"], now=later + timedelta(days=27, hours=1), caller=SYSTEM
            )


# --- strict rotation, replay ends the session --------------------------------------------------


@BOTH_PATHS
def test_a_replayed_refresh_token_ends_the_whole_session(
    api, user, session, token_rows, audit, path: str
) -> None:
    second = rotate(api, session["refresh_token"], path).get_json()

    replay = rotate(api, session["refresh_token"], path)

    assert replay.status_code == 401
    assert replay.get_json() == INVALID_REFRESH
    assert me_status(api, second["access_token"]) == 401
    assert rotate(api, second["refresh_token"], path).status_code == 401
    sid = sid_of(session["access_token"])
    assert all(row.revoked_at is not None for row in token_rows(sid))
    [reused] = audit("refresh_token.reused")
    assert reused["outcome"] == "failure"
    assert reused["lineage_id"] == sid and reused["revoked_tokens"] == 2


def test_sessions_rotate_strictly_where_sure_devices_get_a_grace(api, user, session) -> None:
    """Sure's app retries within FIRST_PARTY_REFRESH_REUSE_INTERVAL; a session does not."""
    mobile = device_login(api, user)
    assert rotate(api, mobile["refresh_token"]).status_code == 200
    assert rotate(api, mobile["refresh_token"]).status_code == 200  # a sibling pair

    assert rotate(api, session["refresh_token"]).status_code == 200
    assert rotate(api, session["refresh_token"]).status_code == 401


@pytest.mark.config(SESSION_REFRESH_REUSE_INTERVAL=30)
def test_the_session_reuse_interval_is_configurable(api, user, session, audit) -> None:
    first = rotate(api, session["refresh_token"])
    retry = rotate(api, session["refresh_token"])

    assert first.status_code == 200 and retry.status_code == 200
    assert me_status(api, retry.get_json()["access_token"]) == 200
    assert len(audit("refresh_token.retried")) == 1


def test_one_sessions_replay_leaves_the_users_other_sessions_alone(api, user, session) -> None:
    other = sign_in(api, user)
    rotate(api, session["refresh_token"])
    rotate(api, session["refresh_token"])  # replay

    assert me_status(api, other["access_token"]) == 200
    assert rotate(api, other["refresh_token"]).status_code == 200


# --- what is refused ---------------------------------------------------------------------------


@BOTH_PATHS
def test_a_third_party_clients_refresh_token_is_refused(
    api, tokens, oauth_client, path: str
) -> None:
    response = rotate(api, tokens["refresh_token"], path)

    assert response.status_code == 401
    assert response.get_json() == INVALID_REFRESH
    # Not found, so nothing of the client's was revoked: it still refreshes at /oauth/token.
    assert oauth_refresh(api, oauth_client, tokens["refresh_token"]).status_code == 200


def test_a_session_is_not_refreshed_at_the_oauth_token_endpoint(api, user, session) -> None:
    response = api.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": session["refresh_token"],
            "client_id": "sure-mobile",
        },
    )

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    # Nothing was claimed: the session goes on.
    assert me_status(api, session["access_token"]) == 200
    assert rotate(api, session["refresh_token"]).status_code == 200


def test_a_deactivated_users_session_cannot_be_refreshed(api, user, session, set_user) -> None:
    set_user(user.id, active=False)

    assert rotate(api, session["refresh_token"]).get_json() == INVALID_REFRESH


def test_after_a_session_epoch_bump_the_refresh_token_ends_the_session(
    api, user, session, set_user, audit, token_rows
) -> None:
    set_user(user.id, session_epoch=1)  # "sign out everywhere"

    response = rotate(api, session["refresh_token"])

    assert response.status_code == 401
    assert response.get_json() == INVALID_REFRESH
    [ended] = audit("session.ended")
    assert ended["reason"] == "session_epoch"
    assert all(row.revoked_at is not None for row in token_rows())
    set_user(user.id, session_epoch=0)  # even back at the old epoch, the session stays over
    assert rotate(api, session["refresh_token"]).status_code == 401


def test_an_altered_refresh_token_is_unknown(api, session) -> None:
    value = session["refresh_token"]
    head, _, epoch = value.rpartition(".")
    for altered in (f"{head}.{int(epoch) + 1}", head, value + "0"):
        assert rotate(api, altered).get_json() == INVALID_REFRESH
    assert rotate(api, value).status_code == 200  # none of them was taken for a replay


def test_a_missing_refresh_token_is_sures_400(api) -> None:
    response = api.post(REFRESH, json={})

    assert response.status_code == 400
    assert response.get_json() == {"error": "Refresh token is required"}


def test_another_regions_instance_does_not_refresh_the_session(
    app, api, user, session, database_url, instance_dir
) -> None:
    from app import create_app
    from tests.support.config import base_config

    eu_app = create_app({**base_config(database_url, instance_dir), "REGION": "eu"})
    try:
        response = rotate(eu_app.test_client(), session["refresh_token"])
    finally:
        from app.extensions import db

        with eu_app.app_context():
            db.session.remove()
            db.engine.dispose()

    assert response.status_code == 401
    assert me_status(api, session["access_token"]) == 200  # refused there, untouched here
    assert rotate(api, session["refresh_token"]).status_code == 200
