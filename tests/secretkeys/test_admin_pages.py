"""The Secret Key Administrators' pages (``/admin/secret_keys``) through the Flask test client:
SKAs only (403 page for anyone else, sign-in for visitors), every action behind a
confirmation page and a CSRF-protected form, refusals shown on the list (never a 500), IP
restrictions with each bad entry named, one token revoked, and no key on any page. Chromium
drives the same pages in tests/e2e/test_secret_key_admin_page.py."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.factories import UserInfo
from tests.support.secretkeys import call, issue, latest_link, outbox, signed_in
from tests.support.web import csrf_from

PAGES = "/admin/secret_keys"


@pytest.fixture
def page(app: Flask, ska_user: UserInfo) -> FlaskClient:
    """The SKA's signed-in browser."""
    return signed_in(app, ska_user)


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def status_of(client: FlaskClient, who: UserInfo) -> str:
    listed = text(client.get(PAGES))
    match = re.search(rf'data-user-id="{who.id}" data-status="([a-z_]+)"', listed)
    assert match, listed
    return match.group(1)


def confirm(client: FlaskClient, path: str, **data: Any) -> TestResponse:
    """The confirmation page, then its OK button: what a browser does."""
    shown = client.get(path)
    assert shown.status_code == 200, text(shown)
    return client.post(path, data={"csrf_token": csrf_from(text(shown)), **data})


def claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def notices(response: TestResponse) -> str:
    return " ".join(re.findall(r'data-testid="notice[^"]*">([^<]+)<', text(response)))


# --- who may see the pages ---------------------------------------------------------------


def test_visitors_are_sent_to_sign_in(client, user) -> None:
    for path in (PAGES, f"{PAGES}/{user.id}/add", f"{PAGES}/{user.id}/ip_restrictions"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"] == f"/login?next={path}"


@pytest.mark.parametrize("role", ["member", "admin", "super_admin"])
def test_anyone_but_a_secret_key_administrator_gets_a_403_page(app, make_user, user, role) -> None:
    someone = make_user(role=role, family_id=user.family_id)
    client = signed_in(app, someone)
    for path in (
        PAGES,
        f"{PAGES}/{user.id}/add",
        f"{PAGES}/{user.id}/revoke",
        f"{PAGES}/{user.id}/resend",
        f"{PAGES}/{user.id}/ip_restrictions",
        f"{PAGES}/{user.id}/tokens",
    ):
        response = client.get(path)
        assert response.status_code == 403, path
        assert response.mimetype == "text/html"
        assert "Only Secret Key Administrators can manage secret keys." in text(response)
    assert client.post(f"{PAGES}/{user.id}/add").status_code in (400, 403)
    assert outbox(app, user.email) == []
    assert PAGES not in text(client.get("/"))


def test_the_home_page_links_to_the_pages_for_an_ska(page) -> None:
    assert f'href="{PAGES}"' in text(page.get("/"))


def test_the_pages_take_no_bearer_credential(client, ska_user, jwt) -> None:
    # Even a valid secret-key JWT (alice's) is no browser session: sign in first.
    response = client.get(PAGES, headers={"Authorization": f"Bearer {jwt}"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_pages_are_not_stored(page, user) -> None:
    for path in (PAGES, f"{PAGES}/{user.id}/add"):
        response = page.get(path)
        assert response.headers["Cache-Control"] == "no-store"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]


# --- the list ----------------------------------------------------------------------------


def test_the_list_shows_the_three_statuses(app, page, ska, user, make_user, secret) -> None:
    pending = make_user(email="pending@example.com", family_id=user.family_id)
    nobody = make_user(email="nobody@example.com", family_id=user.family_id)
    assert ska.add(pending).status_code == 201
    outsider = make_user(email="outsider@example.com")  # another family: not listed
    listed = page.get(PAGES)
    assert listed.status_code == 200
    body = text(listed)
    assert status_of(page, user) == "active"
    assert status_of(page, pending) == "pending_reveal"
    assert status_of(page, nobody) == "none"
    assert ">pending reveal<" in body and ">active<" in body and ">none<" in body
    assert outsider.email not in body
    # The actions follow the status, as labelled links.
    assert f'aria-label="Add a secret key for {nobody.email}"' in body
    assert f'aria-label="Resend the reveal link to {pending.email}"' in body
    assert f'aria-label="Revoke the secret key of {pending.email}"' in body
    assert f'aria-label="IP restrictions of {pending.email}"' in body
    assert f'aria-label="Tokens of {user.email}"' in body
    assert f'aria-label="Resend the reveal link to {user.email}"' not in body
    assert secret not in body


def test_the_list_paginates(page, user, make_user) -> None:
    for n in range(26):
        make_user(email=f"u{n:02d}@example.com", family_id=user.family_id)
    first = text(page.get(PAGES))
    assert "Page 1 of 2" in first and f"{PAGES}?page=2" in first
    second = text(page.get(f"{PAGES}?page=2"))
    assert "Page 2 of 2" in second and "u25@example.com" in second  # sorted by email
    for junk in ("nonsense", "0", "-1", "9" * 40):
        assert page.get(f"{PAGES}?page={junk}").status_code == 200


# --- adding, re-sending, revoking ----------------------------------------------------------


def test_the_add_confirmation_changes_nothing(app, page, user) -> None:
    shown = page.get(f"{PAGES}/{user.id}/add")
    assert shown.status_code == 200
    assert f"Add a secret key for {user.email}? An email with a reveal link will be sent." in text(
        shown
    )
    assert ">OK</button>" in text(shown) and ">Cancel</a>" in text(shown)
    assert outbox(app, user.email) == []
    assert status_of(page, user) == "none"


def test_add_mails_the_link_and_the_status_becomes_pending(app, page, user) -> None:
    response = confirm(page, f"{PAGES}/{user.id}/add")
    assert response.status_code == 303
    assert response.headers["Location"] == PAGES
    listed = page.get(PAGES)
    assert "reveal link was emailed" in notices(listed)
    assert status_of(page, user) == "pending_reveal"
    [message] = outbox(app, user.email)
    assert message["subject"] == "SureCloud: Restful API Secret Key"
    assert latest_link(app, user.email).startswith("/secret_key/reveal/tgv_")


def test_a_second_add_is_a_message_on_the_list_not_an_error_page(app, page, user, added) -> None:
    response = confirm(page, f"{PAGES}/{user.id}/add")
    assert response.status_code == 303
    listed = page.get(PAGES)
    assert listed.status_code == 200
    assert "already has a secret key" in notices(listed)
    assert 'role="alert"' in text(listed)
    assert len(outbox(app, user.email)) == 1


def test_an_inactive_user_gets_no_key_and_a_message(app, page, make_user, user) -> None:
    from app.extensions import db
    from app.identity.models import User

    gone = make_user(email="gone@example.com", family_id=user.family_id)
    with app.app_context():
        db.session.get(User, gone.id).active = False
        db.session.commit()
    response = confirm(page, f"{PAGES}/{gone.id}/add")
    assert response.status_code == 303
    assert "The user is not active" in notices(page.get(PAGES))
    assert outbox(app, gone.email) == []


def test_resend_supersedes_the_earlier_link(app, page, user, added) -> None:
    shown = page.get(f"{PAGES}/{user.id}/resend")
    assert "A new reveal link is emailed; earlier links stop working." in text(shown)
    assert len(outbox(app, user.email)) == 1  # the GET sent nothing
    response = confirm(page, f"{PAGES}/{user.id}/resend")
    assert response.status_code == 303
    assert "new reveal link was emailed" in notices(page.get(PAGES))
    assert len(outbox(app, user.email)) == 2
    assert latest_link(app, user.email) != added
    assert signed_in(app, user).get(added).status_code == 410


def test_resend_after_the_reveal_is_a_message(app, page, user, secret) -> None:
    confirm(page, f"{PAGES}/{user.id}/resend")
    assert "already been revealed" in notices(page.get(PAGES))
    assert len(outbox(app, user.email)) == 1


def test_revoke_stops_the_tokens(app, page, client, user, jwt) -> None:
    shown = page.get(f"{PAGES}/{user.id}/revoke")
    assert "Every token issued with this key stops working at once." in text(shown)
    assert call(client, jwt).status_code == 200  # the GET revoked nothing
    response = confirm(page, f"{PAGES}/{user.id}/revoke")
    assert response.status_code == 303
    assert "revoked" in notices(page.get(PAGES))
    assert status_of(page, user) == "none"
    assert call(client, jwt).status_code == 401


def test_revoke_without_a_key_is_a_message(page, user) -> None:
    confirm(page, f"{PAGES}/{user.id}/revoke")
    assert "The user has no secret key" in notices(page.get(PAGES))


# --- IP restrictions ---------------------------------------------------------------------


def test_restrictions_save_and_name_each_bad_entry(app, page, client, user, secret) -> None:
    path = f"{PAGES}/{user.id}/ip_restrictions"
    shown = page.get(path)
    assert shown.status_code == 200
    assert "No restrictions: the user's tokens work from any address." in text(shown)

    typed = "203.0.113.7, 300.1.1.1, 10.0.0.0/33"
    refused = page.post(path, data={"csrf_token": csrf_from(text(shown)), "restrictions": typed})
    assert refused.status_code == 422
    body = text(refused)
    assert "300.1.1.1" in re.search(r'data-testid="restrictions-errors".*?</div>', body, re.S)[0]  # type: ignore[index]
    assert "10.0.0.0/33" in body
    assert f">{typed}</textarea>" in body  # what was typed is kept
    assert 'aria-invalid="true"' in body

    good = "203.0.113.7, 192.168.1.10-192.168.1.20, 10.0.0.0/8, office.example.com"
    saved = page.post(path, data={"csrf_token": csrf_from(body), "restrictions": good})
    assert saved.status_code == 303
    assert "4 entries" in notices(page.get(PAGES))
    again = text(page.get(path))
    for kind, value in (
        ("ip", "203.0.113.7"),
        ("range", "192.168.1.10-192.168.1.20"),
        ("cidr", "10.0.0.0/8"),
        ("hostname", "office.example.com"),
    ):
        assert f"<td>{kind}</td><td><code>{value}</code></td>" in again
    jwt = issue(client, user.email, secret).get_data(as_text=True)
    assert call(client, jwt, ip="198.51.100.1").status_code == 401
    assert call(client, jwt, ip="203.0.113.7").status_code == 200

    cleared = page.post(path, data={"csrf_token": csrf_from(again), "restrictions": ""})
    assert cleared.status_code == 303
    assert "cleared" in notices(page.get(PAGES))
    assert call(client, jwt, ip="198.51.100.1").status_code == 200


def test_restrictions_need_a_key(page, user) -> None:
    response = page.get(f"{PAGES}/{user.id}/ip_restrictions")
    assert response.status_code == 303
    assert "add one first" in notices(page.get(PAGES))


# --- tokens ------------------------------------------------------------------------------


def test_one_token_is_revoked_behind_a_confirmation(app, page, client, user, secret) -> None:
    first = issue(client, user.email, secret).get_data(as_text=True)
    second = issue(client, user.email, secret).get_data(as_text=True)
    listed = text(page.get(f"{PAGES}/{user.id}/tokens"))
    jtis = re.findall(r'data-jti="([^"]+)"', listed)
    assert len(jtis) == 2
    assert first not in listed and second not in listed and secret not in listed
    jti = claims(first)["jti"]
    assert jti in jtis
    path = f"{PAGES}/{user.id}/tokens/{jti}/revoke"
    assert "It stops working at once" in text(page.get(path))
    assert call(client, first).status_code == 200  # the GET revoked nothing
    response = confirm(page, path)
    assert response.status_code == 303
    assert response.headers["Location"] == f"{PAGES}/{user.id}/tokens"
    assert f"Token {jti} revoked" in notices(page.get(f"{PAGES}/{user.id}/tokens"))
    assert call(client, first).status_code == 401
    assert call(client, second).status_code == 200
    assert page.get(f"{PAGES}/{user.id}/tokens/nonsense/revoke").status_code == 404


# --- tenancy and CSRF ----------------------------------------------------------------------


def test_another_familys_user_is_the_404_page(app, page, make_user, user) -> None:
    outsider = make_user(email="outsider@example.com")
    for path in (
        f"{PAGES}/{outsider.id}/add",
        f"{PAGES}/{outsider.id}/revoke",
        f"{PAGES}/{outsider.id}/resend",
        f"{PAGES}/{outsider.id}/ip_restrictions",
        f"{PAGES}/{outsider.id}/tokens",
        f"{PAGES}/not-a-uuid/add",
    ):
        response = page.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html"
    csrf = csrf_from(text(page.get(f"{PAGES}/{user.id}/add")))
    assert page.post(f"{PAGES}/{outsider.id}/add", data={"csrf_token": csrf}).status_code == 404
    assert outbox(app, outsider.email) == []


def test_a_post_without_the_csrf_token_is_refused(app, page, user) -> None:
    response = page.post(f"{PAGES}/{user.id}/add")
    assert response.status_code == 400
    assert "invalid_csrf_token" in text(response)
    assert outbox(app, user.email) == []
    forged = page.post(f"{PAGES}/{user.id}/add", data={"csrf_token": "forged"})
    assert forged.status_code == 400
    assert status_of(page, user) == "none"
