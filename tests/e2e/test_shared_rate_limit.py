"""Two real server processes against one Redis share one API-key counter."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import requests

from tests.conftest import TEST_REDIS_URL
from tests.e2e.conftest import BIN, ROOT, free_port, running_server, server_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not TEST_REDIS_URL,
                       reason="needs TEST_REDIS_URL (Redis); .ci/run sets it"),
]
LIMIT = 6


def cli(env: dict[str, str], *args: str) -> dict:
    done = subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_two_processes_count_into_one_budget(tmp_path) -> None:
    import redis

    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    ports = [free_port(), free_port()]
    env = server_env(tmp_path, f"http://127.0.0.1:{ports[0]}", REDIS_URL=TEST_REDIS_URL,
                     API_KEY_RATE_LIMITS=json.dumps({"standard": LIMIT, "premium": 1000,
                                                     "enterprise": 10000}))
    user = cli(env, "users", "create", "--email", "limits@example.com", "--password",
               "limits password")
    cli(env, "accounts", "create", "--family-id", user["family_id"], "--name", "Main")
    key = cli(env, "apikeys", "create", "--email", "limits@example.com", "--name", "shared",
              "--scope", "read")["key"]

    with running_server(env, ports[0], tmp_path / "a.log", workers=1), \
            running_server(env, ports[1], tmp_path / "b.log", workers=1):
        seen = []
        for i in range(LIMIT):
            port = ports[i % 2]  # alternate between the two processes
            response = requests.get(f"http://127.0.0.1:{port}/api/v1/accounts",
                                    headers={"X-Api-Key": key}, timeout=10)
            assert response.status_code == 200, response.text
            seen.append(int(response.headers["X-RateLimit-Remaining"]))
        assert seen == list(range(LIMIT - 1, -1, -1))  # one counter: 5, 4, 3, 2, 1, 0

        for port in ports:  # the budget is spent for both processes
            refused = requests.get(f"http://127.0.0.1:{port}/api/v1/accounts",
                                   headers={"X-Api-Key": key}, timeout=10)
            assert refused.status_code == 429
            assert refused.json()["error"] == "rate_limit_exceeded"
            assert int(refused.headers["Retry-After"]) > 0
    assert os.environ.get("REDIS_URL", "") == ""  # the suite's own settings were not touched
