"""``flask --app wsgi tenants set-features`` and ``tenants show`` through real processes: one
JSON object ``{"family_id", "features"}`` on success; an unknown feature or tenant, or a
malformed id, is one line on stderr and a non-zero exit, and changes nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.support.cli import Run, cli_env, flask_cli, flask_json

# A handful of processes at ~1.5 s each (the app's import and start-up dominate).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    workdir: Path = tmp_path_factory.mktemp("tenants-cli")
    env = cli_env(workdir)
    upgrade = flask_cli(env, "db", "upgrade", "heads")
    assert upgrade.returncode == 0, upgrade.stderr
    return env


@pytest.fixture(scope="module")
def family_id(env: dict[str, str]) -> str:
    made = flask_json(
        env, "users", "create", "--email", "ops@example.com", "--password", "correct horse battery"
    )
    family: str = made["family_id"]
    return family


def _set(env: dict[str, str], family: str, features: str) -> Run:
    return flask_cli(env, "tenants", "set-features", "--family-id", family, "--features", features)


def test_set_features_replaces_the_plan_and_show_reads_it(env, family_id) -> None:
    run = _set(env, family_id, " reports.export , ai,ai ")
    assert run.returncode == 0, run.stderr
    assert run.json() == {"family_id": family_id, "features": ["ai", "reports.export"]}
    shown = flask_json(env, "tenants", "show", "--family-id", family_id)
    assert shown == {"family_id": family_id, "features": ["ai", "reports.export"]}

    assert _set(env, family_id, "").json() == {"family_id": family_id, "features": []}
    assert flask_json(env, "tenants", "show", "--family-id", family_id)["features"] == []


def test_an_unknown_feature_is_refused_and_changes_nothing(env, family_id) -> None:
    assert _set(env, family_id, "ai").returncode == 0
    line = _set(env, family_id, "ai,teleport").assert_failed()
    assert line == "Error: Unknown feature(s) teleport; known: ai, reports.export"
    assert flask_json(env, "tenants", "show", "--family-id", family_id)["features"] == ["ai"]


@pytest.mark.parametrize("command", ["set-features", "show"])
def test_an_unknown_tenant_is_refused(env, command) -> None:
    args = ["tenants", command, "--family-id", str(uuid.uuid4())]
    if command == "set-features":
        args += ["--features", "ai"]
    assert flask_cli(env, *args).assert_failed() == "Error: Tenant not found"


def test_a_malformed_tenant_id_is_refused(env) -> None:
    line = flask_cli(env, "tenants", "show", "--family-id", "acme").assert_failed()
    assert line == "Error: --family-id must be a UUID"
