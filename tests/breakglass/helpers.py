"""What the break-glass tests share: the master key, its headers, the audit rows it leaves."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.clock import utcnow
from app.extensions import db
from app.identity.roles import CREDENTIAL_MINTING, TENANT_PERMISSIONS

MASTER_KEY = "bg-master-key-" + "k7Q" * 12  # 50 characters
REASON = "INC-4711: restore access for a locked-out tenant"
TAGS = "/api/v1/tags"
STATUS = "/api/v1/platform/break_glass"
TENANTS = "/api/v1/platform/tenants"
# Everything break-glass may ever be given: every tenant permission but minting ones.
WIDEST_SET = ",".join(sorted(TENANT_PERMISSIONS - CREDENTIAL_MINTING))


def expiry(**delta: float) -> str:
    """BREAK_GLASS_EXPIRES_AT ``delta`` from now, ISO 8601 UTC with a Z."""
    return (utcnow() + timedelta(**delta)).isoformat(timespec="seconds") + "Z"


# Break-glass on, for a day, with the tag permissions the tests exercise it through.
ENABLED: dict[str, Any] = {
    "BREAK_GLASS_ENABLED": True,
    "MASTER_KEY": MASTER_KEY,
    "BREAK_GLASS_EXPIRES_AT": expiry(days=1),
    "BREAK_GLASS_PERMISSIONS": "tags.view,tags.write,audit.view",
}


def master(
    tenant: uuid.UUID | str | None,
    key: str = MASTER_KEY,
    reason: str | None = REASON,
    **extra: str,
) -> dict[str, str]:
    """The headers of a break-glass request (a None leaves that header out)."""
    headers = {"X-Master-Key": key, **extra}
    if tenant is not None:
        headers["X-Tenant-ID"] = str(tenant)
    if reason is not None:
        headers["X-Break-Glass-Reason"] = reason
    return headers


def events(app: Flask, *names: str) -> list[AuditEvent]:
    """Audit rows of these events (every break-glass event by default), oldest first."""
    wanted = names or ("break_glass.used", "break_glass.completed", "break_glass.denied")
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event.in_(wanted)).order_by(AuditEvent.id)
        )
        return list(rows)


def row_text(event: AuditEvent) -> str:
    """Every stored column of an audit row, as text (to prove what it does not hold)."""
    return " ".join(
        str(getattr(event, column))
        for column in (
            "event",
            "outcome",
            "actor_user_id",
            "family_id",
            "client_id",
            "ip",
            "correlation_id",
            "details",
        )
    )
