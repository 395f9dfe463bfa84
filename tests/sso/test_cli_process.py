"""``flask --app wsgi sso providers add|list|remove`` and ``invitations create`` in real
processes (tests/support/cli.py): one JSON object on stdout, the client secret taken from the
environment (never the command line) and stored encrypted, one error line on failure."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support.cli import cli_env, flask_cli, flask_json
from tests.support.sso import providers_add

pytestmark = pytest.mark.slow  # real processes, ~1.5 s each

ISSUER = "https://login.example.test"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    environment = cli_env(tmp_path_factory.mktemp("sso-cli"))
    upgraded = flask_cli(environment, "db", "upgrade", "heads")
    assert upgraded.returncode == 0, upgraded.stderr
    return environment


def _rows(env: dict[str, str], sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(Path(env["DATABASE_URL"].removeprefix("sqlite:///"))) as conn:
        return conn.execute(sql).fetchall()


def test_providers_add_list_remove(env: dict[str, str]) -> None:
    added = flask_json(
        {**env, "SSO_CLIENT_SECRET": "secret from the environment"},
        *providers_add("corp", ISSUER, "tollgate", display_name="Corp", jit_mode="link_only"),
    )
    assert added["key"] == "corp"
    assert "client_secret" not in added
    [(stored,)] = _rows(env, "SELECT client_secret_encrypted FROM sso_providers")
    assert "secret from the environment" not in str(stored)
    assert flask_json(env, "sso", "providers", "list")["providers"] == [added]
    duplicate = flask_cli({**env, "SSO_CLIENT_SECRET": "x"}, *providers_add("corp", ISSUER, "t"))
    assert "exists already" in duplicate.assert_failed()
    assert flask_json(env, "sso", "providers", "remove", "corp") == {"removed": "corp"}
    assert flask_json(env, "sso", "providers", "list") == {"providers": []}


def test_invitations_create(env: dict[str, str]) -> None:
    user = flask_json(
        env,
        "users",
        "create",
        "--email",
        "admin@family.example",
        "--password",
        "long enough pw",
        "--role",
        "admin",
    )
    family = str(user["family_id"])
    made = flask_json(
        env,
        "invitations",
        "create",
        "--email",
        "kid@family.example",
        "--family",
        family,
    )
    assert (made["email"], made["family_id"], made["role"]) == (
        "kid@family.example",
        family,
        "member",
    )
    refused = flask_cli(env, "invitations", "create", "--email", "nope", "--family", family)
    assert "Email is invalid" in refused.assert_failed()
