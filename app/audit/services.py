"""record(): add an audit event to the current unit of work (the caller commits);
insert_record(): the same event written at once in the current transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from app.audit.models import AuditEvent
from app.extensions import db
from app.requestctx import SYSTEM, Caller

__all__ = ["SYSTEM", "Caller", "insert_record", "record"]


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
        **_columns(event, outcome, now, caller, actor_user_id, family_id, client_id, details)
    )
    db.session.add(entry)
    return entry


def insert_record(
    event: str,
    *,
    outcome: str = "success",
    now: datetime,
    caller: Caller = SYSTEM,
    actor_user_id: uuid.UUID | None = None,
    family_id: uuid.UUID | None = None,
    client_id: str | None = None,
    **details: Any,
) -> None:
    """``record``, written at once by one INSERT in the current transaction instead of an
    object in the unit of work: for the hot paths (token issuance), where the ORM's flush
    cost more than the statement. Rolls back with the transaction like any other write."""
    db.session.execute(
        insert(AuditEvent.__table__),  # type: ignore[arg-type]
        [_columns(event, outcome, now, caller, actor_user_id, family_id, client_id, details)],
    )


def _columns(
    event: str,
    outcome: str,
    now: datetime,
    caller: Caller,
    actor_user_id: uuid.UUID | None,
    family_id: uuid.UUID | None,
    client_id: str | None,
    details: dict[str, Any],
) -> dict[str, Any]:
    return {
        "event": event,
        "outcome": outcome,
        "occurred_at": now,
        "actor_user_id": actor_user_id,
        "family_id": family_id,
        "client_id": client_id,
        "ip": caller.ip,
        "correlation_id": caller.correlation_id,
        "details": {k: v for k, v in details.items() if v is not None},
    }
