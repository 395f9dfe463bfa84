"""Break-glass in real server processes.

- The README's ``flask --app wsgi serve`` (2 gunicorn workers, embedded SQLite, no Redis):
  the per-IP and the deployment-wide limits are exact across workers, sequentially and in
  parallel, and every admitted request left exactly one ``break_glass.used`` row.
- PostgreSQL, the server logged in as a dedicated role: once ``INSERT`` on ``audit_events``
  is revoked from that role, break-glass requests get 503 and their view never runs, while
  an ordinary credential keeps working (003.43, T7).
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.breakglass.helpers import MASTER_KEY, expiry
from tests.support.database import ON_POSTGRES, requires_postgres
from tests.support.servers import BIN, PASSWORD, LiveServer, free_port, running_server, server_env

pytestmark = pytest.mark.slow

IP_LIMIT = 3
DEPLOYMENT_LIMIT = 8


def _break_glass_env(**extra: str) -> dict[str, str]:
    return {
        "BREAK_GLASS_ENABLED": "true",
        "MASTER_KEY": MASTER_KEY,
        "BREAK_GLASS_EXPIRES_AT": expiry(days=1),
        "BREAK_GLASS_PERMISSIONS": "tags.view,tags.write",
        **extra,
    }


def _tags(base: str, headers: dict[str, str], name: str | None = None) -> requests.Response:
    if name is None:
        return requests.get(base + "/api/v1/tags", headers=headers, timeout=30)
    return requests.post(
        base + "/api/v1/tags", json={"tag": {"name": name}}, headers=headers, timeout=30
    )


def _master(tenant: str, ip: str | None = None) -> dict[str, str]:
    headers = {
        "X-Master-Key": MASTER_KEY,
        "X-Tenant-ID": tenant,
        "X-Break-Glass-Reason": "INC-9: live proof",
    }
    if ip is not None:
        headers["X-Forwarded-For"] = ip  # TRUSTED_PROXY_COUNT=1: the client IP
    return headers


# --- (a) the README's serve, several workers ------------------------------------------------


@contextmanager
def readme_serve(env: dict[str, str], port: int, log_path: Path) -> Iterator[str]:
    command = [str(BIN / "flask"), "--app", "wsgi", "serve", "--port", str(port)]
    with running_server(env, port, log_path, command=command) as process:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) == 2, f"serve should run 2 workers, found {children}"
        yield f"http://127.0.0.1:{port}"


def _parallel(base: str, tenant: str, ips: list[str]) -> list[int]:
    with ThreadPoolExecutor(max_workers=12) as pool:
        return list(pool.map(lambda ip: _tags(base, _master(tenant, ip)).status_code, ips))


def test_readme_serve_limits_break_glass_exactly_across_workers(tmp_path: Path) -> None:
    port = free_port()
    env = server_env(
        tmp_path,
        f"http://127.0.0.1:{port}",
        TRUSTED_PROXY_COUNT="1",
        **_break_glass_env(
            BREAK_GLASS_RATE_LIMIT=f"{DEPLOYMENT_LIMIT} per 1 hour",
            BREAK_GLASS_RATE_LIMIT_IP=f"{IP_LIMIT} per 1 hour",
        ),
    )
    env.pop("DATABASE_URL")  # the embedded default: instance/tollgate.sqlite3
    server = LiveServer(f"http://127.0.0.1:{port}", env)
    with readme_serve(env, port, tmp_path / "serve.log") as base:
        tenant = server.cli("users", "create", "--email", "t@example.com", "--password", PASSWORD)
        family = tenant["family_id"]
        # One IP, sequentially (the requests land on both workers): 3 pass, then 429.
        first = [_tags(base, _master(family, "10.1.0.1")) for _ in range(IP_LIMIT + 2)]
        assert [r.status_code for r in first] == [200] * IP_LIMIT + [429, 429]
        assert 0 < int(first[-1].headers["Retry-After"]) <= 3600
        # One IP, in parallel: exactly IP_LIMIT of 4 x IP_LIMIT.
        statuses = _parallel(base, family, ["10.1.0.2"] * (4 * IP_LIMIT))
        assert statuses.count(200) == IP_LIMIT, statuses
        # Many IPs at once: the deployment has DEPLOYMENT_LIMIT - 2 * IP_LIMIT units left.
        left = DEPLOYMENT_LIMIT - 2 * IP_LIMIT
        statuses = _parallel(base, family, [f"10.2.0.{i % 6}" for i in range(18)])
        assert statuses.count(200) == left, statuses
        assert statuses.count(429) == 18 - left, statuses
        assert _tags(base, _master(family, "10.3.0.1")).status_code == 429
    database = sqlite3.connect(tmp_path / "tollgate.sqlite3")
    try:
        counts = dict(
            database.execute(
                "SELECT event, count(*) FROM audit_events WHERE event LIKE 'break_glass.%' "
                "GROUP BY event"
            ).fetchall()
        )
    finally:
        database.close()
    requests_sent = IP_LIMIT + 2 + 4 * IP_LIMIT + 18 + 1
    assert counts["break_glass.used"] == DEPLOYMENT_LIMIT
    assert counts["break_glass.completed"] == DEPLOYMENT_LIMIT
    assert counts["break_glass.denied"] == requests_sent - DEPLOYMENT_LIMIT


# --- (b) PostgreSQL: the audit table unwritable for the server's role -----------------------


@contextmanager
def server_role(superuser: Any, database: str) -> Iterator[tuple[str, str]]:
    """A LOGIN role for the server with what it needs (rows and sequences); dropped after."""
    name = f"tollgate_bg_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    with superuser.begin() as conn:
        conn.execute(text(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'"))
        conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO {name}'))
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {name}"))
        conn.execute(
            text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {name}")
        )
        conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {name}"))
    try:
        yield name, password
    finally:
        with superuser.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {name}"))
            conn.execute(text(f"DROP ROLE {name}"))


def _tag_names(superuser: Any, family: str) -> list[str]:
    with superuser.connect() as conn:
        rows = conn.execute(
            text("SELECT name FROM tags WHERE family_id = :f ORDER BY name"), {"f": family}
        )
        return [row.name for row in rows]


@requires_postgres
def test_postgres_audit_unwritable_for_the_server_refuses_break_glass(
    tmp_path: Path, database_url: str
) -> None:
    assert ON_POSTGRES
    superuser = create_engine(database_url)
    url = urlsplit(database_url.replace("+psycopg", ""))
    database = url.path.lstrip("/")
    port = free_port()
    try:
        with server_role(superuser, database) as (role, password):
            server_url = (
                f"postgresql://{role}:{password}@{url.hostname}:{url.port or 5432}/{database}"
            )
            env = server_env(
                tmp_path,
                f"http://127.0.0.1:{port}",
                DATABASE_URL=server_url,
                AUTO_MIGRATE="false",
                **_break_glass_env(),
            )
            server = LiveServer(f"http://127.0.0.1:{port}", env)
            owner = server.cli(
                "users", "create", "--email", "pg-owner@example.com", "--password", PASSWORD
            )
            family = owner["family_id"]
            key = server.cli(
                "apikeys", "create", "--email", owner["email"], "--name", "ops",
                "--scope", "read_write",
            )["key"]  # fmt: skip
            with running_server(env, port, tmp_path / "server.log", workers=2):
                base = server.base_url
                assert _tags(base, _master(family), "before").status_code == 201
                with superuser.begin() as conn:
                    conn.execute(text(f"REVOKE INSERT ON audit_events FROM {role}"))
                refused = _tags(base, _master(family), "unaudited")
                assert refused.status_code == 503, refused.text
                assert refused.json()["error"] == "service_unavailable"
                assert _tags(base, _master(family)).status_code == 503
                ordinary = _tags(base, {"X-Api-Key": key}, "ordinary")
                assert ordinary.status_code == 201, ordinary.text
                assert _tags(base, {"X-Api-Key": key}).status_code == 200
            assert _tag_names(superuser, family) == ["before", "ordinary"]
            with superuser.connect() as conn:
                events = conn.execute(
                    text(
                        "SELECT event FROM audit_events WHERE event LIKE 'break_glass.%' "
                        "ORDER BY id"
                    )
                ).scalars()
                assert list(events) == ["break_glass.used", "break_glass.completed"]
    finally:
        superuser.dispose()
