"""The gate's verifiers for ``X-Api-Key``: personal keys, then the legacy global key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Flask, current_app

from app import crypto
from app.apikeys import services
from app.clock import utcnow
from app.config import ConfigurationError
from app.gate import CredentialRejected, Principal, RateLimitPolicy, Slot, messages
from app.identity.roles import LEGACY_GLOBAL_PERMISSIONS, VIEW_PERMISSIONS


def global_key_permissions(config: Mapping[str, Any]) -> frozenset[str]:
    """What the legacy global key may do: in production always the restricted legacy set
    (RedCloud: "restricted role in production", T29); elsewhere GLOBAL_API_KEY_PERMISSIONS if
    set — read-only views only — else the same legacy set."""
    configured = frozenset(
        p.strip() for p in str(config["GLOBAL_API_KEY_PERMISSIONS"] or "").split(",") if p.strip()
    )
    if config["APP_ENV"] == "production" or not configured:
        return LEGACY_GLOBAL_PERMISSIONS
    return configured


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
        last_used_at = services.touch(row.id, row.last_used_at, now=now)
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
            details=_KeyDetails(row, last_used_at),
            region=row.region,
        )


class _KeyDetails(Mapping[str, Any]):
    """The key as ApiKeyOut describes it (with the ``last_used_at`` now stored), built on
    first read: only ``/usage`` reads it, so other requests never pay for the dump, and the
    four fields it shows are read straight off the row (tests/apikeys: same as the dump)."""

    def __init__(self, row: Any, last_used_at: Any) -> None:
        self._row, self._last_used_at = row, last_used_at
        self._described: dict[str, Any] | None = None

    def _dump(self) -> dict[str, Any]:
        if self._described is None:
            described = services.describe(self._row)
            described["last_used_at"] = services.describe_time(self._last_used_at)
            self._described = described
        return self._described

    def __getitem__(self, key: str) -> Any:
        # What /usage reads on every call, as ApiKeyOut writes it, without the whole dump.
        row = self._row
        if key == "name":
            return row.name
        if key == "scopes":
            return [row.scope]
        if key == "created_at":
            return services.describe_time(row.created_at)
        if key == "last_used_at":
            return services.describe_time(self._last_used_at)
        return self._dump()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dump())

    def __len__(self) -> int:
        return len(self._dump())


class GlobalApiKeyVerifier:
    """RedCloud's legacy global key: one configured key acting as a restricted, read-only
    service principal in one configured family. Off unless GLOBAL_API_KEY (>= 32 characters)
    and GLOBAL_API_KEY_FAMILY_ID are both set."""

    slot: Slot = "api_key"

    @classmethod
    def for_app(cls, app: Flask) -> GlobalApiKeyVerifier:
        """The verifier, once GLOBAL_API_KEY_PERMISSIONS is known to name only read-only views
        (a global key never writes, manages or mints anything)."""
        permissions = global_key_permissions(app.config)
        beyond = sorted(permissions - VIEW_PERMISSIONS)
        if beyond:
            raise ConfigurationError(
                "GLOBAL_API_KEY_PERMISSIONS may name only read-only views (*.view); "
                f"not {', '.join(beyond)}"
            )
        return cls()

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
            service_permissions=global_key_permissions(current_app.config),
        )
