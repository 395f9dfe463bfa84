"""A real Tollgate server process (gunicorn) on loopback, seeded through the CLI contract."""

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

import pytest
import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIRECT_URI = "https://client.example/callback"
PASSWORD = "live server password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    base_url: str
    env: dict[str, str]

    def cli(self, *args: str) -> dict:
        done = subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60, check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def server_env(workdir: Path, base_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "INSTANCE_PATH": str(workdir),
        "DATABASE_URL": f"sqlite:///{workdir / 'live.sqlite3'}",
        "AUTO_MIGRATE": "true",
        "SECRET_KEY": "live-" + os.urandom(16).hex(),
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "APP_URL": base_url,
        "APP_ENV": "development",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST": "8",
        "ARGON2_PARALLELISM": "1",
        "REDIS_URL": "",
        **extra,
    }


@contextmanager
def running_server(env: dict[str, str], port: int, log_path: Path, workers: int = 2,
                   extra_args: tuple[str, ...] = (), scheme: str = "http",
                   verify: str | bool = True,
                   command: list[str] | None = None) -> Iterator[subprocess.Popen]:
    """gunicorn on 127.0.0.1:port until the block ends; stopped by PID (its own group).
    ``extra_args`` go to gunicorn (e.g. --certfile/--keyfile with ``scheme="https"``);
    ``verify`` is the CA file requests checks the readiness probe against; ``command``
    replaces the gunicorn command line (e.g. the README's ``flask --app wsgi serve``)."""
    base_url = f"{scheme}://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command or [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}",
                        *extra_args, "wsgi:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(base_url + "/login", timeout=5,
                                    verify=verify).status_code == 200:
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


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("live")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_env(workdir, base_url)
    with running_server(env, port, workdir / "gunicorn.log"):
        yield LiveServer(base_url, env)


@pytest.fixture(scope="session")
def live_user(live_server: LiveServer) -> dict:
    return live_server.cli("users", "create", "--email", "live@example.com",
                           "--password", PASSWORD, "--first-name", "Live")


@pytest.fixture
def live_client(live_server: LiveServer) -> dict:
    return live_server.cli("clients", "create", "--name", "Live Client",
                           "--redirect-uri", REDIRECT_URI, "--scope", "read read_write")


# --- a real Chromium (Debian's /usr/bin/chromium, driven by Playwright) -----------------------

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# Skipped with a reason when Chromium is missing, unless REQUIRE_BROWSER=1 (set by .ci/run,
# which installs it): there a missing browser is a failure, not a skip.
needs_browser = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and os.environ.get("REQUIRE_BROWSER") != "1",
        reason=f"{CHROMIUM} not installed (apt-get install chromium); .ci/run installs it",
    ),
]


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            # No background traffic: this machine has no network beyond loopback.
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )
        yield instance
        instance.close()
