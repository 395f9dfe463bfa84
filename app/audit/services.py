"""record(): add an audit event to the current unit of work (the caller commits)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.audit.models import AuditEvent
from app.extensions import db
from app.requestctx import SYSTEM, Caller

__all__ = ["SYSTEM", "Caller", "record"]


def record(
    event: str,
    *,
    outcome: str = "success",
    now: datetime,
    caller: Caller = SYSTEM,
    actor_user_id: uuid.UUID | None = None,
    family_id: uuid.UUID | None = None,
    client_id: str | None = None,
    **details: Any,
) -> AuditEvent:
    entry = AuditEvent(
        event=event,
        outcome=outcome,
        occurred_at=now,
        actor_user_id=actor_user_id,
        family_id=family_id,
        client_id=client_id,
        ip=caller.ip,
        correlation_id=caller.correlation_id,
        details={k: v for k, v in details.items() if v is not None},
    )
    db.session.add(entry)
    return entry
