"""GET /api/v1/usage (Sure contract §2.5, usage_controller_test §7.4 with a read-only key)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from app.clock import utcnow
from tests.support.factories import UserInfo
from tests.support.http import error_body

OAUTH_USAGE = {
    "authentication_method": "oauth",
    "message": "Detailed usage tracking is available for API key authentication",
}


def api_key(value: str) -> dict[str, str]:
    return {"X-Api-Key": value}


def seconds_left_in_hour() -> float:
    return 3600 - time.time() % 3600


def needs_window(seconds: float = 20) -> None:
    left = seconds_left_in_hour()
    if left < seconds:
        pytest.skip(f"the rate-limit hour rolls over in {left:.0f} s; counts would reset")


@pytest.fixture
def api(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_key(app: Flask) -> Callable[..., tuple[str, str]]:
    """(plaintext key, name) of a fresh key made through the service."""
    from app.apikeys import services
    from app.extensions import db
    from app.identity.models import User

    counter = iter(range(1, 10_000))

    def factory(
        owner: UserInfo, scope: str = "read", source: str = "web", tier: str = "standard"
    ) -> tuple[str, str]:
        name = f"usage key {next(counter)}"
        with app.app_context():
            created = services.create_api_key(
                db.session.get(User, owner.id),
                name=name,
                scope=scope,
                source=source,
                tier=tier,
                now=utcnow(),
            )
            return created.key, name

    return factory


@pytest.fixture
def read_key(user: UserInfo, make_key: Callable[..., tuple[str, str]]) -> tuple[str, str]:
    return make_key(user, scope="read")


def parse_time(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.removesuffix("Z"))


# --- Sure usage_controller_test (§7.4) ---------------------------------------------------------


def test_sure_1_usage_after_three_requests(api, read_key) -> None:
    needs_window()
    key, name = read_key
    started = utcnow() - timedelta(seconds=1)
    for _ in range(3):
        assert api.get("/api/v1/accounts", headers=api_key(key)).status_code == 200
    response = api.get("/api/v1/usage", headers=api_key(key))
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"api_key", "rate_limit"}
    assert set(body["api_key"]) == {"name", "scopes", "last_used_at", "created_at"}
    assert body["api_key"]["name"] == name
    assert body["api_key"]["scopes"] == ["read"]
    assert started <= parse_time(body["api_key"]["last_used_at"]) <= utcnow()
    assert started <= parse_time(body["api_key"]["created_at"]) <= utcnow()
    limits = body["rate_limit"]
    assert set(limits) == {
        "tier",
        "limit",
        "current_count",
        "remaining",
        "reset_in_seconds",
        "reset_at",
    }
    assert limits["tier"] == "standard"
    assert limits["limit"] == 100
    assert limits["current_count"] == 4
    assert limits["remaining"] == 96
    assert limits["reset_in_seconds"] > 0
    assert limits["reset_at"]


def test_sure_2_key_without_scopes_is_403(app, api, read_key) -> None:
    from app.apikeys.models import ApiKey
    from app.extensions import db

    key, _ = read_key
    with app.app_context():  # saved bypassing validation, as Sure's test does
        db.session.execute(
            update(ApiKey)
            .where(ApiKey.key_digest == hashlib.sha256(key.encode()).hexdigest())
            .values(scope="")
        )
        db.session.commit()
    response = api.get("/api/v1/usage", headers=api_key(key))
    assert response.status_code == 403
    assert error_body(response) == {
        "error": "insufficient_scope",
        "message": "This action requires the 'read' scope",
    }


def test_sure_3_no_auth_is_401(api) -> None:
    response = api.get("/api/v1/usage")
    assert response.status_code == 401
    assert error_body(response) == {
        "error": "unauthorized",
        "message": "Access token or API key is invalid, expired, or missing",
    }


def test_sure_4_each_usage_call_counts(api, read_key) -> None:
    needs_window()
    key, _ = read_key
    first = api.get("/api/v1/usage", headers=api_key(key)).get_json()["rate_limit"]
    second = api.get("/api/v1/usage", headers=api_key(key)).get_json()["rate_limit"]
    assert second["current_count"] == first["current_count"] + 1
    assert second["remaining"] == first["remaining"] - 1


def test_sure_5_usage_carries_rate_limit_headers(api, read_key) -> None:
    needs_window()
    key, _ = read_key
    response = api.get("/api/v1/usage", headers=api_key(key))
    assert response.headers["X-RateLimit-Limit"] == "100"
    assert response.headers["X-RateLimit-Remaining"] == "99"
    assert int(response.headers["X-RateLimit-Reset"]) > 0


def test_sure_6_the_last_requests_of_the_hour(api, read_key) -> None:
    needs_window(40)
    key, _ = read_key
    for n in range(98):
        assert api.get("/api/v1/accounts", headers=api_key(key)).status_code == 200, n
    usage = api.get("/api/v1/usage", headers=api_key(key))  # the 99th request
    assert usage.status_code == 200
    assert usage.get_json()["rate_limit"]["current_count"] == 99
    assert usage.get_json()["rate_limit"]["remaining"] == 1
    last = api.get("/api/v1/accounts", headers=api_key(key))  # the 100th
    assert last.status_code == 200
    assert last.headers["X-RateLimit-Remaining"] == "0"
    refused = api.get("/api/v1/usage", headers=api_key(key))
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "rate_limit_exceeded"


# --- beyond the Sure tests ------------------------------------------------------------------------


def test_oauth_usage(api, tokens) -> None:
    response = api.get(
        "/api/v1/usage", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert response.status_code == 200
    assert response.get_json() == OAUTH_USAGE


def test_oauth_read_token_may_ask_for_usage(api, signed_in, oauth_client) -> None:
    from tests.support.oauth import authorize, exchange_code

    auth = authorize(signed_in, oauth_client, scope="read")
    token = exchange_code(signed_in, oauth_client, auth).get_json()["access_token"]
    response = api.get("/api/v1/usage", headers={"Authorization": f"Bearer {token}"})
    assert response.get_json() == OAUTH_USAGE


def test_session_usage_names_the_session(signed_in) -> None:
    response = signed_in.get("/api/v1/usage")
    assert response.status_code == 200
    assert response.get_json()["authentication_method"] == "session"


def test_reset_fields_agree(api, read_key) -> None:
    needs_window(5)
    key, _ = read_key
    before = time.time()
    limits = api.get("/api/v1/usage", headers=api_key(key)).get_json()["rate_limit"]
    reset_at = parse_time(limits["reset_at"]).replace(tzinfo=UTC)
    # The next clock hour, and the seconds until then.
    assert reset_at.minute == reset_at.second == reset_at.microsecond == 0
    assert 0 < reset_at.timestamp() - before <= 3600
    assert abs(reset_at.timestamp() - time.time() - limits["reset_in_seconds"]) <= 2


def test_read_write_key_usage(api, user, make_key) -> None:
    needs_window()
    key, _ = make_key(user, scope="read_write", tier="premium")
    body = api.get("/api/v1/usage", headers=api_key(key)).get_json()
    assert body["api_key"]["scopes"] == ["read_write"]
    assert body["rate_limit"]["tier"] == "premium"
    assert body["rate_limit"]["limit"] == 1000
    assert body["rate_limit"]["current_count"] == 1
    assert body["rate_limit"]["remaining"] == 999


def test_usage_is_per_key(api, user, make_key) -> None:
    needs_window()
    first, _ = make_key(user, source="web")
    second, second_name = make_key(user, source="mobile")
    for _ in range(3):
        api.get("/api/v1/accounts", headers=api_key(first))
    body = api.get("/api/v1/usage", headers=api_key(second)).get_json()
    assert body["api_key"]["name"] == second_name
    assert body["rate_limit"]["current_count"] == 1


def test_revoked_key_has_no_usage(app, api, read_key) -> None:
    from app.apikeys.models import ApiKey
    from app.extensions import db

    key, _ = read_key
    with app.app_context():
        db.session.execute(
            update(ApiKey)
            .where(ApiKey.key_digest == hashlib.sha256(key.encode()).hexdigest())
            .values(revoked_at=utcnow())
        )
        db.session.commit()
    assert api.get("/api/v1/usage", headers=api_key(key)).status_code == 401


def test_usage_shows_the_key_as_the_api_key_json_does(api, read_key) -> None:
    """/usage reads its four key fields straight off the verified row; they must say what
    the API-key JSON (ApiKeyOut, GET /api/v1/api_keys) says of the same key."""
    key, _ = read_key
    usage = api.get("/api/v1/usage", headers=api_key(key)).get_json()["api_key"]
    from app.apikeys import services
    from app.apikeys.verifier import _KeyDetails
    from app.clock import utcnow as now

    with api.application.app_context():
        row = services.find_for_verification(key, now=now())
        assert row is not None
        details = _KeyDetails(row, row.last_used_at)
        full = services.describe(row)
        full["last_used_at"] = services.describe_time(row.last_used_at)
        assert {name: details[name] for name in usage} == {name: full[name] for name in usage}
        assert dict(details) == full
    assert usage["scopes"] == full["scopes"]
    assert usage["created_at"] == full["created_at"]
