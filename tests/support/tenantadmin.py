"""Helpers of the RedCloud resource and tenant administration tests (tests/redcloud,
tests/admin, tests/e2e/test_tenant_admin_pages.py): paths, bearer tokens, scans and features
made through the services (so a test never depends on the API it checks to set itself up)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.clock import utcnow
from tests.support.factories import UserInfo
from tests.support.http import api_error
from tests.support.sure import mobile_login

SCANS = "/scans"
DASHBOARD = "/dashboard"
EXPORT = "/dashboard/export"
USERS = "/api/v1/admin/users"
ROLES = "/api/v1/admin/roles"
SETTINGS = "/api/v1/admin/settings"


def user_path(who: UserInfo | uuid.UUID | str) -> str:
    return f"{USERS}/{who.id if isinstance(who, UserInfo) else who}"


def keys_path(who: UserInfo | uuid.UUID | str) -> str:
    return f"{user_path(who)}/api_keys"


def token_of(client: FlaskClient, who: UserInfo, otp_code: str | None = None) -> str:
    """A first-party bearer token of ``who`` (Sure's mobile login: the built-in client)."""
    token: str = mobile_login(client, who.email, who.password, otp_code=otp_code)["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_key(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def error_of(response: TestResponse) -> str:
    """The API envelope's ``error`` (its ``code`` and ``correlation_id`` checked)."""
    error: str = api_error(response)["error"]
    return error


def make_scan(
    app: Flask,
    family_id: uuid.UUID,
    target: str = "https://app.example.com",
    status: str = "queued",
    by: uuid.UUID | None = None,
) -> str:
    """A scan of the tenant, made by the service (``status`` set directly: the scanner that
    moves scans on is outside this demonstration)."""
    from app.extensions import db
    from app.resources.scans import services

    with app.app_context():
        scan = services.run_scan(family_id, target=target, created_by_user_id=by, now=utcnow())
        if status != "queued":
            scan.status = status
            db.session.commit()
        return str(scan.id)


def set_features(app: Flask, family_id: uuid.UUID, *features: str) -> None:
    """The tenant's plan features, as the platform operator sets them (``tenants
    set-features``)."""
    from app.identity import tenants

    with app.app_context():
        tenants.set_features(family_id, list(features), now=utcnow())


def role_of(app: Flask, who: UserInfo) -> dict[str, Any]:
    """The user's row as stored: base role, status and session epoch."""
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        row = db.session.get(User, who.id)
        assert row is not None
        return {"role": row.role, "active": row.active, "session_epoch": row.session_epoch}
