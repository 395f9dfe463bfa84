"""Per-credential hourly budgets (Sure's API-key limiter), counted in the shared store.

Fixed clock-hour windows: the counter key carries the hour, so every worker and instance
counts into the same bucket. One atomic increment decides (spend, then check): N parallel
requests on a key with K left get exactly K successes. A refused request gives its unit back,
so the count never passes the limit and ``/usage`` reads as Sure's would. The
``X-RateLimit-*`` headers report the post-increment state.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from flask import Response, g

from app import ratelimit
from app.errors import TooManyRequests
from app.gate.principal import Principal, RateLimitPolicy

WINDOW = 3600


def _window(now: float) -> tuple[int, int]:
    hour = int(now) // WINDOW
    return hour, (hour + 1) * WINDOW - int(now)


def _key(policy: RateLimitPolicy, hour: int) -> str:
    return f"tg:budget:{policy.bucket}:{hour}"


def apply(principal: Principal) -> None:
    policy = principal.rate_limit
    if policy is None:
        return
    if policy.limit is None:
        g.rate_limit_headers = {
            "X-RateLimit-Limit": "Infinity",
            "X-RateLimit-Remaining": "Infinity",
            "X-RateLimit-Reset": "0",
        }
        return
    now = time.time()
    hour, reset = _window(now)
    key = _key(policy, hour)
    expire_at = (hour + 2) * WINDOW
    count = ratelimit.incr(key, 1, expire_at)
    if count > policy.limit:
        ratelimit.incr(key, -1, expire_at)
        raise TooManyRequests(
            reset,
            f"Rate limit exceeded. Try again in {reset} seconds.",
            extra={
                "details": {"limit": policy.limit, "current": count - 1, "reset_in_seconds": reset}
            },
            headers={
                "X-RateLimit-Limit": str(policy.limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
            },
        )
    g.rate_limit_headers = {
        "X-RateLimit-Limit": str(policy.limit),
        "X-RateLimit-Remaining": str(policy.limit - count),
        "X-RateLimit-Reset": str(reset),
    }


def usage(policy: RateLimitPolicy) -> dict[str, Any]:
    """The current window of a budget, without counting (Sure's ``usage_for``)."""
    now = time.time()
    hour, reset = _window(now)
    reset_at = datetime.fromtimestamp((hour + 1) * WINDOW, UTC).isoformat().replace("+00:00", "Z")
    if policy.limit is None:
        return {
            "tier": policy.tier,
            "limit": None,
            "current_count": 0,
            "remaining": None,
            "reset_in_seconds": 0,
            "reset_at": reset_at,
        }
    current = min(ratelimit.get(_key(policy, hour)), policy.limit)
    return {
        "tier": policy.tier,
        "limit": policy.limit,
        "current_count": current,
        "remaining": max(0, policy.limit - current),
        "reset_in_seconds": reset,
        "reset_at": reset_at,
    }


def add_headers(response: Response) -> Response:
    headers = g.get("rate_limit_headers")
    if headers:
        response.headers.update(headers)
    return response
