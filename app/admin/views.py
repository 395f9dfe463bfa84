"""The administration API under ``/api/v1``.

Roles: ``/api/v1/platform/users/<id>/roles``: platform super-admins (``platform.manage``), any
granted role, any user. ``/api/v1/admin/users/<id>/roles``: tenant admins (``admin.users``),
roles tenant admins may grant, users of their own family; the Secret Key Administrator is
refused with 403 there, whoever the target. Both only for the account holder in person (a
browser session or a first-party app's token): a delegated credential never grants roles.

Tenant administration (RedCloud): the tenant's users (base role, status), the API keys an
admin makes for them, the role catalogue (read-only) and the tenant's settings. Every route
needs a user; reads take any of the user's credentials, changes only the account holder in
person (first-party: never an API key, a third-party app's token, or a service credential such
as an access key, an organisation admin token, the global key or break-glass: T17). The gate's
MFA gate applies to every admin.* permission in production. app.admin.services decides.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.admin import services
from app.admin.schemas import (
    AdminApiKeyIn,
    NewUserApiKeyOut,
    RoleCatalogue,
    RoleIn,
    SettingsOut,
    SettingsPatch,
    TenantUserOut,
    TenantUserPage,
    UserApiKeyList,
    UserApiKeyOut,
    UserPageQuery,
    UserPatch,
    UserRolesOut,
)
from app.clock import utcnow
from app.errors import NO_STORE, BadRequest, NotFound, ValidationFailed
from app.gate import current_principal, current_principal_user, require
from app.identity import grants
from app.identity.models import User
from app.identity.users import get_user
from app.openapi import doc
from app.requestctx import current_caller

bp = Blueprint("admin", __name__, url_prefix="/api/v1")
ROLE_IN = RoleIn()
USER_ROLES_OUT = UserRolesOut()
FEATURES_READ_ONLY = "Plan features are platform data; they cannot be changed here"


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


# --- tenant administration (RedCloud) -----------------------------------------------------

USER_PAGE_QUERY = UserPageQuery()
USER_PATCH = UserPatch()
TENANT_USER_OUT = TenantUserOut()
ADMIN_API_KEY_IN = AdminApiKeyIn()
USER_API_KEY_OUT = UserApiKeyOut()
NEW_USER_API_KEY_OUT = NewUserApiKeyOut()
SETTINGS_OUT = SettingsOut()
SETTINGS_PATCH = SettingsPatch()


def _read(permission: str) -> Any:
    """A read: any credential of a user holding ``permission``."""
    return require(scope="read", permission=permission, user_required=True)


def _change(permission: str) -> Any:
    """A change: only the account holder in person (first-party), with read_write."""
    return require(scope="write", permission=permission, user_required=True, first_party_only=True)


def _json_object(example: str) -> dict[str, Any]:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise BadRequest(f"Send a JSON object, e.g. {example}")
    return payload


def _tenant_user(user_id: str) -> User:
    """A user of the tenant the request acts in (another tenant's user: 404)."""
    return services.tenant_user(current_principal().family_id, user_id)


@bp.get("/admin/users")
@_read("admin.users")
@doc(
    "The tenant's users: base role, granted roles, status, MFA",
    response=TenantUserPage,
    query=UserPageQuery,
    tag="admin",
)
def users_index() -> Response:
    query: dict[str, Any] = USER_PAGE_QUERY.load(request.args.to_dict())
    page = services.list_users(
        current_principal().family_id, page=query["page"], per_page=query["per_page"]
    )
    users = [TENANT_USER_OUT.dump(item.describe()) for item in page.items]
    return jsonify(users=users, pagination=page.pagination)


@bp.patch("/admin/users/<user_id>")
@_change("admin.users")
@doc(
    "Change a user's base role and/or status (deactivating ends every credential)",
    response=TenantUserOut,
    body=UserPatch,
    tag="admin",
)
def users_update(user_id: str) -> Response:
    data: dict[str, Any] = USER_PATCH.load(_json_object('{"role": "member", "active": false}'))
    target = _tenant_user(user_id)
    changed = services.change_user(
        current_principal_user(),
        target,
        role=data.get("role"),
        active=data.get("active"),
        now=utcnow(),
        caller=current_caller(),
    )
    return jsonify(TENANT_USER_OUT.dump(changed.describe()))


@bp.get("/admin/users/<user_id>/api_keys")
@_change("admin.users")
@doc("A user's active API keys (never the keys)", response=UserApiKeyList, tag="admin")
def user_api_keys_index(user_id: str) -> Response:
    target = _tenant_user(user_id)
    keys = services.user_api_keys(target, now=utcnow())
    return jsonify(api_keys=USER_API_KEY_OUT.dump(keys, many=True))


@bp.post("/admin/users/<user_id>/api_keys")
@_change("admin.users")
@doc(
    "Make an API key for a user (the key is in this response only); it acts with the "
    "user's live role, capped by its scope",
    response=NewUserApiKeyOut,
    status=201,
    body=AdminApiKeyIn,
    tag="admin",
)
def user_api_keys_create(user_id: str) -> tuple[Response, int]:
    payload = _json_object('{"name": "CI", "scope": "read_write", "source": "monitoring"}')
    if isinstance(payload.get("api_key"), dict):
        payload = payload["api_key"]
    data: dict[str, Any] = ADMIN_API_KEY_IN.load(payload)
    target = _tenant_user(user_id)
    now = utcnow()
    days = data.get("expires_in_days")
    created = services.create_user_api_key(
        current_principal_user(),
        target,
        name=data["name"],
        scope=data["scope"],
        source=data["source"],
        expires_at=now + timedelta(days=days) if days else None,
        now=now,
        caller=current_caller(),
    )
    response = jsonify({**NEW_USER_API_KEY_OUT.dump(created.api_key), "key": created.key})
    response.headers.update(NO_STORE)
    return response, 201


@bp.delete("/admin/users/<user_id>/api_keys/<key_id>")
@_change("admin.users")
@doc("Revoke a user's API key (it fails at once)", response=UserApiKeyOut, tag="admin")
def user_api_keys_revoke(user_id: str, key_id: str) -> Response:
    target = _tenant_user(user_id)
    revoked = services.revoke_user_api_key(
        current_principal_user(), target, key_id, now=utcnow(), caller=current_caller()
    )
    return jsonify(USER_API_KEY_OUT.dump(revoked))


@bp.get("/admin/roles")
@_read("admin.roles")
@doc(
    "The role catalogue: every role (base and granted) with its permissions; all built in "
    "and read-only",
    response=RoleCatalogue,
    tag="admin",
)
def roles_index() -> Response:
    return jsonify(roles=services.role_catalogue())


@bp.get("/admin/settings")
@_read("admin.settings")
@doc("The tenant's settings (its plan features are read-only)", response=SettingsOut, tag="admin")
def settings_show() -> Response:
    family = services.tenant_settings(current_principal().family_id)
    return jsonify(SETTINGS_OUT.dump(family))


@bp.patch("/admin/settings")
@_change("admin.settings")
@doc("Rename the tenant", response=SettingsOut, body=SettingsPatch, tag="admin")
def settings_update() -> Response:
    payload = _json_object('{"name": "Acme"}')
    if "features" in payload:
        raise ValidationFailed(FEATURES_READ_ONLY, extra={"errors": [FEATURES_READ_ONLY]})
    data: dict[str, Any] = SETTINGS_PATCH.load(payload)
    family = services.rename_tenant(
        current_principal_user(),
        current_principal().family_id,
        data["name"],
        now=utcnow(),
        caller=current_caller(),
    )
    return jsonify(SETTINGS_OUT.dump(family))
