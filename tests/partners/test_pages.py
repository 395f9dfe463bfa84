"""The partner's organisations page through the Flask test client (the Chromium journey is in
tests/e2e/test_partner_organizations_page.py): the browser session only, partners only,
CSRF-protected forms, the ssoSecret shown once, rotation behind a confirmation."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tests.support.http import bearer
from tests.support.partners import admin_token
from tests.support.web import csrf_from, login

PAGE = "/partner/organizations"
SECRET_RE = re.compile(r'id="sso-secret" value="([A-Za-z0-9_-]{43})"')
ID_RE = re.compile(r'id="organization-id" value="([0-9a-f-]{36})"')


def _browser(app, who) -> FlaskClient:  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert login(client, who.email, who.password).status_code == 302
    return client


def _create(client: FlaskClient, name: str):  # type: ignore[no-untyped-def]
    page = client.get(PAGE)
    return client.post(
        PAGE, data={"name": name, "csrf_token": csrf_from(page.get_data(as_text=True))}
    )


def test_signed_out_visitors_are_sent_to_sign_in(client) -> None:
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_a_user_who_is_not_a_partner_gets_a_403_page(app, user) -> None:
    response = _browser(app, user).get(PAGE)
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "Only partner users can manage organizations." in response.get_data(as_text=True)


def test_a_bearer_token_does_not_open_the_page(app, partner) -> None:
    response = app.test_client().get(PAGE, headers=partner.headers)
    assert response.status_code == 302  # the page knows only the browser session


def test_create_shows_the_secret_once_and_lists_the_organization(app, partner_user) -> None:
    browser = _browser(app, partner_user)
    empty = browser.get(PAGE)
    assert empty.status_code == 200
    assert 'data-testid="no-organizations"' in empty.get_data(as_text=True)
    assert "no-store" in empty.headers["Cache-Control"]

    created = _create(browser, "Fleet West")
    assert created.status_code == 201
    html = created.get_data(as_text=True)
    secret = SECRET_RE.search(html)
    organization_id = ID_RE.search(html)
    assert secret and organization_id
    assert 'data-copy="sso-secret"' in html
    assert "no-store" in created.headers["Cache-Control"]
    assert "script-src 'self'" in created.headers["Content-Security-Policy"]
    assert "https://" not in html.replace("https://auth.tollgate.test", "")  # no external CDN

    # The secret works (the exchange), and the list shows the organisation, never the secret.
    token = admin_token(app.test_client(), secret.group(1), organization_id.group(1))
    assert app.test_client().get("/api/v1/tasks", headers=bearer(token)).status_code == 200
    listed = browser.get(PAGE).get_data(as_text=True)
    assert "Fleet West" in listed and organization_id.group(1) in listed
    assert secret.group(1) not in listed


def test_the_page_and_the_api_list_the_same_organizations(app, partner, partner_user) -> None:
    made = partner.organization("Made through the API")
    listed = _browser(app, partner_user).get(PAGE).get_data(as_text=True)
    assert made["organizationId"] in listed and made["ssoSecret"] not in listed


def test_a_blank_name_shows_the_form_again_with_the_error(app, partner_user) -> None:
    response = _create(_browser(app, partner_user), "   ")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html and "name is required" in html
    assert 'aria-invalid="true"' in html


def test_forms_need_the_csrf_token(app, partner_user) -> None:
    browser = _browser(app, partner_user)
    refused = browser.post(PAGE, data={"name": "forged"})
    assert refused.status_code in (400, 403)
    assert 'data-testid="no-organizations"' in browser.get(PAGE).get_data(as_text=True)


def test_rotation_asks_first_then_shows_the_new_secret_once(app, partner, partner_user) -> None:
    made = partner.organization("Fleet East")
    organization_id = made["organizationId"]
    kept = admin_token(app.test_client(), made["ssoSecret"], organization_id)
    browser = _browser(app, partner_user)

    confirm = browser.get(f"{PAGE}/{organization_id}/rotate")
    assert confirm.status_code == 200
    html = confirm.get_data(as_text=True)
    assert "Fleet East" in html and 'name="revoke_tokens" value="yes" checked' in html
    # Nothing rotated by looking at the confirmation page.
    assert admin_token(app.test_client(), made["ssoSecret"], organization_id)

    rotated = browser.post(
        f"{PAGE}/{organization_id}/rotate",
        data={"csrf_token": csrf_from(html), "revoke_tokens": "yes"},
    )
    assert rotated.status_code == 200
    secret = SECRET_RE.search(rotated.get_data(as_text=True))
    assert secret and secret.group(1) != made["ssoSecret"]
    assert app.test_client().get("/api/v1/tasks", headers=bearer(kept)).status_code == 401
    assert admin_token(app.test_client(), secret.group(1), organization_id)


def test_rotation_can_keep_the_tokens(app, partner, partner_user) -> None:
    made = partner.organization("Fleet North")
    kept = admin_token(app.test_client(), made["ssoSecret"], made["organizationId"])
    browser = _browser(app, partner_user)
    html = browser.get(f"{PAGE}/{made['organizationId']}/rotate").get_data(as_text=True)
    rotated = browser.post(
        f"{PAGE}/{made['organizationId']}/rotate", data={"csrf_token": csrf_from(html)}
    )
    assert rotated.status_code == 200
    assert app.test_client().get("/api/v1/tasks", headers=bearer(kept)).status_code == 200


def test_another_partners_organization_is_a_404_page(app, make_partner, sign_in) -> None:
    rival = make_partner("rival@example.com")
    theirs = sign_in(rival).organization("Rival Org")
    me = make_partner("me@example.com")
    browser = _browser(app, me)
    assert browser.get(f"{PAGE}/{theirs['organizationId']}/rotate").status_code == 404
    html = browser.get(PAGE).get_data(as_text=True)
    forged = browser.post(
        f"{PAGE}/{theirs['organizationId']}/rotate", data={"csrf_token": csrf_from(html)}
    )
    assert forged.status_code == 404
