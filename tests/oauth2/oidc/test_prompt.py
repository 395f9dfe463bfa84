"""prompt=none|login|consent, max_age and login_hint at the authorization endpoint
(OpenID Connect Core §3.1.2.1, §3.1.2.6)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.oauth import authorize, exchange_code, pkce_pair, query_of
from tests.support.oidc import ISSUER, make_oidc_client, sign_in_with_openid, verify_id_token
from tests.support.web import csrf_from


@pytest.fixture
def oidc_client(app):
    return make_oidc_client(app)


def _request(oauth, **extra: str) -> dict[str, str]:
    _, challenge = pkce_pair()
    return {
        "response_type": "code",
        "client_id": oauth.client_id,
        "redirect_uri": oauth.redirect_uri,
        "scope": "openid profile",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def _error_of(response) -> dict[str, str]:
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith("https://rp.example/cb?")
    return query_of(location)


def test_prompt_none_without_a_session_is_login_required(client, oidc_client):
    response = client.get("/oauth/authorize", query_string=_request(oidc_client, prompt="none"))
    params = _error_of(response)
    assert params == {"error": "login_required", "state": "st-1", "iss": ISSUER} | {
        k: v for k, v in params.items() if k == "error_description"
    }


def test_prompt_none_for_a_plain_oauth_request_is_login_required_too(client, oidc_client):
    query = _request(oidc_client, prompt="none", scope="read")
    params = _error_of(client.get("/oauth/authorize", query_string=query))
    assert params["error"] == "login_required" and params["state"] == "st-1"


def test_prompt_none_without_earlier_consent_is_consent_required(signed_in, oidc_client):
    query = _request(oidc_client, prompt="none")
    params = _error_of(signed_in.get("/oauth/authorize", query_string=query))
    assert params["error"] == "consent_required"
    assert params["state"] == "st-1" and params["iss"] == ISSUER


def test_prompt_none_after_consent_answers_with_a_code(signed_in, oidc_client, user):
    sign_in_with_openid(signed_in, oidc_client, scope="openid profile")
    verifier, challenge = pkce_pair()
    query = _request(oidc_client, prompt="none", nonce="silent", code_challenge=challenge)
    params = _error_of(signed_in.get("/oauth/authorize", query_string=query))
    assert "error" not in params and params["code"]
    data = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "code_verifier": verifier,
        "redirect_uri": oidc_client.redirect_uri,
    }
    tokens = signed_in.post("/oauth/token", data=data, headers=oidc_client.basic_auth).get_json()
    claims = verify_id_token(signed_in, tokens["id_token"], client_id=oidc_client.client_id)
    assert claims["nonce"] == "silent" and claims["sub"] == str(user.id)


def test_prompt_none_with_more_scope_than_granted_is_consent_required(signed_in, oidc_client):
    sign_in_with_openid(signed_in, oidc_client, scope="openid")
    query = _request(oidc_client, prompt="none", scope="openid email")
    assert _error_of(signed_in.get("/oauth/authorize", query_string=query))["error"] == (
        "consent_required"
    )


def test_prompt_none_for_another_account_is_interaction_required(signed_in, oidc_client):
    sign_in_with_openid(signed_in, oidc_client, scope="openid profile")
    query = _request(oidc_client, prompt="none", login_hint="someone.else@example.com")
    params = _error_of(signed_in.get("/oauth/authorize", query_string=query))
    assert params["error"] == "interaction_required" and params["state"] == "st-1"


def test_prompt_none_with_another_value_is_invalid(signed_in, oidc_client):
    query = _request(oidc_client, prompt="none login")
    assert _error_of(signed_in.get("/oauth/authorize", query_string=query))["error"] == (
        "invalid_request"
    )


def _follow_to_login(browser, query):
    response = browser.get("/oauth/authorize", query_string=query)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert urlsplit(location).path == "/login"
    return location


def _sign_in_again(browser, location, user, next_path):
    """The sign-in form the authorization endpoint sent a signed-in browser to."""
    page = browser.get(location)
    form = {
        "email": user.email,
        "password": user.password,
        "next": next_path,
        "csrf_token": csrf_from(page.get_data(as_text=True)),
    }
    response = browser.post("/login", data=form)
    assert response.status_code == 302 and response.headers["Location"] == next_path
    return response


def test_prompt_login_asks_a_signed_in_browser_to_sign_in_again(signed_in, oidc_client, user):
    query = _request(oidc_client, prompt="login")
    requested_at = int(time.time())
    location = _follow_to_login(signed_in, query)
    page = signed_in.get(location)
    assert page.status_code == 200  # the form, although the browser is signed in
    assert "sign in again" in page.get_data(as_text=True)
    next_path = parse_qs(urlsplit(location).query)["next"][0]
    # Going back without signing in again is not enough: sent to sign in again.
    again = signed_in.get(next_path)
    assert again.status_code == 302 and urlsplit(again.headers["Location"]).path == "/login"
    _sign_in_again(signed_in, location, user, next_path)
    consent = signed_in.get(next_path)
    assert consent.status_code == 200
    form = {
        **{k: v for k, v in parse_qs(urlsplit(next_path).query).items()},
        "csrf_token": csrf_from(consent.get_data(as_text=True)),
        "confirm": "yes",
    }
    form = {k: v[0] if isinstance(v, list) else v for k, v in form.items()}
    answer = signed_in.post("/oauth/authorize", data=form)
    code = query_of(answer.headers["Location"])["code"]
    assert code
    # The code's ID token reports the new sign-in.
    from app import crypto
    from app.clock import epoch
    from app.extensions import db
    from app.oauth2.models import AuthorizationCode

    with signed_in.application.app_context():
        row = db.session.query(AuthorizationCode).filter_by(code_digest=crypto.digest(code)).one()
        assert epoch(row.authenticated_at) >= requested_at
        assert row.amr == ["pwd"]


def test_max_age_forces_a_fresh_sign_in_and_is_reported(signed_in, oidc_client, user):
    time.sleep(2)
    query = _request(oidc_client, max_age="1")
    location = _follow_to_login(signed_in, query)
    assert parse_qs(urlsplit(location).query)["prompt"] == ["login"]
    next_path = parse_qs(urlsplit(location).query)["next"][0]
    _sign_in_again(signed_in, location, user, next_path)
    assert signed_in.get(next_path).status_code == 200  # the consent page now


def test_max_age_satisfied_needs_no_new_sign_in(signed_in, oidc_client):
    _, nonce, tokens = sign_in_with_openid(signed_in, oidc_client, max_age="3600")
    claims = verify_id_token(
        signed_in, tokens["id_token"], client_id=oidc_client.client_id, nonce=nonce, max_age=3600
    )
    assert claims["auth_time"] <= claims["iat"]


def test_max_age_with_prompt_none_is_login_required(signed_in, oidc_client):
    sign_in_with_openid(signed_in, oidc_client, scope="openid profile")
    time.sleep(2)
    query = _request(oidc_client, prompt="none", max_age="1")
    assert _error_of(signed_in.get("/oauth/authorize", query_string=query))["error"] == (
        "login_required"
    )


def test_login_hint_prefills_the_sign_in_form(client, oidc_client):
    query = _request(oidc_client, login_hint="hinted@example.com")
    location = _follow_to_login(client, query)
    page = client.get(location).get_data(as_text=True)
    assert 'value="hinted@example.com"' in page


def test_prompt_consent_shows_the_consent_page(signed_in, oidc_client):
    sign_in_with_openid(signed_in, oidc_client, scope="openid profile")
    auth = authorize(signed_in, oidc_client, scope="openid profile", prompt="consent")
    assert exchange_code(signed_in, oidc_client, auth).status_code == 200


def test_prompt_login_without_a_session_asks_only_once(client, oidc_client, user):
    """Any sign-in after the request satisfies prompt=login: the way back does not ask again."""
    location = _follow_to_login(client, _request(oidc_client, prompt="login"))
    next_path = parse_qs(urlsplit(location).query)["next"][0]
    assert "prompt=login" not in next_path
    _sign_in_again(client, location, user, next_path)
    consent = client.get(next_path)
    assert consent.status_code == 200
    assert "Authorize" in consent.get_data(as_text=True)
