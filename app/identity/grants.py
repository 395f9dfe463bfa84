"""Granting and revoking roles (identity.roles.GRANTED_ROLES) and reading them live.

Who may grant what: a platform super-admin any granted role to anyone; a tenant admin
(``admin.users``) only roles assignable by tenant admins, only to users of their own family.
The Secret Key Administrator is never granted by a tenant admin, not even to themself.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import bindparam, delete, select

from app.audit.services import record
from app.errors import Forbidden, NotFound, ValidationFailed
from app.extensions import db, execute_count
from app.identity.models import User, UserRole
from app.identity.roles import GRANTED_ROLES, permissions_of_roles
from app.requestctx import SYSTEM, Caller


class UnknownRole(ValidationFailed):
    description = "Unknown role"


class RoleNotAssignable(Forbidden):
    description = "You may not grant or revoke this role"


# Built once: every permission check of a user principal runs it (the primary key's prefix).
_GRANTED = select(UserRole.role).where(UserRole.user_id == bindparam("user_id"))


def granted_roles(user_id: uuid.UUID) -> list[str]:
    """The user's granted roles, sorted; one indexed query on the session's connection."""
    return sorted(db.session.connection().execute(_GRANTED, {"user_id": user_id}).scalars())


def granted_permissions(user_id: uuid.UUID) -> frozenset[str]:
    return permissions_of_roles(granted_roles(user_id))


def roles_of(user: User) -> list[str]:
    """Every role the user holds: the base role first, then the granted ones."""
    return [user.role, *granted_roles(user.id)]


def _check_assignable(role: str, user: User, *, granter: User | None) -> None:
    """``granter`` None: the platform operator (CLI). Raises UnknownRole / RoleNotAssignable,
    or NotFound for a user of another family (its existence is not disclosed)."""
    granted = GRANTED_ROLES.get(role)
    if granted is None:
        raise UnknownRole(
            f"Unknown role {role!r}; roles that can be granted: {', '.join(GRANTED_ROLES)}"
        )
    if granter is None or granter.role == "super_admin":
        return
    if user.family_id != granter.family_id:
        raise NotFound("User not found")
    if granted.assignable_by != "tenant_admin":
        raise RoleNotAssignable(f"The role {role!r} is granted only by a platform super-admin")


def grant_role(
    user: User, role: str, *, granter: User | None, now: datetime, caller: Caller = SYSTEM
) -> list[str]:
    """Grant ``role`` (idempotent) and commit; returns the user's roles."""
    _check_assignable(role, user, granter=granter)
    exists = db.session.get(UserRole, (user.id, role))
    if exists is None:
        db.session.add(
            UserRole(
                user_id=user.id,
                role=role,
                granted_at=now,
                granted_by_user_id=granter.id if granter is not None else None,
            )
        )
        record(
            "role.granted",
            now=now,
            caller=caller,
            actor_user_id=granter.id if granter is not None else None,
            family_id=user.family_id,
            user_id=str(user.id),
            role=role,
        )
    db.session.commit()
    return roles_of(user)


def revoke_role(
    user: User, role: str, *, granter: User | None, now: datetime, caller: Caller = SYSTEM
) -> list[str]:
    """Revoke ``role`` (idempotent) and commit; returns the user's roles. Applies to the
    user's next request, whatever credential it carries."""
    _check_assignable(role, user, granter=granter)
    removed = execute_count(
        delete(UserRole).where(UserRole.user_id == user.id, UserRole.role == role)
    )
    if removed:
        record(
            "role.revoked",
            now=now,
            caller=caller,
            actor_user_id=granter.id if granter is not None else None,
            family_id=user.family_id,
            user_id=str(user.id),
            role=role,
        )
    db.session.commit()
    return roles_of(user)
