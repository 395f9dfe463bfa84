"""Issued tokens: saving an issuance (digests only), finding a presented token, whether it
works, and revocation (RFC 7009) of one token, a lineage or everything of a user.

A row is one issuance: an access token and, usually, the refresh token issued with it. A
*lineage* is every row descended from one authorization (see ``oauth2.models``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from flask import current_app
from sqlalchemy import DateTime, bindparam, insert, or_, select, update
from sqlalchemy.engine import Row

from app import crypto, metrics
from app.audit.services import Caller, insert_record, record
from app.extensions import db, execute_count, lookup
from app.identity.models import User
from app.oauth2.models import AuthorizationCode, OAuthClient, OAuthToken

TokenKind = Literal["access_token", "refresh_token"]


@dataclass(frozen=True)
class Lineage:
    """Where a new issuance belongs: its lineage, the lineage's scope and the parent token."""

    lineage_id: uuid.UUID
    scope: str | None = None
    parent: OAuthToken | None = None


def save_token(
    token: dict[str, Any],
    *,
    client: OAuthClient,
    user: User | None,
    grant_type: str,
    lineage: Lineage,
    now: datetime,
    caller: Caller,
    profile: str = "oauth",
    device_id: uuid.UUID | None = None,
    commit: bool = True,
    resource: str | None = None,
    audience: str | None = None,
) -> uuid.UUID:
    """Persist an issued token response (digests only) and commit the unit of work (unless
    the caller's unit goes on); returns the new row's id. ``token`` is the dict returned to
    the client; it is read, never changed. ``resource``/``audience``: RFC 8707, as
    ``oauth2.resource_indicators`` stores them (None: the whole server)."""
    refresh = token.get("refresh_token")
    refresh_expires_at = None
    if refresh:
        if lineage.parent is not None:
            # Rotation never extends the lineage: refresh tokens keep an absolute lifetime.
            refresh_expires_at = lineage.parent.refresh_expires_at
        elif lifetime := current_app.config["OAUTH2_REFRESH_TOKEN_LIFETIME"]:
            refresh_expires_at = now + timedelta(seconds=lifetime)
    columns = {
        "id": uuid.uuid4(),
        "lineage_id": lineage.lineage_id,
        "parent_id": lineage.parent.id if lineage.parent else None,
        "client_id": client.client_id,
        "user_id": user.id if user else None,
        "family_id": user.family_id if user else None,
        "grant_type": grant_type,
        "profile": lineage.parent.profile if lineage.parent else profile,
        "device_id": lineage.parent.device_id if lineage.parent else device_id,
        "scope": token.get("scope", ""),
        "lineage_scope": lineage.scope or token.get("scope", ""),
        "resource": resource,
        "audience": audience,
        "access_token_digest": crypto.digest(token["access_token"]),
        "refresh_token_digest": crypto.digest(refresh) if refresh else None,
        "issued_at": now,
        "access_expires_at": now + timedelta(seconds=int(token["expires_in"])),
        "refresh_expires_at": refresh_expires_at,
    }
    # Two plain INSERTs in the request's transaction: the ORM's unit of work (flush) cost
    # more than both statements on the token endpoint's hottest path.
    db.session.execute(insert(OAuthToken.__table__), [columns])  # type: ignore[arg-type]
    insert_record(
        "token.rotated" if lineage.parent else "token.issued",
        now=now,
        caller=caller,
        actor_user_id=columns["user_id"],
        family_id=columns["family_id"],
        client_id=client.client_id,
        grant_type=grant_type,
        lineage_id=str(lineage.lineage_id),
        scope=columns["scope"],
    )
    if commit:
        db.session.commit()
    metrics.token_issued(grant_type, rotation=lineage.parent is not None)
    token_id: uuid.UUID = columns["id"]
    return token_id


def kind_of(value: str | None) -> TokenKind | None:
    """Which kind of token a presented value can be, by its prefix; None for anything else
    (empty, over-long, or not ours)."""
    if not value or len(value) > 512:
        return None
    if value.startswith(crypto.PREFIX_ACCESS_TOKEN):
        return "access_token"
    if value.startswith(crypto.PREFIX_REFRESH_TOKEN):
        return "refresh_token"
    return None


def find_token(value: str | None) -> tuple[OAuthToken, TokenKind] | None:
    """Look a presented token up by its digest; the prefix says which kind it can be."""
    kind = kind_of(value)
    if kind is None or value is None:
        return None
    row: OAuthToken | None = db.session.scalar(_BY_DIGEST[kind], {"digest": crypto.digest(value)})
    return (row, kind) if row is not None else None


# Built once: every refresh, introspection and revocation looks a token up by its digest.
_BY_DIGEST: dict[TokenKind, Any] = {
    "access_token": select(OAuthToken).where(OAuthToken.access_token_digest == bindparam("digest")),
    "refresh_token": select(OAuthToken).where(
        OAuthToken.refresh_token_digest == bindparam("digest")
    ),
}


def token_usable(row: OAuthToken, kind: TokenKind, *, now: datetime) -> bool:
    """Whether a presented token works right now: not expired, revoked or rotated, its owner
    (if any) still active and its client not disabled. Introspection and token info ask
    this; the gate's verifier checks the same things in its one query."""
    active = (
        row.access_token_active(now) if kind == "access_token" else row.refresh_token_active(now)
    )
    if not active:
        return False
    if row.user_id is not None and ((owner := row.get_user()) is None or not owner.active):
        return False
    # Checked on every use rather than revoked on disable, so re-enabling restores them.
    return (
        db.session.scalar(
            select(OAuthClient.id).where(
                OAuthClient.client_id == row.client_id, OAuthClient.disabled_at.is_(None)
            )
        )
        is not None
    )


def find_usable_for_introspection(
    value: str | None, *, now: datetime
) -> tuple[Row[Any], TokenKind] | None:
    """The introspection view of a presented token that works right now (``token_usable``:
    active, owner active, client enabled), in one round trip, or None. The columns RFC 7662's
    answer needs; ``client_id`` for the caller's permission check."""
    kind = kind_of(value)
    if kind is None or value is None:
        return None
    row = lookup(_INTROSPECTION[kind], {"digest": crypto.digest(value), "now": now})
    return (row, kind) if row is not None else None


def _introspection_query(kind: TokenKind) -> Any:
    now = bindparam("now", type_=DateTime())
    if kind == "access_token":
        match = OAuthToken.access_token_digest == bindparam("digest")
        active = OAuthToken.access_token_active_clause(now)
    else:
        match = OAuthToken.refresh_token_digest == bindparam("digest")
        active = OAuthToken.refresh_token_active_clause(now)
    return (
        select(
            OAuthToken.client_id,
            OAuthToken.user_id,
            OAuthToken.family_id,
            OAuthToken.scope,
            OAuthToken.lineage_scope,
            OAuthToken.issued_at,
            OAuthToken.access_expires_at,
            OAuthToken.refresh_expires_at,
            OAuthToken.audience,
            OAuthToken.resource,
        )
        .outerjoin(User, User.id == OAuthToken.user_id)
        .join(OAuthClient, OAuthClient.client_id == OAuthToken.client_id)
        .where(
            match,
            active,
            # token_usable's owner and client checks, in the same statement.
            or_(OAuthToken.user_id.is_(None), User.active.is_(True)),
            OAuthClient.disabled_at.is_(None),
        )
    )


_INTROSPECTION: dict[TokenKind, Any] = {
    kind: _introspection_query(kind) for kind in ("access_token", "refresh_token")
}


def find_active_access_token(value: str | None, *, now: datetime) -> OAuthToken | None:
    """The row of a presented access token that works right now (``token_usable``), or
    None."""
    found = find_token(value)
    if found is None or found[1] != "access_token" or not token_usable(*found, now=now):
        return None
    return found[0]


# --- revocation ----------------------------------------------------------------------------


def revoke_lineage(lineage_id: uuid.UUID, *, now: datetime) -> int:
    """Revoke every token of a lineage in one set-based UPDATE; returns how many. The caller
    commits."""
    return execute_count(
        update(OAuthToken)
        .where(OAuthToken.lineage_id == lineage_id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def revoke_replayed_lineage(
    event: str, replayed: OAuthToken | AuthorizationCode, *, now: datetime, caller: Caller
) -> None:
    """A single-use credential (a code, a rotated refresh token) came back: whatever this
    request did is rolled back, the lineage it started is revoked and the replay audited as
    ``event``. Commits."""
    db.session.rollback()
    revoked = revoke_lineage(replayed.lineage_id, now=now)
    record(
        event,
        outcome="failure",
        now=now,
        caller=caller,
        actor_user_id=replayed.user_id,
        family_id=replayed.family_id,
        client_id=replayed.client_id,
        lineage_id=str(replayed.lineage_id),
        revoked_tokens=revoked,
    )
    db.session.commit()


def revoke_token(
    row: OAuthToken, kind: TokenKind, *, client_id: str, now: datetime, caller: Caller
) -> None:
    """RFC 7009: an access token is revoked alone; a refresh token takes its whole lineage
    (every access token issued under the same authorization) with it. Commits."""
    if kind == "refresh_token":
        count = revoke_lineage(row.lineage_id, now=now)
    else:
        count = execute_count(
            update(OAuthToken)
            .where(OAuthToken.id == row.id, OAuthToken.access_revoked_at.is_(None))
            .values(access_revoked_at=now)
            .execution_options(synchronize_session=False)
        )
    record(
        "token.revoked",
        now=now,
        caller=caller,
        actor_user_id=row.user_id,
        family_id=row.family_id,
        client_id=client_id,
        token_type=kind,
        lineage_id=str(row.lineage_id),
        revoked_tokens=count,
    )
    db.session.commit()
    metrics.token_revoked(kind)


def revoke_all_for_user(user_id: uuid.UUID, *, now: datetime) -> int:
    """Every token of every lineage of the user, in one statement. The caller commits."""
    return execute_count(
        update(OAuthToken)
        .where(OAuthToken.user_id == user_id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
