"""The gate's verifier for OAuth access tokens (``Authorization: Bearer tga_…``)."""

from __future__ import annotations

from sqlalchemy import select

from app import crypto, scopes
from app.clock import utcnow
from app.extensions import db
from app.gate import CredentialRejected, Principal
from app.identity.models import User
from app.oauth2.models import OAuthToken

MSG_INVALID = "Access token is invalid, expired, or missing required scope"


class AccessTokenVerifier:
    slot = "bearer"

    def accepts(self, credential: str) -> bool:
        return credential.startswith(crypto.PREFIX_ACCESS_TOKEN)

    def verify(self, credential: str) -> Principal:
        # One round trip: the token and its owner together.
        found = db.session.execute(
            select(OAuthToken, User)
            .outerjoin(User, User.id == OAuthToken.user_id)
            .where(OAuthToken.access_token_digest == crypto.digest(credential))
        ).first()
        if found is None:
            raise CredentialRejected(MSG_INVALID)
        token, user = found
        # Sure: a token with neither read nor read_write is a 401, not a 403.
        if not token.access_token_active(utcnow()) or not scopes.satisfies(token.scope, "read"):
            raise CredentialRejected(MSG_INVALID)
        if token.user_id is None:
            raise CredentialRejected("Access token is invalid - missing resource owner")
        if user is None:
            raise CredentialRejected("Access token is invalid - user not found")
        if not user.active:
            raise CredentialRejected("Account has been deactivated")
        return Principal(
            kind="user",
            family_id=user.family_id,
            credential_kind="oauth",
            credential_id=str(token.id),
            scopes=frozenset(scopes.to_list(token.scope)),
            user=user,
            details={"client_id": token.client_id},
        )
