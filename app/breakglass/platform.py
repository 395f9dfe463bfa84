"""What platform super-admins may see: the break-glass state (never the key) and the one
cross-tenant listing, the tenants with their user counts (reference §4.7, §4.8)."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.breakglass.services import USED
from app.breakglass.settings import BreakGlassSettings
from app.extensions import db
from app.identity.models import Family, User

MAX_PER_PAGE = 100


def requests_last_hour(now: datetime) -> int:
    """Break-glass requests let through (audited as used) in the hour before ``now``."""
    since = now - timedelta(hours=1)
    count = db.session.scalar(
        select(func.count(AuditEvent.id)).where(
            AuditEvent.event == USED, AuditEvent.occurred_at > since
        )
    )
    return int(count or 0)


def status(settings: BreakGlassSettings, now: datetime) -> dict[str, Any]:
    """``{enabled, active, expires_at, permissions, tenants, requests_last_hour}``; the
    master key is not in the settings' repr and never in this answer."""
    return {
        "enabled": settings.enabled,
        "active": settings.active(now),
        "expires_at": settings.expires_at,
        "permissions": sorted(settings.permissions),
        "tenants": None if settings.tenants is None else sorted(settings.tenants, key=str),
        "requests_last_hour": requests_last_hour(now),
    }


@dataclass(frozen=True)
class TenantListing:
    rows: list[dict[str, Any]]
    page: int
    per_page: int
    total_count: int

    @property
    def total_pages(self) -> int:
        return max(1, math.ceil(self.total_count / self.per_page))

    def pagination(self) -> dict[str, int]:
        return {
            "page": self.page,
            "per_page": self.per_page,
            "total_count": self.total_count,
            "total_pages": self.total_pages,
        }


def list_tenants(*, page: int = 1, per_page: int = 25, region: str | None = None) -> TenantListing:
    """Every tenant (of ``region`` if given), by name, with how many users it has."""
    page = max(1, page)
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    users = (
        select(func.count(User.id)).where(User.family_id == Family.id).scalar_subquery()
    ).label("user_count")
    query = select(
        Family.id,
        Family.name,
        Family.kind,
        Family.region,
        Family.features,
        Family.active,
        Family.partner_family_id,
        Family.created_at,
        users,
    )
    total = select(func.count(Family.id))
    if region is not None:
        query = query.where(Family.region == region)
        total = total.where(Family.region == region)
    rows = db.session.execute(
        query.order_by(Family.name, Family.id).limit(per_page).offset((page - 1) * per_page)
    )
    return TenantListing(
        [_tenant_row(row._mapping) for row in rows],
        page,
        per_page,
        int(db.session.scalar(total) or 0),
    )


def _tenant_row(row: Any) -> dict[str, Any]:
    partner: uuid.UUID | None = row["partner_family_id"]
    return {
        "id": row["id"],
        "name": row["name"],
        "kind": row["kind"],
        "region": row["region"],
        "features": sorted(row["features"] or []),
        "active": row["active"],
        "partner_tenant_id": partner,
        "created_at": row["created_at"],
        "user_count": int(row["user_count"]),
    }
