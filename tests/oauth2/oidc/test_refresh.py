"""A refresh of an OpenID lineage answers with a new ID token: same sub, the original
auth_time and amr, a fresh iat and the at_hash of the new access token."""

from __future__ import annotations

import time

import pytest

from tests.support.oauth import authorize, exchange_code, refresh
from tests.support.oidc import make_oidc_client, sign_in_with_openid, verify_id_token


@pytest.fixture
def oidc_client(app):
    return make_oidc_client(app)


def test_refresh_issues_a_new_id_token_for_the_same_sign_in(signed_in, oidc_client):
    _, nonce, first = sign_in_with_openid(signed_in, oidc_client)
    original = verify_id_token(
        signed_in, first["id_token"], client_id=oidc_client.client_id, nonce=nonce
    )
    time.sleep(1.1)
    response = refresh(signed_in, oidc_client, first["refresh_token"])
    assert response.status_code == 200, response.get_json()
    second = response.get_json()
    assert second["id_token"] != first["id_token"]
    renewed = verify_id_token(
        signed_in,
        second["id_token"],
        client_id=oidc_client.client_id,
        access_token=second["access_token"],
    )
    assert renewed["sub"] == original["sub"]
    assert renewed["auth_time"] == original["auth_time"]
    assert renewed["amr"] == original["amr"]
    assert renewed["iat"] > original["iat"]
    assert renewed["at_hash"] != original["at_hash"]
    assert "nonce" not in renewed
    # And again from the rotated refresh token: the lineage keeps openid.
    third = refresh(signed_in, oidc_client, second["refresh_token"]).get_json()
    again = verify_id_token(signed_in, third["id_token"], client_id=oidc_client.client_id)
    assert again["auth_time"] == original["auth_time"]


def test_a_refresh_narrowed_below_openid_has_no_id_token(signed_in, oidc_client):
    _, _, first = sign_in_with_openid(signed_in, oidc_client, scope="openid read")
    narrowed = refresh(signed_in, oidc_client, first["refresh_token"], scope="read").get_json()
    assert narrowed["scope"] == "read"
    assert "id_token" not in narrowed


def test_a_plain_oauth_lineage_gets_no_id_token_on_refresh(signed_in, oidc_client):
    auth = authorize(signed_in, oidc_client, scope="read")
    tokens = exchange_code(signed_in, oidc_client, auth).get_json()
    assert "id_token" not in refresh(signed_in, oidc_client, tokens["refresh_token"]).get_json()


@pytest.mark.config(OAUTH2_AUTHORIZATION_CODE_LIFETIME=1)
def test_the_purge_keeps_what_a_live_lineage_needs_for_its_id_tokens(app, signed_in, oidc_client):
    """``tokens purge`` deletes expired codes, but not an OpenID code whose lineage lives: its
    refreshes still carry the original sign-in. Once the lineage is revoked the code goes."""
    import json

    from app.extensions import db
    from app.oauth2.models import AuthorizationCode

    _, _, first = sign_in_with_openid(signed_in, oidc_client)
    plain = authorize(signed_in, oidc_client, scope="read")
    assert exchange_code(signed_in, oidc_client, plain).status_code == 200
    time.sleep(1.2)  # both codes expired
    purged = json.loads(app.test_cli_runner().invoke(args=["tokens", "purge"]).output)["purged"]
    assert purged["authorization_codes"] == 1  # the plain OAuth one only
    renewed = refresh(signed_in, oidc_client, first["refresh_token"]).get_json()
    original = verify_id_token(signed_in, first["id_token"], client_id=oidc_client.client_id)
    claims = verify_id_token(signed_in, renewed["id_token"], client_id=oidc_client.client_id)
    assert claims["auth_time"] == original["auth_time"] and claims["amr"] == original["amr"]

    revoked = signed_in.post(
        "/oauth/revoke",
        data={"token": renewed["refresh_token"]},
        headers=oidc_client.basic_auth,
    )
    assert revoked.status_code == 200
    purged = json.loads(app.test_cli_runner().invoke(args=["tokens", "purge"]).output)["purged"]
    assert purged["authorization_codes"] == 1
    with app.app_context():
        assert db.session.query(AuthorizationCode).count() == 0
