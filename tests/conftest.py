"""Fixtures that compose: a migrated database per test, the app, its test client, factories.

Database: SQLite by default (a migrated template file copied per test). With
``TEST_DATABASE_URL`` set (PostgreSQL), the schema is migrated once and every table is
truncated between tests. With ``TEST_REDIS_URL`` set, rate-limit counters live in Redis
(flushed between tests) instead of the database's own counter store.

Only fixtures and hooks live here; what tests import is in ``tests.support``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from app import create_app
from app.clock import utcnow
from tests.support.browser import CHROMIUM
from tests.support.config import TEST_REDIS_URL, base_config, without_password
from tests.support.database import ON_POSTGRES, TEST_DATABASE_URL, migrate, psycopg_url
from tests.support.factories import PASSWORD, ClientInfo, UserInfo
from tests.support.idp import upstream_idp  # noqa: F401  (a fixture: the test IdP)
from tests.support.oauth import authorize, exchange_code
from tests.support.web import login


def pytest_report_header() -> list[str]:
    """Say what this run covers: the PostgreSQL-, Redis- and browser-only tests skip rather
    than fail without them, so the header is where a log shows which ones could run."""
    database = (
        f"PostgreSQL {without_password(TEST_DATABASE_URL)} (truncated between tests)"
        if ON_POSTGRES
        else "SQLite (a migrated template copied per test; set TEST_DATABASE_URL for PostgreSQL)"
    )
    redis = (
        f"{without_password(TEST_REDIS_URL)} (flushed per test)"
        if TEST_REDIS_URL
        else "none (counters in the database's store; set TEST_REDIS_URL for Redis)"
    )
    chromium = (
        str(CHROMIUM)
        if CHROMIUM.exists()
        else f"{CHROMIUM} missing (browser tests skip unless REQUIRE_BROWSER=1)"
    )
    return [
        f"tollgate database: {database}",
        f"tollgate redis: {redis}",
        f"tollgate chromium: {chromium}",
    ]


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("instance")
    os.environ["INSTANCE_PATH"] = str(path)
    return path


@pytest.fixture(scope="session")
def database_template(instance_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database: a SQLite file to copy, or the PostgreSQL URL (migrated once)."""
    if ON_POSTGRES:
        url = psycopg_url(TEST_DATABASE_URL)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        migrate(url, instance_dir)
        return url
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    migrate(f"sqlite:///{path}", instance_dir)
    return str(path)


@pytest.fixture(scope="session")
def _cleaner(database_template: str) -> Iterator[Callable[[], None] | None]:
    """PostgreSQL: empty the tables a test wrote to (probing first: TRUNCATE of every table
    costs ~100 ms, the probe ~10 ms)."""
    if not ON_POSTGRES:
        yield None
        return
    engine = create_engine(database_template)
    with engine.begin() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            )
            .scalars()
            .all()
        )
    probe = text(
        " UNION ALL ".join(
            f"SELECT '{t}' FROM (SELECT 1 FROM {t} LIMIT 1) AS {t}_rows" for t in tables
        )
    )

    def clean() -> None:
        with engine.begin() as conn:
            used = conn.execute(probe).scalars().all()
            if used:
                conn.execute(text(f"TRUNCATE {', '.join(used)} RESTART IDENTITY CASCADE"))

    yield clean
    engine.dispose()


@pytest.fixture
def database_url(
    database_template: str, tmp_path: Path, _cleaner: Callable[[], None] | None
) -> Iterator[str]:
    if _cleaner is not None:
        yield database_template
        _cleaner()
        return
    path = tmp_path / "test.sqlite3"
    shutil.copyfile(database_template, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def app(request: pytest.FixtureRequest, database_url: str, instance_dir: Path) -> Iterator[Flask]:
    overrides = base_config(database_url, instance_dir)
    for marker in reversed(list(request.node.iter_markers("config"))):
        overrides.update(marker.kwargs)
    application = create_app(overrides)
    if TEST_REDIS_URL:
        import redis

        redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    yield application
    from app.extensions import db

    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# --- factories -----------------------------------------------------------------------------


@pytest.fixture
def make_user(app: Flask) -> Callable[..., UserInfo]:
    from app.identity import users

    counter = iter(range(1, 10_000))

    def factory(
        email: str | None = None,
        password: str = PASSWORD,
        role: str = "member",
        family_id: uuid.UUID | None = None,
        **names: str,
    ) -> UserInfo:
        email = email or f"user{next(counter)}@example.com"
        with app.app_context():
            user = users.create_user(
                email=email,
                password=password,
                role=role,
                family_id=family_id,
                now=utcnow(),
                **names,
            )
            return UserInfo(user.id, user.email, password, user.family_id, user.role)

    return factory


@pytest.fixture
def make_client(app: Flask) -> Callable[..., ClientInfo]:
    from app.oauth2.services import clients as services

    def factory(
        name: str = "Test App",
        redirect_uris: list[str] | None = None,
        grant_types: list[str] | None = None,
        scope: str = "read read_write",
        public: bool = False,
        first_party: bool = False,
    ) -> ClientInfo:
        uris = ["https://client.example/cb"] if redirect_uris is None else redirect_uris
        with app.app_context():
            created = services.create_client(
                name=name,
                redirect_uris=uris,
                grant_types=grant_types or ["authorization_code", "refresh_token"],
                scope=scope,
                public=public,
                first_party=first_party,
                now=utcnow(),
            )
            return ClientInfo(
                created.client.client_id,
                created.client_secret,
                uris[0] if uris else None,
                created.client.scope,
            )

    return factory


@pytest.fixture
def make_key(app: Flask) -> Callable[..., str]:
    """A personal API key (plaintext). One active key per user *and source*: give a second
    key of the same user another source, or the first is revoked."""
    from app.apikeys import services
    from app.extensions import db
    from app.identity.models import User

    counter = iter(range(1, 10_000))

    def factory(
        owner: UserInfo, scope: str = "read_write", source: str = "web", tier: str = "standard"
    ) -> str:
        with app.app_context():
            created = services.create_api_key(
                db.session.get(User, owner.id),
                name=f"test key {next(counter)}",
                scope=scope,
                source=source,
                tier=tier,
                now=utcnow(),
            )
            return created.key

    return factory


@pytest.fixture
def user(make_user: Callable[..., UserInfo]) -> UserInfo:
    return make_user(email="alice@example.com", first_name="Alice")


@pytest.fixture
def oauth_client(make_client: Callable[..., ClientInfo]) -> ClientInfo:
    return make_client()


@pytest.fixture
def public_client(make_client: Callable[..., ClientInfo]) -> ClientInfo:
    return make_client(name="Native App", redirect_uris=["sureapp://oauth/callback"], public=True)


# --- signed in, with tokens ----------------------------------------------------------------


@pytest.fixture
def signed_in(client: FlaskClient, user: UserInfo) -> FlaskClient:
    response = login(client, user.email, user.password)
    assert response.status_code == 302
    return client


@pytest.fixture
def tokens(signed_in: FlaskClient, oauth_client: ClientInfo) -> dict[str, Any]:
    """A full code + PKCE exchange for ``user`` and ``oauth_client`` (scope read_write)."""
    auth = authorize(signed_in, oauth_client, scope="read_write")
    response = exchange_code(signed_in, oauth_client, auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()
