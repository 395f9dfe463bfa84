"""Whether a token works: ``OAuthToken`` states the rule twice, as methods for a loaded row
(introspection, token info, refresh) and as clauses for a WHERE (the gate's verifier, the
authorized applications, the purge). Both forms must give the same answer in every state."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.oauth2.models import OAuthToken
from tests.support.factories import ClientInfo, UserInfo

NOW = datetime(2030, 6, 1, 12, 0, 0)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
LIVE = {
    "access_expires_at": NOW + DAY,
    "refresh_token_digest": "r" * 64,
    "refresh_expires_at": None,
}

STATES = [
    # fields over LIVE, access token works, refresh token works
    pytest.param({}, True, True, id="fresh"),
    pytest.param({"access_expires_at": NOW}, False, True, id="access-expires-now"),
    pytest.param(
        {"access_expires_at": NOW + SECOND, "refresh_expires_at": NOW},
        True,
        False,
        id="refresh-expires-now",
    ),
    pytest.param(
        {"refresh_expires_at": NOW + SECOND}, True, True, id="refresh-expires-a-second-later"
    ),
    pytest.param({"access_revoked_at": NOW - DAY}, False, True, id="access-revoked-alone"),
    pytest.param(
        {"refresh_used_at": NOW - DAY, "access_revoked_at": NOW - DAY}, False, False, id="rotated"
    ),
    pytest.param({"revoked_at": NOW - DAY}, False, False, id="lineage-revoked"),
    pytest.param({"refresh_token_digest": None}, True, False, id="no-refresh-token"),
]


@pytest.fixture
def add_token(
    app: Flask, make_user: Callable[..., UserInfo], oauth_client: ClientInfo
) -> Callable[..., uuid.UUID]:
    owner = make_user()

    def factory(**fields: Any) -> uuid.UUID:
        row = OAuthToken(
            **{
                "lineage_id": uuid.uuid4(),
                "client_id": oauth_client.client_id,
                "user_id": owner.id,
                "family_id": owner.family_id,
                "grant_type": "authorization_code",
                "scope": "read",
                "lineage_scope": "read",
                "access_token_digest": uuid.uuid4().hex * 2,
                "issued_at": NOW - DAY,
                **LIVE,
                **fields,
            }
        )
        with app.app_context():
            db.session.add(row)
            db.session.commit()
            return row.id

    return factory


@pytest.mark.parametrize("fields, access, refresh", STATES)
def test_the_method_and_the_clause_agree(
    app: Flask,
    add_token: Callable[..., uuid.UUID],
    fields: dict[str, Any],
    access: bool,
    refresh: bool,
) -> None:
    token_id = add_token(**fields)
    with app.app_context():
        row = db.session.get(OAuthToken, token_id)
        assert row is not None
        assert row.access_token_active(NOW) is access
        assert row.refresh_token_active(NOW) is refresh
        in_sql = db.session.execute(
            select(
                OAuthToken.access_token_active_clause(NOW),
                OAuthToken.refresh_token_active_clause(NOW),
                OAuthToken.live_clause(NOW),
            ).where(OAuthToken.id == token_id)
        ).one()
    # Never NULL: NOT of a NULL is NULL, and the purge (``NOT live``) would keep the row forever.
    assert None not in tuple(in_sql)
    assert tuple(map(bool, in_sql)) == (access, refresh, access or refresh)
