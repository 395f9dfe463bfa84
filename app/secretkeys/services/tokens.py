"""The token endpoint's exchange (email + secret key -> HS512 JWT), what the gate's verifier
reads per request, revoking one token, and purging expired rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Row, and_, bindparam, select

from app import crypto
from app.audit.services import record
from app.clock import rfc3339
from app.errors import NotFound
from app.extensions import db
from app.identity.models import User
from app.identity.users import normalize_email
from app.jwtprofile import LEEWAY, JWTProfile
from app.purging import purge_in_batches
from app.ratelimit import Throttle, spend_all
from app.requestctx import SYSTEM, Caller
from app.secretkeys.errors import InvalidKeyCredentials
from app.secretkeys.models import RevealLink, SecretKey, SecretKeyToken, UserIpRestriction

PROFILE = JWTProfile(
    "sk+jwt", "HS512", "SECRET_KEY_JWT_KEY", claims=("sub", "tid", "skid", "gen", "jti")
)
TOKEN_PER_IP = Throttle("secret-key-token-ip", "RATE_LIMIT_SECRET_KEY_TOKEN_IP")
TOKEN_PER_EMAIL = Throttle("secret-key-token-email", "RATE_LIMIT_SECRET_KEY_TOKEN_EMAIL")


# --- the token endpoint -----------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime
    expires_in: int


def issue_token(email: str, secret: str, *, now: datetime, caller: Caller = SYSTEM) -> IssuedToken:
    """Exchange an email and secret key for an HS512 JWT (seed 000). Unknown email, wrong
    secret, a pending or revoked key and an inactive user all raise InvalidKeyCredentials
    after the same work (a digest compared in constant time, a dummy one when there is
    none). Throttled per email and per client IP (each attempt spends first, a success gets
    its units back). IP restrictions are not checked here: only when a token is used (T1).
    """
    normalized = normalize_email(email)
    ip_key = caller.ip or "unknown"
    spend_all([(TOKEN_PER_EMAIL, normalized), (TOKEN_PER_IP, ip_key)])
    row = (
        db.session.execute(
            select(
                User.id,
                User.family_id,
                User.active,
                SecretKey.id.label("key_id"),
                SecretKey.generation,
                SecretKey.status,
                SecretKey.key_digest,
            )
            .outerjoin(
                SecretKey, and_(SecretKey.user_id == User.id, SecretKey.revoked_at.is_(None))
            )
            .where(User.email == normalized)
        ).first()
        if normalized
        else None
    )
    stored = row.key_digest if row is not None and row.status == "active" else None
    secret_ok = crypto.verify_digest((secret or "").strip().lower(), stored)
    if row is None or not secret_ok or not row.active or row.key_id is None:
        record(
            "secret_key.token_issued",
            outcome="failure",
            now=now,
            caller=caller,
            actor_user_id=row.id if row is not None else None,
            family_id=row.family_id if row is not None else None,
            email=normalized or None,
        )
        db.session.commit()
        raise InvalidKeyCredentials()
    lifetime = int(current_app.config["SECRET_KEY_JWT_LIFETIME"])
    expires_at = now + timedelta(seconds=lifetime)
    jti = uuid.uuid4().hex
    token = PROFILE.encode(
        {
            "sub": str(row.id),
            "tid": str(row.family_id),
            "skid": str(row.key_id),
            "gen": row.generation,
            "jti": jti,
        },
        now=now,
        expires_at=expires_at,
    )
    db.session.add(
        SecretKeyToken(
            jti=jti,
            secret_key_id=row.key_id,
            user_id=row.id,
            family_id=row.family_id,
            issued_at=now,
            expires_at=expires_at,
        )
    )
    record(
        "secret_key.token_issued",
        now=now,
        caller=caller,
        actor_user_id=row.id,
        family_id=row.family_id,
        jti=jti,
        secret_key_id=str(row.key_id),
        generation=row.generation,
        expires_at=rfc3339(expires_at),
    )
    db.session.commit()
    TOKEN_PER_EMAIL.refund(normalized)
    TOKEN_PER_IP.refund(ip_key)
    return IssuedToken(token, jti, expires_at, lifetime)


# Built once: a request with a secret-key JWT runs it with only the jti bound.
_VERIFICATION = (
    select(
        SecretKeyToken.user_id,
        SecretKeyToken.family_id,
        SecretKeyToken.secret_key_id,
        SecretKeyToken.revoked_at,
        SecretKey.status,
        SecretKey.generation,
        User.active,
        User.role,
        User.family_id.label("user_family_id"),
        User.region,
        UserIpRestriction.entries,
    )
    .join(SecretKey, SecretKey.id == SecretKeyToken.secret_key_id)
    .join(User, User.id == SecretKeyToken.user_id)
    .outerjoin(UserIpRestriction, UserIpRestriction.user_id == SecretKeyToken.user_id)
    .where(SecretKeyToken.jti == bindparam("jti"))
)


def find_for_verification(jti: str) -> Row[*tuple[Any, ...]] | None:
    """Everything a request with this token needs, in one query: the token row, its key,
    its user and the user's current IP restrictions. Plain columns, so it runs on the
    session's connection without the ORM's per-statement work."""
    return db.session.connection().execute(_VERIFICATION, {"jti": jti}).first()


def list_tokens(user: User, *, now: datetime) -> list[SecretKeyToken]:
    """The user's tokens that have not expired (revoked ones included), newest first."""
    return list(
        db.session.scalars(
            select(SecretKeyToken)
            .where(SecretKeyToken.user_id == user.id, SecretKeyToken.expires_at > now)
            .order_by(SecretKeyToken.issued_at.desc(), SecretKeyToken.jti)
        )
    )


def revoke_token(
    jti: str,
    *,
    family_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    now: datetime,
    caller: Caller = SYSTEM,
) -> SecretKeyToken:
    """Revoke one issued JWT of the family (idempotent); it fails on its next use. Another
    family's token, or an unknown jti, is a 404."""
    token = db.session.scalar(
        select(SecretKeyToken).where(
            SecretKeyToken.jti == jti, SecretKeyToken.family_id == family_id
        )
    )
    if token is None:
        raise NotFound("Token not found")
    if token.revoked_at is None:
        token.revoked_at = now
        record(
            "secret_key.token_revoked",
            now=now,
            caller=caller,
            actor_user_id=actor_id,
            family_id=family_id,
            user_id=str(token.user_id),
            jti=jti,
            secret_key_id=str(token.secret_key_id),
        )
    db.session.commit()
    return token


# --- housekeeping -----------------------------------------------------------------------------


def purge_expired(*, now: datetime, batch_size: int) -> dict[str, int]:
    """Delete token rows past their expiry (and the JWT leeway) and reveal links past
    theirs, in batches."""
    return {
        "secret_key_tokens": purge_in_batches(
            SecretKeyToken.jti,
            SecretKeyToken.expires_at < now - timedelta(seconds=LEEWAY),
            batch_size=batch_size,
        ),
        "secret_key_reveal_links": purge_in_batches(
            RevealLink.id, RevealLink.expires_at < now, batch_size=batch_size
        ),
    }
