"""SecureCloud access keys: a tenant-owned key (its id is the JWT's ``jti``), the roles given
to it, and, for the Cloud Account Viewer, the accounts it may see.

The JWT carries no role: roles are read by key id on every request, so an edit applies to the
next request and a removal makes the JWT useless at once. Only what verifies is stored (the
key id); the JWT itself is never kept.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import Model

# The roles a key may be given (seed 001), in the order pages and answers list them; their
# permissions come from app.identity.roles.
KEY_ROLES = ("global_admin", "global_viewer", "cloud_account_viewer")
ROLE_LABELS = {
    "global_admin": "Global Admin",
    "global_viewer": "Global Viewer",
    "cloud_account_viewer": "Cloud Account Viewer",
}
# The role whose reach is a selection of accounts ("All" or chosen ones); the others see all.
SELECTING_ROLE = "cloud_account_viewer"
NAME_MAX_LENGTH = 100
_LIVE = text("removed_at IS NULL")


class AccessKey(Model):
    __tablename__ = "access_keys"
    __table_args__ = (
        # Names are unique among a tenant's keys that were not removed (even concurrently);
        # a removed key's name may be used again.
        Index(
            "uq_access_keys_family_name",
            "family_id",
            "name",
            unique=True,
            postgresql_where=_LIVE,
            sqlite_where=_LIVE,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)  # = the jti
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    removed_at: Mapped[datetime | None] = mapped_column()
    # Who added it (the key does not depend on them: it is a service credential of the tenant).
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )


class AccessKeyRole(Model):
    """One role of a key. ``all_accounts``: the Cloud Account Viewer's "All accounts", which is
    dynamic (it covers accounts added later); the other roles always see every account."""

    __tablename__ = "access_key_roles"

    key_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("access_keys.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    all_accounts: Mapped[bool] = mapped_column(default=False)


class AccessKeyAccount(Model):
    """An account chosen for a key's role (when that role does not cover all accounts)."""

    __tablename__ = "access_key_accounts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["key_id", "role"],
            ["access_key_roles.key_id", "access_key_roles.role"],
            ondelete="CASCADE",
            name="fk_access_key_accounts_key_id_access_key_roles",
        ),
    )

    key_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cloud_accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
