"""Adding a secret key (and mailing its reveal link), re-sending the link, revoking the key,
and the administrators' list of a tenant's users with their key status.

No key exists before its user reveals it (app.secretkeys.services.reveal): an administrator
never sees one, and the mail carries only a single-use link."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app import crypto
from app.audit.services import record
from app.clock import rfc3339
from app.errors import NotFound
from app.extensions import db, execute_count
from app.identity.models import User
from app.identity.users import get_user
from app.mail import services as mail
from app.requestctx import SYSTEM, Caller
from app.secretkeys import mailing
from app.secretkeys.errors import (
    InactiveUser,
    KeyAlreadyRevealed,
    SecretKeyExists,
    SecretKeyNotFound,
)
from app.secretkeys.models import RevealLink, SecretKey, SecretKeyToken, UserIpRestriction

LINK_PREFIX = "tgv_"  # reveal-link tokens: recognisable when they leak


# --- lookups ----------------------------------------------------------------------------------


def family_user(user_id: str | uuid.UUID, family_id: uuid.UUID) -> User:
    """A user of ``family_id``; any other (or none) is a 404, existence not disclosed."""
    user = get_user(user_id)
    if user is None or user.family_id != family_id:
        raise NotFound("User not found")
    return user


def live_key(user_id: uuid.UUID, *, lock: bool = False) -> SecretKey | None:
    """The user's key that is not revoked (pending or active): at most one exists. ``lock``
    serialises administrators acting on the same user (a row lock on PostgreSQL)."""
    query = select(SecretKey).where(SecretKey.user_id == user_id, SecretKey.revoked_at.is_(None))
    if lock:
        query = query.with_for_update()
    return db.session.scalar(query)


# --- adding a key, reveal links ---------------------------------------------------------------


@dataclass(frozen=True)
class LinkSent:
    user_id: uuid.UUID
    status: str
    reveal_link_expires_at: datetime


def _send_link(
    key: SecretKey, user: User, *, now: datetime, request_base_url: str | None
) -> datetime:
    """A new reveal link for ``key`` and its mail, in the current unit of work."""
    token = crypto.new_token(LINK_PREFIX)
    expires_at = now + timedelta(seconds=int(current_app.config["SECRET_KEY_REVEAL_LINK_LIFETIME"]))
    db.session.add(
        RevealLink(
            token_digest=crypto.digest(token),
            secret_key_id=key.id,
            user_id=user.id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    base = mailing.base_url(request_base_url)
    message = mailing.compose(
        greeting_name=user.first_name or user.email,
        link=mailing.reveal_url(base, token),
        base=base,
    )
    mail.enqueue(to=user.email, subject=message.subject, body=message.body, now=now)
    return expires_at


def supersede_links(key_id: uuid.UUID, now: datetime) -> int:
    return execute_count(
        update(RevealLink)
        .where(
            RevealLink.secret_key_id == key_id,
            RevealLink.used_at.is_(None),
            RevealLink.superseded_at.is_(None),
        )
        .values(superseded_at=now)
        .execution_options(synchronize_session=False)
    )


def add_secret_key(
    user: User,
    *,
    actor_id: uuid.UUID | None,
    now: datetime,
    caller: Caller = SYSTEM,
    request_base_url: str | None = None,
) -> LinkSent:
    """Add a pending key for ``user`` and mail the reveal link, in one transaction (the
    outbox row commits with the key). The key itself is created at reveal.
    Raises InactiveUser (422) or SecretKeyExists (409, also under a concurrent add)."""
    if not user.active:
        raise InactiveUser()
    if live_key(user.id) is not None:
        raise SecretKeyExists()
    generation = (
        db.session.scalar(
            select(func.max(SecretKey.generation)).where(SecretKey.user_id == user.id)
        )
        or 0
    ) + 1
    key = SecretKey(
        id=uuid.uuid4(),
        user_id=user.id,
        family_id=user.family_id,
        generation=generation,
        status="pending_reveal",
        created_at=now,
        created_by_user_id=actor_id,
    )
    db.session.add(key)
    try:
        db.session.flush()  # the partial unique index decides between concurrent adds
    except IntegrityError:
        db.session.rollback()
        raise SecretKeyExists() from None
    expires_at = _send_link(key, user, now=now, request_base_url=request_base_url)
    details: dict[str, Any] = {
        "user_id": str(user.id),
        "secret_key_id": str(key.id),
        "generation": generation,
    }
    record(
        "secret_key.created",
        now=now,
        caller=caller,
        actor_user_id=actor_id,
        family_id=user.family_id,
        **details,
    )
    record(
        "secret_key.reveal_link_sent",
        now=now,
        caller=caller,
        actor_user_id=actor_id,
        family_id=user.family_id,
        reveal_link_expires_at=rfc3339(expires_at),
        **details,
    )
    db.session.commit()
    return LinkSent(user.id, key.status, expires_at)


def resend_reveal_link(
    user: User,
    *,
    actor_id: uuid.UUID | None,
    now: datetime,
    caller: Caller = SYSTEM,
    request_base_url: str | None = None,
) -> LinkSent:
    """Mail a new reveal link for the user's pending key; earlier links stop working.
    Raises SecretKeyNotFound (404) or KeyAlreadyRevealed (409: a revealed key is never
    shown again; revoke it and add a new one, reference C15)."""
    key = live_key(user.id, lock=True)
    if key is None:
        db.session.rollback()
        raise SecretKeyNotFound()
    if key.status != "pending_reveal":
        db.session.rollback()
        raise KeyAlreadyRevealed()
    superseded = supersede_links(key.id, now)
    expires_at = _send_link(key, user, now=now, request_base_url=request_base_url)
    record(
        "secret_key.reveal_link_sent",
        now=now,
        caller=caller,
        actor_user_id=actor_id,
        family_id=user.family_id,
        user_id=str(user.id),
        secret_key_id=str(key.id),
        generation=key.generation,
        superseded_links=superseded,
        reveal_link_expires_at=rfc3339(expires_at),
    )
    db.session.commit()
    return LinkSent(user.id, key.status, expires_at)


def revoke_secret_key(
    user: User, *, actor_id: uuid.UUID | None, now: datetime, caller: Caller = SYSTEM
) -> SecretKey:
    """Revoke the user's key: no new tokens, and every token issued for it fails on its
    next use (the verifier checks the key). Unused links die with it. SecretKeyNotFound
    when the user has no key."""
    key = live_key(user.id, lock=True)
    if key is None:
        db.session.rollback()
        raise SecretKeyNotFound()
    key.status = "revoked"
    key.revoked_at = now
    supersede_links(key.id, now)
    tokens = execute_count(
        update(SecretKeyToken)
        .where(SecretKeyToken.secret_key_id == key.id, SecretKeyToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    record(
        "secret_key.revoked",
        now=now,
        caller=caller,
        actor_user_id=actor_id,
        family_id=user.family_id,
        user_id=str(user.id),
        secret_key_id=str(key.id),
        generation=key.generation,
        revoked_tokens=tokens,
    )
    db.session.commit()
    return key


def revoke_all_for_user(user_id: uuid.UUID, *, now: datetime) -> int:
    """Revoke the user's key (and so its tokens) inside the caller's transaction, without
    committing; for account deactivation. How many keys were revoked (0 or 1)."""
    key = live_key(user_id)
    if key is None:
        return 0
    key.status = "revoked"
    key.revoked_at = now
    supersede_links(key.id, now)
    return 1


# --- the administrators' list -----------------------------------------------------------------


@dataclass(frozen=True)
class KeyListing:
    rows: list[dict[str, Any]]
    page: int
    per_page: int
    total_count: int


def list_family_keys(family_id: uuid.UUID, *, page: int = 1, per_page: int = 25) -> KeyListing:
    """Every user of the family with their key status (none / pending_reveal / active),
    by email. Revoked keys are history: a user whose key was revoked shows ``none``."""
    per_page = max(1, min(per_page, 100))
    page = max(1, page)
    live = (
        select(SecretKey)
        .where(SecretKey.family_id == family_id, SecretKey.revoked_at.is_(None))
        .subquery()
    )
    links = (
        select(
            RevealLink.secret_key_id,
            func.max(RevealLink.expires_at).label("expires_at"),
        )
        .where(RevealLink.used_at.is_(None), RevealLink.superseded_at.is_(None))
        .group_by(RevealLink.secret_key_id)
        .subquery()
    )
    query = (
        select(
            User.id,
            User.email,
            User.first_name,
            User.last_name,
            User.active,
            live.c.status,
            live.c.generation,
            live.c.created_at,
            live.c.revealed_at,
            links.c.expires_at.label("reveal_link_expires_at"),
            UserIpRestriction.entries,
        )
        .outerjoin(live, live.c.user_id == User.id)
        .outerjoin(links, links.c.secret_key_id == live.c.id)
        .outerjoin(UserIpRestriction, UserIpRestriction.user_id == User.id)
        .where(User.family_id == family_id)
        .order_by(User.email, User.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    total = db.session.scalar(select(func.count(User.id)).where(User.family_id == family_id))
    rows = [
        {
            "user_id": row.id,
            "email": row.email,
            "name": " ".join(part for part in (row.first_name, row.last_name) if part) or None,
            "active": row.active,
            "secret_key": row.status or "none",
            "generation": row.generation,
            "created_at": row.created_at,
            "revealed_at": row.revealed_at,
            "reveal_link_expires_at": (
                row.reveal_link_expires_at if row.status == "pending_reveal" else None
            ),
            "ip_restrictions_count": len(row.entries or []),
        }
        for row in db.session.execute(query)
    ]
    return KeyListing(rows, page, per_page, total or 0)
