"""Set-up for the partner-organisation tests.

``partner_user`` is a Surfsight partner made as the CLI makes one (an admin flagged
``is_partner`` in a new partner tenant); ``partner`` is that partner calling the API with the
bearer token of their own sign-in (Sure's mobile login: a first-party OAuth token); and
``organization`` is one they created through the API (its ``ssoSecret`` included)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.clock import utcnow
from tests.support.factories import PASSWORD, UserInfo
from tests.support.partners import Partner
from tests.support.sure import device, mobile_login


@pytest.fixture
def make_partner(app: Flask) -> Callable[..., UserInfo]:
    from app.partners import services

    counter = iter(range(1, 10_000))

    def factory(email: str | None = None) -> UserInfo:
        with app.app_context():
            created = services.create_partner_user(
                email=email or f"partner{next(counter)}@example.com",
                password=PASSWORD,
                now=utcnow(),
            )
            return UserInfo(created.id, created.email, PASSWORD, created.family_id, created.role)

    return factory


@pytest.fixture
def sign_in(app: Flask) -> Callable[[UserInfo], Partner]:
    """A partner (or anyone) with the bearer token of their own mobile sign-in."""
    counter = iter(range(1, 10_000))

    def factory(who: UserInfo) -> Partner:
        client = app.test_client()
        body = mobile_login(client, who.email, who.password, device(device_id=f"d{next(counter)}"))
        return Partner(client, body["access_token"])

    return factory


@pytest.fixture
def partner_user(make_partner: Callable[..., UserInfo]) -> UserInfo:
    return make_partner("pat.partner@example.com")


@pytest.fixture
def partner(sign_in: Callable[[UserInfo], Partner], partner_user: UserInfo) -> Partner:
    return sign_in(partner_user)


@pytest.fixture
def organization(partner: Partner) -> dict[str, Any]:
    return partner.organization("organization 1")


@pytest.fixture
def api(app: Flask) -> FlaskClient:
    """No cookie: only the headers a test sends authenticate."""
    return app.test_client()
