"""/oauth/userinfo (OpenID Connect Core §5.3): GET and POST, the bearer token in the
Authorization header only, the claims the token's scope allows."""

from __future__ import annotations

import pytest

from tests.support.oidc import make_oidc_client, sign_in_with_openid, userinfo


@pytest.fixture
def oidc_client(app):
    return make_oidc_client(app)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo_by_scope(signed_in, oidc_client, user, method):
    _, _, full = sign_in_with_openid(signed_in, oidc_client, scope="openid profile email")
    response = userinfo(signed_in, full["access_token"], method)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json() == {
        "sub": str(user.id),
        "name": "Alice",
        "given_name": "Alice",
        "updated_at": response.get_json()["updated_at"],
        "email": user.email,
    }
    _, _, email_only = sign_in_with_openid(signed_in, oidc_client, scope="openid email")
    assert userinfo(signed_in, email_only["access_token"], method).get_json() == {
        "sub": str(user.id),
        "email": user.email,
    }
    _, _, bare = sign_in_with_openid(signed_in, oidc_client, scope="openid")
    assert userinfo(signed_in, bare["access_token"], method).get_json() == {"sub": str(user.id)}


def test_the_same_sub_as_the_id_token(signed_in, oidc_client):
    import json

    from joserfc import jws

    _, _, tokens = sign_in_with_openid(signed_in, oidc_client)
    payload = json.loads(jws.extract_compact(tokens["id_token"].encode()).payload)
    assert userinfo(signed_in, tokens["access_token"]).get_json()["sub"] == payload["sub"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_without_a_token_401_with_a_challenge(client, method):
    response = client.open("/oauth/userinfo", method=method)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_an_invalid_token_is_invalid_token(client):
    response = userinfo(client, "tga_not-a-token")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_token_in_the_query_string_or_body_is_refused(signed_in, oidc_client):
    _, _, tokens = sign_in_with_openid(signed_in, oidc_client)
    in_query = signed_in.get(
        "/oauth/userinfo", query_string={"access_token": tokens["access_token"]}
    )
    assert in_query.status_code in (400, 401)
    assert "WWW-Authenticate" in in_query.headers
    assert "sub" not in (in_query.get_json() or {})
    in_body = signed_in.post("/oauth/userinfo", data={"access_token": tokens["access_token"]})
    assert in_body.status_code in (400, 401)
    assert "sub" not in (in_body.get_json() or {})


def test_a_token_without_openid_is_insufficient_scope(signed_in, oidc_client):
    _, _, tokens = sign_in_with_openid(signed_in, oidc_client, scope="read")
    response = userinfo(signed_in, tokens["access_token"])
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_a_revoked_token_gets_nothing(signed_in, oidc_client):
    _, _, tokens = sign_in_with_openid(signed_in, oidc_client)
    revoked = signed_in.post(
        "/oauth/revoke", data={"token": tokens["access_token"]}, headers=oidc_client.basic_auth
    )
    assert revoked.status_code == 200
    assert userinfo(signed_in, tokens["access_token"]).status_code == 401
