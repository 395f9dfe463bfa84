"""The permission catalogue and the roles built from it.

A permission is a dot-named string; a role is a named set of them. A user holds one base role
(``users.role``: guest, member, admin, super_admin) and any number of granted roles
(``user_roles``: secret_key_administrator, global_admin, ...). Both are read live on every
request that checks a permission, so a grant or revocation applies to the next request.
Checks need **all** the permissions a route names; there is no wildcard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# --- the catalogue ----------------------------------------------------------------------------

RESOURCE_VIEW = frozenset(
    {
        "accounts.view",
        "transactions.view",
        "tags.view",
        "valuations.view",
        "tasks.view",
        "cloud_accounts.view",
    }
)
RESOURCE_WRITE = frozenset(
    {
        "accounts.sync",
        "transactions.write",
        "tags.write",
        "valuations.write",
        "tasks.write",
        "cloud_accounts.write",
    }
)
SELF_SERVICE = frozenset({"api_keys.manage_own", "account.delete_self"})
TENANT_ADMINISTRATION = frozenset({"family.reset", "family.manage", "audit.view", "admin.users"})
CREDENTIAL_ADMINISTRATION = frozenset({"secret_keys.manage", "access_keys.manage"})
PLATFORM = frozenset({"platform.manage"})

PERMISSIONS = (
    RESOURCE_VIEW
    | RESOURCE_WRITE
    | SELF_SERVICE
    | TENANT_ADMINISTRATION
    | CREDENTIAL_ADMINISTRATION
    | PLATFORM
)
# Every permission that acts inside one tenant (all but the platform's).
TENANT_PERMISSIONS = PERMISSIONS - PLATFORM
VIEW_PERMISSIONS = frozenset(p for p in PERMISSIONS if p.endswith(".view"))

# --- base roles (users.role) -------------------------------------------------------------------

MEMBER_PERMISSIONS = (RESOURCE_VIEW | RESOURCE_WRITE | SELF_SERVICE) - {
    "tasks.write",
    "cloud_accounts.view",
    "cloud_accounts.write",
}
ADMIN_PERMISSIONS = MEMBER_PERMISSIONS | TENANT_ADMINISTRATION

BASE_ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "guest": frozenset({"accounts.view", "transactions.view", "tags.view", "valuations.view"}),
    "member": MEMBER_PERMISSIONS,
    "admin": ADMIN_PERMISSIONS,
    "super_admin": ADMIN_PERMISSIONS | PLATFORM,
}

# --- granted roles (user_roles) ----------------------------------------------------------------

Assigner = Literal["tenant_admin", "super_admin"]


@dataclass(frozen=True)
class GrantedRole:
    name: str
    permissions: frozenset[str]
    # Who may grant (and revoke) it: a tenant admin within their own family, or only a
    # platform super-admin (the Secret Key Administrator, seed 000: "granted on request").
    assignable_by: Assigner
    description: str


GRANTED_ROLES: dict[str, GrantedRole] = {
    role.name: role
    for role in (
        GrantedRole(
            "secret_key_administrator",
            frozenset({"secret_keys.manage"}),
            "super_admin",
            "Adds, revokes and re-sends secret keys and manages IP restrictions (SureCloud)",
        ),
        GrantedRole(
            "global_admin",
            TENANT_PERMISSIONS - {"secret_keys.manage"},
            "tenant_admin",
            "Unlimited access to every function of the tenant (SecureCloud)",
        ),
        GrantedRole(
            "global_viewer",
            VIEW_PERMISSIONS,
            "tenant_admin",
            "View-only access to every function of the tenant (SecureCloud)",
        ),
        GrantedRole(
            "cloud_account_viewer",
            frozenset({"cloud_accounts.view"}),
            "tenant_admin",
            "View-only access to the tenant's cloud accounts (SecureCloud)",
        ),
    )
}
# Every role name of the catalogue: the CLI and the API accept these.
CATALOGUE_ROLES = (*BASE_ROLE_PERMISSIONS, *GRANTED_ROLES)


def permissions_for(role: str) -> frozenset[str]:
    """The permissions of one role, base or granted; an unknown name has none."""
    if role in BASE_ROLE_PERMISSIONS:
        return BASE_ROLE_PERMISSIONS[role]
    granted = GRANTED_ROLES.get(role)
    return granted.permissions if granted is not None else frozenset()


def permissions_of_roles(roles: tuple[str, ...] | list[str]) -> frozenset[str]:
    return frozenset().union(*(permissions_for(role) for role in roles))
