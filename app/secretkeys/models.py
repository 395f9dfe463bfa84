"""Secret keys, their reveal links, the JWTs issued for them, and the users' IP restrictions.

Nothing here holds a secret in the clear: the key (a UUIDv4, created lazily when the user
reveals it) and the reveal-link token are stored only as SHA-256 digests.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.extensions import Model

STATUSES = ("pending_reveal", "active", "revoked")
_LIVE = text("revoked_at IS NULL")


class SecretKey(Model):
    """A user's secret key. ``pending_reveal`` until the user reveals it through a mailed
    link (only then is the key created and its digest stored), ``active`` afterwards,
    ``revoked`` for good. At most one key per user is not revoked, even under concurrent
    additions (a partial unique index)."""

    __tablename__ = "secret_keys"
    __table_args__ = (
        Index(
            "uq_secret_keys_live_user",
            "user_id",
            unique=True,
            postgresql_where=_LIVE,
            sqlite_where=_LIVE,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    # 1 for the user's first key, +1 for each later one; JWTs carry it (``gen``).
    generation: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="pending_reveal")
    key_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revealed_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)


class RevealLink(Model):
    """A single-use link that lets its user reveal a pending key: 7 days by default,
    consumed only by the user's confirming POST, superseded by a resend."""

    __tablename__ = "secret_key_reveal_links"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    secret_key_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("secret_keys.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column()
    superseded_at: Mapped[datetime | None] = mapped_column()


class SecretKeyToken(Model):
    """One issued JWT, by its ``jti``: so that one token can be revoked, and so that a
    ``jti`` says whose it is (user, tenant, key) without trusting the token."""

    __tablename__ = "secret_key_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_key_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("secret_keys.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None] = mapped_column()


class UserIpRestriction(Model):
    """Where a user's secret-key JWTs may be used from. Stored on the user, not the key
    (reference C27): a key rotation keeps them. An empty list restricts nothing."""

    __tablename__ = "user_ip_restrictions"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    raw: Mapped[str] = mapped_column(Text, default="")
    # [{"type": "ip" | "range" | "cidr" | "hostname", "value": "..."}], already validated.
    entries: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
