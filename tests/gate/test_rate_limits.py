"""Per-key hourly budgets (Sure contract §5.5, base-controller tests 22-27) and the per-IP
brute-force guard on failed key and token authentication.

Budgets count in fixed clock-hour windows; a test that counts across several requests skips
when the current hour is about to roll over (the counter would restart mid-test).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.clock import utcnow
from tests.support.factories import UserInfo
from tests.support.http import error_body

SMALL_LIMITS = {"standard": 5, "premium": 1000, "enterprise": 10000}
MSG_MISSING = "Access token or API key is invalid, expired, or missing"


def api_key(value: str) -> dict[str, str]:
    return {"X-Api-Key": value}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def seconds_left_in_hour() -> float:
    return 3600 - time.time() % 3600


def needs_window(seconds: float = 30) -> None:
    """Skip when the clock hour ends within ``seconds``: the budget would reset mid-test."""
    left = seconds_left_in_hour()
    if left < seconds:
        pytest.skip(f"the rate-limit hour rolls over in {left:.0f} s; counts would reset")


def rate_headers(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {k: v for k, v in response.headers.items() if k.lower().startswith("x-ratelimit-")}


@pytest.fixture
def api(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_key(app: Flask) -> Callable[..., str]:
    from app.apikeys import services
    from app.extensions import db
    from app.identity.models import User

    counter = iter(range(1, 10_000))

    def factory(
        owner: UserInfo, scope: str = "read_write", source: str = "web", tier: str = "standard"
    ) -> str:
        with app.app_context():
            return services.create_api_key(
                db.session.get(User, owner.id),
                name=f"limit key {next(counter)}",
                scope=scope,
                source=source,
                tier=tier,
                now=utcnow(),
            ).key

    return factory


@pytest.fixture
def account(app: Flask, user: UserInfo) -> str:
    from app.resources import services

    with app.app_context():
        return str(
            services.create_account(
                family_id=user.family_id,
                name="Checking",
                currency="USD",
                balance=Decimal("0"),
                now=utcnow(),
            ).id
        )


@pytest.fixture
def key(user: UserInfo, make_key: Callable[..., str]) -> str:
    return make_key(user)


def assert_429(response, limit: int) -> int:  # type: ignore[no-untyped-def]
    """The Sure 429, exactly; returns the seconds it asks to wait."""
    assert response.status_code == 429, (response.status_code, response.get_json())
    body = error_body(response)
    reset = body["details"]["reset_in_seconds"]
    assert isinstance(reset, int) and 0 < reset <= 3600
    assert body == {
        "error": "rate_limit_exceeded",
        "message": f"Rate limit exceeded. Try again in {reset} seconds.",
        "details": {
            "limit": limit,
            "current": body["details"]["current"],
            "reset_in_seconds": reset,
        },
    }
    assert body["details"]["current"] >= limit
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.headers["X-RateLimit-Reset"] == str(reset)
    assert response.headers["Retry-After"] == str(reset)
    return reset


# --- Sure base controller (§7.2, 22-27) --------------------------------------------------------


def test_sure_22_api_key_success_carries_rate_limit_headers(api, key, account) -> None:
    needs_window(5)
    response = api.get("/api/v1/accounts", headers=api_key(key))
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "100"
    assert response.headers["X-RateLimit-Remaining"] == "99"
    reset = int(response.headers["X-RateLimit-Reset"])
    assert 0 < reset <= 3600
    assert abs(reset - seconds_left_in_hour()) <= 2  # seconds until the hour ends, no timestamp


def test_sure_23_remaining_counts_down(api, key, account) -> None:
    needs_window(5)
    first = api.get("/api/v1/accounts", headers=api_key(key))
    second = api.get("/api/v1/accounts", headers=api_key(key))
    assert first.headers["X-RateLimit-Remaining"] == "99"
    assert second.headers["X-RateLimit-Remaining"] == "98"


def test_sure_24_the_101st_request_in_an_hour_is_429(api, key, account) -> None:
    """The real budget: 100 an hour for a standard key."""
    needs_window(60)
    for n in range(1, 101):
        response = api.get("/api/v1/accounts", headers=api_key(key))
        assert response.status_code == 200, (n, response.get_json())
        assert response.headers["X-RateLimit-Remaining"] == str(100 - n)
    response = api.get("/api/v1/accounts", headers=api_key(key))
    assert response.status_code == 429
    assert response.get_json()["error"] == "rate_limit_exceeded"
    assert "Rate limit exceeded" in response.get_json()["message"]
    assert response.headers["X-RateLimit-Limit"] == "100"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.headers["X-RateLimit-Reset"]
    assert response.headers["Retry-After"]


def test_sure_25_unauthenticated_request_has_no_rate_limit_headers(api, account) -> None:
    for headers in ({}, api_key("tgk_" + "n" * 43), api_key("nonsense")):
        response = api.get("/api/v1/accounts", headers=headers)
        assert response.status_code == 401
        assert rate_headers(response) == {}


def test_sure_26_429_details(api, key, account) -> None:
    needs_window(60)
    for _ in range(100):
        assert api.get("/api/v1/accounts", headers=api_key(key)).status_code == 200
    response = api.get("/api/v1/accounts", headers=api_key(key))
    assert_429(response, 100)
    details = response.get_json()["details"]
    assert details["limit"] == 100
    assert details["current"] >= 100
    assert details["reset_in_seconds"] > 0


@pytest.mark.config(API_KEY_RATE_LIMITS={"standard": 60, "premium": 1000, "enterprise": 10000})
def test_sure_27_budgets_are_per_key(api, user, make_key, account) -> None:
    needs_window(30)
    key_a = make_key(user, source="web")
    key_b = make_key(user, source="mobile")
    for _ in range(50):
        assert api.get("/api/v1/accounts", headers=api_key(key_a)).status_code == 200
    response = api.get("/api/v1/accounts", headers=api_key(key_b))
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Remaining"] == "59"


# --- tiers and the 429 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "limit"), [("standard", 100), ("premium", 1000), ("enterprise", 10000)]
)
def test_tier_budgets(api, user, make_key, account, tier, limit) -> None:
    needs_window(5)
    key = make_key(user, tier=tier)
    response = api.get("/api/v1/accounts", headers=api_key(key))
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == str(limit - 1)
    usage = api.get("/api/v1/usage", headers=api_key(key)).get_json()["rate_limit"]
    assert (usage["tier"], usage["limit"]) == (tier, limit)


@pytest.mark.config(API_KEY_RATE_LIMITS=SMALL_LIMITS)
def test_429_body_and_headers_exactly(api, key, account) -> None:
    needs_window(10)
    for n in range(1, 6):
        response = api.get("/api/v1/accounts", headers=api_key(key))
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Remaining"] == str(5 - n)
    refused = api.get("/api/v1/accounts", headers=api_key(key))
    assert_429(refused, 5)
    assert refused.get_json()["details"]["current"] == 5
    # Refusals are not counted: the count stays at the limit.
    again = api.get("/api/v1/usage", headers=api_key(key))
    assert_429(again, 5)
    assert again.get_json()["details"]["current"] == 5
    # Every route the key can reach shares the one budget, writes included.
    assert_429(api.post("/api/v1/sync", headers=api_key(key)), 5)


@pytest.mark.config(API_KEY_RATE_LIMITS=SMALL_LIMITS)
def test_429_is_per_key_not_per_user(api, user, make_key, account) -> None:
    needs_window(10)
    spent = make_key(user, source="web")
    fresh = make_key(user, source="monitoring")
    for _ in range(5):
        api.get("/api/v1/accounts", headers=api_key(spent))
    assert api.get("/api/v1/accounts", headers=api_key(spent)).status_code == 429
    response = api.get("/api/v1/accounts", headers=api_key(fresh))
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Remaining"] == "4"


@pytest.mark.config(API_KEY_RATE_LIMITS=SMALL_LIMITS)
def test_requests_refused_for_scope_still_count(api, user, make_key, account) -> None:
    needs_window(10)
    read_key = make_key(user, scope="read")
    refused = api.post("/api/v1/sync", headers=api_key(read_key))
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "insufficient_scope"
    assert refused.headers["X-RateLimit-Limit"] == "5"
    assert refused.headers["X-RateLimit-Remaining"] == "4"
    response = api.get("/api/v1/accounts", headers=api_key(read_key))
    assert response.headers["X-RateLimit-Remaining"] == "3"
    for _ in range(3):
        api.post("/api/v1/sync", headers=api_key(read_key))
    assert_429(api.get("/api/v1/accounts", headers=api_key(read_key)), 5)


@pytest.mark.config(API_KEY_RATE_LIMITS=SMALL_LIMITS)
def test_rate_limited_key_is_429_before_scope(api, user, make_key, account) -> None:
    """At the limit the answer is 429 even where the scope would also refuse (Sure's order)."""
    needs_window(10)
    read_key = make_key(user, scope="read")
    for _ in range(5):
        api.get("/api/v1/accounts", headers=api_key(read_key))
    assert_429(api.post("/api/v1/sync", headers=api_key(read_key)), 5)


@pytest.mark.config(API_KEY_RATE_LIMITS=SMALL_LIMITS)
def test_not_found_requests_count(api, key) -> None:
    needs_window(10)
    response = api.get(f"/api/v1/accounts/{uuid.uuid4()}", headers=api_key(key))
    assert response.status_code == 404
    assert response.headers["X-RateLimit-Remaining"] == "4"


# --- who is not rate limited per key -------------------------------------------------------------


@pytest.mark.config(API_KEY_RATE_LIMITS=SMALL_LIMITS)
def test_oauth_requests_carry_no_rate_limit_headers(api, tokens, account) -> None:
    for _ in range(8):  # more than a standard key's budget here
        response = api.get("/api/v1/accounts", headers=bearer(tokens["access_token"]))
        assert response.status_code == 200
        assert rate_headers(response) == {}
    assert rate_headers(api.post("/api/v1/sync", headers=bearer(tokens["access_token"]))) == {}


def test_session_requests_carry_no_rate_limit_headers(signed_in, account) -> None:
    response = signed_in.get("/api/v1/accounts")
    assert response.status_code == 200
    assert rate_headers(response) == {}


def test_unauthenticated_and_refused_requests_carry_none(api, account) -> None:
    for response in (
        api.get("/api/v1/accounts"),
        api.get("/api/v1/usage"),
        api.post("/api/v1/sync"),
        api.get("/api/v1/accounts", headers=bearer("tga_" + "z" * 43)),
    ):
        assert response.status_code == 401
        assert rate_headers(response) == {}


# --- self-hosted mode ----------------------------------------------------------------------------


INFINITE = {
    "X-RateLimit-Limit": "Infinity",
    "X-RateLimit-Remaining": "Infinity",
    "X-RateLimit-Reset": "0",
}


@pytest.mark.config(SELF_HOSTED=True, API_KEY_RATE_LIMITS=SMALL_LIMITS)
@pytest.mark.parametrize("tier", ["standard", "enterprise"])
def test_self_hosted_never_limits(api, user, make_key, account, tier) -> None:
    key = make_key(user, tier=tier)
    for _ in range(12):
        response = api.get("/api/v1/accounts", headers=api_key(key))
        assert response.status_code == 200
        assert rate_headers(response) == INFINITE
    usage = api.get("/api/v1/usage", headers=api_key(key))
    assert usage.status_code == 200
    assert rate_headers(usage) == INFINITE
    body = usage.get_json()
    assert body["rate_limit"]["tier"] == "noop"
    assert body["rate_limit"]["limit"] is None
    assert body["rate_limit"]["remaining"] is None
    assert body["api_key"]["scopes"] == ["read_write"]


@pytest.mark.config(SELF_HOSTED=True)
def test_self_hosted_scope_refusal_still_says_infinity(api, user, make_key) -> None:
    read_key = make_key(user, scope="read")
    response = api.post("/api/v1/sync", headers=api_key(read_key))
    assert response.status_code == 403
    assert rate_headers(response) == INFINITE


# --- brute-force guard on authentication failures per client IP ---------------------------------


GUARD = "5 per 1 minute"


@pytest.mark.config(RATE_LIMIT_AUTH_FAILURES_IP=GUARD)
def test_failed_api_keys_lock_out_the_ip(api, key, account) -> None:
    for n in range(5):
        response = api.get("/api/v1/accounts", headers=api_key(f"tgk_guess{n}"))
        assert response.status_code == 401, n
    refused = api.get("/api/v1/accounts", headers=api_key("tgk_guess-again"))
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "rate_limit_exceeded"
    wait = int(refused.headers["Retry-After"])
    assert 0 < wait <= 61
    # Even the right key is refused from that address while the lock lasts: enumeration
    # cannot learn which guess was right.
    valid = api.get("/api/v1/accounts", headers=api_key(key))
    assert valid.status_code == 429
    assert int(valid.headers["Retry-After"]) > 0
    assert "X-Correlation-ID" in valid.headers


@pytest.mark.config(RATE_LIMIT_AUTH_FAILURES_IP=GUARD)
def test_lockout_is_per_ip(app, api, key, account) -> None:
    for n in range(6):
        api.get("/api/v1/accounts", headers=api_key(f"tgk_guess{n}"))
    assert api.get("/api/v1/accounts", headers=api_key(key)).status_code == 429
    elsewhere = app.test_client()
    response = elsewhere.get(
        "/api/v1/accounts", headers=api_key(key), environ_overrides={"REMOTE_ADDR": "10.0.0.2"}
    )
    assert response.status_code == 200
    bad = elsewhere.get(
        "/api/v1/accounts",
        headers=api_key("tgk_nope"),
        environ_overrides={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert bad.status_code == 401


@pytest.mark.config(RATE_LIMIT_AUTH_FAILURES_IP=GUARD)
def test_bad_bearer_tokens_count_too(api, tokens, account) -> None:
    for n in range(3):
        assert api.get("/api/v1/accounts", headers=bearer(f"tga_guess{n}")).status_code == 401
    for n in range(2):
        assert api.get("/api/v1/accounts", headers=api_key(f"tgk_guess{n}")).status_code == 401
    response = api.get("/api/v1/accounts", headers=bearer(tokens["access_token"]))
    assert response.status_code == 429
    assert response.headers["Retry-After"]


@pytest.mark.config(RATE_LIMIT_AUTH_FAILURES_IP=GUARD)
def test_successes_and_missing_credentials_do_not_count(api, key, account) -> None:
    for _ in range(8):
        assert api.get("/api/v1/accounts", headers=api_key(key)).status_code == 200
        assert api.get("/api/v1/accounts").status_code == 401
    for n in range(5):
        assert api.get("/api/v1/accounts", headers=api_key(f"tgk_guess{n}")).status_code == 401
    assert api.get("/api/v1/accounts", headers=api_key("tgk_more")).status_code == 429


def _body(response) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return error_body(response)


@pytest.mark.config(RATE_LIMIT_AUTH_FAILURES_IP=GUARD)
def test_lockout_answer_does_not_reveal_whether_the_key_was_valid(api, key, account) -> None:
    for n in range(5):
        api.get("/api/v1/accounts", headers=api_key(f"tgk_guess{n}"))
    valid = api.get("/api/v1/accounts", headers=api_key(key))
    invalid = api.get("/api/v1/accounts", headers=api_key("tgk_another"))
    assert valid.status_code == invalid.status_code == 429
    assert _body(valid) == _body(invalid)
    assert _body(valid)["message"] != MSG_MISSING


@pytest.mark.config(RATE_LIMIT_AUTH_FAILURES_IP=GUARD)
def test_a_locked_out_ip_does_not_spend_the_keys_budget(app, api, key, account) -> None:
    """The key's budget is spent in the same round trip that reads the IP's failure budget;
    a request refused for its IP gives its unit back."""
    for n in range(5):
        api.get("/api/v1/accounts", headers=api_key(f"tgk_guess{n}"))
    for _ in range(3):
        assert api.get("/api/v1/accounts", headers=api_key(key)).status_code == 429
    elsewhere = app.test_client()
    usage = elsewhere.get(
        "/api/v1/usage", headers=api_key(key), environ_overrides={"REMOTE_ADDR": "10.0.0.3"}
    )
    assert usage.status_code == 200
    assert usage.get_json()["rate_limit"]["current_count"] == 1  # this /usage call only
