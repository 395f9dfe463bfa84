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
        "scans.view",
        "dashboard.view",
        "organizations.view",
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
        "scans.run",
        "scans.delete",
        "dashboard.export",
        "chat.use",
    }
)
# RedCloud's and Surfsight's resources: held by tenant admins and through granted roles
# (analyst, viewer), not by every member.
REDCLOUD_RESOURCES = frozenset(
    {
        "scans.view",
        "scans.run",
        "scans.delete",
        "dashboard.view",
        "dashboard.export",
        "organizations.view",
    }
)
SELF_SERVICE = frozenset({"api_keys.manage_own", "account.delete_self"})
TENANT_ADMINISTRATION = frozenset(
    {
        "family.reset",
        "family.manage",
        "audit.view",
        "audit_logs.export",
        "admin.users",
        "admin.roles",
        "admin.settings",
        "admin.integrations",
    }
)
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
# Permissions that mint or manage credentials: never held by a shared or temporary credential
# (an organisation admin token, break-glass, the global key), so nothing outlives its parent.
CREDENTIAL_MINTING = CREDENTIAL_ADMINISTRATION | {"api_keys.manage_own"}
# Routes needing one of these ask a user-bound caller for TOTP enrolment in production
# (RedCloud: 403 MFA_REQUIRED), read live; service credentials are exempt, creating them is not.
MFA_GATED = frozenset(
    {"admin.users", "admin.roles", "admin.settings", "admin.integrations", "access_keys.manage"}
)
# Licensed features a tenant's plan may include; routes gated by one answer 403
# FEATURE_DISABLED when the tenant lacks it.
FEATURES = frozenset({"reports.export", "ai"})

# --- base roles (users.role) -------------------------------------------------------------------

MEMBER_PERMISSIONS = (RESOURCE_VIEW | RESOURCE_WRITE | SELF_SERVICE) - {
    "tasks.write",
    "cloud_accounts.view",
    "cloud_accounts.write",
    *REDCLOUD_RESOURCES,
}
ADMIN_PERMISSIONS = MEMBER_PERMISSIONS | TENANT_ADMINISTRATION | REDCLOUD_RESOURCES

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
            "analyst",
            frozenset(
                {"scans.view", "scans.run", "dashboard.view", "dashboard.export", "audit.view"}
            ),
            "tenant_admin",
            "Runs scans and reads and exports the dashboard (RedCloud)",
        ),
        GrantedRole(
            "viewer",
            frozenset({"scans.view", "dashboard.view"}),
            "tenant_admin",
            "Reads scans and the dashboard (RedCloud)",
        ),
        GrantedRole(
            "cloud_account_viewer",
            frozenset({"cloud_accounts.view"}),
            "tenant_admin",
            "View-only access to the tenant's cloud accounts (SecureCloud)",
        ),
    )
}
# Built-in permission sets of credentials that have no role of their own.
# Surfsight's 24-hour organisation admin token (C17): everything inside its organisation but
# role administration and credential minting (no role is assigned to anyone).
ORG_ADMIN_PERMISSIONS = (
    TENANT_PERMISSIONS - CREDENTIAL_MINTING - {"admin.roles", "account.delete_self"}
)
# RedCloud's legacy global key in production (T29): read-only, a few views.
LEGACY_GLOBAL_PERMISSIONS = frozenset(
    {
        "accounts.view",
        "transactions.view",
        "tags.view",
        "valuations.view",
        "scans.view",
        "dashboard.view",
    }
)

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
