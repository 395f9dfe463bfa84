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
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.clock import utcnow
from tests.support import http
from tests.support.factories import UserInfo
from tests.support.oauth import authorize, exchange_code
from tests.support.resources import Stranger


@pytest.fixture
def make_account(app: Flask) -> Callable[..., str]:
    from app.resources import services

    def factory(
        family_id: uuid.UUID,
        name: str = "Checking",
        currency: str = "USD",
        balance: str = "0",
        **sure_fields: Any,
    ) -> str:
        with app.app_context():
            account = services.create_account(
                family_id=family_id,
                name=name,
                currency=currency,
                balance=Decimal(balance),
                now=utcnow(),
                **sure_fields,
            )
            return str(account.id)

    return factory


@pytest.fixture
def make_tag(app: Flask) -> Callable[..., str]:
    from app.resources import services

    def factory(family_id: uuid.UUID, name: str = "groceries", color: str = "#112233") -> str:
        with app.app_context():
            return str(services.create_tag(family_id, {"name": name, "color": color}, utcnow()).id)

    return factory


@pytest.fixture
def make_transaction(app: Flask) -> Callable[..., str]:
    from app.resources import services

    def factory(
        family_id: uuid.UUID,
        account_id: str,
        amount: str = "-12.5000",
        on: date = date(2026, 1, 15),
        name: str = "Coffee",
        tag_ids: list[str] | None = None,
    ) -> str:
        data = {
            "account_id": uuid.UUID(account_id),
            "date": on,
            "amount": Decimal(amount),
            "name": name,
            "tag_ids": [uuid.UUID(t) for t in tag_ids or []],
        }
        with app.app_context():
            return str(services.create_transaction(family_id, data, utcnow()).id)

    return factory


@pytest.fixture
def make_valuation(app: Flask) -> Callable[..., str]:
    from app.resources import services

    def factory(
        family_id: uuid.UUID, account_id: str, amount: str = "100.00", on: date = date(2026, 1, 1)
    ) -> str:
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
    return http.api_key(rw_key)


@pytest.fixture
def ro(read_key: str) -> dict[str, str]:
    return http.api_key(read_key)


@pytest.fixture
def api(app: Flask) -> FlaskClient:
    """A client without any session cookie: only the headers a test sends authenticate."""
    return app.test_client()


@pytest.fixture
def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    """alice's OAuth access token (code + PKCE, scope read_write)."""
    assert tokens["scope"] == "read_write"
    return http.bearer(tokens["access_token"])


@pytest.fixture
def read_bearer(signed_in: FlaskClient, oauth_client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """alice's OAuth access token with only the ``read`` scope."""
    auth = authorize(signed_in, oauth_client, scope="read")
    response = exchange_code(signed_in, oauth_client, auth)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == "read"
    return http.bearer(response.get_json()["access_token"])


# --- another family ------------------------------------------------------------------------


@pytest.fixture
def stranger(
    make_user,
    make_account,
    make_key,
    make_tag,
    make_transaction,  # type: ignore[no-untyped-def]
    make_valuation,
) -> Stranger:
    other = make_user(email="mallory@example.net", first_name="Mallory")
    account_id = make_account(other.family_id, name="Mallory's savings", balance="5000")
    tag_id = make_tag(other.family_id, name="secret")
    transaction_id = make_transaction(
        other.family_id, account_id, amount="999.0000", name="Mallory's salary", tag_ids=[tag_id]
    )
    valuation_id = make_valuation(other.family_id, account_id, amount="5000")
    return Stranger(
        other, http.api_key(make_key(other)), account_id, tag_id, transaction_id, valuation_id
    )


# --- malformed input -----------------------------------------------------------------------


@pytest.fixture
def fuzz_headers(user: UserInfo, make_key: Callable[..., str]) -> dict[str, str]:
    """An enterprise-tier read_write key (10,000 requests an hour): the malformed-input
    loops send hundreds of requests and must not meet the per-key limit."""
    return http.api_key(make_key(user, scope="read_write", source="monitoring", tier="enterprise"))
