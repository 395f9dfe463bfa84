"""Server-side browser sessions at the service level: expiry, ending them, purging them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.identity import sessions
from app.identity.models import User, WebSession
from tests.support.service_inputs import NOW

LIFETIME = timedelta(seconds=600)


def login_id(user: User) -> str:
    """What the signed cookie names: the user and the session epoch at sign-in."""
    return f"{user.id}:{user.session_epoch}"


@pytest.mark.config(PERMANENT_SESSION_LIFETIME=600)
def test_a_session_lives_until_its_expiry_and_not_a_moment_longer(new_user) -> None:
    user = new_user()
    sid = sessions.start_web_session(user, now=NOW)
    last_moment = NOW + LIFETIME - timedelta(microseconds=1)

    assert sessions.load_web_session_user(login_id(user), sid, now=last_moment) == user
    assert sessions.load_web_session_user(login_id(user), sid, now=NOW + LIFETIME) is None


def test_a_session_id_names_only_its_own_user(new_user) -> None:
    alice, bob = new_user(), new_user()
    sid = sessions.start_web_session(alice, now=NOW)

    assert sessions.load_web_session_user(login_id(bob), sid, now=NOW) is None


def test_ending_all_sessions_ends_only_that_users_live_ones(new_user) -> None:
    alice, bob = new_user(), new_user()
    ended = sessions.start_web_session(alice, now=NOW)
    sessions.end_web_session(ended, now=NOW)
    alice_sids = [sessions.start_web_session(alice, now=NOW) for _ in range(2)]
    bob_sid = sessions.start_web_session(bob, now=NOW)

    assert sessions.end_all_web_sessions(alice.id, now=NOW) == 2
    db.session.commit()

    assert all(
        sessions.load_web_session_user(login_id(alice), sid, now=NOW) is None for sid in alice_sids
    )
    assert sessions.load_web_session_user(login_id(bob), bob_sid, now=NOW) == bob


@pytest.mark.config(PERMANENT_SESSION_LIFETIME=600)
def test_purge_deletes_expired_and_ended_sessions_in_batches(new_user) -> None:
    user = new_user()
    expired_at_now = sessions.start_web_session(user, now=NOW - LIFETIME)
    sessions.start_web_session(user, now=NOW - 2 * LIFETIME)
    ended = sessions.start_web_session(user, now=NOW)
    sessions.end_web_session(ended, now=NOW)
    live = sessions.start_web_session(user, now=NOW)

    assert sessions.purge_web_sessions(now=NOW, batch_size=1) == 3

    remaining = db.session.scalars(select(WebSession)).all()
    assert len(remaining) == 1
    assert sessions.load_web_session_user(login_id(user), live, now=NOW) == user
    assert sessions.load_web_session_user(login_id(user), expired_at_now, now=NOW) is None
