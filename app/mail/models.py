"""The outbox: one row per message, written in the transaction of whatever the mail is about."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.extensions import Model


class OutboxMessage(Model):
    """A message to send (``sent_at`` NULL) or sent.

    The body is encrypted at rest (``app.crypto.encrypt``): bodies carry single-use links.
    ``claimed_at`` is set by the one worker that claimed the message for delivery (a
    conditional UPDATE), so two workers never send it twice; a claim older than the claim
    timeout is considered abandoned (a worker that died mid-delivery).
    """

    __tablename__ = "mail_outbox"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    recipient: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(String(255))
    body_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    # Exception class and the first line of its message: never the body or a credential.
    last_error: Mapped[str | None] = mapped_column(String(255))
    claimed_at: Mapped[datetime | None] = mapped_column()
