"""Housekeeping (``flask tokens purge``): expired authorization codes and dead tokens go."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import not_, select

from app.oauth2.models import AuthorizationCode, OAuthToken
from app.purging import purge_in_batches


def purge_expired(*, now: datetime, batch_size: int) -> dict[str, int]:
    """Delete expired codes and dead tokens in batches. A token row is dead when neither of
    its tokens works any more (``OAuthToken.live_clause``); rows that are still a lineage's
    parent are kept until their children go."""
    has_children = select(OAuthToken.parent_id).where(OAuthToken.parent_id.is_not(None))
    return {
        "authorization_codes": purge_in_batches(
            AuthorizationCode.id, AuthorizationCode.expires_at <= now, batch_size=batch_size
        ),
        "tokens": purge_in_batches(
            OAuthToken.id,
            not_(OAuthToken.live_clause(now)),
            OAuthToken.id.not_in(has_children),
            batch_size=batch_size,
        ),
    }
