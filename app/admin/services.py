"""Tenant administration: the tenant's users (base role, status), the API keys an admin makes
for them (RedCloud: Administration → User Management → API Keys), the role catalogue
(read-only) and the tenant's settings.

The rules every change follows:
- everything happens inside one tenant: another tenant's user is a 404, never a 403;
- no escalation: an admin gives no role, and makes no key, carrying a permission they do not
  hold themself (T17); only a platform super-admin changes a super-admin;
- a tenant keeps at least one active admin: demoting or deactivating the last one is refused
  (422), whoever asks; the tenant's row is locked first, so two admins demoting each other
  at the same moment cannot both succeed;
- deactivation ends every credential of the user in the same transaction (the account
  holder's own deactivation path, firstparty.services.end_every_credential; T28), and
  reactivation brings none of them back. Role changes need nothing revoked: every credential
  reads its user's role live, so the change applies to the user's next request.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from app.apikeys import services as apikeys
from app.apikeys.models import ApiKey
from app.audit.services import Caller, record
from app.errors import Forbidden, NotFound, TollgateError, ValidationFailed
from app.extensions import db
from app.firstparty.services import end_every_credential
from app.identity.grants import granted_permissions
from app.identity.models import Family, User, UserRole
from app.identity.roles import BASE_ROLE_PERMISSIONS, GRANTED_ROLES, permissions_for

# Base roles a tenant admin may give (super_admin is the platform's: the CLI sets it).
ASSIGNABLE_BASE_ROLES = ("guest", "member", "admin")
ADMIN_ROLES = frozenset({"admin", "super_admin"})
BASE_ROLE_DESCRIPTIONS = {
    "guest": "Reads the family's accounts, transactions, tags and valuations",
    "member": "Uses the tenant's resources and manages their own API keys",
    "admin": "Administers the tenant: users, roles, settings, audit log, RedCloud resources",
    "super_admin": "A tenant admin who also operates the platform (set by the operator only)",
}
TENANT_NAME_MAX_LENGTH = 200


class LastAdmin(ValidationFailed):
    error = "last_admin"
    description = "The tenant needs at least one active admin"


class Escalation(Forbidden):
    description = "You cannot give permissions you do not hold yourself"


@dataclass(frozen=True)
class TenantUser:
    """A user as the tenant admin sees them: the row and the roles granted on top."""

    user: User
    granted_roles: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        user = self.user
        return {
            "id": user.id,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "role": user.role,
            "granted_roles": self.granted_roles,
            "active": user.active,
            "mfa_enabled": user.otp_required,
            "created_at": user.created_at,
        }


@dataclass(frozen=True)
class UserPage:
    items: list[TenantUser]
    page: int
    per_page: int
    total_count: int

    @property
    def pagination(self) -> dict[str, int]:
        return {
            "page": self.page,
            "per_page": self.per_page,
            "total_count": self.total_count,
            "total_pages": max(1, math.ceil(self.total_count / self.per_page)),
        }


def user_permissions(user: User) -> frozenset[str]:
    """The user's live permissions: base role and granted roles (what their credentials
    carry before any scope ceiling)."""
    return permissions_for(user.role) | granted_permissions(user.id)


def _granted_by_user(user_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """The granted roles of many users in one query (never one per listed user)."""
    granted: dict[uuid.UUID, list[str]] = defaultdict(list)
    if user_ids:
        rows = db.session.execute(
            select(UserRole.user_id, UserRole.role)
            .where(UserRole.user_id.in_(user_ids))
            .order_by(UserRole.role)
        )
        for user_id, role in rows:
            granted[user_id].append(role)
    return granted


def list_users(family_id: uuid.UUID, *, page: int = 1, per_page: int = 25) -> UserPage:
    """The tenant's users, oldest first (deactivated ones included: they can be reactivated)."""
    per_page = min(per_page, 100)
    total = db.session.scalar(select(func.count(User.id)).where(User.family_id == family_id)) or 0
    users = list(
        db.session.scalars(
            select(User)
            .where(User.family_id == family_id)
            .order_by(User.created_at, User.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    granted = _granted_by_user([user.id for user in users])
    return UserPage(
        [TenantUser(user, granted.get(user.id, [])) for user in users], page, per_page, total
    )


def tenant_user(family_id: uuid.UUID, user_id: str) -> User:
    """A user of the tenant; an unknown id, or another tenant's user, is a 404."""
    try:
        key = uuid.UUID(user_id)
    except ValueError as exc:
        raise NotFound("User not found") from exc
    user = db.session.scalar(select(User).where(User.id == key, User.family_id == family_id))
    if user is None:
        raise NotFound("User not found")
    return user


def describe_user(user: User) -> TenantUser:
    return TenantUser(user, _granted_by_user([user.id]).get(user.id, []))


# --- changing a user ----------------------------------------------------------------------


def _lock_tenant(family_id: uuid.UUID) -> None:
    """Serialise admin changes within one tenant (a row lock on PostgreSQL; SQLite runs one
    writer at a time anyway)."""
    db.session.execute(select(Family.id).where(Family.id == family_id).with_for_update())


def _other_active_admins(target: User) -> int:
    return (
        db.session.scalar(
            select(func.count(User.id)).where(
                User.family_id == target.family_id,
                User.id != target.id,
                User.active.is_(True),
                User.role.in_(ADMIN_ROLES),
            )
        )
        or 0
    )


def _check_change(actor: User, target: User, role: str | None, active: bool | None) -> None:
    """Raise when the change is not allowed (see the module's rules)."""
    if target.role == "super_admin" and actor.role != "super_admin":
        raise Forbidden("Only a platform super-admin can change a super-admin")
    if role is not None:
        if role not in ASSIGNABLE_BASE_ROLES:
            message = f"Role must be one of: {', '.join(ASSIGNABLE_BASE_ROLES)}"
            raise ValidationFailed(message, extra={"errors": [message]})
        if permissions_for(role) - user_permissions(actor):
            raise Escalation()
    if active and not target.active and target.deactivated_at is not None:
        message = "This account was deleted by its holder and cannot be reactivated"
        raise ValidationFailed(message, extra={"errors": [message]})
    admin_before = target.active and target.role in ADMIN_ROLES
    admin_after = (target.active if active is None else active) and (
        (target.role if role is None else role) in ADMIN_ROLES
    )
    if admin_before and not admin_after and not _other_active_admins(target):
        raise LastAdmin(extra={"errors": [LastAdmin.description]})


def _audit(
    event: str, actor: User, target: User, now: datetime, caller: Caller, **details: Any
) -> None:
    record(
        event,
        now=now,
        caller=caller,
        actor_user_id=actor.id,
        family_id=target.family_id,
        user_id=str(target.id),
        **details,
    )


def change_user(
    actor: User,
    target: User,
    *,
    role: str | None = None,
    active: bool | None = None,
    now: datetime,
    caller: Caller,
) -> TenantUser:
    """Change a user's base role and/or status, audited; one transaction, committed. Nothing
    changes when a rule refuses it."""
    _lock_tenant(target.family_id)
    db.session.refresh(target, with_for_update=True)  # the locked, current row
    try:
        _check_change(actor, target, role, active)
    except TollgateError:
        db.session.rollback()
        raise
    if role is not None and role != target.role:
        _audit("user.role_changed", actor, target, now, caller, previous=target.role, role=role)
        target.role = role
        target.updated_at = now
    if active is False and target.active:
        target.active = False
        target.updated_at = now
        revoked = end_every_credential(target, now=now)
        _audit("user.deactivated", actor, target, now, caller, by="tenant_admin", **revoked)
    elif active and not target.active:
        target.active = True
        target.updated_at = now
        _audit("user.reactivated", actor, target, now, caller)
    db.session.commit()
    return describe_user(target)


# --- API keys an admin makes for a user (RedCloud, C13) -------------------------------------


def user_api_keys(target: User, *, now: datetime) -> list[ApiKey]:
    return apikeys.list_api_keys(target, now=now)


def create_user_api_key(
    actor: User,
    target: User,
    *,
    name: str,
    scope: str,
    source: str,
    expires_at: datetime | None,
    now: datetime,
    caller: Caller,
) -> apikeys.NewApiKey:
    """A personal API key of ``target``, made by a tenant admin (Sure's rules: one active key
    per source, the previous one revoked). The key carries the target's live permissions
    capped by its scope, so the admin must hold every permission the target has (a key is
    never a way to more than the admin's own powers)."""
    if not target.active:
        message = "The user is deactivated"
        raise ValidationFailed(message, extra={"errors": [message]})
    if user_permissions(target) - user_permissions(actor):
        raise Escalation("You cannot make a key carrying permissions you do not hold yourself")
    return apikeys.create_api_key(
        target,
        name=name,
        scope=scope,
        source=source,
        expires_at=expires_at,
        now=now,
        caller=caller,
        created_by=actor,
    )


def revoke_user_api_key(
    actor: User, target: User, key_id: str, *, now: datetime, caller: Caller
) -> ApiKey:
    """Revoke one of the target's keys (another user's key id is a 404); it fails at once."""
    return apikeys.revoke_api_key(target, key_id, now=now, caller=caller, revoked_by=actor)


# --- the role catalogue (read-only) ---------------------------------------------------------


def role_catalogue() -> list[dict[str, Any]]:
    """Every role of the catalogue with its permissions: the base roles (one per user), then
    the granted ones. All built in; none can be edited."""
    base = [
        {
            "name": name,
            "kind": "base",
            "description": BASE_ROLE_DESCRIPTIONS[name],
            "permissions": sorted(permissions),
            "built_in": True,
            "assignable_by": "tenant_admin" if name in ASSIGNABLE_BASE_ROLES else "super_admin",
        }
        for name, permissions in BASE_ROLE_PERMISSIONS.items()
    ]
    granted = [
        {
            "name": role.name,
            "kind": "granted",
            "description": role.description,
            "permissions": sorted(role.permissions),
            "built_in": True,
            "assignable_by": role.assignable_by,
        }
        for role in GRANTED_ROLES.values()
    ]
    return base + granted


# --- the tenant's settings ------------------------------------------------------------------


def tenant_settings(family_id: uuid.UUID) -> Family:
    """The tenant (its name, kind, region and plan features); an unknown id is a 404."""
    family = db.session.get(Family, family_id)
    if family is None:
        raise NotFound("Tenant not found")
    return family


def rename_tenant(
    actor: User, family_id: uuid.UUID, name: str, *, now: datetime, caller: Caller
) -> Family:
    """Rename the tenant, audited. Its plan features are platform data, not changed here."""
    cleaned = name.strip()
    problem = None
    if not cleaned:
        problem = "Name can't be blank"
    elif len(cleaned) > TENANT_NAME_MAX_LENGTH:
        problem = f"Name is too long (maximum is {TENANT_NAME_MAX_LENGTH} characters)"
    elif any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in cleaned):
        problem = "Name must not contain control characters"
    if problem is not None:
        raise ValidationFailed(problem, extra={"errors": [problem]})
    family = tenant_settings(family_id)
    if family.name != cleaned:
        record(
            "tenant.renamed",
            now=now,
            caller=caller,
            actor_user_id=actor.id,
            family_id=family.id,
            previous=family.name,
            name=cleaned,
        )
        family.name = cleaned
    db.session.commit()
    return family
