"""Per-credential hourly budgets (Sure's API-key limiter), counted in the shared store.

Fixed clock-hour windows: the counter key carries the hour, so every process (and, with
Redis, every instance) counts into the same bucket. Order as Sure's: at the limit -> 429;
otherwise count, then report the post-increment state in ``X-RateLimit-*`` headers.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from flask import Response, g

from app.errors import TooManyRequests
from app.gate.principal import Principal, RateLimitPolicy
from app.ratelimit import counter_get, counter_incr

WINDOW = 3600


def _window(now: float) -> tuple[int, int]:
    hour = int(now) // WINDOW
    return hour, (hour + 1) * WINDOW - int(now)


def apply(principal: Principal) -> None:
    policy = principal.rate_limit
    if policy is None:
        return
    if policy.limit is None:
        g.rate_limit_headers = {"X-RateLimit-Limit": "Infinity",
                                "X-RateLimit-Remaining": "Infinity", "X-RateLimit-Reset": "0"}
        return
    hour, reset = _window(time.time())
    key = f"{policy.bucket}:{hour}"
    current = counter_get(key)
    if current >= policy.limit:
        raise TooManyRequests(
            reset,
            f"Rate limit exceeded. Try again in {reset} seconds.",
            extra={"details": {"limit": policy.limit, "current": current,
                               "reset_in_seconds": reset}},
            headers={"X-RateLimit-Limit": str(policy.limit), "X-RateLimit-Remaining": "0",
                     "X-RateLimit-Reset": str(reset)},
        )
    count = counter_incr(key, 2 * WINDOW)
    g.rate_limit_headers = {
        "X-RateLimit-Limit": str(policy.limit),
        "X-RateLimit-Remaining": str(max(0, policy.limit - count)),
        "X-RateLimit-Reset": str(reset),
    }


def usage(policy: RateLimitPolicy) -> dict[str, Any]:
    """The current window of a budget, without counting (Sure's ``usage_for``)."""
    now = time.time()
    hour, reset = _window(now)
    reset_at = datetime.fromtimestamp((hour + 1) * WINDOW, UTC).isoformat().replace("+00:00", "Z")
    if policy.limit is None:
        return {"tier": policy.tier, "limit": None, "current_count": 0, "remaining": None,
                "reset_in_seconds": 0, "reset_at": reset_at}
    current = counter_get(f"{policy.bucket}:{hour}")
    return {"tier": policy.tier, "limit": policy.limit, "current_count": current,
            "remaining": max(0, policy.limit - current), "reset_in_seconds": reset,
            "reset_at": reset_at}


def add_headers(response: Response) -> Response:
    headers = g.get("rate_limit_headers")
    if headers:
        response.headers.update(headers)
    return response
