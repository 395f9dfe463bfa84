"""Around the key: the mail over a real SMTP server (aiosmtpd on loopback) carries the link
and never the key; purging a deactivated user takes their keys, links, tokens and
restrictions with them (the last member's family too)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from app.clock import utcnow
from tests.support.secretkeys import LINK_RE, issue, key_from, reveal, signed_in
from tests.support.servers import free_port


@dataclass
class Inbox:
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(app) -> Iterator[Inbox]:  # type: ignore[no-untyped-def]
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(
        MAIL_BACKEND="",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=port,
        MAIL_USE_TLS=False,
        MAIL_SENDER="SureCloud <no-reply@surecloud.test>",
    )
    yield inbox
    controller.stop()


def test_the_mail_arrives_by_smtp_with_the_link_and_never_the_key(app, smtp, ska, user) -> None:
    assert ska.add(user).status_code == 201
    [message] = smtp.messages
    assert message["To"] == user.email
    assert message["From"] == "SureCloud <no-reply@surecloud.test>"
    assert message["Subject"] == "SureCloud: Restful API Secret Key"
    body = message.get_content()
    match = LINK_RE.search(body)
    assert match, body

    key = key_from(reveal(signed_in(app, user), match.group(1)))
    assert key not in body
    assert ska.resend(user).status_code == 409  # revealed: no further mail
    assert len(smtp.messages) == 1


# --- purge ----------------------------------------------------------------------------------


def _counts(app, user_id, family_id) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from app.extensions import db
    from app.secretkeys.models import RevealLink, SecretKey, SecretKeyToken, UserIpRestriction

    with app.app_context():
        return {
            "keys": db.session.scalar(
                select(func.count()).select_from(SecretKey).where(SecretKey.user_id == user_id)
            ),
            "links": db.session.scalar(
                select(func.count()).select_from(RevealLink).where(RevealLink.user_id == user_id)
            ),
            "tokens": db.session.scalar(
                select(func.count())
                .select_from(SecretKeyToken)
                .where(SecretKeyToken.user_id == user_id)
            ),
            "restrictions": db.session.scalar(
                select(func.count())
                .select_from(UserIpRestriction)
                .where(UserIpRestriction.user_id == user_id)
            ),
        }


def _deactivate_and_purge(app, who) -> None:  # type: ignore[no-untyped-def]
    from app.extensions import db
    from app.firstparty import purge
    from app.identity.models import User

    with app.app_context():
        row = db.session.get(User, who.id)
        row.active = False
        row.deactivated_at = utcnow() - timedelta(days=1)
        db.session.commit()
        assert purge.purge_user(who.id, cutoff=utcnow(), now=utcnow())


def test_purging_a_member_takes_their_key_rows(app, client, ska, user, ska_user, secret):
    issue(client, user.email, secret)
    assert ska.restrict(user, "10.0.0.1").status_code == 200
    assert ska.revoke(user).status_code == 200
    assert ska.add(user).status_code == 201  # a revoked key, a pending key, two links
    before = _counts(app, user.id, user.family_id)
    assert before == {"keys": 2, "links": 2, "tokens": 1, "restrictions": 1}

    _deactivate_and_purge(app, user)

    assert _counts(app, user.id, user.family_id) == {
        "keys": 0,
        "links": 0,
        "tokens": 0,
        "restrictions": 0,
    }
    # The administrator who created the keys stays, and their family with them.
    assert ska.list().status_code == 200


def test_purging_the_administrator_forgets_who_created_keys(app, ska, ska_user, user, added):
    from app.extensions import db
    from app.secretkeys.models import SecretKey

    _deactivate_and_purge(app, ska_user)
    with app.app_context():
        key = db.session.scalar(select(SecretKey))
        assert key.user_id == user.id
        assert key.created_by_user_id is None


def test_purging_a_familys_last_member_takes_everything(app, client, make_user, as_admin):
    from tests.support.factories import grant_role as grant
    from tests.support.secretkeys import latest_link

    solo = make_user(email="solo@example.com")
    grant(app, solo, "secret_key_administrator")
    admin = as_admin(solo)
    assert admin.add(solo).status_code == 201
    secret = key_from(reveal(signed_in(app, solo), latest_link(app, solo.email)))
    assert issue(client, solo.email, secret).status_code == 200
    assert admin.restrict(solo, "10.0.0.1").status_code == 200

    _deactivate_and_purge(app, solo)

    from app.extensions import db
    from app.identity.models import Family

    assert _counts(app, solo.id, solo.family_id) == {
        "keys": 0,
        "links": 0,
        "tokens": 0,
        "restrictions": 0,
    }
    with app.app_context():
        assert db.session.get(Family, solo.family_id) is None


def test_a_family_reset_deletes_its_tasks(app, user, make_task, make_user) -> None:
    from app.extensions import db
    from app.resources import services

    make_task(user.family_id)
    other = make_user(email="other@example.com")
    make_task(other.family_id)
    with app.app_context():
        deleted = services.delete_family_data(user.family_id)
        db.session.commit()
        assert deleted["tasks"] == 1
        assert services.list_tasks(user.family_id).total_count == 0
        assert services.list_tasks(other.family_id).total_count == 1


def test_revoke_all_for_user_is_for_deactivation(app, client, ska, user, jwt) -> None:
    """What account deactivation calls, inside its own transaction: the key (and so every
    token) is revoked, so reactivating the account brings nothing back."""
    from app.extensions import db
    from app.secretkeys.services import keys
    from tests.support.secretkeys import call

    with app.app_context():
        assert keys.revoke_all_for_user(user.id, now=utcnow()) == 1
        db.session.commit()
        assert keys.revoke_all_for_user(user.id, now=utcnow()) == 0
    assert call(client, jwt).status_code == 401
    assert ska.list().get_json()["users"][0]["secret_key"] == "none"


def test_deactivating_the_account_revokes_the_key_for_good(app, client, ska, user, secret, jwt):
    """DELETE /api/v1/users/me revokes the secret key in its transaction: the JWT is refused,
    and reactivating the account brings neither the key nor its tokens back."""
    from app.extensions import db
    from app.identity.models import User
    from tests.support.secretkeys import call
    from tests.support.web import session_csrf

    browser = signed_in(app, user)
    deleted = browser.delete("/api/v1/users/me", headers={"X-CSRFToken": session_csrf(browser)})
    assert deleted.status_code == 200, deleted.get_json()
    assert call(client, jwt).status_code == 401
    with app.app_context():
        row = db.session.get(User, user.id)
        assert row is not None
        row.active, row.deactivated_at, email = True, None, row.email
        db.session.commit()
    assert call(client, jwt).status_code == 401
    assert issue(client, email, secret).status_code == 401
    assert ska.list().get_json()["users"][0]["secret_key"] == "none"
