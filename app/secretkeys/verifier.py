"""The gate's verifier for secret-key JWTs (``typ: sk+jwt``, HS512).

A JWT is never trusted on its own (T2): after the signature and claims, one query reads the
token row, its key, its user and the user's current IP restrictions, and the request passes
only if the key is active and of the token's generation, the token is not revoked, the user
is active and the caller's address is allowed now. Nothing is written per request.
"""

from __future__ import annotations

from flask import current_app

from app.clock import utcnow
from app.gate import CredentialRejected, Principal, Slot, messages
from app.jwtprofile import InvalidJWT
from app.requestctx import current_caller
from app.secretkeys import restrictions
from app.secretkeys.services import tokens

RESOLVER_KEY = "tollgate.secretkeys.resolver"
IP_NOT_ALLOWED = "IP address not allowed"


def resolver() -> restrictions.Resolve:
    """The hostname resolver of this app (tests put a fake one in ``app.extensions``)."""
    found = current_app.extensions.get(RESOLVER_KEY)
    if found is None:
        ttl = float(current_app.config["SECRET_KEY_HOSTNAME_CACHE_SECONDS"])
        found = current_app.extensions[RESOLVER_KEY] = restrictions.CachingResolver(ttl=ttl)
    resolve: restrictions.Resolve = found
    return resolve


class SecretKeyJWTVerifier:
    slot: Slot = "bearer"

    def accepts(self, credential: str) -> bool:
        return tokens.PROFILE.looks_like(credential)

    def verify(self, credential: str) -> Principal:
        try:
            claims = tokens.PROFILE.decode(credential, now=utcnow())
        except InvalidJWT:
            raise CredentialRejected(messages.ACCESS_TOKEN_INVALID) from None
        jti = claims["jti"]
        row = tokens.find_for_verification(str(jti)) if isinstance(jti, str) else None
        if (
            row is None
            or row.revoked_at is not None
            or row.status != "active"
            or str(row.secret_key_id) != claims["skid"]
            or row.generation != claims["gen"]
            or str(row.user_id) != claims["sub"]
            or str(row.family_id) != claims["tid"]
            or row.user_family_id != row.family_id
        ):
            raise CredentialRejected(messages.ACCESS_TOKEN_INVALID)
        if not row.active:
            raise CredentialRejected(messages.ACCOUNT_DEACTIVATED)
        if not restrictions.allows(current_caller().ip, row.entries, resolver()):
            raise CredentialRejected(IP_NOT_ALLOWED)
        return Principal(
            family_id=row.family_id,
            credential_kind="secret_key",
            credential_id=jti,
            scopes=frozenset({"read_write"}),
            user_id=row.user_id,
            role=row.role,
            # The account holder's own credential, issued for their own secret key.
            first_party=True,
            details={
                "jti": jti,
                "secret_key_id": str(row.secret_key_id),
                "generation": row.generation,
            },
            region=row.region,
        )
