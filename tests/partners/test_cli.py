"""``flask --app wsgi users create --partner`` in real processes (tests/support/cli.py): a new
partner tenant whose first user is an admin flagged ``is_partner``, printed as exactly one
JSON object; without ``--partner`` the command's output is unchanged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support.cli import cli_env, flask_cli, flask_json

pytestmark = pytest.mark.slow  # real processes, ~1.5 s each


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    workdir = tmp_path_factory.mktemp("partners-cli")
    environment = cli_env(workdir)
    upgraded = flask_cli(environment, "db", "upgrade", "heads")
    assert upgraded.returncode == 0, upgraded.stderr
    return environment


def _rows(env: dict[str, str], sql: str, *params: str) -> list[tuple]:
    database = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(Path(database)) as conn:
        return conn.execute(sql, params).fetchall()


def test_users_create_partner_makes_a_partner_tenant_and_prints_one_json_object(env) -> None:
    printed = flask_json(
        env,
        "users",
        "create",
        "--email",
        " Pat@Partner.example ",
        "--password",
        "a long partner password",
        "--partner",
    )
    assert set(printed) == {"id", "email", "family_id", "partner"}
    assert printed["partner"] is True
    assert printed["email"] == "pat@partner.example"
    [(kind, partner_family, version)] = _rows(
        env,
        "SELECT kind, partner_family_id, sso_secret_version FROM families WHERE id = ?",
        printed["family_id"].replace("-", ""),
    )
    assert (kind, partner_family, version) == ("partner", None, None)
    [(role, is_partner, family_id)] = _rows(
        env,
        "SELECT role, is_partner, family_id FROM users WHERE email = ?",
        "pat@partner.example",
    )
    assert (role, is_partner) == ("admin", 1)
    assert family_id == printed["family_id"].replace("-", "")
    events = _rows(env, "SELECT event FROM audit_events WHERE event = 'partner.created'")
    assert len(events) == 1


def test_each_partner_gets_a_tenant_of_its_own(env) -> None:
    first = flask_json(
        env,
        "users",
        "create",
        "--email",
        "one@partner.example",
        "--password",
        "x" * 12,
        "--partner",
    )
    second = flask_json(
        env,
        "users",
        "create",
        "--email",
        "two@partner.example",
        "--password",
        "x" * 12,
        "--partner",
    )
    assert first["family_id"] != second["family_id"]


def test_partner_with_family_id_is_refused_and_writes_nothing(env) -> None:
    run = flask_cli(
        env,
        "users",
        "create",
        "--email",
        "joiner@partner.example",
        "--password",
        "x" * 12,
        "--partner",
        "--family-id",
        "3f1c0a52-8a8e-4f2b-9d55-3d5b7c1e2a90",
    )
    assert "--partner creates a new partner tenant" in run.assert_failed()
    assert _rows(env, "SELECT id FROM users WHERE email = 'joiner@partner.example'") == []


def test_an_invalid_partner_leaves_no_tenant_behind(env) -> None:
    before = _rows(env, "SELECT count(*) FROM families WHERE kind = 'partner'")
    run = flask_cli(
        env, "users", "create", "--email", "short@partner.example", "--password", "x", "--partner"
    )
    assert "Password must be at least" in run.assert_failed()
    assert _rows(env, "SELECT count(*) FROM families WHERE kind = 'partner'") == before


def test_without_partner_the_output_is_unchanged(env) -> None:
    printed = flask_json(
        env, "users", "create", "--email", "plain@example.com", "--password", "x" * 12
    )
    assert set(printed) == {"id", "email", "family_id", "role"}
    assert printed["role"] == "member"
    [(is_partner,)] = _rows(env, "SELECT is_partner FROM users WHERE email = 'plain@example.com'")
    assert is_partner == 0
