"""Races, proven on PostgreSQL (row locks, READ COMMITTED): 20 parallel reveals of one link
show exactly one key; 20 parallel adds for one user leave exactly one key and one mail. Never
a 5xx."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from tests.support.database import ON_POSTGRES
from tests.support.secretkeys import KEY_RE, outbox, signed_in
from tests.support.web import csrf_from

N = 20
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not ON_POSTGRES,
        reason="concurrency proofs need PostgreSQL: set TEST_DATABASE_URL "
        "(SQLite serialises every writer anyway)",
    ),
    pytest.mark.config(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": N + 5, "max_overflow": 0}),
]


def run_in_parallel(send):  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(N)

    def one(i: int):  # type: ignore[no-untyped-def]
        barrier.wait()
        return send(i)

    with ThreadPoolExecutor(max_workers=N) as pool:
        return list(pool.map(one, range(N)))


def test_twenty_parallel_reveals_show_exactly_one_key(app, user, added) -> None:
    # One signed-in browser per thread (the same user), each with its form token.
    browsers = [signed_in(app, user) for _ in range(N)]
    tokens = [csrf_from(b.get(added).get_data(as_text=True)) for b in browsers]

    def post(i: int):  # type: ignore[no-untyped-def]
        response = browsers[i].post(added, data={"csrf_token": tokens[i]})
        return response.status_code, KEY_RE.findall(response.get_data(as_text=True))

    results = run_in_parallel(post)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [410] * (N - 1), statuses
    shown = [key for _, keys in results for key in keys]
    assert len(shown) == 1

    from app import crypto
    from app.extensions import db
    from app.secretkeys.models import RevealLink, SecretKey

    with app.app_context():
        key = db.session.scalar(select(SecretKey))
        assert key.status == "active"
        assert key.key_digest == crypto.digest(shown[0])
        assert db.session.scalar(select(func.count()).select_from(RevealLink)) == 1


def test_twenty_parallel_adds_leave_one_key(app, as_admin, ska_user, user) -> None:
    admins = [as_admin(ska_user) for _ in range(N)]  # one browser per thread

    def add(i: int):  # type: ignore[no-untyped-def]
        return admins[i].add(user).status_code

    statuses = sorted(run_in_parallel(add))
    assert statuses == [201] + [409] * (N - 1), statuses

    from app.extensions import db
    from app.secretkeys.models import SecretKey

    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SecretKey)) == 1
    assert len(outbox(app, user.email)) == 1
