"""The ID token of the authorization code flow: every claim, the nonce echoed exactly, the
at_hash of the access token issued with it, amr with and without TOTP, both algorithms, and
scopes that never reach the resource API."""

from __future__ import annotations

import time

import pytest
from joserfc import jws

from tests.support.factories import enable_mfa
from tests.support.oauth import authorize, exchange_code, query_of
from tests.support.oidc import (
    ISSUER,
    make_oidc_client,
    sign_in_with_openid,
    verify_id_token,
)
from tests.support.totp import totp_now
from tests.support.web import login


@pytest.fixture
def oidc_client(app):
    return make_oidc_client(app)


def test_id_token_carries_every_claim(signed_in, oidc_client, user):
    before = int(time.time())
    _, nonce, tokens = sign_in_with_openid(signed_in, oidc_client)
    assert tokens["scope"] == "openid profile email"
    claims = verify_id_token(
        signed_in,
        tokens["id_token"],
        client_id=oidc_client.client_id,
        nonce=nonce,
        access_token=tokens["access_token"],
    )
    assert claims["iss"] == ISSUER
    assert claims["sub"] == str(user.id)  # opaque and stable: never the email
    assert claims["aud"] == oidc_client.client_id
    assert before - 1 <= claims["iat"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 3600
    # The browser signed in (the fixture) before the authorization request.
    assert before - 30 <= claims["auth_time"] <= claims["iat"]
    assert claims["nonce"] == nonce
    assert claims["at_hash"]
    assert claims["amr"] == ["pwd"]
    assert claims["email"] == user.email
    assert claims["given_name"] == "Alice"
    assert claims["name"] == "Alice"
    header = jws.extract_compact(tokens["id_token"].encode()).protected
    assert header["alg"] == "RS256" and header["kid"]


def test_nonce_is_echoed_exactly(signed_in, oidc_client):
    odd = "n-0S6_WzA2Mj.~+/="  # any characters the client chose, untouched
    _, nonce, tokens = sign_in_with_openid(signed_in, oidc_client, nonce=odd)
    assert nonce == odd
    claims = verify_id_token(signed_in, tokens["id_token"], client_id=oidc_client.client_id)
    assert claims["nonce"] == odd


def test_without_a_nonce_the_token_has_none(signed_in, oidc_client):
    auth = authorize(signed_in, oidc_client, scope="openid")
    tokens = exchange_code(signed_in, oidc_client, auth).get_json()
    claims = verify_id_token(signed_in, tokens["id_token"], client_id=oidc_client.client_id)
    assert "nonce" not in claims
    assert "email" not in claims and "name" not in claims  # openid alone: sub only


def test_a_replayed_nonce_is_refused(signed_in, oidc_client):
    sign_in_with_openid(signed_in, oidc_client, nonce="once-only")
    page = signed_in.get(
        "/oauth/authorize",
        query_string={
            "response_type": "code",
            "client_id": oidc_client.client_id,
            "redirect_uri": oidc_client.redirect_uri,
            "scope": "openid",
            "state": "s1",
            "nonce": "once-only",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert page.status_code == 302
    assert query_of(page.headers["Location"])["error"] == "invalid_request"


def test_at_hash_binds_the_access_token(signed_in, oidc_client):
    _, _, tokens = sign_in_with_openid(signed_in, oidc_client)
    from authlib.oidc.core.util import create_half_hash

    claims = verify_id_token(signed_in, tokens["id_token"], client_id=oidc_client.client_id)
    expected = create_half_hash(tokens["access_token"], "RS256").decode()
    assert claims["at_hash"] == expected
    other = create_half_hash(tokens["refresh_token"], "RS256").decode()
    assert claims["at_hash"] != other


def test_amr_reports_the_second_factor(app, client, make_user):
    mfa_user = enable_mfa(app, make_user(email="totp@example.com"))
    response = login(client, mfa_user.email, mfa_user.password, otp_code=totp_now(mfa_user.secret))
    assert response.status_code == 302
    oauth = make_oidc_client(app)
    _, _, tokens = sign_in_with_openid(client, oauth)
    claims = verify_id_token(client, tokens["id_token"], client_id=oauth.client_id)
    assert claims["amr"] == ["pwd", "otp", "mfa"]


def test_es256_client_gets_an_es256_token(app, signed_in):
    oauth = make_oidc_client(app, id_token_signed_response_alg="ES256")
    _, nonce, tokens = sign_in_with_openid(signed_in, oauth)
    header = jws.extract_compact(tokens["id_token"].encode()).protected
    assert header["alg"] == "ES256"
    claims = verify_id_token(
        signed_in,
        tokens["id_token"],
        client_id=oauth.client_id,
        nonce=nonce,
        access_token=tokens["access_token"],
    )
    assert claims["at_hash"]


def test_no_openid_scope_no_id_token(signed_in, oidc_client):
    auth = authorize(signed_in, oidc_client, scope="read")
    tokens = exchange_code(signed_in, oidc_client, auth).get_json()
    assert "id_token" not in tokens


def test_openid_scopes_do_not_reach_the_resource_api(signed_in, oidc_client):
    """Sure's answer for a token without the resource scope (401, "missing required
    scope"); the same client's read token gets in."""
    _, _, tokens = sign_in_with_openid(signed_in, oidc_client)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    response = signed_in.get("/api/v1/accounts", headers=bearer)
    assert response.status_code == 401
    assert "scope" in response.get_json()["message"]
    _, _, readable = sign_in_with_openid(signed_in, oidc_client, scope="openid read")
    bearer = {"Authorization": f"Bearer {readable['access_token']}"}
    assert signed_in.get("/api/v1/accounts", headers=bearer).status_code == 200


def test_a_client_not_registered_for_openid_cannot_ask_for_it(signed_in, oauth_client):
    page = signed_in.get(
        "/oauth/authorize",
        query_string={
            "response_type": "code",
            "client_id": oauth_client.client_id,
            "redirect_uri": oauth_client.redirect_uri,
            "scope": "openid",
            "state": "s1",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert page.status_code == 302
    assert query_of(page.headers["Location"])["error"] == "invalid_scope"


@pytest.mark.parametrize("prompt", [None, "none"])
def test_an_oversized_nonce_is_invalid_request(signed_in, oidc_client, prompt):
    query = {
        "response_type": "code",
        "client_id": oidc_client.client_id,
        "redirect_uri": oidc_client.redirect_uri,
        "scope": "openid",
        "state": "s1",
        "nonce": "n" * 256,
        "code_challenge": "x" * 43,
        "code_challenge_method": "S256",
    }
    if prompt:
        query["prompt"] = prompt
    page = signed_in.get("/oauth/authorize", query_string=query)
    assert page.status_code == 302
    params = query_of(page.headers["Location"])
    assert params["error"] == "invalid_request" and params["state"] == "s1"
