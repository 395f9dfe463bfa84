"""Single use under real concurrency, on PostgreSQL (row locks, READ COMMITTED): one invite
code and 10 simultaneous signups -> exactly one account; one refresh token and 20
simultaneous refreshes at /api/v1/auth/refresh -> 20 sibling pairs within the reuse interval
(exactly one successor with the interval at 0), and once any sibling is refreshed no other
stays usable. Never a 5xx."""

from __future__ import annotations

import pytest

from app.identity.models import Device, Family, InviteCode, User
from app.oauth2.models import OAuthToken
from tests.support.races import ON_POSTGRES_ONLY, race_requests
from tests.support.sure import ACCOUNTS, REFRESH, SIGNUP, mobile_login, signup_body

pytestmark = [
    *ON_POSTGRES_ONLY,
    pytest.mark.config(
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 25, "max_overflow": 0},
        RATE_LIMIT_SIGNUP_IP="100 per 1 hour",
    ),
]


@pytest.mark.config(REQUIRE_INVITE_CODE=True)
def test_one_invite_code_ten_parallel_signups_one_account(app, make_invites, count):
    [code] = make_invites(1)
    n = 10

    results = race_requests(
        app,
        n,
        lambda http, i: http.post(
            SIGNUP, json=signup_body(f"racer{i}@example.com", invite_code=code)
        ),
    )

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [403] * (n - 1), results
    assert all(
        body == {"error": "Invalid invite code"} for status, body in results if status == 403
    )
    assert count(User) == 1
    assert count(Family) == 1  # the losers' families were rolled back
    assert count(Device) == 1
    assert count(OAuthToken) == 1
    assert count(InviteCode, InviteCode.used_at.is_(None)) == 0
    assert count(InviteCode) == 1


@pytest.mark.config(FIRST_PARTY_REFRESH_REUSE_INTERVAL=0)
def test_one_refresh_token_twenty_parallel_refreshes_one_successor(app, client, user, count):
    """Strict (interval 0): exactly one winner."""
    tokens = mobile_login(client, user.email)
    n = 20

    results = race_requests(
        app, n, lambda http, i: http.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    )

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [401] * (n - 1), results
    assert all(
        body == {"error": "Invalid refresh token"} for status, body in results if status == 401
    )
    # The login's token plus exactly one successor: never two live refresh tokens.
    assert count(OAuthToken) == 2
    assert count(OAuthToken, OAuthToken.parent_id.is_not(None)) == 1


# --- the reuse interval under concurrency (Sure's app refreshes without a lock) ---------------


def status_of(http, access_token: str) -> int:  # type: ignore[no-untyped-def]
    return http.get(ACCOUNTS, headers={"Authorization": f"Bearer {access_token}"}).status_code


def live_refresh_tokens(count) -> int:  # type: ignore[no-untyped-def]
    return count(OAuthToken, OAuthToken.refresh_used_at.is_(None), OAuthToken.revoked_at.is_(None))


def live_parents(app) -> set:  # type: ignore[no-untyped-def]
    """The parents of every usable refresh token: one parent means they are all siblings."""
    from sqlalchemy import select

    from app.extensions import db

    with app.app_context():
        return set(
            db.session.scalars(
                select(OAuthToken.parent_id).where(
                    OAuthToken.refresh_used_at.is_(None), OAuthToken.revoked_at.is_(None)
                )
            )
        )


def assert_siblings_exclusive(app) -> None:  # type: ignore[no-untyped-def]
    """No parent has a used (claimed) child next to a still-usable one, and a parent with a
    used child accepts no more retries."""
    from sqlalchemy import select
    from sqlalchemy.orm import aliased

    from app.extensions import db

    child, sibling = aliased(OAuthToken), aliased(OAuthToken)
    with app.app_context():
        both = db.session.execute(
            select(child.id, sibling.id)
            .join(sibling, (sibling.parent_id == child.parent_id) & (sibling.id != child.id))
            .join(OAuthToken, OAuthToken.parent_id == child.id)  # child was refreshed
            .where(sibling.refresh_used_at.is_(None), sibling.revoked_at.is_(None))
        ).all()
        open_parents = db.session.execute(
            select(OAuthToken.id)
            .join(child, child.parent_id == OAuthToken.id)
            .join(sibling, sibling.parent_id == child.id)
            .where(OAuthToken.successor_used_at.is_(None), OAuthToken.revoked_at.is_(None))
        ).all()
    assert both == [] and open_parents == [], (both, open_parents)


def test_twenty_parallel_presentations_all_get_a_pair_and_one_survives(app, client, user, count):
    tokens = mobile_login(client, user.email)
    n = 20

    results = race_requests(
        app, n, lambda http, i: http.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    )

    assert sorted(status for status, _ in results) == [200] * n, results
    pairs = [body for _, body in results]
    assert len({pair["refresh_token"] for pair in pairs}) == n
    assert count(OAuthToken, OAuthToken.parent_id.is_not(None)) == n  # n siblings
    assert all(status_of(client, pair["access_token"]) == 200 for pair in pairs)

    kept = pairs[7]  # whichever answer the app stored last
    newest = client.post(REFRESH, json={"refresh_token": kept["refresh_token"]})

    assert newest.status_code == 200, newest.get_json()
    assert [status_of(client, pair["access_token"]) for pair in pairs] == [401] * n
    assert live_refresh_tokens(count) == 1
    assert status_of(client, newest.get_json()["access_token"]) == 200
    assert_siblings_exclusive(app)


@pytest.mark.parametrize("kept", [0, 1])
def test_two_parallel_presentations_both_200_then_the_kept_pair_refreshes(
    app, client, user, count, kept
):
    tokens = mobile_login(client, user.email)

    results = race_requests(
        app, 2, lambda http, i: http.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    )

    assert [status for status, _ in results] == [200, 200], results
    keep, drop = results[kept][1], results[1 - kept][1]
    refreshed = client.post(REFRESH, json={"refresh_token": keep["refresh_token"]})
    assert refreshed.status_code == 200
    assert status_of(client, drop["access_token"]) == 401
    assert client.post(REFRESH, json={"refresh_token": drop["refresh_token"]}).status_code == 401
    assert_siblings_exclusive(app)


def test_retries_racing_a_successors_refresh_never_leave_two_live_successors(
    app, client, user, count
):
    """Ten threads retry the rotated token while ten refresh its first successor: whatever
    the interleaving, no parent keeps a usable child beside a used one."""
    tokens = mobile_login(client, user.email)
    first = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}).get_json()
    n = 20

    results = race_requests(
        app,
        n,
        lambda http, i: http.post(
            REFRESH, json={"refresh_token": (tokens if i % 2 else first)["refresh_token"]}
        ),
    )

    assert all(status in (200, 401) for status, _ in results), results
    assert any(status == 200 for status, _ in results)
    assert len(live_parents(app)) <= 1
    assert_siblings_exclusive(app)
    # Each parent's usable children are unused siblings only: refreshing one of them leaves
    # exactly one live refresh token in the lineage (or none, if a retry came too late and
    # the lineage was revoked as a replay).
    alive = [
        body
        for status, body in results
        if status == 200 and status_of(client, body["access_token"]) == 200
    ]
    if alive:
        client.post(REFRESH, json={"refresh_token": alive[0]["refresh_token"]})
    assert live_refresh_tokens(count) <= 1
    assert_siblings_exclusive(app)


def test_parallel_refreshes_of_two_siblings_leave_at_most_one_pair(app, client, user, count):
    tokens = mobile_login(client, user.email)
    a = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}).get_json()
    b = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}).get_json()
    n = 10

    results = race_requests(
        app,
        n,
        lambda http, i: http.post(
            REFRESH, json={"refresh_token": (a if i % 2 else b)["refresh_token"]}
        ),
    )

    assert all(status in (200, 401) for status, _ in results), results
    assert any(status == 200 for status, _ in results)
    # One sibling won; the other one's holders are replayers: the lineage may die, but never
    # do both siblings go on.
    assert len(live_parents(app)) <= 1
    assert_siblings_exclusive(app)
