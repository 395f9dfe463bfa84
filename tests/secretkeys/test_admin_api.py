"""The Secret Key Administrators' API (reference §4.4): who may call it, within which tenant,
and what each action answers. The key itself never appears in any of it (T4, T30)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from app.clock import utcnow
from tests.support.factories import grant_role as grant
from tests.support.oauth import authorize, exchange_code
from tests.support.secretkeys import (
    ADMIN,
    issue,
    latest_link,
    outbox,
    reveal,
    signed_in,
)
from tests.support.web import login

# --- who may administer -----------------------------------------------------------------------


def test_a_member_without_the_role_gets_403(app, as_admin, make_user, user) -> None:
    member = as_admin(make_user(family_id=user.family_id))
    assert member.list().status_code == 403
    assert member.add(user).status_code == 403
    assert member.revoke(user).status_code == 403
    assert member.resend(user).status_code == 403
    assert member.restrictions(user).status_code == 403
    assert member.restrict(user, "10.0.0.1").status_code == 403
    assert member.revoke_token("x").status_code == 403


@pytest.mark.parametrize("role", ["admin", "super_admin"])
def test_an_admin_without_the_granted_role_gets_403(app, as_admin, make_user, user, role) -> None:
    admin = as_admin(make_user(role=role, family_id=user.family_id))
    response = admin.add(user)
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"
    assert admin.list().status_code == 403
    assert outbox(app, user.email) == []


def test_a_user_of_another_family_is_a_404(app, ska, make_user) -> None:
    stranger = make_user(email="stranger@example.com")  # a family of their own
    for response in (
        ska.add(stranger),
        ska.revoke(stranger),
        ska.resend(stranger),
        ska.restrictions(stranger),
        ska.restrict(stranger, "10.0.0.1"),
        ska.tokens(stranger),
        ska.add(str(uuid.uuid4())),
        ska.add("not-a-uuid"),
    ):
        assert response.status_code == 404, response.get_json()
    assert outbox(app, stranger.email) == []


def test_another_familys_ska_cannot_see_or_touch_the_key(app, as_admin, make_user, user, added):
    other = make_user(email="other-ska@example.com")
    grant(app, other, "secret_key_administrator")
    foreign = as_admin(other)
    assert foreign.revoke(user).status_code == 404
    assert str(user.id) not in foreign.list().get_data(as_text=True)


def test_without_credentials_401(client, user) -> None:
    assert client.get(f"{ADMIN}/secret_keys").status_code == 401
    assert client.post(f"{ADMIN}/users/{user.id}/secret_key").status_code == 401


def test_session_writes_need_the_csrf_token(app, ska_user, user) -> None:
    client = signed_in(app, ska_user)
    assert client.post(f"{ADMIN}/users/{user.id}/secret_key").status_code in (400, 403)
    assert outbox(app, user.email) == []


def test_a_third_party_apps_token_is_refused(app, ska_user, make_client) -> None:
    client = app.test_client()
    assert login(client, ska_user.email, ska_user.password).status_code == 302
    third_party = make_client(name="Third party")
    token = exchange_code(client, third_party, authorize(client, third_party, scope="read_write"))
    response = app.test_client().get(
        f"{ADMIN}/secret_keys",
        headers={"Authorization": f"Bearer {token.get_json()['access_token']}"},
    )
    assert response.status_code == 403


def test_an_api_key_is_refused(app, ska_user, make_key) -> None:
    key = make_key(ska_user)
    response = app.test_client().get(f"{ADMIN}/secret_keys", headers={"X-Api-Key": key})
    assert response.status_code == 403


def test_a_revoked_role_applies_to_the_next_request(app, ska, ska_user, user) -> None:
    from app.extensions import db
    from app.identity import grants
    from app.identity.models import User

    assert ska.list().status_code == 200
    with app.app_context():
        grants.revoke_role(
            db.session.get(User, ska_user.id),
            "secret_key_administrator",
            granter=None,
            now=utcnow(),
        )
    assert ska.list().status_code == 403


# --- the list -----------------------------------------------------------------------------------


def test_the_list_shows_every_family_member_with_key_status(app, ska, user, make_user) -> None:
    bob = make_user(email="bob@example.com", family_id=user.family_id, first_name="Bob")
    make_user(email="elsewhere@example.com")  # another family: not listed
    listed = ska.list()
    assert listed.status_code == 200
    body = listed.get_json()
    by_email = {row["email"]: row for row in body["users"]}
    assert set(by_email) == {"alice@example.com", "bob@example.com", "ska@example.com"}
    assert all(row["secret_key"] == "none" for row in body["users"])
    assert body["pagination"]["total_count"] == 3

    assert ska.add(bob).status_code == 201
    row = {r["email"]: r for r in ska.list().get_json()["users"]}["bob@example.com"]
    assert row["secret_key"] == "pending_reveal"
    assert row["name"] == "Bob"
    assert row["created_at"].endswith("Z")
    assert row["revealed_at"] is None
    assert row["reveal_link_expires_at"].endswith("Z")
    assert row["ip_restrictions_count"] == 0


def test_the_list_paginates(app, ska, user, make_user) -> None:
    for n in range(4):
        make_user(email=f"member{n}@example.com", family_id=user.family_id)
    first = ska.list(page=1, per_page=2).get_json()
    second = ska.list(page=3, per_page=2).get_json()
    assert len(first["users"]) == 2
    assert first["pagination"] == {"page": 1, "per_page": 2, "total_count": 6, "total_pages": 3}
    assert len(second["users"]) == 2
    assert ska.list(per_page=0).status_code == 422


def test_the_list_follows_the_keys_life(app, ska, user, added) -> None:
    def status() -> dict:
        return {r["email"]: r for r in ska.list().get_json()["users"]}[user.email]

    assert status()["secret_key"] == "pending_reveal"
    assert reveal(signed_in(app, user), added).status_code == 200
    revealed = status()
    assert revealed["secret_key"] == "active"
    assert revealed["revealed_at"].endswith("Z")
    assert revealed["reveal_link_expires_at"] is None
    assert ska.restrict(user, "10.0.0.0/8, 192.0.2.1").status_code == 200
    assert status()["ip_restrictions_count"] == 2
    assert ska.revoke(user).status_code == 200
    assert status()["secret_key"] == "none"


# --- add ------------------------------------------------------------------------------------------


def test_add_answers_201_and_mails_the_link_never_a_key(app, ska, user, ska_user) -> None:
    response = ska.add(user)
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"user_id", "status", "reveal_link_expires_at"}
    assert body["user_id"] == str(user.id)
    assert body["status"] == "pending_reveal"

    [message] = outbox(app, user.email)
    assert message["subject"] == "SureCloud: Restful API Secret Key"
    text = message["body"]
    assert text.startswith("Dear Alice,\n")
    assert "A secret key has been generated" in text
    assert "The link will be active for 7 days." in text
    assert "https://auth.tollgate.test/secret_key/reveal/tgv_" in text
    assert (
        "For guidance on how to use our Restful API, see https://auth.tollgate.test/api/docs"
        in text
    )
    assert "Please keep your secret key safe at all times" in text
    assert text.rstrip().endswith("Kind regards,\n\nSureCloud")
    assert message["sent_at"] is not None  # delivered right after the commit

    from app.extensions import db
    from app.secretkeys.models import RevealLink, SecretKey

    with app.app_context():
        key = db.session.scalar(select(SecretKey))
        assert key.key_digest is None  # no key exists before the reveal (D9)
        assert key.created_by_user_id == ska_user.id
        link = db.session.scalar(select(RevealLink))
        path = latest_link(app, user.email)
        assert link.token_digest not in path and path.split("/")[-1] not in link.token_digest
        assert (link.expires_at - link.created_at).days == 7


@pytest.mark.config(
    MAIL_PRODUCT_NAME="Acme Cloud",
    SECRET_KEY_API_GUIDE_URL="https://docs.acme.test/api",
    APP_URL="",
)
def test_product_name_guide_and_base_url_are_configurable(app, ska, make_user, user) -> None:
    unnamed = make_user(email="unnamed@example.com", family_id=user.family_id)
    assert ska.add(unnamed).status_code == 201
    [message] = outbox(app, unnamed.email)
    assert message["subject"] == "Acme Cloud: Restful API Secret Key"
    assert message["body"].startswith("Dear unnamed@example.com,\n")  # no first name
    assert "http://localhost/secret_key/reveal/tgv_" in message["body"]  # the request's base
    assert "see https://docs.acme.test/api" in message["body"]
    assert message["body"].rstrip().endswith("Acme Cloud")


def test_a_second_add_is_a_409(app, ska, user, added) -> None:
    response = ska.add(user)
    assert response.status_code == 409
    assert response.get_json()["error"] == "secret_key_exists"
    assert len(outbox(app, user.email)) == 1


def test_an_inactive_user_gets_no_key(app, ska, make_user, user) -> None:
    from app.extensions import db
    from app.identity.models import User

    gone = make_user(email="gone@example.com", family_id=user.family_id)
    with app.app_context():
        db.session.get(User, gone.id).active = False
        db.session.commit()
    response = ska.add(gone)
    assert response.status_code == 422
    assert outbox(app, gone.email) == []


def test_a_failed_mail_server_does_not_fail_the_add(app, ska, user) -> None:
    app.config.update(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=9, MAIL_TIMEOUT=1)
    response = ska.add(user)
    assert response.status_code == 201
    [message] = outbox(app, user.email)
    assert message["sent_at"] is None  # still in the outbox, for the next delivery


# --- revoke -------------------------------------------------------------------------------------


def test_revoke_answers_200_and_a_second_revoke_404(app, ska, user, added) -> None:
    response = ska.revoke(user)
    assert response.status_code == 200
    assert response.get_json() == {"user_id": str(user.id), "status": "revoked"}
    assert ska.revoke(user).status_code == 404
    # The pending key's link died with it.
    page = signed_in(app, user).get(added)
    assert page.status_code == 410


def test_revoke_without_a_key_is_a_404(ska, user) -> None:
    assert ska.revoke(user).status_code == 404


# --- resend -------------------------------------------------------------------------------------


def test_resend_supersedes_the_earlier_link(app, ska, user, added) -> None:
    response = ska.resend(user)
    assert response.status_code == 202
    assert response.get_json()["status"] == "pending_reveal"
    newer = latest_link(app, user.email)
    assert newer != added
    assert len(outbox(app, user.email)) == 2
    browser = signed_in(app, user)
    assert browser.get(added).status_code == 410
    assert reveal(browser, newer).status_code == 200


def test_resend_after_the_reveal_is_a_409(app, ska, user, secret) -> None:
    response = ska.resend(user)
    assert response.status_code == 409
    assert response.get_json()["error"] == "key_already_revealed"


def test_resend_without_a_key_is_a_404(ska, user) -> None:
    assert ska.resend(user).status_code == 404


# --- the key is nowhere ---------------------------------------------------------------------


def test_the_key_never_appears_in_admin_responses_mail_or_audit(app, ska, user, secret, client):
    assert issue(client, user.email, secret).status_code == 200
    seen = [
        ska.list().get_data(as_text=True),
        ska.restrictions(user).get_data(as_text=True),
        ska.restrict(user, "203.0.113.7").get_data(as_text=True),
        ska.tokens(user).get_data(as_text=True),
        ska.revoke(user).get_data(as_text=True),
    ]
    seen += [m["body"] for m in outbox(app, user.email)]

    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        events = db.session.scalars(select(AuditEvent)).all()
        seen += [repr((e.event, e.details)) for e in events]
        names = {e.event for e in events}
    assert {
        "secret_key.created",
        "secret_key.reveal_link_sent",
        "secret_key.revealed",
        "secret_key.token_issued",
        "secret_key.restrictions_changed",
        "secret_key.revoked",
    } <= names
    for text in seen:
        assert secret not in text
        assert secret.replace("-", "") not in text


def test_audit_events_carry_correlation_ids(app, ska, user) -> None:
    response = ska.client.post(
        f"{ADMIN}/users/{user.id}/secret_key",
        headers={**ska.headers, "X-Correlation-ID": "add-key-1"},
    )
    assert response.status_code == 201
    from app.audit.models import AuditEvent
    from app.extensions import db

    with app.app_context():
        created = db.session.scalar(
            select(AuditEvent).where(AuditEvent.event == "secret_key.created")
        )
        assert created.correlation_id == "add-key-1"
        assert created.details["user_id"] == str(user.id)


def test_the_administrator_may_use_their_own_secret_key_jwt(app, ska, ska_user, make_user, user):
    """The SKA's own secret-key JWT is their own credential (first-party): it administers."""
    assert ska.add(ska_user).status_code == 201
    page = reveal(signed_in(app, ska_user), latest_link(app, ska_user.email))
    from tests.support.secretkeys import key_from

    token = issue(app.test_client(), ska_user.email, key_from(page)).get_data(as_text=True)
    response = app.test_client().post(
        f"{ADMIN}/users/{user.id}/secret_key", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201
