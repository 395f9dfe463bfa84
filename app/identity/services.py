"""Users and families: creation, password sign-in (throttled, audited), TOTP second factor."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

import pyotp
from flask import current_app
from sqlalchemy import func, or_, select, update

from app import crypto
from app.audit.services import SYSTEM, Caller, record
from app.errors import TollgateError, Unauthorized
from app.extensions import db
from app.identity.models import ROLES, Family, User
from app.ratelimit import Throttle, check_all

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOTP_INTERVAL = 30
TOTP_DIGITS = 6

LOGIN_PER_ACCOUNT = Throttle("login-account", "RATE_LIMIT_LOGIN_ACCOUNT")
LOGIN_PER_IP = Throttle("login-ip", "RATE_LIMIT_LOGIN_IP")


class InvalidUser(TollgateError):
    status, error = 422, "validation_failed"


class InvalidCredentials(Unauthorized):
    description = "Invalid email or password"


class SecondFactorRequired(Unauthorized):
    """The password was right but the account needs a (valid) one-time code."""

    description = "Two-factor authentication required"


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def create_user(
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
    """Create a user (and a new family unless ``family_id`` is given); commits."""
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
    db.session.commit()
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


def load_session_user(session_id: str) -> User | None:
    """Flask-Login loader: "<user id>:<session epoch>"; a bumped epoch ends the session."""
    user_id, _, epoch = (session_id or "").partition(":")
    user = get_user(user_id)
    if user is None or not user.active or str(user.session_epoch) != epoch:
        return None
    return user


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
) -> SignIn:
    """Check an email and password (and, for MFA users, a one-time code).

    Unknown email, wrong password and inactive account give the same answer after the same
    work (argon2id against a dummy hash). Failures are throttled per account and per client
    IP; the budget is checked before any work so a locked-out caller learns nothing new.
    Raises InvalidCredentials, SecondFactorRequired or TooManyRequests.
    """
    normalized = normalize_email(email)
    ip_key = caller.ip or "unknown"
    check_all([(LOGIN_PER_ACCOUNT, normalized), (LOGIN_PER_IP, ip_key)])

    user = find_by_email(normalized) if normalized else None
    password_ok = crypto.verify_password(password or "", user.password_hash if user else None)
    if user is None or not password_ok or not user.active:
        _failed(normalized, ip_key, now, caller, user, channel, client_id, "bad_credentials")
        raise InvalidCredentials()

    needs_code = require_second_factor and user.otp_required
    if needs_code and not (otp_code and verify_totp(user, otp_code, now)):
        if otp_code:
            _failed(normalized, ip_key, now, caller, user, channel, client_id, "bad_otp")
        raise SecondFactorRequired(extra={"mfa_required": True})

    if crypto.password_needs_rehash(user.password_hash or ""):
        user.password_hash = crypto.hash_password(password)
    LOGIN_PER_ACCOUNT.reset(normalized)
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
    LOGIN_PER_ACCOUNT.hit(email)
    LOGIN_PER_IP.hit(ip_key)
    record("login", outcome="failure", now=now, caller=caller,
           actor_user_id=user.id if user else None, family_id=user.family_id if user else None,
           client_id=client_id, channel=channel, reason=reason, email=email or None)
    db.session.commit()


# --- TOTP (RFC 6238) ---------------------------------------------------------------------------


def totp_for(user: User) -> pyotp.TOTP:
    if not user.otp_secret_encrypted:
        raise ValueError("user has no TOTP secret")
    secret = crypto.decrypt(user.otp_secret_encrypted)
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL)


def enable_totp(user: User, *, now: datetime, caller: Caller = SYSTEM) -> str:
    """Turn MFA on with a fresh secret; returns the secret (shown once). Commits."""
    secret = pyotp.random_base32(32)
    user.otp_secret_encrypted = crypto.encrypt(secret)
    user.otp_required = True
    user.otp_last_step = None
    user.session_epoch += 1
    record("mfa.enabled", now=now, caller=caller, actor_user_id=user.id,
           family_id=user.family_id)
    db.session.commit()
    return secret


def verify_totp(user: User, code: str, now: datetime) -> bool:
    """Accept the current 30-second step or the one before it, each at most once.

    The accepted step is claimed with a conditional UPDATE, so a replayed code (even one sent
    twice in parallel) is refused. The caller commits.
    """
    code = (code or "").strip()
    if not user.otp_secret_encrypted or not re.fullmatch(r"\d{6}", code):
        return False
    totp = totp_for(user)
    current_step = int(now.timestamp() // TOTP_INTERVAL) if now.tzinfo else int(
        (now - datetime(1970, 1, 1)).total_seconds() // TOTP_INTERVAL
    )
    for step in (current_step, current_step - 1):
        if crypto.constant_time_equals(totp.generate_otp(step), code):
            claimed = db.session.execute(
                update(User)
                .where(User.id == user.id)
                .where(or_(User.otp_last_step.is_(None), User.otp_last_step < step))
                .values(otp_last_step=step)
                .execution_options(synchronize_session=False)
            ).rowcount
            if claimed == 1:
                user.otp_last_step = step
                return True
            return False
    return False


def count_users() -> int:
    return db.session.scalar(select(func.count(User.id))) or 0
