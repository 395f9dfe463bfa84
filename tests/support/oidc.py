"""Tollgate as an OpenID Provider through the Flask test client: an OpenID client, the code
flow with a nonce, and ID tokens checked the way a relying party checks them (Authlib's
``CodeIDToken`` over the JWKS fetched from the provider)."""

from __future__ import annotations

import secrets
from typing import Any

from authlib.oidc.core import CodeIDToken
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from werkzeug.test import TestResponse

from app.clock import utcnow
from tests.support.factories import ClientInfo
from tests.support.oauth import Authorized, authorize, exchange_code

OIDC_SCOPE = "openid profile email"
ISSUER = "https://auth.tollgate.test"


def make_oidc_client(
    app: Flask,
    *,
    public: bool = False,
    redirect_uri: str = "https://rp.example/cb",
    post_logout_redirect_uris: list[str] | None = None,
    id_token_signed_response_alg: str | None = None,
) -> ClientInfo:
    """A relying party registered as an operator registers one (``flask clients create``)."""
    from app.oauth2.services import clients

    with app.app_context():
        created = clients.create_client(
            name="Relying Party",
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            scope="read read_write openid profile email",
            public=public,
            post_logout_redirect_uris=post_logout_redirect_uris,
            id_token_signed_response_alg=id_token_signed_response_alg,
            now=utcnow(),
        )
        return ClientInfo(
            created.client.client_id, created.client_secret, redirect_uri, created.client.scope
        )


def verify_id_token(
    client: FlaskClient,
    id_token: str,
    *,
    client_id: str,
    nonce: str | None = None,
    access_token: str | None = None,
    max_age: int | None = None,
) -> CodeIDToken:
    """Signature against the provider's JWKS (fetched over HTTP), then iss, aud, exp, iat,
    nonce, at_hash and auth_time as Authlib's client-side validation checks them."""
    configuration = client.get("/.well-known/openid-configuration").get_json()
    jwks_path = configuration["jwks_uri"].removeprefix(configuration["issuer"])
    keys = KeySet.import_key_set(client.get(jwks_path).get_json())
    token = jwt.decode(id_token, keys, algorithms=["RS256", "ES256"])
    claims = CodeIDToken(
        token.claims,
        token.header,
        options={
            "iss": {"essential": True, "value": configuration["issuer"]},
            "aud": {"essential": True, "value": client_id},
        },
        params={
            "nonce": nonce,
            "access_token": access_token,
            "client_id": client_id,
            "max_age": max_age,
        },
    )
    claims.validate()
    return claims


def sign_in_with_openid(
    browser: FlaskClient, oauth: ClientInfo, *, scope: str = OIDC_SCOPE, **extra: str
) -> tuple[Authorized, str, dict[str, Any]]:
    """Authorize with a fresh nonce and redeem the code: (authorization, nonce, tokens)."""
    nonce = extra.pop("nonce", None) or secrets.token_urlsafe(16)
    auth = authorize(browser, oauth, scope=scope, nonce=nonce, **extra)
    response = exchange_code(browser, oauth, auth)
    assert response.status_code == 200, response.get_json()
    return auth, nonce, response.get_json()


def userinfo(client: FlaskClient, token: str, method: str = "GET") -> TestResponse:
    headers = {"Authorization": f"Bearer {token}"}
    if method == "POST":
        return client.post("/oauth/userinfo", headers=headers)
    return client.get("/oauth/userinfo", headers=headers)
