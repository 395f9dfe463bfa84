"""Refresh token rotation (RFC 9700 §4.14.2): find the presented refresh token, claim it for
exactly one successor, tolerate a retry within the lineage's reuse interval, and treat any
other second use as a replay that revokes the lineage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, bindparam, func, or_, select, update

from app import crypto, metrics
from app.audit.services import SYSTEM, Caller, record
from app.config import current_region
from app.extensions import db, execute_count
from app.identity.models import User
from app.oauth2.models import OAuthClient, OAuthToken
from app.oauth2.services.tokens import find_token, kind_of, revoke_replayed_lineage

# The profile of RedCloud session lineages (app.sessions): short-lived JWTs of the built-in
# first-party client, rotated only where they were issued (/auth/refresh and Sure's refresh),
# strictly by default (SESSION_REFRESH_REUSE_INTERVAL).
SESSION_PROFILE = "session"


@dataclass(frozen=True)
class Presented:
    """A presented refresh token's row with its owner and its client (whatever their state),
    read in one round trip (``load_presented``)."""

    row: OAuthToken
    owner: User | None
    client: OAuthClient | None


def load_presented(value: str) -> Presented | None:
    """The row of a presented refresh token (by digest, whatever its state) together with
    its owner and client: the three reads of Sure's refresh in one statement."""
    if kind_of(value) != "refresh_token":
        return None
    found = db.session.execute(_PRESENTED, {"digest": crypto.digest(value)}).first()
    return Presented(*found) if found is not None else None


_PRESENTED = (
    select(OAuthToken, User, OAuthClient)
    .outerjoin(User, User.id == OAuthToken.user_id)
    .outerjoin(OAuthClient, OAuthClient.client_id == OAuthToken.client_id)
    .where(OAuthToken.refresh_token_digest == bindparam("digest"))
)


def find_refresh_token(
    value: str,
    client: OAuthClient | None,
    *,
    now: datetime,
    caller: Caller,
    presented: Presented | None = None,
) -> OAuthToken | None:
    """The refresh token ``value`` of this client (None: of any first-party client, for
    Sure's refresh), or None.

    A token of another client is simply not found (that client's attempt must not revoke
    anything of ours; a confidential client's token is never rotated without its client
    authentication, RFC 6749 §10.4). A refresh token that was already rotated is reuse: the
    lineage is revoked and the event audited (RFC 9700 §4.14.2) -- unless it is a retry
    within the lineage's reuse interval (see ``claim_refresh_token``), then it is returned.
    A session lineage's token is never found for a client (``/oauth/token``), nor any token
    on an instance of another region."""
    if presented is not None:  # read already (load_presented), with its client
        row = presented.row
    else:
        found = find_token(value)
        if found is None or found[1] != "refresh_token":
            return None
        row = found[0]
    if client is not None and (row.client_id != client.client_id or row.profile == SESSION_PROFILE):
        # /oauth/token would turn a 14-day session into year-long opaque tokens: a session
        # keeps its profile, so it is refreshed only at /auth/refresh.
        return None
    if client is None and not (
        bool(presented.client is not None and presented.client.first_party)
        if presented is not None
        else _is_first_party(row.client_id)
    ):
        return None
    if row.region != current_region():
        # Issued in another region (instances of several regions may share the database):
        # it does not exist here, and presenting it here revokes nothing.
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
    return bool(db.session.scalar(_FIRST_PARTY, {"client_id": client_id}))


_FIRST_PARTY = select(OAuthClient.first_party).where(
    OAuthClient.client_id == bindparam("client_id")
)


def refresh_reuse_interval(client_id: str, profile: str = "oauth") -> int:
    """Seconds after its rotation during which a refresh token of this lineage may be
    presented again for a sibling successor: SESSION_REFRESH_REUSE_INTERVAL for session
    lineages (default 0, strict: a web app refreshes from one place), else
    FIRST_PARTY_REFRESH_REUSE_INTERVAL for first-party clients (Sure's app refreshes without
    a lock, mobile answers get lost), OAUTH2_REFRESH_REUSE_INTERVAL (default 0, strict) for
    the others."""
    if profile == SESSION_PROFILE:
        key = "SESSION_REFRESH_REUSE_INTERVAL"
    elif _is_first_party(client_id):
        key = "FIRST_PARTY_REFRESH_REUSE_INTERVAL"
    else:
        key = "OAUTH2_REFRESH_REUSE_INTERVAL"
    return max(0, int(current_app.config[key]))


def _retry_window(row: OAuthToken, now: datetime) -> ColumnElement[bool] | None:
    """SQL condition: ``row`` was rotated within its reuse interval, none of its successors
    has been used since, and it is neither revoked nor expired."""
    interval = refresh_reuse_interval(row.client_id, row.profile)
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
    return (
        window is not None
        and db.session.scalar(select(func.count(OAuthToken.id)).where(window)) == 1
    )


def claim_refresh_token(row: OAuthToken, *, now: datetime, caller: Caller = SYSTEM) -> bool:
    """Atomically claim the refresh token for one successor; False means reuse. Not
    committed: the caller commits it with the successor token.

    - A live token: marked used (its access token retired); exactly one of any number of
      concurrent callers wins.
    - A token rotated within its lineage's reuse interval, none of whose successors has been
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
        db.session.execute(
            select(OAuthToken.id).where(OAuthToken.id == row.parent_id).with_for_update()
        )
    claimed = (
        execute_count(
            update(OAuthToken)
            .where(
                OAuthToken.id == row.id,
                OAuthToken.refresh_used_at.is_(None),
                OAuthToken.revoked_at.is_(None),
            )
            .values(
                refresh_used_at=now,
                access_revoked_at=func.coalesce(OAuthToken.access_revoked_at, now),
            )
            .execution_options(synchronize_session=False)
        )
        == 1
    )
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
    retried = (
        execute_count(
            update(OAuthToken)
            .where(window)
            .values(refresh_used_at=OAuthToken.refresh_used_at)
            .execution_options(synchronize_session=False)
        )
        == 1
    )
    if retried:
        record(
            "refresh_token.retried",
            now=now,
            caller=caller,
            actor_user_id=row.user_id,
            family_id=row.family_id,
            client_id=row.client_id,
            lineage_id=str(row.lineage_id),
        )
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
        .values(
            refresh_used_at=now,
            successor_used_at=now,
            access_revoked_at=func.coalesce(OAuthToken.access_revoked_at, now),
        )
        .execution_options(synchronize_session=False)
    )


def report_refresh_reuse(row: OAuthToken, *, now: datetime, caller: Caller) -> None:
    """A rotated refresh token came back outside any retry window: the lineage is revoked."""
    revoke_replayed_lineage("refresh_token.reused", row, now=now, caller=caller)
    metrics.refresh_reuse(row.profile)
