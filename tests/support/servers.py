"""A real Tollgate server process (gunicorn) on loopback, configured through its environment
and seeded through the CLI contract."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIRECT_URI = "https://client.example/callback"
PASSWORD = "live server password"  # the live users' password (not factories.PASSWORD)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    base_url: str
    env: dict[str, str]

    def cli(self, *args: str) -> dict[str, Any]:
        """Run ``flask --app wsgi <args>`` against this server's database; its JSON answer."""
        done = subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def server_env(workdir: Path, base_url: str, **extra: str) -> dict[str, str]:
    """The environment of a server with its own SQLite database and instance folder."""
    return {
        **os.environ,
        "INSTANCE_PATH": str(workdir),
        "DATABASE_URL": f"sqlite:///{workdir / 'live.sqlite3'}",
        "AUTO_MIGRATE": "true",
        "SECRET_KEY": "live-" + os.urandom(16).hex(),
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SECRET_KEY_JWT_KEY": "sk-jwt-" + "k" * 64,
        "ACCESS_KEY_JWT_KEY": "ak-jwt-" + "a" * 32,
        "PARTNER_SSO_KEY": "partner-sso-" + "p" * 32,
        "SESSION_JWT_KEY": "session-jwt-" + "s" * 32,
        "APP_URL": base_url,
        "APP_ENV": "development",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST": "8",
        "ARGON2_PARALLELISM": "1",
        "REDIS_URL": "",
        **extra,
    }


@contextmanager
def running_server(
    env: dict[str, str],
    port: int,
    log_path: Path,
    workers: int = 2,
    extra_args: tuple[str, ...] = (),
    scheme: str = "http",
    verify: str | bool = True,
    command: list[str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """gunicorn on 127.0.0.1:port until the block ends; stopped by PID (its own group).
    ``extra_args`` go to gunicorn (e.g. --certfile/--keyfile with ``scheme="https"``);
    ``verify`` is the CA file requests checks the readiness probe against; ``command``
    replaces the gunicorn command line (e.g. the README's ``flask --app wsgi serve``)."""
    base_url = f"{scheme}://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command
            or [
                str(BIN / "gunicorn"),
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{port}",
                *extra_args,
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (
                        requests.get(base_url + "/login", timeout=5, verify=verify).status_code
                        == 200
                    ):
                        break
                except requests.RequestException:  # not listening yet, or still booting
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log_path.read_text())
                time.sleep(0.2)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()
