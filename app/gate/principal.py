"""Who is calling, once the gate has resolved the request."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from app import scopes as scope_algebra
from app.extensions import db
from app.identity.grants import granted_permissions
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
    """The caller. User principals carry the user's id and role as read with the credential
    (one query); the full User row is loaded only if a view asks for it."""

    family_id: uuid.UUID
    credential_kind: str  # "oauth", "api_key", "session", "global_api_key", ...
    credential_id: str
    scopes: frozenset[str]
    user_id: uuid.UUID | None = None
    role: str | None = None
    service_permissions: frozenset[str] = frozenset()
    rate_limit: RateLimitPolicy | None = None
    # The account holder themself: the browser session, or a token of a first-party client
    # (Sure's own apps). Only they may manage credentials and account security.
    first_party: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)
    loaded_user: User | None = None
    # The region of the credential (and of its user or tenant) as the verifier read it; the
    # gate refuses it (401) on an instance of another region. None: not region-bound.
    region: str | None = None
    # RedCloud's break-glass master key: its configured set, in the one tenant it named.
    break_glass: bool = False
    # The user's own tenant when a privileged X-Tenant-ID moved ``family_id`` elsewhere.
    home_family_id: uuid.UUID | None = None
    # The absolute URIs the credential was issued for (an audience, e.g. RFC 8707 resource
    # indicators): it works only on routes under one of them. None: every route here.
    audience: tuple[str, ...] | None = None

    @cached_property
    def user(self) -> User | None:
        if self.loaded_user is not None:
            return self.loaded_user
        return db.session.get(User, self.user_id) if self.user_id is not None else None

    @cached_property
    def permissions(self) -> frozenset[str]:
        """User principals: the base role's permissions (read with the credential) and the
        granted roles' (read now, once per request, only when a view checks a permission);
        services: their own set."""
        if self.user_id is not None:
            return permissions_for(self.role or "") | granted_permissions(self.user_id)
        return self.service_permissions

    def has_permissions(self, needed: frozenset[str]) -> bool:
        """Whether the caller holds every one of ``needed``. A user's base role, read with
        the credential, usually covers a view's needs; the granted roles are read (one
        query) only when it does not."""
        if self.user_id is not None and needed <= permissions_for(self.role or ""):
            return True
        return needed <= self.permissions

    @property
    def user_bound(self) -> bool:
        """A credential of a user (session, token, API key, secret-key JWT): MFA gates apply.
        Service credentials (access keys, org admin tokens, the global key) and break-glass
        are not user-bound."""
        return self.user_id is not None and not self.break_glass

    def has_scope(self, required: str) -> bool:
        return scope_algebra.satisfies(self.scopes, required)

    def audience_covers(self, url: str) -> bool:
        """Whether the credential may be used at ``url`` (absolute, no query): it has no
        audience, or ``url`` is one of its URIs or lies under one (path-prefix match, scheme
        and host compared case-insensitively)."""
        if self.audience is None:
            return True
        target = _canonical_url(url)
        return any(
            target == (uri := _canonical_url(member)) or target.startswith(uri + "/")
            for member in self.audience
        )


def _canonical_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", ""))
