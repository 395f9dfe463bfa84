"""What a signed-in user authorized: the consent decision, the applications that hold live
tokens for the account, and revoking one of them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update

from app import scopes
from app.apikeys import services as apikeys
from app.audit.services import Caller, record
from app.clock import rfc3339
from app.extensions import db, execute_count
from app.identity.models import User
from app.oauth2.models import OAuthClient, OAuthToken


def record_consent(
    user: User, client_id: str, scope: str, *, approved: bool, now: datetime, caller: Caller
) -> None:
    """Audit the resource owner's answer to an authorization request (RFC 6749 §4.1.1),
    granted or denied, before the answer goes back to the client. Commits."""
    record(
        "consent.granted" if approved else "consent.denied",
        outcome="success" if approved else "failure",
        now=now,
        caller=caller,
        actor_user_id=user.id,
        family_id=user.family_id,
        client_id=client_id,
        scope=scope,
    )
    db.session.commit()


def _live_for_user(user_id: uuid.UUID, now: datetime) -> tuple[ColumnElement[bool], ...]:
    return OAuthToken.user_id == user_id, OAuthToken.live_clause(now)


def authorized_applications(user_id: uuid.UUID, *, now: datetime) -> list[dict[str, Any]]:
    """The clients holding a live token of the user, by name, with the scopes they hold,
    when they were first authorized and when they last obtained a token."""
    rows = db.session.execute(
        select(
            OAuthClient.client_id,
            OAuthClient.name,
            func.min(OAuthToken.issued_at),
            func.max(OAuthToken.issued_at),
        )
        .join(OAuthClient, OAuthClient.client_id == OAuthToken.client_id)
        .where(*_live_for_user(user_id, now))
        .group_by(OAuthClient.client_id, OAuthClient.name)
        .order_by(OAuthClient.name)
    ).all()
    scopes_by_client: dict[str, set[str]] = {}
    for client_id, scope in db.session.execute(
        select(OAuthToken.client_id, OAuthToken.lineage_scope).where(*_live_for_user(user_id, now))
    ):
        scopes_by_client.setdefault(client_id, set()).update(scopes.to_list(scope))
    return [
        {
            "client_id": client_id,
            "name": name,
            "scopes": sorted(scopes_by_client.get(client_id, ())),
            "authorized_at": rfc3339(first),
            "last_issued_at": rfc3339(last),
        }
        for client_id, name, first, last in rows
    ]


def revoke_authorization(user: User, client_id: str, *, now: datetime, caller: Caller) -> int:
    """Revoke everything the client obtained or created for the user, in one transaction:
    every lineage it holds and every API key created through it (a key minted with the
    app's token must not outlive the user's revocation of the app). Returns the number of
    credentials revoked (0 when there was nothing: the caller answers 404). Commits."""
    count = execute_count(
        update(OAuthToken)
        .where(
            OAuthToken.user_id == user.id,
            OAuthToken.client_id == client_id,
            OAuthToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    keys = apikeys.revoke_created_by_client(user.id, client_id, now=now)
    if count or keys:
        record(
            "authorization.revoked",
            now=now,
            caller=caller,
            actor_user_id=user.id,
            family_id=user.family_id,
            client_id=client_id,
            revoked_tokens=count,
            revoked_api_keys=[str(k) for k in keys],
        )
        db.session.commit()
    else:
        db.session.rollback()
    return count + len(keys)
