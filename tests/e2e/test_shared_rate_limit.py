"""Every throttle and budget is one count for the whole deployment, proven with real processes:
the README's own ``flask --app wsgi serve`` (2 gunicorn workers, embedded SQLite, no Redis),
2 workers on Redis, and two separate servers sharing one Redis.

Each proof sends requests sequentially (they land on both workers) and in parallel (check and
spend are one atomic step, so N parallel requests against K units left give exactly K).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.support.config import TEST_REDIS_URL
from tests.support.servers import BIN, ROOT, free_port, running_server, server_env

pytestmark = pytest.mark.slow

KEY_LIMIT = 6
LOGIN_LIMIT = 10
PASSWORD = "limits password"
DEVICE = {
    "device_id": "limits-device",
    "device_name": "Limits",
    "device_type": "ios",
    "os_version": "17.0",
    "app_version": "1.0.0",
}
needs_redis = pytest.mark.skipif(
    not TEST_REDIS_URL, reason="needs TEST_REDIS_URL (Redis); .ci/run sets it"
)


def cli(env: dict[str, str], *args: str) -> dict:
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def limits_env(workdir: Path, port: int, redis_url: str = "") -> dict[str, str]:
    env = server_env(
        workdir,
        f"http://127.0.0.1:{port}",
        REDIS_URL=redis_url,
        API_KEY_RATE_LIMITS=json.dumps(
            {"standard": KEY_LIMIT, "premium": 1000, "enterprise": 10000}
        ),
        RATE_LIMIT_LOGIN_ACCOUNT=f"{LOGIN_LIMIT} per 15 minutes",
        RATE_LIMIT_LOGIN_IP="1000 per 15 minutes",
    )
    env.pop("DATABASE_URL")  # the embedded default: instance/tollgate.sqlite3
    return env


@contextmanager
def readme_serve(env: dict[str, str], port: int, log_path: Path) -> Iterator[str]:
    """``flask --app wsgi serve`` exactly as the README starts it (2 workers by default)."""
    command = [str(BIN / "flask"), "--app", "wsgi", "serve", "--port", str(port)]
    with running_server(env, port, log_path, command=command) as process:
        workers = workers_of(process.pid)
        assert len(workers) == 2, f"serve should run 2 workers, found {workers}"
        yield f"http://127.0.0.1:{port}"


def workers_of(pid: int) -> list[int]:
    """The gunicorn workers under ``pid`` (the flask process is the gunicorn master)."""
    for _ in range(50):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if len(children) >= 2:
            return [int(c) for c in children]
        time.sleep(0.1)
    return [int(c) for c in children]


def seed(env: dict[str, str]) -> tuple[str, str]:
    """Two users (the second for the parallel proofs), an account, and two standard-tier API
    keys of the first (one per source); returns the keys."""
    user = cli(env, "users", "create", "--email", "limits@example.com", "--password", PASSWORD)
    cli(env, "users", "create", "--email", "parallel@example.com", "--password", PASSWORD)
    cli(env, "accounts", "create", "--family-id", user["family_id"], "--name", "Main")
    return tuple(
        cli(
            env,
            "apikeys",
            "create",
            "--email",
            "limits@example.com",
            "--name",
            source,
            "--scope",
            "read",
            "--source",
            source,
        )["key"]
        for source in ("web", "mobile")
    )  # type: ignore[return-value]


def get_accounts(base: str, key: str) -> requests.Response:
    return requests.get(base + "/api/v1/accounts", headers={"X-Api-Key": key}, timeout=20)


def login(base: str, email: str, password: str) -> requests.Response:
    return requests.post(
        base + "/api/v1/auth/login",
        timeout=20,
        json={"email": email, "password": password, "device": DEVICE},
    )


def prove_api_key_budget(bases: list[str], key: str, parallel_key: str) -> None:
    # Sequential, alternating servers (and so workers): one counter 5, 4, 3, 2, 1, 0.
    seen = []
    for i in range(KEY_LIMIT):
        response = get_accounts(bases[i % len(bases)], key)
        assert response.status_code == 200, response.text
        seen.append(int(response.headers["X-RateLimit-Remaining"]))
    assert seen == list(range(KEY_LIMIT - 1, -1, -1))
    for base in bases:
        refused = get_accounts(base, key)
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limit_exceeded"
        assert int(refused.headers["Retry-After"]) > 0

    # Parallel: four times the budget at once, exactly KEY_LIMIT successes.
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(
            pool.map(
                lambda i: get_accounts(bases[i % len(bases)], parallel_key).status_code,
                range(4 * KEY_LIMIT),
            )
        )
    assert statuses.count(200) == KEY_LIMIT, statuses
    assert statuses.count(429) == 3 * KEY_LIMIT, statuses


def prove_login_lockout(bases: list[str], email: str, parallel_email: str) -> None:
    # Sequential: exactly LOGIN_LIMIT wrong passwords are checked, then every attempt is 429 —
    # the right password too, and never a 401 after a 429.
    statuses = [
        login(bases[i % len(bases)], email, "wrong password").status_code
        for i in range(3 * LOGIN_LIMIT)
    ]
    assert statuses == [401] * LOGIN_LIMIT + [429] * (2 * LOGIN_LIMIT), statuses
    for base in bases:
        right = login(base, email, PASSWORD)
        assert right.status_code == 429, right.text
        assert int(right.headers["Retry-After"]) > 0

    # Parallel: N wrong passwords at once spend N units; exactly LOGIN_LIMIT get checked.
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(
            pool.map(
                lambda i: (
                    login(bases[i % len(bases)], parallel_email, "wrong password").status_code
                ),
                range(3 * LOGIN_LIMIT),
            )
        )
    assert statuses.count(401) == LOGIN_LIMIT, statuses
    assert statuses.count(429) == 2 * LOGIN_LIMIT, statuses
    assert login(bases[0], parallel_email, PASSWORD).status_code == 429


def test_readme_serve_without_redis_shares_every_count(tmp_path: Path) -> None:
    port = free_port()
    env = limits_env(tmp_path, port)
    with readme_serve(env, port, tmp_path / "serve.log") as base:
        prove_api_key_budget([base], *seed(env))
        prove_login_lockout([base], "limits@example.com", "parallel@example.com")
    assert (tmp_path / "tollgate.counters.sqlite3").exists()


@needs_redis
def test_two_workers_on_redis_share_every_count(tmp_path: Path) -> None:
    import redis

    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    port = free_port()
    env = limits_env(tmp_path, port, TEST_REDIS_URL)
    with readme_serve(env, port, tmp_path / "serve.log") as base:
        prove_api_key_budget([base], *seed(env))
        prove_login_lockout([base], "limits@example.com", "parallel@example.com")
    assert not (tmp_path / "tollgate.counters.sqlite3").exists()


@needs_redis
def test_two_servers_on_one_redis_count_into_one_budget(tmp_path: Path) -> None:
    import redis

    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    ports = [free_port(), free_port()]
    env = limits_env(tmp_path, ports[0], TEST_REDIS_URL)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    keys = seed(env)
    with (
        running_server(env, ports[0], tmp_path / "a.log", workers=1),
        running_server(env, ports[1], tmp_path / "b.log", workers=1),
    ):
        prove_api_key_budget([f"http://127.0.0.1:{p}" for p in ports], *keys)
