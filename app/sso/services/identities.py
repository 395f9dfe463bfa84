"""Identities at external providers and the users they sign in.

An identity is matched by (issuer, subject) only. An e-mail address a provider asserts never
signs anybody in by itself: an unlinked identity whose address belongs to an existing user is
linked only after that user proved the account (password, and TOTP when on), or an account is
created for an address nobody has (account takeover guard, app.sso.services.accounts).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.audit.services import SYSTEM, Caller, record
from app.clock import rfc3339
from app.errors import Forbidden
from app.extensions import db
from app.identity.models import User
from app.identity.users import normalize_email
from app.sso.errors import IdentityAlreadyLinked, IdentityNotFound
from app.sso.models import SsoIdentity

# OmniAuth-style failure reasons the outside world may see (contract §2.6 point 3).
PROVIDER_UNAVAILABLE = "sso_provider_unavailable"
INVALID_RESPONSE = "sso_invalid_response"
FAILED = "sso_failed"
FAILURE_REASONS = (PROVIDER_UNAVAILABLE, INVALID_RESPONSE, FAILED)
# Raw reasons (ours and OmniAuth's words) and the sanitised one each becomes.
_RAW_REASONS = {
    "timeout": PROVIDER_UNAVAILABLE,
    "connection_failed": PROVIDER_UNAVAILABLE,
    "provider_unavailable": PROVIDER_UNAVAILABLE,
    "discovery_failed": PROVIDER_UNAVAILABLE,
    "invalid_credentials": INVALID_RESPONSE,
    "csrf_detected": INVALID_RESPONSE,
    "state_mismatch": INVALID_RESPONSE,
    "invalid_response": INVALID_RESPONSE,
    "invalid_id_token": INVALID_RESPONSE,
    "missing_id_token": INVALID_RESPONSE,
    "token_error": INVALID_RESPONSE,
}


class IdentityBlocked(Forbidden):
    error = "sso_identity_blocked"
    description = "This identity has been blocked by an administrator"


@dataclass(frozen=True)
class UpstreamIdentity:
    """What a fully validated ID token (+ userinfo) says about the person."""

    provider: str  # Provider.key
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    first_name: str | None
    last_name: str | None


def sanitize_failure(reason: str | None) -> str:
    """One of sso_provider_unavailable, sso_invalid_response, sso_failed (anything else)."""
    if reason in FAILURE_REASONS:
        return reason
    return _RAW_REASONS.get(reason or "", FAILED)


def find_link(identity: UpstreamIdentity) -> SsoIdentity | None:
    """The link of (issuer, subject), blocked or not; never looked up by e-mail."""
    return db.session.scalar(
        select(SsoIdentity).where(
            SsoIdentity.issuer == identity.issuer, SsoIdentity.subject == identity.subject
        )
    )


def is_blocked(identity: UpstreamIdentity) -> bool:
    link_row = find_link(identity)
    return link_row is not None and link_row.blocked_at is not None


def linked_user(identity: UpstreamIdentity) -> User | None:
    """The active user an unblocked link signs in, else None."""
    link_row = find_link(identity)
    if link_row is None or link_row.blocked_at is not None:
        return None
    user = db.session.get(User, link_row.user_id)
    return user if user is not None and user.active else None


def record_sign_in(
    user: User, identity: UpstreamIdentity, *, now: datetime, caller: Caller, channel: str
) -> None:
    """Audit a sign-in through a linked identity and note its use. Commits."""
    link_row = find_link(identity)
    if link_row is not None:
        link_row.last_used_at = now
        link_row.email = identity.email or link_row.email
    record(
        "login",
        now=now,
        caller=caller,
        actor_user_id=user.id,
        family_id=user.family_id,
        channel=channel,
        method="sso",
        provider=identity.provider,
    )
    db.session.commit()


def add_link(
    user: User, identity: UpstreamIdentity, *, now: datetime, caller: Caller
) -> SsoIdentity:
    """The link row and its audit event, added to the unit of work (the caller commits)."""
    row = SsoIdentity(
        user_id=user.id,
        provider=identity.provider,
        issuer=identity.issuer,
        subject=identity.subject,
        email=normalize_email(identity.email) if identity.email else None,
        created_at=now,
        last_used_at=now,
    )
    db.session.add(row)
    record(
        "sso.identity_linked",
        now=now,
        caller=caller,
        actor_user_id=user.id,
        family_id=user.family_id,
        provider=identity.provider,
        issuer=identity.issuer,
        subject=identity.subject,
    )
    return row


def link(
    user: User, identity: UpstreamIdentity, *, now: datetime, caller: Caller = SYSTEM
) -> SsoIdentity:
    """Link (issuer, subject) to ``user`` (who proved the account). Linking it again to the
    same user is a no-op; to anyone else, or once blocked, it is refused. Audited; commits."""
    existing = find_link(identity)
    if existing is not None:
        if existing.blocked_at is not None:
            raise IdentityBlocked()
        if existing.user_id != user.id:
            raise IdentityAlreadyLinked()
        return existing
    row = add_link(user, identity, now=now, caller=caller)
    try:
        db.session.commit()
    except IntegrityError as exc:  # linked meanwhile by a parallel request
        db.session.rollback()
        raise IdentityAlreadyLinked() from exc
    return row


# --- administration -----------------------------------------------------------------------------


def identities_of(user_id: uuid.UUID) -> list[SsoIdentity]:
    return list(
        db.session.scalars(
            select(SsoIdentity)
            .where(SsoIdentity.user_id == user_id)
            .order_by(SsoIdentity.created_at)
        )
    )


def get_identity(
    identity_id: uuid.UUID | str, *, family_id: uuid.UUID | None = None
) -> SsoIdentity:
    """An identity by id (confined to a family's users when ``family_id`` is given)."""
    try:
        key = identity_id if isinstance(identity_id, uuid.UUID) else uuid.UUID(str(identity_id))
    except ValueError as exc:
        raise IdentityNotFound() from exc
    row = db.session.get(SsoIdentity, key)
    if row is None:
        raise IdentityNotFound()
    if family_id is not None:
        owner = db.session.get(User, row.user_id)
        if owner is None or owner.family_id != family_id:
            raise IdentityNotFound()
    return row


def set_blocked(
    row: SsoIdentity,
    blocked: bool,
    *,
    now: datetime,
    caller: Caller = SYSTEM,
    by_user_id: uuid.UUID | None = None,
) -> SsoIdentity:
    """Block (it signs nobody in) or unblock an identity. Audited; commits."""
    owner = db.session.get(User, row.user_id)
    if blocked and row.blocked_at is None:
        row.blocked_at, row.blocked_by_user_id = now, by_user_id
    elif not blocked and row.blocked_at is not None:
        row.blocked_at, row.blocked_by_user_id = None, None
    record(
        "sso.identity_blocked" if blocked else "sso.identity_unblocked",
        now=now,
        caller=caller,
        actor_user_id=by_user_id,
        family_id=owner.family_id if owner else None,
        identity_id=str(row.id),
        user_id=str(row.user_id),
        provider=row.provider,
    )
    db.session.commit()
    return row


def identity_json(row: SsoIdentity) -> dict[str, object]:
    return {
        "id": str(row.id),
        "user_id": str(row.user_id),
        "provider": row.provider,
        "issuer": row.issuer,
        "subject": row.subject,
        "email": row.email,
        "created_at": rfc3339(row.created_at),
        "last_used_at": rfc3339(row.last_used_at) if row.last_used_at else None,
        "blocked": row.blocked_at is not None,
        "blocked_at": rfc3339(row.blocked_at) if row.blocked_at else None,
    }
