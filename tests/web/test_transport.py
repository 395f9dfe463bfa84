"""Browsers over HTTPS: forms work behind a strict Referrer-Policy because the same-origin
check reads ``Origin`` (or, without it, ``Referer``); HSTS on HTTPS responses; the session
cookie is ``Secure`` on HTTPS requests and outside development."""

from __future__ import annotations

import pytest

from tests.support.web import csrf_from

APP_URL = "https://auth.tollgate.test"  # base_config's APP_URL: the app's origin
HTTPS = {"base_url": APP_URL}
SESSION_COOKIE = "tollgate_session"


def _login_form(client, user, **get_kwargs) -> dict[str, str]:  # type: ignore[no-untyped-def]
    page = client.get("/login", **get_kwargs)
    return {
        "email": user.email,
        "password": user.password,
        "next": "/",
        "csrf_token": csrf_from(page.get_data(as_text=True)),
    }


def _signed_in(client) -> bool:  # type: ignore[no-untyped-def]
    return client.get("/oauth/authorized_applications", **HTTPS).status_code == 200


def _refused_as_csrf(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "did not come from this site" in response.get_data(as_text=True)


# --- the same-origin check ------------------------------------------------------------------


def test_https_form_post_with_same_origin_succeeds(client, user):
    """Before: Flask-WTF's SSL-strict check wanted a Referer, which our Referrer-Policy
    suppresses, so every HTTPS form POST was a 400."""
    form = _login_form(client, user, **HTTPS)
    response = client.post("/login", data=form, headers={"Origin": APP_URL}, **HTTPS)
    assert response.status_code == 302
    assert _signed_in(client)


def test_https_form_post_with_same_origin_referer_and_no_origin_succeeds(client, user):
    form = _login_form(client, user, **HTTPS)
    response = client.post("/login", data=form, headers={"Referer": APP_URL + "/login"}, **HTTPS)
    assert response.status_code == 302


def test_https_form_post_with_neither_origin_nor_referer_is_refused(client, user):
    form = _login_form(client, user, **HTTPS)
    response = client.post("/login", data=form, **HTTPS)
    _refused_as_csrf(response)
    assert not _signed_in(client)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",  # sandboxed frames, and forms on pages with Referrer-Policy: no-referrer
        "http://auth.tollgate.test",  # the same host over plain HTTP (a network attacker)
        "https://auth.tollgate.test:8443",
        "https://auth.tollgate.test.evil.example",
    ],
)
def test_https_form_post_from_another_origin_is_refused(client, user, origin):
    form = _login_form(client, user, **HTTPS)
    response = client.post("/login", data=form, headers={"Origin": origin}, **HTTPS)
    _refused_as_csrf(response)
    assert not _signed_in(client)


def test_origin_decides_over_a_matching_referer(client, user):
    form = _login_form(client, user, **HTTPS)
    response = client.post(
        "/login",
        data=form,
        headers={"Origin": "https://evil.example", "Referer": APP_URL + "/login"},
        **HTTPS,
    )
    _refused_as_csrf(response)


def test_foreign_referer_without_origin_is_refused(client, user):
    form = _login_form(client, user, **HTTPS)
    response = client.post(
        "/login", data=form, headers={"Referer": "https://evil.example/login"}, **HTTPS
    )
    _refused_as_csrf(response)


def test_plain_http_post_from_another_origin_is_refused(client, user):
    form = _login_form(client, user)
    response = client.post("/login", data=form, headers={"Origin": "https://evil.example"})
    _refused_as_csrf(response)


def test_default_port_is_the_same_origin(client, user):
    form = _login_form(client, user, **HTTPS)
    response = client.post(
        "/login", data=form, headers={"Origin": "https://AUTH.tollgate.test:443"}, **HTTPS
    )
    assert response.status_code == 302


@pytest.mark.config(APP_URL="")
def test_without_app_url_the_request_host_is_the_origin(client, user):
    form = _login_form(client, user, base_url="https://login.example")
    ok = client.post(
        "/login",
        data=form,
        headers={"Origin": "https://login.example"},
        base_url="https://login.example",
    )
    assert ok.status_code == 302


@pytest.mark.config(APP_URL="")
def test_without_app_url_another_host_is_refused(client, user):
    form = _login_form(client, user, base_url="https://login.example")
    refused = client.post(
        "/login",
        data=form,
        headers={"Origin": "https://other.example"},
        base_url="https://login.example",
    )
    _refused_as_csrf(refused)


def test_token_is_still_required_with_a_good_origin(client, user):
    client.get("/login", **HTTPS)
    response = client.post(
        "/login",
        data={"email": user.email, "password": user.password},
        headers={"Origin": APP_URL},
        **HTTPS,
    )
    assert response.status_code == 400
    assert not _signed_in(client)


def test_logout_consent_and_mfa_forms_check_the_origin(client, user, oauth_client):
    form = _login_form(client, user, **HTTPS)
    assert client.post("/login", data=form, headers={"Origin": APP_URL}, **HTTPS).status_code == 302
    token = csrf_from(client.get("/", **HTTPS).get_data(as_text=True))
    foreign = {"Origin": "https://evil.example"}
    enrol_form = {"csrf_token": token, "password": user.password}
    _refused_as_csrf(
        client.post("/account/security/enrol", data=enrol_form, headers=foreign, **HTTPS)
    )
    enrol = client.post(
        "/account/security/enrol", data=enrol_form, headers={"Origin": APP_URL}, **HTTPS
    )
    assert enrol.status_code == 200 and 'data-testid="secret"' in enrol.get_data(as_text=True)
    _refused_as_csrf(client.post("/logout", data={"csrf_token": token}, headers=foreign, **HTTPS))
    assert _signed_in(client)
    assert (
        client.post(
            "/logout", data={"csrf_token": token}, headers={"Origin": APP_URL}, **HTTPS
        ).status_code
        == 302
    )
    assert not _signed_in(client)


def test_session_authenticated_api_write_from_another_origin_is_refused(client, user):
    """The gate's CSRF check for cookie-authenticated writes goes through the same check."""
    form = _login_form(client, user, **HTTPS)
    assert client.post("/login", data=form, headers={"Origin": APP_URL}, **HTTPS).status_code == 302
    token = csrf_from(client.get("/", **HTTPS).get_data(as_text=True))
    body = {"name": "from a page", "scopes": ["read"]}
    refused = client.post(
        "/api/v1/api_keys",
        json=body,
        headers={"X-CSRFToken": token, "Origin": "https://evil.example"},
        **HTTPS,
    )
    assert refused.status_code == 400
    created = client.post(
        "/api/v1/api_keys", json=body, headers={"X-CSRFToken": token, "Origin": APP_URL}, **HTTPS
    )
    assert created.status_code == 201, created.get_json()


# --- headers ----------------------------------------------------------------------------------


def test_hsts_on_https_responses(client):
    for path in ("/login", "/.well-known/oauth-authorization-server", "/nowhere"):
        response = client.get(path, **HTTPS)
        assert (
            response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        ), path


def test_no_hsts_over_plain_http(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers


@pytest.mark.config(TRUSTED_PROXY_COUNT=1)
def test_hsts_behind_a_trusted_tls_proxy(client):
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    page = client.get("/login", headers=proxied)
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_referrer_policy_keeps_referrers_on_this_site(client):
    """``same-origin``: nothing leaves for other sites, and same-origin form POSTs carry their
    real Origin (under ``no-referrer`` browsers send ``Origin: null``)."""
    assert client.get("/login").headers["Referrer-Policy"] == "same-origin"


# --- the session cookie ---------------------------------------------------------------------------


def _cookie_attributes(response) -> set[str]:  # type: ignore[no-untyped-def]
    (header,) = [
        h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{SESSION_COOKIE}=")
    ]
    return {part.strip().split("=")[0].lower() for part in header.split(";")}


@pytest.mark.config(APP_ENV="development", APP_URL="")
def test_cookie_is_secure_over_https_even_in_development(client, user):
    form = _login_form(client, user, base_url="https://localhost")
    response = client.post(
        "/login", data=form, headers={"Origin": "https://localhost"}, base_url="https://localhost"
    )
    assert response.status_code == 302
    assert "secure" in _cookie_attributes(response)


@pytest.mark.config(APP_ENV="development", APP_URL="", TRUSTED_PROXY_COUNT=1)
def test_cookie_is_secure_behind_a_trusted_tls_proxy_in_development(client, user):
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "localhost"}
    form = _login_form(client, user, headers=proxied)
    response = client.post("/login", data=form, headers={**proxied, "Origin": "https://localhost"})
    assert response.status_code == 302
    assert "secure" in _cookie_attributes(response)


@pytest.mark.config(APP_ENV="development", APP_URL="")
def test_cookie_is_not_secure_over_plain_http_in_development(client, user):
    """The embedded default at http://127.0.0.1:8000 must keep working."""
    form = _login_form(client, user)
    response = client.post("/login", data=form, headers={"Origin": "http://localhost"})
    assert response.status_code == 302
    assert "secure" not in _cookie_attributes(response)


@pytest.mark.config(APP_ENV="production")
def test_cookie_is_secure_in_production_even_over_plain_http(client, user):
    form = _login_form(client, user)
    response = client.post("/login", data=form)
    assert response.status_code == 302
    assert "secure" in _cookie_attributes(response)
