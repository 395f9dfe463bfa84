"""/healthz and /readyz: never authenticated, never cached; readiness names the store that
does not answer (503), and a configured but unreachable Redis or database is caught."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from app.config import ConfigurationError
from tests.support.config import TEST_REDIS_URL, base_config
from tests.support.database import ON_POSTGRES
from tests.support.servers import free_port


def test_healthz_answers_without_credentials_and_uncached(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Correlation-ID"]


def test_probes_ignore_credentials_even_invalid_ones(client):
    headers = {"Authorization": "Bearer not-a-token", "X-Api-Key": "nope"}
    assert client.get("/healthz", headers=headers).status_code == 200
    assert client.get("/readyz", headers=headers).status_code == 200


def test_readyz_reports_each_configured_store(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    expected = {"database": "ok", **({"redis": "ok"} if TEST_REDIS_URL else {})}
    assert response.get_json() == {"status": "ok", "checks": expected}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.config(REDIS_URL=f"redis://127.0.0.1:{free_port()}/7")
def test_readyz_names_an_unreachable_redis(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "redis": "unreachable"},
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/healthz").status_code == 200  # the process itself is fine


def test_readyz_names_an_unreachable_database(instance_dir: Path, tmp_path: Path):
    if ON_POSTGRES:
        url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    else:
        url = f"sqlite:///{tmp_path / 'missing-dir' / 'db.sqlite3'}"
    app = create_app(
        {**base_config(url, instance_dir), "REDIS_URL": "", "RATE_LIMIT_ENABLED": False}
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "checks": {"database": "unreachable"}}


def test_readyz_gives_up_on_a_database_host_that_never_answers(instance_dir: Path):
    """A host that accepts the connection and then says nothing (a black hole, a hung proxy):
    libpq's connect_timeout ends the wait, so the probe answers 503 instead of hanging."""
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel accepts; nobody ever reads or answers
    try:
        url = f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/nowhere"
        app = create_app(
            {
                **base_config(url, instance_dir),
                "REDIS_URL": "",
                "RATE_LIMIT_ENABLED": False,
                "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}},
            }
        )
        started = time.monotonic()
        response = app.test_client().get("/readyz")
        waited = time.monotonic() - started
    finally:
        silent.close()
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "unreachable"}
    assert waited < 10, waited


def test_postgres_connections_have_a_connect_timeout_by_default(instance_dir: Path):
    from app.config import POSTGRES_CONNECT_TIMEOUT

    app = create_app(
        {
            **base_config("postgresql://postgres@127.0.0.1:1/x", instance_dir),
            "REDIS_URL": "",
        }
    )
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["connect_args"] == {"connect_timeout": POSTGRES_CONNECT_TIMEOUT}


def test_an_unknown_log_format_stops_start_up(instance_dir: Path, database_url: str):
    with pytest.raises(ConfigurationError, match="LOG_FORMAT"):
        create_app({**base_config(database_url, instance_dir), "LOG_FORMAT": "xml"})


def test_the_probes_are_plain_get_routes(app: Flask):
    rules = {r.rule: r for r in app.url_map.iter_rules() if r.endpoint.startswith("ops.")}
    assert set(rules) == {"/healthz", "/readyz", "/metrics"}
    for rule in rules.values():
        assert rule.methods is not None and rule.methods - {"HEAD", "OPTIONS"} == {"GET"}
