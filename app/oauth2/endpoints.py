"""Token revocation (RFC 7009) and introspection (RFC 7662), registered once by
``oauth2.server``; what they decide is in ``oauth2.services.tokens``."""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from sqlalchemy.engine import Row

from app.clock import epoch, utcnow
from app.errors import TooManyRequests
from app.oauth2 import resource_indicators
from app.oauth2.client_auth import ANY_CLIENT_AUTH, CONFIDENTIAL_AUTH
from app.oauth2.errors import RevocationDeniedError, ThrottledError
from app.oauth2.models import OAuthClient, OAuthToken
from app.oauth2.services import tokens
from app.ratelimit import Throttle
from app.requestctx import current_caller

INTROSPECTION_PER_CLIENT = Throttle("introspect-client", "RATE_LIMIT_INTROSPECT_CLIENT")


class FoundToken:
    """A token row together with the kind of token that was presented: the ORM row for
    revocation, the introspection columns (tokens.find_usable_for_introspection) there."""

    def __init__(self, row: OAuthToken | Row[Any], kind: tokens.TokenKind) -> None:
        self.row, self.kind = row, kind

    def check_client(self, client: OAuthClient) -> bool:
        return bool(self.row.client_id == client.client_id)


def _query(token_string: str) -> FoundToken | None:
    # The hint is only a hint (RFC 7009 §2.1): the prefix decides where to look.
    found = tokens.find_token(token_string)
    return FoundToken(*found) if found else None


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ANY_CLIENT_AUTH

    def check_params(self, request: OAuth2Request, client: OAuthClient) -> None:
        if not request.form.get("token"):
            raise InvalidRequestError("Missing 'token' in request.")

    def authenticate_token(self, request: OAuth2Request, client: OAuthClient) -> FoundToken | None:
        self.check_params(request, client)
        token = _query(request.form["token"])
        if token is not None and not token.check_client(client):
            raise RevocationDeniedError()
        return token

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return _query(token_string)

    def revoke_token(self, token: FoundToken, request: OAuth2Request) -> None:
        assert isinstance(token.row, OAuthToken)  # revocation's lookup (_query) loads rows
        tokens.revoke_token(
            token.row,
            token.kind,
            client_id=request.client.client_id,
            now=utcnow(),
            caller=current_caller(),
        )


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH

    def check_params(self, request: OAuth2Request, client: OAuthClient) -> None:
        # Called once the client has authenticated: the budget is the authenticated client's,
        # so nobody can spend another client's budget by naming its client_id.
        try:
            INTROSPECTION_PER_CLIENT.spend(client.client_id)
        except TooManyRequests as exc:
            raise ThrottledError(
                exc.retry_after, "Introspection rate limit exceeded. Try again later."
            ) from exc
        if not request.form.get("token"):
            raise InvalidRequestError("Missing 'token' in request.")

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        # Only a token that works now: an unusable one answers {"active": false} anyway, and
        # one statement decides (token, owner and client), not three.
        found = tokens.find_usable_for_introspection(token_string, now=utcnow())
        return FoundToken(*found) if found else None

    def check_permission(
        self, token: FoundToken, client: OAuthClient, request: OAuth2Request
    ) -> bool:
        # A client may introspect only tokens issued to it; anything else is "inactive".
        return token.check_client(client)

    def create_introspection_payload(self, token: FoundToken | None) -> dict[str, Any]:
        # None: unknown, expired, revoked, a deactivated owner's, a disabled client's or
        # another client's token (query_token finds only tokens that work now).
        if token is None:
            return {"active": False}
        return self.introspect_token(token)

    def introspect_token(self, token: FoundToken) -> dict[str, Any]:
        row = token.row
        exp: int | None
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
            # The server that registered this endpoint (oauth2.server) knows its issuer.
            "iss": self.server.issuer(),
        }
        if exp is not None:
            payload["exp"] = exp
        if row.family_id:
            payload["family_id"] = str(row.family_id)
        # RFC 8707: whom the token is for; a refresh token, the resources of its authorization.
        bound = row.audience if token.kind == "access_token" else row.resource
        payload["aud"] = resource_indicators.audience_claim(
            resource_indicators.decode(bound), self.server.issuer()
        )
        return payload
