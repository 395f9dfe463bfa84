"""Set-up for the SecureCloud access-key tests.

``admin`` is a Global Admin (a member granted ``global_admin``) of alice's family; ``manager``
is that admin's signed-in browser calling the JSON API (session cookie + CSRF header). Cloud
accounts are made through the resources service, roles through the identity service, so a
test never depends on the API it checks to set itself up."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.clock import utcnow
from tests.support.accesskeys import (
    Manager,
)
from tests.support.factories import UserInfo
from tests.support.factories import grant_role as grant


@pytest.fixture
def admin(app: Flask, user: UserInfo) -> UserInfo:
    """alice, granted Global Admin."""
    grant(app, user, "global_admin")
    return user


@pytest.fixture
def manager(app: Flask, admin: UserInfo) -> Manager:
    return Manager(app.test_client(), admin)


@pytest.fixture
def as_manager(app: Flask) -> Callable[[UserInfo], Manager]:
    return lambda who: Manager(app.test_client(), who)


@pytest.fixture
def api(app: Flask) -> FlaskClient:
    """No cookie: only the headers a test sends authenticate."""
    return app.test_client()


@pytest.fixture
def make_cloud_account(app: Flask) -> Callable[..., str]:
    from app.resources import services

    def factory(family_id: uuid.UUID, name: str = "Production", provider: str = "aws") -> str:
        with app.app_context():
            account = services.create_cloud_account(
                family_id, name=name, provider=provider, now=utcnow()
            )
            return str(account.id)

    return factory
