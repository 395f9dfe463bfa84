"""Throttles on the ``limits`` library: in memory by default, Redis when ``REDIS_URL`` is set,
so every instance of the server shares the same counters.

A throttle counts *failures* (wrong passwords, bad codes): ``check`` before the attempt refuses
once the budget is spent, ``hit`` after a failure spends one unit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Flask, current_app
from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from app.errors import TooManyRequests

EXTENSION_KEY = "tollgate.ratelimit"


@dataclass
class RateLimiting:
    storage: Storage
    limiter: FixedWindowRateLimiter
    enabled: bool


def init_app(app: Flask) -> None:
    storage = storage_from_string(app.config["REDIS_URL"] or "memory://")
    app.extensions[EXTENSION_KEY] = RateLimiting(
        storage=storage,
        limiter=FixedWindowRateLimiter(storage),
        enabled=app.config["RATE_LIMIT_ENABLED"],
    )


def _state() -> RateLimiting:
    return current_app.extensions[EXTENSION_KEY]


@dataclass(frozen=True)
class Throttle:
    """A named failure budget, e.g. ``Throttle("login-ip", "RATE_LIMIT_LOGIN_IP")``."""

    name: str
    config_key: str

    def _item(self) -> RateLimitItem:
        return parse(current_app.config[self.config_key])

    def retry_after(self, key: str) -> int | None:
        """Seconds until another attempt is allowed, or None while the budget lasts."""
        state = _state()
        if not state.enabled:
            return None
        item = self._item()
        if state.limiter.test(item, self.name, key):
            return None
        reset_at, _remaining = state.limiter.get_window_stats(item, self.name, key)
        return max(1, int(reset_at - time.time()) + 1)

    def check(self, key: str) -> None:
        """Raise TooManyRequests when the budget for ``key`` is spent."""
        wait = self.retry_after(key)
        if wait is not None:
            raise TooManyRequests(wait)

    def hit(self, key: str) -> None:
        state = _state()
        if state.enabled:
            state.limiter.hit(self._item(), self.name, key)

    def reset(self, key: str) -> None:
        state = _state()
        state.limiter.clear(self._item(), self.name, key)


def check_all(pairs: list[tuple[Throttle, str]]) -> None:
    """Refuse with the longest wait among the spent budgets."""
    waits = [w for t, k in pairs if (w := t.retry_after(k)) is not None]
    if waits:
        raise TooManyRequests(max(waits))


# --- plain shared counters (the per-credential hourly budgets use these) -------------------


def counter_get(key: str) -> int:
    return int(_state().storage.get(key) or 0)


def counter_incr(key: str, expiry: int) -> int:
    """Increment a shared counter; it disappears ``expiry`` seconds after its first hit."""
    return int(_state().storage.incr(key, expiry))
