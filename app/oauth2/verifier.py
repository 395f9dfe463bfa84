"""The gate's verifier for OAuth access tokens (``Authorization: Bearer tga_…``)."""

from __future__ import annotations

from sqlalchemy import DateTime, bindparam, select

from app import crypto, scopes
from app.clock import utcnow
from app.extensions import lookup
from app.gate import CredentialRejected, Principal, Slot, messages
from app.identity.models import User
from app.oauth2.models import OAuthClient, OAuthToken


class AccessTokenVerifier:
    slot: Slot = "bearer"

    def accepts(self, credential: str) -> bool:
        return credential.startswith(crypto.PREFIX_ACCESS_TOKEN)

    def verify(self, credential: str) -> Principal:
        # One round trip for the token and its owner, reading only the columns the decision
        # needs (this runs on every request). An inactive token is simply not found.
        row = lookup(_LOOKUP, {"digest": crypto.digest(credential), "now": utcnow()})
        # Sure: a token with neither read nor read_write is a 401, not a 403.
        if row is None or not scopes.satisfies(row.scope, "read"):
            raise CredentialRejected(messages.ACCESS_TOKEN_INVALID)
        if row.user_id is None:
            raise CredentialRejected(messages.TOKEN_WITHOUT_OWNER)
        if row.family_id is None:
            raise CredentialRejected(messages.OWNER_NOT_FOUND)
        if not row.active:
            raise CredentialRejected(messages.ACCOUNT_DEACTIVATED)
        return Principal(
            family_id=row.family_id,
            credential_kind="oauth",
            credential_id=str(row.id),
            scopes=frozenset(scopes.to_list(row.scope)),
            user_id=row.user_id,
            role=row.role,
            details={"client_id": row.client_id, "lineage_id": row.lineage_id},
            first_party=bool(row.first_party),
            region=row.region,
            # RFC 8707: a token bound to resources works only on the routes they cover.
            audience=tuple(row.audience.split()) if row.audience else None,
        )


# Built once; the digest and the time are bound per request.
_LOOKUP = (
    select(
        OAuthToken.id,
        OAuthToken.lineage_id,
        OAuthToken.scope,
        OAuthToken.client_id,
        OAuthToken.user_id,
        OAuthToken.region,
        OAuthToken.audience,
        User.family_id,
        User.role,
        User.active,
        OAuthClient.first_party,
    )
    .outerjoin(User, User.id == OAuthToken.user_id)
    .join(OAuthClient, OAuthClient.client_id == OAuthToken.client_id)
    .where(
        OAuthToken.access_token_digest == bindparam("digest"),
        OAuthToken.access_token_active_clause(bindparam("now", type_=DateTime())),
        # A disabled client's tokens stop working at once (and work again when it is
        # re-enabled, unless they expired meanwhile); a deleted client's are revoked.
        OAuthClient.disabled_at.is_(None),
    )
)
