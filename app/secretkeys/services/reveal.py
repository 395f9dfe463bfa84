"""Revealing a key: the link is checked (never consumed) by the confirmation page and claimed
atomically by the user's POST, which creates the key (a UUIDv4) and stores its digest."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update

from app import crypto
from app.audit.services import record
from app.extensions import db, execute_count
from app.requestctx import SYSTEM, Caller
from app.secretkeys.errors import RevealLinkGone, RevealRefused
from app.secretkeys.models import RevealLink, SecretKey
from app.secretkeys.services.keys import supersede_links

# --- revealing --------------------------------------------------------------------------------


def _link(token: str) -> RevealLink | None:
    if not token or len(token) > 128:
        return None
    return db.session.scalar(
        select(RevealLink).where(RevealLink.token_digest == crypto.digest(token))
    )


def _usable(link: RevealLink, now: datetime) -> bool:
    return link.used_at is None and link.superseded_at is None and link.expires_at > now


def check_reveal_link(token: str, *, user_id: uuid.UUID, now: datetime) -> RevealLink:
    """What the confirmation page may show, without consuming anything: the link, or
    RevealRefused (403: another user's link; it stays usable for its user) or RevealLinkGone
    (410: unknown, expired, used or superseded)."""
    link = _link(token)
    if link is None:
        raise RevealLinkGone()
    if link.user_id != user_id:
        raise RevealRefused()
    key = db.session.get(SecretKey, link.secret_key_id)
    if not _usable(link, now) or key is None or key.status != "pending_reveal":
        raise RevealLinkGone()
    return link


def reveal(token: str, *, user_id: uuid.UUID, now: datetime, caller: Caller = SYSTEM) -> str:
    """Consume the link and create the key: the only time the key exists in the clear (the
    caller shows it once). The link is claimed by a conditional UPDATE, so of any number of
    concurrent POSTs exactly one reveals; the others get RevealLinkGone."""
    link = check_reveal_link(token, user_id=user_id, now=now)
    claimed = execute_count(
        update(RevealLink)
        .where(
            RevealLink.id == link.id,
            RevealLink.user_id == user_id,
            RevealLink.used_at.is_(None),
            RevealLink.superseded_at.is_(None),
            RevealLink.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed != 1:
        db.session.rollback()
        raise RevealLinkGone()
    key_value = str(uuid.uuid4())
    activated = execute_count(
        update(SecretKey)
        .where(
            SecretKey.id == link.secret_key_id,
            SecretKey.status == "pending_reveal",
            SecretKey.revoked_at.is_(None),
        )
        .values(status="active", key_digest=crypto.digest(key_value), revealed_at=now)
        .execution_options(synchronize_session=False)
    )
    if activated != 1:
        db.session.rollback()
        raise RevealLinkGone()
    supersede_links(link.secret_key_id, now)
    key = db.session.get(SecretKey, link.secret_key_id)
    record(
        "secret_key.revealed",
        now=now,
        caller=caller,
        actor_user_id=user_id,
        family_id=key.family_id if key is not None else None,
        user_id=str(user_id),
        secret_key_id=str(link.secret_key_id),
    )
    db.session.commit()
    return key_value
