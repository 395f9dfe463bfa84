"""Service-level identity tests: called inside an app context, with ``now`` fixed."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from app.identity.models import User
from tests.support.factories import PASSWORD
from tests.support.service_inputs import NOW


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


@pytest.fixture
def new_user(ctx: None) -> Callable[..., User]:
    from app.identity import users

    counter = iter(range(1, 1000))

    def factory(email: str | None = None) -> User:
        return users.create_user(
            email=email or f"person{next(counter)}@example.com", password=PASSWORD, now=NOW
        )

    return factory
