"""The ID token signing keys. The private half is stored encrypted (``crypto.encrypt``) and
cleared when the key is retired; the public half stays published until every ID token the
key signed has expired."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.extensions import Model


class SigningKey(Model):
    __tablename__ = "oidc_signing_keys"
    # One generation number per algorithm: two starters generating the first key, or two
    # operators rotating at once, collide here instead of both signing.
    __table_args__ = (UniqueConstraint("alg", "generation"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(8))
    generation: Mapped[int] = mapped_column()
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Fernet ciphertext of the private JWK (JSON); None once retired.
    private_jwk_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by rotation: from then on the key signs nothing and is published until
    # ``published_until`` (its last ID token's expiry).
    retired_at: Mapped[datetime | None] = mapped_column()
    published_until: Mapped[datetime | None] = mapped_column(index=True)
