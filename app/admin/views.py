"""Granting and revoking roles.

``/api/v1/platform/users/<id>/roles``: platform super-admins (``platform.manage``), any
granted role, any user. ``/api/v1/admin/users/<id>/roles``: tenant admins (``admin.users``),
roles tenant admins may grant, users of their own family; the Secret Key Administrator is
refused with 403 there, whoever the target. Both only for the account holder in person (a
browser session or a first-party app's token): a delegated credential never grants roles.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.admin.schemas import RoleIn, UserRolesOut
from app.clock import utcnow
from app.errors import BadRequest, NotFound
from app.gate import current_principal_user, require
from app.identity import grants
from app.identity.models import User
from app.identity.users import get_user
from app.openapi import doc
from app.requestctx import current_caller

bp = Blueprint("admin", __name__, url_prefix="/api/v1")
ROLE_IN = RoleIn()
USER_ROLES_OUT = UserRolesOut()


def _target(user_id: str, *, same_family: bool) -> User:
    user = get_user(user_id)
    if user is None or (same_family and user.family_id != current_principal_user().family_id):
        raise NotFound("User not found")
    return user


def _role() -> str:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise BadRequest('Send a JSON object: {"role": "..."}')
    role: str = ROLE_IN.load(payload)["role"]
    return role


def _answer(user: User, roles: list[str]) -> Response:
    return jsonify(USER_ROLES_OUT.dump({"user_id": user.id, "email": user.email, "roles": roles}))


def _grant(user: User) -> Response:
    roles = grants.grant_role(
        user, _role(), granter=current_principal_user(), now=utcnow(), caller=current_caller()
    )
    return _answer(user, roles)


def _revoke(user: User, role: str) -> Response:
    roles = grants.revoke_role(
        user, role, granter=current_principal_user(), now=utcnow(), caller=current_caller()
    )
    return _answer(user, roles)


@bp.get("/platform/users/<user_id>/roles")
@require(scope="read", permission="platform.manage", user_required=True, first_party_only=True)
@doc("A user's roles (platform super-admins)", response=UserRolesOut, tag="roles")
def platform_roles(user_id: str) -> Response:
    user = _target(user_id, same_family=False)
    return _answer(user, grants.roles_of(user))


@bp.post("/platform/users/<user_id>/roles")
@require(scope="write", permission="platform.manage", user_required=True, first_party_only=True)
@doc("Grant a role (platform super-admins)", response=UserRolesOut, body=RoleIn, tag="roles")
def platform_grant(user_id: str) -> Response:
    return _grant(_target(user_id, same_family=False))


@bp.delete("/platform/users/<user_id>/roles/<role>")
@require(scope="write", permission="platform.manage", user_required=True, first_party_only=True)
@doc("Revoke a role (platform super-admins)", response=UserRolesOut, tag="roles")
def platform_revoke(user_id: str, role: str) -> Response:
    return _revoke(_target(user_id, same_family=False), role)


@bp.get("/admin/users/<user_id>/roles")
@require(scope="read", permission="admin.users", user_required=True, first_party_only=True)
@doc("A family member's roles (tenant admins)", response=UserRolesOut, tag="roles")
def tenant_roles(user_id: str) -> Response:
    user = _target(user_id, same_family=True)
    return _answer(user, grants.roles_of(user))


@bp.post("/admin/users/<user_id>/roles")
@require(scope="write", permission="admin.users", user_required=True, first_party_only=True)
@doc(
    "Grant a role to a family member (tenant admins)",
    response=UserRolesOut,
    body=RoleIn,
    tag="roles",
)
def tenant_grant(user_id: str) -> Response:
    return _grant(_target(user_id, same_family=True))


@bp.delete("/admin/users/<user_id>/roles/<role>")
@require(scope="write", permission="admin.users", user_required=True, first_party_only=True)
@doc("Revoke a family member's role (tenant admins)", response=UserRolesOut, tag="roles")
def tenant_revoke(user_id: str, role: str) -> Response:
    return _revoke(_target(user_id, same_family=True), role)
