"""Families (tenants) and users."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.config import current_region
from app.extensions import Model

ROLES = ("guest", "member", "admin", "super_admin")
# A family is a Sure household or a company tenant; a partner tenant holds Surfsight partner
# users; an organization is a tenant a partner created (owned by it, not joined: C10).
FAMILY_KINDS = ("family", "partner", "organization")
DEFAULT_REGION = "default"


class Family(Model):
    """A tenant. Every user belongs to exactly one; nothing crosses families."""

    __tablename__ = "families"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="family", server_default="family")
    # The partner tenant that created this organization (Surfsight); None for the others.
    partner_family_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("families.id"), index=True
    )
    # The deployment region the tenant lives in (config REGION when it was created).
    region: Mapped[str] = mapped_column(
        String(32), default=current_region, server_default=DEFAULT_REGION
    )
    # Licensed features of the tenant's plan (identity.roles.FEATURES), e.g. ["ai"].
    features: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    # Surfsight: the ssoSecret is derived from a server key and this version (never stored);
    # rotating it is version + 1. None for tenants that are not organizations.
    sso_secret_version: Mapped[int | None] = mapped_column()
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="family")


class User(Model):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    # Normalised (stripped, lower-cased) before it is stored, so uniqueness is case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20), default="member")
    active: Mapped[bool] = mapped_column(default=True)
    # When DELETE /api/v1/users/me deactivated the user: the purge job deletes the user once
    # DEACTIVATED_USER_PURGE_AFTER has passed (updated_at moves on every change).
    deactivated_at: Mapped[datetime | None] = mapped_column(index=True)
    # Bumped to end every browser session of the user at once (see identity.sessions).
    session_epoch: Mapped[int] = mapped_column(default=0)
    # TOTP seed, encrypted at rest (crypto.encrypt); MFA is on when otp_required is true.
    otp_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    otp_required: Mapped[bool] = mapped_column(default=False)
    # The last accepted TOTP time step: a code is never accepted twice.
    otp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    ai_enabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Surfsight partner: may create organizations (a DB flag, not a permission: 002.3).
    is_partner: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The deployment region the user registered in; their credentials work only there.
    region: Mapped[str] = mapped_column(
        String(32), default=current_region, server_default=DEFAULT_REGION
    )
    ui_layout: Mapped[str] = mapped_column(
        String(20), default="dashboard", server_default="dashboard"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    family: Mapped[Family] = relationship(back_populates="users")

    @property
    def is_admin(self) -> bool:
        return self.role in ("admin", "super_admin")

    # Flask-Login protocol. The session stores "<id>:<epoch>", so bumping session_epoch (MFA
    # change, deactivation, "sign out everywhere") invalidates every existing browser session.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_epoch}"


class UserRole(Model):
    """A role granted to a user on top of the base role (identity.roles.GRANTED_ROLES)."""

    __tablename__ = "user_roles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    granted_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


DEVICE_TYPES = ("ios", "android", "web")


class Device(Model):
    """A mobile (or web) client installation; at most one live token per device."""

    __tablename__ = "mobile_devices"
    __table_args__ = (UniqueConstraint("user_id", "device_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    device_id: Mapped[str] = mapped_column(String(255))
    device_name: Mapped[str] = mapped_column(String(255))
    device_type: Mapped[str] = mapped_column(String(20))
    os_version: Mapped[str | None] = mapped_column(String(50))
    app_version: Mapped[str | None] = mapped_column(String(50))
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InviteCode(Model):
    """8 lowercase hex characters, stored as a digest; claimed once, inside the signup."""

    __tablename__ = "invite_codes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column()
    used_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class BackupCode(Model):
    """A single-use MFA recovery code (16 hex characters), stored as a digest."""

    __tablename__ = "otp_backup_codes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column()


class WebSession(Model):
    """A browser sign-in, server-side: the cookie carries a random session id whose digest is
    stored here, so signing out (or deactivation) ends the session for every copy of it."""

    __tablename__ = "web_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    sid_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None] = mapped_column()


class Invitation(Model):
    """A pending invitation of an e-mail address to join a family with a role: whoever signs
    up with that address (e.g. through an external provider) before it expires joins it."""

    __tablename__ = "invitations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Normalised like User.email.
    email: Mapped[str] = mapped_column(String(254), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("families.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20), default="member")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    accepted_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
