"""The grants (RFC 6749 §4, PKCE from RFC 7636), the token generator and the saving of an
issued token. Grants stay thin: they translate Authlib's hooks into calls to
``oauth2.services``; ``oauth2.server`` registers them, once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from authlib.oauth2 import OAuth2Request
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from flask import current_app

from app import crypto, scopes
from app.clock import epoch, utcnow
from app.errors import TooManyRequests
from app.identity import signin, users
from app.identity.models import User
from app.oauth2 import resource_indicators
from app.oauth2.client_auth import ANY_CLIENT_AUTH, CONFIDENTIAL_AUTH
from app.oauth2.errors import MfaRequiredError, ThrottledError
from app.oauth2.models import AuthorizationCode, OAuthClient, OAuthToken
from app.oauth2.services import codes, refresh, tokens
from app.requestctx import current_caller

# What a grant's create_token_response gives Authlib: status, JSON body, headers.
TokenResponse = tuple[int, dict[str, Any], list[tuple[str, str]]]

# --- token generation and saving -------------------------------------------------------------


class TokenGenerator(BearerTokenGenerator):
    """Opaque, prefixed 256-bit tokens; lifetimes per grant read from the live config; the
    response also says when it was created (Doorkeeper's ``created_at``)."""

    def __init__(self) -> None:
        super().__init__(
            access_token_generator=lambda **_: crypto.new_token(crypto.PREFIX_ACCESS_TOKEN),
            refresh_token_generator=lambda **_: crypto.new_token(crypto.PREFIX_REFRESH_TOKEN),
            expires_generator=self._expires_in,
        )

    @staticmethod
    def _expires_in(client: OAuthClient, grant_type: str) -> int:
        return int(current_app.config["OAUTH2_TOKEN_EXPIRES_IN"][grant_type])

    def generate(
        self,
        grant_type: str,
        client: OAuthClient,
        user: User | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        token: dict[str, Any] = super().generate(
            grant_type, client, user, scope, expires_in, include_refresh_token
        )
        token["created_at"] = epoch(utcnow())
        return token


def save_token(token: dict[str, Any], request: OAuth2Request) -> None:
    """Authlib's ``save_token`` hook: the grant put the lineage on the request (a new one for
    grants that start an authorization)."""
    lineage = getattr(request, "lineage", None) or tokens.Lineage(lineage_id=uuid.uuid4())
    resource, audience = resource_indicators.binding(request)
    tokens.save_token(
        token,
        client=request.client,
        user=request.user,
        grant_type=request.payload.grant_type,
        lineage=lineage,
        now=utcnow(),
        caller=current_caller(),
        resource=resource,
        audience=audience,
    )


# --- grants ----------------------------------------------------------------------------------


class S256CodeChallenge(CodeChallenge):
    """PKCE, S256 only, required for every client (RFC 9700 §2.1.1): a missing challenge, a
    missing method and ``plain`` are refused at the authorization endpoint; the verifier is
    required whenever a challenge was stored, and refused when none was."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant: AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256).")
        if not data.get("code_challenge_method"):
            raise InvalidRequestError("PKCE is required: send code_challenge_method=S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: AuthorizationCodeGrant, result: object) -> None:
        verifier = grant.request.form.get("code_verifier")
        if grant.request.authorization_code.code_challenge and not verifier:
            raise InvalidRequestError("Missing required parameter: code_verifier.")
        super().validate_code_verifier(grant, result)


@dataclass(frozen=True)
class Authentication:
    """How and when the browser behind an authorization signed in: the authorize view puts
    it on the request (``request.authentication``); ID tokens report it (auth_time, amr)."""

    authenticated_at: datetime | None
    amr: list[str]


def _openid_details(request: OAuth2Request) -> dict[str, Any]:
    """What an OpenID Connect code keeps for its ID tokens (OpenID Connect Core §3.1.2.1):
    the nonce exactly as sent, and the sign-in behind the authorization."""
    if "openid" not in scopes.to_list(request.scope):
        return {}
    authentication: Authentication | None = getattr(request, "authentication", None)
    return {
        "nonce": request.payload.data.get("nonce") or None,
        "authenticated_at": authentication.authenticated_at if authentication else None,
        "amr": authentication.amr if authentication else None,
    }


def _active_user(user_id: uuid.UUID | None) -> User | None:
    user = users.get_user(user_id)
    return user if user is not None and user.active else None


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ANY_CLIENT_AUTH

    @staticmethod
    def validate_authorization_redirect_uri(request: OAuth2Request, client: OAuthClient) -> str:
        # Authlib echoes the presented URI in the description, and refuses (500) descriptions
        # with characters such as '"'; the description here never repeats caller input.
        presented: str | None = request.payload.redirect_uri
        if presented:
            if not client.check_redirect_uri(presented):
                raise InvalidRequestError("The redirect_uri is not registered for this client.")
            return presented
        default = client.get_default_redirect_uri()
        if not default:
            raise InvalidRequestError(
                "Missing 'redirect_uri' in request.", state=request.payload.state
            )
        return default

    def generate_authorization_code(self) -> str:
        return crypto.new_token(crypto.PREFIX_AUTHORIZATION_CODE)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        codes.save_authorization_code(
            code=code,
            client=request.client,
            user=request.user,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            now=utcnow(),
            resource=resource_indicators.granted(request),
            **_openid_details(request),
        )

    def query_authorization_code(self, code: str, client: OAuthClient) -> AuthorizationCode | None:
        return codes.find_authorization_code(code, client, now=utcnow(), caller=current_caller())

    def create_token_response(self) -> TokenResponse:
        item = self.request.authorization_code
        if not codes.claim_authorization_code(item, now=utcnow()):
            # Lost a race with a concurrent redemption of the same code: that is reuse too.
            codes.report_code_reuse(item, now=utcnow(), caller=current_caller())
            raise InvalidGrantError("Invalid 'code' in request.")
        self.request.lineage = tokens.Lineage(lineage_id=item.lineage_id, scope=item.scope)
        response: TokenResponse = super().create_token_response()
        return response

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Codes are marked used, never deleted before they expire, so that a second
        redemption can still find and revoke what the first produced."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
        return _active_user(authorization_code.user_id)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ANY_CLIENT_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> OAuthToken | None:
        return refresh.find_refresh_token(
            refresh_token, self.request.client, now=utcnow(), caller=current_caller()
        )

    def _validate_token_scope(self, token: OAuthToken) -> None:
        # A narrower scope narrows only the new access token; read_write covers read.
        requested = self.request.payload.scope
        if requested and not scopes.includes(token.lineage_scope, requested):
            raise InvalidScopeError()
        # So may a narrower resource (RFC 8707); checked before the claim, like the scope.
        resource_indicators.check_refresh(self.request, token.resource)

    def authenticate_user(self, refresh_token: OAuthToken) -> User | None:
        return _active_user(refresh_token.user_id)

    def create_token_response(self) -> TokenResponse:
        row = self.request.refresh_token
        if self.authenticate_user(row) is None:
            raise InvalidGrantError("The refresh token is invalid.")
        if not refresh.claim_refresh_token(row, now=utcnow(), caller=current_caller()):
            # Somebody rotated this refresh token between our read and our claim (and it is
            # not a retry within the client's reuse interval).
            refresh.report_refresh_reuse(row, now=utcnow(), caller=current_caller())
            raise InvalidGrantError("The refresh token is invalid.")
        self.request.lineage = tokens.Lineage(
            lineage_id=row.lineage_id, scope=row.lineage_scope, parent=row
        )
        response: TokenResponse = super().create_token_response()
        return response

    def revoke_old_credential(self, refresh_token: OAuthToken) -> None:
        """Done atomically by ``claim_refresh_token`` before the successor is issued."""


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    """First-party clients only (the client must be registered for ``password``)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ANY_CLIENT_AUTH

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(
                "The client is not authorized to use 'grant_type=password'"
            )
        form = self.request.form
        if not form.get("username") or "password" not in form:
            raise InvalidRequestError("Missing 'username' or 'password' in request.")
        self.request.client = client
        self.validate_requested_scope()
        if client.get_allowed_scope(self.request.payload.scope) is None:
            raise InvalidScopeError()
        try:
            sign_in = signin.authenticate_password(
                email=form["username"],
                password=form["password"],
                otp_code=form.get("otp_code"),
                now=utcnow(),
                caller=current_caller(),
                channel="oauth_password",
                client_id=client.client_id,
            )
        except signin.SecondFactorRequired as exc:
            raise MfaRequiredError() from exc
        except signin.InvalidCredentials as exc:
            # RFC 6749 §5.2: bad resource-owner credentials are invalid_grant.
            raise InvalidGrantError("Invalid email or password") from exc
        except TooManyRequests as exc:
            raise ThrottledError(exc.retry_after) from exc
        self.request.user = sign_in.user


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH
