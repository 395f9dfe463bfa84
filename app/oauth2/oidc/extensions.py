"""Authlib grant extensions that make the authorization code grant an OpenID Connect flow
(``OpenIDCode``) and let refreshes of such a lineage carry a new ID token. ``oauth2.server``
registers them, once."""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import OAuth2Request
from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.grants import BaseGrant
from authlib.oidc.core import OpenIDCode

from app.clock import utcnow
from app.oauth2.oidc import authorizations, id_tokens

TokenResponse = tuple[int, dict[str, Any], list[tuple[str, str]]]


def _issuer(grant: BaseGrant) -> str:
    issuer: str = grant.server.issuer()
    return issuer


class TollgateOpenIDCode(OpenIDCode):
    """``openid`` in the scope of a code flow: the nonce is checked for replay at the
    authorization endpoint (``prompt`` by Authlib) and the token response gains an ID token
    with the nonce, ``auth_time`` and ``amr`` stored on the code."""

    def __init__(self) -> None:
        super().__init__(require_nonce=False)

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        if len(nonce) > authorizations.NONCE_MAX_LENGTH:
            raise InvalidRequestError("The nonce is too long.")
        return authorizations.nonce_seen(request.payload.client_id, nonce)

    def process_token(self, grant: BaseGrant, response: TokenResponse) -> dict[str, Any]:
        _, token, _ = response
        if "openid" not in scope_to_list(token.get("scope") or ""):
            return token
        code = grant.request.authorization_code
        token["id_token"] = id_tokens.issue(
            issuer=_issuer(grant),
            client=grant.request.client,
            user=grant.request.user,
            scope=token["scope"],
            access_token=token.get("access_token"),
            nonce=code.nonce,
            auth_time=code.authenticated_at,
            amr=code.amr,
            now=utcnow(),
        )
        return token


class OpenIDRefresh:
    """A refresh of a lineage that holds ``openid`` answers with a new ID token: same
    ``sub``, the original ``auth_time`` and ``amr`` (OpenID Connect Core §12.2), no nonce."""

    def __call__(self, grant: BaseGrant) -> None:
        grant.register_hook("after_create_token_response", self.process_token)

    def process_token(self, grant: BaseGrant, response: TokenResponse) -> None:
        _, token, _ = response
        if "openid" not in scope_to_list(token.get("scope") or ""):
            return
        code = authorizations.code_of_lineage(grant.request.refresh_token.lineage_id)
        if code is None:
            return  # a lineage from another grant never had an ID token
        token["id_token"] = id_tokens.issue(
            issuer=_issuer(grant),
            client=grant.request.client,
            user=grant.request.user,
            scope=token["scope"],
            access_token=token.get("access_token"),
            nonce=None,
            auth_time=code.authenticated_at,
            amr=code.amr,
            now=utcnow(),
        )
