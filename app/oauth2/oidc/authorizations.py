"""What the provider remembers of an authorization for OpenID Connect: the nonce, the
sign-in behind it (on the authorization code, which the lineage's refreshes reach by
``lineage_id``), and whether the user already granted a client a scope (``prompt=none``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from app import scopes
from app.extensions import db
from app.oauth2.models import AuthorizationCode, OAuthToken

NONCE_MAX_LENGTH = 255


def nonce_seen(client_id: str, nonce: str) -> bool:
    """Whether this client already sent this nonce with an authorization that produced a
    code (a replayed authentication request)."""
    found = db.session.scalar(
        select(AuthorizationCode.id)
        .where(AuthorizationCode.client_id == client_id, AuthorizationCode.nonce == nonce)
        .limit(1)
    )
    return found is not None


def code_of_lineage(lineage_id: uuid.UUID) -> AuthorizationCode | None:
    """The authorization code a token lineage started from (None for other grants)."""
    code: AuthorizationCode | None = db.session.scalar(
        select(AuthorizationCode).where(AuthorizationCode.lineage_id == lineage_id).limit(1)
    )
    return code


def has_live_authorization(
    user_id: uuid.UUID, client_id: str, scope: str, *, now: datetime
) -> bool:
    """Whether the user has a live authorization of this client covering ``scope``: the
    consent ``prompt=none`` may reuse without asking."""
    granted = db.session.scalars(
        select(OAuthToken.lineage_scope).where(
            OAuthToken.user_id == user_id,
            OAuthToken.client_id == client_id,
            OAuthToken.live_clause(now),
        )
    ).all()
    return any(scopes.includes(lineage_scope, scope) for lineage_scope in granted)
