"""Shared set-up for the resource API tests (Sure-shaped, family-scoped).

``user`` (alice, from the top-level conftest) owns the records under test; ``stranger`` is a
user of another family with records of its own. Accounts are created the way the CLI creates
them (``app.resources.services.create_account``), API keys through
``app.apikeys.services.create_api_key``; other records through the resource services, so a
test never depends on the API it is checking to set itself up.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.clock import utcnow
from tests.conftest import UserInfo, authorize, exchange_code

UNAUTHORIZED = {"error": "unauthorized",
                "message": "Access token or API key is invalid, expired, or missing"}
NOT_FOUND = {"error": "record_not_found", "message": "The requested resource was not found"}
BAD_REQUEST = {"error": "bad_request", "message": "Required parameters are missing or invalid"}
MISSING_UUID = "00000000-0000-4000-8000-000000000000"


def insufficient_scope(scope: str) -> dict[str, str]:
    return {"error": "insufficient_scope", "message": f"This action requires the '{scope}' scope"}


def key_headers(key: str) -> dict[str, str]:
    return {"X-Api-Key": key}


def bearer_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def make_account(app: Flask) -> Callable[..., str]:
    from app.resources import services

    def factory(family_id: uuid.UUID, name: str = "Checking", currency: str = "USD",
                balance: str = "0") -> str:
        with app.app_context():
            account = services.create_account(family_id=family_id, name=name,
                                              currency=currency, balance=Decimal(balance),
                                              now=utcnow())
            return str(account.id)

    return factory


@pytest.fixture
def make_key(app: Flask) -> Callable[..., str]:
    """A personal API key (plaintext). One active key per user *and source*: give a second
    key of the same user another source, or the first is revoked."""
    from app.apikeys import services
    from app.extensions import db
    from app.identity.models import User

    counter = iter(range(1, 10_000))

    def factory(owner: UserInfo, scope: str = "read_write", source: str = "web",
                tier: str = "standard") -> str:
        with app.app_context():
            created = services.create_api_key(
                db.session.get(User, owner.id), name=f"test key {next(counter)}", scope=scope,
                source=source, tier=tier, now=utcnow())
            return created.key

    return factory


@pytest.fixture
def make_tag(app: Flask) -> Callable[..., str]:
    from app.resources import services

    def factory(family_id: uuid.UUID, name: str = "groceries", color: str = "#112233") -> str:
        with app.app_context():
            return str(services.create_tag(family_id, {"name": name, "color": color},
                                           utcnow()).id)

    return factory


@pytest.fixture
def make_transaction(app: Flask) -> Callable[..., str]:
    from app.resources import services

    def factory(family_id: uuid.UUID, account_id: str, amount: str = "-12.5000",
                on: date = date(2026, 1, 15), name: str = "Coffee",
                tag_ids: list[str] | None = None) -> str:
        data = {"account_id": uuid.UUID(account_id), "date": on, "amount": Decimal(amount),
                "name": name, "tag_ids": [uuid.UUID(t) for t in tag_ids or []]}
        with app.app_context():
            return str(services.create_transaction(family_id, data, utcnow()).id)

    return factory


@pytest.fixture
def make_valuation(app: Flask) -> Callable[..., str]:
    from app.resources import services

    def factory(family_id: uuid.UUID, account_id: str, amount: str = "100.00",
                on: date = date(2026, 1, 1)) -> str:
        data = {"account_id": uuid.UUID(account_id), "date": on, "amount": Decimal(amount)}
        with app.app_context():
            return str(services.create_valuation(family_id, data, utcnow()).id)

    return factory


# --- alice's side --------------------------------------------------------------------------


@pytest.fixture
def account(user: UserInfo, make_account: Callable[..., str]) -> str:
    return make_account(user.family_id, name="Checking")


@pytest.fixture
def rw_key(user: UserInfo, make_key: Callable[..., str]) -> str:
    return make_key(user, scope="read_write", source="web")


@pytest.fixture
def read_key(user: UserInfo, make_key: Callable[..., str]) -> str:
    return make_key(user, scope="read", source="mobile")


@pytest.fixture
def rw(rw_key: str) -> dict[str, str]:
    return key_headers(rw_key)


@pytest.fixture
def ro(read_key: str) -> dict[str, str]:
    return key_headers(read_key)


@pytest.fixture
def api(app: Flask) -> FlaskClient:
    """A client without any session cookie: only the headers a test sends authenticate."""
    return app.test_client()


@pytest.fixture
def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    """alice's OAuth access token (code + PKCE, scope read_write)."""
    assert tokens["scope"] == "read_write"
    return bearer_headers(tokens["access_token"])


@pytest.fixture
def read_bearer(signed_in: FlaskClient, oauth_client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """alice's OAuth access token with only the ``read`` scope."""
    auth = authorize(signed_in, oauth_client, scope="read")
    response = exchange_code(signed_in, oauth_client, auth)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == "read"
    return bearer_headers(response.get_json()["access_token"])


# --- another family ------------------------------------------------------------------------


@dataclass
class Stranger:
    """A user of another family, with one record of every kind and a read_write key."""

    user: UserInfo
    headers: dict[str, str]
    account: str
    tag: str
    transaction: str
    valuation: str


@pytest.fixture
def stranger(make_user, make_account, make_key, make_tag, make_transaction,  # type: ignore[no-untyped-def]
             make_valuation) -> Stranger:
    other = make_user(email="mallory@example.net", first_name="Mallory")
    account_id = make_account(other.family_id, name="Mallory's savings", balance="5000")
    tag_id = make_tag(other.family_id, name="secret")
    transaction_id = make_transaction(other.family_id, account_id, amount="999.0000",
                                      name="Mallory's salary", tag_ids=[tag_id])
    valuation_id = make_valuation(other.family_id, account_id, amount="5000")
    return Stranger(other, key_headers(make_key(other)), account_id, tag_id, transaction_id,
                    valuation_id)


def assert_error(response, status: int, body: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.get_json() == body


# --- malformed input -----------------------------------------------------------------------

# Values of the wrong type (or out of range) for any field.
WRONG_VALUES: list[Any] = [
    None, 0, -1, 1.5, 2**70, -(2**70), True, False, [], {}, [None], [[]], {"a": None},
    {"nested": {"deep": [None, {"x": None}]}}, "", " ", "x" * 100_000, "not-a-uuid",
    "2026-02-30", "2026-13-01", "01/02/2026", "NaN", "-Infinity", "1e30", "0x10", "1,5",
    "<script>alert(1)</script>", "' OR 1=1 --", "\u202eevil", "😀" * 300,
]

# Bodies sent with Content-Type: application/json that are not a usable JSON object.
RAW_GARBAGE: list[bytes] = [
    b"", b" ", b"{", b"[", b"}", b"]", b"null", b"true", b"0", b"-1", b'"x"', b"NaN",
    b"Infinity", b"[]", b"{}", b"{'single': 'quotes'}", b'{"a": }', b'{"a" 1}', b"\xff\xfe\xfd",
    b"\x00", b"\x00" * 100, b"\xef\xbb\xbf{}", b'{"a": 1' + b"0" * 5000 + b"}", b"x" * 200_000,
]

# Paths' ids that are not UUIDs (or not ours).
BAD_IDS: list[str] = [
    "not-a-uuid", "1", "0", "-1", "null", "%ff", "'%20OR%201=1", "%2e%2e",
    "a" * 1000, MISSING_UUID, "{" + MISSING_UUID + "}", MISSING_UUID.replace("-", ""),
    MISSING_UUID + "0",
]

# Ids that may not even reach the view (the router or the input guard answers): any 4xx.
ROUTING_GARBAGE: list[str] = ["..%2f..%2fetc", "a/b", "%2f", "", "%00", "a%00b"]

# Text that no database column can store (PostgreSQL refuses NUL; UTF-8 refuses lone
# surrogates, which JSON's \\uXXXX escapes can still produce).
UNSTORABLE_TEXT: dict[str, bytes] = {"nul": b"a\\u0000b", "lone-surrogate": b"a\\ud800b"}


def envelope_garbage(key: str) -> list[Any]:
    """JSON documents that do not carry ``{key: {...}}``: Sure's ``params.require`` -> 400."""
    return [
        [], [{key: {}}], {key: None}, {key: []}, {key: [{}]}, {key: "x"}, {key: 1},
        {key: True}, {key: 1.5}, {"other": {}}, {key.upper(): {"name": "x"}},
        {f" {key}": {"name": "x"}}, {"data": {key: {"name": "x"}}},
    ]


def field_garbage(key: str, fields: list[str], valid: dict[str, Any]) -> list[dict[str, Any]]:
    """``{key: {...}}`` with every field in turn given every wrong value, plus unknown and
    nested-null fields."""
    bodies: list[dict[str, Any]] = [
        {key: {}}, {key: {"": None}}, {key: {"unknown_field": 1}},
        {key: {**valid, "unknown_field": "x"}}, {key: {**valid, "id": MISSING_UUID}},
        {key: {**valid, "family_id": MISSING_UUID}}, {key: {"nested": {"deep": [None]}}},
        {key: {f: None for f in fields}}, {key: {f: {} for f in fields}},
    ]
    for name in fields:
        for value in WRONG_VALUES:
            bodies.append({key: {**valid, name: value}})
    return bodies


def assert_client_error(response, what: str) -> None:  # type: ignore[no-untyped-def]
    """A 4xx with the JSON error envelope; never a 5xx."""
    assert 400 <= response.status_code < 500, (
        f"{what} -> {response.status_code}: {response.get_data(as_text=True)[:300]}")
    body = response.get_json(silent=True)
    assert isinstance(body, dict) and isinstance(body.get("error"), str), what


def assert_malformed(response) -> None:  # type: ignore[no-untyped-def]
    """A body that cannot be used as JSON: Sure's 400 ``bad_request`` (the message may say
    why)."""
    assert response.status_code == 400, (
        response.status_code, response.get_data(as_text=True)[:300])
    assert response.get_json()["error"] == "bad_request"


def assert_refused(response) -> None:  # type: ignore[no-untyped-def]
    """Input refused as the caller's error: 400 ``bad_request`` or 422 ``validation_failed``."""
    assert response.status_code in (400, 422), (
        response.status_code, response.get_data(as_text=True)[:300])
    assert response.get_json()["error"] in ("bad_request", "validation_failed")


def assert_not_server_error(response, what: str) -> None:  # type: ignore[no-untyped-def]
    """Valid-but-odd input may succeed; it must never be a 5xx."""
    assert response.status_code < 500, (
        f"{what} -> {response.status_code}: {response.get_data(as_text=True)[:300]}")
    if response.status_code >= 400:
        assert_client_error(response, what)


@pytest.fixture
def fuzz_headers(user: UserInfo, make_key: Callable[..., str]) -> dict[str, str]:
    """An enterprise-tier read_write key (10,000 requests an hour): the loops below send
    hundreds of requests and must not meet the per-key limit."""
    return key_headers(make_key(user, scope="read_write", source="monitoring",
                                tier="enterprise"))
