"""The gate's credential resolution, black-box over HTTP.

The Sure base-controller suite (contract §7.2, tests 1-21; 22-27 are the rate-limit ones in
``test_rate_limits.py``) ported to real routes: ``GET /api/v1/accounts`` stands for Sure's
``/test``, ``POST /api/v1/sync`` (needs ``write``) for ``/test_scope_required``, and another
family's account for ``/test_family_access`` (Tollgate answers 404 there, a product decision).
Then the resolution order, RFC 6750 headers, the query-string refusal, deactivated users,
correlation ids, CORS, the legacy global key and the per-IP brute-force guard (checklist
items 65-72 and 94).
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from app import create_app
from app.clock import utcnow
from tests.support.config import base_config
from tests.support.factories import ClientInfo, UserInfo
from tests.support.http import error_body
from tests.support.oauth import authorize, exchange_code
from tests.support.web import csrf_from

MSG_MISSING = "Access token or API key is invalid, expired, or missing"
MSG_BAD_TOKEN = "Access token is invalid, expired, or missing required scope"
UNAUTHORIZED = {"error": "unauthorized", "message": MSG_MISSING}
BAD_TOKEN = {"error": "unauthorized", "message": MSG_BAD_TOKEN}
DEACTIVATED = {"error": "unauthorized", "message": "Account has been deactivated"}
NOT_FOUND = {"error": "record_not_found", "message": "The requested resource was not found"}
# RFC 9728 §5.1 (and the MCP authorization spec): every challenge says where the protected
# resource metadata is, the same URL discovery serves.
RESOURCE_METADATA = (
    'resource_metadata="https://auth.tollgate.test/.well-known/oauth-protected-resource"'
)
REALM = f'Bearer realm="Tollgate", {RESOURCE_METADATA}'
INVALID_TOKEN_CHALLENGE = f'Bearer realm="Tollgate", error="invalid_token", {RESOURCE_METADATA}'
MISSING_UUID = "00000000-0000-4000-8000-000000000000"
GLOBAL_KEY = "g" * 40


def insufficient_scope(scope: str) -> dict[str, str]:
    return {"error": "insufficient_scope", "message": f"This action requires the '{scope}' scope"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_key(value: str) -> dict[str, str]:
    return {"X-Api-Key": value}


def assert_error(response, status: int, body: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert error_body(response) == body


def is_fresh_uuid(value: str, offered: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return value != offered


# --- set-up helpers -----------------------------------------------------------------------------


@pytest.fixture
def api(app: Flask) -> FlaskClient:
    """A client without a session cookie: only the headers a test sends authenticate."""
    return app.test_client()


@pytest.fixture
def make_key(app: Flask) -> Callable[..., str]:
    """A personal API key through the service (plaintext returned). One active key per user
    and source: a second key of the same user needs another source."""
    from app.apikeys import services
    from app.extensions import db
    from app.identity.models import User

    counter = iter(range(1, 10_000))

    def factory(
        owner: UserInfo,
        scope: str = "read_write",
        source: str = "web",
        tier: str = "standard",
        expires_at: datetime | None = None,
    ) -> str:
        with app.app_context():
            created = services.create_api_key(
                db.session.get(User, owner.id),
                name=f"gate key {next(counter)}",
                scope=scope,
                source=source,
                tier=tier,
                expires_at=expires_at,
                now=utcnow(),
            )
            return created.key

    return factory


@pytest.fixture
def make_account(app: Flask) -> Callable[..., str]:
    from app.resources import services

    def factory(family_id: uuid.UUID, name: str = "Checking") -> str:
        with app.app_context():
            return str(
                services.create_account(
                    family_id=family_id,
                    name=name,
                    currency="USD",
                    balance=Decimal("10"),
                    now=utcnow(),
                ).id
            )

    return factory


def key_row(app: Flask, key: str):  # type: ignore[no-untyped-def]
    from app.apikeys.models import ApiKey
    from app.extensions import db

    with app.app_context():
        digest = hashlib.sha256(key.encode()).hexdigest()
        row = db.session.scalar(select(ApiKey).where(ApiKey.key_digest == digest))
        assert row is not None
        db.session.expunge(row)
        return row


def set_key(app: Flask, key: str, **values: Any) -> None:
    from app.apikeys.models import ApiKey
    from app.extensions import db

    with app.app_context():
        digest = hashlib.sha256(key.encode()).hexdigest()
        db.session.execute(update(ApiKey).where(ApiKey.key_digest == digest).values(**values))
        db.session.commit()


def deactivate(app: Flask, user_id: uuid.UUID) -> None:
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        db.session.execute(update(User).where(User.id == user_id).values(active=False))
        db.session.commit()


def access_token(client: FlaskClient, oauth: ClientInfo, scope: str) -> dict[str, Any]:
    auth = authorize(client, oauth, scope=scope)
    response = exchange_code(client, oauth, auth)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == scope
    return response.get_json()


def explorer_csrf(client: FlaskClient) -> str:
    """The CSRF token the API explorer page gives a signed-in browser."""
    page = client.get("/api/docs").get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match, "the explorer page has no csrf-token meta tag"
    return match.group(1)


@pytest.fixture
def account(user: UserInfo, make_account: Callable[..., str]) -> str:
    return make_account(user.family_id, "Alice's checking")


@pytest.fixture
def rw_key(user: UserInfo, make_key: Callable[..., str]) -> str:
    return make_key(user, scope="read_write", source="web")


@pytest.fixture
def read_key(user: UserInfo, make_key: Callable[..., str]) -> str:
    return make_key(user, scope="read", source="mobile")


@pytest.fixture
def read_token(signed_in: FlaskClient, oauth_client: ClientInfo) -> str:
    return access_token(signed_in, oauth_client, "read")["access_token"]


@pytest.fixture
def rw_token(tokens: dict[str, Any]) -> str:
    return tokens["access_token"]


@pytest.fixture
def stranger(make_user: Callable[..., UserInfo]) -> UserInfo:
    return make_user(email="mallory@example.net", first_name="Mallory")


@pytest.fixture
def stranger_account(stranger: UserInfo, make_account: Callable[..., str]) -> str:
    return make_account(stranger.family_id, "Mallory's savings")


# --- Sure base controller (§7.2, 1-21) ---------------------------------------------------------


def test_sure_01_no_credentials_is_401(api, account) -> None:
    response = api.get("/api/v1/accounts")
    assert_error(response, 401, UNAUTHORIZED)


def test_sure_02_valid_read_bearer_succeeds(api, read_token, account) -> None:
    response = api.get("/api/v1/accounts", headers=bearer(read_token))
    assert response.status_code == 200, response.get_json()
    assert [a["id"] for a in response.get_json()["accounts"]] == [account]


def test_sure_03_revoked_bearer_is_401(api, oauth_client, rw_token, account) -> None:
    assert api.get("/api/v1/accounts", headers=bearer(rw_token)).status_code == 200
    revoked = api.post("/oauth/revoke", data={"token": rw_token}, headers=oauth_client.basic_auth)
    assert revoked.status_code == 200
    response = api.get("/api/v1/accounts", headers=bearer(rw_token))
    assert_error(response, 401, BAD_TOKEN)
    assert response.headers["WWW-Authenticate"] == INVALID_TOKEN_CHALLENGE


def test_sure_04_invalid_bearer_is_401(api, account) -> None:
    response = api.get("/api/v1/accounts", headers=bearer("invalid_token"))
    assert_error(response, 401, BAD_TOKEN)


def test_sure_05_valid_api_key_succeeds(api, rw_key, account) -> None:
    response = api.get("/api/v1/accounts", headers=api_key(rw_key))
    assert response.status_code == 200, response.get_json()
    assert [a["id"] for a in response.get_json()["accounts"]] == [account]


def test_sure_06_invalid_api_key_is_401(api, account) -> None:
    response = api.get("/api/v1/accounts", headers=api_key("invalid_api_key"))
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert "Access token or API key" in response.get_json()["message"]


def test_sure_07_expired_api_key_is_401(app, api, user, make_key, account) -> None:
    key = make_key(user, expires_at=utcnow() + timedelta(days=1))
    assert api.get("/api/v1/accounts", headers=api_key(key)).status_code == 200
    set_key(app, key, expires_at=utcnow() - timedelta(minutes=1))
    response = api.get("/api/v1/accounts", headers=api_key(key))
    assert_error(response, 401, UNAUTHORIZED)
    assert response.headers["WWW-Authenticate"] == INVALID_TOKEN_CHALLENGE


def test_sure_08_revoked_api_key_is_401(app, api, rw_key, account) -> None:
    assert api.get("/api/v1/accounts", headers=api_key(rw_key)).status_code == 200
    set_key(app, rw_key, revoked_at=utcnow())
    response = api.get("/api/v1/accounts", headers=api_key(rw_key))
    assert_error(response, 401, UNAUTHORIZED)
    assert response.headers["WWW-Authenticate"] == INVALID_TOKEN_CHALLENGE


def test_sure_09_api_key_use_sets_last_used_at(app, api, rw_key) -> None:
    assert key_row(app, rw_key).last_used_at is None
    before = utcnow() - timedelta(seconds=1)
    assert api.get("/api/v1/accounts", headers=api_key(rw_key)).status_code == 200
    used = key_row(app, rw_key).last_used_at
    assert used is not None and before <= used <= utcnow() + timedelta(seconds=1)


def test_sure_10_bearer_wins_over_api_key(api, rw_token, rw_key) -> None:
    response = api.get("/api/v1/usage", headers={**bearer(rw_token), **api_key(rw_key)})
    assert response.status_code == 200
    assert response.get_json() == {
        "authentication_method": "oauth",
        "message": "Detailed usage tracking is available for API key authentication",
    }
    assert "X-RateLimit-Limit" not in response.headers


def test_sure_11_read_write_key_may_use_a_write_route(api, rw_key, account) -> None:
    response = api.post("/api/v1/sync", headers=api_key(rw_key))
    assert response.status_code == 200, response.get_json()
    usage = api.get("/api/v1/usage", headers=api_key(rw_key)).get_json()
    assert "read_write" in usage["api_key"]["scopes"]


def test_sure_12_write_route_requires_the_write_scope(app, api, read_key) -> None:
    assert app.view_functions["resources.sync"].required_scope == "write"
    response = api.post("/api/v1/sync", headers=api_key(read_key))
    assert response.get_json()["message"] == "This action requires the 'write' scope"


def test_sure_13_read_key_on_write_route_is_403(api, read_key, account) -> None:
    response = api.post("/api/v1/sync", headers=api_key(read_key))
    assert_error(response, 403, insufficient_scope("write"))
    assert "write" in response.get_json()["message"]


def test_sure_14_read_write_key_satisfies_read(api, rw_key, account) -> None:
    response = api.get("/api/v1/accounts", headers=api_key(rw_key))
    assert response.status_code == 200
    usage = api.get("/api/v1/usage", headers=api_key(rw_key)).get_json()
    assert usage["api_key"]["scopes"] == ["read_write"]


def test_sure_15_read_key_on_another_write_route_is_403(api, read_key, account) -> None:
    body = {
        "transaction": {
            "account_id": account,
            "date": "2026-01-15",
            "amount": "-1.00",
            "name": "Coffee",
        }
    }
    response = api.post("/api/v1/transactions", headers=api_key(read_key), json=body)
    assert_error(response, 403, insufficient_scope("write"))


def _api_access_records(caplog: pytest.LogCaptureFixture, path: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.INFO and "GET" in r.getMessage() and path in r.getMessage()
    ]


def test_sure_16_api_key_request_is_access_logged(api, user, rw_key, caplog) -> None:
    """Sure's ``log_api_access``: method, path, who and with which kind of credential."""
    caplog.set_level(logging.INFO)
    assert api.get("/api/v1/accounts", headers=api_key(rw_key)).status_code == 200
    lines = _api_access_records(caplog, "/api/v1/accounts")
    assert lines, "no access-log record for the API request"
    assert any(
        (user.email in line or str(user.id) in line)
        and re.search(r"api[ _]key", line, re.IGNORECASE)
        for line in lines
    ), lines


# (Sure's base_controller_test #17 is an empty placeholder: nothing to port.)


def test_sure_18_unknown_record_is_404(api, rw_token) -> None:
    response = api.get(f"/api/v1/accounts/{MISSING_UUID}", headers=bearer(rw_token))
    assert_error(response, 404, NOT_FOUND)


def test_sure_19_oauth_request_is_access_logged(api, user, rw_token, caplog) -> None:
    caplog.set_level(logging.INFO)
    assert api.get("/api/v1/accounts", headers=bearer(rw_token)).status_code == 200
    lines = _api_access_records(caplog, "/api/v1/accounts")
    assert lines, "no access-log record for the API request"
    assert any(
        (user.email in line or str(user.id) in line) and "oauth" in line.lower() for line in lines
    ), lines


def test_sure_20_bearer_on_another_familys_record_is_404(
    api, rw_token, account, stranger_account
) -> None:
    response = api.get(f"/api/v1/accounts/{stranger_account}", headers=bearer(rw_token))
    assert_error(response, 404, NOT_FOUND)
    listed = api.get("/api/v1/accounts", headers=bearer(rw_token)).get_json()["accounts"]
    assert [a["id"] for a in listed] == [account]


def test_sure_21_api_key_on_another_familys_record_is_404(
    api, rw_key, account, stranger_account
) -> None:
    response = api.get(f"/api/v1/accounts/{stranger_account}", headers=api_key(rw_key))
    assert_error(response, 404, NOT_FOUND)
    listed = api.get("/api/v1/accounts", headers=api_key(rw_key)).get_json()["accounts"]
    assert [a["id"] for a in listed] == [account]


def test_strangers_key_cannot_read_our_account(api, stranger, make_key, account) -> None:
    key = make_key(stranger)
    assert_error(api.get(f"/api/v1/accounts/{account}", headers=api_key(key)), 404, NOT_FOUND)
    assert api.get("/api/v1/accounts", headers=api_key(key)).get_json()["accounts"] == []


# --- resolution order (checklist 72) -----------------------------------------------------------


def test_invalid_bearer_with_valid_api_key_is_401(app, api, rw_key) -> None:
    response = api.get("/api/v1/accounts", headers={**bearer("tga_not-a-token"), **api_key(rw_key)})
    assert_error(response, 401, BAD_TOKEN)
    assert response.headers["WWW-Authenticate"] == INVALID_TOKEN_CHALLENGE
    assert "X-RateLimit-Limit" not in response.headers


def test_api_key_sent_as_bearer_is_401(api, rw_key) -> None:
    response = api.get("/api/v1/accounts", headers=bearer(rw_key))
    assert_error(response, 401, BAD_TOKEN)


@pytest.mark.parametrize("name", ["x-api-key", "X-API-KEY", "x-Api-kEY"])
def test_api_key_header_name_is_case_insensitive(api, rw_key, account, name) -> None:
    response = api.get("/api/v1/accounts", headers={name: rw_key})
    assert response.status_code == 200, response.get_json()


def test_session_cookie_reads(signed_in, account) -> None:
    response = signed_in.get("/api/v1/accounts")
    assert response.status_code == 200
    assert [a["id"] for a in response.get_json()["accounts"]] == [account]
    assert "X-RateLimit-Limit" not in response.headers


def test_session_cookie_write_needs_csrf_header(signed_in, account) -> None:
    refused = signed_in.post("/api/v1/sync")
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_csrf_token"
    refused = signed_in.post("/api/v1/sync", headers={"X-CSRFToken": "forged"})
    assert refused.status_code == 400
    accepted = signed_in.post("/api/v1/sync", headers={"X-CSRFToken": explorer_csrf(signed_in)})
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["accounts_synced"] == 1


def test_bearer_takes_precedence_over_session(signed_in, read_token, account) -> None:
    """A signed-in browser that also sends a read-only token is judged by the token."""
    response = signed_in.post(
        "/api/v1/sync", headers={**bearer(read_token), "X-CSRFToken": explorer_csrf(signed_in)}
    )
    assert_error(response, 403, insufficient_scope("write"))


def test_api_key_header_present_but_invalid_does_not_fall_back_to_session(signed_in) -> None:
    response = signed_in.get("/api/v1/accounts", headers=api_key("tgk_forged"))
    assert_error(response, 401, UNAUTHORIZED)


# --- RFC 6750 messages and headers (checklist 65-67, 69, 70) ------------------------------------


def test_no_credentials_challenge_has_no_error_code(api) -> None:
    response = api.get("/api/v1/accounts")
    assert_error(response, 401, UNAUTHORIZED)
    assert response.headers["WWW-Authenticate"] == REALM
    assert "error=" not in response.headers["WWW-Authenticate"]


def test_resource_metadata_in_the_challenge_is_what_discovery_serves(api) -> None:
    challenge = api.get("/api/v1/accounts").headers["WWW-Authenticate"]
    url = re.search(r'resource_metadata="([^"]+)"', challenge)
    assert url is not None, challenge
    path = url.group(1).removeprefix("https://auth.tollgate.test")
    assert path == "/.well-known/oauth-protected-resource"
    metadata = api.get(path).get_json()
    assert metadata["resource"] == "https://auth.tollgate.test"


@pytest.mark.config(APP_URL="")
def test_resource_metadata_without_app_url_uses_the_request_base_url(api) -> None:
    challenge = api.get("/api/v1/accounts", base_url="https://other.example").headers[
        "WWW-Authenticate"
    ]
    assert challenge == (
        'Bearer realm="Tollgate", resource_metadata='
        '"https://other.example/.well-known/oauth-protected-resource"'
    )


@pytest.mark.parametrize(
    "headers",
    [
        bearer("tga_" + "x" * 43),
        bearer("garbage"),
        api_key("tgk_" + "y" * 43),
        api_key("not-a-key"),
    ],
    ids=["unknown-token", "garbage-token", "unknown-key", "garbage-key"],
)
def test_bad_credential_challenge_says_invalid_token(api, headers) -> None:
    response = api.get("/api/v1/accounts", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == INVALID_TOKEN_CHALLENGE


@pytest.mark.parametrize("credential", ["read_key", "read_token"])
def test_scope_failure_is_403_insufficient_scope(request, api, account, credential) -> None:
    value = request.getfixturevalue(credential)
    headers = api_key(value) if credential == "read_key" else bearer(value)
    response = api.post("/api/v1/sync", headers=headers)
    assert_error(response, 403, insufficient_scope("write"))
    challenge = response.headers["WWW-Authenticate"]
    assert challenge == (
        f'Bearer realm="Tollgate", error="insufficient_scope", '
        f'scope="read_write", {RESOURCE_METADATA}'
    )


def test_tag_writes_need_read_write_by_name(api, read_key) -> None:
    response = api.post(
        "/api/v1/tags", headers=api_key(read_key), json={"tag": {"name": "x", "color": "#112233"}}
    )
    assert_error(response, 403, insufficient_scope("read_write"))
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_client_credentials_token_is_401_missing_resource_owner(api, make_client) -> None:
    service = make_client(name="Service", grant_types=["client_credentials"])
    issued = api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "read"},
        headers=service.basic_auth,
    )
    assert issued.status_code == 200, issued.get_json()
    response = api.get("/api/v1/accounts", headers=bearer(issued.get_json()["access_token"]))
    assert_error(
        response,
        401,
        {"error": "unauthorized", "message": "Access token is invalid - missing resource owner"},
    )
    assert response.headers["WWW-Authenticate"] == INVALID_TOKEN_CHALLENGE


def test_refresh_token_as_bearer_is_401(api, tokens) -> None:
    response = api.get("/api/v1/accounts", headers=bearer(tokens["refresh_token"]))
    assert_error(response, 401, BAD_TOKEN)


def test_authorization_code_as_bearer_is_401(api, signed_in, oauth_client) -> None:
    auth = authorize(signed_in, oauth_client, scope="read_write")
    assert auth.code
    response = api.get("/api/v1/accounts", headers=bearer(auth.code))
    assert_error(response, 401, BAD_TOKEN)
    # ... and the code, unspent by that attempt, is still no access token once exchanged.
    assert exchange_code(signed_in, oauth_client, auth).status_code == 200
    assert_error(api.get("/api/v1/accounts", headers=bearer(auth.code)), 401, BAD_TOKEN)


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_bearer_scheme_is_case_insensitive(api, rw_token, account, scheme) -> None:
    response = api.get("/api/v1/accounts", headers={"Authorization": f"{scheme} {rw_token}"})
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer {t} extra",
        "Token {t}",
        "Bearer Bearer {t}",
        "{t}",
        "Bearer\t",
        "Bearer " + "x" * 10_000,
    ],
)
def test_malformed_authorization_is_401_never_500(api, rw_token, rw_key, value) -> None:
    header = value.replace("{t}", rw_token)
    response = api.get("/api/v1/accounts", headers={"Authorization": header, **api_key(rw_key)})
    assert_error(response, 401, BAD_TOKEN)
    assert response.headers["WWW-Authenticate"] == INVALID_TOKEN_CHALLENGE


# --- credentials in the URL (checklist 68, 71) ---------------------------------------------------


URL_REFUSED = {
    "error": "bad_request",
    "message": "Credentials are accepted only in request headers, never in the URL",
}


def test_access_token_in_query_is_refused(api, rw_token, account) -> None:
    response = api.get("/api/v1/accounts", query_string={"access_token": rw_token})
    assert_error(response, 400, URL_REFUSED)
    # Even alongside a valid header: the token has leaked into a URL, refuse the request.
    response = api.get(
        "/api/v1/accounts", query_string={"access_token": rw_token}, headers=bearer(rw_token)
    )
    assert_error(response, 400, URL_REFUSED)


def test_api_key_in_query_is_refused(api, rw_key, account) -> None:
    response = api.get("/api/v1/accounts", query_string={"api_key": rw_key})
    assert_error(response, 400, URL_REFUSED)
    response = api.post("/api/v1/sync", query_string={"api_key": rw_key}, headers=api_key(rw_key))
    assert_error(response, 400, URL_REFUSED)


# --- deactivated users ----------------------------------------------------------------------------


def test_deactivated_user_bearer_is_401(app, api, user, rw_token) -> None:
    assert api.get("/api/v1/accounts", headers=bearer(rw_token)).status_code == 200
    deactivate(app, user.id)
    response = api.get("/api/v1/accounts", headers=bearer(rw_token))
    assert_error(response, 401, DEACTIVATED)
    assert response.headers["WWW-Authenticate"] == INVALID_TOKEN_CHALLENGE


def test_deactivated_user_api_key_is_401(app, api, user, rw_key) -> None:
    assert api.get("/api/v1/accounts", headers=api_key(rw_key)).status_code == 200
    deactivate(app, user.id)
    response = api.get("/api/v1/accounts", headers=api_key(rw_key))
    assert_error(response, 401, DEACTIVATED)


def test_deactivated_user_session_is_401(app, signed_in, user) -> None:
    assert signed_in.get("/api/v1/accounts").status_code == 200
    deactivate(app, user.id)
    response = signed_in.get("/api/v1/accounts")
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


# --- correlation ids ---------------------------------------------------------------------------


def _every_kind_of_response(api: FlaskClient, key: str, headers: dict[str, str]) -> dict:
    return {
        "200": api.get("/api/v1/accounts", headers={**headers, **api_key(key)}),
        "401": api.get("/api/v1/accounts", headers=headers),
        "403": api.post("/api/v1/api_keys", headers={**headers, **api_key(key)}),
        "404-api": api.get("/api/v1/no-such-thing", headers=headers),
        "404-page": api.get("/no-such-page", headers=headers),
        "405": api.delete("/api/v1/accounts", headers=headers),
        "oauth-error": api.post("/oauth/token", data={"grant_type": "nope"}, headers=headers),
        "preflight": api.options(
            "/api/v1/transactions",
            headers={
                **headers,
                "Origin": "https://spa.example",
                "Access-Control-Request-Method": "POST",
            },
        ),
        "page": api.get("/login", headers=headers),
    }


def test_every_response_carries_a_correlation_id(api, rw_key) -> None:
    responses = _every_kind_of_response(api, rw_key, {})
    statuses = {name: r.status_code for name, r in responses.items()}
    assert statuses == {
        "200": 200,
        "401": 401,
        "403": 403,
        "404-api": 404,
        "404-page": 404,
        "405": 405,
        "oauth-error": 400,
        "preflight": 200,
        "page": 200,
    }
    seen = set()
    for name, response in responses.items():
        value = response.headers.get("X-Correlation-ID")
        assert value and is_fresh_uuid(value, ""), name
        seen.add(value)
    assert len(seen) == len(responses), "correlation ids must be per request"


@pytest.mark.parametrize("offered", ["abc-123._X", "a" * 128, "0", "UPPER.lower_under-dash"])
def test_well_formed_correlation_id_is_echoed(api, rw_key, offered) -> None:
    for name, response in _every_kind_of_response(
        api, rw_key, {"X-Correlation-ID": offered}
    ).items():
        assert response.headers["X-Correlation-ID"] == offered, name


@pytest.mark.parametrize(
    "offered",
    [
        "has space",
        "a" * 129,
        "a" * 200,
        "<script>alert(1)</script>",
        "semi;colon",
        "ünïcode",
        "new\\nline",
        "a/b",
        "",
    ],
)
def test_malformed_correlation_id_is_replaced(api, rw_key, offered) -> None:
    for name, response in _every_kind_of_response(
        api, rw_key, {"X-Correlation-ID": offered}
    ).items():
        assert is_fresh_uuid(response.headers["X-Correlation-ID"], offered), name


def _audit(app: Flask, event: str, outcome: str) -> list[Any]:
    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == event, AuditEvent.outcome == outcome)
        ).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def test_correlation_id_is_recorded_on_audit_events(app, client, user) -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "email": user.email,
            "password": "wrong password",
            "next": "/",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
        headers={"X-Correlation-ID": "login-attempt-42"},
    )
    assert response.status_code == 401
    assert response.headers["X-Correlation-ID"] == "login-attempt-42"
    [event] = _audit(app, "login", "failure")
    assert event.correlation_id == "login-attempt-42"


def test_generated_correlation_id_is_the_one_audited(app, client, user) -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "email": user.email,
            "password": "wrong password",
            "next": "/",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
        headers={"X-Correlation-ID": "not valid!"},
    )
    [event] = _audit(app, "login", "failure")
    assert event.correlation_id == response.headers["X-Correlation-ID"]
    assert is_fresh_uuid(event.correlation_id, "not valid!")


def test_api_key_creation_audit_carries_correlation_id(app, signed_in) -> None:
    response = signed_in.post(
        "/api/v1/api_keys",
        json={"name": "ci", "scope": "read"},
        headers={"X-CSRFToken": explorer_csrf(signed_in), "X-Correlation-ID": "create-key-7"},
    )
    assert response.status_code == 201, response.get_json()
    [event] = _audit(app, "api_key.created", "success")
    assert event.correlation_id == "create-key-7"


# --- CORS ----------------------------------------------------------------------------------------


def test_cors_on_api_responses(api, rw_key) -> None:
    response = api.get(
        "/api/v1/usage", headers={**api_key(rw_key), "Origin": "https://spa.example"}
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    exposed = response.headers["Access-Control-Expose-Headers"]
    assert exposed.strip()
    for name in (
        "X-Correlation-ID",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        "Retry-After",
    ):
        assert name.lower() in exposed.lower()
    # Errors too, so a browser client can read why it was refused.
    refused = api.get("/api/v1/usage", headers={"Origin": "https://spa.example"})
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_preflight_on_api(api) -> None:
    response = api.options(
        "/api/v1/transactions",
        headers={
            "Origin": "https://spa.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-Api-Key, Content-Type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    methods = [m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")]
    assert "POST" in methods
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "x-api-key" in allowed and "content-type" in allowed


def test_cors_on_token_endpoint_and_its_preflight(api, make_client) -> None:
    service = make_client(name="Service", grant_types=["client_credentials"])
    issued = api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={**service.basic_auth, "Origin": "https://spa.example"},
    )
    assert issued.status_code == 200
    assert issued.headers["Access-Control-Allow-Origin"] == "*"
    failed = api.post(
        "/oauth/token", data={"grant_type": "nope"}, headers={"Origin": "https://spa.example"}
    )
    assert failed.status_code == 400
    assert failed.headers["Access-Control-Allow-Origin"] == "*"
    preflight = api.options(
        "/oauth/token",
        headers={"Origin": "https://spa.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


def test_no_cors_on_browser_pages(api) -> None:
    response = api.get("/login", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


# --- the legacy global key ------------------------------------------------------------------------


@contextmanager
def app_with(database_url: str, instance_dir: Path, **config: Any) -> Iterator[Flask]:
    """A second application on the same database with configuration decided at run time
    (the ``config`` marker is evaluated before the test can create a family)."""
    from app.extensions import db

    second = create_app({**base_config(database_url, instance_dir), **config})
    try:
        yield second
    finally:
        with second.app_context():
            db.session.remove()
            db.engine.dispose()


def test_global_key_reads_its_family_only(
    database_url, instance_dir, user, account, stranger_account
) -> None:
    with app_with(
        database_url,
        instance_dir,
        GLOBAL_API_KEY=GLOBAL_KEY,
        GLOBAL_API_KEY_FAMILY_ID=str(user.family_id),
    ) as second:
        api = second.test_client()
        response = api.get("/api/v1/accounts", headers=api_key(GLOBAL_KEY))
        assert response.status_code == 200, response.get_json()
        assert [a["id"] for a in response.get_json()["accounts"]] == [account]
        assert (
            api.get(f"/api/v1/accounts/{account}", headers=api_key(GLOBAL_KEY)).status_code == 200
        )
        assert_error(
            api.get(f"/api/v1/accounts/{stranger_account}", headers=api_key(GLOBAL_KEY)),
            404,
            NOT_FOUND,
        )
        for path in ("/api/v1/transactions", "/api/v1/tags", "/api/v1/valuations"):
            assert api.get(path, headers=api_key(GLOBAL_KEY)).status_code == 200, path
        # A service principal, not an API key: no per-key budget.
        assert "X-RateLimit-Limit" not in response.headers


def test_global_key_cannot_write(database_url, instance_dir, user, account) -> None:
    with app_with(
        database_url,
        instance_dir,
        GLOBAL_API_KEY=GLOBAL_KEY,
        GLOBAL_API_KEY_FAMILY_ID=str(user.family_id),
    ) as second:
        api = second.test_client()
        assert_error(
            api.post("/api/v1/sync", headers=api_key(GLOBAL_KEY)), 403, insufficient_scope("write")
        )
        assert_error(
            api.post(
                "/api/v1/tags",
                headers=api_key(GLOBAL_KEY),
                json={"tag": {"name": "x", "color": "#112233"}},
            ),
            403,
            insufficient_scope("read_write"),
        )


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_global_key_is_refused_at_api_key_management(
    database_url, instance_dir, user, method
) -> None:
    with app_with(
        database_url,
        instance_dir,
        GLOBAL_API_KEY=GLOBAL_KEY,
        GLOBAL_API_KEY_FAMILY_ID=str(user.family_id),
    ) as second:
        response = second.test_client().open(
            "/api/v1/api_keys",
            method=method,
            headers=api_key(GLOBAL_KEY),
            json={"name": "mine", "scope": "read_write"} if method == "POST" else None,
        )
        assert response.status_code == 403, response.get_json()
        assert response.get_json()["error"] in ("forbidden", "insufficient_scope")


def test_global_key_shorter_than_32_characters_is_disabled(
    database_url, instance_dir, user, account
) -> None:
    short = "s" * 31
    with app_with(
        database_url,
        instance_dir,
        GLOBAL_API_KEY=short,
        GLOBAL_API_KEY_FAMILY_ID=str(user.family_id),
    ) as second:
        response = second.test_client().get("/api/v1/accounts", headers=api_key(short))
        assert_error(response, 401, UNAUTHORIZED)
    exactly = "e" * 32
    with app_with(
        database_url,
        instance_dir,
        GLOBAL_API_KEY=exactly,
        GLOBAL_API_KEY_FAMILY_ID=str(user.family_id),
    ) as second:
        response = second.test_client().get("/api/v1/accounts", headers=api_key(exactly))
        assert response.status_code == 200


@pytest.mark.parametrize(
    "sent",
    ["", " ", "   ", GLOBAL_KEY[:-1], GLOBAL_KEY + "g", GLOBAL_KEY.upper(), "tgk_" + GLOBAL_KEY],
)
def test_global_key_matches_only_itself(database_url, instance_dir, user, account, sent) -> None:
    with app_with(
        database_url,
        instance_dir,
        GLOBAL_API_KEY=GLOBAL_KEY,
        GLOBAL_API_KEY_FAMILY_ID=str(user.family_id),
    ) as second:
        response = second.test_client().get("/api/v1/accounts", headers=api_key(sent))
        assert_error(response, 401, UNAUTHORIZED)


@pytest.mark.parametrize("family", ["", "not-a-uuid"])
def test_global_key_without_a_valid_family_is_disabled(
    database_url, instance_dir, user, family
) -> None:
    with app_with(
        database_url, instance_dir, GLOBAL_API_KEY=GLOBAL_KEY, GLOBAL_API_KEY_FAMILY_ID=family
    ) as second:
        response = second.test_client().get("/api/v1/accounts", headers=api_key(GLOBAL_KEY))
        assert_error(response, 401, UNAUTHORIZED)


def test_global_key_is_off_by_default(api, account) -> None:
    assert_error(api.get("/api/v1/accounts", headers=api_key(GLOBAL_KEY)), 401, UNAUTHORIZED)


def test_empty_api_key_header_is_401(api, account) -> None:
    assert_error(api.get("/api/v1/accounts", headers=api_key("")), 401, UNAUTHORIZED)
