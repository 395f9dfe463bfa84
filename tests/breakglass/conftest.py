"""Break-glass fixtures: two tenants (each a family with an admin) and tags made through the
resources service, so no test depends on the API it checks to set itself up."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from flask import Flask

from app.clock import utcnow
from tests.support.factories import UserInfo


@pytest.fixture
def owner(make_user: Callable[..., UserInfo]) -> UserInfo:
    """The admin of the tenant break-glass acts in."""
    return make_user(email="owner@example.com", role="admin")


@pytest.fixture
def tenant(owner: UserInfo) -> uuid.UUID:
    return owner.family_id


@pytest.fixture
def other_tenant(make_user: Callable[..., UserInfo]) -> uuid.UUID:
    return make_user(email="neighbour@example.com", role="admin").family_id


@pytest.fixture
def make_tag(app: Flask) -> Callable[[uuid.UUID, str], str]:
    from app.resources import services

    def factory(family_id: uuid.UUID, name: str) -> str:
        with app.app_context():
            return str(services.create_tag(family_id, {"name": name}, utcnow()).id)

    return factory


@pytest.fixture
def tag_names(app: Flask) -> Callable[[uuid.UUID], list[str]]:
    """The names of a tenant's tags, read from the database."""
    from app.resources import services

    def read(family_id: uuid.UUID) -> list[str]:
        with app.app_context():
            return [tag.name for tag in services.list_tags(family_id, 1, 100).items]

    return read


@pytest.fixture
def make_family(app: Flask) -> Callable[..., uuid.UUID]:
    """A tenant with no users: of another region, or deactivated."""
    from app.extensions import db
    from app.identity.models import Family

    def factory(name: str = "Elsewhere", region: str = "default", active: bool = True) -> uuid.UUID:
        with app.app_context():
            family = Family(name=name, region=region, active=active)
            db.session.add(family)
            db.session.commit()
            return family.id

    return factory
