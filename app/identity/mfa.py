"""TOTP (RFC 6238) and backup codes.

- The seed is encrypted at rest (crypto.encrypt, keys rotatable via ENCRYPTION_KEYS).
- 30-second steps, 6 digits; the current step and the one before are accepted, each at most
  once: the last accepted step is claimed with a conditional UPDATE, so a replayed code (even
  sent twice in parallel) is refused.
- 8 backup codes of 16 hex characters, shown once, stored as digests, each claimed once by a
  conditional UPDATE.
"""

from __future__ import annotations

import io
import re
import secrets
from datetime import datetime

import pyotp
import segno
from sqlalchemy import delete, or_, select, update

from app import crypto
from app.audit.services import SYSTEM, Caller, record
from app.clock import epoch
from app.errors import TollgateError
from app.extensions import db
from app.identity.models import BackupCode, User

TOTP_INTERVAL = 30
TOTP_DIGITS = 6
BACKUP_CODE_COUNT = 8
ISSUER = "Tollgate"
TOTP_RE = re.compile(r"^\d{6}$")
BACKUP_RE = re.compile(r"^[0-9a-f]{16}$")


class MfaError(TollgateError):
    status, error = 422, "mfa_invalid"


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


def _claim_backup_code(user: User, code: str, now: datetime) -> bool:
    if not BACKUP_RE.match(code):
        return False  # anything that is not 16 hex characters costs no lookup
    claimed = db.session.execute(
        update(BackupCode)
        .where(BackupCode.user_id == user.id, BackupCode.code_digest == crypto.digest(code),
               BackupCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
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
    db.session.add_all(BackupCode(user_id=user.id, code_digest=crypto.digest(c), created_at=now)
                       for c in codes)
    return codes


def provisioning_uri(user: User, secret: str) -> str:
    return _totp(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The otpauth:// URI as an inline SVG QR code (no external service)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=4, xmldecl=False,
                                    svgns=True, title="TOTP QR code")
    return buffer.getvalue().decode("utf-8")


def start_enrolment(user: User, *, now: datetime) -> dict[str, str]:
    """A fresh secret, pending until confirmed with a code. Commits."""
    if user.otp_required:
        raise MfaError("Two-factor authentication is already enabled")
    secret = pyotp.random_base32(32)
    user.otp_secret_encrypted = crypto.encrypt(secret)
    user.otp_last_step = None
    db.session.commit()
    uri = provisioning_uri(user, secret)
    return {"secret": secret, "otpauth_uri": uri, "qr_svg": qr_svg(uri)}


def confirm_enrolment(user: User, code: str, *, now: datetime,
                      caller: Caller = SYSTEM) -> list[str]:
    """Turn MFA on with a valid code; returns the backup codes (shown once). Other sessions
    of the user end (session epoch). Commits."""
    if user.otp_required:
        raise MfaError("Two-factor authentication is already enabled")
    secret = _secret(user)
    if secret is None:
        raise MfaError("Start the enrolment first")
    user.otp_required = True  # so the code check below applies
    if not _claim_step(user, (code or "").strip(), now):
        db.session.rollback()
        raise MfaError("The code is not valid")
    codes = _new_backup_codes(user, now)
    user.session_epoch += 1
    record("mfa.enabled", now=now, caller=caller, actor_user_id=user.id,
           family_id=user.family_id)
    db.session.commit()
    return codes


def enable_immediately(user: User, *, now: datetime, caller: Caller = SYSTEM) -> dict:
    """Operators' shortcut (CLI): MFA on with a fresh secret and backup codes. Commits."""
    secret = pyotp.random_base32(32)
    user.otp_secret_encrypted = crypto.encrypt(secret)
    user.otp_required = True
    user.otp_last_step = None
    user.session_epoch += 1
    codes = _new_backup_codes(user, now)
    record("mfa.enabled", now=now, caller=caller, actor_user_id=user.id,
           family_id=user.family_id, by="operator")
    db.session.commit()
    return {"secret": secret, "backup_codes": codes}


def regenerate_backup_codes(user: User, code: str, *, now: datetime,
                            caller: Caller = SYSTEM) -> list[str]:
    if not user.otp_required or not _claim_step(user, (code or "").strip(), now):
        db.session.rollback()
        raise MfaError("The code is not valid")
    codes = _new_backup_codes(user, now)
    record("mfa.backup_codes_regenerated", now=now, caller=caller, actor_user_id=user.id,
           family_id=user.family_id)
    db.session.commit()
    return codes


def disable(user: User, password: str, code: str, *, now: datetime,
            caller: Caller = SYSTEM) -> None:
    """Needs the password and a current code (or a backup code). Commits."""
    if not user.otp_required:
        raise MfaError("Two-factor authentication is not enabled")
    password_ok = crypto.verify_password(password or "", user.password_hash)
    if not password_ok or not verify_second_factor(user, code, now):
        db.session.rollback()
        raise MfaError("The password or the code is not valid")
    user.otp_required = False
    user.otp_secret_encrypted = None
    user.otp_last_step = None
    user.session_epoch += 1
    db.session.execute(delete(BackupCode).where(BackupCode.user_id == user.id))
    record("mfa.disabled", now=now, caller=caller, actor_user_id=user.id,
           family_id=user.family_id)
    db.session.commit()


def remaining_backup_codes(user: User) -> int:
    return len(db.session.scalars(
        select(BackupCode.id).where(BackupCode.user_id == user.id, BackupCode.used_at.is_(None))
    ).all())
