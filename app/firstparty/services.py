"""Sure's first-party account flows: signup, login, refresh, enable AI, deactivation.

Errors carry Sure's exact bodies (``{"error": "..."}`` / ``{"errors": [...]}``), so the
mobile client works unchanged. Each flow is one unit of work: all or nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from app.apikeys import services as apikeys
from app.audit.services import Caller, record
from app.errors import TollgateError, TooManyRequests
from app.extensions import db
from app.firstparty import tokens
from app.identity import services as identity
from app.identity.models import User
from app.identity.policy import password_policy_errors
from app.oauth2 import services as oauth2
from app.ratelimit import Throttle

SIGNUP_PER_IP = Throttle("signup-ip", "RATE_LIMIT_SIGNUP_IP")


def sure_error(status: int, message: str, **extra: Any) -> TollgateError:
    return TollgateError(message, status=status, body={"error": message, **extra})


def sure_errors(status: int, messages: list[str]) -> TollgateError:
    return TollgateError(messages[0] if messages else "Invalid", status=status,
                         body={"errors": messages})


def throttled(exc: TooManyRequests) -> TollgateError:
    return TollgateError(status=429, headers=exc.headers,
                         body={"error": "Rate limit exceeded. Try again later."})


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


def signup(params: dict[str, Any], *, now: datetime, caller: Caller) -> dict[str, Any]:
    """Sure §3.1, in its order of checks; one transaction for family, user, invite, device and
    token. The first user of the instance is a super_admin, later creators admins."""
    try:
        SIGNUP_PER_IP.spend(caller.ip or "unknown")
    except TooManyRequests as exc:
        raise throttled(exc) from exc

    invite = params.get("invite_code")
    invite = invite.strip() if isinstance(invite, str) else ""
    if current_app.config["REQUIRE_INVITE_CODE"] and not invite:
        raise sure_error(403, "Invite code is required")
    if invite and not identity.invite_code_usable(invite):
        raise sure_error(403, "Invalid invite code")

    user_params = params.get("user") if isinstance(params.get("user"), dict) else {}
    password = user_params.get("password")
    policy = password_policy_errors(password if isinstance(password, str) else None,
                                    current_app.config["PASSWORD_MIN_LENGTH"])
    if policy:
        raise sure_errors(422, policy)
    device = identity.valid_device(params.get("device"))
    if device is None:
        raise sure_error(400, "Device information is required")

    names = {key: user_params.get(key) if isinstance(user_params.get(key), str) else None
             for key in ("email", "first_name", "last_name")}
    role = "super_admin" if identity.count_users() == 0 else "admin"
    try:
        user = identity.add_user(email=names["email"] or "", password=password, now=now,
                                 first_name=names["first_name"], last_name=names["last_name"],
                                 role=role, caller=caller)
    except identity.InvalidUser as exc:
        db.session.rollback()
        raise sure_errors(422, exc.extra.get("errors", [exc.description])) from exc
    if invite and not identity.claim_invite_code(invite, user.id, now=now):
        db.session.rollback()  # lost the race for the code: nothing is kept
        raise sure_error(403, "Invalid invite code")
    saved_device = identity.upsert_device(user, device, now=now)
    token = tokens.issue_device_token(user, saved_device.id, now=now, caller=caller)
    record("signup", now=now, caller=caller, actor_user_id=user.id, family_id=user.family_id,
           device_id=device["device_id"], invite=bool(invite))
    db.session.commit()
    return {**token, "user": mobile_user(user)}


def login(params: dict[str, Any], *, now: datetime, caller: Caller) -> dict[str, Any]:
    """Sure §3.2: credentials, then the second factor, then the device; one live token per
    device (the device's earlier tokens are revoked)."""
    email, password = params.get("email"), params.get("password")
    otp_code = params.get("otp_code")
    try:
        sign_in = identity.authenticate_password(
            email=email if isinstance(email, str) else "",
            password=password if isinstance(password, str) else "",
            otp_code=otp_code if isinstance(otp_code, str) else None,
            now=now, caller=caller, channel="mobile", allow_inactive=True)
    except identity.SecondFactorRequired as exc:
        raise sure_error(401, "Two-factor authentication required", mfa_required=True) from exc
    except identity.InvalidCredentials as exc:
        raise sure_error(401, "Invalid email or password") from exc
    except TooManyRequests as exc:
        raise throttled(exc) from exc
    device = identity.valid_device(params.get("device"))
    if device is None:
        raise sure_error(400, "Device information is required")
    user = _lock(sign_in.user)
    if not user.active:
        db.session.rollback()
        raise sure_error(422, "Failed to register device")
    saved_device = identity.upsert_device(user, device, now=now)
    token = tokens.issue_device_token(user, saved_device.id, now=now, caller=caller)
    db.session.commit()
    return {**token, "user": mobile_user(user)}


def refresh(params: dict[str, Any], *, now: datetime, caller: Caller) -> dict[str, Any]:
    """Sure §3.3: rotate any refresh token Tollgate issued; the token block only."""
    value = params.get("refresh_token")
    if not isinstance(value, str) or not value.strip():
        raise sure_error(400, "Refresh token is required")
    try:
        token = tokens.rotate_refresh_token(value.strip(), now=now, caller=caller)
    except tokens.InvalidRefreshToken as exc:
        raise sure_error(401, "Invalid refresh token") from exc
    device = params.get("device")
    if isinstance(device, dict) and isinstance(device.get("device_id"), str):
        row = oauth2.find_token(token["access_token"])
        if row is not None and row[0].user_id is not None:
            identity.touch_device(row[0].user_id, device["device_id"], now=now)
            db.session.commit()
    return token


def enable_ai(user: User, *, now: datetime, caller: Caller) -> dict[str, Any]:
    if not current_app.config["AI_AVAILABLE"]:
        raise sure_error(403, "AI is not available for your account")
    user.ai_enabled = True
    user.updated_at = now
    record("ai.enabled", now=now, caller=caller, actor_user_id=user.id, family_id=user.family_id)
    db.session.commit()
    return {"user": mobile_user(user)}


ADMIN_WITH_MEMBERS = ("Admin cannot delete account while other users are present. "
                      "Please delete all members first.")
LAST_SUPER_ADMIN = ("Cannot remove the last active super admin. "
                    "Promote another user to super admin first.")


def deactivate(user: User, *, now: datetime, caller: Caller) -> None:
    """Sure §2.4 ``DELETE /api/v1/users/me`` with its rules; then every credential of the
    user dies in the same transaction: OAuth tokens (all lineages), API keys, sessions. The
    user itself is deleted later by the purge job (firstparty.purge, ``jobs work``)."""
    user = _lock(user)
    problems = []
    active_members = db.session.scalar(
        select(func.count(User.id)).where(User.family_id == user.family_id, User.id != user.id,
                                          User.active.is_(True))) or 0
    if user.is_admin and active_members:
        problems.append(ADMIN_WITH_MEMBERS)
    if user.role == "super_admin" and not db.session.scalar(
            select(func.count(User.id)).where(User.role == "super_admin", User.id != user.id,
                                              User.active.is_(True))):
        problems.append(LAST_SUPER_ADMIN)
    if problems:
        db.session.rollback()
        raise TollgateError(problems[0], status=422,
                            body={"error": "Failed to delete account", "details": problems})
    local, _, domain = user.email.partition("@")
    user.email = f"{local}-deactivated-{user.id}@{domain}"
    user.active = False
    user.deactivated_at = now
    user.session_epoch += 1
    user.updated_at = now
    tokens = oauth2.revoke_all_for_user(user.id, now=now)
    keys = apikeys.revoke_all_for_user(user.id, now=now)
    identity.end_all_web_sessions(user.id, now=now)
    record("user.deactivated", now=now, caller=caller, actor_user_id=user.id,
           family_id=user.family_id, revoked_tokens=tokens, revoked_api_keys=keys)
    db.session.commit()
