"""Set-up for the audit-log tests.

``admin`` is a tenant admin (base role admin: audit.view and audit_logs.export) of a family of
their own; ``reader`` holds that admin's read-scoped API key headers. Events are seeded with
``app.audit.services.record`` at fixed instants in 2020 (``BASE``), long before anything the
set-up itself records (the API key's ``api_key.created``, at the real now): the ``listed``
helper reads up to 2021 unless a test gives its own window, so seeded sets compare exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.identity.tenants import set_features
from tests.auditlog.support import BASE, BEFORE_SETUP, EVENTS
from tests.support.factories import UserInfo

Seed = Callable[..., int]


@pytest.fixture
def api(app: Flask) -> FlaskClient:
    """No cookie: only the headers a test sends authenticate."""
    return app.test_client()


@pytest.fixture
def admin(make_user: Callable[..., UserInfo]) -> UserInfo:
    return make_user(email="auditor@example.com", role="admin")


@pytest.fixture
def reader(admin: UserInfo, make_key: Callable[..., str]) -> dict[str, str]:
    return {"X-Api-Key": make_key(admin, scope="read")}


@pytest.fixture
def seed(app: Flask) -> Seed:
    """Record one event in a family, committed; its id."""
    from app.audit.services import Caller, record
    from app.extensions import db

    def factory(
        family_id: uuid.UUID | None,
        event: str = "login",
        *,
        at: datetime = BASE,
        outcome: str = "success",
        actor: uuid.UUID | None = None,
        ip: str | None = "192.0.2.10",
        correlation_id: str | None = None,
        client_id: str | None = None,
        **details: Any,
    ) -> int:
        with app.app_context():
            entry = record(
                event,
                outcome=outcome,
                now=at,
                caller=Caller(ip=ip, correlation_id=correlation_id),
                actor_user_id=actor,
                family_id=family_id,
                client_id=client_id,
                **details,
            )
            db.session.commit()
            return entry.id

    return factory


@pytest.fixture
def licensed(app: Flask) -> Callable[[uuid.UUID], None]:
    """Give a tenant the reports.export feature (platform data: the operator sets it)."""
    from app.clock import utcnow

    def factory(family_id: uuid.UUID) -> None:
        with app.app_context():
            set_features(family_id, ["reports.export"], now=utcnow())

    return factory


@pytest.fixture
def listed(api: FlaskClient) -> Callable[..., dict[str, Any]]:
    """GET the list with ``headers`` and ``params`` (until 2021 unless given); 200 asserted."""

    def call(headers: dict[str, str], **params: Any) -> dict[str, Any]:
        params.setdefault("until", BEFORE_SETUP)
        response = api.get(EVENTS, headers=headers, query_string=params)
        assert response.status_code == 200, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body

    return call
