"""SSO persistence: providers added by operators, identities linked to users."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.extensions import Model


class SsoProvider(Model):
    """An OpenID Connect provider an operator added with the CLI (instance config may list more:
    SSO_PROVIDERS). The client secret is stored encrypted (crypto.encrypt), never in clear."""

    __tablename__ = "sso_providers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret_encrypted: Mapped[str] = mapped_column(Text)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    allowed_domains: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    jit_mode: Mapped[str] = mapped_column(String(20), default="create_and_link")
    default_role: Mapped[str] = mapped_column(String(20), default="admin")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SsoIdentity(Model):
    """A user's account at an external provider: (issuer, subject) is the only key a sign-in
    is matched by (an e-mail address asserted by a provider never is)."""

    __tablename__ = "sso_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    # What the provider said when the link was made or last used (shown to admins only).
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    # An admin blocked this identity: it signs nobody in (and cannot be linked again).
    blocked_at: Mapped[datetime | None] = mapped_column()
    blocked_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class SsoCode(Model):
    """A single-use code of Sure's mobile and desktop SSO hand-off (contract §2.6): an exchange
    code (5 minutes; the token block minted at the callback), a linking code (10 minutes; the
    upstream identity and the device, for sso_link / sso_create_account) or a desktop code
    (2 minutes; bound to a PKCE challenge). Stored as a digest, its payload encrypted (an
    exchange code's holds live tokens); redeemed by a conditional UPDATE, never twice.

    ``user_id`` has no foreign key on purpose: a code outlives nothing (minutes), and a code
    whose user is gone is refused at redemption, as Sure's are."""

    __tablename__ = "sso_codes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(16))  # exchange | linking | desktop
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column()
    # The user's session epoch when the code was minted: a later sign-out everywhere,
    # deactivation or MFA change makes the code worthless.
    session_epoch: Mapped[int | None] = mapped_column()
    payload_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)
    consumed_at: Mapped[datetime | None] = mapped_column()
