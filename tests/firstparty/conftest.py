"""Fixtures for the Sure-compatible first-party account API (contract §2.2-2.4, §3, §6,
§7.1, §7.3, §7.8), black box over HTTP through the Flask test client.

Tokens are always the plaintext values the server returned. The database is read to count
rows (Sure's ``assert_difference``) and written only to set a test's scene the way Sure's
fixtures do (a user, an MFA secret, an inactive account, an invite code). The wire contract
itself (paths, bodies, envelopes) is in ``tests.support.sure``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.clock import utcnow
from tests.support.factories import MfaUser, UserInfo, enable_mfa


@pytest.fixture
def mfa_user(app: Flask, user: UserInfo) -> MfaUser:
    """alice with TOTP on (secret and backup codes as `users mfa-enable` prints them)."""
    return enable_mfa(app, user)


# --- database reads (Sure's assert_difference) and scene setting ------------------------------


@pytest.fixture
def count(app: Flask) -> Callable[..., int]:
    from app.extensions import db

    def counter(model: type, *where: Any) -> int:
        with app.app_context():
            return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    return counter


@pytest.fixture
def set_user(app: Flask) -> Callable[..., None]:
    """Change a user's row directly, as Sure's tests do with ``update_column``."""
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
def read_user(app: Flask) -> Callable[[uuid.UUID], dict[str, Any]]:
    from app.extensions import db
    from app.identity.models import User

    def reader(user_id: uuid.UUID) -> dict[str, Any]:
        with app.app_context():
            row = db.session.get(User, user_id)
            assert row is not None
            return {
                "email": row.email,
                "active": row.active,
                "role": row.role,
                "family_id": row.family_id,
                "ai_enabled": row.ai_enabled,
                "otp_required": row.otp_required,
            }

    return reader


@pytest.fixture
def make_invites(app: Flask) -> Callable[[int], list[str]]:
    """Invite codes the way `flask invites create` makes them."""
    from app.identity import invites

    def factory(n: int = 1) -> list[str]:
        with app.app_context():
            return invites.create_invite_codes(n, now=utcnow())

    return factory
