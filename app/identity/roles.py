"""Roles and the permissions they carry. Read live from the user's row on every request, so
a role change takes effect on the next request."""

from __future__ import annotations

MEMBER_PERMISSIONS = frozenset(
    {
        "accounts.view",
        "transactions.view",
        "transactions.write",
        "tags.view",
        "tags.write",
        "valuations.view",
        "valuations.write",
        "accounts.sync",
        "api_keys.manage_own",
        "account.delete_self",
    }
)
ADMIN_PERMISSIONS = MEMBER_PERMISSIONS | {"family.reset", "family.manage", "audit.view"}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "guest": frozenset({"accounts.view", "transactions.view", "tags.view", "valuations.view"}),
    "member": MEMBER_PERMISSIONS,
    "admin": ADMIN_PERMISSIONS,
    "super_admin": ADMIN_PERMISSIONS | {"platform.manage"},
}


def permissions_for(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset())
