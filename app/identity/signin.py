"""Password sign-in: throttled, audited, with the second factor for MFA users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app import crypto
from app.audit.services import Caller, record
from app.errors import Unauthorized
from app.extensions import db
from app.identity import mfa
from app.identity.budgets import LOGIN_PER_ACCOUNT, LOGIN_PER_IP, OTP_PER_ACCOUNT
from app.identity.models import User
from app.identity.users import find_by_email, normalize_email
from app.ratelimit import spend_all


class InvalidCredentials(Unauthorized):
    description = "Invalid email or password"


class SecondFactorRequired(Unauthorized):
    """The password was right but the account needs a (valid) one-time code."""

    description = "Two-factor authentication required"


@dataclass(frozen=True)
class SignIn:
    user: User
    # A one-time code (TOTP or backup code) was checked too: an ID token's amr says "otp".
    second_factor: bool = False


def authenticate_password(
    *,
    email: str,
    password: str,
    now: datetime,
    caller: Caller,
    otp_code: str | None = None,
    channel: str = "web",
    client_id: str | None = None,
    allow_inactive: bool = False,
) -> SignIn:
    """Check an email and password (and, for MFA users, a one-time code).

    Unknown email, wrong password and inactive account give the same answer after the same
    work (argon2id against a dummy hash); ``allow_inactive`` lets a caller that must answer
    an inactive account differently (Sure's mobile login) see it, password still checked.
    Failures are throttled per account and per client IP; the budget is checked before any
    work so a locked-out caller learns nothing new. A hash made with older argon2id
    parameters is replaced on success.
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

    if user.otp_required:
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
    record(
        "login",
        now=now,
        caller=caller,
        actor_user_id=user.id,
        family_id=user.family_id,
        client_id=client_id,
        channel=channel,
    )
    db.session.commit()
    return SignIn(user=user, second_factor=user.otp_required)


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
    record(
        "login",
        outcome="failure",
        now=now,
        caller=caller,
        actor_user_id=user.id if user else None,
        family_id=user.family_id if user else None,
        client_id=client_id,
        channel=channel,
        reason=reason,
        email=email or None,
    )
    db.session.commit()
