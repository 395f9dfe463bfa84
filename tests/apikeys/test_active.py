"""ApiKey.active_at, the one rule for "may this key be used now", as listing and verification
apply it: neither revoked nor expired, a key expiring at ``now`` being already expired."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.clock import utcnow


@pytest.mark.parametrize(
    ("expires_in", "revoked", "active"),
    [
        (None, False, True),
        (timedelta(seconds=1), False, True),
        (timedelta(0), False, False),
        (timedelta(seconds=-1), False, False),
        (None, True, False),
        (timedelta(days=1), True, False),
    ],
)
def test_listing_and_verification_agree(app, user, expires_in, revoked, active) -> None:
    from app.apikeys import services
    from app.apikeys.models import ApiKey
    from app.extensions import db
    from app.identity.models import User

    with app.app_context():
        owner = db.session.get(User, user.id)
        assert owner is not None
        created = services.create_api_key(owner, name="rule", scope="read", now=utcnow())
        now = utcnow()
        created.api_key.expires_at = None if expires_in is None else now + expires_in
        created.api_key.revoked_at = now if revoked else None
        db.session.commit()

        row = services.find_for_verification(created.key, now=now)
        assert row is not None and bool(row.key_active) is active
        listed = [key.id for key in services.list_api_keys(owner, now=now)]
        assert (created.api_key.id in listed) is active
        selected = db.session.scalar(select(ApiKey.id).where(ApiKey.active_at(now)))
        assert (selected == created.api_key.id) is active
