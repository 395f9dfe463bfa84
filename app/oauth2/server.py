"""The Authlib authorization server, built and wired once, at import.

``register_grant`` / ``register_endpoint`` append on every call, so they happen here and only
here; ``init_app`` binds the per-application parts (client lookup, token storage, generator).
The parts live beside it: ``client_auth`` (client authentication), ``grants`` (the grants,
PKCE, token generation and saving), ``endpoints`` (revocation, introspection) and ``errors``.
"""

from __future__ import annotations

from functools import cached_property

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Payload
from authlib.oauth2.rfc6749.errors import InvalidClientError
from flask import Flask, Request, current_app
from werkzeug.datastructures import ImmutableMultiDict

from app.oauth2.client_auth import (
    ClientAuthenticationFailed,
    authenticate_client_secret_basic,
    authenticate_client_secret_post,
    authenticate_none,
)
from app.oauth2.endpoints import Introspection, Revocation
from app.oauth2.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    PasswordGrant,
    RefreshTokenGrant,
    S256CodeChallenge,
    TokenGenerator,
    save_token,
)
from app.oauth2.models import OAuthClient
from app.oauth2.oidc.extensions import OpenIDRefresh, TollgateOpenIDCode
from app.oauth2.resource_indicators import ResourceIndicators
from app.oauth2.services import clients
from app.requestctx import request_base_url


class FormPayload(OAuth2Payload):
    """On POST, OAuth parameters come from the form body only (RFC 6749 §3.2): credentials or
    codes in the query string are never read."""

    def __init__(self, form: ImmutableMultiDict[str, str]) -> None:
        self._form = form

    @property
    def data(self) -> ImmutableMultiDict[str, str]:
        return self._form

    @cached_property
    def datalist(self) -> dict[str, list[str]]:
        return {key: self._form.getlist(key) for key in self._form}


class TollgateAuthorizationServer(AuthorizationServer):
    def authenticate_client(
        self, request: OAuth2Request, methods: list[str], endpoint: str = "token"
    ) -> OAuthClient:
        try:
            client: OAuthClient = super().authenticate_client(request, methods, endpoint)
        except ClientAuthenticationFailed:
            raise
        except InvalidClientError as exc:
            # Authlib's fallback: "cannot authenticate with methods: [...]" and no realm.
            raise ClientAuthenticationFailed() from exc
        return client

    def create_oauth2_request(self, request: Request | None) -> OAuth2Request:
        oauth_request = super().create_oauth2_request(request)
        if oauth_request.method == "POST":
            oauth_request.payload = FormPayload(oauth_request.form)
        return oauth_request

    def issuer(self) -> str:
        """The issuer identifier (RFC 8414 §2): APP_URL, else this request's base URL."""
        return current_app.config["APP_URL"] or request_base_url()


authorization = TollgateAuthorizationServer()
authorization.register_grant(
    AuthorizationCodeGrant,
    [S256CodeChallenge(required=True), ResourceIndicators(), TollgateOpenIDCode()],
)
# Checks resources itself, before its claim; a lineage holding openid gets a new ID token.
authorization.register_grant(RefreshTokenGrant, [OpenIDRefresh()])
authorization.register_grant(PasswordGrant, [ResourceIndicators()])
authorization.register_grant(ClientCredentialsGrant, [ResourceIndicators()])
authorization.register_endpoint(Revocation)
authorization.register_endpoint(Introspection)
authorization.register_client_auth_method("client_secret_basic", authenticate_client_secret_basic)
authorization.register_client_auth_method("client_secret_post", authenticate_client_secret_post)
authorization.register_client_auth_method("none", authenticate_none)
_token_generator = TokenGenerator()


def init_app(app: Flask) -> None:
    authorization.init_app(app, query_client=clients.get_client, save_token=save_token)
    authorization.register_token_generator("default", _token_generator)
