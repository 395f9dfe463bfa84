"""What the factory fixtures (``make_user``, ``make_client``, ``make_key``, …) hand back: plain
values, usable after the app context that created them is gone."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass

from flask import Flask

from app.clock import utcnow

PASSWORD = "correct horse battery"  # every factory-made user's password unless a test says


@dataclass
class UserInfo:
    id: uuid.UUID
    email: str
    password: str
    family_id: uuid.UUID
    role: str


@dataclass
class MfaUser(UserInfo):
    """A user with TOTP on: the secret and backup codes as ``users mfa-enable`` prints them."""

    secret: str
    backup_codes: list[str]


@dataclass
class ClientInfo:
    client_id: str
    client_secret: str | None
    redirect_uri: str | None
    scope: str

    @property
    def basic_auth(self) -> dict[str, str]:
        raw = f"{self.client_id}:{self.client_secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def enable_mfa(app: Flask, owner: UserInfo) -> MfaUser:
    """Turn TOTP on for ``owner`` the way the CLI does (no enrolment round trip)."""
    from app.extensions import db
    from app.identity import mfa
    from app.identity.models import User

    with app.app_context():
        enabled = mfa.enable_immediately(db.session.get(User, owner.id), now=utcnow())
    return MfaUser(
        owner.id,
        owner.email,
        owner.password,
        owner.family_id,
        owner.role,
        enabled["secret"],
        list(enabled["backup_codes"]),
    )


def grant_role(app: Flask, who: UserInfo, role: str) -> None:
    """Grant a role as the platform operator (``users grant-role``), outside any request."""
    from app.extensions import db
    from app.identity import grants
    from app.identity.models import User

    with app.app_context():
        grants.grant_role(db.session.get(User, who.id), role, granter=None, now=utcnow())


def revoke_role(app: Flask, who: UserInfo, role: str) -> None:
    from app.extensions import db
    from app.identity import grants
    from app.identity.models import User

    with app.app_context():
        grants.revoke_role(db.session.get(User, who.id), role, granter=None, now=utcnow())
