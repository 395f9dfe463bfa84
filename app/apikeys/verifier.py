"""The gate's verifiers for ``X-Api-Key``: personal keys, then the legacy global key."""

from __future__ import annotations

import uuid

from flask import current_app

from app import crypto
from app.apikeys import services
from app.clock import utcnow
from app.gate import CredentialRejected, Principal, RateLimitPolicy, Slot, messages

GLOBAL_KEY_PERMISSIONS = frozenset(
    {
        "accounts.view",
        "transactions.view",
        "tags.view",
        "valuations.view",
    }
)


class PersonalApiKeyVerifier:
    slot: Slot = "api_key"

    def accepts(self, credential: str) -> bool:
        return credential.startswith(current_app.config["API_KEY_PREFIX"])

    def verify(self, credential: str) -> Principal:
        now = utcnow()
        row = services.find_for_verification(credential, now=now)
        if row is None or not row.key_active:
            raise CredentialRejected(messages.CREDENTIAL_MISSING)
        if not row.active:
            raise CredentialRejected(messages.ACCOUNT_DEACTIVATED)
        details = services.describe(row)
        details["last_used_at"] = services.describe_time(
            services.touch(row.id, row.last_used_at, now=now)
        )
        config = current_app.config
        limit = None if config["SELF_HOSTED"] else config["API_KEY_RATE_LIMITS"][row.tier]
        return Principal(
            family_id=row.family_id,
            credential_kind="api_key",
            credential_id=str(row.id),
            scopes=frozenset({row.scope}),
            user_id=row.user_id,
            role=row.role,
            rate_limit=RateLimitPolicy(
                bucket=f"apikey:{row.id}", limit=limit, tier="noop" if limit is None else row.tier
            ),
            details=details,
        )


class GlobalApiKeyVerifier:
    """RedCloud's legacy global key: one configured key acting as a restricted, read-only
    service principal in one configured family. Off unless GLOBAL_API_KEY (>= 32 characters)
    and GLOBAL_API_KEY_FAMILY_ID are both set."""

    slot: Slot = "api_key"

    def _configured(self) -> tuple[str, uuid.UUID] | None:
        key = current_app.config["GLOBAL_API_KEY"] or ""
        family = current_app.config["GLOBAL_API_KEY_FAMILY_ID"] or ""
        if len(key) < 32 or not family:
            return None
        try:
            return key, uuid.UUID(str(family))
        except ValueError:
            return None

    def accepts(self, credential: str) -> bool:
        return (
            bool(credential)
            and self._configured() is not None
            and not credential.startswith(current_app.config["API_KEY_PREFIX"])
        )

    def verify(self, credential: str) -> Principal:
        configured = self._configured()
        if configured is None or not crypto.constant_time_equals(credential, configured[0]):
            raise CredentialRejected(messages.CREDENTIAL_MISSING)
        return Principal(
            family_id=configured[1],
            credential_kind="global_api_key",
            credential_id="global",
            scopes=frozenset({"read"}),
            service_permissions=GLOBAL_KEY_PERMISSIONS,
        )
