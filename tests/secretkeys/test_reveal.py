"""The Reveal Secret page (seed 000, T3): login-then-return for a signed-out user, 403 for the
wrong user (the link survives), a confirmation page that never consumes the link, one reveal
by POST, 410 for expired, used or superseded links, and no-store / no-referrer on every
response. Also the JSON variant."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.clock import utcnow
from tests.support.secretkeys import (
    issue,
    key_from,
    latest_link,
    reveal,
    signed_in,
)
from tests.support.web import csrf_from, login

UUID4_LENGTH = 36


def assert_private(response) -> None:  # type: ignore[no-untyped-def]
    assert "no-store" in response.headers["Cache-Control"]
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_signed_out_goes_to_login_and_comes_back_to_reveal(app, added, user) -> None:
    client = app.test_client()
    first = client.get(added)
    assert first.status_code == 302
    assert_private(first)
    location = first.headers["Location"]
    assert location == f"/login?next={added}"

    signed = login(client, user.email, user.password, next_path=added)
    assert signed.status_code == 302
    assert signed.headers["Location"] == added  # back to the Reveal Secret page
    page = client.get(added)
    assert page.status_code == 200
    assert "Reveal my secret key" in page.get_data(as_text=True)
    revealed = client.post(added, data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert revealed.status_code == 200
    assert len(key_from(revealed)) == UUID4_LENGTH


def test_a_signed_out_post_goes_to_login_and_consumes_nothing(app, added, user) -> None:
    response = app.test_client().post(added)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert reveal(signed_in(app, user), added).status_code == 200


def test_the_wrong_user_gets_403_and_the_link_still_works(app, added, user, make_user) -> None:
    mallory = make_user(email="mallory@example.com", family_id=user.family_id)
    intruder = signed_in(app, mallory)
    page = intruder.get(added)
    assert page.status_code == 403
    assert_private(page)
    assert "You do not have permission to reveal this key" in page.get_data(as_text=True)
    # Even a forged POST with a valid form token of the intruder's own session is refused.
    own_token = csrf_from(intruder.get("/account/security").get_data(as_text=True))
    posted = intruder.post(added, data={"csrf_token": own_token})
    assert posted.status_code == 403
    assert "secret-key" not in posted.get_data(as_text=True)

    revealed = reveal(signed_in(app, user), added)
    assert revealed.status_code == 200
    assert len(key_from(revealed)) == UUID4_LENGTH


def test_get_never_consumes_the_link(app, added, user) -> None:
    browser = signed_in(app, user)
    for _ in range(3):  # a mail scanner, a preview, the user
        page = browser.get(added)
        assert page.status_code == 200
        assert_private(page)
        assert "secret-key" not in page.get_data(as_text=True)
    from app.extensions import db
    from app.secretkeys.models import RevealLink, SecretKey

    with app.app_context():
        assert db.session.scalar(select(RevealLink.used_at)) is None
        assert db.session.scalar(select(SecretKey.status)) == "pending_reveal"
    assert reveal(browser, added).status_code == 200


def test_post_reveals_once_and_stores_only_the_digest(app, added, user) -> None:
    browser = signed_in(app, user)
    page = browser.get(added)
    token = csrf_from(page.get_data(as_text=True))
    first = browser.post(added, data={"csrf_token": token})
    assert first.status_code == 200
    assert_private(first)
    key = key_from(first)
    assert uuid.UUID(key).version == 4

    second = browser.post(added, data={"csrf_token": token})
    assert second.status_code == 410
    assert_private(second)
    assert key not in second.get_data(as_text=True)
    assert "Ask your Secret Key Administrator for a new link" in second.get_data(as_text=True)
    assert browser.get(added).status_code == 410

    from app import crypto
    from app.extensions import db
    from app.secretkeys.models import SecretKey

    with app.app_context():
        stored = db.session.scalar(select(SecretKey))
        assert stored.status == "active"
        assert stored.key_digest == crypto.digest(key)
        assert stored.revealed_at is not None


def test_the_reveal_post_needs_the_csrf_token(app, added, user) -> None:
    browser = signed_in(app, user)
    browser.get(added)
    assert browser.post(added, data={}).status_code == 400
    assert browser.post(added, data={"csrf_token": "forged"}).status_code == 400
    assert reveal(browser, added).status_code == 200  # the link was not consumed


def test_a_browser_post_from_the_no_referrer_page_is_accepted(app, added, user) -> None:
    """Under ``Referrer-Policy: no-referrer`` browsers post the form with ``Origin: null`` and
    ``Sec-Fetch-Site: same-origin`` (checked in Chromium): that, with the token, passes."""
    browser = signed_in(app, user)
    token = csrf_from(browser.get(added).get_data(as_text=True))
    headers = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    response = browser.post(added, data={"csrf_token": token}, headers=headers)
    assert response.status_code == 200
    assert len(key_from(response)) == UUID4_LENGTH


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "null"},  # no Fetch Metadata: cannot tell our form from a sandboxed frame
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"},
        {"Referer": "https://evil.example/page"},
    ],
)
def test_a_cross_site_post_is_refused_even_with_the_token(app, added, user, headers) -> None:
    browser = signed_in(app, user)
    token = csrf_from(browser.get(added).get_data(as_text=True))
    response = browser.post(added, data={"csrf_token": token}, headers=headers)
    assert response.status_code == 400
    assert_private(response)
    assert reveal(browser, added).status_code == 200


def test_an_expired_link_is_410(app, added, user) -> None:
    from app.extensions import db
    from app.secretkeys.models import RevealLink

    with app.app_context():
        db.session.execute(update(RevealLink).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    browser = signed_in(app, user)
    page = browser.get(added)
    assert page.status_code == 410
    assert "expired or has already been used" in page.get_data(as_text=True)
    token = csrf_from(browser.get("/account/security").get_data(as_text=True))
    assert browser.post(added, data={"csrf_token": token}).status_code == 410


def test_the_link_lasts_seven_days(app, ska, user) -> None:
    """Service level, with time passed in: usable just before 7 days, gone just after."""
    from app.extensions import db
    from app.identity.models import User
    from app.secretkeys.errors import RevealLinkGone
    from app.secretkeys.services import keys
    from app.secretkeys.services import reveal as revealing

    now = utcnow()
    with app.app_context():
        target = db.session.get(User, user.id)
        keys.add_secret_key(target, actor_id=None, now=now, request_base_url=None)
    token = latest_link(app, user.email).rsplit("/", 1)[1]
    with app.app_context():
        revealing.check_reveal_link(token, user_id=user.id, now=now + timedelta(days=7, seconds=-1))
        with pytest.raises(RevealLinkGone):
            revealing.check_reveal_link(token, user_id=user.id, now=now + timedelta(days=7))
        with pytest.raises(RevealLinkGone):
            revealing.reveal(token, user_id=user.id, now=now + timedelta(days=8))
        key = revealing.reveal(token, user_id=user.id, now=now + timedelta(days=6))
        assert len(key) == UUID4_LENGTH


def test_an_unknown_link_is_410(app, user, added) -> None:
    browser = signed_in(app, user)
    assert browser.get("/secret_key/reveal/tgv_unknown").status_code == 410
    assert browser.get("/secret_key/reveal/" + "x" * 300).status_code == 410


def test_a_superseded_link_is_410_and_the_new_one_works(app, ska, added, user) -> None:
    assert ska.resend(user).status_code == 202
    newer = latest_link(app, user.email)
    browser = signed_in(app, user)
    assert browser.get(added).status_code == 410
    assert reveal(browser, newer).status_code == 200


def test_a_link_of_a_revoked_key_is_410(app, ska, added, user) -> None:
    assert ska.revoke(user).status_code == 200
    assert signed_in(app, user).get(added).status_code == 410


def test_the_revealed_key_gets_a_token(app, secret, user, client) -> None:
    response = issue(client, user.email, secret)
    assert response.status_code == 200


def test_the_revealed_page_has_a_copy_button_served_from_this_origin(app, added, user) -> None:
    page = reveal(signed_in(app, user), added)
    html = page.get_data(as_text=True)
    assert 'id="copy-secret-key"' in html
    assert '<script src="/secret_key/static/copy.js"></script>' in html
    assert "Content-Security-Policy" in page.headers
    script = app.test_client().get("/secret_key/static/copy.js")
    assert script.status_code == 200
    assert "clipboard" in script.get_data(as_text=True)


def test_a_bearer_jwt_is_no_session_on_the_reveal_page(app, ska, jwt, make_user, user) -> None:
    """JWTs are for the REST API only (000.8): the page knows only the browser session."""
    bob = make_user(email="bob@example.com", family_id=user.family_id)
    assert ska.add(bob).status_code == 201
    path = latest_link(app, bob.email)
    response = app.test_client().get(path, headers={"Authorization": f"Bearer {jwt}"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


# --- the JSON variant ---------------------------------------------------------------------------


def test_json_reveal_with_the_session_and_csrf_header(app, added, user) -> None:
    browser = signed_in(app, user)
    token = csrf_from(browser.get("/account/security").get_data(as_text=True))
    link_token = added.rsplit("/", 1)[1]
    without = browser.post("/api/v1/secret_key/reveal", json={"token": link_token})
    assert without.status_code == 400  # no CSRF header
    response = browser.post(
        "/api/v1/secret_key/reveal", json={"token": link_token}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 200
    assert_private(response)
    body = response.get_json()
    assert body["user_id"] == str(user.id)
    assert uuid.UUID(body["secret_key"]).version == 4
    again = browser.post(
        "/api/v1/secret_key/reveal", json={"token": link_token}, headers={"X-CSRFToken": token}
    )
    assert again.status_code == 410
    assert again.get_json()["error"] == "reveal_link_gone"
    assert_private(again)


def test_json_reveal_refuses_the_wrong_user_and_bearer_tokens(app, added, user, make_user, jwt):
    link_token = added.rsplit("/", 1)[1]
    mallory = signed_in(app, make_user(email="mallory@example.com", family_id=user.family_id))
    token = csrf_from(mallory.get("/account/security").get_data(as_text=True))
    refused = mallory.post(
        "/api/v1/secret_key/reveal", json={"token": link_token}, headers={"X-CSRFToken": token}
    )
    assert refused.status_code == 403
    by_jwt = app.test_client().post(
        "/api/v1/secret_key/reveal",
        json={"token": link_token},
        headers={"Authorization": f"Bearer {jwt}"},
    )
    assert by_jwt.status_code == 403
    assert app.test_client().post("/api/v1/secret_key/reveal", json={}).status_code == 401


def test_reveal_tokens_are_masked_in_access_logs(app, caplog) -> None:
    """gunicorn's access log passes its atoms as a mapping, Werkzeug's a formatted line."""
    import logging

    with caplog.at_level(logging.INFO):
        logging.getLogger("gunicorn.access").info(
            '%(r)s %(s)s "%(f)s"',
            {
                "r": "GET /secret_key/reveal/tgv_abc-DEF_123 HTTP/1.1",
                "s": "200",
                "f": "https://auth.example/login?next=/secret_key/reveal/tgv_zzz9",
            },
        )
        logging.getLogger("werkzeug").info(
            "%s - - [%s] %s", "127.0.0.1", "now", '"POST /secret_key/reveal/tgv_q1 HTTP/1.1" 200 -'
        )
    assert "tgv_abc" not in caplog.text
    assert "tgv_zzz9" not in caplog.text
    assert "tgv_q1" not in caplog.text
    assert caplog.text.count("/secret_key/reveal/tgv_[redacted]") == 3
