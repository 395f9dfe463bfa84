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


# Bad tokens and API keys per client IP (the gate's brute-force guard): 429 once spent, even
# for a valid credential.
AUTH_FAILURES_PER_IP = ratelimit.Throttle("auth-failures-ip", "RATE_LIMIT_AUTH_FAILURES_IP")


def has_budget(principal: Principal) -> bool:
    """Whether ``apply`` will count this principal's request in the shared store."""
    return principal.rate_limit is not None and principal.rate_limit.limit is not None


def apply(principal: Principal, *, blocked_ip_check: str | None = None) -> None:
    """Spend one unit of the principal's budget. ``blocked_ip_check``: an IP whose failure
    budget the gate has not checked yet; it is read in the same round trip as the spend
    (a blocked IP gets the 429 and its unit back)."""
    policy = principal.rate_limit
    if (policy is None or policy.limit is None) and blocked_ip_check is not None:
        AUTH_FAILURES_PER_IP.check(blocked_ip_check)
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
    if blocked_ip_check is not None and ratelimit.enabled():
        ip_window = AUTH_FAILURES_PER_IP.window(blocked_ip_check)
        count, failures = ratelimit.incr_and_get(key, 1, expire_at, ip_window.key)
        if failures >= ip_window.limit:
            ratelimit.incr(key, -1, expire_at)
            raise TooManyRequests(ip_window.resets_in)
    else:
        if blocked_ip_check is not None:
            AUTH_FAILURES_PER_IP.check(blocked_ip_check)
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
    g.rate_limit_spent = (key, count)  # usage() of this request reads it from here
    g.rate_limit_headers = {
        "X-RateLimit-Limit": str(policy.limit),
        "X-RateLimit-Remaining": str(policy.limit - count),
        "X-RateLimit-Reset": str(reset),
    }


def usage(policy: RateLimitPolicy) -> dict[str, Any]:
    """The current window of a budget, without counting (Sure's ``usage_for``): the count
    this request's own ``apply`` saw, else the store's."""
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
    key = _key(policy, hour)
    spent = g.get("rate_limit_spent")  # this request counted itself: no second round trip
    current = min(spent[1] if spent and spent[0] == key else ratelimit.get(key), policy.limit)
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
        response.headers.extend(headers)  # set on success only: a 429 carries its own
    return response
