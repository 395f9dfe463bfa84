"""Configuration loading (embedded default, production refusals, precedence) and the schema
(migrations match the models, audit_events is append-only, no plaintext credential at rest)."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from app import create_app
from app.config import ConfigurationError, DefaultConfig
from tests.support.config import base_config
from tests.support.database import ON_POSTGRES, requires_postgres
from tests.support.oauth import authorize, exchange_code, refresh
from tests.support.web import login

ENV_KEYS = [*(k for k in vars(DefaultConfig) if k.isupper()), "DATABASE_URL"]
CHEAP_HASHING = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No configuration in the environment; INSTANCE_PATH points at an empty directory."""
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    instance = tmp_path / "instance"
    instance.mkdir()
    monkeypatch.setenv("INSTANCE_PATH", str(instance))
    return instance


def _dispose(app) -> None:  # type: ignore[no-untyped-def]
    from app.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _schema_diff(app) -> list:  # type: ignore[no-untyped-def]
    from app.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), db.metadata)


# --- (1) migrations produce exactly the models' schema ---------------------------------------


def test_migrations_match_models_on_sqlite(clean_env, tmp_path):
    from app import dbupgrade

    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    app = create_app(base_config(url, clean_env))
    dbupgrade.upgrade(app)
    try:
        assert _schema_diff(app) == []
    finally:
        _dispose(app)


@requires_postgres
def test_migrations_match_models_on_postgres(app):
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    assert _schema_diff(app) == []


def test_migrated_database_is_at_head(app):
    from alembic.script import ScriptDirectory
    from flask_migrate import Config

    from app.extensions import db

    with app.app_context():
        config = Config(str(Path(app.extensions["migrate"].directory) / "alembic.ini"))
        config.set_main_option("script_location", app.extensions["migrate"].directory)
        heads = set(ScriptDirectory.from_config(config).get_heads())
        with db.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    assert current == heads
    assert len(heads) == 1


# --- (2) audit_events is append-only ----------------------------------------------------------


def test_audit_events_refuse_update_and_delete(app):
    from app.audit.services import record
    from app.clock import utcnow
    from app.extensions import db

    with app.app_context():
        record("test.event", now=utcnow(), note="original")
        db.session.commit()
        for statement in (
            "UPDATE audit_events SET outcome = 'tampered'",
            "DELETE FROM audit_events",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text(statement))
                db.session.flush()
            db.session.rollback()
        rows = db.session.execute(
            text("SELECT event, outcome FROM audit_events WHERE event = 'test.event'")
        ).all()
        assert [tuple(r) for r in rows] == [("test.event", "success")]
        # Appending still works.
        record("test.event", now=utcnow(), outcome="failure")
        db.session.commit()
        count = db.session.execute(
            text("SELECT count(*) FROM audit_events WHERE event = 'test.event'")
        ).scalar()
        assert count == 2


# --- (3) the embedded default -----------------------------------------------------------------


def test_embedded_default_generates_secrets_and_migrates(clean_env):
    import os

    old_umask = os.umask(0)  # even a permissive umask must not widen secrets.json
    try:
        first = create_app({"APP_ENV": "development", **CHEAP_HASHING})
    finally:
        os.umask(old_umask)
    try:
        secrets_file = clean_env / "secrets.json"
        assert secrets_file.exists()
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        assert not (clean_env / "secrets.tmp").exists()
        stored = json.loads(secrets_file.read_text())
        assert set(stored) == {
            "SECRET_KEY",
            "ENCRYPTION_KEYS",
            "SECRET_KEY_JWT_KEY",
            "ACCESS_KEY_JWT_KEY",
            "PARTNER_SSO_KEY",
            "SESSION_JWT_KEY",
        }
        assert len(stored["SECRET_KEY_JWT_KEY"]) >= 64
        assert first.config["SECRET_KEY"] == stored["SECRET_KEY"]
        assert first.config["ENCRYPTION_KEYS"] == stored["ENCRYPTION_KEYS"]
        assert len(stored["SECRET_KEY"]) >= 32

        database = clean_env / "tollgate.sqlite3"
        assert database.exists()
        assert first.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{database}"
        assert first.config["AUTO_MIGRATE"] is True
        assert first.config["SESSION_COOKIE_SECURE"] is False
        with sqlite3.connect(database) as conn:
            tables = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        assert {
            "users",
            "families",
            "oauth2_clients",
            "oauth2_tokens",
            "audit_events",
            "alembic_version",
        } <= tables
        from app.extensions import db

        with first.app_context():
            assert set(db.metadata.tables) <= set(inspect(db.engine).get_table_names())
    finally:
        _dispose(first)

    second = create_app({"APP_ENV": "development", **CHEAP_HASHING})
    try:
        assert second.config["SECRET_KEY"] == stored["SECRET_KEY"]
        assert second.config["ENCRYPTION_KEYS"] == stored["ENCRYPTION_KEYS"]
        assert json.loads(secrets_file.read_text()) == stored
        # The reused database is usable straight away.
        client = second.test_client()
        assert client.get("/login").status_code == 200
    finally:
        _dispose(second)


def test_embedded_default_keeps_explicit_secrets_out_of_the_file(clean_env, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-the-environment-" + "x" * 20)
    app = create_app({"APP_ENV": "development", "AUTO_MIGRATE": False})
    assert app.config["SECRET_KEY"].startswith("from-the-environment-")
    stored = json.loads((clean_env / "secrets.json").read_text())
    assert set(stored) == {
        "ENCRYPTION_KEYS",
        "SECRET_KEY_JWT_KEY",
        "ACCESS_KEY_JWT_KEY",
        "PARTNER_SSO_KEY",
        "SESSION_JWT_KEY",
    }


# --- (4) production refuses to guess ------------------------------------------------------------


def test_production_without_secret_key_refuses(clean_env, tmp_path):
    from cryptography.fernet import Fernet

    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        create_app(
            {
                "APP_ENV": "production",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.sqlite3'}",
                "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            }
        )
    assert not (clean_env / "secrets.json").exists()


@pytest.mark.parametrize(
    ("setting", "length"),
    [
        ("SECRET_KEY_JWT_KEY", 64),
        ("ACCESS_KEY_JWT_KEY", 32),
        ("PARTNER_SSO_KEY", 32),
        ("SESSION_JWT_KEY", 32),
    ],
)
def test_a_jwt_key_shorter_than_its_hash_refuses(clean_env, monkeypatch, tmp_path, setting, length):
    from cryptography.fernet import Fernet

    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'p.sqlite3'}")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("ENCRYPTION_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("SECRET_KEY_JWT_KEY", "k" * 64)
    monkeypatch.setenv("ACCESS_KEY_JWT_KEY", "a" * 32)
    monkeypatch.setenv("PARTNER_SSO_KEY", "p" * 32)
    monkeypatch.setenv("SESSION_JWT_KEY", "j" * 32)
    monkeypatch.setenv(setting, "x" * (length - 1))
    with pytest.raises(ConfigurationError, match=f"{setting} must be at least {length}"):
        create_app()


def test_production_without_encryption_keys_refuses(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'p.sqlite3'}")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("SECRET_KEY_JWT_KEY", "k" * 64)
    monkeypatch.setenv("ACCESS_KEY_JWT_KEY", "a" * 32)
    monkeypatch.setenv("PARTNER_SSO_KEY", "p" * 32)
    monkeypatch.setenv("SESSION_JWT_KEY", "j" * 32)
    with pytest.raises(ConfigurationError) as caught:
        create_app()
    assert str(caught.value).startswith("ENCRYPTION_KEYS must be set")
    assert not (clean_env / "secrets.json").exists()


def test_production_without_database_url_refuses(clean_env, monkeypatch):
    from cryptography.fernet import Fernet

    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("ENCRYPTION_KEYS", Fernet.generate_key().decode())
    with pytest.raises(ConfigurationError, match="DATABASE_URL"):
        create_app()
    assert not (clean_env / "tollgate.sqlite3").exists()


def test_production_with_everything_set_starts(clean_env, monkeypatch, tmp_path):
    from cryptography.fernet import Fernet

    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.invalid:5432/tollgate")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("ENCRYPTION_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("SECRET_KEY_JWT_KEY", "k" * 64)
    monkeypatch.setenv("ACCESS_KEY_JWT_KEY", "a" * 32)
    monkeypatch.setenv("PARTNER_SSO_KEY", "p" * 32)
    monkeypatch.setenv("SESSION_JWT_KEY", "j" * 32)
    app = create_app()
    assert (
        app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db.invalid:5432/tollgate"
    )
    assert app.config["AUTO_MIGRATE"] is False
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert not (clean_env / "secrets.json").exists()


def test_bad_environment_value_is_a_configuration_error(clean_env, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_ENABLED", "maybe")
    with pytest.raises(ConfigurationError, match="RATE_LIMIT_ENABLED"):
        create_app({"APP_ENV": "development", "AUTO_MIGRATE": False})


# --- (5) precedence: defaults < instance/config.py < environment < overrides ------------------


def test_config_precedence(clean_env, monkeypatch):
    (clean_env / "config.py").write_text(
        'APP_URL = "https://from-file.example"\n'
        'RATE_LIMIT_REGISTER_IP = "1 per 1 minute"\n'
        "PASSWORD_MIN_LENGTH = 9\n"
        'OAUTH2_DEFAULT_SCOPE = "read_write"\n'
    )
    monkeypatch.setenv("APP_URL", "https://from-env.example/")
    monkeypatch.setenv("PASSWORD_MIN_LENGTH", "12")
    monkeypatch.setenv("RATE_LIMIT_ENABLED", "false")
    monkeypatch.setenv("OAUTH2_SCOPES_SUPPORTED", "read read_write")
    monkeypatch.setenv("API_KEY_RATE_LIMITS", '{"standard": 5}')
    app = create_app({"APP_ENV": "development", "AUTO_MIGRATE": False, "PASSWORD_MIN_LENGTH": 20})
    config = app.config
    assert config["RATE_LIMIT_REGISTER_IP"] == "1 per 1 minute"  # file beats default
    assert config["OAUTH2_DEFAULT_SCOPE"] == "read_write"
    assert config["APP_URL"] == "https://from-env.example"  # env beats file (slash dropped)
    assert config["PASSWORD_MIN_LENGTH"] == 20  # overrides beat env and file
    assert config["RATE_LIMIT_ENABLED"] is False  # env parsed by the default's type
    assert config["OAUTH2_SCOPES_SUPPORTED"] == ["read", "read_write"]
    assert config["API_KEY_RATE_LIMITS"] == {"standard": 5}
    assert config["RATE_LIMIT_LOGIN_IP"] == DefaultConfig.RATE_LIMIT_LOGIN_IP  # default


def test_database_url_alias_and_override(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite3'}")
    app = create_app({"APP_ENV": "development"})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'env.sqlite3'}"
    assert app.config["AUTO_MIGRATE"] is False  # not the embedded default
    assert not (clean_env / "tollgate.sqlite3").exists()
    overridden = create_app(
        {
            "APP_ENV": "development",
            "AUTO_MIGRATE": False,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'o.sqlite3'}",
        }
    )
    assert overridden.config["SQLALCHEMY_DATABASE_URI"].endswith("o.sqlite3")


# --- (6) nothing replayable at rest --------------------------------------------------------------


def _dump_all_rows(app) -> str:  # type: ignore[no-untyped-def]
    from app.extensions import db

    parts = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(table.select()):
                parts.append(f"{table.name}: {tuple(row)!r} {[str(v) for v in row]}")
        db.session.remove()
    return "\n".join(parts)


def test_no_plaintext_credentials_at_rest(app, client, user, oauth_client, database_url):
    from app import crypto

    assert login(client, user.email, user.password).status_code == 302
    with client.session_transaction() as session:
        session_id = session["sid"]
    auth = authorize(client, oauth_client, scope="read_write")
    issued = exchange_code(client, oauth_client, auth)
    assert issued.status_code == 200, issued.get_json()
    first = issued.get_json()
    rotated = refresh(client, oauth_client, first["refresh_token"])
    assert rotated.status_code == 200, rotated.get_json()
    second = rotated.get_json()

    secrets = {
        "authorization code": auth.code,
        "PKCE verifier": auth.verifier,
        "first access token": first["access_token"],
        "first refresh token": first["refresh_token"],
        "rotated access token": second["access_token"],
        "rotated refresh token": second["refresh_token"],
        "client secret": oauth_client.client_secret,
        "password": user.password,
        "web session id": session_id,
    }
    assert all(secrets.values())

    dump = _dump_all_rows(app)
    assert user.email in dump  # the dump really holds the data
    assert crypto.digest(first["access_token"]) in dump
    assert crypto.digest(oauth_client.client_secret) in dump
    for name, value in secrets.items():
        assert value not in dump, f"{name} stored in plaintext"
        # the random part alone (without the kind prefix) must not appear either; an
        # unprefixed value (a PKCE verifier) may hold "_" anywhere, even last: a short tail
        # after it is no secret, and "" is in every dump
        tail = value.split("_", 1)[-1]
        if len(tail) >= 16:
            assert tail not in dump, f"{name} stored in plaintext"

    if not ON_POSTGRES:
        path = Path(database_url.removeprefix("sqlite:///"))
        with sqlite3.connect(path) as conn:
            sql_dump = "\n".join(conn.iterdump())
        assert crypto.digest(second["refresh_token"]) in sql_dump
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        for name, value in secrets.items():
            assert value not in sql_dump, f"{name} in the SQL dump"
            assert value.encode() not in raw, f"{name} in the database file"


def test_secrets_are_generated_under_a_lock_other_starters_wait_for(clean_env):
    """`serve`'s workers start together on a first run: one generates the secrets, the others
    wait for its lock and read what it wrote, so a JWT one worker signs verifies on another.
    Here the test holds the lock, writes the secrets, and only then lets a starter through."""
    import fcntl
    import os
    import subprocess
    import sys
    import time

    from cryptography.fernet import Fernet

    script = (
        "from app import create_app;"
        "app = create_app({'APP_ENV': 'development', 'AUTO_MIGRATE': False});"
        "print(app.config['SECRET_KEY_JWT_KEY'])"
    )
    written = {
        "SECRET_KEY": "s" * 48,
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SECRET_KEY_JWT_KEY": "written-by-the-lock-holder-" + "k" * 64,
        "ACCESS_KEY_JWT_KEY": "a" * 48,
        "PARTNER_SSO_KEY": "p" * 48,
        "SESSION_JWT_KEY": "j" * 48,
    }
    with open(clean_env / ".secrets.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        starter = subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=Path(__file__).resolve().parents[1],
            env={**os.environ},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)  # the starter imports the app and reaches the lock meanwhile
        assert starter.poll() is None, starter.communicate()
        (clean_env / "secrets.json").write_text(json.dumps(written))
        fcntl.flock(lock, fcntl.LOCK_UN)
    out, err = starter.communicate(timeout=120)
    assert starter.returncode == 0, err
    assert out.strip().splitlines()[-1] == written["SECRET_KEY_JWT_KEY"]
