"""The gate's verifier for organisation admin tokens (``Authorization: Bearer <uuid>``).

The token is opaque (Surfsight's canonical UUID, 002.15); it is recognised by that shape alone
and looked up by its SHA-256 digest in one query per request, joined with its organisation and
partner tenant, so a revocation, a rotation that revoked it, or a deactivated organisation or
partner refuses it at once. It is a service credential of the organisation: no user, the
built-in ``org_admin`` permission set (reference C17), which can mint no credential (T17).
"""

from __future__ import annotations

import re

from app.clock import utcnow
from app.gate import CredentialRejected, Principal, Slot, messages
from app.identity.roles import ORG_ADMIN_PERMISSIONS
from app.partners import tokens

CREDENTIAL_KIND = "org_admin"
# str(uuid.uuid4()): lower-case hex, 8-4-4-4-12, version 4, RFC 4122 variant.
TOKEN_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


class OrgAdminTokenVerifier:
    slot: Slot = "bearer"

    def accepts(self, credential: str) -> bool:
        return TOKEN_RE.fullmatch(credential) is not None

    def verify(self, credential: str) -> Principal:
        row = tokens.find_live_token(credential, now=utcnow())
        if row is None:
            raise CredentialRejected(messages.ACCESS_TOKEN_INVALID)
        return Principal(
            family_id=row.family_id,
            credential_kind=CREDENTIAL_KIND,
            credential_id=str(row.id),
            scopes=frozenset({"read_write"}),
            service_permissions=ORG_ADMIN_PERMISSIONS,
            region=row.region,
        )
