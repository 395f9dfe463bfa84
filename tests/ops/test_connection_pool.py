"""PostgreSQL's pool pings a connection only after it sat idle (extensions.ping_idle_connections):
no round trip per checkout under load, and a connection the server dropped while idle is
replaced before a request uses it."""

from __future__ import annotations

import time

from sqlalchemy import text

from tests.support.database import requires_postgres
from tests.support.http import bearer


def _terminate_our_connections(app) -> int:  # type: ignore[no-untyped-def]
    """The server closes every connection in the app's pool (as a restart or an idle
    time-out would); nobody else's."""
    import psycopg

    from app.extensions import db

    with app.app_context():
        engine = db.engine
        idle = engine.pool.checkedin()  # type: ignore[attr-defined]
        held = [engine.connect() for _ in range(idle)]
        pids = [c.exec_driver_sql("SELECT pg_backend_pid()").scalar() for c in held]
        for connection in held:
            connection.close()
        admin = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    return len(pids)


@requires_postgres
def test_an_idle_connection_the_server_dropped_is_replaced_before_use(app, tokens) -> None:
    api = app.test_client()
    headers = bearer(tokens["access_token"])
    assert api.get("/api/v1/usage", headers=headers).status_code == 200
    assert _terminate_our_connections(app) >= 1
    time.sleep(1.2)  # idle past PING_AFTER_IDLE_SECONDS
    response = api.get("/api/v1/usage", headers=headers)
    assert response.status_code == 200, response.get_json()


@requires_postgres
def test_a_connection_in_use_is_not_pinged_at_every_checkout(app) -> None:
    from app.extensions import db

    pings = []
    with app.app_context():
        engine = db.engine
        original = engine.dialect.do_ping

        def counting_ping(dbapi_connection):  # type: ignore[no-untyped-def]
            pings.append(1)
            return original(dbapi_connection)

        engine.dialect.do_ping = counting_ping  # type: ignore[method-assign]
        try:
            for _ in range(20):
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            assert pings == []
            time.sleep(1.2)
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            assert pings == [1]
        finally:
            engine.dialect.do_ping = original  # type: ignore[method-assign]
