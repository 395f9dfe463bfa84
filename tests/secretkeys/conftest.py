"""Set-up for the SureCloud secret-key tests.

``alice`` (the ``user`` fixture) holds keys; ``ska`` is a Secret Key Administrator of her
family (a member granted the role by the platform operator) using the JSON API from a
signed-in browser (session cookie + CSRF header). Reveal links are read from the mail outbox,
keys are revealed through the Reveal Secret page, tokens come from the token endpoint: the
tests go through HTTP wherever the product does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.clock import utcnow
from tests.support.factories import UserInfo
from tests.support.factories import grant_role as grant
from tests.support.secretkeys import (
    Admin,
    FakeDNS,
    issue,
    key_from,
    latest_link,
    reveal,
    signed_in,
)


@pytest.fixture
def as_admin(app: Flask) -> Callable[[UserInfo], Admin]:
    return lambda who: Admin(app.test_client(), who)


@pytest.fixture
def ska_user(app: Flask, user: UserInfo, make_user: Callable[..., UserInfo]) -> UserInfo:
    """A member of alice's family holding the Secret Key Administrator role."""
    who = make_user(email="ska@example.com", family_id=user.family_id, first_name="Sam")
    grant(app, who, "secret_key_administrator")
    return who


@pytest.fixture
def ska(ska_user: UserInfo, as_admin: Callable[[UserInfo], Admin]) -> Admin:
    return as_admin(ska_user)


@pytest.fixture
def added(app: Flask, ska: Admin, user: UserInfo) -> str:
    """alice has a pending key; the reveal path from her mail."""
    response = ska.add(user)
    assert response.status_code == 201, response.get_json()
    return latest_link(app, user.email)


@pytest.fixture
def secret(app: Flask, added: str, user: UserInfo) -> str:
    """alice's revealed secret key."""
    page = reveal(signed_in(app, user), added)
    assert page.status_code == 200, page.get_data(as_text=True)
    return key_from(page)


@pytest.fixture
def jwt(client: FlaskClient, user: UserInfo, secret: str) -> str:
    """A secret-key JWT of alice."""
    response = issue(client, user.email, secret)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


@pytest.fixture
def make_task(app: Flask) -> Callable[..., Any]:
    from app.resources import services

    def factory(family_id: Any, title: str = "Review the quarterly report") -> str:
        with app.app_context():
            return str(services.create_task(family_id, title=title, now=utcnow()).id)

    return factory


@pytest.fixture
def dns(app: Flask) -> FakeDNS:
    """Installs a fake resolver (behind the real cache) in the app."""
    from app.secretkeys.restrictions import CachingResolver
    from app.secretkeys.verifier import RESOLVER_KEY

    fake = FakeDNS()
    app.extensions[RESOLVER_KEY] = CachingResolver(lookup=fake, ttl=60)
    return fake
