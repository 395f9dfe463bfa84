"""Sure's first-party account flows: signup, login, refresh, enable AI, deactivation.

Failures are app.firstparty.errors, which app.errors renders in Sure's exact bodies, so the
mobile client works unchanged. Each flow is one unit of work: all or nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from flask import current_app
from sqlalchemy import func, select

from app.apikeys import services as apikeys
from app.audit.services import Caller, record
from app.errors import TooManyRequests
from app.extensions import db
from app.firstparty import errors, tokens
from app.identity import devices, invites, sessions, signin, users
from app.identity.models import User
from app.identity.policy import password_policy_errors
from app.oauth2.services import tokens as oauth2
from app.ratelimit import Throttle
from app.secretkeys.services import keys as secret_key_services

SIGNUP_PER_IP = Throttle("signup-ip", "RATE_LIMIT_SIGNUP_IP")


def mobile_user(user: User) -> dict[str, Any]:
    """Sure's mobile user object."""
    return {
        "id": str(user.id),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "ui_layout": "intro" if user.role == "guest" else (user.ui_layout or "dashboard"),
        "ai_enabled": bool(user.ai_enabled and current_app.config["AI_AVAILABLE"]),
    }


def _lock(user: User) -> User:
    """Serialise token issuance per user (a row lock on PostgreSQL)."""
    locked = db.session.scalar(select(User).where(User.id == user.id).with_for_update())
    assert locked is not None
    return locked


def signup(
    *,
    email: str,
    password: str,
    first_name: str | None,
    last_name: str | None,
    invite_code: str,
    device: object,
    now: datetime,
    caller: Caller,
) -> dict[str, Any]:
    """Sure §3.1, in its order of checks; one transaction for family, user, invite, device and
    token. The first user of the instance is a super_admin, later creators admins. ``device``
    is the request's device object as sent, judged here by Sure's rule; an empty
    ``invite_code`` is none."""
    try:
        SIGNUP_PER_IP.spend(caller.ip or "unknown")
    except TooManyRequests as exc:
        raise errors.RateLimited(exc.retry_after) from exc

    if current_app.config["REQUIRE_INVITE_CODE"] and not invite_code:
        raise errors.InviteCodeRequired()
    if invite_code and not invites.invite_code_usable(invite_code):
        raise errors.InvalidInviteCode()

    policy = password_policy_errors(password, current_app.config["PASSWORD_MIN_LENGTH"])
    if policy:
        raise errors.InvalidSignup(policy)
    valid_device = devices.valid_device(device)
    if valid_device is None:
        raise errors.DeviceRequired()

    role = "super_admin" if users.count_users() == 0 else "admin"
    try:
        user = users.add_user(
            email=email,
            password=password,
            now=now,
            first_name=first_name,
            last_name=last_name,
            role=role,
            caller=caller,
        )
    except users.InvalidUser as exc:
        db.session.rollback()
        raise errors.InvalidSignup(exc.extra.get("errors", [exc.description])) from exc
    if invite_code and not invites.claim_invite_code(invite_code, user.id, now=now):
        db.session.rollback()  # lost the race for the code: nothing is kept
        raise errors.InvalidInviteCode()
    saved_device = devices.upsert_device(user, valid_device, now=now)
    token = tokens.issue_device_token(user, saved_device.id, now=now, caller=caller)
    record(
        "signup",
        now=now,
        caller=caller,
        actor_user_id=user.id,
        family_id=user.family_id,
        device_id=valid_device["device_id"],
        invite=bool(invite_code),
    )
    db.session.commit()
    return {**token, "user": mobile_user(user)}


def login(
    *,
    email: str,
    password: str,
    otp_code: str | None,
    device: object,
    now: datetime,
    caller: Caller,
) -> dict[str, Any]:
    """Sure §3.2: credentials, then the second factor, then the device (the request's device
    object as sent); one live token per device (the device's earlier tokens are revoked)."""
    try:
        sign_in = signin.authenticate_password(
            email=email,
            password=password,
            otp_code=otp_code,
            now=now,
            caller=caller,
            channel="mobile",
            allow_inactive=True,
        )
    except signin.SecondFactorRequired as exc:
        raise errors.SecondFactorRequired() from exc
    except signin.InvalidCredentials as exc:
        raise errors.InvalidCredentials() from exc
    except TooManyRequests as exc:
        raise errors.RateLimited(exc.retry_after) from exc
    valid_device = devices.valid_device(device)
    if valid_device is None:
        raise errors.DeviceRequired()
    user = _lock(sign_in.user)
    if not user.active:
        db.session.rollback()
        raise errors.DeviceRegistrationFailed()
    saved_device = devices.upsert_device(user, valid_device, now=now)
    token = tokens.issue_device_token(user, saved_device.id, now=now, caller=caller)
    db.session.commit()
    return {**token, "user": mobile_user(user)}


def refresh(
    refresh_token: str, *, device_id: str | None, now: datetime, caller: Caller
) -> dict[str, Any]:
    """Sure §3.3: rotate any refresh token Tollgate issued; the token block only. The device
    named by ``device_id``, if the user has it, is marked as seen."""
    if not refresh_token:
        raise errors.RefreshTokenRequired()
    return tokens.rotate_refresh_token(refresh_token, now=now, caller=caller, device_id=device_id)


def enable_ai(user: User, *, now: datetime, caller: Caller) -> dict[str, Any]:
    if not current_app.config["AI_AVAILABLE"]:
        raise errors.AiUnavailable()
    user.ai_enabled = True
    user.updated_at = now
    record("ai.enabled", now=now, caller=caller, actor_user_id=user.id, family_id=user.family_id)
    db.session.commit()
    return {"user": mobile_user(user)}


ADMIN_WITH_MEMBERS = (
    "Admin cannot delete account while other users are present. Please delete all members first."
)
LAST_SUPER_ADMIN = (
    "Cannot remove the last active super admin. Promote another user to super admin first."
)


def deactivate(user: User, *, now: datetime, caller: Caller) -> None:
    """Sure §2.4 ``DELETE /api/v1/users/me`` with its rules; then every credential of the
    user dies in the same transaction: OAuth tokens (all lineages), API keys, the secret key
    (and so its JWTs), sessions. The
    user itself is deleted later by the purge job (firstparty.purge, ``jobs work``)."""
    user = _lock(user)
    problems: list[str] = []
    active_members = (
        db.session.scalar(
            select(func.count(User.id)).where(
                User.family_id == user.family_id, User.id != user.id, User.active.is_(True)
            )
        )
        or 0
    )
    if user.is_admin and active_members:
        problems.append(ADMIN_WITH_MEMBERS)
    if user.role == "super_admin" and not db.session.scalar(
        select(func.count(User.id)).where(
            User.role == "super_admin", User.id != user.id, User.active.is_(True)
        )
    ):
        problems.append(LAST_SUPER_ADMIN)
    if problems:
        db.session.rollback()
        raise errors.AccountDeletionRefused(problems)
    local, _, domain = user.email.partition("@")
    user.email = f"{local}-deactivated-{user.id}@{domain}"
    user.active = False
    user.deactivated_at = now
    user.updated_at = now
    revoked = end_every_credential(user, now=now)
    record(
        "user.deactivated",
        now=now,
        caller=caller,
        actor_user_id=user.id,
        family_id=user.family_id,
        **revoked,
    )
    db.session.commit()


class RevokedCredentials(TypedDict):
    """How many credentials of each kind ``end_every_credential`` revoked (audited as is)."""

    revoked_tokens: int
    revoked_api_keys: int
    revoked_secret_keys: int


def end_every_credential(user: User, *, now: datetime) -> RevokedCredentials:
    """Every credential of the user dies at once, inside the caller's transaction (no
    commit): OAuth tokens (all lineages), API keys, the secret key (and so its JWTs), browser
    sessions. Deactivation by the account holder (``deactivate``) and by a tenant admin
    (app.admin) both come here, so a credential kind added here is ended by both (T28).
    Returns the revoked counts, as the audit event records them."""
    user.session_epoch += 1
    revoked = RevokedCredentials(
        revoked_tokens=oauth2.revoke_all_for_user(user.id, now=now),
        revoked_api_keys=apikeys.revoke_all_for_user(user.id, now=now),
        revoked_secret_keys=secret_key_services.revoke_all_for_user(user.id, now=now),
    )
    sessions.end_all_web_sessions(user.id, now=now)
    return revoked
