"""Sure's device tokens: issued by the first-party account API for the shared "Sure Mobile"
client, and rotated by /api/v1/auth/refresh (and /auth/refresh) with the same guarantees as
/oauth/token.

They are ordinary OAuth token rows (same digests, lineages and revocation); what is Sure's is
when they are issued, for which client, and the 30-day lifetime. The same refresh also rotates
RedCloud sessions (app.sessions), the other first-party lineage: each keeps its profile.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import update

from app import crypto
from app.audit.services import Caller
from app.clock import epoch
from app.extensions import db
from app.firstparty.errors import InvalidRefreshToken
from app.identity import devices
from app.identity.models import User
from app.oauth2.models import OAuthToken
from app.oauth2.services.clients import first_party_client
from app.oauth2.services.refresh import (
    SESSION_PROFILE,
    claim_refresh_token,
    find_refresh_token,
    load_presented,
    report_refresh_reuse,
)
from app.oauth2.services.tokens import Lineage, save_token
from app.sessions import tokens as sessions


def token_block(expires_in: int, now: datetime) -> dict[str, Any]:
    return {
        "access_token": crypto.new_token(crypto.PREFIX_ACCESS_TOKEN),
        "refresh_token": crypto.new_token(crypto.PREFIX_REFRESH_TOKEN),
        "token_type": "Bearer",
        "expires_in": expires_in,
        "created_at": epoch(now),
    }


def issue_device_token(
    user: User, device_id: uuid.UUID, *, now: datetime, caller: Caller
) -> dict[str, Any]:
    """Sure's device token: revoke the device's earlier live tokens, then issue a 30-day
    read_write token with a refresh token. Part of the caller's unit of work (no commit)."""
    client = first_party_client(now=now)
    db.session.execute(
        update(OAuthToken)
        .where(
            OAuthToken.user_id == user.id,
            OAuthToken.device_id == device_id,
            OAuthToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    token = token_block(current_app.config["FIRST_PARTY_TOKEN_LIFETIME"], now)
    save_token(
        {**token, "scope": "read_write"},
        client=client,
        user=user,
        grant_type="password",
        lineage=Lineage(lineage_id=uuid.uuid4()),
        now=now,
        caller=caller,
        profile="mobile",
        device_id=device_id,
        commit=False,
    )
    return token


def rotate_refresh_token(
    value: str, *, now: datetime, caller: Caller, device_id: str | None = None
) -> dict[str, Any]:
    """Sure's /api/v1/auth/refresh (and /auth/refresh): a refresh token of a first-party
    client (no client authentication here, so never a third-party one: RFC 6749 §6),
    rotated with the same guarantees as /oauth/token (atomic claim; a retry within the
    lineage's reuse interval gets a sibling pair; any other replay revokes the lineage). The
    lineage keeps its client, owner, device, scope and profile: a session gets a new access
    JWT and refresh token (app.sessions), any other lineage a 30-day opaque pair, as Sure's
    does. ``device_id``: the user's device of that name, if any, is then marked as seen.
    Commits."""
    # The token, its owner and its client in one read.
    presented = load_presented(value)
    row = (
        find_refresh_token(value, None, now=now, caller=caller, presented=presented)
        if presented is not None
        else None
    )
    user = presented.owner if presented is not None and row is not None else None
    client = presented.client if presented is not None and row is not None else None
    if client is not None and client.disabled_at is not None:  # as get_client answers
        client = None
    if row is None or user is None or not user.active or client is None:
        raise InvalidRefreshToken()
    # Everything is read and prepared before the first write: on SQLite the write lock is
    # held only for the claim, two inserts and the commit.
    session: sessions.SessionPair | None = None
    if row.profile == SESSION_PROFILE:
        session = _prepare_session_rotation(row, value, user, now=now, caller=caller)
        token = session.token_block()
    else:
        # Sure answers 30 days here whatever issued the lineage.
        token = token_block(current_app.config["FIRST_PARTY_TOKEN_LIFETIME"], now)
    if not claim_refresh_token(row, now=now, caller=caller):
        report_refresh_reuse(row, now=now, caller=caller)
        raise InvalidRefreshToken()
    if session is not None:
        sessions.save_pair(session, client=client, user=user, parent=row, now=now, caller=caller)
        db.session.commit()
    else:
        save_token(
            {**token, "scope": row.lineage_scope},
            client=client,
            user=user,
            grant_type="refresh_token",
            lineage=Lineage(lineage_id=row.lineage_id, scope=row.lineage_scope, parent=row),
            now=now,
            caller=caller,
        )
    if device_id is not None:
        # After the rotation's commit, in a transaction of its own: "last seen" never holds
        # the rotation back (a busy device row cannot delay or fail a refresh).
        devices.touch_device(user.id, device_id, now=now)
        db.session.commit()
    return token


def _prepare_session_rotation(
    row: OAuthToken, value: str, user: User, *, now: datetime, caller: Caller
) -> sessions.SessionPair:
    """The session's next pair; a refresh token issued before the user's session epoch
    moved on (sign-out everywhere, an MFA change) ends the session instead. Commits then."""
    pair = sessions.prepare_rotation(row, value, user, now=now)
    if pair is None:
        sessions.end_session(
            row.lineage_id,
            user_id=user.id,
            family_id=user.family_id,
            reason="session_epoch",
            now=now,
            caller=caller,
        )
        db.session.commit()
        raise InvalidRefreshToken()
    return pair
