"""The tenant administration pages through the Flask test client (the browser flows are in
tests/e2e/test_tenant_admin_pages.py): who may open them, the forms (CSRF, the same rules as
the API), the key shown once, and the home page's link."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.factories import UserInfo, enable_mfa
from tests.support.tenantadmin import api_key, bearer, role_of, set_features, token_of
from tests.support.totp import totp_now
from tests.support.web import csrf_from, login

KEY_RE = re.compile(r'data-testid="api-key"|id="api-key" value="([^"]+)"')


def _browser(app: Flask, who: UserInfo, **kwargs: str) -> FlaskClient:
    browser = app.test_client()
    response = login(browser, who.email, who.password, **kwargs)
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser


def _csrf(browser: FlaskClient, path: str = "/admin/users") -> str:
    return csrf_from(browser.get(path).get_data(as_text=True))


def _shown_key(html: str) -> str:
    match = re.search(r'id="api-key" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


# --- who may open them ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/users", "/admin/roles", "/admin/settings"])
def test_signed_out_visitors_are_sent_to_sign_in(client, path) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={path}"


@pytest.mark.parametrize("path", ["/admin/users", "/admin/roles", "/admin/settings"])
def test_a_member_gets_403(app, member, path) -> None:
    response = _browser(app, member).get(path)
    assert response.status_code == 403
    assert "text/html" in response.content_type


def test_the_pages_take_no_bearer_token(app, client, admin) -> None:
    """Pages are for the browser session: a token (even an admin's) is not a page credential."""
    token = token_of(client, admin)
    assert client.get("/admin/users", headers=bearer(token)).status_code == 302
    browser = _browser(app, admin)
    assert browser.get("/admin/users", headers=bearer(token)).status_code == 403


def test_the_home_page_links_administration_for_admins_only(app, admin, member) -> None:
    home = _browser(app, admin).get("/").get_data(as_text=True)
    assert '<a href="/admin/users">Administration</a>' in home
    assert "Administration" not in _browser(app, member).get("/").get_data(as_text=True)


@pytest.mark.config(APP_ENV="production")
def test_in_production_the_pages_need_totp(app, admin) -> None:
    # Production cookies are Secure, and a form post over HTTPS must name its origin.
    https = {"base_url": "https://auth.tollgate.test"}  # APP_URL
    origin = {"Origin": "https://auth.tollgate.test"}
    browser = app.test_client()
    page = browser.get("/login", **https)
    form = {
        "email": admin.email,
        "password": admin.password,
        "next": "/",
        "csrf_token": csrf_from(page.get_data(as_text=True)),
    }
    assert browser.post("/login", data=form, headers=origin, **https).status_code == 302
    refused = browser.get("/admin/users", **https)
    assert refused.status_code == 403
    assert 'data-error="mfa_required"' in refused.get_data(as_text=True)

    enrolled = enable_mfa(app, admin)
    browser = app.test_client()
    page = browser.get("/login", **https)
    form["csrf_token"] = csrf_from(page.get_data(as_text=True))
    form["otp_code"] = totp_now(enrolled.secret)
    assert browser.post("/login", data=form, headers=origin, **https).status_code == 302
    assert browser.get("/admin/users", **https).status_code == 200


# --- users -----------------------------------------------------------------------------------


def test_the_users_page_lists_the_tenant(app, admin, member, stranger) -> None:
    html = _browser(app, admin).get("/admin/users").get_data(as_text=True)
    assert admin.email in html and member.email in html
    assert stranger.email not in html
    assert f'data-user-id="{member.id}"' in html


def test_changing_a_role_with_the_form(app, admin, member) -> None:
    browser = _browser(app, admin)
    response = browser.post(
        f"/admin/users/{member.id}/role", data={"role": "admin", "csrf_token": _csrf(browser)}
    )
    assert response.status_code == 303
    assert role_of(app, member)["role"] == "admin"
    page = browser.get("/admin/users").get_data(as_text=True)
    assert f"{member.email} is now admin." in page


def test_a_form_without_its_csrf_token_is_refused(app, admin, member) -> None:
    browser = _browser(app, admin)
    response = browser.post(f"/admin/users/{member.id}/role", data={"role": "admin"})
    assert response.status_code == 400
    assert role_of(app, member)["role"] == "member"


def test_the_last_admin_is_kept_on_the_page_too(app, admin) -> None:
    browser = _browser(app, admin)
    response = browser.post(
        f"/admin/users/{admin.id}/status", data={"active": "false", "csrf_token": _csrf(browser)}
    )
    assert response.status_code == 422
    assert "The tenant needs at least one active admin" in response.get_data(as_text=True)
    assert role_of(app, admin)["active"] is True


def test_deactivating_and_reactivating_with_the_form(app, client, admin, member, make_key) -> None:
    key = make_key(member)
    browser = _browser(app, admin)
    off = browser.post(
        f"/admin/users/{member.id}/status", data={"active": "false", "csrf_token": _csrf(browser)}
    )
    assert off.status_code == 303
    assert role_of(app, member)["active"] is False
    assert client.get("/api/v1/tags", headers=api_key(key)).status_code == 401
    on = browser.post(
        f"/admin/users/{member.id}/status", data={"active": "true", "csrf_token": _csrf(browser)}
    )
    assert on.status_code == 303
    assert role_of(app, member)["active"] is True


def test_another_tenants_user_is_404_on_the_pages(app, admin, stranger) -> None:
    browser = _browser(app, admin)
    assert browser.get(f"/admin/users/{stranger.id}/api_keys").status_code == 404
    response = browser.post(
        f"/admin/users/{stranger.id}/role", data={"role": "guest", "csrf_token": _csrf(browser)}
    )
    assert response.status_code == 404
    assert role_of(app, stranger)["role"] == "admin"


# --- a user's API keys -----------------------------------------------------------------------


def test_a_key_is_made_shown_once_and_revoked(app, client, admin, member) -> None:
    browser = _browser(app, admin)
    path = f"/admin/users/{member.id}/api_keys"
    made = browser.post(
        path,
        data={
            "name": "nightly",
            "scope": "read",
            "source": "monitoring",
            "csrf_token": _csrf(browser, path),
        },
    )
    assert made.status_code == 201
    assert "no-store" in made.headers["Cache-Control"]
    key = _shown_key(made.get_data(as_text=True))
    assert client.get("/api/v1/tags", headers=api_key(key)).status_code == 200

    listing = browser.get(path).get_data(as_text=True)
    assert "nightly" in listing and key not in listing
    key_id = re.search(r'data-key-id="([^"]+)"', listing)
    assert key_id
    revoked = browser.post(
        f"{path}/{key_id.group(1)}/revoke", data={"csrf_token": _csrf(browser, path)}
    )
    assert revoked.status_code == 303
    assert client.get("/api/v1/tags", headers=api_key(key)).status_code == 401
    assert 'data-testid="no-api-keys"' in browser.get(path).get_data(as_text=True)


def test_a_refused_key_shows_the_form_again(app, admin, member) -> None:
    browser = _browser(app, admin)
    path = f"/admin/users/{member.id}/api_keys"
    response = browser.post(
        path,
        data={"name": "", "scope": "admin", "source": "web", "csrf_token": _csrf(browser, path)},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Name can&#39;t be blank" in html
    assert 'id="api-key"' not in html


# --- roles and settings -----------------------------------------------------------------------


def test_the_roles_page_is_read_only(app, admin) -> None:
    html = _browser(app, admin).get("/admin/roles").get_data(as_text=True)
    assert 'data-role="analyst"' in html and "<code>scans.run</code>" in html
    assert "<form" not in html.split('data-testid="roles"')[1]


def test_renaming_the_tenant_on_the_settings_page(app, admin) -> None:
    set_features(app, admin.family_id, "reports.export")
    browser = _browser(app, admin)
    page = browser.get("/admin/settings").get_data(as_text=True)
    assert "<code>reports.export</code>" in page
    saved = browser.post(
        "/admin/settings", data={"name": "Acme", "csrf_token": _csrf(browser, "/admin/settings")}
    )
    assert saved.status_code == 303
    assert 'value="Acme"' in browser.get("/admin/settings").get_data(as_text=True)
    refused = browser.post(
        "/admin/settings", data={"name": " ", "csrf_token": _csrf(browser, "/admin/settings")}
    )
    assert refused.status_code == 422
