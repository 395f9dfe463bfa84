"""Set-up for the tenant administration API and pages.

``admin`` administers a tenant with ``member`` in it; ``stranger`` is a user of another
tenant. ``admin_headers`` is the admin's first-party bearer token (Sure's mobile login, the
built-in client), the credential most tests administer with. Users, roles and keys are made
through the services, never through the API under test."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from tests.support.factories import UserInfo
from tests.support.tenantadmin import bearer, token_of


@pytest.fixture
def admin(make_user: Callable[..., UserInfo]) -> UserInfo:
    return make_user(email="ada@example.com", role="admin", first_name="Ada")


@pytest.fixture
def member(make_user: Callable[..., UserInfo], admin: UserInfo) -> UserInfo:
    return make_user(email="max@example.com", family_id=admin.family_id)


@pytest.fixture
def stranger(make_user: Callable[..., UserInfo]) -> UserInfo:
    return make_user(email="sam@other.example", role="admin")


@pytest.fixture
def admin_headers(client: FlaskClient, admin: UserInfo) -> dict[str, str]:
    return bearer(token_of(client, admin))
