"""The gate's verifier for access-key JWTs (``Authorization: Bearer <ak+jwt>``).

The JWT proves only which key it is (``jti``) and that this server signed it (HS256 with the
access-key profile's own key). Everything else is read from the database on every request, in
one query and without a write: the key must be neither removed nor expired, and its roles and
account selection are the ones stored now, so an edit applies to the next request and a
removal refuses the JWT at once (reference T2).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from flask import Flask

from app.accesskeys import services
from app.clock import utcnow
from app.gate import CredentialRejected, Principal, Slot, messages
from app.identity.roles import permissions_for
from app.jwtprofile import InvalidJWT

CLOUD_ACCOUNTS_VIEW = "cloud_accounts.view"


class AccessKeyVerifier:
    slot: Slot = "bearer"

    @classmethod
    def for_app(cls, app: Flask) -> AccessKeyVerifier:
        """The verifier, once the app's access-key settings are known to be usable."""
        services.check_config(app.config)
        return cls()

    def accepts(self, credential: str) -> bool:
        return services.PROFILE.looks_like(credential)

    def verify(self, credential: str) -> Principal:
        now = utcnow()
        try:
            claims = services.PROFILE.decode(credential, now=now)
            key_id = uuid.UUID(str(claims["jti"]))
        except (InvalidJWT, ValueError):
            raise CredentialRejected(messages.ACCESS_TOKEN_INVALID) from None
        key = services.find_live_key(key_id, now=now)
        if key is None or str(key.family_id) != str(claims["tid"]) or not key.roles:
            raise CredentialRejected(messages.ACCESS_TOKEN_INVALID)
        return principal_for(key)


def principal_for(key: services.LiveKey) -> Principal:
    """A service principal of the key's tenant: no user, the union of its roles' permissions,
    and the accounts it may see (None = every account of the tenant, now and later)."""
    permissions = frozenset().union(*(permissions_for(grant.role) for grant in key.roles))
    # View-only keys get the read scope, so a write route refuses them even by scope.
    writes = any(not permission.endswith(".view") for permission in permissions)
    return Principal(
        family_id=key.family_id,
        credential_kind="access_key",
        credential_id=str(key.key_id),
        scopes=frozenset({"read_write" if writes else "read"}),
        service_permissions=permissions,
        details=_details(key),
        region=key.region,
    )


def _details(key: services.LiveKey) -> Mapping[str, Any]:
    selected: set[uuid.UUID] = set()
    for grant in key.roles:
        if CLOUD_ACCOUNTS_VIEW not in permissions_for(grant.role):
            continue
        if grant.accounts == "all":
            return {"access_key_id": str(key.key_id), "cloud_account_ids": None}
        selected.update(grant.accounts)
    return {"access_key_id": str(key.key_id), "cloud_account_ids": sorted(selected, key=str)}
