"""The shared counter store behind every throttle and budget (app/ratelimit.py).

- which store each set-up gets (Redis, the PostgreSQL table, the SQLite sidecar file) and
  that two app instances (two workers) see one count;
- check-and-spend is one atomic step: parallel spends against K units left let exactly K in;
- a store that cannot be used fails closed (503, the JSON envelope); test_redis_outage.py
  stops and restarts a real Redis.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask

from app import create_app, ratelimit
from app.config import ConfigurationError
from app.errors import ServiceUnavailable, TooManyRequests
from tests.support.config import base_config
from tests.support.database import ON_POSTGRES, requires_postgres

LOGIN = "/api/v1/auth/login"
DEVICE = {
    "device_id": "store-device",
    "device_name": "Store",
    "device_type": "ios",
    "os_version": "17.0",
    "app_version": "1.0.0",
}
THROTTLE = ratelimit.Throttle("test-throttle", "RATE_LIMIT_OTP_ACCOUNT")


def spend_in_parallel(app: Flask, key: str, attempts: int) -> list[bool]:
    def attempt(_: int) -> bool:
        with app.app_context():
            try:
                THROTTLE.spend(key)
                return True
            except TooManyRequests:
                return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(attempt, range(attempts)))


def test_the_store_follows_the_configuration(app: Flask) -> None:
    store = app.extensions[ratelimit.EXTENSION_KEY].store
    if app.config["REDIS_URL"]:
        assert isinstance(store, ratelimit.RedisCounters)
    elif ON_POSTGRES:
        assert isinstance(store, ratelimit.DatabaseCounters)
    else:
        assert isinstance(store, ratelimit.SQLiteFileCounters)
        database = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
        assert store.path == database.with_name(database.stem + ".counters.sqlite3")


@pytest.mark.config(RATE_LIMIT_OTP_ACCOUNT="5 per 5 minutes")
def test_parallel_spends_let_exactly_the_budget_in(app: Flask) -> None:
    results = spend_in_parallel(app, "parallel@example.com", 40)
    assert results.count(True) == 5
    with app.app_context():
        with pytest.raises(TooManyRequests) as refused:
            THROTTLE.spend("parallel@example.com")
        assert 0 < refused.value.retry_after <= 300
        THROTTLE.spend("someone-else@example.com")  # budgets are per key


@requires_postgres
@pytest.mark.config(REDIS_URL="", RATE_LIMIT_OTP_ACCOUNT="5 per 5 minutes")
def test_postgres_without_redis_counts_in_the_database(app: Flask) -> None:
    assert isinstance(app.extensions[ratelimit.EXTENSION_KEY].store, ratelimit.DatabaseCounters)
    assert spend_in_parallel(app, "pg@example.com", 40).count(True) == 5


@pytest.mark.config(RATE_LIMIT_OTP_ACCOUNT="3 per 1 hour")
def test_two_instances_share_one_count(app: Flask, database_url: str, instance_dir: Path) -> None:
    """Two app objects on one database are what two workers are."""
    other = create_app(
        {
            **base_config(database_url, instance_dir),
            "REDIS_URL": app.config["REDIS_URL"],
            "RATE_LIMIT_OTP_ACCOUNT": "3 per 1 hour",
        }
    )
    for instance in (app, other, app):
        with instance.app_context():
            THROTTLE.spend("shared@example.com")
    for instance in (app, other):
        with instance.app_context(), pytest.raises(TooManyRequests):
            THROTTLE.spend("shared@example.com")
    with other.app_context():
        THROTTLE.reset("shared@example.com")  # a success on one worker clears it for all
    with app.app_context():
        THROTTLE.spend("shared@example.com")
    with other.app_context():
        from app.extensions import db

        db.engine.dispose()


@pytest.mark.config(RATE_LIMIT_OTP_ACCOUNT="2 per 1 hour")
def test_refund_gives_a_unit_back(app: Flask) -> None:
    with app.app_context():
        THROTTLE.spend("refund@example.com")
        THROTTLE.spend("refund@example.com")
        THROTTLE.refund("refund@example.com")
        THROTTLE.spend("refund@example.com")
        with pytest.raises(TooManyRequests):
            THROTTLE.spend("refund@example.com")


def test_an_in_memory_database_cannot_host_shared_counters(
    database_url: str, instance_dir: Path
) -> None:
    with pytest.raises(ConfigurationError, match="REDIS_URL"):
        create_app({**base_config("sqlite:///:memory:", instance_dir), "REDIS_URL": ""})


def test_an_unusable_sidecar_fails_closed(
    database_url: str, instance_dir: Path, tmp_path: Path
) -> None:
    """The counters file cannot be opened (a directory stands in its place): 503, not 500,
    and not unlimited."""
    database = tmp_path / "blocked.sqlite3"  # never reached: the budget is spent first
    (tmp_path / "blocked.counters.sqlite3").mkdir()
    broken = create_app({**base_config(f"sqlite:///{database}", instance_dir), "REDIS_URL": ""})
    with broken.app_context(), pytest.raises(ServiceUnavailable):
        THROTTLE.spend("anyone@example.com")
    response = broken.test_client().post(
        LOGIN, json={"email": "nobody@example.com", "password": "wrong", "device": DEVICE}
    )
    assert response.status_code == 503
    assert response.get_json()["error"] == "service_unavailable"
