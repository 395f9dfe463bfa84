"""POST /api/v1/auth/refresh: contract §3.3, §3.9 and §7.1 cases 18-21; bodies as JSON and as
form data (§2.2). Rotation with /oauth/token's guarantees: the old refresh token works once,
a replay revokes the whole lineage."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.identity.models import Device
from app.oauth2.models import OAuthToken
from tests.support.http import FORMATS, assert_no_store, bearer, send
from tests.support.sure import (
    ACCOUNTS,
    DEVICE,
    INVALID_REFRESH,
    ME,
    REFRESH,
    assert_token_block,
    device,
    mobile_login,
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


def test_20_refresh_after_the_owner_was_deactivated_is_401(
    client, user, mobile, set_user, count, fmt
):
    set_user(user.id, active=False)
    tokens = count(OAuthToken)

    response = rotate(client, mobile["refresh_token"], fmt)

    assert (response.status_code, response.get_json()) == (401, INVALID_REFRESH)
    assert count(OAuthToken) == tokens


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"refresh_token": ""},
        {"refresh_token": "   "},
        {"refresh_token": None},
        {"device": DEVICE},
    ],
)
def test_21_missing_refresh_token_is_400(client, body, fmt):
    response = send(client, REFRESH, body, fmt) if body else client.post(REFRESH)

    assert (response.status_code, response.get_json()) == (
        400,
        {"error": "Refresh token is required"},
    )


# --- rotation and replay ------------------------------------------------------------------------


@pytest.mark.config(FIRST_PARTY_REFRESH_REUSE_INTERVAL=0)  # 0: no retry window (strict)
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


@pytest.mark.config(FIRST_PARTY_REFRESH_REUSE_INTERVAL=0)
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
        old = db.session.scalar(
            select(OAuthToken).where(
                OAuthToken.refresh_token_digest == crypto.digest(mobile["refresh_token"])
            )
        )
        new = db.session.scalar(
            select(OAuthToken).where(
                OAuthToken.access_token_digest == crypto.digest(body["access_token"])
            )
        )
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

    assert (
        rotate(
            client, mobile["refresh_token"], device={"device_id": DEVICE["device_id"]}
        ).status_code
        == 200
    )

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


# --- tokens of other clients: first-party lineages only (RFC 6749 §6, §10.4) ------------------
# Sure's endpoint authenticates no client, so it must not rotate a token that /oauth/token
# would rotate only with the client's authentication. Deliberately stricter than Sure's
# "Not checked" (§3.3): a third-party token is answered exactly like an unknown one.


def test_a_third_party_refresh_token_is_refused_here(client, tokens, oauth_client, count):
    from tests.support.oauth import refresh as oauth_refresh

    rows = count(OAuthToken)

    response = rotate(client, tokens["refresh_token"])

    assert (response.status_code, response.get_json()) == (401, INVALID_REFRESH)
    assert count(OAuthToken) == rows  # nothing rotated ...
    assert status_of(client, bearer(tokens["access_token"])) == 200  # ... nothing revoked
    # The client itself still refreshes it, with its client authentication.
    rotated = oauth_refresh(client, oauth_client, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.get_json()


def test_a_public_third_party_clients_refresh_token_is_refused_here(
    client, signed_in, public_client
):
    from tests.support.oauth import authorize, exchange_code
    from tests.support.oauth import refresh as oauth_refresh

    issued = exchange_code(signed_in, public_client, authorize(signed_in, public_client))
    assert issued.status_code == 200
    body = issued.get_json()

    response = rotate(client, body["refresh_token"])

    assert (response.status_code, response.get_json()) == (401, INVALID_REFRESH)
    assert oauth_refresh(client, public_client, body["refresh_token"]).status_code == 200


def test_a_spent_third_party_refresh_token_here_revokes_nothing(client, tokens, oauth_client, app):
    from tests.support.oauth import refresh as oauth_refresh

    rotated = oauth_refresh(client, oauth_client, tokens["refresh_token"])
    assert rotated.status_code == 200

    # Not its client's attempt: the same 401 as an unknown token, and no lineage revocation
    # (anyone could otherwise sign a third-party app out by posting its old token here).
    response = rotate(client, tokens["refresh_token"])

    assert (response.status_code, response.get_json()) == (401, INVALID_REFRESH)
    assert status_of(client, bearer(rotated.get_json()["access_token"])) == 200
    assert audit_events(app, "refresh_token.reused") == []
    assert (
        oauth_refresh(client, oauth_client, rotated.get_json()["refresh_token"]).status_code == 200
    )


def test_refresh_here_always_answers_thirty_days(client, mobile):
    """Contract §3.3 and §3.9: a refresh through /api/v1/auth/refresh mints a 30-day token
    (expires_in 2592000)."""
    response = rotate(client, mobile["refresh_token"])

    assert response.status_code == 200
    assert response.get_json()["expires_in"] == 2592000


# --- a lost answer, two unlocked refreshes: the reuse interval ---------------------------------
# Sure's app refreshes without a lock and mobile networks lose answers: within
# FIRST_PARTY_REFRESH_REUSE_INTERVAL (10 s) the just-rotated refresh token gets a sibling pair
# in the same lineage. Once any sibling is refreshed, the others die; beyond the interval (or
# after a successor was used) presenting it is a replay that revokes the lineage.


def audit_events(app, event: str) -> list:  # type: ignore[no-untyped-def]
    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.event == event)).all()


def test_a_retry_within_the_interval_gets_a_working_pair(app, client, mobile, count, fmt):
    first = rotate(client, mobile["refresh_token"], fmt)
    assert first.status_code == 200

    retry = rotate(client, mobile["refresh_token"], fmt)  # the first answer was lost

    assert retry.status_code == 200, retry.get_json()
    body = retry.get_json()
    assert set(body) == TOKEN_BLOCK
    assert_token_block(body)
    assert body["refresh_token"] != first.get_json()["refresh_token"]
    assert status_of(client, bearer(body["access_token"])) == 200
    assert count(OAuthToken) == 3  # the login's token and two siblings
    [event] = audit_events(app, "refresh_token.retried")
    assert event.outcome == "success"
    # The retried pair refreshes next time, in the same lineage.
    following = rotate(client, body["refresh_token"], fmt)
    assert following.status_code == 200
    assert status_of(client, bearer(following.get_json()["access_token"])) == 200
    assert audit_events(app, "refresh_token.reused") == []


@pytest.mark.parametrize("kept", [0, 1])
def test_whichever_sibling_is_kept_refreshes_and_the_other_dies(client, mobile, kept):
    siblings = [rotate(client, mobile["refresh_token"]).get_json() for _ in range(2)]
    keep, drop = siblings[kept], siblings[1 - kept]
    assert status_of(client, bearer(drop["access_token"])) == 200  # both live until one is used

    refreshed = rotate(client, keep["refresh_token"])

    assert refreshed.status_code == 200
    assert status_of(client, bearer(drop["access_token"])) == 401
    assert status_of(client, bearer(refreshed.get_json()["access_token"])) == 200


def test_the_dropped_sibling_presented_later_is_a_replay(app, client, mobile):
    keep = rotate(client, mobile["refresh_token"]).get_json()
    drop = rotate(client, mobile["refresh_token"]).get_json()
    newest = rotate(client, keep["refresh_token"]).get_json()

    response = rotate(client, drop["refresh_token"])

    assert (response.status_code, response.get_json()) == (401, INVALID_REFRESH)
    # Two holders of one lineage: RFC 9700 §4.14.2, the whole lineage dies.
    assert status_of(client, bearer(newest["access_token"])) == 401
    assert rotate(client, newest["refresh_token"]).status_code == 401
    assert len(audit_events(app, "refresh_token.reused")) == 1


def test_a_retry_after_a_successor_was_refreshed_is_a_replay(client, mobile):
    second = rotate(client, mobile["refresh_token"]).get_json()
    third = rotate(client, second["refresh_token"]).get_json()

    # Within the interval, but the client demonstrably moved on: never a second live pair.
    assert rotate(client, mobile["refresh_token"]).get_json() == INVALID_REFRESH

    assert status_of(client, bearer(third["access_token"])) == 401


def test_many_retries_then_one_refresh_leaves_one_pair(client, mobile):
    siblings = [rotate(client, mobile["refresh_token"]).get_json() for _ in range(3)]
    assert all(status_of(client, bearer(s["access_token"])) == 200 for s in siblings)

    newest = rotate(client, siblings[1]["refresh_token"]).get_json()

    assert [status_of(client, bearer(s["access_token"])) for s in siblings] == [401] * 3
    assert status_of(client, bearer(newest["access_token"])) == 200


def test_beyond_the_interval_a_replay_revokes_the_lineage(app, client, mobile):
    from datetime import timedelta

    from app.audit.services import SYSTEM
    from app.clock import utcnow
    from app.firstparty import tokens

    second = rotate(client, mobile["refresh_token"]).get_json()
    with app.app_context(), pytest.raises(tokens.InvalidRefreshToken):
        tokens.rotate_refresh_token(
            mobile["refresh_token"], now=utcnow() + timedelta(seconds=11), caller=SYSTEM
        )

    assert status_of(client, bearer(second["access_token"])) == 401
    assert rotate(client, second["refresh_token"]).get_json() == INVALID_REFRESH
    assert len(audit_events(app, "refresh_token.reused")) == 1


@pytest.mark.config(FIRST_PARTY_REFRESH_REUSE_INTERVAL=0)
def test_interval_zero_keeps_replays_strict(app, client, mobile):
    second = rotate(client, mobile["refresh_token"]).get_json()

    assert rotate(client, mobile["refresh_token"]).get_json() == INVALID_REFRESH

    assert status_of(client, bearer(second["access_token"])) == 401
    assert audit_events(app, "refresh_token.retried") == []


def test_a_revoked_lineage_is_not_retried(client, mobile):
    rotate(client, mobile["refresh_token"])
    second = rotate(client, mobile["refresh_token"]).get_json()
    other = rotate(client, mobile["refresh_token"]).get_json()
    rotate(client, second["refresh_token"])
    rotate(client, other["refresh_token"])  # a retired sibling: the lineage is revoked

    assert rotate(client, mobile["refresh_token"]).get_json() == INVALID_REFRESH
    assert rotate(client, second["refresh_token"]).get_json() == INVALID_REFRESH
