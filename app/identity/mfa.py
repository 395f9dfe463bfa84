"""TOTP (RFC 6238) and backup codes.

- The seed is encrypted at rest (crypto.encrypt, keys rotatable via ENCRYPTION_KEYS).
- 30-second steps, 6 digits; the current step and the one before are accepted, each at most
  once: the last accepted step is claimed with a conditional UPDATE, so a replayed code (even
  sent twice in parallel) is refused.
- 8 backup codes of 16 hex characters, shown once, stored as digests, each claimed once by a
  conditional UPDATE.
- Managing MFA is a step-up: starting enrolment needs the password, confirming and replacing
  backup codes a code, turning MFA off both. Every check spends the account's sign-in budgets
  (identity.budgets) *before* it is made, so these endpoints are no side door for guessing.
"""

from __future__ import annotations

import io
import re
import secrets
from datetime import datetime
from typing import TypedDict

import pyotp
import segno
from sqlalchemy import delete, func, or_, select, update

from app import crypto
from app.audit.services import SYSTEM, Caller, record
from app.clock import epoch
from app.errors import TollgateError
from app.extensions import db, execute_count
from app.identity.budgets import LOGIN_PER_ACCOUNT, LOGIN_PER_IP, OTP_PER_ACCOUNT, account_key
from app.identity.models import BackupCode, User
from app.ratelimit import spend_all

TOTP_INTERVAL = 30
TOTP_DIGITS = 6
BACKUP_CODE_COUNT = 8
ISSUER = "Tollgate"
TOTP_RE = re.compile(r"^\d{6}$")
BACKUP_RE = re.compile(r"^[0-9a-f]{16}$")


MSG_PASSWORD = "The password is not valid"
MSG_CODE = "The code is not valid"
# Turning MFA off checks both and says only this: no answer tells which one was wrong.
MSG_PASSWORD_OR_CODE = "The password or the code is not valid"


class OperatorEnrolment(TypedDict):
    secret: str
    backup_codes: list[str]


class MfaError(TollgateError):
    status, error = 422, "mfa_invalid"


def _refuse(
    user: User, action: str, reason: str, message: str, *, now: datetime, caller: Caller
) -> MfaError:
    """Undo the attempt (a code claimed before another check failed stays unused), audit
    the failure, and return the one error the client sees."""
    db.session.rollback()
    record(
        f"mfa.{action}",
        outcome="failure",
        now=now,
        caller=caller,
        actor_user_id=user.id,
        family_id=user.family_id,
        reason=reason,
    )
    db.session.commit()
    return MfaError(message)


def _spend_password_attempt(user: User, caller: Caller) -> None:
    spend_all(
        [(LOGIN_PER_ACCOUNT, account_key(user.email)), (LOGIN_PER_IP, caller.ip or "unknown")]
    )


def _password_matches(user: User, password: str | None) -> bool:
    return crypto.verify_password(password or "", user.password_hash)


def _password_accepted(user: User, caller: Caller) -> None:
    """As a successful sign-in: the account's failures are forgiven, the IP unit returned."""
    LOGIN_PER_ACCOUNT.reset(account_key(user.email))
    LOGIN_PER_IP.refund(caller.ip or "unknown")


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL)


def _secret(user: User) -> str | None:
    return crypto.decrypt(user.otp_secret_encrypted) if user.otp_secret_encrypted else None


def _claim_step(user: User, code: str, now: datetime) -> bool:
    secret = _secret(user)
    if secret is None or not TOTP_RE.match(code):
        return False
    totp = _totp(secret)
    current = epoch(now) // TOTP_INTERVAL
    for step in (current, current - 1):
        if crypto.constant_time_equals(totp.generate_otp(step), code):
            claimed = execute_count(
                update(User)
                .where(User.id == user.id)
                .where(or_(User.otp_last_step.is_(None), User.otp_last_step < step))
                .values(otp_last_step=step)
                .execution_options(synchronize_session=False)
            )
            if claimed == 1:
                user.otp_last_step = step
                return True
            return False
    return False


def _claim_backup_code(user: User, code: str, now: datetime) -> bool:
    if not BACKUP_RE.match(code):
        return False  # anything that is not 16 hex characters costs no lookup
    claimed = execute_count(
        update(BackupCode)
        .where(
            BackupCode.user_id == user.id,
            BackupCode.code_digest == crypto.digest(code),
            BackupCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return claimed == 1


def verify_second_factor(user: User, code: str | None, now: datetime) -> bool:
    """A current TOTP code or an unused backup code, each accepted once. The caller commits."""
    code = (code or "").strip().lower()
    if not code or not user.otp_required:
        return False
    return _claim_step(user, code, now) or _claim_backup_code(user, code, now)


def _new_backup_codes(user: User, now: datetime) -> list[str]:
    db.session.execute(delete(BackupCode).where(BackupCode.user_id == user.id))
    codes = [secrets.token_hex(8) for _ in range(BACKUP_CODE_COUNT)]
    db.session.add_all(
        BackupCode(user_id=user.id, code_digest=crypto.digest(c), created_at=now) for c in codes
    )
    return codes


def provisioning_uri(user: User, secret: str) -> str:
    return _totp(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The otpauth:// URI as an inline SVG QR code (no external service)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer, kind="svg", scale=4, xmldecl=False, svgns=True, title="TOTP QR code"
    )
    return buffer.getvalue().decode("utf-8")


def start_enrolment(
    user: User, password: str | None, *, now: datetime, caller: Caller = SYSTEM
) -> dict[str, str]:
    """A fresh secret, pending until confirmed with a code. Needs the current password (a
    session or token alone must not be enough to plant a second factor), checked within the
    sign-in budgets. Commits."""
    _spend_password_attempt(user, caller)
    if not _password_matches(user, password):
        raise _refuse(user, "enrolment", "bad_password", MSG_PASSWORD, now=now, caller=caller)
    _password_accepted(user, caller)
    if user.otp_required:
        raise MfaError("Two-factor authentication is already enabled")
    secret = pyotp.random_base32(32)
    user.otp_secret_encrypted = crypto.encrypt(secret)
    user.otp_last_step = None
    db.session.commit()
    uri = provisioning_uri(user, secret)
    return {"secret": secret, "otpauth_uri": uri, "qr_svg": qr_svg(uri)}


def confirm_enrolment(
    user: User, code: str, *, now: datetime, caller: Caller = SYSTEM
) -> list[str]:
    """Turn MFA on with a valid code; returns the backup codes (shown once). Other sessions
    of the user end (session epoch). Commits."""
    if user.otp_required:
        raise MfaError("Two-factor authentication is already enabled")
    secret = _secret(user)
    if secret is None:
        raise MfaError("Start the enrolment first")
    OTP_PER_ACCOUNT.spend(account_key(user.email))
    if not _claim_step(user, (code or "").strip(), now):
        raise _refuse(user, "enrolment", "bad_otp", MSG_CODE, now=now, caller=caller)
    OTP_PER_ACCOUNT.reset(account_key(user.email))
    user.otp_required = True
    codes = _new_backup_codes(user, now)
    user.session_epoch += 1
    record("mfa.enabled", now=now, caller=caller, actor_user_id=user.id, family_id=user.family_id)
    db.session.commit()
    return codes


def enable_immediately(user: User, *, now: datetime, caller: Caller = SYSTEM) -> OperatorEnrolment:
    """Operators' shortcut (CLI): MFA on with a fresh secret and backup codes. Commits."""
    secret = pyotp.random_base32(32)
    user.otp_secret_encrypted = crypto.encrypt(secret)
    user.otp_required = True
    user.otp_last_step = None
    user.session_epoch += 1
    codes = _new_backup_codes(user, now)
    record(
        "mfa.enabled",
        now=now,
        caller=caller,
        actor_user_id=user.id,
        family_id=user.family_id,
        by="operator",
    )
    db.session.commit()
    return {"secret": secret, "backup_codes": codes}


def enable_totp(user: User, *, now: datetime, caller: Caller = SYSTEM) -> str:
    """Turn MFA on at once (operators, tests); returns the TOTP secret. Commits."""
    return enable_immediately(user, now=now, caller=caller)["secret"]


def regenerate_backup_codes(
    user: User, code: str, *, now: datetime, caller: Caller = SYSTEM
) -> list[str]:
    """Replace the backup codes; needs a current TOTP code (not a backup code), checked
    within the account's one-time-code budget. Commits."""
    if not user.otp_required:
        raise MfaError(MSG_CODE)
    OTP_PER_ACCOUNT.spend(account_key(user.email))
    if not _claim_step(user, (code or "").strip(), now):
        raise _refuse(user, "backup_codes", "bad_otp", MSG_CODE, now=now, caller=caller)
    OTP_PER_ACCOUNT.reset(account_key(user.email))
    codes = _new_backup_codes(user, now)
    record(
        "mfa.backup_codes_regenerated",
        now=now,
        caller=caller,
        actor_user_id=user.id,
        family_id=user.family_id,
    )
    db.session.commit()
    return codes


def disable(
    user: User, password: str, code: str, *, now: datetime, caller: Caller = SYSTEM
) -> None:
    """Needs the password and a current code (or a backup code). Both budgets are spent
    first and both checks always run, and any failure is the same answer: this must not
    become a password oracle for someone holding only a session or a token. The forgiving
    resets happen only when both were right (a reset after a right password alone would be
    observable as a budget that lasts longer). Commits."""
    if not user.otp_required:
        raise MfaError("Two-factor authentication is not enabled")
    key = account_key(user.email)
    spend_all(
        [(LOGIN_PER_ACCOUNT, key), (LOGIN_PER_IP, caller.ip or "unknown"), (OTP_PER_ACCOUNT, key)]
    )
    password_ok = _password_matches(user, password)
    code_ok = verify_second_factor(user, code, now)
    if not (password_ok and code_ok):
        reason = "bad_password" if not password_ok else "bad_otp"
        raise _refuse(user, "disable", reason, MSG_PASSWORD_OR_CODE, now=now, caller=caller)
    _password_accepted(user, caller)
    OTP_PER_ACCOUNT.reset(key)
    user.otp_required = False
    user.otp_secret_encrypted = None
    user.otp_last_step = None
    user.session_epoch += 1
    db.session.execute(delete(BackupCode).where(BackupCode.user_id == user.id))
    record("mfa.disabled", now=now, caller=caller, actor_user_id=user.id, family_id=user.family_id)
    db.session.commit()


def remaining_backup_codes(user: User) -> int:
    return (
        db.session.scalar(
            select(func.count(BackupCode.id)).where(
                BackupCode.user_id == user.id, BackupCode.used_at.is_(None)
            )
        )
        or 0
    )
