"""One session refresh token under real concurrency, on PostgreSQL (row locks, READ
COMMITTED): 20 simultaneous refreshes at /auth/refresh -> exactly one successor, and the
presentations that lost are replays that end the whole session (the winner's new pair
included). Never a 5xx."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.sessions.conftest import REFRESH, me_status, sign_in
from tests.support.database import requires_postgres
from tests.support.sure import INVALID_REFRESH

pytestmark = [
    pytest.mark.postgres,
    requires_postgres,
    pytest.mark.config(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 25, "max_overflow": 0}),
]


def run_in_parallel(app, n: int, send) -> list[tuple[int, Any]]:  # type: ignore[no-untyped-def]
    """``send(test_client)`` from n threads, one Flask test client each, released at once."""
    barrier = threading.Barrier(n)

    def one(_: int) -> tuple[int, Any]:
        http = app.test_client()
        barrier.wait(timeout=30)
        response = send(http)
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def test_twenty_parallel_refreshes_of_one_session_token_one_winner(
    app, api, user, token_rows, audit
) -> None:
    session = sign_in(api, user)
    n = 20

    results = run_in_parallel(
        app, n, lambda http: http.post(REFRESH, json={"refresh_token": session["refresh_token"]})
    )

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [401] * (n - 1), results
    assert all(body == INVALID_REFRESH for status, body in results if status == 401)
    [winner] = [body for status, body in results if status == 200]
    # The login's row plus exactly one successor: never two pairs of one session.
    rows = token_rows()
    assert len(rows) == 2
    assert len([row for row in rows if row.parent_id is not None]) == 1
    # The losers presented a rotated token: a replay, so the whole session is over.
    assert all(row.revoked_at is not None for row in rows)
    assert me_status(api, winner["access_token"]) == 401
    assert api.post(REFRESH, json={"refresh_token": winner["refresh_token"]}).status_code == 401
    assert audit("refresh_token.reused")
    assert len(audit("session.refreshed")) == 1
