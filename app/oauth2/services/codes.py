"""Authorization codes (RFC 6749 §4.1): saved as digests, redeemed once, never deleted before
they expire, so a second redemption can still find and revoke what the first produced."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from app import crypto
from app.audit.services import Caller
from app.extensions import db, execute_count
from app.identity.models import User
from app.oauth2.models import AuthorizationCode, OAuthClient
from app.oauth2.services.tokens import revoke_replayed_lineage


def save_authorization_code(
    *,
    code: str,
    client: OAuthClient,
    user: User,
    redirect_uri: str | None,
    scope: str,
    code_challenge: str | None,
    code_challenge_method: str | None,
    now: datetime,
    resource: str | None = None,
    nonce: str | None = None,
    authenticated_at: datetime | None = None,
    amr: list[str] | None = None,
) -> AuthorizationCode:
    """Store the digest of an issued code with what its redemption must match. Commits."""
    lifetime = current_app.config["OAUTH2_AUTHORIZATION_CODE_LIFETIME"]
    item = AuthorizationCode(
        code_digest=crypto.digest(code),
        client_id=client.client_id,
        user_id=user.id,
        family_id=user.family_id,
        redirect_uri=redirect_uri,
        scope=scope,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        resource=resource,
        nonce=nonce,
        authenticated_at=authenticated_at,
        amr=amr,
        created_at=now,
        expires_at=now + timedelta(seconds=lifetime),
    )
    db.session.add(item)
    db.session.commit()
    return item


def find_authorization_code(
    code: str, client: OAuthClient, *, now: datetime, caller: Caller
) -> AuthorizationCode | None:
    """The redeemable code for this client, or None. Presenting an already-used code is
    reuse: the tokens issued from it are revoked (RFC 6749 §4.1.2)."""
    if not code.startswith(crypto.PREFIX_AUTHORIZATION_CODE):
        return None
    item: AuthorizationCode | None = db.session.scalar(
        select(AuthorizationCode).where(AuthorizationCode.code_digest == crypto.digest(code))
    )
    if item is None or item.client_id != client.client_id:
        return None
    if item.used_at is not None:
        report_code_reuse(item, now=now, caller=caller)
        return None
    if item.expires_at <= now:
        return None
    return item


def claim_authorization_code(item: AuthorizationCode, *, now: datetime) -> bool:
    """Mark the code used, if nobody did first. Not committed: the caller commits together
    with the tokens, so a failure leaves the code unused."""
    return (
        execute_count(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == item.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        == 1
    )


def report_code_reuse(item: AuthorizationCode, *, now: datetime, caller: Caller) -> None:
    """A used code came back: the lineage its first redemption started is revoked."""
    revoke_replayed_lineage("authorization_code.reused", item, now=now, caller=caller)
