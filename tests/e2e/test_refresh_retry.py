"""Sure's app against a real gunicorn (2 workers): a refresh whose answer never reaches the
phone -- dropped by the network, or lost with a worker killed mid-rotation -- is retried with
the same refresh token within FIRST_PARTY_REFRESH_REUSE_INTERVAL, and the session survives."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from app import crypto
from tests.support.database import requires_postgres
from tests.support.servers import PASSWORD, LiveServer, free_port, running_server, server_env

pytestmark = pytest.mark.slow

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
ACCOUNTS = "/api/v1/accounts"


def device(device_id: str) -> dict[str, str]:
    return {
        "device_id": device_id,
        "device_name": "Test Phone",
        "device_type": "android",
        "os_version": "14",
        "app_version": "1.0.0",
    }


def mobile_login(base_url: str, email: str, device_id: str) -> dict:
    response = requests.post(
        base_url + LOGIN,
        timeout=10,
        json={"email": email, "password": PASSWORD, "device": device(device_id)},
    )
    assert response.status_code == 200, response.text
    return response.json()


def alive(base_url: str, access_token: str) -> bool:
    status = requests.get(
        base_url + ACCOUNTS, timeout=10, headers={"Authorization": f"Bearer {access_token}"}
    ).status_code
    assert status in (200, 401)
    return status == 200


def refresh_used(engine: Engine, refresh_token: str) -> bool:
    """Whether the server has committed the rotation of this refresh token."""
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT refresh_used_at IS NOT NULL FROM oauth2_tokens "
                "WHERE refresh_token_digest = :digest"
            ),
            {"digest": crypto.digest(refresh_token)},
        ).scalar_one()


def wait_until(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def send_and_hang_up(base_url: str, path: str, body: dict) -> None:
    """Send a request and close the connection without reading a byte of the answer."""
    parts = urlsplit(base_url)
    payload = json.dumps(body).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + payload
        )


def assert_session_survives(base_url: str, old: dict, retried: requests.Response) -> None:
    assert retried.status_code == 200, retried.text
    pair = retried.json()
    assert pair["refresh_token"] != old["refresh_token"]
    assert alive(base_url, pair["access_token"])
    # And the pair the app now holds goes on refreshing: the lineage was not revoked.
    following = requests.post(
        base_url + REFRESH, timeout=10, json={"refresh_token": pair["refresh_token"]}
    )
    assert following.status_code == 200, following.text
    assert alive(base_url, following.json()["access_token"])
    assert not alive(base_url, pair["access_token"])  # rotated out, as usual


def test_a_refresh_whose_answer_is_lost_is_retried(live_server: LiveServer, live_user) -> None:
    base = live_server.base_url
    engine = create_engine(live_server.env["DATABASE_URL"])
    try:
        tokens = mobile_login(base, live_user["email"], f"lost-{uuid.uuid4()}")

        send_and_hang_up(base, REFRESH, {"refresh_token": tokens["refresh_token"]})
        wait_until(lambda: refresh_used(engine, tokens["refresh_token"]))

        retried = requests.post(
            base + REFRESH, timeout=10, json={"refresh_token": tokens["refresh_token"]}
        )
        assert_session_survives(base, tokens, retried)
    finally:
        engine.dispose()


# --- a worker SIGKILLed after committing the rotation, before answering (PostgreSQL) ----------


@pytest.fixture
def pg_server(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Engine, int]]:
    """gunicorn (2 workers) on the suite's migrated PostgreSQL database (emptied afterwards
    by the ``database_url`` fixture); a generous interval, because the retry waits for
    gunicorn to replace the killed workers on a busy machine."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_env(
        tmp_path,
        base_url,
        DATABASE_URL=database_url,
        AUTO_MIGRATE="false",
        FIRST_PARTY_REFRESH_REUSE_INTERVAL="60",
    )
    engine = create_engine(database_url)
    with running_server(env, port, tmp_path / "gunicorn.log") as master:
        yield LiveServer(base_url, env), engine, master.pid
    engine.dispose()


def worker_pids(master_pid: int) -> list[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return [int(pid) for pid in children]


@requires_postgres
def test_a_worker_killed_mid_rotation_does_not_sign_the_user_out(pg_server) -> None:
    server, engine, master_pid = pg_server
    base = server.base_url
    email = f"killed-{uuid.uuid4().hex[:8]}@example.com"
    server.cli("users", "create", "--email", email, "--password", PASSWORD)
    device_id = f"phone-{uuid.uuid4()}"
    tokens = mobile_login(base, email, device_id)

    answers: list[object] = []
    with engine.connect() as holder:
        # Hold the device row: the refresh commits its rotation (whose foreign key to the
        # device only needs KEY SHARE), then blocks updating the device's "last seen".
        holder.execute(
            text("SELECT 1 FROM mobile_devices WHERE device_id = :d FOR NO KEY UPDATE"),
            {"d": device_id},
        )

        def doomed() -> None:
            try:
                answers.append(
                    requests.post(
                        base + REFRESH,
                        timeout=30,
                        json={
                            "refresh_token": tokens["refresh_token"],
                            "device": {"device_id": device_id},
                        },
                    )
                )
            except requests.RequestException as exc:
                answers.append(exc)

        thread = threading.Thread(target=doomed)
        thread.start()
        wait_until(lambda: refresh_used(engine, tokens["refresh_token"]))
        for pid in worker_pids(master_pid):  # our own server's workers
            os.kill(pid, signal.SIGKILL)
        thread.join(timeout=30)
        holder.rollback()

    [lost] = answers
    assert isinstance(lost, requests.RequestException), lost  # the phone never got it

    retried = requests.post(
        base + REFRESH, timeout=30, json={"refresh_token": tokens["refresh_token"]}
    )
    assert_session_survives(base, tokens, retried)
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM audit_events WHERE event = 'refresh_token.reused'")
            ).scalar_one()
            == 0
        )
