"""Family reset jobs: queued by ``DELETE /api/v1/users/reset``, run in the background."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.extensions import Model


class FamilyResetJob(Model):
    __tablename__ = "family_reset_jobs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("families.id"), index=True)
    # NULL once the requesting user was purged while the family stayed.
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # queued -> running -> complete | failed
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    deleted: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
