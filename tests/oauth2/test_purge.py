"""Housekeeping as a service (``app/oauth2/services/purge.py``), with ``now`` passed in.

test_cli.py::test_tokens_purge runs ``flask tokens purge`` end to end: an expired and a live
code, a token dead by expiry and one by lineage revocation, a live access token and a live
refresh token. Here are the other ways a row dies or survives, the boundaries (``now``
itself), lineage parents, used codes, and the batches.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from app.extensions import db
from app.oauth2.models import AuthorizationCode, OAuthToken
from app.oauth2.services.purge import purge_expired
from tests.support.factories import ClientInfo, UserInfo

NOW = datetime(2030, 6, 1, 12, 0, 0)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


@pytest.fixture
def owner(make_user: Callable[..., UserInfo]) -> UserInfo:
    return make_user()


@pytest.fixture
def add_token(app: Flask, owner: UserInfo, oauth_client: ClientInfo) -> Callable[..., uuid.UUID]:
    """Insert a token row; by default its access token expired a day ago and it has no
    refresh token (dead), so each test states what keeps it alive."""

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
                "issued_at": NOW - 2 * DAY,
                "access_expires_at": NOW - DAY,
                **fields,
            }
        )
        with app.app_context():
            db.session.add(row)
            db.session.commit()
            return row.id

    return factory


@pytest.fixture
def add_code(app: Flask, owner: UserInfo, oauth_client: ClientInfo) -> Callable[..., uuid.UUID]:
    def factory(expires_at: datetime, used_at: datetime | None = None) -> uuid.UUID:
        item = AuthorizationCode(
            code_digest=uuid.uuid4().hex * 2,
            client_id=oauth_client.client_id,
            user_id=owner.id,
            family_id=owner.family_id,
            redirect_uri=None,
            scope="read",
            lineage_id=uuid.uuid4(),
            created_at=expires_at - timedelta(minutes=10),
            expires_at=expires_at,
            used_at=used_at,
        )
        with app.app_context():
            db.session.add(item)
            db.session.commit()
            return item.id

    return factory


def purge(app: Flask, batch_size: int = 100) -> dict[str, int]:
    with app.app_context():
        return purge_expired(now=NOW, batch_size=batch_size)


def remaining_tokens(app: Flask) -> set[uuid.UUID]:
    with app.app_context():
        return set(db.session.scalars(select(OAuthToken.id)))


def remaining_codes(app: Flask) -> set[uuid.UUID]:
    with app.app_context():
        return set(db.session.scalars(select(AuthorizationCode.id)))


# --- tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"access_expires_at": NOW}, id="access-expires-exactly-now"),
        pytest.param(
            {"access_expires_at": NOW + DAY, "access_revoked_at": NOW - DAY},
            id="access-revoked-alone-no-refresh",
        ),
        pytest.param(
            {"refresh_token_digest": "r" * 64, "refresh_used_at": NOW - DAY}, id="refresh-rotated"
        ),
        pytest.param(
            {"refresh_token_digest": "r" * 64, "refresh_expires_at": NOW - SECOND},
            id="refresh-expired",
        ),
        pytest.param(
            {"refresh_token_digest": "r" * 64, "refresh_expires_at": NOW},
            id="refresh-expires-exactly-now",
        ),
    ],
)
def test_a_row_whose_tokens_both_stopped_working_is_purged(
    app: Flask, add_token: Callable[..., uuid.UUID], fields: dict[str, Any]
) -> None:
    add_token(**fields)
    assert purge(app) == {"authorization_codes": 0, "tokens": 1}
    assert remaining_tokens(app) == set()


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"access_expires_at": NOW + SECOND}, id="access-expires-a-second-later"),
        pytest.param(
            {
                "access_expires_at": NOW + DAY,
                "access_revoked_at": NOW - DAY,
                "refresh_token_digest": "r" * 64,
                "refresh_expires_at": NOW + DAY,
            },
            id="access-revoked-alone-refresh-live",
        ),
        pytest.param(
            {"refresh_token_digest": "r" * 64, "refresh_expires_at": NOW + SECOND},
            id="refresh-expires-a-second-later",
        ),
    ],
)
def test_a_row_with_a_working_token_stays(
    app: Flask, add_token: Callable[..., uuid.UUID], fields: dict[str, Any]
) -> None:
    kept = add_token(**fields)
    assert purge(app) == {"authorization_codes": 0, "tokens": 0}
    assert remaining_tokens(app) == {kept}


def test_dead_ancestors_stay_while_a_descendant_lives(
    app: Flask, add_token: Callable[..., uuid.UUID]
) -> None:
    rotated = {"refresh_token_digest": None, "refresh_used_at": NOW - DAY}
    grandparent = add_token(**rotated)
    parent = add_token(parent_id=grandparent, **rotated)
    child = add_token(parent_id=parent, access_expires_at=NOW + DAY)
    assert purge(app)["tokens"] == 0
    assert remaining_tokens(app) == {grandparent, parent, child}


def test_a_dead_parent_goes_in_the_same_purge_once_its_dead_children_are_gone(
    app: Flask, add_token: Callable[..., uuid.UUID]
) -> None:
    parent = add_token(refresh_token_digest="r" * 64, refresh_used_at=NOW - DAY)
    add_token(parent_id=parent)
    add_token(parent_id=parent)
    assert purge(app, batch_size=1)["tokens"] == 3
    assert remaining_tokens(app) == set()


# --- authorization codes -------------------------------------------------------------------


def test_codes_go_when_expired_used_or_not_and_stay_until_then(
    app: Flask, add_code: Callable[..., uuid.UUID]
) -> None:
    add_code(expires_at=NOW)
    add_code(expires_at=NOW - DAY, used_at=NOW - DAY)
    unexpired = add_code(expires_at=NOW + SECOND)
    # A used code is kept until it expires: presenting it again must still find it (reuse
    # revokes what its first redemption produced).
    used_unexpired = add_code(expires_at=NOW + SECOND, used_at=NOW - SECOND)
    assert purge(app) == {"authorization_codes": 2, "tokens": 0}
    assert remaining_codes(app) == {unexpired, used_unexpired}


# --- batches -------------------------------------------------------------------------------


@pytest.fixture
def deletes(app: Flask) -> Iterator[dict[str, list[int]]]:
    """How many ids each DELETE of a purge carried, per table."""
    seen: dict[str, list[int]] = {"oauth2_authorization_codes": [], "oauth2_tokens": []}

    def before_cursor_execute(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        for table, sizes in seen.items():
            if statement.startswith(f"DELETE FROM {table} "):
                sizes.append(len(parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    yield seen
    event.remove(engine, "before_cursor_execute", before_cursor_execute)


def test_rows_go_in_batches_of_at_most_batch_size(
    app: Flask,
    add_token: Callable[..., uuid.UUID],
    add_code: Callable[..., uuid.UUID],
    deletes: dict[str, list[int]],
) -> None:
    for _ in range(5):
        add_token()
    for _ in range(3):
        add_code(expires_at=NOW - DAY)
    live = add_token(access_expires_at=NOW + DAY)

    assert purge(app, batch_size=2) == {"authorization_codes": 3, "tokens": 5}
    assert deletes == {"oauth2_authorization_codes": [2, 1], "oauth2_tokens": [2, 2, 1]}
    assert remaining_tokens(app) == {live}
    assert remaining_codes(app) == set()
