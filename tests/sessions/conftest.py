"""Fixtures for RedCloud's session tokens (``/auth/login``, ``/auth/refresh``, ``/auth/me``,
``/auth/logout``, ``/authenticate``), black box over HTTP through the Flask test client.

The database is read to check what a request left behind (rows, audit events) and written
only to set a scene the way an operator or another flow would (deactivate a user, bump the
session epoch, move a user's region)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.support.factories import MfaUser, UserInfo, enable_mfa

LOGIN = "/auth/login"
REFRESH = "/auth/refresh"
SURE_REFRESH = "/api/v1/auth/refresh"
ME = "/auth/me"
LOGOUT = "/auth/logout"
AUTHENTICATE = "/authenticate"
TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "expires_in", "created_at"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(client: FlaskClient, who: UserInfo, **extra: Any) -> dict[str, Any]:
    """A successful ``POST /auth/login``; the body."""
    response = client.post(LOGIN, json={"email": who.email, "password": who.password, **extra})
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def me_status(client: FlaskClient, access_token: str) -> int:
    """200 while the access token works, 401 once it does not."""
    return client.get(ME, headers=bearer(access_token)).status_code


@pytest.fixture
def api(app: Flask) -> FlaskClient:
    """No cookie: only the headers a test sends authenticate."""
    return app.test_client()


@pytest.fixture
def session(api: FlaskClient, user: UserInfo) -> dict[str, Any]:
    """alice's session: the token block and the user of ``/auth/login``."""
    return sign_in(api, user)


@pytest.fixture
def mfa_user(app: Flask, user: UserInfo) -> MfaUser:
    return enable_mfa(app, user)


@pytest.fixture
def set_user(app: Flask) -> Callable[..., None]:
    """Change a user's row directly, as an operator or another flow would."""
    from app.extensions import db
    from app.identity.models import User

    def setter(user_id: uuid.UUID, **values: Any) -> None:
        with app.app_context():
            row = db.session.get(User, user_id)
            assert row is not None
            for key, value in values.items():
                setattr(row, key, value)
            db.session.commit()

    return setter


@pytest.fixture
def audit(app: Flask) -> Callable[[str], list[dict[str, Any]]]:
    """The audit events of one kind, oldest first: outcome, actor and details."""
    from app.audit.models import AuditEvent
    from app.extensions import db

    def events(name: str) -> list[dict[str, Any]]:
        with app.app_context():
            rows = db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.event == name)
                .order_by(AuditEvent.occurred_at, AuditEvent.id)
            ).all()
            return [
                {
                    "outcome": row.outcome,
                    "actor_user_id": row.actor_user_id,
                    "family_id": row.family_id,
                    **dict(row.details or {}),
                }
                for row in rows
            ]

    return events


@pytest.fixture
def token_rows(app: Flask) -> Callable[..., list[Any]]:
    """The token rows of one lineage (or all of them), oldest first."""
    from app.extensions import db
    from app.oauth2.models import OAuthToken

    def rows(lineage_id: str | None = None) -> list[Any]:
        with app.app_context():
            query = select(OAuthToken).order_by(OAuthToken.issued_at, OAuthToken.id)
            if lineage_id is not None:
                query = query.where(OAuthToken.lineage_id == uuid.UUID(lineage_id))
            found = list(db.session.scalars(query))
            db.session.expunge_all()
            return found

    return rows
