"""Session tokens: the access JWT (``typ: at+jwt``, HS256, SESSION_JWT_KEY, 15 minutes) and
the opaque refresh token (14 days, single use), minted as one row of the session's lineage.

The JWT names its row (``jti``) and its session (``sid``, the lineage id); the row stores only
SHA-256 digests of both tokens. A JWT is never trusted on its own (T2): every request reads the
row and its user again (``find_for_verification``), so logout, rotation, deactivation and a
bump of the user's session epoch (``ver``) apply to the next request.

The refresh token ends in ``.<session epoch>`` (covered by the stored digest, so it cannot be
altered): a rotation after the epoch moved on ("sign out everywhere", an MFA change) ends the
session instead of minting a JWT under the new epoch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import DateTime, Row, bindparam, select

from app import crypto
from app.audit.services import Caller, record
from app.clock import epoch
from app.config import current_region
from app.extensions import db
from app.identity.models import User
from app.jwtprofile import JWTProfile
from app.oauth2.models import OAuthClient, OAuthToken
from app.oauth2.services.clients import first_party_client
from app.oauth2.services.refresh import SESSION_PROFILE
from app.oauth2.services.tokens import revoke_lineage

PROFILE = JWTProfile(
    "at+jwt", "HS256", "SESSION_JWT_KEY", claims=("sub", "tenant_id", "sid", "jti", "ver", "rgn")
)
# The gate's name for a principal that presented a session access JWT.
CREDENTIAL_KIND = "session_token"
SCOPE = "read_write"  # the account holder's own login: no ceiling


@dataclass(frozen=True)
class SessionPair:
    """A session's next issuance, prepared before anything is written: the row id the JWT
    names, both tokens and their expiries."""

    token_id: uuid.UUID
    lineage_id: uuid.UUID
    access_token: str
    refresh_token: str
    issued_at: datetime
    access_expires_at: datetime
    refresh_expires_at: datetime

    def token_block(self) -> dict[str, Any]:
        """What the client receives (the same fields as Sure's token block)."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": int((self.access_expires_at - self.issued_at).total_seconds()),
            "created_at": epoch(self.issued_at),
        }


def new_refresh_token(session_epoch: int) -> str:
    """An opaque refresh token (the OAuth refresh prefix, 256 random bits) carrying the
    session epoch it was issued under."""
    return f"{crypto.new_token(crypto.PREFIX_REFRESH_TOKEN)}.{session_epoch}"


def refresh_token_epoch(value: str) -> int | None:
    """The session epoch a session refresh token was issued under (None: not one of ours)."""
    _, dot, tail = value.rpartition(".")
    return int(tail) if dot and tail.isdigit() and len(tail) <= 18 else None


def prepare_pair(user: User, *, lineage_id: uuid.UUID, now: datetime) -> SessionPair:
    """Sign the access JWT for a new row of the session and draw its refresh token. Nothing
    is written, so a rotation can claim its parent with everything ready."""
    config = current_app.config
    token_id = uuid.uuid4()
    access_expires_at = now + timedelta(seconds=int(config["SESSION_ACCESS_TOKEN_LIFETIME"]))
    access_token = PROFILE.encode(
        {
            "sub": str(user.id),
            "tenant_id": str(user.family_id),
            "sid": str(lineage_id),
            "jti": str(token_id),
            "ver": user.session_epoch,
            "rgn": current_region(),
        },
        now=now,
        expires_at=access_expires_at,
    )
    return SessionPair(
        token_id=token_id,
        lineage_id=lineage_id,
        access_token=access_token,
        refresh_token=new_refresh_token(user.session_epoch),
        issued_at=now,
        access_expires_at=access_expires_at,
        refresh_expires_at=now + timedelta(seconds=int(config["SESSION_REFRESH_TOKEN_LIFETIME"])),
    )


def save_pair(
    pair: SessionPair,
    *,
    client: OAuthClient,
    user: User,
    parent: OAuthToken | None,
    now: datetime,
    caller: Caller,
) -> OAuthToken:
    """Add the pair's row (digests only) to the caller's unit of work, audited as
    ``session.created`` or, with a parent, ``session.refreshed``. The caller commits."""
    row = OAuthToken(
        id=pair.token_id,
        lineage_id=pair.lineage_id,
        parent_id=parent.id if parent is not None else None,
        client_id=client.client_id,
        user_id=user.id,
        family_id=user.family_id,
        grant_type="refresh_token" if parent is not None else "password",
        profile=SESSION_PROFILE,
        scope=SCOPE,
        lineage_scope=SCOPE,
        access_token_digest=crypto.digest(pair.access_token),
        refresh_token_digest=crypto.digest(pair.refresh_token),
        issued_at=pair.issued_at,
        access_expires_at=pair.access_expires_at,
        refresh_expires_at=pair.refresh_expires_at,
    )
    db.session.add(row)
    record(
        "session.refreshed" if parent is not None else "session.created",
        now=now,
        caller=caller,
        actor_user_id=user.id,
        family_id=user.family_id,
        client_id=client.client_id,
        session_id=str(pair.lineage_id),
    )
    return row


def start_session(user: User, *, now: datetime, caller: Caller) -> dict[str, Any]:
    """A new session for a signed-in user: its first row, in the caller's unit of work (the
    caller commits). The built-in first-party client must be enabled."""
    client = first_party_client(now=now)
    pair = prepare_pair(user, lineage_id=uuid.uuid4(), now=now)
    save_pair(pair, client=client, user=user, parent=None, now=now, caller=caller)
    return pair.token_block()


def prepare_rotation(
    row: OAuthToken, presented: str, user: User, *, now: datetime
) -> SessionPair | None:
    """The successor of a session row whose refresh token ``presented`` was found, or None
    when the user's session epoch moved on since it was issued (the session is over)."""
    if refresh_token_epoch(presented) != user.session_epoch:
        return None
    return prepare_pair(user, lineage_id=row.lineage_id, now=now)


def end_session(
    lineage_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None,
    family_id: uuid.UUID | None,
    reason: str,
    now: datetime,
    caller: Caller,
) -> int:
    """Revoke every token of the session at once (access and refresh, one UPDATE), audited
    as ``session.ended``; returns how many rows. The caller commits."""
    revoked = revoke_lineage(lineage_id, now=now)
    record(
        "session.ended",
        now=now,
        caller=caller,
        actor_user_id=user_id,
        family_id=family_id,
        session_id=str(lineage_id),
        reason=reason,
        revoked_tokens=revoked,
    )
    return revoked


# Built once; a request with a session JWT binds the jti, the JWT's digest and the time. A
# row that is revoked (alone, by rotation, or with its lineage), expired, of another profile
# or of a disabled client is simply not found.
_VERIFICATION = (
    select(
        OAuthToken.lineage_id,
        OAuthToken.user_id,
        User.family_id,
        User.role,
        User.active,
        User.session_epoch,
        User.region,
    )
    .join(User, User.id == OAuthToken.user_id)
    .join(OAuthClient, OAuthClient.client_id == OAuthToken.client_id)
    .where(
        OAuthToken.id == bindparam("jti"),
        OAuthToken.access_token_digest == bindparam("digest"),
        OAuthToken.profile == SESSION_PROFILE,
        OAuthToken.access_token_active_clause(bindparam("now", type_=DateTime())),
        OAuthClient.disabled_at.is_(None),
    )
)


def find_for_verification(
    token_id: uuid.UUID, access_token: str, *, now: datetime
) -> Row[*tuple[Any, ...]] | None:
    """The live row of a presented session JWT with its user's current state, in one query
    on the session's connection (plain columns, no ORM per-statement work)."""
    params = {"jti": token_id, "digest": crypto.digest(access_token), "now": now}
    return db.session.connection().execute(_VERIFICATION, params).first()
