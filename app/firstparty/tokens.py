"""Sure's device tokens: issued by the first-party account API for the shared "Sure Mobile"
client, and rotated by /api/v1/auth/refresh with the same guarantees as /oauth/token.

They are ordinary OAuth token rows (same digests, lineages and revocation); what is Sure's is
when they are issued, for which client, and the 30-day lifetime.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app import crypto
from app.audit.services import Caller
from app.clock import epoch
from app.errors import Forbidden
from app.extensions import db
from app.firstparty.errors import InvalidRefreshToken
from app.identity.models import User
from app.oauth2.models import OAuthClient, OAuthToken
from app.oauth2.services.clients import (
    SURE_MOBILE_CLIENT_ID,
    SURE_MOBILE_REDIRECT_URI,
    get_client,
)
from app.oauth2.services.refresh import (
    claim_refresh_token,
    find_refresh_token,
    report_refresh_reuse,
)
from app.oauth2.services.tokens import Lineage, save_token


def first_party_client(*, now: datetime) -> OAuthClient:
    """The shared public client "Sure Mobile" that device tokens belong to, created on first
    use (a fixed client_id makes concurrent creation converge on one row). An operator may
    disable it: then no device token is issued (FirstPartyClientDisabled, a 403)."""
    client = _existing_first_party_client()
    if client is not None:
        return client
    client = OAuthClient(
        client_id=SURE_MOBILE_CLIENT_ID,
        client_secret_digest=None,
        name="Sure Mobile",
        redirect_uris=[SURE_MOBILE_REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        scope="read_write",
        token_endpoint_auth_method="none",
        first_party=True,
        created_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(client)
    except IntegrityError:
        client = _existing_first_party_client()
        assert client is not None
    return client


class FirstPartyClientDisabled(Forbidden):
    description = "This app has been disabled"


def _existing_first_party_client() -> OAuthClient | None:
    client = db.session.scalar(
        select(OAuthClient).where(OAuthClient.client_id == SURE_MOBILE_CLIENT_ID)
    )
    if client is not None and client.disabled_at is not None:
        raise FirstPartyClientDisabled()
    return client


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


def rotate_refresh_token(value: str, *, now: datetime, caller: Caller) -> dict[str, Any]:
    """Sure's /api/v1/auth/refresh: a refresh token of a first-party client (no client
    authentication here, so never a third-party one: RFC 6749 §6), rotated with the same
    guarantees as /oauth/token (atomic claim; a retry within the reuse interval gets a
    sibling pair; any other replay revokes the lineage). The lineage keeps its client,
    owner, device, scope and profile; the new access token lives 30 days, as Sure's does.
    Commits."""
    row = find_refresh_token(value, None, now=now, caller=caller)
    user = db.session.get(User, row.user_id) if row is not None and row.user_id else None
    client = get_client(row.client_id) if row is not None else None
    if row is None or user is None or not user.active or client is None:
        raise InvalidRefreshToken()
    # Sure answers 30 days here whatever issued the lineage.
    token = token_block(current_app.config["FIRST_PARTY_TOKEN_LIFETIME"], now)
    # Everything is read and prepared before the first write: on SQLite the write lock is
    # held only for the claim, two inserts and the commit.
    if not claim_refresh_token(row, now=now, caller=caller):
        report_refresh_reuse(row, now=now, caller=caller)
        raise InvalidRefreshToken()
    save_token(
        {**token, "scope": row.lineage_scope},
        client=client,
        user=user,
        grant_type="refresh_token",
        lineage=Lineage(lineage_id=row.lineage_id, scope=row.lineage_scope, parent=row),
        now=now,
        caller=caller,
    )
    return token
