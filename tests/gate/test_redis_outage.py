"""Redis unreachable with ``REDIS_URL`` set: every budget fails closed (503 with the JSON
envelope, never a 500, never unlimited) and service comes back by itself when Redis does —
proven by shutting down and restarting a real Redis process."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from tests.support.config import base_config
from tests.support.factories import PASSWORD
from tests.support.http import error_body
from tests.support.servers import free_port

LOGIN = "/api/v1/auth/login"
ACCOUNTS = "/api/v1/accounts"
DEVICE = {
    "device_id": "store-device",
    "device_name": "Store",
    "device_type": "ios",
    "os_version": "17.0",
    "app_version": "1.0.0",
}
UNAVAILABLE = {
    "error": "service_unavailable",
    "message": "The service is temporarily unavailable. Try again later.",
}


def start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis(port=port, socket_connect_timeout=0.5).ping()
            return process
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def redis_port() -> Iterator[int]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = start_redis(port)
    yield port
    if process.poll() is None:
        stop(process)


@pytest.fixture
def app(
    request: pytest.FixtureRequest, database_url: str, instance_dir: Path, redis_port: int
) -> Iterator[Flask]:
    """This module's app counts in a Redis of its own, which the tests stop and start."""
    application = create_app(
        {
            **base_config(database_url, instance_dir),
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            **{k: v for m in request.node.iter_markers("config") for k, v in m.kwargs.items()},
        }
    )
    yield application
    from app.extensions import db

    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def test_redis_down_fails_closed_then_recovers_without_a_restart(
    app, client, make_user, redis_port
) -> None:
    user = make_user(email="redis@example.com")
    with app.app_context():
        from app.apikeys import services as apikeys
        from app.clock import utcnow
        from app.extensions import db
        from app.identity.models import User

        key = apikeys.create_api_key(
            db.session.get(User, user.id),
            name="k",
            scope="read",
            source="web",
            tier="standard",
            now=utcnow(),
        ).key

    def login(password: str):  # type: ignore[no-untyped-def]
        return client.post(
            LOGIN, json={"email": user.email, "password": password, "device": DEVICE}
        )

    assert login("wrong password").status_code == 401
    assert client.get(ACCOUNTS, headers={"X-Api-Key": key}).status_code == 200

    import redis

    redis.Redis(port=redis_port).shutdown(nosave=True)
    for response in (
        login("wrong password"),
        login(PASSWORD),
        client.get(ACCOUNTS, headers={"X-Api-Key": key}),
        client.get(ACCOUNTS, headers={"X-Api-Key": "tgk_" + "x" * 43}),
    ):
        assert response.status_code == 503, response.get_data(as_text=True)
        assert error_body(response) == UNAVAILABLE
        assert response.headers["Retry-After"] == "5"

    restarted = start_redis(redis_port)
    try:
        assert login("wrong password").status_code == 401
        assert login(PASSWORD).status_code == 200
        assert client.get(ACCOUNTS, headers={"X-Api-Key": key}).status_code == 200
    finally:
        stop(restarted)
