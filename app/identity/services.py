"""Users and families: creation, password sign-in (throttled, audited), TOTP second factor."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, select, update

from app import crypto
from app.audit.services import SYSTEM, Caller, record
from app.errors import TollgateError, Unauthorized
from app.extensions import db
from app.identity import mfa
from app.identity.budgets import LOGIN_PER_ACCOUNT, LOGIN_PER_IP, OTP_PER_ACCOUNT, account_key
from app.identity.models import (
    DEVICE_TYPES,
    ROLES,
    Device,
    Family,
    InviteCode,
    User,
    WebSession,
)
from app.ratelimit import spend_all

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# LOGIN_PER_ACCOUNT, LOGIN_PER_IP and OTP_PER_ACCOUNT live in identity.budgets: the MFA
# step-up checks spend the same budgets as sign-in.


class InvalidUser(TollgateError):
    status, error = 422, "validation_failed"


class InvalidCredentials(Unauthorized):
    description = "Invalid email or password"


class SecondFactorRequired(Unauthorized):
    """The password was right but the account needs a (valid) one-time code."""

    description = "Two-factor authentication required"


def normalize_email(email: str) -> str:
    return account_key(email)


def create_user(**fields: Any) -> User:
    """Create a user (and a new family unless ``family_id`` is given); commits. Takes the
    keyword arguments of ``add_user``."""
    user = add_user(**fields)
    db.session.commit()
    return user


def add_user(
    *,
    email: str,
    password: str,
    now: datetime,
    first_name: str | None = None,
    last_name: str | None = None,
    role: str = "member",
    family_id: uuid.UUID | None = None,
    caller: Caller = SYSTEM,
) -> User:
    """Add a user (and a new family unless ``family_id`` is given) to the current unit of
    work, without committing. Raises InvalidUser with every problem found."""
    email = normalize_email(email)
    errors = []
    if not EMAIL_RE.match(email) or len(email) > 254:
        errors.append("Email is invalid")
    if len(password or "") < current_app.config["PASSWORD_MIN_LENGTH"]:
        errors.append(
            f"Password must be at least {current_app.config['PASSWORD_MIN_LENGTH']} characters"
        )
    if role not in ROLES:
        errors.append(f"Role must be one of {', '.join(ROLES)}")
    if email and db.session.scalar(select(User.id).where(User.email == email)):
        errors.append("Email has already been taken")
    if family_id is not None and db.session.get(Family, family_id) is None:
        errors.append("Family does not exist")
    if errors:
        raise InvalidUser("; ".join(errors), extra={"errors": errors})

    if family_id is None:
        family = Family(name=f"{first_name or email.split('@')[0]}'s family", created_at=now)
        db.session.add(family)
        db.session.flush()
        family_id = family.id
    user = User(
        email=email,
        password_hash=crypto.hash_password(password),
        first_name=first_name,
        last_name=last_name,
        role=role,
        family_id=family_id,
        created_at=now,
        updated_at=now,
    )
    db.session.add(user)
    db.session.flush()
    record("user.created", now=now, caller=caller, actor_user_id=user.id, family_id=family_id,
           role=role)
    return user


def get_user(user_id: uuid.UUID | str | None) -> User | None:
    if not user_id:
        return None
    try:
        key = user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(str(user_id))
    except ValueError:
        return None
    return db.session.get(User, key)


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def start_web_session(user: User, *, now: datetime) -> str:
    """A new server-side browser session; returns the session id for the cookie. Commits."""
    sid = crypto.new_token("tgw_")
    lifetime = timedelta(seconds=int(current_app.config["PERMANENT_SESSION_LIFETIME"]))
    db.session.add(WebSession(sid_digest=crypto.digest(sid), user_id=user.id, created_at=now,
                              expires_at=now + lifetime))
    db.session.commit()
    return sid


def load_web_session_user(login_id: str, sid: str | None, *, now: datetime) -> User | None:
    """The signed-in user of a browser request, or None: the session row must be live and
    the user's session epoch unchanged (MFA changes and deactivation bump it)."""
    user_id, _, epoch = (login_id or "").partition(":")
    if not sid:
        return None
    found = db.session.execute(
        select(User, WebSession).join(WebSession, WebSession.user_id == User.id)
        .where(WebSession.sid_digest == crypto.digest(sid))
    ).first()
    if found is None:
        return None
    user, web_session = found
    if (str(user.id) != user_id or str(user.session_epoch) != epoch or not user.active
            or web_session.revoked_at is not None or web_session.expires_at <= now):
        return None
    return user


def end_web_session(sid: str | None, *, now: datetime) -> None:
    if sid:
        db.session.execute(
            update(WebSession).where(WebSession.sid_digest == crypto.digest(sid),
                                     WebSession.revoked_at.is_(None))
            .values(revoked_at=now).execution_options(synchronize_session=False)
        )
        db.session.commit()


def end_all_web_sessions(user_id: uuid.UUID, *, now: datetime) -> int:
    """Every browser session of the user. The caller commits."""
    return db.session.execute(
        update(WebSession).where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False)
    ).rowcount


@dataclass(frozen=True)
class SignIn:
    user: User
    used_second_factor: bool


def authenticate_password(
    *,
    email: str,
    password: str,
    now: datetime,
    caller: Caller,
    otp_code: str | None = None,
    require_second_factor: bool = True,
    channel: str = "web",
    client_id: str | None = None,
    allow_inactive: bool = False,
) -> SignIn:
    """Check an email and password (and, for MFA users, a one-time code).

    Unknown email, wrong password and inactive account give the same answer after the same
    work (argon2id against a dummy hash); ``allow_inactive`` lets a caller that must answer
    an inactive account differently (Sure's mobile login) see it, password still checked.
    Failures are throttled per account and per client
    IP; the budget is checked before any work so a locked-out caller learns nothing new.
    Raises InvalidCredentials, SecondFactorRequired or TooManyRequests.
    """
    normalized = normalize_email(email)
    ip_key = caller.ip or "unknown"
    spend_all([(LOGIN_PER_ACCOUNT, normalized), (LOGIN_PER_IP, ip_key)])

    user = find_by_email(normalized) if normalized else None
    password_ok = crypto.verify_password(password or "", user.password_hash if user else None)
    if user is None or not password_ok or not (user.active or allow_inactive):
        _failed(normalized, ip_key, now, caller, user, channel, client_id, "bad_credentials")
        raise InvalidCredentials()

    if require_second_factor and user.otp_required:
        # The one-time code has its own, smaller budget per account: once it is spent the
        # whole sign-in must wait, password included.
        if otp_code:
            OTP_PER_ACCOUNT.spend(normalized)
        if not (otp_code and mfa.verify_second_factor(user, otp_code, now)):
            if otp_code:
                _failed(normalized, ip_key, now, caller, user, channel, client_id, "bad_otp")
            raise SecondFactorRequired(extra={"mfa_required": True})
        OTP_PER_ACCOUNT.reset(normalized)

    if crypto.password_needs_rehash(user.password_hash or ""):
        user.password_hash = crypto.hash_password(password)
    LOGIN_PER_ACCOUNT.reset(normalized)
    LOGIN_PER_IP.refund(ip_key)  # the IP budget counts failures; a success gives its unit back
    record("login", now=now, caller=caller, actor_user_id=user.id, family_id=user.family_id,
           client_id=client_id, channel=channel)
    db.session.commit()
    return SignIn(user=user, used_second_factor=bool(user.otp_required and otp_code))


def _failed(
    email: str,
    ip_key: str,
    now: datetime,
    caller: Caller,
    user: User | None,
    channel: str,
    client_id: str | None,
    reason: str,
) -> None:
    record("login", outcome="failure", now=now, caller=caller,
           actor_user_id=user.id if user else None, family_id=user.family_id if user else None,
           client_id=client_id, channel=channel, reason=reason, email=email or None)
    db.session.commit()


# --- second factor --------------------------------------------------------------------------


def enable_totp(user: User, *, now: datetime, caller: Caller = SYSTEM) -> str:
    """Turn MFA on at once (operators, tests); returns the TOTP secret. Commits."""
    return mfa.enable_immediately(user, now=now, caller=caller)["secret"]


def count_users() -> int:
    return db.session.scalar(select(func.count(User.id))) or 0


# --- devices -----------------------------------------------------------------------------------

DEVICE_FIELDS = ("device_id", "device_name", "device_type", "os_version", "app_version")


def valid_device(data: object) -> dict[str, str] | None:
    """Sure's rule: all five fields present and non-blank, device_type ios|android|web."""
    if not isinstance(data, dict):
        return None
    values = {key: data.get(key) for key in DEVICE_FIELDS}
    if not all(isinstance(v, str) and v.strip() for v in values.values()):
        return None
    if values["device_type"] not in DEVICE_TYPES:
        return None
    if any(len(v) > 255 for v in values.values()):  # type: ignore[arg-type]
        return None
    return {key: value.strip() for key, value in values.items()}  # type: ignore[union-attr]


def upsert_device(user: User, info: dict[str, str], *, now: datetime) -> Device:
    """Find the user's device by device_id or create it; overwrite its details and
    last_seen_at. Part of the caller's unit of work."""
    device = db.session.scalar(
        select(Device).where(Device.user_id == user.id, Device.device_id == info["device_id"])
    )
    if device is None:
        device = Device(user_id=user.id, device_id=info["device_id"], created_at=now)
        db.session.add(device)
    device.device_name = info["device_name"]
    device.device_type = info["device_type"]
    device.os_version = info["os_version"]
    device.app_version = info["app_version"]
    device.last_seen_at = now
    db.session.flush()
    return device


def touch_device(user_id: uuid.UUID, device_id: str, *, now: datetime) -> None:
    db.session.execute(
        update(Device).where(Device.user_id == user_id, Device.device_id == device_id)
        .values(last_seen_at=now).execution_options(synchronize_session=False)
    )


# --- invite codes --------------------------------------------------------------------------------


def create_invite_codes(count: int, *, now: datetime, caller: Caller = SYSTEM) -> list[str]:
    """New single-use codes of 8 lowercase hex characters; only digests are stored."""
    codes = []
    while len(codes) < count:
        code = secrets.token_hex(4)
        if code in codes or db.session.scalar(
                select(InviteCode.id).where(InviteCode.code_digest == crypto.digest(code))):
            continue
        codes.append(code)
        db.session.add(InviteCode(code_digest=crypto.digest(code), created_at=now))
    record("invite_codes.created", now=now, caller=caller, count=count)
    db.session.commit()
    return codes


def invite_code_usable(code: str) -> bool:
    return db.session.scalar(
        select(InviteCode.id).where(InviteCode.code_digest == crypto.digest(code.strip().lower()),
                                    InviteCode.used_at.is_(None))
    ) is not None


def claim_invite_code(code: str, user_id: uuid.UUID, *, now: datetime) -> bool:
    """Consume the code inside the caller's transaction; False when someone else did."""
    return db.session.execute(
        update(InviteCode)
        .where(InviteCode.code_digest == crypto.digest(code.strip().lower()),
               InviteCode.used_at.is_(None))
        .values(used_at=now, used_by_user_id=user_id)
        .execution_options(synchronize_session=False)
    ).rowcount == 1


def purge_web_sessions(*, now: datetime, batch_size: int) -> int:
    """Delete expired and ended browser sessions, in batches. Commits per batch."""
    purged = 0
    while True:
        ids = db.session.scalars(
            select(WebSession.id).where(
                (WebSession.expires_at <= now) | WebSession.revoked_at.is_not(None))
            .limit(batch_size)
        ).all()
        if not ids:
            return purged
        purged += db.session.execute(delete(WebSession).where(WebSession.id.in_(ids))).rowcount
        db.session.commit()
