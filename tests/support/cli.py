"""The operator CLI in real ``flask --app wsgi`` processes: an environment of its own (its own
SQLite file and instance folder, nothing read from the caller's settings) and the contract
checks (one JSON object on stdout; on failure one line on stderr)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from app.config import DefaultConfig

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).parent / "flask")


def cli_env(workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of CLI processes on ``workdir/cli.sqlite3``: every Tollgate setting of
    the caller's environment is dropped, the secrets are fresh, hashing is cheap."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in vars(DefaultConfig) and k not in ("DATABASE_URL", "FLASK_APP")
    }
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'cli.sqlite3'}",
            "INSTANCE_PATH": str(workdir / "instance"),
            "SECRET_KEY": "cli-test-" + uuid.uuid4().hex,
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "SECRET_KEY_JWT_KEY": "sk-jwt-" + uuid.uuid4().hex * 2,
            "ACCESS_KEY_JWT_KEY": "ak-jwt-" + uuid.uuid4().hex,
            "PARTNER_SSO_KEY": "partner-sso-" + uuid.uuid4().hex,
            "SESSION_JWT_KEY": "session-jwt-" + uuid.uuid4().hex,
            "APP_ENV": "testing",
            "REDIS_URL": "",
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST": "8",
            "ARGON2_PARALLELISM": "1",
            **extra,
        }
    )
    return env


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        lines = self.stdout.splitlines()
        assert len(lines) == 1, f"expected one line of JSON, got {self.stdout!r}"
        payload = json.loads(lines[0])
        assert isinstance(payload, dict)
        return payload

    def assert_failed(self) -> str:
        """Non-zero exit, empty stdout, exactly one line on stderr; returns that line."""
        assert self.returncode != 0
        assert self.stdout == ""
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        assert lines[0].startswith("Error: ")
        return lines[0]


def flask_cli(env: dict[str, str], *args: str) -> Run:
    done = subprocess.run(
        [FLASK, "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def flask_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run a command that must succeed; its one JSON object."""
    run = flask_cli(env, *args)
    assert run.returncode == 0, run.stderr
    return run.json()
