"""Hostile characters in parameters Authlib echoes into error descriptions: a 4xx, never a
500 (Authlib refuses to build descriptions holding '"' or '\\')."""

from __future__ import annotations

import pytest

from tests.support.oauth import pkce_pair


@pytest.mark.parametrize(
    "field,value",
    [
        ("response_type", 'co"de'),
        ("response_type", "code\\x"),
        ("redirect_uri", 'https://client.example/cb"><script>'),
    ],
)
def test_authorize_with_hostile_characters_is_a_page_not_a_500(
    signed_in, oauth_client, field, value
) -> None:
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": oauth_client.client_id,
        "redirect_uri": oauth_client.redirect_uri,
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        field: value,
    }
    response = signed_in.get("/oauth/authorize", query_string=params)
    assert 400 <= response.status_code < 500 or response.status_code == 302
    assert "<script>" not in response.get_data(as_text=True)


@pytest.mark.parametrize("grant_type", ['pass"word', "x\\y", "\x7f"])
def test_token_endpoint_with_hostile_grant_type_is_400(client, grant_type) -> None:
    response = client.post("/oauth/token", data={"grant_type": grant_type})
    assert response.status_code == 400
    assert response.get_json()["error"] in {"unsupported_grant_type", "invalid_request"}
