"""The operator CLI contract, through real ``flask --app wsgi`` processes: one JSON object on
stdout on success; a one-line error on stderr, nothing on stdout and a non-zero exit on
failure."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.cli import Run, cli_env, flask_cli

# About a dozen processes at ~1.5 s each (the app's import and start-up dominate).
pytestmark = pytest.mark.slow


@dataclass
class Cli:
    env: dict[str, str]
    db_path: Path

    def __call__(self, *args: str) -> Run:
        return flask_cli(self.env, *args)

    def ok(self, *args: str) -> dict:
        run = self(*args)
        assert run.returncode == 0, run.stderr
        return run.json()

    def dump(self) -> str:
        """Every row of every table of the SQLite file, as SQL text."""
        with sqlite3.connect(self.db_path) as conn:
            return "\n".join(conn.iterdump())


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """A fresh SQLite database migrated with ``flask db upgrade``; nothing from the repository's
    instance/ is read or written."""
    workdir = tmp_path_factory.mktemp("cli")
    env = cli_env(workdir)
    runner = Cli(env, workdir / "cli.sqlite3")
    upgrade = runner("db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert not (workdir / "instance" / "secrets.json").exists()
    return runner


def test_users_create(cli):
    ann = cli.ok(
        "users",
        "create",
        "--email",
        " Ann@Example.com ",
        "--password",
        "a long enough password",
        "--first-name",
        "Ann",
        "--role",
        "admin",
    )
    assert set(ann) == {"id", "email", "family_id", "role"}
    assert ann["email"] == "ann@example.com"
    assert ann["role"] == "admin"
    uuid.UUID(ann["id"])
    uuid.UUID(ann["family_id"])

    # Default: a new family per user; --family-id joins an existing one.
    ben = cli.ok(
        "users", "create", "--email", "ben@example.com", "--password", "another long password"
    )
    assert ben["role"] == "member"
    assert ben["family_id"] != ann["family_id"]
    cat = cli.ok(
        "users",
        "create",
        "--email",
        "cat@example.com",
        "--password",
        "yet another password",
        "--family-id",
        ann["family_id"],
    )
    assert cat["family_id"] == ann["family_id"]

    dump = cli.dump()
    assert "a long enough password" not in dump  # argon2id hashes only
    assert dump.count("$argon2id$") >= 3


def test_users_create_failures(cli):
    short = cli("users", "create", "--email", "short@example.com", "--password", "1234567")
    assert "at least 8 characters" in short.assert_failed()

    cli.ok("users", "create", "--email", "dup@example.com", "--password", "long password 1")
    dup = cli("users", "create", "--email", "DUP@example.com", "--password", "long password 2")
    assert "already been taken" in dup.assert_failed()

    with sqlite3.connect(cli.db_path) as conn:
        emails = [row[0] for row in conn.execute("SELECT email FROM users")]
    assert "short@example.com" not in emails
    assert emails.count("dup@example.com") == 1


def test_clients_create_confidential_secret_is_stored_as_digest(cli):
    payload = cli.ok(
        "clients",
        "create",
        "--name",
        "Budget App",
        "--redirect-uri",
        "https://budget.example/cb",
        "--redirect-uri",
        "sureapp://oauth/callback",
        "--scope",
        "read read_write",
    )
    assert set(payload) == {
        "client_id",
        "client_secret",
        "name",
        "redirect_uris",
        "grant_types",
        "scope",
        "token_endpoint_auth_method",
        "post_logout_redirect_uris",
        "id_token_signed_response_alg",
    }
    assert payload["name"] == "Budget App"
    assert payload["redirect_uris"] == ["https://budget.example/cb", "sureapp://oauth/callback"]
    assert payload["grant_types"] == ["authorization_code", "refresh_token"]
    assert payload["scope"] == "read read_write"
    assert payload["token_endpoint_auth_method"] == "client_secret_basic"
    assert payload["post_logout_redirect_uris"] == []
    assert payload["id_token_signed_response_alg"] is None  # OIDC_DEFAULT_SIGNING_ALG applies
    secret = payload["client_secret"]
    assert secret.startswith("tgs_") and len(secret) >= 40

    dump = cli.dump()
    assert payload["client_id"] in dump
    assert secret not in dump
    assert secret.removeprefix("tgs_") not in dump
    assert hashlib.sha256(secret.encode()).hexdigest() in dump
    raw = b"".join(p.read_bytes() for p in cli.db_path.parent.glob("cli.sqlite3*"))
    assert secret.encode() not in raw


def test_clients_create_public_and_invalid(cli):
    public = cli.ok(
        "clients", "create", "--name", "Native", "--public", "--redirect-uri", "http://127.0.0.1/cb"
    )
    assert "client_secret" not in public
    assert public["token_endpoint_auth_method"] == "none"

    password = cli("clients", "create", "--name", "Pw", "--grant-type", "password")
    assert "first-party" in password.assert_failed()

    evil = cli("clients", "create", "--name", "Evil", "--redirect-uri", "javascript:alert(1)")
    assert "javascript" in evil.assert_failed()

    assert "Evil" not in cli.dump()


def test_tokens_purge(cli):
    """Expired codes and dead tokens go; live ones stay. Seeded in-process, purged by CLI."""
    from app import create_app
    from app.clock import utcnow
    from app.extensions import db
    from app.models import AuthorizationCode, OAuthClient, OAuthToken, User
    from tests.support.config import base_config

    config = base_config(cli.env["DATABASE_URL"], Path(cli.env["INSTANCE_PATH"]))
    config.update(SECRET_KEY=cli.env["SECRET_KEY"], ENCRYPTION_KEYS=cli.env["ENCRYPTION_KEYS"])
    app = create_app(config)
    now = utcnow()
    with app.app_context():
        user = db.session.query(User).filter_by(email="ann@example.com").one_or_none()
        if user is None:  # run alone
            from app.identity.users import create_user

            user = create_user(email="ann@example.com", password="a long enough password", now=now)
        client = OAuthClient(
            client_id="purge-client",
            name="Purge",
            redirect_uris=["https://p.example/cb"],
            grant_types=["authorization_code", "refresh_token"],
            scope="read",
            token_endpoint_auth_method="none",
            created_at=now,
        )
        db.session.add(client)
        db.session.flush()

        def code(digest: str, expires_in: int) -> AuthorizationCode:
            return AuthorizationCode(
                code_digest=digest,
                client_id=client.client_id,
                user_id=user.id,
                family_id=user.family_id,
                redirect_uri=None,
                scope="read",
                lineage_id=uuid.uuid4(),
                created_at=now,
                expires_at=now + timedelta(seconds=expires_in),
            )

        def token(digest: str, **fields) -> OAuthToken:  # type: ignore[no-untyped-def]
            return OAuthToken(
                lineage_id=uuid.uuid4(),
                client_id=client.client_id,
                user_id=user.id,
                family_id=user.family_id,
                grant_type="authorization_code",
                scope="read",
                lineage_scope="read",
                access_token_digest=digest,
                issued_at=now - timedelta(days=2),
                **fields,
            )

        db.session.add_all(
            [
                code("a" * 64, -60),
                code("b" * 64, 600),
                # dead: access expired, no refresh token
                token("c" * 64, access_expires_at=now - timedelta(days=1)),
                # dead: revoked lineage
                token(
                    "d" * 64,
                    access_expires_at=now + timedelta(days=1),
                    revoked_at=now,
                    refresh_token_digest="e" * 64,
                ),
                # live: expired access token but a usable refresh token
                token(
                    "f" * 64,
                    access_expires_at=now - timedelta(days=1),
                    refresh_token_digest="0" * 64,
                ),
                # live: current access token
                token("1" * 64, access_expires_at=now + timedelta(days=1)),
            ]
        )
        db.session.commit()
        db.engine.dispose()

    payload = cli.ok("tokens", "purge", "--batch-size", "1")
    assert set(payload) == {"purged"}
    counts = payload["purged"]
    assert counts["authorization_codes"] == 1
    assert counts["tokens"] == 2
    assert all(isinstance(v, int) and v >= 0 for v in counts.values())

    dump = cli.dump()
    assert "a" * 64 not in dump and "b" * 64 in dump
    assert "c" * 64 not in dump and "d" * 64 not in dump
    assert "f" * 64 in dump and "1" * 64 in dump


CLIENT_KEYS = {
    "client_id",
    "name",
    "redirect_uris",
    "grant_types",
    "scope",
    "token_endpoint_auth_method",
    "first_party",
    "dynamically_registered",
    "disabled",
    "created_at",
    "post_logout_redirect_uris",
    "id_token_signed_response_alg",
}


def test_clients_list_disable_enable_delete(cli):
    created = cli.ok(
        "clients",
        "create",
        "--name",
        "Lifecycle App",
        "--redirect-uri",
        "https://lifecycle.example/cb",
    )
    client_id, secret = created["client_id"], created["client_secret"]

    listed = cli.ok("clients", "list")
    assert set(listed) == {"clients"}
    mine = [c for c in listed["clients"] if c["client_id"] == client_id]
    assert len(mine) == 1
    assert set(mine[0]) == CLIENT_KEYS  # never the secret or its digest
    assert mine[0]["name"] == "Lifecycle App" and mine[0]["disabled"] is False
    assert mine[0]["first_party"] is False and mine[0]["dynamically_registered"] is False
    assert mine[0]["created_at"].endswith("Z")
    assert secret not in json.dumps(listed)
    assert hashlib.sha256(secret.encode()).hexdigest() not in json.dumps(listed)

    disabled = cli.ok("clients", "disable", "--client-id", client_id)
    assert set(disabled) == CLIENT_KEYS and disabled["disabled"] is True
    listed = cli.ok("clients", "list")
    assert [c["disabled"] for c in listed["clients"] if c["client_id"] == client_id] == [True]
    enabled = cli.ok("clients", "enable", "--client-id", client_id)
    assert enabled["disabled"] is False

    deleted = cli.ok("clients", "delete", "--client-id", client_id)
    assert deleted == {
        "client_id": client_id,
        "deleted": True,
        "revoked_tokens": 0,
        "revoked_codes": 0,
        "revoked_api_keys": 0,
    }
    assert client_id not in json.dumps(cli.ok("clients", "list"))
    assert "was deleted" in cli("clients", "enable", "--client-id", client_id).assert_failed()

    with sqlite3.connect(cli.db_path) as conn:
        events = [
            row[0]
            for row in conn.execute(
                "SELECT event FROM audit_events WHERE client_id = ? ORDER BY occurred_at",
                (client_id,),
            )
        ]
        digest = conn.execute(
            "SELECT client_secret_digest FROM oauth2_clients WHERE client_id = ?", (client_id,)
        ).fetchone()
    assert events == ["client.created", "client.disabled", "client.enabled", "client.deleted"]
    assert digest == (None,)  # a tombstone keeps nothing that could authenticate


@pytest.mark.parametrize("command", ["disable", "enable", "delete"])
def test_clients_lifecycle_unknown_client(cli, command):
    failed = cli("clients", command, "--client-id", "no-such-client")
    assert failed.assert_failed() == "Error: no client with client_id no-such-client"
