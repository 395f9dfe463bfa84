"""What operators watch: readiness of the stores the app needs, and the metrics exposition.

Readiness talks to each store on a short leash and leaves nothing behind: the database is
asked ``SELECT 1`` on a pooled connection of its own (never the request's ORM session), Redis
(only when ``REDIS_URL`` is set) a ``PING`` on the rate limiter's client, whose socket
time-outs are one second.
"""

from __future__ import annotations

import hmac
import logging
import os

from flask import current_app
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import ratelimit
from app.extensions import db

log = logging.getLogger(__name__)

OK = "ok"
UNREACHABLE = "unreachable"


def check_database() -> str:
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        log.warning("readiness: database unreachable: %s", type(exc).__name__)
        return UNREACHABLE
    return OK


def check_redis() -> str | None:
    """``ok`` / ``unreachable``; None when no Redis is configured (nothing to check)."""
    store = current_app.extensions[ratelimit.EXTENSION_KEY].store
    if not isinstance(store, ratelimit.RedisCounters):
        return None
    import redis

    try:
        store.client.ping()
    except (redis.RedisError, OSError) as exc:
        log.warning("readiness: redis unreachable: %s", type(exc).__name__)
        return UNREACHABLE
    return OK


def readiness() -> tuple[bool, dict[str, str]]:
    """Whether every configured store answers, and each one's state."""
    checks = {"database": check_database()}
    redis_state = check_redis()
    if redis_state is not None:
        checks["redis"] = redis_state
    return all(state == OK for state in checks.values()), checks


def metrics_token_accepted(configured: str, offered: str | None) -> bool:
    """Whether ``offered`` is the configured METRICS_TOKEN (constant time); an empty
    configuration leaves /metrics open."""
    if not configured:
        return True
    return offered is not None and hmac.compare_digest(offered.encode(), configured.encode())


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition() -> tuple[bytes, str]:
    """The text exposition: every worker's values summed when the app runs under the
    multiprocess mode (PROMETHEUS_MULTIPROC_DIR), this process's registry otherwise."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
