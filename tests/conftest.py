"""Fixtures that compose: a migrated database per test, the app, its test client, factories.

Database: SQLite by default (a migrated template file copied per test). With
``TEST_DATABASE_URL`` set (PostgreSQL), the schema is migrated once and every table is
truncated between tests. With ``TEST_REDIS_URL`` set, rate-limit counters live in Redis
(flushed between tests) instead of memory.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from app import create_app
from app.clock import utcnow

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
ON_POSTGRES = TEST_DATABASE_URL.startswith(("postgres://", "postgresql"))

SECRET_KEY = secrets.token_urlsafe(32)
ENCRYPTION_KEY = Fernet.generate_key().decode()
PASSWORD = "correct horse battery"

requires_postgres = pytest.mark.skipif(
    not ON_POSTGRES, reason="needs TEST_DATABASE_URL pointing at PostgreSQL (set by .ci/run)"
)


def _psycopg_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def base_config(database_url: str, instance: Path) -> dict[str, Any]:
    return {
        "APP_ENV": "testing",
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": SECRET_KEY,
        "ENCRYPTION_KEYS": ENCRYPTION_KEY,
        "AUTO_MIGRATE": False,
        "REDIS_URL": TEST_REDIS_URL,
        "APP_URL": "https://auth.tollgate.test",
        # Cheap argon2id for tests; production parameters are the argon2-cffi defaults.
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 8,
        "ARGON2_PARALLELISM": 1,
        "SERVER_NAME": None,
    }


def migrate(database_url: str, instance: Path) -> None:
    from app import schema
    from app.extensions import db

    app = create_app({**base_config(database_url, instance)})
    schema.upgrade(app)
    with app.app_context():
        db.engine.dispose()  # SQLite: closing the last connection checkpoints the WAL


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("instance")
    os.environ["INSTANCE_PATH"] = str(path)
    return path


@pytest.fixture(scope="session")
def database_template(instance_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database: a SQLite file to copy, or the PostgreSQL URL (migrated once)."""
    if ON_POSTGRES:
        url = _psycopg_url(TEST_DATABASE_URL)
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
        tables = conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )).scalars().all()
    probe = text(" UNION ALL ".join(
        f"SELECT '{t}' FROM (SELECT 1 FROM {t} LIMIT 1) AS {t}_rows" for t in tables))

    def clean() -> None:
        with engine.begin() as conn:
            used = conn.execute(probe).scalars().all()
            if used:
                conn.execute(text(f"TRUNCATE {', '.join(used)} RESTART IDENTITY CASCADE"))

    yield clean
    engine.dispose()


@pytest.fixture
def database_url(database_template: str, tmp_path: Path,
                 _cleaner: Callable[[], None] | None) -> Iterator[str]:
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


@dataclass
class UserInfo:
    id: uuid.UUID
    email: str
    password: str
    family_id: uuid.UUID
    role: str


@pytest.fixture
def make_user(app: Flask) -> Callable[..., UserInfo]:
    from app.identity import services as identity

    counter = iter(range(1, 10_000))

    def factory(email: str | None = None, password: str = PASSWORD, role: str = "member",
                family_id: uuid.UUID | None = None, **names: str) -> UserInfo:
        email = email or f"user{next(counter)}@example.com"
        with app.app_context():
            user = identity.create_user(email=email, password=password, role=role,
                                        family_id=family_id, now=utcnow(), **names)
            return UserInfo(user.id, user.email, password, user.family_id, user.role)

    return factory


@dataclass
class ClientInfo:
    client_id: str
    client_secret: str | None
    redirect_uri: str | None
    scope: str

    @property
    def basic_auth(self) -> dict[str, str]:
        raw = f"{self.client_id}:{self.client_secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.fixture
def make_client(app: Flask) -> Callable[..., ClientInfo]:
    from app.oauth2 import services

    def factory(name: str = "Test App", redirect_uris: list[str] | None = None,
                grant_types: list[str] | None = None, scope: str = "read read_write",
                public: bool = False, first_party: bool = False) -> ClientInfo:
        uris = ["https://client.example/cb"] if redirect_uris is None else redirect_uris
        with app.app_context():
            created = services.create_client(
                name=name, redirect_uris=uris,
                grant_types=grant_types or ["authorization_code", "refresh_token"],
                scope=scope, public=public, first_party=first_party, now=utcnow(),
            )
            return ClientInfo(created.client.client_id, created.client_secret,
                              uris[0] if uris else None, created.client.scope)

    return factory


@pytest.fixture
def user(make_user: Callable[..., UserInfo]) -> UserInfo:
    return make_user(email="alice@example.com", first_name="Alice")


@pytest.fixture
def oauth_client(make_client: Callable[..., ClientInfo]) -> ClientInfo:
    return make_client()


@pytest.fixture
def public_client(make_client: Callable[..., ClientInfo]) -> ClientInfo:
    return make_client(name="Native App", redirect_uris=["sureapp://oauth/callback"],
                       public=True)


# --- HTTP helpers --------------------------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no csrf_token"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str = PASSWORD, next_path: str = "/"):  # type: ignore[no-untyped-def]
    page = client.get("/login")
    return client.post("/login", data={
        "email": email, "password": password, "next": next_path,
        "csrf_token": csrf_from(page.get_data(as_text=True)),
    })


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Authorized:
    code: str
    verifier: str
    state: str
    location: str


def authorize(client: FlaskClient, oauth: ClientInfo, *, scope: str | None = "read",
              approve: bool = True, **extra: str) -> Authorized:
    """Drive the consent page as a signed-in browser would; returns the code."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(12)
    params = {"response_type": "code", "client_id": oauth.client_id, "state": state,
              "code_challenge": challenge, "code_challenge_method": "S256"}
    if oauth.redirect_uri:
        params["redirect_uri"] = oauth.redirect_uri
    if scope:
        params["scope"] = scope
    params.update(extra)
    page = client.get("/oauth/authorize", query_string=params)
    assert page.status_code == 200, page.get_data(as_text=True)
    form = {**params, "csrf_token": csrf_from(page.get_data(as_text=True)),
            "confirm": "yes" if approve else "no"}
    response = client.post("/oauth/authorize", data=form)
    assert response.status_code == 302
    location = response.headers["Location"]
    return Authorized(query_of(location).get("code", ""), verifier, state, location)


def exchange_code(client: FlaskClient, oauth: ClientInfo, auth: Authorized, **extra: str):  # type: ignore[no-untyped-def]
    data = {"grant_type": "authorization_code", "code": auth.code,
            "code_verifier": auth.verifier}
    if oauth.redirect_uri:
        data["redirect_uri"] = oauth.redirect_uri
    headers = {}
    if oauth.client_secret:
        headers = oauth.basic_auth
    else:
        data["client_id"] = oauth.client_id
    data.update(extra)
    return client.post("/oauth/token", data=data, headers=headers)


def refresh(client: FlaskClient, oauth: ClientInfo, refresh_token: str, **extra: str):  # type: ignore[no-untyped-def]
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    headers = {}
    if oauth.client_secret:
        headers = oauth.basic_auth
    else:
        data["client_id"] = oauth.client_id
    return client.post("/oauth/token", data=data, headers=headers)


def introspect(client: FlaskClient, oauth: ClientInfo, token: str):  # type: ignore[no-untyped-def]
    return client.post("/oauth/introspect", data={"token": token}, headers=oauth.basic_auth)


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
