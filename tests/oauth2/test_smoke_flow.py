from tests.support.oauth import authorize, exchange_code, introspect, refresh


def test_code_pkce_refresh_revoke(signed_in, oauth_client):
    auth = authorize(signed_in, oauth_client, scope="read_write")
    assert auth.code.startswith("tgc_")
    response = exchange_code(signed_in, oauth_client, auth)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["access_token"].startswith("tga_")
    r2 = refresh(signed_in, oauth_client, body["refresh_token"])
    assert r2.status_code == 200, r2.get_json()
    assert introspect(signed_in, oauth_client, r2.get_json()["access_token"]).get_json()["active"]
