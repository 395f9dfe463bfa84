"""Server-side browser sessions: the cookie holds a random id, the table its digest."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from app import crypto
from app.extensions import db, execute_count
from app.identity.models import User, WebSession
from app.purging import purge_in_batches


def start_web_session(user: User, *, now: datetime) -> str:
    """A new server-side browser session; returns the session id for the cookie. Commits."""
    sid = crypto.new_token("tgw_")
    lifetime = timedelta(seconds=int(current_app.config["PERMANENT_SESSION_LIFETIME"]))
    db.session.add(
        WebSession(
            sid_digest=crypto.digest(sid),
            user_id=user.id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    db.session.commit()
    return sid


def load_web_session_user(login_id: str, sid: str | None, *, now: datetime) -> User | None:
    """The signed-in user of a browser request, or None: the session row must be live and
    the user's session epoch unchanged (MFA changes and deactivation bump it)."""
    user_id, _, epoch = (login_id or "").partition(":")
    if not sid:
        return None
    found = db.session.execute(
        select(User, WebSession)
        .join(WebSession, WebSession.user_id == User.id)
        .where(WebSession.sid_digest == crypto.digest(sid))
    ).first()
    if found is None:
        return None
    user, web_session = found
    if (
        str(user.id) != user_id
        or str(user.session_epoch) != epoch
        or not user.active
        or web_session.revoked_at is not None
        or web_session.expires_at <= now
    ):
        return None
    return user


def end_web_session(sid: str | None, *, now: datetime) -> None:
    if sid:
        db.session.execute(
            update(WebSession)
            .where(WebSession.sid_digest == crypto.digest(sid), WebSession.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()


def end_all_web_sessions(user_id: uuid.UUID, *, now: datetime) -> int:
    """Every browser session of the user. The caller commits."""
    return execute_count(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def purge_web_sessions(*, now: datetime, batch_size: int) -> int:
    """Delete expired and ended browser sessions, in batches. Commits per batch."""
    return purge_in_batches(
        WebSession.id,
        (WebSession.expires_at <= now) | WebSession.revoked_at.is_not(None),
        batch_size=batch_size,
    )
