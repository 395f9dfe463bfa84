"""OAuth decisions that do not depend on HTTP: clients, codes, tokens, lineages, revocation.

Every function takes ``now`` (and a ``caller`` where it audits) and commits at most once.
Single use is enforced with conditional UPDATEs whose row count says who won, so concurrent
redemptions and refreshes resolve to exactly one winner on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from flask import current_app
from sqlalchemy import ColumnElement, delete, func, or_, select, update

from app import crypto, scopes
from app.apikeys import services as apikeys
from app.audit.services import SYSTEM, Caller, record
from app.errors import TollgateError
from app.extensions import db
from app.identity.models import User
from app.oauth2.models import AuthorizationCode, OAuthClient, OAuthToken
from app.oauth2.redirects import InvalidRedirectURI, validate_redirect_uri

GRANT_TYPES = ("authorization_code", "refresh_token", "password", "client_credentials")
# Sure's mobile app: the shared first-party public client its device tokens belong to. Defined
# here because the client lifecycle refuses to delete it; firstparty/tokens.py issues for it.
SURE_MOBILE_CLIENT_ID = "sure-mobile"
SURE_MOBILE_REDIRECT_URI = "sureapp://oauth/callback"
TokenKind = Literal["access_token", "refresh_token"]


class InvalidClientMetadata(TollgateError):
    status, error = 400, "invalid_client_metadata"


class InvalidRedirectURIMetadata(InvalidClientMetadata):
    """RFC 7591 §3.2.2: one or more of the redirect URIs is not acceptable."""

    error = "invalid_redirect_uri"


# --- clients -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewClient:
    client: OAuthClient
    client_secret: str | None  # plaintext, returned once; None for public clients


def create_client(
    *,
    name: str,
    redirect_uris: list[str],
    grant_types: list[str],
    scope: str,
    public: bool,
    first_party: bool = False,
    dynamic: bool = False,
    now: datetime,
    caller: Caller = SYSTEM,
) -> NewClient:
    """Register a client; the secret (confidential clients) is returned once, stored as a
    digest. Raises InvalidClientMetadata with a client-facing description. Commits."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidClientMetadata("client name must be 1 to 200 characters")
    grant_types = list(dict.fromkeys(grant_types))
    unknown = [g for g in grant_types if g not in GRANT_TYPES]
    if unknown or not grant_types:
        raise InvalidClientMetadata(f"unsupported grant types: {', '.join(unknown) or 'none'}")
    if public and "client_credentials" in grant_types:
        raise InvalidClientMetadata("public clients cannot use client_credentials")
    if "password" in grant_types and not first_party:
        raise InvalidClientMetadata("the password grant is only for first-party clients")
    try:
        uris = [validate_redirect_uri(uri, dynamic=dynamic) for uri in redirect_uris]
    except InvalidRedirectURI as exc:
        raise InvalidRedirectURIMetadata(str(exc)) from exc
    if "authorization_code" in grant_types and not uris:
        raise InvalidClientMetadata("redirect_uris is required for authorization_code")
    requested_scope = scopes.to_list(scope)
    if not requested_scope or not set(requested_scope) <= set(scopes.supported()):
        raise InvalidClientMetadata(f"scope must be a subset of: {' '.join(scopes.supported())}")

    secret = None if public else crypto.new_token(crypto.PREFIX_CLIENT_SECRET)
    client = OAuthClient(
        client_id=crypto.new_identifier(),
        client_secret_digest=crypto.digest(secret) if secret else None,
        name=name,
        redirect_uris=uris,
        grant_types=grant_types,
        scope=scopes.to_string(requested_scope),
        token_endpoint_auth_method="none" if public else "client_secret_basic",
        first_party=first_party,
        dynamically_registered=dynamic,
        created_at=now,
    )
    db.session.add(client)
    record("client.created", now=now, caller=caller, client_id=client.client_id,
           dynamic=dynamic, public=public)
    db.session.commit()
    return NewClient(client=client, client_secret=secret)


def get_client(client_id: str | None) -> OAuthClient | None:
    if not client_id or len(client_id) > 64 or "\x00" in client_id:
        return None
    client = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None or client.disabled_at is not None:
        return None
    return client


# --- client lifecycle (operator commands) ------------------------------------------------------


class UnknownClient(TollgateError):
    status, error = 404, "not_found"


class ClientLifecycleError(TollgateError):
    status, error = 409, "conflict"


@dataclass(frozen=True)
class DeletedClient:
    client: OAuthClient
    revoked_tokens: int
    revoked_codes: int
    revoked_api_keys: int


def list_clients() -> list[OAuthClient]:
    """Every client that was not deleted, oldest first (disabled ones included)."""
    return list(db.session.scalars(
        select(OAuthClient).where(OAuthClient.deleted_at.is_(None))
        .order_by(OAuthClient.created_at, OAuthClient.client_id)
    ))


def _managed_client(client_id: str) -> OAuthClient:
    """The client an operator names, disabled or not; a tombstone cannot be managed."""
    client = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None:
        raise UnknownClient(f"no client with client_id {client_id}")
    if client.deleted_at is not None:
        raise ClientLifecycleError(f"client {client_id} was deleted")
    return client


def disable_client(client_id: str, *, now: datetime, caller: Caller = SYSTEM) -> OAuthClient:
    """Stop a client at once: it no longer authenticates or starts authorizations, and its
    tokens stop working. Nothing is revoked (every use checks the client), so enabling it
    again restores the tokens that have not expired meanwhile. Idempotent. Commits."""
    client = _managed_client(client_id)
    if client.disabled_at is None:
        client.disabled_at = now
        record("client.disabled", now=now, caller=caller, client_id=client_id)
    db.session.commit()
    return client


def enable_client(client_id: str, *, now: datetime, caller: Caller = SYSTEM) -> OAuthClient:
    """Undo ``disable_client``. Idempotent. Commits."""
    client = _managed_client(client_id)
    if client.disabled_at is not None:
        client.disabled_at = None
        record("client.enabled", now=now, caller=caller, client_id=client_id)
    db.session.commit()
    return client


def delete_client(client_id: str, *, now: datetime, caller: Caller = SYSTEM) -> DeletedClient:
    """Revoke every token and unredeemed code of the client and leave a tombstone: disabled,
    its secret digest cleared, its client_id never usable again. The row stays because
    tokens, codes and audit events point at it (audit history is append-only). API keys the
    client created for its users die with it; nothing of any other client, user or family,
    and no other API key, is touched. Commits."""
    if client_id == SURE_MOBILE_CLIENT_ID:
        # Sure's login and signup issue device tokens to this client: deleting it would
        # break them for good. Disabling is the reversible kill switch.
        raise ClientLifecycleError(
            f"{client_id} is the built-in first-party client; disable it instead")
    client = _managed_client(client_id)
    revoked_tokens = db.session.execute(
        update(OAuthToken)
        .where(OAuthToken.client_id == client_id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    # Codes are marked used, never deleted early (a later redemption is then reuse).
    revoked_codes = db.session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.client_id == client_id, AuthorizationCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    revoked_api_keys = len(apikeys.revoke_created_by_client(None, client_id, now=now))
    client.deleted_at = now
    client.disabled_at = client.disabled_at or now
    client.client_secret_digest = None
    record("client.deleted", now=now, caller=caller, client_id=client_id,
           revoked_tokens=revoked_tokens, revoked_codes=revoked_codes,
           revoked_api_keys=revoked_api_keys)
    db.session.commit()
    return DeletedClient(client, revoked_tokens, revoked_codes, revoked_api_keys)


# --- authorization codes -----------------------------------------------------------------------


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
) -> AuthorizationCode:
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
    item = db.session.scalar(
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
    result = db.session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.id == item.id, AuthorizationCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def report_code_reuse(item: AuthorizationCode, *, now: datetime, caller: Caller) -> None:
    db.session.rollback()
    revoked = revoke_lineage(item.lineage_id, now=now)
    record("authorization_code.reused", outcome="failure", now=now, caller=caller,
           actor_user_id=item.user_id, family_id=item.family_id, client_id=item.client_id,
           lineage_id=str(item.lineage_id), revoked_tokens=revoked)
    db.session.commit()


# --- tokens ------------------------------------------------------------------------------------


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
) -> OAuthToken:
    """Persist an issued token response (digests only) and commit the unit of work (unless
    the caller's unit goes on). ``token`` is the dict returned to the client; it is read,
    never changed."""
    refresh = token.get("refresh_token")
    refresh_expires_at = None
    if refresh:
        if lineage.parent is not None:
            # Rotation never extends the lineage: refresh tokens keep an absolute lifetime.
            refresh_expires_at = lineage.parent.refresh_expires_at
        elif lifetime := current_app.config["OAUTH2_REFRESH_TOKEN_LIFETIME"]:
            refresh_expires_at = now + timedelta(seconds=lifetime)
    row = OAuthToken(
        lineage_id=lineage.lineage_id,
        parent_id=lineage.parent.id if lineage.parent else None,
        client_id=client.client_id,
        user_id=user.id if user else None,
        family_id=user.family_id if user else None,
        grant_type=grant_type,
        profile=lineage.parent.profile if lineage.parent else profile,
        device_id=lineage.parent.device_id if lineage.parent else device_id,
        scope=token.get("scope", ""),
        lineage_scope=lineage.scope or token.get("scope", ""),
        access_token_digest=crypto.digest(token["access_token"]),
        refresh_token_digest=crypto.digest(refresh) if refresh else None,
        issued_at=now,
        access_expires_at=now + timedelta(seconds=int(token["expires_in"])),
        refresh_expires_at=refresh_expires_at,
    )
    db.session.add(row)
    record("token.rotated" if lineage.parent else "token.issued", now=now, caller=caller,
           actor_user_id=row.user_id, family_id=row.family_id, client_id=client.client_id,
           grant_type=grant_type, lineage_id=str(lineage.lineage_id), scope=row.scope)
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return row


def find_token(value: str | None) -> tuple[OAuthToken, TokenKind] | None:
    """Look a presented token up by its digest; the prefix says which kind it can be."""
    if not value or len(value) > 512:
        return None
    if value.startswith(crypto.PREFIX_ACCESS_TOKEN):
        column, kind = OAuthToken.access_token_digest, "access_token"
    elif value.startswith(crypto.PREFIX_REFRESH_TOKEN):
        column, kind = OAuthToken.refresh_token_digest, "refresh_token"
    else:
        return None
    row = db.session.scalar(select(OAuthToken).where(column == crypto.digest(value)))
    return (row, kind) if row is not None else None  # type: ignore[return-value]


def token_usable(row: OAuthToken, kind: TokenKind, *, now: datetime) -> bool:
    """Whether a presented token works right now: not expired, revoked or rotated, its owner
    (if any) still active and its client not disabled. Introspection and token info ask
    this; the gate's verifier checks the same things in its one query."""
    active = (row.access_token_active(now) if kind == "access_token"
              else row.refresh_token_active(now))
    if not active:
        return False
    if row.user_id is not None and ((owner := row.get_user()) is None or not owner.active):
        return False
    # Checked on every use rather than revoked on disable, so re-enabling restores them.
    return db.session.scalar(
        select(OAuthClient.id).where(OAuthClient.client_id == row.client_id,
                                     OAuthClient.disabled_at.is_(None))
    ) is not None


def find_active_access_token(value: str | None, *, now: datetime) -> OAuthToken | None:
    found = find_token(value)
    if found is None or found[1] != "access_token" or not token_usable(*found, now=now):
        return None
    return found[0]


def find_refresh_token(
    value: str, client: OAuthClient | None, *, now: datetime, caller: Caller
) -> OAuthToken | None:
    """The refresh token ``value`` of this client (None: of any first-party client, for
    Sure's refresh), or None.

    A token of another client is simply not found (that client's attempt must not revoke
    anything of ours; a confidential client's token is never rotated without its client
    authentication, RFC 6749 §10.4). A refresh token that was already rotated is reuse: the
    lineage is revoked and the event audited (RFC 9700 §4.14.2) -- unless it is a retry
    within the client's reuse interval (see ``claim_refresh_token``), then it is returned."""
    found = find_token(value)
    if found is None or found[1] != "refresh_token":
        return None
    row = found[0]
    if client is not None and row.client_id != client.client_id:
        return None
    if client is None and not _is_first_party(row.client_id):
        return None
    if row.refresh_used_at is not None and row.revoked_at is None:
        if _may_retry(row, now=now):
            return row
        report_refresh_reuse(row, now=now, caller=caller)
        return None
    if not row.refresh_token_active(now):
        return None
    return row


def _is_first_party(client_id: str) -> bool:
    return bool(db.session.scalar(
        select(OAuthClient.first_party).where(OAuthClient.client_id == client_id)))


def refresh_reuse_interval(client_id: str) -> int:
    """Seconds after its rotation during which a refresh token of this client may be
    presented again for a sibling successor: FIRST_PARTY_REFRESH_REUSE_INTERVAL for
    first-party clients (Sure's app refreshes without a lock, mobile answers get lost),
    OAUTH2_REFRESH_REUSE_INTERVAL (default 0, strict) for the others."""
    key = ("FIRST_PARTY_REFRESH_REUSE_INTERVAL" if _is_first_party(client_id)
           else "OAUTH2_REFRESH_REUSE_INTERVAL")
    return max(0, int(current_app.config[key]))


def _retry_window(row: OAuthToken, now: datetime) -> ColumnElement[bool] | None:
    """SQL condition: ``row`` was rotated within its reuse interval, none of its successors
    has been used since, and it is neither revoked nor expired."""
    interval = refresh_reuse_interval(row.client_id)
    if interval <= 0:
        return None
    return (
        (OAuthToken.id == row.id)
        & OAuthToken.revoked_at.is_(None)
        & OAuthToken.refresh_used_at.is_not(None)
        & (OAuthToken.refresh_used_at >= now - timedelta(seconds=interval))
        & OAuthToken.successor_used_at.is_(None)
        & or_(OAuthToken.refresh_expires_at.is_(None), OAuthToken.refresh_expires_at > now)
    )


def _may_retry(row: OAuthToken, *, now: datetime) -> bool:
    """Read-only pre-check of the retry window (``claim_refresh_token`` decides atomically)."""
    window = _retry_window(row, now)
    return window is not None and db.session.scalar(
        select(func.count(OAuthToken.id)).where(window)) == 1


def claim_refresh_token(row: OAuthToken, *, now: datetime, caller: Caller = SYSTEM) -> bool:
    """Atomically claim the refresh token for one successor; False means reuse. Not
    committed: the caller commits it with the successor token.

    - A live token: marked used (its access token retired); exactly one of any number of
      concurrent callers wins.
    - A token rotated within its client's reuse interval, none of whose successors has been
      used: a *retry* (the answer was lost, or two refreshes raced). It wins too, and the
      caller issues another child of the same parent: a sibling of the first successor.
    - Claiming a token that has a parent settles its siblings in the same transaction: the
      parent records that a successor was used (no more retries of it) and every other
      sibling is retired, so at most one successor ever stays usable once one was used. A
      retired sibling presented later is a replay (beyond the grace) and revokes the lineage.

    Every path takes row locks in one order -- the parent first, then the token, then its
    siblings -- so concurrent siblings and retries queue instead of deadlocking (PostgreSQL);
    the decisions themselves are conditional UPDATEs whose row count says who won."""
    if row.parent_id is not None:
        db.session.execute(select(OAuthToken.id).where(OAuthToken.id == row.parent_id)
                           .with_for_update())
    claimed = db.session.execute(
        update(OAuthToken)
        .where(
            OAuthToken.id == row.id,
            OAuthToken.refresh_used_at.is_(None),
            OAuthToken.revoked_at.is_(None),
        )
        .values(refresh_used_at=now, access_revoked_at=func.coalesce(
            OAuthToken.access_revoked_at, now))
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if claimed:
        if row.parent_id is not None:
            _settle_siblings(row, now=now)
        return True
    window = _retry_window(row, now)
    if window is None:
        return False
    # A no-op write: it takes the row lock, so a concurrent claim of a successor (which
    # sets successor_used_at under the same lock) either happened before and makes this
    # match nothing, or happens after and retires the sibling issued here.
    retried = db.session.execute(
        update(OAuthToken).where(window)
        .values(refresh_used_at=OAuthToken.refresh_used_at)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if retried:
        record("refresh_token.retried", now=now, caller=caller, actor_user_id=row.user_id,
               family_id=row.family_id, client_id=row.client_id,
               lineage_id=str(row.lineage_id))
    return retried


def _settle_siblings(row: OAuthToken, *, now: datetime) -> None:
    """``row`` (a child of its parent) was just claimed: close the parent's retry window and
    retire the other children. Retired siblings look rotated (refresh_used_at) with their
    own window closed (successor_used_at), so presenting one later is a replay."""
    db.session.execute(
        update(OAuthToken)
        .where(OAuthToken.id == row.parent_id)
        .values(successor_used_at=func.coalesce(OAuthToken.successor_used_at, now))
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(OAuthToken)
        .where(
            OAuthToken.parent_id == row.parent_id,
            OAuthToken.id != row.id,
            OAuthToken.refresh_used_at.is_(None),
            OAuthToken.revoked_at.is_(None),
        )
        .values(refresh_used_at=now, successor_used_at=now,
                access_revoked_at=func.coalesce(OAuthToken.access_revoked_at, now))
        .execution_options(synchronize_session=False)
    )


def report_refresh_reuse(row: OAuthToken, *, now: datetime, caller: Caller) -> None:
    db.session.rollback()
    revoked = revoke_lineage(row.lineage_id, now=now)
    record("refresh_token.reused", outcome="failure", now=now, caller=caller,
           actor_user_id=row.user_id, family_id=row.family_id, client_id=row.client_id,
           lineage_id=str(row.lineage_id), revoked_tokens=revoked)
    db.session.commit()


def revoke_lineage(lineage_id: uuid.UUID, *, now: datetime) -> int:
    """Revoke every token of a lineage in one set-based UPDATE; returns how many. The caller
    commits."""
    result = db.session.execute(
        update(OAuthToken)
        .where(OAuthToken.lineage_id == lineage_id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def revoke_token(
    row: OAuthToken, kind: TokenKind, *, client_id: str, now: datetime, caller: Caller
) -> None:
    """RFC 7009: an access token is revoked alone; a refresh token takes its whole lineage
    (every access token issued under the same authorization) with it. Commits."""
    if kind == "refresh_token":
        count = revoke_lineage(row.lineage_id, now=now)
    else:
        count = db.session.execute(
            update(OAuthToken)
            .where(OAuthToken.id == row.id, OAuthToken.access_revoked_at.is_(None))
            .values(access_revoked_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    record("token.revoked", now=now, caller=caller, actor_user_id=row.user_id,
           family_id=row.family_id, client_id=client_id, token_type=kind,
           lineage_id=str(row.lineage_id), revoked_tokens=count)
    db.session.commit()


# --- the signed-in user's authorized applications ----------------------------------------------


def _live_for_user(user_id: uuid.UUID, now: datetime):  # type: ignore[no-untyped-def]
    return (
        OAuthToken.user_id == user_id,
        OAuthToken.revoked_at.is_(None),
        or_(
            (OAuthToken.access_revoked_at.is_(None)) & (OAuthToken.access_expires_at > now),
            (OAuthToken.refresh_token_digest.is_not(None))
            & (OAuthToken.refresh_used_at.is_(None))
            & or_(OAuthToken.refresh_expires_at.is_(None), OAuthToken.refresh_expires_at > now),
        ),
    )


def authorized_applications(user_id: uuid.UUID, *, now: datetime) -> list[dict[str, Any]]:
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
            "authorized_at": first.isoformat() + "Z",
            "last_issued_at": last.isoformat() + "Z",
        }
        for client_id, name, first, last in rows
    ]


def revoke_authorization(
    user: User, client_id: str, *, now: datetime, caller: Caller
) -> int:
    """Revoke everything the client obtained or created for the user, in one transaction:
    every lineage it holds and every API key created through it (a key minted with the
    app's token must not outlive the user's revocation of the app). Returns the number of
    credentials revoked (0 when there was nothing: the caller answers 404). Commits."""
    count = db.session.execute(
        update(OAuthToken)
        .where(
            OAuthToken.user_id == user.id,
            OAuthToken.client_id == client_id,
            OAuthToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    keys = apikeys.revoke_created_by_client(user.id, client_id, now=now)
    if count or keys:
        record("authorization.revoked", now=now, caller=caller, actor_user_id=user.id,
               family_id=user.family_id, client_id=client_id, revoked_tokens=count,
               revoked_api_keys=[str(k) for k in keys])
        db.session.commit()
    else:
        db.session.rollback()
    return count + len(keys)


# --- housekeeping ------------------------------------------------------------------------------


def purge_expired(*, now: datetime, batch_size: int) -> dict[str, int]:
    """Delete expired codes and dead tokens in batches. A token row is dead when its access
    token has expired (or been revoked) and its refresh token can no longer be used; rows
    that are still a lineage's parent are kept until their children go."""
    counts = {"authorization_codes": 0, "tokens": 0}
    while True:
        ids = db.session.scalars(
            select(AuthorizationCode.id).where(AuthorizationCode.expires_at <= now)
            .limit(batch_size)
        ).all()
        if not ids:
            break
        counts["authorization_codes"] += db.session.execute(
            delete(AuthorizationCode).where(AuthorizationCode.id.in_(ids))
        ).rowcount
        db.session.commit()

    child = select(OAuthToken.parent_id).where(OAuthToken.parent_id.is_not(None))
    dead = (
        or_(OAuthToken.access_expires_at <= now, OAuthToken.access_revoked_at.is_not(None),
            OAuthToken.revoked_at.is_not(None))
        & or_(
            OAuthToken.refresh_token_digest.is_(None),
            OAuthToken.revoked_at.is_not(None),
            OAuthToken.refresh_used_at.is_not(None),
            OAuthToken.refresh_expires_at <= now,
        )
    )
    while True:
        ids = db.session.scalars(
            select(OAuthToken.id).where(dead, OAuthToken.id.not_in(child)).limit(batch_size)
        ).all()
        if not ids:
            break
        counts["tokens"] += db.session.execute(
            delete(OAuthToken).where(OAuthToken.id.in_(ids))
        ).rowcount
        db.session.commit()
    return counts


def revoke_all_for_user(user_id: uuid.UUID, *, now: datetime) -> int:
    """Every token of every lineage of the user, in one statement. The caller commits."""
    return db.session.execute(
        update(OAuthToken)
        .where(OAuthToken.user_id == user_id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
