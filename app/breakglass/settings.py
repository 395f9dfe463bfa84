"""The break-glass configuration, checked once at start-up and read on every request.

A deployment that configures break-glass wrongly must not start (a ConfigurationError that
says what to fix): a wildcard, unknown, platform or credential-minting permission, a master
key shorter than 32 characters or one that looks like a personal API key, an expiry that is
not an ISO 8601 time, a tenant id that is not a UUID, an unparsable rate limit. Whether it is
*active* is decided per request (``BreakGlassSettings.active``): an expired window is simply
off — fail closed — and needs no restart.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from limits import parse

from app.config import ConfigurationError
from app.identity.roles import CREDENTIAL_MINTING, PERMISSIONS, PLATFORM

MIN_KEY_LENGTH = 32
RATE_LIMIT_KEYS = ("BREAK_GLASS_RATE_LIMIT", "BREAK_GLASS_RATE_LIMIT_IP")


@dataclass(frozen=True)
class BreakGlassSettings:
    enabled: bool
    # repr=False: the key never shows up in a log line, a traceback or a debugger's repr.
    master_key: str = field(repr=False)
    expires_at: datetime | None  # naive UTC
    permissions: frozenset[str]
    tenants: frozenset[uuid.UUID] | None  # None: no allowlist

    def active(self, now: datetime) -> bool:
        """Enabled, a long enough key, and ``now`` inside the window (T7: an empty or short
        key, or a missing or past expiry, means off)."""
        return (
            self.enabled
            and len(self.master_key) >= MIN_KEY_LENGTH
            and self.expires_at is not None
            and now < self.expires_at
        )

    def allows_tenant(self, tenant: uuid.UUID) -> bool:
        return self.tenants is None or tenant in self.tenants


def _items(value: Any) -> list[str]:
    return [item.strip() for item in str(value or "").split(",") if item.strip()]


def parse_expiry(value: Any) -> datetime | None:
    """``BREAK_GLASS_EXPIRES_AT`` as naive UTC; a time without an offset is read as UTC."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(
            f"BREAK_GLASS_EXPIRES_AT must be an ISO 8601 UTC time such as "
            f"2026-01-31T18:00:00Z, not {text!r}"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def parse_permissions(value: Any) -> frozenset[str]:
    """The configured set; refuses what break-glass must never hold (003.25, C17, T7)."""
    permissions = frozenset(_items(value))
    if not permissions:
        raise ConfigurationError(
            "BREAK_GLASS_PERMISSIONS must name at least one permission, "
            "e.g. audit.view,admin.users,scans.view,dashboard.view"
        )
    if any("*" in p for p in permissions):
        raise ConfigurationError(
            "BREAK_GLASS_PERMISSIONS must not contain a wildcard (*): list the permissions"
        )
    problems = [
        ("unknown", sorted(permissions - PERMISSIONS)),
        ("platform", sorted(permissions & PLATFORM)),
        ("credential-minting", sorted(permissions & CREDENTIAL_MINTING)),
    ]
    for kind, found in problems:
        if found:
            raise ConfigurationError(
                f"BREAK_GLASS_PERMISSIONS must not contain {kind} permissions: "
                f"remove {', '.join(found)}"
            )
    return permissions


def parse_tenants(value: Any) -> frozenset[uuid.UUID] | None:
    items = _items(value)
    if not items:
        return None
    tenants = set()
    for item in items:
        try:
            tenants.add(uuid.UUID(item))
        except ValueError:
            raise ConfigurationError(
                f"BREAK_GLASS_TENANTS must be comma-separated tenant ids (UUIDs), not {item!r}"
            ) from None
    return frozenset(tenants)


def _check_key(key: str, api_key_prefix: str) -> None:
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigurationError(
            f"MASTER_KEY must be at least {MIN_KEY_LENGTH} characters when "
            "BREAK_GLASS_ENABLED is true (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')"
        )
    if api_key_prefix and key.startswith(api_key_prefix):
        raise ConfigurationError(
            "MASTER_KEY must not start with API_KEY_PREFIX: it would pass for a personal API key"
        )


def _check_rate_limits(config: Mapping[str, Any]) -> None:
    for name in RATE_LIMIT_KEYS:
        try:
            parse(str(config[name]))
        except ValueError:
            raise ConfigurationError(
                f"{name} must be a rate limit such as '10 per 1 hour', not {config[name]!r}"
            ) from None


def load(config: Mapping[str, Any]) -> BreakGlassSettings:
    """The settings, or a ConfigurationError naming what to fix. The permission set, the
    allowlist, the expiry and the rate limits are checked whatever the flag (so enabling it
    later cannot fail); the key only when break-glass is enabled (off, it is not kept)."""
    enabled = bool(config["BREAK_GLASS_ENABLED"])
    expires_at = parse_expiry(config["BREAK_GLASS_EXPIRES_AT"])
    permissions = parse_permissions(config["BREAK_GLASS_PERMISSIONS"])
    tenants = parse_tenants(config["BREAK_GLASS_TENANTS"])
    _check_rate_limits(config)
    key = str(config["MASTER_KEY"] or "") if enabled else ""
    if enabled:
        _check_key(key, str(config["API_KEY_PREFIX"] or ""))
    return BreakGlassSettings(enabled, key, expires_at, permissions, tenants)
