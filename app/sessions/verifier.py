"""The gate's verifier for session access JWTs (``Authorization: Bearer <at+jwt>``).

The signature and claims prove only which row of which session the token names. One query
then reads that row and its user as they are now: the token must still be active (not
revoked, not rotated away, not expired), its session not ended, its digest the stored one;
the user active, their session epoch the token's ``ver`` and their tenant the token's
``tenant_id``; and ``rgn`` must be this instance's region. Role and permissions are the
user's current ones. Nothing is written per request.

Only this profile's tokens reach it: a session refresh token (opaque), a partner assertion
or any other JWT is never taken for a session access token (T10).
"""

from __future__ import annotations

import uuid

from app.clock import utcnow
from app.config import current_region
from app.gate import CredentialRejected, Principal, Slot, messages
from app.jwtprofile import InvalidJWT
from app.sessions import tokens


class SessionTokenVerifier:
    slot: Slot = "bearer"

    def accepts(self, credential: str) -> bool:
        return tokens.PROFILE.looks_like(credential)

    def verify(self, credential: str) -> Principal:
        now = utcnow()
        try:
            claims = tokens.PROFILE.decode(credential, now=now)
            token_id = uuid.UUID(str(claims["jti"]))
        except (InvalidJWT, ValueError):
            raise CredentialRejected(messages.ACCESS_TOKEN_INVALID) from None
        row = tokens.find_for_verification(token_id, credential, now=now)
        if row is None or str(row.lineage_id) != claims["sid"] or str(row.user_id) != claims["sub"]:
            raise CredentialRejected(messages.ACCESS_TOKEN_INVALID)
        if not row.active:
            raise CredentialRejected(messages.ACCOUNT_DEACTIVATED)
        if (
            claims["ver"] != row.session_epoch
            or claims["tenant_id"] != str(row.family_id)
            or claims["rgn"] != current_region()
        ):
            raise CredentialRejected(messages.ACCESS_TOKEN_INVALID)
        return Principal(
            family_id=row.family_id,
            credential_kind=tokens.CREDENTIAL_KIND,
            credential_id=str(token_id),
            scopes=frozenset({tokens.SCOPE}),
            user_id=row.user_id,
            role=row.role,
            # The account holder's own sign-in (password, and the second factor if on).
            first_party=True,
            details={"session_id": str(row.lineage_id), "jti": str(token_id)},
            region=row.region,
        )
