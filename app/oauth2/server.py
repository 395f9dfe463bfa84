"""The Authlib authorization server, built and wired once, at import.

``register_grant`` / ``register_endpoint`` append on every call, so they happen here and only
here; ``init_app`` binds the per-application parts (client lookup, token storage, generator).
Grants stay thin: they translate Authlib's hooks into calls to ``oauth2.services``.
"""

from __future__ import annotations

import uuid
from functools import cached_property
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Payload, grants
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Flask, current_app

from app import crypto, scopes
from app.clock import epoch, utcnow
from app.errors import TooManyRequests
from app.identity import services as identity
from app.oauth2 import services
from app.oauth2.models import OAuthClient, OAuthToken
from app.ratelimit import Throttle
from app.requestctx import current_caller, request_base_url

CONFIDENTIAL_AUTH = ["client_secret_basic", "client_secret_post"]
INTROSPECTION_PER_CLIENT = Throttle("introspect-client", "RATE_LIMIT_INTROSPECT_CLIENT")
ANY_CLIENT_AUTH = [*CONFIDENTIAL_AUTH, "none"]


# --- errors Authlib does not have ----------------------------------------------------------


class MfaRequiredError(InvalidGrantError):
    """Password grant for an account with TOTP on, without a valid ``otp_code``."""

    def __init__(self) -> None:
        super().__init__(description="Two-factor authentication required")

    def get_body(self) -> list[tuple[str, Any]]:
        return [*super().get_body(), ("mfa_required", True)]


class ThrottledError(OAuth2Error):
    """Too many failed attempts: 429 with Retry-After (RFC 6585)."""

    error = "temporarily_unavailable"
    status_code = 429

    def __init__(self, retry_after: int,
                 description: str = "Too many failed attempts. Try again later.") -> None:
        super().__init__(description=description)
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


class RevocationDeniedError(OAuth2Error):
    """RFC 7009 §2.1: the token was not issued to the client asking to revoke it."""

    error = "unauthorized_client"
    status_code = 403
    description = "You are not authorized to revoke this token"


# --- client authentication ---------------------------------------------------------------


class ClientAuthenticationFailed(InvalidClientError):
    """invalid_client, always 401 with a Basic challenge naming the realm (RFC 7617 §2;
    RFC 9110 §15.5.2: every 401 carries a challenge), whatever method the client tried.
    Authlib's own challenge has no realm, and its description is a Python list repr."""

    status_code = 401

    def __init__(self, description: str = "Client authentication failed.") -> None:
        super().__init__(description=description, status_code=401)

    def get_headers(self) -> list[tuple[str, str]]:
        headers = [h for h in OAuth2Error.get_headers(self) if h[0] != "WWW-Authenticate"]
        challenge = (f'Basic realm="Tollgate", error="{self.error}", '
                     f'error_description="{self.get_error_description()}"')
        return [*headers, ("WWW-Authenticate", challenge)]


def _secret_client(client_id: str | None, secret: str | None) -> OAuthClient | None:
    """Find a confidential client and verify its secret in constant time; an unknown client
    still costs a digest and a comparison, so timing does not tell which part was wrong."""
    client = services.get_client(client_id)
    stored = client.client_secret_digest if client is not None else None
    if not crypto.verify_digest(secret, stored):
        return None
    return client


def _basic_credentials(headers) -> tuple[str | None, str | None]:  # type: ignore[no-untyped-def]
    """Authlib's Basic parser, with malformed credentials (not UTF-8, nothing after "Basic",
    a NUL in the client id) as the client's error rather than a 500."""
    try:
        client_id, secret = extract_basic_authorization(headers)
    except ValueError as exc:  # UnicodeDecodeError included
        raise ClientAuthenticationFailed("Malformed Basic credentials.") from exc
    if client_id and "\x00" in client_id:
        raise ClientAuthenticationFailed("Malformed Basic credentials.")
    return client_id, secret


def authenticate_client_secret_basic(query_client, request):  # type: ignore[no-untyped-def]
    client_id, secret = _basic_credentials(request.headers)
    if not client_id:
        return None
    form = request.form
    if form.get("client_secret"):
        # RFC 6749 §2.3: a client MUST NOT use more than one authentication method.
        raise InvalidRequestError("Use exactly one client authentication method.")
    if form.get("client_id") and form.get("client_id") != client_id:
        raise ClientAuthenticationFailed("client_id does not match")
    return _secret_client(client_id, secret)


def authenticate_client_secret_post(query_client, request):  # type: ignore[no-untyped-def]
    form = request.form
    if not form.get("client_secret"):
        return None
    return _secret_client(form.get("client_id"), form.get("client_secret"))


def authenticate_none(query_client, request):  # type: ignore[no-untyped-def]
    form = request.form
    client_id = form.get("client_id")
    if not client_id or form.get("client_secret") or request.headers.get("Authorization"):
        return None
    client = services.get_client(client_id)
    return client if client is not None and client.is_public else None


# --- token generation ------------------------------------------------------------------------


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

    def generate(self, grant_type, client, user=None, scope=None, expires_in=None,  # type: ignore[no-untyped-def]
                 include_refresh_token=True):
        token = super().generate(grant_type, client, user, scope, expires_in,
                                 include_refresh_token)
        token["created_at"] = epoch(utcnow())
        return token


def _save_token(token: dict[str, Any], request) -> None:  # type: ignore[no-untyped-def]
    lineage = getattr(request, "lineage", None) or services.Lineage(lineage_id=uuid.uuid4())
    services.save_token(
        token,
        client=request.client,
        user=request.user,
        grant_type=request.payload.grant_type,
        lineage=lineage,
        now=utcnow(),
        caller=current_caller(),
    )


# --- grants ----------------------------------------------------------------------------------


class S256CodeChallenge(CodeChallenge):
    """PKCE, S256 only, required for every client (RFC 9700 §2.1.1): a missing challenge, a
    missing method and ``plain`` are refused at the authorization endpoint; the verifier is
    required whenever a challenge was stored, and refused when none was."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant, redirect_uri):  # type: ignore[no-untyped-def]
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256).")
        if not data.get("code_challenge_method"):
            raise InvalidRequestError("PKCE is required: send code_challenge_method=S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):  # type: ignore[no-untyped-def]
        verifier = grant.request.form.get("code_verifier")
        if grant.request.authorization_code.code_challenge and not verifier:
            raise InvalidRequestError("Missing required parameter: code_verifier.")
        super().validate_code_verifier(grant, result)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ANY_CLIENT_AUTH

    @staticmethod
    def validate_authorization_redirect_uri(request, client):  # type: ignore[no-untyped-def]
        # Authlib echoes the presented URI in the description, and refuses (500) descriptions
        # with characters such as '"'; the description here never repeats caller input.
        presented = request.payload.redirect_uri
        if presented:
            if not client.check_redirect_uri(presented):
                raise InvalidRequestError("The redirect_uri is not registered for this client.")
            return presented
        default = client.get_default_redirect_uri()
        if not default:
            raise InvalidRequestError("Missing 'redirect_uri' in request.",
                                      state=request.payload.state)
        return default

    def generate_authorization_code(self) -> str:
        return crypto.new_token(crypto.PREFIX_AUTHORIZATION_CODE)

    def save_authorization_code(self, code: str, request) -> None:  # type: ignore[no-untyped-def]
        data = request.payload.data
        services.save_authorization_code(
            code=code,
            client=request.client,
            user=request.user,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            now=utcnow(),
        )

    def query_authorization_code(self, code, client):  # type: ignore[no-untyped-def]
        return services.find_authorization_code(code, client, now=utcnow(),
                                                 caller=current_caller())

    def create_token_response(self):  # type: ignore[no-untyped-def]
        item = self.request.authorization_code
        if not services.claim_authorization_code(item, now=utcnow()):
            # Lost a race with a concurrent redemption of the same code: that is reuse too.
            services.report_code_reuse(item, now=utcnow(), caller=current_caller())
            raise InvalidGrantError("Invalid 'code' in request.")
        self.request.lineage = services.Lineage(lineage_id=item.lineage_id, scope=item.scope)
        return super().create_token_response()

    def delete_authorization_code(self, authorization_code) -> None:  # type: ignore[no-untyped-def]
        """Codes are marked used, never deleted before they expire, so that a second
        redemption can still find and revoke what the first produced."""

    def authenticate_user(self, authorization_code):  # type: ignore[no-untyped-def]
        user = identity.get_user(authorization_code.user_id)
        return user if user is not None and user.active else None


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ANY_CLIENT_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> OAuthToken | None:
        return services.find_refresh_token(
            refresh_token, self.request.client, now=utcnow(), caller=current_caller()
        )

    def _validate_token_scope(self, token: OAuthToken) -> None:
        # A narrower scope narrows only the new access token; read_write covers read.
        requested = self.request.payload.scope
        if requested and not scopes.includes(token.lineage_scope, requested):
            raise InvalidScopeError()

    def authenticate_user(self, refresh_token: OAuthToken):  # type: ignore[no-untyped-def]
        user = identity.get_user(refresh_token.user_id)
        return user if user is not None and user.active else None

    def create_token_response(self):  # type: ignore[no-untyped-def]
        row = self.request.refresh_token
        if self.authenticate_user(row) is None:
            raise InvalidGrantError("The refresh token is invalid.")
        if not services.claim_refresh_token(row, now=utcnow(), caller=current_caller()):
            # Somebody rotated this refresh token between our read and our claim (and it is
            # not a retry within the client's reuse interval).
            services.report_refresh_reuse(row, now=utcnow(), caller=current_caller())
            raise InvalidGrantError("The refresh token is invalid.")
        self.request.lineage = services.Lineage(
            lineage_id=row.lineage_id, scope=row.lineage_scope, parent=row
        )
        return super().create_token_response()

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
            sign_in = identity.authenticate_password(
                email=form["username"],
                password=form["password"],
                otp_code=form.get("otp_code"),
                now=utcnow(),
                caller=current_caller(),
                channel="oauth_password",
                client_id=client.client_id,
            )
        except identity.SecondFactorRequired as exc:
            raise MfaRequiredError() from exc
        except identity.InvalidCredentials as exc:
            # RFC 6749 §5.2: bad resource-owner credentials are invalid_grant.
            raise InvalidGrantError("Invalid email or password") from exc
        except TooManyRequests as exc:
            raise ThrottledError(exc.retry_after) from exc
        self.request.user = sign_in.user


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH


# --- revocation and introspection ----------------------------------------------------------


class FoundToken:
    """A token row together with the kind of token that was presented."""

    def __init__(self, row: OAuthToken, kind: services.TokenKind) -> None:
        self.row, self.kind = row, kind

    def check_client(self, client: OAuthClient) -> bool:
        return self.row.check_client(client)


def _query(token_string: str) -> FoundToken | None:
    # The hint is only a hint (RFC 7009 §2.1): the prefix decides where to look.
    found = services.find_token(token_string)
    return FoundToken(*found) if found else None


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ANY_CLIENT_AUTH

    def check_params(self, request, client) -> None:  # type: ignore[no-untyped-def]
        if not request.form.get("token"):
            raise InvalidRequestError("Missing 'token' in request.")

    def authenticate_token(self, request, client):  # type: ignore[no-untyped-def]
        self.check_params(request, client)
        token = _query(request.form["token"])
        if token is not None and not token.check_client(client):
            raise RevocationDeniedError()
        return token

    def query_token(self, token_string, token_type_hint):  # type: ignore[no-untyped-def]
        return _query(token_string)

    def revoke_token(self, token: FoundToken, request) -> None:  # type: ignore[no-untyped-def]
        services.revoke_token(token.row, token.kind, client_id=request.client.client_id,
                              now=utcnow(), caller=current_caller())


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH

    def check_params(self, request, client) -> None:  # type: ignore[no-untyped-def]
        # Called once the client has authenticated: the budget is the authenticated client's,
        # so nobody can spend another client's budget by naming its client_id.
        try:
            INTROSPECTION_PER_CLIENT.spend(client.client_id)
        except TooManyRequests as exc:
            raise ThrottledError(exc.retry_after,
                                 "Introspection rate limit exceeded. Try again later.") from exc
        if not request.form.get("token"):
            raise InvalidRequestError("Missing 'token' in request.")

    def query_token(self, token_string, token_type_hint):  # type: ignore[no-untyped-def]
        return _query(token_string)

    def check_permission(self, token: FoundToken, client, request) -> bool:  # type: ignore[no-untyped-def]
        # A client may introspect only tokens issued to it; anything else is "inactive".
        return token.check_client(client)

    def create_introspection_payload(self, token: FoundToken | None) -> dict[str, Any]:
        if token is None:
            return {"active": False}
        # Expired, revoked, a deactivated owner's or a disabled client's: dead everywhere.
        if not services.token_usable(token.row, token.kind, now=utcnow()):
            return {"active": False}
        return self.introspect_token(token)

    def introspect_token(self, token: FoundToken) -> dict[str, Any]:
        row = token.row
        if token.kind == "access_token":
            scope, exp = row.scope, epoch(row.access_expires_at)
        else:
            scope = row.lineage_scope
            exp = epoch(row.refresh_expires_at) if row.refresh_expires_at else None
        payload: dict[str, Any] = {
            "active": True,
            "scope": scope,
            "client_id": row.client_id,
            "sub": str(row.user_id) if row.user_id else row.client_id,
            "iat": epoch(row.issued_at),
            "token_type": "Bearer",
            "token_use": token.kind,
            "iss": issuer(),
        }
        if exp is not None:
            payload["exp"] = exp
        if row.family_id:
            payload["family_id"] = str(row.family_id)
        return payload


# --- the server ------------------------------------------------------------------------------


class FormPayload(OAuth2Payload):
    """On POST, OAuth parameters come from the form body only (RFC 6749 §3.2): credentials or
    codes in the query string are never read."""

    def __init__(self, form) -> None:  # type: ignore[no-untyped-def]
        self._form = form

    @property
    def data(self):  # type: ignore[no-untyped-def]
        return self._form

    @cached_property
    def datalist(self) -> dict[str, list[str]]:
        return {key: self._form.getlist(key) for key in self._form}


class TollgateAuthorizationServer(AuthorizationServer):
    def authenticate_client(self, request, methods, endpoint="token"):  # type: ignore[no-untyped-def]
        try:
            return super().authenticate_client(request, methods, endpoint)
        except ClientAuthenticationFailed:
            raise
        except InvalidClientError as exc:
            # Authlib's fallback: "cannot authenticate with methods: [...]" and no realm.
            raise ClientAuthenticationFailed() from exc

    def create_oauth2_request(self, request):  # type: ignore[no-untyped-def]
        oauth_request = super().create_oauth2_request(request)
        if oauth_request.method == "POST":
            oauth_request.payload = FormPayload(oauth_request.form)
        return oauth_request


authorization = TollgateAuthorizationServer()
authorization.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
authorization.register_grant(RefreshTokenGrant)
authorization.register_grant(PasswordGrant)
authorization.register_grant(ClientCredentialsGrant)
authorization.register_endpoint(Revocation)
authorization.register_endpoint(Introspection)
authorization.register_client_auth_method("client_secret_basic", authenticate_client_secret_basic)
authorization.register_client_auth_method("client_secret_post", authenticate_client_secret_post)
authorization.register_client_auth_method("none", authenticate_none)
_token_generator = TokenGenerator()


def init_app(app: Flask) -> None:
    authorization.init_app(app, query_client=services.get_client, save_token=_save_token)
    authorization.register_token_generator("default", _token_generator)


def issuer() -> str:
    """The issuer identifier (RFC 8414 §2): APP_URL, else this request's base URL."""
    return current_app.config["APP_URL"] or request_base_url()
