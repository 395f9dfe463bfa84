"""Scene and helpers for Sure's mobile and desktop SSO tests (contract §2.6, §3.4-3.6, §7.10).

A provider is added the way an operator does (the CLI's service); an upstream identity is what
a validated ID token says. Until a test drives the real provider (tests/support/idp.py), the
callback's decision is made by calling the same service sso-core's callback calls
(app.sso.services.callbacks), and everything after it — the app's exchanges — goes over HTTP.
The database is read only to count rows and to prove what is (not) stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.clock import utcnow
from tests.support.factories import UserInfo
from tests.support.sure import DEVICE

SSO_EXCHANGE = "/api/v1/auth/sso_exchange"
SSO_LINK = "/api/v1/auth/sso_link"
SSO_CREATE_ACCOUNT = "/api/v1/auth/sso_create_account"
DESKTOP_EXCHANGE = "/sessions/desktop_exchange"
MOBILE_CALLBACK = "sureapp://oauth/callback"
DESKTOP_CALLBACK = "sure://sso/callback"
ISSUER = "https://idp.example.test"
PROVIDER_KEY = "idp"

INVALID_CODE = {
    "error": "invalid_or_expired_code",
    "message": "Authorization code is invalid or expired",
}
LINKING_CODE_REQUIRED = {"error": "Linking code is required"}
LINKING_CODE_INVALID = {"error": "Linking code is invalid or expired"}
IDENTITY_REMOVED = {"error": "SSO identity was removed by an administrator"}
SSO_MFA = {"error": "MFA users should sign in with email and password", "mfa_required": True}
CREATION_DISABLED = {"error": "SSO account creation is disabled. Please contact an administrator."}


def add_provider(app: Flask, **fields: Any) -> Any:
    from app.sso.services import providers

    with app.app_context():
        return providers.add_provider(
            now=utcnow(),
            **{
                "key": PROVIDER_KEY,
                "issuer": ISSUER,
                "client_id": "tollgate",
                "client_secret": "upstream-secret",
                **fields,
            },
        )


@pytest.fixture(name="provider")
def provider_fixture(app: Flask) -> Any:
    return add_provider(app)


def upstream(
    subject: str = "upstream-subject-1",
    email: str | None = "sso.person@example.com",
    first_name: str | None = "Sso",
    last_name: str | None = "Person",
    email_verified: bool = True,
    issuer: str = ISSUER,
    provider_key: str = PROVIDER_KEY,
) -> Any:
    from app.sso.services.identities import UpstreamIdentity

    return UpstreamIdentity(
        provider=provider_key,
        issuer=issuer,
        subject=subject,
        email=email,
        email_verified=email_verified,
        first_name=first_name,
        last_name=last_name,
    )


def link(app: Flask, user: UserInfo, identity: Any) -> None:
    from app.extensions import db
    from app.identity.models import User
    from app.sso.services import identities

    with app.app_context():
        row = db.session.get(User, user.id)
        assert row is not None
        identities.link(row, identity, now=utcnow())


def block(app: Flask, identity: Any) -> None:
    """An administrator removes the identity (Sure's SsoIdentityBlock)."""
    from app.extensions import db
    from app.sso.services import identities

    with app.app_context():
        row = identities.find_link(identity)
        assert row is not None, "only a linked identity can be blocked"
        row.blocked_at = utcnow()
        db.session.commit()


def mobile_callback(
    app: Flask,
    identity: Any,
    device: dict[str, Any] | None = DEVICE,
    now: datetime | None = None,
) -> str:
    """What the callback redirects the browser to for a mobile flow."""
    from app.audit.services import SYSTEM
    from app.sso.services import callbacks, providers

    with app.app_context():
        found = providers.get_provider(identity.provider)
        assert found is not None
        return callbacks.mobile_callback_url(
            found, identity, device=device, now=now or utcnow(), caller=SYSTEM
        )


def desktop_callback(
    app: Flask, identity: Any, code_challenge: str | None, now: datetime | None = None
) -> str:
    from app.sso.services import callbacks, providers

    with app.app_context():
        found = providers.get_provider(identity.provider)
        assert found is not None
        return callbacks.desktop_callback_url(
            found, identity, code_challenge=code_challenge, now=now or utcnow()
        )


def query(url: str, base: str = MOBILE_CALLBACK) -> dict[str, str]:
    """The parameters of a custom-scheme redirect, after checking where it goes."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == base, url
    return dict(parse_qsl(parts.query, keep_blank_values=True))


def raw_query(url: str) -> str:
    return urlsplit(url).query


def code_of(url: str, base: str = MOBILE_CALLBACK) -> str:
    params = query(url, base)
    assert set(params) == {"code"}, url
    assert len(params["code"]) == 43
    return params["code"]


@pytest.fixture(name="count")
def count_fixture(app: Flask) -> Callable[..., int]:
    from app.extensions import db

    def counter(model: type, *where: Any) -> int:
        with app.app_context():
            return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    return counter


def stored_codes(app: Flask) -> list[dict[str, Any]]:
    """Every sso_codes row as stored (to prove what is, and is not, in the database)."""
    from app.extensions import db
    from app.sso.models import SsoCode

    with app.app_context():
        return [
            {
                "kind": row.kind,
                "code_digest": row.code_digest,
                "payload_encrypted": row.payload_encrypted,
                "consumed_at": row.consumed_at,
                "expires_at": row.expires_at,
                "created_at": row.created_at,
            }
            for row in db.session.scalars(select(SsoCode)).all()
        ]


def linking_payload(app: Flask, linking_code: str) -> dict[str, Any] | None:
    """What a live linking code carries (Sure's test reads its cache the same way)."""
    from app.sso.services import codes

    with app.app_context():
        found = codes.peek(codes.LINKING, linking_code, now=utcnow())
        return None if found is None else found.payload


def set_user(app: Flask, user_id: uuid.UUID, **values: Any) -> None:
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        row = db.session.get(User, user_id)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)
        db.session.commit()


def invite(app: Flask, email: str, family_id: uuid.UUID, role: str = "member") -> None:
    from app.identity import invitations

    with app.app_context():
        invitations.create_invitation(email=email, family_id=family_id, role=role, now=utcnow())


def minutes_ago(n: int) -> datetime:
    return utcnow() - timedelta(minutes=n)
