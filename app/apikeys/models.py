"""Personal API keys: stored as a SHA-256 digest plus a short display prefix."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, ForeignKey, Index, String, and_, or_, text
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.extensions import Model

SCOPES = ("read", "read_write")
SOURCES = ("web", "mobile", "monitoring")
TIERS = ("standard", "premium", "enterprise")
_ACTIVE = text("revoked_at IS NULL")


class ApiKey(Model):
    __tablename__ = "api_keys"
    __table_args__ = (
        # One active key per user and source, even under concurrent creation.
        Index(
            "uq_api_keys_active_source",
            "user_id",
            "source",
            unique=True,
            postgresql_where=_ACTIVE,
            sqlite_where=_ACTIVE,
        ),
        # Names are unique among a user's active keys (revoked names can be reused).
        Index(
            "uq_api_keys_active_name",
            "user_id",
            "name",
            unique=True,
            postgresql_where=_ACTIVE,
            sqlite_where=_ACTIVE,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20), default="web")
    tier: Mapped[str] = mapped_column(String(20), default="standard")
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(index=True)
    last_used_at: Mapped[datetime | None] = mapped_column()
    # The OAuth client (and the token lineage) through which the key was created, if any:
    # revoking the user's authorization of that client revokes the key with its tokens.
    created_by_client_id: Mapped[str | None] = mapped_column(
        ForeignKey("oauth2_clients.client_id"), index=True
    )
    created_by_lineage_id: Mapped[uuid.UUID | None] = mapped_column(index=True)

    @classmethod
    def active_at(cls, now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
        """The one rule for "may this key be used at ``now``": neither revoked nor expired.
        A SQL condition, so that listing and verification filter or select it in their one
        query; ``now`` may be a bound parameter of a statement built once."""
        return and_(cls.revoked_at.is_(None), or_(cls.expires_at.is_(None), cls.expires_at > now))
