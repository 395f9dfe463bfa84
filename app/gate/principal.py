"""Who is calling, once the gate has resolved the request."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app import scopes as scope_algebra
from app.identity.models import User
from app.identity.roles import permissions_for


@dataclass(frozen=True)
class RateLimitPolicy:
    """A per-credential hourly budget (Sure's API-key limiter); ``limit`` None = unlimited."""

    bucket: str
    limit: int | None
    tier: str


@dataclass(frozen=True)
class Principal:
    kind: Literal["user", "service"]
    family_id: uuid.UUID
    credential_kind: str  # "oauth", "api_key", "session", "global_api_key", ...
    credential_id: str
    scopes: frozenset[str]
    user: User | None = None
    service_permissions: frozenset[str] = frozenset()
    rate_limit: RateLimitPolicy | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> uuid.UUID | None:
        return self.user.id if self.user is not None else None

    @property
    def permissions(self) -> frozenset[str]:
        """User principals: the role's permissions, read live; services: their own set."""
        if self.user is not None:
            return permissions_for(self.user.role)
        return self.service_permissions

    def has_scope(self, required: str) -> bool:
        return scope_algebra.satisfies(self.scopes, required)
