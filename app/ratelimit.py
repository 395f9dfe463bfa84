"""Throttles and budgets, counted in one store that every worker and instance shares.

There is no per-process counter: a count kept in one worker's memory is not a limit when the
README's ``serve`` runs several workers. The store is chosen from the configuration:

- ``REDIS_URL`` set: Redis (``INCRBY`` + ``EXPIREAT`` in one round trip);
- otherwise, on PostgreSQL: the ``rate_limit_counters`` table of the application database
  (``UNLOGGED``: counters need no crash safety), written on its own connection so a request
  that rolls back keeps what it counted;
- otherwise, on the embedded SQLite database: a sidecar SQLite file next to it
  (``<name>.counters.sqlite3``, WAL, ``synchronous=OFF``), shared by every worker on the host,
  so per-request counting never waits for the main database's write lock or its fsync.

Windows are fixed and aligned to the clock (``10 per 15 minutes`` counts per quarter hour);
the window's number is part of the key, so every process counts into the same bucket and the
answer of one atomic increment is the whole decision: a budget is **spent first and then
checked** (``spend``), never checked and then spent, so N parallel attempts spend N units and
at most ``limit`` of them are let through.

When the store cannot be reached every budget fails closed: ``ServiceUnavailable`` (503) — never
a 500 and never "unlimited". Redis' client reconnects on the next call, so service comes back
by itself once the store does.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from flask import Flask, current_app
from limits import RateLimitItem, parse
from sqlalchemy import Column, Integer, String, Table, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from app.errors import ServiceUnavailable, TooManyRequests
from app.extensions import db

log = logging.getLogger(__name__)
EXTENSION_KEY = "tollgate.ratelimit"

rate_limit_counters = Table(
    "rate_limit_counters",
    db.metadata,
    Column("key", String(255), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("expires_at", Integer, nullable=False, index=True),  # epoch seconds
)


class StoreUnavailable(Exception):
    """The counter store did not answer; every budget then fails closed."""


class CounterStore(Protocol):
    """Atomic shared counters. ``expire_at`` is epoch seconds after which a key may vanish."""

    def incr(self, key: str, amount: int, expire_at: int) -> int:
        """Add ``amount`` (may be negative) and return the new value, in one atomic step."""

    def get(self, key: str) -> int: ...

    def incr_and_get(self, key: str, amount: int, expire_at: int, other: str) -> tuple[int, int]:
        """``incr(key, ...)`` and ``get(other)`` together (one round trip where it can)."""

    def delete(self, key: str) -> None: ...


class RedisCounters:
    def __init__(self, url: str) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # One quick retry: after Redis restarts, a pooled connection fails once and the retry
        # reconnects. Short time-outs: an unreachable Redis costs a request ~1 s, not minutes.
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self.client = redis.Redis.from_url(
            url,
            socket_connect_timeout=1,
            socket_timeout=1,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )

    def incr(self, key: str, amount: int, expire_at: int) -> int:
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.incrby(key, amount)
            pipe.expireat(key, expire_at)
            count, _ = pipe.execute()
            return int(count)
        except self._errors as exc:
            raise StoreUnavailable(str(exc)) from exc

    def get(self, key: str) -> int:
        try:
            return int(self.client.get(key) or 0)
        except self._errors as exc:
            raise StoreUnavailable(str(exc)) from exc

    def incr_and_get(self, key: str, amount: int, expire_at: int, other: str) -> tuple[int, int]:
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.incrby(key, amount)
            pipe.expireat(key, expire_at)
            pipe.get(other)
            count, _, value = pipe.execute()
            return int(count), int(value or 0)
        except self._errors as exc:
            raise StoreUnavailable(str(exc)) from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete(key)
        except self._errors as exc:
            raise StoreUnavailable(str(exc)) from exc


class DatabaseCounters:
    """The ``rate_limit_counters`` table on the application's PostgreSQL database, each
    operation in its own short transaction (independent of the request's session)."""

    PURGE_EVERY = 1000

    def __init__(self) -> None:
        self._calls = 0

    @staticmethod
    def _engine() -> Engine:
        return db.engine

    def incr(self, key: str, amount: int, expire_at: int) -> int:
        insert = pg_insert(rate_limit_counters).values(key=key, count=amount, expires_at=expire_at)
        statement = insert.on_conflict_do_update(
            index_elements=[rate_limit_counters.c.key],
            set_={"count": rate_limit_counters.c.count + insert.excluded.count},
        ).returning(rate_limit_counters.c.count)
        try:
            with self._engine().begin() as conn:
                count = int(conn.execute(statement).scalar_one())
                self._calls += 1
                if self._calls % self.PURGE_EVERY == 0:
                    conn.execute(
                        rate_limit_counters.delete().where(
                            rate_limit_counters.c.expires_at < int(time.time())
                        )
                    )
                return count
        except SQLAlchemyError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def get(self, key: str) -> int:
        try:
            with self._engine().connect() as conn:
                value = conn.execute(
                    select(func.coalesce(func.max(rate_limit_counters.c.count), 0)).where(
                        rate_limit_counters.c.key == key
                    )
                ).scalar_one()
                return int(value)
        except SQLAlchemyError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def incr_and_get(self, key: str, amount: int, expire_at: int, other: str) -> tuple[int, int]:
        return self.incr(key, amount, expire_at), self.get(other)

    def delete(self, key: str) -> None:
        try:
            with self._engine().begin() as conn:
                conn.execute(rate_limit_counters.delete().where(rate_limit_counters.c.key == key))
        except SQLAlchemyError as exc:
            raise StoreUnavailable(str(exc)) from exc


class SQLiteFileCounters:
    """Counters in a sidecar SQLite file shared by every process on the host.

    One connection per process and thread (re-opened after a fork). Autocommit: each
    statement is its own transaction, and an upsert with RETURNING is one atomic step.
    ``synchronous=OFF``: a crash may lose the last counts, never corrupt the file.
    """

    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, "
        "count INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID"
    )
    PURGE_EVERY = 1000

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._calls = 0

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            conn = sqlite3.connect(
                self.path, timeout=10, isolation_level=None, check_same_thread=True
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(self.SCHEMA)
            local.conn, local.pid = conn, os.getpid()
        return local.conn  # type: ignore[no-any-return]

    def incr(self, key: str, amount: int, expire_at: int) -> int:
        try:
            conn = self._connection()
            row = conn.execute(
                "INSERT INTO counters (key, count, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET count = count + excluded.count RETURNING count",
                (key, amount, expire_at),
            ).fetchone()
            self._calls += 1
            if self._calls % self.PURGE_EVERY == 0:
                conn.execute("DELETE FROM counters WHERE expires_at < ?", (int(time.time()),))
            return int(row[0])
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from exc

    def get(self, key: str) -> int:
        try:
            row = (
                self._connection()
                .execute("SELECT count FROM counters WHERE key = ?", (key,))
                .fetchone()
            )
            return int(row[0]) if row else 0
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from exc

    def incr_and_get(self, key: str, amount: int, expire_at: int, other: str) -> tuple[int, int]:
        return self.incr(key, amount, expire_at), self.get(other)

    def delete(self, key: str) -> None:
        try:
            self._connection().execute("DELETE FROM counters WHERE key = ?", (key,))
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from exc


def sidecar_path(database_uri: str) -> Path:
    """Where the embedded default keeps its counters: beside the SQLite database file."""
    location = database_uri.split("///", 1)[1] if "///" in database_uri else ""
    if not location or location == ":memory:" or location.startswith("file::memory:"):
        from app.config import ConfigurationError

        raise ConfigurationError(
            "an in-memory SQLite database cannot share rate-limit counters between workers; "
            "use a database file or set REDIS_URL"
        )
    path = Path(location.split("?", 1)[0])
    return path.with_name(path.stem + ".counters.sqlite3")


def store_for(app: Flask) -> CounterStore:
    if app.config["REDIS_URL"]:
        return RedisCounters(app.config["REDIS_URL"])
    uri: str = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        return SQLiteFileCounters(sidecar_path(uri))
    return DatabaseCounters()


@dataclass
class RateLimiting:
    store: CounterStore
    enabled: bool


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = RateLimiting(
        store=store_for(app), enabled=app.config["RATE_LIMIT_ENABLED"]
    )


def _state() -> RateLimiting:
    return current_app.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]


def unavailable(exc: StoreUnavailable) -> ServiceUnavailable:
    log.warning("rate-limit store unavailable: %s", exc)
    return ServiceUnavailable(headers={"Retry-After": "5"})


def incr(key: str, amount: int, expire_at: int) -> int:
    """One atomic step on a shared counter (503 when the store is unreachable)."""
    try:
        return _state().store.incr(key, amount, expire_at)
    except StoreUnavailable as exc:
        raise unavailable(exc) from None


def incr_and_get(key: str, amount: int, expire_at: int, other: str) -> tuple[int, int]:
    """``incr`` of ``key`` and ``get`` of ``other`` in one step of the store (503 when it is
    unreachable)."""
    try:
        return _state().store.incr_and_get(key, amount, expire_at, other)
    except StoreUnavailable as exc:
        raise unavailable(exc) from None


def get(key: str) -> int:
    try:
        return _state().store.get(key)
    except StoreUnavailable as exc:
        raise unavailable(exc) from None


def delete(key: str) -> None:
    try:
        _state().store.delete(key)
    except StoreUnavailable as exc:
        raise unavailable(exc) from None


def enabled() -> bool:
    return _state().enabled


@functools.lru_cache(maxsize=256)
def _parse(limit: str) -> RateLimitItem:
    """``limits.parse``, once per distinct setting (it runs on every request's checks)."""
    return parse(limit)


@dataclass(frozen=True)
class Window:
    key: str  # the counter's key: throttle name, window number, subject
    limit: int
    resets_in: int  # seconds until the window ends
    expire_at: int  # epoch seconds at which the counter may vanish


@dataclass(frozen=True)
class Throttle:
    """A named budget, e.g. ``Throttle("login-ip", "RATE_LIMIT_LOGIN_IP")``.

    - ``spend(key)``: count one attempt *before* making it; 429 once the window's count passes
      the limit. The right call for anything whose every attempt must be bounded (passwords,
      one-time codes, signups, registrations, introspection).
    - ``check(key)`` + ``fail(key)``: a read-only check for a cheap request that only counts
      when it fails (bad tokens per IP); ``fail`` spends and answers 429 once spent, so even
      parallel failures see at most ``limit`` non-429 answers.
    - ``refund(key)`` gives back a unit a successful attempt should not cost;
      ``reset(key)`` clears the window (a successful sign-in clears the account's failures).
    """

    name: str
    config_key: str

    def window(self, key: str, now: float | None = None) -> Window:
        item = _parse(current_app.config[self.config_key])
        seconds = item.get_expiry()
        now_s = int(time.time() if now is None else now)
        number = now_s // seconds
        end = (number + 1) * seconds
        return Window(f"tg:{self.name}:{number}:{key}", item.amount, end - now_s, end + 60)

    def spend(self, key: str) -> None:
        if not enabled():
            return
        window = self.window(key)
        if incr(window.key, 1, window.expire_at) > window.limit:
            raise TooManyRequests(window.resets_in)

    def retry_after(self, key: str) -> int | None:
        """Seconds until another attempt is allowed, or None while the budget lasts."""
        if not enabled():
            return None
        window = self.window(key)
        return window.resets_in if get(window.key) >= window.limit else None

    def check(self, key: str) -> None:
        wait = self.retry_after(key)
        if wait is not None:
            raise TooManyRequests(wait)

    def fail(self, key: str) -> None:
        """Count a failure; 429 when it is one past the budget."""
        self.spend(key)

    def refund(self, key: str) -> None:
        if enabled():
            window = self.window(key)
            incr(window.key, -1, window.expire_at)

    def reset(self, key: str) -> None:
        if enabled():
            delete(self.window(key).key)


def spend_all(pairs: list[tuple[Throttle, str]]) -> None:
    """Spend one unit of every budget; refuse with the longest wait among the spent ones."""
    waits = []
    for throttle, key in pairs:
        try:
            throttle.spend(key)
        except TooManyRequests as refused:
            waits.append(refused.retry_after)
    if waits:
        raise TooManyRequests(max(waits))
