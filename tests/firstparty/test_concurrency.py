"""Single use under real concurrency, on PostgreSQL (row locks, READ COMMITTED): one invite
code and 10 simultaneous signups -> exactly one account; one refresh token and 20
simultaneous refreshes at /api/v1/auth/refresh -> exactly one successor. Never a 5xx."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.identity.models import Device, Family, InviteCode, User
from app.oauth2.models import OAuthToken
from tests.conftest import ON_POSTGRES
from tests.firstparty.conftest import REFRESH, SIGNUP, mobile_login, signup_body

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not ON_POSTGRES, reason="concurrency proofs need PostgreSQL: set "
                       "TEST_DATABASE_URL (SQLite serialises every writer anyway)"),
    pytest.mark.config(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 25, "max_overflow": 0},
                       RATE_LIMIT_SIGNUP_IP="100 per 1 hour"),
]


def run_in_parallel(app, n: int, send):  # type: ignore[no-untyped-def]
    """``send(test_client, i)`` from n threads, one Flask test client each, released at once."""
    barrier = threading.Barrier(n)

    def one(i: int):  # type: ignore[no-untyped-def]
        http = app.test_client()
        barrier.wait()
        response = send(http, i)
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


@pytest.mark.config(REQUIRE_INVITE_CODE=True)
def test_one_invite_code_ten_parallel_signups_one_account(app, make_invites, count):
    [code] = make_invites(1)
    n = 10

    results = run_in_parallel(app, n, lambda http, i: http.post(
        SIGNUP, json=signup_body(f"racer{i}@example.com", invite_code=code)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [403] * (n - 1), results
    assert all(body == {"error": "Invalid invite code"}
               for status, body in results if status == 403)
    assert count(User) == 1
    assert count(Family) == 1  # the losers' families were rolled back
    assert count(Device) == 1
    assert count(OAuthToken) == 1
    assert count(InviteCode, InviteCode.used_at.is_(None)) == 0
    assert count(InviteCode) == 1


def test_one_refresh_token_twenty_parallel_refreshes_one_successor(app, client, user, count):
    tokens = mobile_login(client, user.email)
    n = 20

    results = run_in_parallel(app, n, lambda http, i: http.post(
        REFRESH, json={"refresh_token": tokens["refresh_token"]}))

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [401] * (n - 1), results
    assert all(body == {"error": "Invalid refresh token"}
               for status, body in results if status == 401)
    # The login's token plus exactly one successor: never two live refresh tokens.
    assert count(OAuthToken) == 2
    assert count(OAuthToken, OAuthToken.parent_id.is_not(None)) == 1
