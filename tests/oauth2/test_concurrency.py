"""Single use under concurrency: N simultaneous redemptions of one code, N simultaneous
refreshes of one refresh token -> exactly one success, the rest invalid_grant, never a 5xx,
never an extra token. Proven on PostgreSQL (row locks, READ COMMITTED) in CI; also run on
SQLite (one writer at a time)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.oauth2.models import OAuthToken
from tests.support.oauth import authorize, exchange_code, refresh

N = 20
pytestmark = pytest.mark.config(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": N + 2, "max_overflow": 0})


def run_in_parallel(app, send):  # type: ignore[no-untyped-def]
    """Fire ``send(test_client)`` from N threads released at the same instant."""
    barrier = threading.Barrier(N)

    def one(_: int):  # type: ignore[no-untyped-def]
        http = app.test_client()
        barrier.wait()
        response = send(http)
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=N) as pool:
        return list(pool.map(one, range(N)))


def lineage_size(app, access_token_row_filter) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(select(func.count(OAuthToken.id)).where(access_token_row_filter))


def test_parallel_code_redemptions_yield_exactly_one_token(app, signed_in, oauth_client) -> None:
    auth = authorize(signed_in, oauth_client, scope="read")
    results = run_in_parallel(app, lambda http: exchange_code(http, oauth_client, auth))

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [400] * (N - 1), results
    assert all(body["error"] == "invalid_grant" for status, body in results if status == 400)
    with app.app_context():
        issued = db.session.scalar(select(func.count(OAuthToken.id)))
    assert issued == 1


def test_parallel_refreshes_yield_exactly_one_successor(app, tokens, oauth_client) -> None:
    results = run_in_parallel(
        app, lambda http: refresh(http, oauth_client, tokens["refresh_token"])
    )

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [400] * (N - 1), results
    assert all(body["error"] == "invalid_grant" for status, body in results if status == 400)
    with app.app_context():
        rows = db.session.scalars(select(OAuthToken)).all()
    # The original issuance plus exactly one successor; never two live refresh tokens.
    assert len(rows) == 2
    assert sum(1 for row in rows if row.parent_id is not None) == 1
