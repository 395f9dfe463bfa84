"""Housekeeping (``flask tokens purge``): expired authorization codes and dead tokens go."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import not_, or_, select

from app.oauth2.models import AuthorizationCode, OAuthToken
from app.purging import purge_in_batches


def purge_expired(*, now: datetime, batch_size: int) -> dict[str, int]:
    """Delete expired codes and dead tokens in batches. A token row is dead when neither of
    its tokens works any more (``OAuthToken.live_clause``); rows that are still a lineage's
    parent are kept until their children go; an OpenID code until its lineage is dead."""
    has_children = select(OAuthToken.parent_id).where(OAuthToken.parent_id.is_not(None))
    # An OpenID Connect code outlives its expiry while its lineage lives: the lineage's
    # refreshes read the sign-in (auth_time, amr) it recorded for their new ID tokens.
    live_lineages = select(OAuthToken.lineage_id).where(OAuthToken.live_clause(now))
    return {
        "authorization_codes": purge_in_batches(
            AuthorizationCode.id,
            AuthorizationCode.expires_at <= now,
            or_(
                not_(AuthorizationCode.scope.contains("openid")),
                AuthorizationCode.lineage_id.not_in(live_lineages),
            ),
            batch_size=batch_size,
        ),
        "tokens": purge_in_batches(
            OAuthToken.id,
            not_(OAuthToken.live_clause(now)),
            OAuthToken.id.not_in(has_children),
            batch_size=batch_size,
        ),
    }
