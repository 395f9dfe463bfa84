"""Set-up for RedCloud's example resources (``/scans``, ``/dashboard``).

One tenant with a user per role of the permission matrix: ``admin`` (base role admin),
``analyst`` (a member granted analyst), ``viewer`` (a guest granted viewer) and ``member`` (a
plain member: no scans.* at all); ``stranger`` is the admin of another tenant. Roles are
granted through the identity service, never through the API under test."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from tests.support.factories import UserInfo, grant_role


@pytest.fixture
def admin(make_user: Callable[..., UserInfo]) -> UserInfo:
    return make_user(email="ada@example.com", role="admin")


@pytest.fixture
def analyst(app: Flask, make_user: Callable[..., UserInfo], admin: UserInfo) -> UserInfo:
    who = make_user(email="ann@example.com", family_id=admin.family_id)
    grant_role(app, who, "analyst")
    return who


@pytest.fixture
def viewer(app: Flask, make_user: Callable[..., UserInfo], admin: UserInfo) -> UserInfo:
    who = make_user(email="vic@example.com", role="guest", family_id=admin.family_id)
    grant_role(app, who, "viewer")
    return who


@pytest.fixture
def member(make_user: Callable[..., UserInfo], admin: UserInfo) -> UserInfo:
    return make_user(email="max@example.com", family_id=admin.family_id)


@pytest.fixture
def stranger(make_user: Callable[..., UserInfo]) -> UserInfo:
    return make_user(email="sam@other.example", role="admin")
