"""Session sign-in and sign-out, and who the caller is (``/auth/me``).

Signing in is ``identity.signin.authenticate_password``, the same rules as every other
sign-in: one answer for an unknown email and a wrong password, throttled per account and per
client IP, the second factor (TOTP, each step once, or a backup code) for MFA users, audited.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.audit.services import Caller
from app.config import current_region
from app.errors import Forbidden, Unauthorized
from app.extensions import db
from app.gate import Principal
from app.identity import signin
from app.identity.grants import granted_roles
from app.identity.models import User
from app.oauth2.services.clients import SURE_MOBILE_CLIENT_ID
from app.sessions import tokens


class InvalidLogin(Unauthorized):
    error = "invalid_credentials"
    description = "Invalid email or password"


class SecondFactorRequired(Unauthorized):
    error = "mfa_required"
    description = "Two-factor authentication required"

    def __init__(self) -> None:
        super().__init__(extra={"mfa_required": True})


class NotASession(Forbidden):
    error = "not_a_session"
    description = (
        "Logout ends a session: send the access token that POST /auth/login returned "
        "(other credentials are revoked where they are managed)"
    )


def session_user(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
    }


def login(
    *, email: str, password: str, otp_code: str | None, now: datetime, caller: Caller
) -> dict[str, Any]:
    """Check the credentials (and the second factor), then start a session: the token
    block and the user. Raises InvalidLogin, SecondFactorRequired or TooManyRequests (and
    FirstPartyClientDisabled when an operator disabled the built-in client). Commits."""
    try:
        sign_in = signin.authenticate_password(
            email=email,
            password=password,
            otp_code=otp_code,
            now=now,
            caller=caller,
            channel="session",
            client_id=SURE_MOBILE_CLIENT_ID,
        )
    except signin.SecondFactorRequired as exc:
        raise SecondFactorRequired() from exc
    except signin.InvalidCredentials as exc:
        raise InvalidLogin() from exc
    if sign_in.user.region != current_region():
        # Its tokens would be refused on every request here (the gate's region check).
        raise InvalidLogin()
    token = tokens.start_session(sign_in.user, now=now, caller=caller)
    db.session.commit()
    return {**token, "user": session_user(sign_in.user)}


def logout(principal: Principal, *, now: datetime, caller: Caller) -> None:
    """End the caller's session: every token of its lineage, access and refresh, at once.
    Only a session JWT names a session; any other credential is NotASession. Commits."""
    if principal.credential_kind != tokens.CREDENTIAL_KIND:
        raise NotASession()
    tokens.end_session(
        uuid.UUID(principal.details["session_id"]),
        user_id=principal.user_id,
        family_id=principal.family_id,
        reason="logout",
        now=now,
        caller=caller,
    )
    db.session.commit()


def describe_caller(principal: Principal) -> dict[str, Any]:
    """``/auth/me``: the identity behind any credential, read now (permissions are the live
    ones, sorted); ``user`` is None for service credentials."""
    user = principal.user
    described: dict[str, Any] | None = None
    if user is not None:
        described = {
            **session_user(user),
            "role": user.role,
            # Every role held: the base role, then the granted ones.
            "roles": [user.role, *granted_roles(user.id)],
        }
    return {
        "user": described,
        "tenant_id": str(principal.family_id),
        "region": principal.region or current_region(),
        "credential_type": principal.credential_kind,
        "permissions": sorted(principal.permissions),
        "scope": " ".join(sorted(principal.scopes)),
        "mfa_enabled": bool(user is not None and user.otp_required),
        "is_partner": bool(user is not None and user.is_partner),
    }
